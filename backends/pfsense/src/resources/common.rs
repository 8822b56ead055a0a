//! What the rule resources share: the rule attributes, their checks, and
//! the conversions between the model and [`RuleSpec`].

use labforge_framework::schema::{Attribute, validators};
use labforge_framework::{AttributePath, Diagnostics, Error, Type, Value};
use serde::{Deserialize, Serialize};

use crate::client::{ApiError, Client};
use crate::model::{
    self, ACTIONS, ICMP_TYPES, IP_PROTOCOLS, InterfaceCheck, MAX_TEXT, PORT_PROTOCOLS, PROTOCOLS,
    RuleSpec, STATE_TYPES,
};

/// One rule's attributes (without its interface), as configured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleAttrs {
    /// `type`: `pass`, `block` (drop silently) or `reject`; `None`: unset (`pass` is sent).
    #[serde(rename = "type")]
    pub action: Option<String>,
    /// IP version: `inet` (IPv4), `inet6` (IPv6) or `inet46` (both); `None`: `inet`.
    pub ipprotocol: Option<String>,
    /// The protocol (one of [`PROTOCOLS`]); `None`: any protocol.
    pub protocol: Option<String>,
    /// ICMP types, with `protocol = "icmp"` only; `None`: any (pfSense stores `["any"]`).
    pub icmptype: Option<Vec<String>>,
    /// An IP address, subnet, alias, interface (`LAN`, `LAN:ip`), `any`, `(self)`,
    /// `l2tp` or `pppoe`; `!` in front inverts. `None`: `any`.
    pub source: Option<String>,
    /// A port, a range `start:end` or a port alias, with `tcp`, `udp` or
    /// `tcp/udp` only; `None`: any port.
    pub source_port: Option<String>,
    /// As `source`, for the destination.
    pub destination: Option<String>,
    /// As `source_port`, for the destination.
    pub destination_port: Option<String>,
    /// The rule's own description (pfSense's `descr`, without a ruleset's
    /// marker).
    pub description: Option<String>,
    /// Keep the rule but do not use it; `None`: `false`.
    pub disabled: Option<bool>,
    /// Log the packets the rule matches; `None`: `false`.
    pub log: Option<bool>,
    /// State tracking (one of [`STATE_TYPES`]); `None`: `keep state`.
    pub statetype: Option<String>,
    /// A gateway or gateway group for policy routing; `None`: the default route.
    pub gateway: Option<String>,
    /// A firewall schedule that limits when the rule applies; `None`: always.
    pub sched: Option<String>,
    /// pfSense's tracker: the Unix time (seconds) of the rule's creation, its
    /// identity; `None` until the rule exists.
    pub tracker: Option<i64>,
}

impl RuleAttrs {
    /// The rule for pfSense, on `interface`, with `descr` as its description.
    pub fn spec(&self, interface: &str, descr: String) -> RuleSpec {
        RuleSpec {
            action: self.action.clone().unwrap_or_else(|| "pass".into()),
            interface: interface.to_string(),
            ipprotocol: self.ipprotocol.clone().unwrap_or_else(|| "inet".into()),
            protocol: self.protocol.clone(),
            icmptype: self.icmptype.clone(),
            source: self.source.clone().unwrap_or_else(|| "any".into()),
            source_port: self.source_port.clone(),
            destination: self.destination.clone().unwrap_or_else(|| "any".into()),
            destination_port: self.destination_port.clone(),
            descr,
            disabled: self.disabled.unwrap_or(false),
            log: self.log.unwrap_or(false),
            statetype: self
                .statetype
                .clone()
                .unwrap_or_else(|| "keep state".into()),
            gateway: self.gateway.clone(),
            sched: self.sched.clone(),
        }
        .normalized_for_send()
    }

