//! One RouterOS item per resource: `homelab_routeros_firewall_filter`,
//! `homelab_routeros_firewall_nat`, `homelab_routeros_firewall_address_list`
//! and `homelab_routeros_dns_static`. They share this implementation,
//! driven by a [`Spec`] and the property tables.
//!
//! Identity is RouterOS's `.id` (`*1A`), stable for the item's lifetime.
//! Refresh lists the item's scope (its chain, its address list, the DNS
//! table) once per provider process for all resources in it. Import takes
//! the `.id` or the item's comment.

use labforge_framework::schema::{Attribute, Schema, modifiers};
use labforge_framework::{AttributePath, Ctx, Diagnostics, Error, PlanChange, Raw, Result, Value};

use labforge_http::ApiErrorKind as _;

use crate::client::{ApiError, Client, Item, Table, is_id};
use crate::fields::{self, get, text};
use crate::props::{self, Prop};

/// What differs between the single-item resources.
#[derive(Debug)]
pub struct Spec {
    /// The menu its items live in.
    pub table: Table,
    /// For messages: "firewall filter rule".
    pub what: &'static str,
    /// The resource's description in the schema (Markdown).
    pub description: &'static str,
    /// The managed properties, one attribute each (plus `id`).
    pub props: &'static [Prop],
    /// Required attributes.
    pub required: &'static [&'static str],
    /// The attribute (and RouterOS key) that scopes listings: `chain`, `list`.
    pub scope: Option<&'static str>,
    /// Attributes that say which item it is, for messages.
    pub names: &'static [&'static str],
    /// Attributes RouterOS refuses to have twice ("already have such entry").
    pub unique: &'static [&'static str],
    /// Dynamic items are the router's own (firewall rules), never ours.
    pub firewall: bool,
    /// Extra validation of the configuration (the type's own rules, e.g.
    /// the DNS value fields each `type` needs).
    pub check: fn(&Value, &mut Diagnostics),
}

/// `homelab_routeros_firewall_filter`.
pub const FILTER: Spec = Spec {
    table: Table::Filter,
    what: "firewall filter rule",
    description: "One rule of `/ip/firewall/filter`.\n\n\
        RouterOS evaluates a chain's rules in order, and this resource does not manage order: a \
        new rule goes to the end of the table. To manage a chain's rules in order, use \
        `homelab_routeros_firewall_ruleset` (`homelab-discover` adopts whole chains that way, never \
        rule by rule). Addresses, ports, protocols and time intervals are \
        compared by meaning, so RouterOS's own spelling (`10.0.0.1` for `10.0.0.1/32`, `tcp` for \
        `6`) never shows as a change.",
    props: props::FILTER,
    required: &["chain"],
    scope: Some("chain"),
    names: &["chain", "action", "comment"],
    unique: &[],
    firewall: true,
    check: check_firewall_filter,
};

/// `homelab_routeros_firewall_nat`.
pub const NAT: Spec = Spec {
    table: Table::Nat,
    what: "firewall NAT rule",
    description: "One rule of `/ip/firewall/nat` (`masquerade`, `dst-nat` port forwards, ...).\n\n\
        Like `homelab_routeros_firewall_filter`, it does not manage order; use \
        `homelab_routeros_firewall_ruleset` with `table = \"nat\"` for that.",
    props: props::NAT,
    required: &["chain"],
    scope: Some("chain"),
    names: &["chain", "action", "comment"],
    unique: &[],
    firewall: true,
    check: check_firewall_nat,
};

