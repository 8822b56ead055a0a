//! `homelab_technitium_zone`: an authoritative zone.

use crate::Client;
use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
use labforge_framework::{AttributePath, Ctx, Diagnostics, Error, Resource, Result, Type, Value};
use serde::{Deserialize, Serialize};

use labforge_http::ApiErrorKind as _;

use crate::client::ApiError;
use crate::rdata::norm_name;

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct Zone;

/// Zone types this resource creates.
pub const ZONE_TYPES: &[&str] = &["Primary", "Secondary", "Stub", "Forwarder"];

/// One zone, as configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZoneModel {
    /// The zone name, as written (also the import ID); `None` until created.
    pub id: Option<String>,
    /// Zone name, as written.
    pub name: String,
    /// One of [`ZONE_TYPES`]; `None` only in configuration (default `Primary`).
    #[serde(rename = "type")]
    pub zone_type: Option<String>,
    /// Forwarder zones: the server to forward to; `None` for other types.
    pub forwarder: Option<String>,
    /// Secondary and Stub zones: the primaries' addresses; `None` when the
    /// server resolves them itself.
    pub primary_name_server_addresses: Option<Vec<String>>,
    /// Not served; `None` only in configuration (default false).
    pub disabled: Option<bool>,
    /// What the server reports (`Unsigned`, `SignedWithNSEC`,
    /// `SignedWithNSEC3`); `None` until read.
    pub dnssec_status: Option<String>,
}

impl ZoneModel {
    fn name_n(&self) -> String {
        norm_name(&self.name)
    }
    fn zone_type(&self) -> &str {
        self.zone_type.as_deref().unwrap_or("Primary")
    }
}

fn api_err(what: impl std::fmt::Display, e: ApiError) -> Error {
    Error::msg(format!("{what}: {e}"))
}

/// `zones/create` parameters.
pub(crate) fn create_params(m: &ZoneModel) -> Vec<(&'static str, String)> {
    let mut p = vec![("zone", m.name_n()), ("type", m.zone_type().to_string())];
    match m.zone_type() {
        "Forwarder" => {
            if let Some(f) = &m.forwarder {
                p.push(("initializeForwarder", "true".into()));
                p.push(("forwarder", f.trim().to_string()));
            }
        }
        "Secondary" | "Stub" => {
            if let Some(a) = m
                .primary_name_server_addresses
                .as_ref()
                .filter(|a| !a.is_empty())
            {
                p.push(("primaryNameServerAddresses", a.join(",")));
            }
        }
        _ => {}
    }
    p
}