    /// The attributes of what pfSense has (`description` given separately,
    /// its marker off). `reference` (the prior state or the plan) keeps its
    /// spelling where pfSense's value means the same: ICMP types left unset
    /// read back as `["any"]`.
    pub fn from_spec(
        s: &RuleSpec,
        description: String,
        tracker: Option<i64>,
        reference: Option<&RuleAttrs>,
    ) -> RuleAttrs {
        let n = s.normalized();
        let icmptype = match (&n.icmptype, reference) {
            (Some(t), Some(r)) if r.icmptype.is_none() && t == &["any".to_string()] => None,
            (Some(t), None) if t == &["any".to_string()] => None,
            (t, _) => t.clone(),
        };
        RuleAttrs {
            action: Some(n.action),
            ipprotocol: Some(n.ipprotocol),
            protocol: n.protocol,
            icmptype,
            source: Some(n.source),
            source_port: n.source_port,
            destination: Some(n.destination),
            destination_port: n.destination_port,
            description: Some(description),
            disabled: Some(n.disabled),
            log: Some(n.log),
            statetype: Some(n.statetype),
            gateway: n.gateway,
            sched: n.sched,
            tracker,
        }
    }

    /// Equal but for the tracker.
    pub fn same_settings(&self, other: &RuleAttrs) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.tracker = None;
        b.tracker = None;
        a.spec("", String::new()).normalized() == b.spec("", String::new()).normalized()
            && a.description.unwrap_or_default() == b.description.unwrap_or_default()
    }
}

impl RuleSpec {
    /// What is sent: ICMP types only with icmp (no `["any"]` default added
    /// here: pfSense adds it).
    fn normalized_for_send(mut self) -> RuleSpec {
        if self.protocol.as_deref() != Some("icmp") {
            self.icmptype = None;
        }
        self
    }
}