/// `homelab_routeros_firewall_address_list`.
pub const ADDRESS_LIST: Spec = Spec {
    table: Table::AddressList,
    what: "address list entry",
    description: "One entry of `/ip/firewall/address-list`: an address (or prefix, range, DNS \
        name) in a named list that firewall rules match with `src_address_list` and \
        `dst_address_list`.\n\n\
        An entry with a `timeout` is temporary: RouterOS counts it down and then deletes it, and \
        the next plan creates it again. RouterOS refuses the same address twice in one list; an \
        identical entry that is already there is taken over (with a warning).",
    props: props::ADDRESS_LIST,
    required: &["list", "address"],
    scope: Some("list"),
    names: &["list", "address"],
    unique: &["list", "address"],
    firewall: false,
    check: |_, _| {},
};

/// `homelab_routeros_dns_static`.
pub const DNS_STATIC: Spec = Spec {
    table: Table::DnsStatic,
    what: "static DNS record",
    description: "One record of the router's DNS server (`/ip/dns/static`).\n\n\
        Give `name` (or `regexp`), the `type` (default `A`) and the value field of that type: \
        `address` (A, AAAA), `cname`, `forward_to` (FWD), `mx_exchange` and `mx_preference`, \
        `ns`, `srv_target`, `srv_port`, `srv_priority` and `srv_weight`, or `text` (TXT); \
        NXDOMAIN has none. `ttl` is compared by length (`24h` is `1d`).",
    props: props::DNS_STATIC,
    required: &[],
    scope: None,
    names: &["name", "regexp", "type"],
    unique: &[],
    firewall: false,
    check: check_dns,
};

fn check_firewall_filter(config: &Value, d: &mut Diagnostics) {
    fields::check_rule(props::FILTER, config, &AttributePath::root(), d);
}

fn check_firewall_nat(config: &Value, d: &mut Diagnostics) {
    fields::check_rule(props::NAT, config, &AttributePath::root(), d);
}

/// The value fields of each DNS type: (type, required, also allowed).
const DNS_FIELDS: &[(&str, &[&str], &[&str])] = &[
    ("A", &["address"], &[]),
    ("AAAA", &["address"], &[]),
    ("CNAME", &["cname"], &[]),
    ("FWD", &["forward_to"], &[]),
    ("MX", &["mx_exchange", "mx_preference"], &[]),
    ("NS", &["ns"], &[]),
    ("NXDOMAIN", &[], &[]),
    (
        "SRV",
        &["srv_target", "srv_port", "srv_priority", "srv_weight"],
        &[],
    ),
    ("TXT", &["text"], &[]),
];

const DNS_VALUE_FIELDS: &[&str] = &[
    "address",
    "cname",
    "forward_to",
    "mx_exchange",
    "mx_preference",
    "ns",
    "srv_target",
    "srv_port",
    "srv_priority",
    "srv_weight",
    "text",
];

fn check_dns(config: &Value, d: &mut Diagnostics) {
    let v = |a: &str| get(config, a);
    let set = |a: &str| v(a).is_known();
    let err = |d: &mut Diagnostics, a: &str, detail: String| {
        d.attribute_error(
            AttributePath::attr(a),
            "Invalid attribute combination",
            detail,
        );
    };
    if !v("name").is_unknown() && !v("regexp").is_unknown() {
        match (set("name"), set("regexp")) {
            (false, false) => err(d, "name", "Give `name` or `regexp`.".into()),
            (true, true) => err(
                d,
                "regexp",
                "`regexp` and `name` exclude each other: give one.".into(),
            ),
            _ => {}
        }
    }
    let rtype = match v("type") {
        Value::Null => "A",
        t => match t.as_str() {
            Some(t) => t,
            None => return,
        },
    };
    let Some((_, required, also)) = DNS_FIELDS.iter().find(|(t, _, _)| *t == rtype) else {
        return;
    };
    for f in DNS_VALUE_FIELDS {
        if v(f).is_unknown() {
            continue;
        }
        let wanted = required.contains(f) || also.contains(f);
        if required.contains(f) && v(f).is_null() {
            err(d, f, format!("`{f}` is required for {rtype} records."));
        }
        if !wanted && !v(f).is_null() {
            err(d, f, format!("`{f}` is not used by {rtype} records."));
        }
    }
    if let Some(a) = v("address").as_str() {
        let ok = match (rtype, a.trim().parse::<std::net::IpAddr>()) {
            ("A", Ok(ip)) => ip.is_ipv4(),
            ("AAAA", Ok(ip)) => ip.is_ipv6(),
            _ => true,
        };
        if !ok {
            err(
                d,
                "address",
                format!(
                    "{a:?} is not an {} address ({rtype} record).",
                    if rtype == "A" { "IPv4" } else { "IPv6" }
                ),
            );
        }
    }
}