impl Zone {
    /// Fill `m` from the server; `None` if the zone is gone. Uses only
    /// calls a View token may make (`zones/list`, `records/get`); the
    /// primary name servers of Secondary and Stub zones come from
    /// `zones/options/get` ("Zones: Modify") and are kept as they are when
    /// the token may not read them.
    async fn refresh(&self, ctx: &Ctx<Client>, mut m: ZoneModel) -> Result<Option<ZoneModel>> {
        let c = ctx.client();
        let name = m.name_n();
        let info = match c.zone_get(&name).await {
            Ok(Some(i)) => i,
            Ok(None) => return Ok(None),
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(api_err(format!("reading zone {name}"), e)),
        };
        if !m
            .zone_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(&info.zone_type))
        {
            m.zone_type = Some(info.zone_type.clone());
        }
        m.disabled = Some(info.disabled);
        m.dnssec_status = Some(info.dnssec_status.unwrap_or_else(|| "Unsigned".into()));
        let servers: Option<Vec<String>> = match info.zone_type.as_str() {
            "Secondary" | "Stub" => match c.zone_options(&name).await {
                Ok(o) => Some(o.primary_name_server_addresses.unwrap_or_default()),
                Err(e) if e.is_forbidden() => {
                    tracing::debug!(zone = %name, "zone options need Zones: Modify; primary name servers not refreshed");
                    None
                }
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(api_err(format!("reading zone {name}"), e)),
            },
            _ => Some(Vec::new()),
        };
        match (&m.primary_name_server_addresses, servers) {
            (_, None) => {}
            // Unset in configuration: the server may resolve them itself.
            (None, Some(servers)) if servers.is_empty() => {}
            (None, Some(_)) if m.id.is_some() => {}
            (Some(mine), Some(servers)) if same_set(mine, &servers) => {}
            (_, Some(servers)) => m.primary_name_server_addresses = Some(servers),
        }
        if info.zone_type == "Forwarder" {
            let records = c
                .zone_records(&name)
                .await
                .map_err(|e| api_err(format!("reading zone {name}"), e))?;
            let fwds: Vec<String> = records
                .iter()
                .filter(|r| r.rtype.eq_ignore_ascii_case("FWD") && norm_name(&r.name) == name)
                .filter_map(|r| r.str("forwarder"))
                .collect();
            let keep = m
                .forwarder
                .as_ref()
                .is_some_and(|f| fwds.iter().any(|x| x.eq_ignore_ascii_case(f.trim())));
            if !keep {
                m.forwarder = fwds.into_iter().next();
            }
        }
        m.id = Some(m.name.clone());
        Ok(Some(m))
    }

    /// `zones/create` answered "already exists": typically our own zone,
    /// created by the server although the answer was lost, and the retry
    /// repeated the create. It may also be a zone made outside Terraform, so
    /// take it over only if it is what this create makes: the same type, the
    /// configured forwarder and primary name servers, and (Primary and
    /// Forwarder zones) no records but the SOA, NS and FWD records a new zone
    /// has at its apex. Otherwise fail, pointing at `terraform import`.
    /// Returns whether the zone is disabled.
    async fn adopt(&self, ctx: &Ctx<Client>, plan: &ZoneModel, refused: ApiError) -> Result<bool> {
        let c = ctx.client();
        let name = plan.name_n();
        let refuse = |why: &str| {
            Error::msg(format!(
                "creating zone {name}: {refused}. The existing zone {why}, so it is not taken \
                 over; import it with `terraform import <address> {name}` to manage it here."
            ))
        };
        let probe = ZoneModel {
            id: None,
            ..plan.clone()
        };
        let Some(found) = self.refresh(ctx, probe).await? else {
            return Err(refuse("cannot be read"));
        };
        if found.zone_type() != plan.zone_type() {
            return Err(refuse(&format!("is of type {}", found.zone_type())));
        }
        if plan.forwarder.is_some() && found.forwarder != plan.forwarder {
            return Err(refuse("forwards elsewhere"));
        }
        if plan.primary_name_server_addresses.is_some()
            && found.primary_name_server_addresses != plan.primary_name_server_addresses
        {
            return Err(refuse("has other primary name servers"));
        }
        if matches!(plan.zone_type(), "Primary" | "Forwarder") {
            let records = c
                .zone_records(&name)
                .await
                .map_err(|e| api_err(format!("reading zone {name}"), e))?;
            let fresh = records.iter().all(|r| {
                norm_name(&r.name) == name
                    && matches!(r.rtype.to_ascii_uppercase().as_str(), "SOA" | "NS" | "FWD")
            });
            if !fresh {
                return Err(refuse("already holds records"));
            }
        }
        tracing::info!(zone = %name, "the zone already exists as planned; taking it over");
        ctx.warn(
            format!("Took over existing zone {name}"),
            format!(
                "Zone {name} already existed as planned ({refused}); it is now managed by this \
                 resource."
            ),
        );
        Ok(found.disabled == Some(true))
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let norm = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        v.sort();
        v
    };
    norm(a) == norm(b)
}

impl Resource for Zone {
    type Client = Client;
    type Model = ZoneModel;
    const NAME: &'static str = "technitium_zone";