fn one_of_doc(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rule attributes (`type` required), for a rule resource or the
/// elements of a ruleset's `rules`.
pub fn rule_attributes() -> Vec<(&'static str, Attribute)> {
    vec![
        (
            "type",
            Attribute::string()
                .required()
                .describe("What the rule does with the traffic it matches: `pass`, `block` (drop silently) or `reject`.")
                .validator(validators::one_of(ACTIONS)),
        ),
        (
            "ipprotocol",
            Attribute::string()
                .default("inet")
                .describe("IP version: `inet` (IPv4), `inet6` (IPv6) or `inet46` (both).")
                .validator(validators::one_of(IP_PROTOCOLS)),
        ),
        (
            "protocol",
            Attribute::string()
                .optional()
                .describe(format!(
                    "The protocol: {}. Unset: any protocol.",
                    one_of_doc(PROTOCOLS)
                ))
                .validator(validators::one_of(PROTOCOLS)),
        ),
        (
            "icmptype",
            Attribute::list(Type::String)
                .optional()
                .describe(
                    "ICMP types, with `protocol = \"icmp\"` only (pfSense drops them otherwise); \
                     unset: any (pfSense stores `[\"any\"]`).",
                )
                .validator(validators::from_fn(
                    format!("Each one of {}.", one_of_doc(ICMP_TYPES)),
                    |v| {
                        for e in v.elements().unwrap_or(&[]) {
                            if let Some(s) = e.as_str()
                                && !ICMP_TYPES.contains(&s)
                            {
                                return Err(format!(
                                    "{s:?} is not an ICMP type pfSense knows ({})",
                                    ICMP_TYPES.join(", ")
                                ));
                            }
                        }
                        Ok(())
                    },
                )),
        ),
        (
            "source",
            Attribute::string()
                .default("any")
                .describe(ADDRESS_DOC)
                .validator(address_validator()),
        ),
        (
            "source_port",
            Attribute::string()
                .optional()
                .describe(PORT_DOC)
                .validator(port_validator()),
        ),
        (
            "destination",
            Attribute::string()
                .default("any")
                .describe(ADDRESS_DOC)
                .validator(address_validator()),
        ),
        (
            "destination_port",
            Attribute::string()
                .optional()
                .describe(PORT_DOC)
                .validator(port_validator()),
        ),
        (
            "description",
            Attribute::string()
                .default("")
                .describe("The rule's description (pfSense's `descr`).")
                .validator(validators::length_between(0, MAX_TEXT - 40)),
        ),
        (
            "disabled",
            Attribute::bool()
                .default(false)
                .describe("Keep the rule but do not use it."),
        ),
        (
            "log",
            Attribute::bool()
                .default(false)
                .describe("Log the packets the rule matches."),
        ),
        (
            "statetype",
            Attribute::string()
                .default("keep state")
                .describe(format!(
                    "State tracking: {} (`synproxy state` with `protocol = \"tcp\"` only).",
                    one_of_doc(STATE_TYPES)
                ))
                .validator(validators::one_of(STATE_TYPES)),
        ),
        (
            "gateway",
            Attribute::string()
                .optional()
                .describe("A gateway or gateway group name for policy routing; unset: the default route."),
        ),
        (
            "sched",
            Attribute::string()
                .optional()
                .describe("The name of a firewall schedule that limits when the rule applies."),
        ),
        (
            "tracker",
            Attribute::number().computed().describe(
                "pfSense's tracker of the rule: the Unix time of its creation, its identity \
                 (positions change; two rules made in the same second share a tracker).",
            ),
        ),
    ]
}

const ADDRESS_DOC: &str = "An IP address, a subnet (CIDR), an alias, an interface as the API \
    names it (`LAN`; `LAN:ip` for its address), `any`, `(self)`, `l2tp` or `pppoe`; `!` in front \
    inverts (not `!any`).";
const PORT_DOC: &str = "A port, a range `start:end`, or a port alias; only with `protocol` \
    `tcp`, `udp` or `tcp/udp` (pfSense drops ports of other protocols).";

fn address_validator() -> impl labforge_framework::schema::validators::Validator {
    validators::from_fn(
        "An IP address, subnet, alias, interface, `any`, `(self)`, `l2tp` or `pppoe`.",
        |v| match v.as_str().and_then(model::address_problem) {
            Some(p) => Err(p),
            None => Ok(()),
        },
    )
}

fn port_validator() -> impl labforge_framework::schema::validators::Validator {
    validators::from_fn(
        "A port (1-65535), a range `start:end`, or a port alias.",
        |v| match v.as_str().and_then(model::port_problem) {
            Some(p) => Err(p),
            None => Ok(()),
        },
    )
}

fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn set(v: &Value, k: &str) -> bool {
    v.get(k).is_some_and(|x| !x.is_null())
}

/// Checks across a rule's attributes that pfSense would refuse or silently
/// drop, pointing at the attribute (`at` is the rule's path).
pub fn check_rule(rule: &Value, at: &AttributePath, d: &mut Diagnostics) {
    let proto_known = rule.get("protocol").is_none_or(|v| !v.is_unknown());
    let proto = text(rule, "protocol");
    if proto_known {
        let ports_ok = proto.is_some_and(|p| PORT_PROTOCOLS.contains(&p));
        for port in ["source_port", "destination_port"] {
            if set(rule, port) && !ports_ok {
                d.attribute_error(
                    at.join_attr(port),
                    "Invalid attribute combination",
                    format!(
                        "{}: a port needs `protocol` \"tcp\", \"udp\" or \"tcp/udp\" (this rule's is {}); \
                         pfSense would silently drop it and the rule would match every port.",
                        at.join_attr(port),
                        proto.map_or("any".to_string(), |p| format!("{p:?}"))
                    ),
                );
            }
        }
        if set(rule, "icmptype") && proto != Some("icmp") {
            d.attribute_error(
                at.join_attr("icmptype"),
                "Invalid attribute combination",
                format!(
                    "{}: ICMP types need `protocol = \"icmp\"`; pfSense would silently drop them.",
                    at.join_attr("icmptype")
                ),
            );
        }
        if text(rule, "statetype") == Some("synproxy state") && proto != Some("tcp") {
            d.attribute_error(
                at.join_attr("statetype"),
                "Invalid attribute combination",
                format!(
                    "{}: `synproxy state` needs `protocol = \"tcp\"` \
                     (FIREWALL_RULE_SYNPROXY_STATE_TYPE_WITH_NON_TCP_PROTOCOL).",
                    at.join_attr("statetype")
                ),
            );
        }
    }
    if text(rule, "statetype") == Some("synproxy state") && set(rule, "gateway") {
        d.attribute_error(
            at.join_attr("statetype"),
            "Invalid attribute combination",
            format!(
                "{}: `synproxy state` cannot be used with a `gateway` \
                 (FIREWALL_RULE_SYNPROXY_STATE_TYPE_WITH_GATEWAY).",
                at.join_attr("statetype")
            ),
        );
    }
    if let Some(Value::List(types)) = rule.get("icmptype")
        && types.is_empty()
    {
        d.attribute_error(
            at.join_attr("icmptype"),
            "Invalid attribute value",
            format!(
                "{}: give at least one ICMP type, or leave it unset for any.",
                at.join_attr("icmptype")
            ),
        );
    }
}

/// Check the names a rule uses against the box's interfaces (when they can
/// be read): the interface itself, and interface addresses. A name that is
/// another spelling of an interface (`lan` where the API says `LAN`) is an
/// error naming the right one; an unknown rule interface is an error too.
pub async fn check_names(
    c: &Client,
    interface: Option<(&str, AttributePath)>,
    addresses: &[(String, AttributePath)],
    d: &mut Diagnostics,
) {
    let ifs = match c.interfaces().await {
        Ok(i) => i,
        Err(e) => {
            tracing::debug!(error = %e, "interfaces not readable; names checked at apply");
            return;
        }
    };
    let mode = ifs
        .mode
        .map_or("(unknown: the REST API settings are not readable)", |m| {
            m.name()
        });
    let known: Vec<String> = ifs
        .list
        .iter()
        .map(|i| {
            ifs.mode
                .map_or(i.descr.clone(), |m| m.name_of(i).to_string())
        })
        .collect();
    if let Some((name, at)) = interface {
        match model::check_interface(name, &ifs.list, ifs.mode) {
            InterfaceCheck::Ok => {}
            InterfaceCheck::WrongSpelling { right } => d.attribute_error(
                at.clone(),
                "Invalid attribute value",
                format!(
                    "{at}: {name:?} is another name of the interface this pfSense calls {right:?}: its REST \
                     API names interfaces by `{mode}` (represent_interfaces_as) and refuses {name:?}. \
                     Use {right:?}."
                ),
            ),
            InterfaceCheck::Unknown => d.attribute_error(
                at.clone(),
                "Invalid attribute value",
                format!(
                    "{at}: pfSense has no interface {name:?}; it has {}.",
                    known.join(", ")
                ),
            ),
        }
    }
    for (value, at) in addresses {
        let Some(name) = model::address_name(value) else {
            continue;
        };
        // An unknown name may be an alias (made in this run, even): only
        // another spelling of an interface is certainly wrong.
        if let InterfaceCheck::WrongSpelling { right } =
            model::check_interface(name, &ifs.list, ifs.mode)
        {
            d.attribute_error(
                at.clone(),
                "Invalid attribute value",
                format!(
                    "{at}: {name:?} is another name of the interface this pfSense's REST API calls \
                     {right:?} (it names interfaces by `{mode}`); write {:?}.",
                    value.replacen(name, &right, 1)
                ),
            );
        }
    }
}

/// The error of an update whose object was deleted after the plan: what
/// happened and what to do (an update cannot drop the object from state).
pub fn gone(what: &str) -> String {
    format!(
        "{what} is gone: it was deleted outside Terraform after the plan was made. Run \
         terraform apply again: its refresh removes it from the state and the plan creates \
         it anew"
    )
}

/// An API error as a diagnostic detail.
pub fn api(what: impl std::fmt::Display, e: ApiError) -> Error {
    Error::msg(format!("{what}: {e}"))
}

/// The `applied` attribute every pfSense resource has.
pub fn applied_attribute() -> Attribute {
    Attribute::bool().computed().describe(
        "Whether the changes of the last apply are live. pfSense writes changes to its \
         configuration and loads them into the firewall only when applied; the provider applies \
         once per run (see the resource description). `false`: the apply failed, the changes are \
         in pfSense's configuration but not in the running firewall, and the next plan applies \
         again.",
    )
}

/// The detail of a failed apply.
pub fn apply_failed(msg: &str) -> String {
    format!(
        "the changes were written to pfSense's configuration, but applying them failed: {msg}. \
         They are not live yet; the state records that (applied = false), and the next \
         `terraform apply` applies again."
    )
}

#[cfg(test)]
mod gone_tests {
    #[test]
    fn a_deleted_object_says_what_to_do() {
        let m = super::gone("alias \"x\"");
        assert!(m.starts_with("alias \"x\" is gone"), "{m}");
        assert!(m.contains("Run terraform apply again"), "{m}");
    }
}