/// The schema of a single-item resource.
pub fn schema(spec: &Spec) -> Schema {
    let mut s = Schema::new(spec.description).attribute(
        "id",
        Attribute::string()
            .computed()
            .describe("RouterOS's id of the item (`.id`, e.g. `*1A`).")
            .plan_modifier(modifiers::use_state_for_unknown()),
    );
    for p in spec.props {
        s = s.attribute(
            p.attr,
            fields::attribute(p, spec.required.contains(&p.attr)),
        );
    }
    s
}

/// `firewall filter rule *1A (chain=input action=drop)`.
fn describe(spec: &Spec, obj: &Value) -> String {
    let names: Vec<String> = spec
        .names
        .iter()
        .filter_map(|a| text(obj, a).map(|v| format!("{a}={v:?}")))
        .collect();
    let id = text(obj, "id").map(|i| format!(" {i}")).unwrap_or_default();
    if names.is_empty() {
        format!("{}{id}", spec.what)
    } else {
        format!("{}{id} ({})", spec.what, names.join(" "))
    }
}

fn scope<'a>(spec: &Spec, obj: &'a Value) -> Option<(&'static str, &'a str)> {
    let a = spec.scope?;
    text(obj, a).map(|v| (a, v))
}

fn fail(verb: &str, spec: &Spec, what: &str, e: ApiError) -> Error {
    Error::new(
        format!("Unable to {verb} {}", spec.what),
        format!("{what}: {e}"),
    )
}

/// The state of `item`, keeping `reference`'s spellings.
fn state(spec: &Spec, item: &Item, reference: &Value) -> Value {
    let mut m = fields::read(spec.props, item, reference);
    m.insert("id".into(), Value::string(&item.id));
    Value::Object(m)
}

fn ours(spec: &Spec, obj: &Value, i: &Item) -> bool {
    !(spec.firewall && i.dynamic()) && fields::matches(spec.props, obj, i)
}

/// Add the item at the end of the menu. With `unique` attributes, an
/// identical entry already there is taken over (with a warning).
pub(crate) async fn create(spec: &Spec, ctx: &Ctx<Client>, plan: Raw) -> Result<Raw> {
    let c = ctx.client();
    let obj = plan.0;
    let what = describe(spec, &obj);
    let props = fields::add_props(spec.props, &obj);
    let item = match c
        .add(spec.table, &props, None, |i| ours(spec, &obj, i))
        .await
    {
        Ok(i) => i,
        Err(e) if e.is_already_exists() && !spec.unique.is_empty() => {
            let taken = take_over(spec, c, &obj, &what, e).await?;
            ctx.warn(
                format!("Took over existing {}", spec.what),
                format!(
                    "The router already had {what}, identical; it is now managed by this resource."
                ),
            );
            taken
        }
        Err(e) => return Err(fail("create", spec, &what, e)),
    };
    Ok(Raw(state(spec, &item, &obj)))
}