    fn schema(&self) -> Schema {
        Schema::new(
            "An authoritative zone on a Technitium DNS Server. A new `Primary` zone comes with \
             its SOA and NS records; manage further records with \
             `homelab_technitium_dns_record`. For a reverse zone, give its `in-addr.arpa` / \
             `ip6.arpa` name.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("The zone name (also the import ID).")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "name",
            Attribute::string()
                .required()
                .describe("Zone name, e.g. `home.arpa` or `1.168.192.in-addr.arpa`.")
                .plan_modifier(modifiers::requires_replace())
                .validator(validators::dns_name(false)),
        )
        .attribute(
            "type",
            Attribute::string()
                .default("Primary")
                .describe("Zone type.")
                .plan_modifier(modifiers::requires_replace())
                .validator(validators::one_of(ZONE_TYPES)),
        )
        .attribute(
            "forwarder",
            Attribute::string()
                .optional()
                .describe(
                    "Forwarder zones: the DNS server to forward to (address, host name, or \
                     `this-server`). Required for `Forwarder`, not allowed otherwise.",
                )
                .plan_modifier(modifiers::requires_replace()),
        )
        .attribute(
            "primary_name_server_addresses",
            Attribute::list(Type::String)
                .optional()
                .describe(
                    "Secondary and Stub zones: addresses of the primary name servers. When \
                     unset the server resolves them itself. Refreshed only with a token that may \
                     read zone options (Zones: Modify); a View-only token keeps the value in \
                     state.",
                )
                .validator(name_server_addresses())
                .plan_modifier(modifiers::requires_replace()),
        )
        .attribute(
            "disabled",
            Attribute::bool()
                .default(false)
                .describe("Disable the zone (it stops answering) without deleting it."),
        )
        .attribute(
            "dnssec_status",
            Attribute::string()
                .computed()
                .describe("DNSSEC status reported by the server, e.g. `Unsigned`.")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let get = |n: &str| config.get(n).cloned().unwrap_or(Value::Null);
        let ztype = get("type");
        if ztype.is_unknown() {
            return d;
        }
        let ztype = ztype.as_str().unwrap_or("Primary").to_string();
        let fwd = get("forwarder");
        if ztype == "Forwarder" && fwd.is_null() {
            d.attribute_error(
                AttributePath::attr("forwarder"),
                "Missing required argument",
                "`forwarder` is required for Forwarder zones.",
            );
        }
        if ztype != "Forwarder" && fwd.is_known() {
            d.attribute_error(
                AttributePath::attr("forwarder"),
                "Invalid attribute combination",
                format!("`forwarder` is only used with Forwarder zones, not {ztype}."),
            );
        }
        if !matches!(ztype.as_str(), "Secondary" | "Stub")
            && get("primary_name_server_addresses").is_known()
        {
            d.attribute_error(
                AttributePath::attr("primary_name_server_addresses"),
                "Invalid attribute combination",
                format!(
                    "`primary_name_server_addresses` is only used with Secondary and Stub zones, not {ztype}."
                ),
            );
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("the zone name, e.g. `home.arpa`")
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: ZoneModel) -> Result<ZoneModel> {
        let c = ctx.client();
        let name = plan.name_n();
        let disabled = match c.zone_create(&create_params(&plan)).await {
            Ok(_) => false,
            Err(e) if e.is_already_exists() => self.adopt(ctx, &plan, e).await?,
            Err(e) => return Err(Error::msg(format!("creating zone {name}: {e}."))),
        };
        // From here the zone exists: a failure keeps it in state (tainted,
        // so the next apply replaces it) instead of forgetting it.
        let made = ZoneModel {
            id: Some(plan.name.clone()),
            ..plan.clone()
        };
        let keep = |e: Error| e.with_partial_state(&made);
        let want = plan.disabled == Some(true);
        if want != disabled {
            let what = if want { "disabling" } else { "enabling" };
            c.zone_set_disabled(&name, want)
                .await
                .map_err(|e| keep(api_err(format!("{what} zone {name}, which was created"), e)))?;
        }
        let mut out = plan.clone();
        out.id = None;
        let read = self.refresh(ctx, out).await.map_err(|e| {
            keep(Error::msg(format!(
                "zone {name} was created, but reading it back failed: {e}"
            )))
        })?;
        let mut out = read.ok_or_else(|| {
            keep(Error::msg(format!(
                "zone {name} was created, but the server does not list it when read back"
            )))
        })?;
        // Keep what was planned; only fill the computed attributes.
        out.zone_type = plan.zone_type;
        out.forwarder = plan.forwarder;
        out.primary_name_server_addresses = plan.primary_name_server_addresses;
        out.disabled = plan.disabled;
        Ok(out)
    }

    async fn read(&self, ctx: &Ctx<Client>, state: ZoneModel) -> Result<Option<ZoneModel>> {
        self.refresh(ctx, state).await
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        prior: ZoneModel,
        plan: ZoneModel,
    ) -> Result<ZoneModel> {
        let c = ctx.client();
        let name = plan.name_n();
        let want = plan.disabled.unwrap_or(false);
        if prior.disabled.unwrap_or(false) != want {
            c.zone_set_disabled(&name, want).await.map_err(|e| {
                api_err(
                    format!(
                        "{} zone {name}",
                        if want { "disabling" } else { "enabling" }
                    ),
                    e,
                )
            })?;
        }
        let mut out = plan;
        out.id = Some(out.name.clone());
        if out.dnssec_status.is_none() {
            out.dnssec_status = prior.dnssec_status;
        }
        Ok(out)
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: ZoneModel) -> Result<()> {
        let c = ctx.client();
        let name = state.name_n();
        match c.zone_delete(&name).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(api_err(format!("deleting zone {name}"), e)),
        }
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<ZoneModel> {
        let name = id.trim();
        if name.is_empty() || name.contains('/') {
            return Err(Error::msg(format!(
                "invalid import ID {id:?}: expected the zone name, e.g. `home.arpa`"
            )));
        }
        let m = ZoneModel {
            id: None,
            name: name.to_string(),
            zone_type: None,
            forwarder: None,
            primary_name_server_addresses: None,
            disabled: None,
            dnssec_status: None,
        };
        self.refresh(ctx, m)
            .await?
            .ok_or_else(|| Error::msg(format!("no zone {name:?} on the server")))
    }
}

/// Each element of `primary_name_server_addresses` is one name server. The
/// list is sent comma-joined (`primaryNameServerAddresses`, Technitium's
/// `DnsWebService` zones/create), so an element holding a comma would
/// silently become two servers and an empty one an empty entry the server
/// refuses at apply: both are refused at validate.
fn name_server_addresses() -> impl labforge_framework::schema::Validator {
    validators::from_fn(
        "Each element is one name server (an IP address or host name, optionally with `:port`), \
         without commas or surrounding spaces.",
        |v| {
            for (i, e) in v.elements().unwrap_or(&[]).iter().enumerate() {
                let Some(s) = e.as_str() else { continue };
                if s.trim().is_empty() || s.contains(',') || s.trim() != s {
                    return Err(format!(
                        "element {i}: {s:?} is not one name server: give an IP address or host \
                         name (optionally with `:port`) per element, without commas or \
                         surrounding spaces"
                    ));
                }
            }
            Ok(())
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    #[test]
    fn name_server_addresses_are_one_per_element() {
        use labforge_framework::schema::Validator as _;
        let check = |items: &[&str]| {
            let mut d = Diagnostics::new();
            name_server_addresses().validate(
                &AttributePath::attr("primary_name_server_addresses"),
                &Value::list(items.iter().map(|s| Value::string(*s))),
                &mut d,
            );
            d.iter().next().map(|e| e.detail.clone())
        };
        assert!(check(&["10.0.0.1", "ns1.example.net", "[fd00::1]:53"]).is_none());
        for bad in ["10.0.0.1,10.0.0.2", "", " 10.0.0.1"] {
            let e = check(&["10.0.0.9", bad]).unwrap();
            assert!(
                e.starts_with("primary_name_server_addresses: element 1: "),
                "{e}"
            );
        }
    }
    use super::*;

    fn model(t: &str) -> ZoneModel {
        ZoneModel {
            id: None,
            name: "Lab.Example.".into(),
            zone_type: Some(t.into()),
            forwarder: Some("10.0.0.53".into()),
            primary_name_server_addresses: Some(vec!["10.0.0.1".into(), "10.0.0.2".into()]),
            disabled: Some(false),
            dnssec_status: None,
        }
    }

    #[test]
    fn create_params_per_type() {
        let p = create_params(&model("Forwarder"));
        assert!(p.contains(&("zone", "lab.example".into())));
        assert!(p.contains(&("forwarder", "10.0.0.53".into())));
        assert!(!p.iter().any(|(k, _)| *k == "primaryNameServerAddresses"));
        let p = create_params(&model("Secondary"));
        assert!(p.contains(&("primaryNameServerAddresses", "10.0.0.1,10.0.0.2".into())));
        let p = create_params(&model("Primary"));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn validation() {
        let z = Zone;
        let d = z.validate(&Value::object([("type", Value::string("Forwarder"))]));
        assert_eq!(d.0[0].attribute, Some(AttributePath::attr("forwarder")));
        let d = z.validate(&Value::object([
            ("type", Value::Null),
            ("forwarder", Value::string("1.1.1.1")),
        ]));
        assert!(d.has_errors());
        assert!(same_set(
            &["B".into(), "a".into()],
            &["a".into(), "b".into()]
        ));
    }
}