/// RouterOS refused a duplicate: take the existing item over if it is
/// identical, else say which it is.
async fn take_over(
    spec: &Spec,
    c: &Client,
    obj: &Value,
    what: &str,
    refused: ApiError,
) -> Result<Item> {
    let items = c
        .list_fresh(spec.table, scope(spec, obj))
        .await
        .map_err(|e| fail("create", spec, what, e))?;
    let same_key = |i: &&Item| {
        spec.unique.iter().all(|a| {
            props::find(spec.props, a)
                .is_some_and(|p| fields::same(p, get(obj, a), &fields::decode(p, i.get(p.key))))
        })
    };
    match items.iter().find(same_key) {
        Some(i) if fields::matches(spec.props, obj, i) => Ok(i.clone()),
        Some(i) => Err(Error::new(
            format!("Unable to create {}", spec.what),
            format!(
                "{what}: {refused}. The existing entry {} differs from the configuration; \
                 import it (terraform import <address> '{}') or remove it.",
                i.id, i.id
            ),
        )),
        None => Err(fail("create", spec, what, refused)),
    }
}

/// The item by `.id`, from its scope's shared listing (or the whole menu,
/// if it moved to another chain or list); `None`: it is gone.
pub(crate) async fn read(spec: &Spec, ctx: &Ctx<Client>, state_in: Raw) -> Result<Option<Raw>> {
    let c = ctx.client();
    let obj = state_in.0;
    let what = describe(spec, &obj);
    let Some(id) = text(&obj, "id") else {
        return Ok(None);
    };
    let items = c
        .list(spec.table, scope(spec, &obj))
        .await
        .map_err(|e| fail("read", spec, &what, e))?;
    let mut found = items.iter().find(|i| i.id == id).cloned();
    if found.is_none() && spec.scope.is_some() {
        // Moved to another chain (or list) behind Terraform's back?
        let all = c
            .list(spec.table, None)
            .await
            .map_err(|e| fail("read", spec, &what, e))?;
        found = all.iter().find(|i| i.id == id).cloned();
    }
    Ok(found.map(|i| Raw(state(spec, &i, &obj))))
}

/// Set the changed properties (dropped ones cleared as each [`Prop`] says).
pub(crate) async fn update(spec: &Spec, ctx: &Ctx<Client>, prior: Raw, plan: Raw) -> Result<Raw> {
    let c = ctx.client();
    let (prior, obj) = (prior.0, plan.0);
    let what = describe(spec, &prior);
    let Some(id) = text(&prior, "id") else {
        return Err(Error::msg(format!("{what} has no id in state")));
    };
    let changes = fields::change_props(spec.props, &prior, &obj);
    if changes.is_empty() {
        let mut out = obj.clone();
        fields::put(&mut out, "id", Value::string(id));
        return Ok(Raw(out));
    }
    match c.set(spec.table, id, &changes).await {
        Ok(item) => Ok(Raw(state(spec, &item, &obj))),
        Err(e) if e.is_not_found() => Err(Error::new(
            format!("Unable to update {}", spec.what),
            format!(
                "{what}: {e}. It was deleted outside Terraform; run `terraform apply` again to \
                 create it."
            ),
        )),
        Err(e) => Err(fail("update", spec, &what, e)),
    }
}

/// Remove the item; already gone is not an error.
pub(crate) async fn delete(spec: &Spec, ctx: &Ctx<Client>, state_in: Raw) -> Result<()> {
    let obj = state_in.0;
    let Some(id) = text(&obj, "id") else {
        return Ok(());
    };
    ctx.client()
        .remove(spec.table, id)
        .await
        .map(|_| ())
        .map_err(|e| fail("delete", spec, &describe(spec, &obj), e))
}

/// Find the item by `.id` (`*1A`) or by its comment (`comment=...` or the
/// bare text); several items with that comment is an error.
pub(crate) async fn import(spec: &Spec, ctx: &Ctx<Client>, id: &str) -> Result<Raw> {
    let c = ctx.client();
    let items = c
        .list(spec.table, None)
        .await
        .map_err(|e| fail("import", spec, &format!("{} {id:?}", spec.what), e))?;
    let by_id = is_id(id.trim());
    let comment = id.strip_prefix("comment=").unwrap_or(id);
    let found: Vec<&Item> = items
        .iter()
        .filter(|i| {
            if by_id {
                i.id.eq_ignore_ascii_case(id.trim())
            } else {
                i.get("comment") == Some(comment) && !(spec.firewall && i.dynamic())
            }
        })
        .collect();
    match found.as_slice() {
        [one] if spec.firewall && one.dynamic() => Err(Error::new(
            format!("Unable to import {}", spec.what),
            format!(
                "{} is a dynamic rule: RouterOS's own, not for Terraform.",
                one.id
            ),
        )),
        [one] => {
            if let Some((summary, detail)) = unmanaged_warning(spec, one) {
                ctx.warn(summary, detail);
            }
            Ok(Raw(state(spec, one, &Value::Null)))
        }
        [] if by_id => Err(Error::new(
            format!("Unable to import {}", spec.what),
            format!("{} has no item {id}.", spec.table.path()),
        )),
        [] => Err(Error::new(
            format!("Unable to import {}", spec.what),
            format!(
                "no item of {} has the comment {comment:?}.",
                spec.table.path()
            ),
        )),
        many => Err(Error::new(
            format!("Unable to import {}", spec.what),
            format!(
                "{} items of {} have the comment {comment:?} ({}); import one by its id.",
                many.len(),
                spec.table.path(),
                many.iter()
                    .map(|i| i.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The warning an import owes when the item has properties the resource
/// does not manage (`tcp-flags`, `limit`, ...): the imported state and the
/// configuration Terraform generates from it lack them, so the empty plan
/// after the import does not mean the configuration describes the item.
fn unmanaged_warning(spec: &Spec, item: &Item) -> Option<(String, String)> {
    let extra = props::unmanaged(spec.props, item.props.keys());
    if extra.is_empty() {
        return None;
    }
    Some((
        format!("Imported {} has properties not managed here", spec.what),
        format!(
            "{} {} has properties this resource does not manage: {}. They stay on the router \
             but are neither in the state nor in the configuration: a replacement (a new item) \
             would be made without them. Keep them in mind, or manage the item another way.",
            spec.what,
            item.id,
            extra.join(", ")
        ),
    ))
}

/// On updates, keep prior values that mean the same as the configuration
/// (RouterOS's own spelling), so they show no change.
pub(crate) fn modify_plan(spec: &Spec, plan: &mut PlanChange<'_>) {
    if plan.destroying() || plan.creating() {
        return;
    }
    fields::suppress(spec.props, plan.config, plan.prior, plan.planned);
}

/// The type's own validation ([`Spec::check`]).
pub(crate) fn validate(spec: &Spec, config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    (spec.check)(config, &mut d);
    d
}

/// Defines a resource type backed by a [`Spec`].
macro_rules! item_resource {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $spec:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl labforge_framework::Resource for $ty {
            type Client = Client;
            type Model = Raw;
            const NAME: &'static str = $name;

            fn schema(&self) -> Schema {
                schema(&$spec)
            }

            fn validate(&self, config: &Value) -> Diagnostics {
                validate(&$spec, config)
            }

            fn import_id_format(&self) -> Option<&'static str> {
                Some(
                    "RouterOS's `.id` (e.g. `*1A`, as `print show-ids` shows it), or the item's \
                     comment (`comment=allow ssh` or just `allow ssh`; it must be the only item \
                     with that comment)",
                )
            }

            async fn modify_plan(&self, _: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
                modify_plan(&$spec, plan);
                Ok(())
            }

            async fn create(&self, ctx: &Ctx<Client>, plan: Raw) -> Result<Raw> {
                create(&$spec, ctx, plan).await
            }

            async fn read(&self, ctx: &Ctx<Client>, state: Raw) -> Result<Option<Raw>> {
                read(&$spec, ctx, state).await
            }

            async fn update(&self, ctx: &Ctx<Client>, prior: Raw, plan: Raw) -> Result<Raw> {
                update(&$spec, ctx, prior, plan).await
            }

            async fn delete(&self, ctx: &Ctx<Client>, state: Raw) -> Result<()> {
                delete(&$spec, ctx, state).await
            }

            async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<Raw> {
                import(&$spec, ctx, id).await
            }
        }
    };
}

item_resource!(
    /// `homelab_routeros_firewall_filter`.
    FirewallFilter,
    "routeros_firewall_filter",
    FILTER
);
item_resource!(
    /// `homelab_routeros_firewall_nat`.
    FirewallNat,
    "routeros_firewall_nat",
    NAT
);
item_resource!(
    /// `homelab_routeros_firewall_address_list`.
    FirewallAddressList,
    "routeros_firewall_address_list",
    ADDRESS_LIST
);
item_resource!(
    /// `homelab_routeros_dns_static`.
    DnsStatic,
    "routeros_dns_static",
    DNS_STATIC
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn errors(check: fn(&Value, &mut Diagnostics), pairs: &[(&str, Value)]) -> Vec<String> {
        let mut d = Diagnostics::new();
        check(&Value::object(pairs.iter().cloned()), &mut d);
        d.0.iter()
            .map(|x| format!("{:?}: {}", x.attribute, x.detail))
            .collect()
    }

    fn item(pairs: &[(&str, &str)]) -> Item {
        Item {
            id: "*7".into(),
            props: pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }

    #[test]
    fn an_import_warns_of_properties_it_does_not_manage() {
        let plain = item(&[
            ("chain", "input"),
            ("action", "accept"),
            ("protocol", "tcp"),
            ("bytes", "0"),
            ("dynamic", "false"),
        ]);
        assert!(unmanaged_warning(&FILTER, &plain).is_none());
        let syn = item(&[
            ("chain", "input"),
            ("protocol", "tcp"),
            ("tcp-flags", "syn"),
            ("limit", "10,5:packet"),
        ]);
        let (summary, detail) = unmanaged_warning(&FILTER, &syn).unwrap();
        assert!(summary.contains("firewall filter rule"), "{summary}");
        assert!(
            detail.contains("*7") && detail.contains("limit, tcp-flags"),
            "{detail}"
        );
        // NAT's own properties are managed by the NAT resource only.
        let nat = item(&[("chain", "dstnat"), ("to-addresses", "10.0.0.5")]);
        assert!(unmanaged_warning(&NAT, &nat).is_none());
        assert!(unmanaged_warning(&FILTER, &nat).is_some());
    }

    #[test]
    fn dns_records_need_their_value_fields() {
        let s = Value::string;
        let e = errors(check_dns, &[("name", s("nas.lan")), ("type", s("MX"))]);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("mx_exchange"), "{e:?}");
        let e = errors(
            check_dns,
            &[("name", s("nas.lan")), ("address", s("fd00::1"))],
        );
        assert!(e[0].contains("not an IPv4 address"), "{e:?}");
        let e = errors(
            check_dns,
            &[
                ("name", s("x")),
                ("type", s("CNAME")),
                ("cname", s("y")),
                ("text", s("t")),
            ],
        );
        assert!(e[0].contains("`text` is not used by CNAME"), "{e:?}");
        let e = errors(check_dns, &[("type", s("NXDOMAIN"))]);
        assert!(e[0].contains("Give `name` or `regexp`"), "{e:?}");
        assert!(errors(check_dns, &[("name", s("x")), ("address", s("10.0.0.1"))]).is_empty());
    }

    #[test]
    fn schemas_are_well_formed() {
        for spec in [&FILTER, &NAT, &ADDRESS_LIST, &DNS_STATIC] {
            let s = schema(spec);
            assert!(
                s.definition_errors().is_empty(),
                "{:?}",
                s.definition_errors()
            );
            for r in spec.required {
                assert!(s.attributes[*r].required, "{r}");
            }
        }
    }
}
