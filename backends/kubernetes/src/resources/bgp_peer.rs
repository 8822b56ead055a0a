//! `homelab_metallb_bgp_peer`: a MetalLB `BGPPeer` (`metallb.io/v1beta2`,
//! the storage version; metallb `api/v1beta2/bgppeer_types.go`).
//!
//! Checks at plan, as MetalLB's webhook (`internal/k8s/webhooks`,
//! `internal/config/config.go`) and the CRD's CEL rules refuse them: one of
//! `peer_asn` and `dynamic_asn`; one of `peer_address` and `interface`; not
//! both `password` and `password_secret`; `connect_time` a whole number of
//! seconds between 1 and 65535; `hold_time` 0 or at least 3s, and
//! `keepalive_time` not above it.
//!
//! `password_wo` (Terraform 1.11 write-only) with `password_wo_version`, the
//! convention of HashiCorp's providers: the password never reaches plan or
//! state; it is sent with every apply of the object (server-side apply would
//! otherwise drop the field this manager owns), and a change of
//! `password_wo_version` is what plans an update. Refresh never reads the
//! cluster's `password` back into state while the write-only pair is used.
//!
//! An import never reads `password` (Terraform's `-generate-config-out`
//! writes no sensitive value, so a password in state would plan its
//! removal): the peer keeps it on the cluster, and the configuration says
//! nothing about it until `password_wo` (or `password`) is set.

use labforge_framework::schema::{Attribute, Nesting, Schema, modifiers, validators};
use labforge_framework::{AttributePath, Ctx, Diagnostics, PlanChange, Resource, Result, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use super::{
    Managed, Selector, apply, check_selectors, delete, identity, identity_fields, import,
    plan_client, read, selectors_attr, selectors_from, selectors_json,
};
use crate::client::{FIELD_MANAGER, Kind, Object};
use crate::connection::{Connection, Connections};

pub(crate) const KIND: Kind = Kind {
    api_version: "metallb.io/v1beta2",
    kind: "BGPPeer",
    plural: "bgppeers",
};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct BgpPeer;

/// `passwordSecret`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretRef {
    /// Secret name.
    pub name: String,
    /// Secret namespace (MetalLB's).
    pub namespace: Option<String>,
}

/// One peer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerModel {
    /// `namespace/name`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// `myASN`.
    pub my_asn: i64,
    /// `peerASN`.
    pub peer_asn: Option<i64>,
    /// `dynamicASN`.
    pub dynamic_asn: Option<String>,
    /// `localASN`.
    pub local_asn: Option<i64>,
    /// `peerAddress`.
    pub peer_address: Option<String>,
    /// `interface`.
    pub interface: Option<String>,
    /// `sourceAddress`.
    pub source_address: Option<String>,
    /// `peerPort` (CRD default 179).
    pub peer_port: Option<i64>,
    /// `holdTime`.
    pub hold_time: Option<String>,
    /// `keepaliveTime`.
    pub keepalive_time: Option<String>,
    /// `connectTime`.
    pub connect_time: Option<String>,
    /// `routerID`.
    pub router_id: Option<String>,
    /// `nodeSelectors`.
    pub node_selectors: Option<Vec<Selector>>,
    /// `password`.
    pub password: Option<String>,
    /// `password`, write-only (never in plan or state).
    pub password_wo: Option<String>,
    /// Changing it sends `password_wo` again.
    pub password_wo_version: Option<i64>,
    /// `passwordSecret`.
    pub password_secret: Option<SecretRef>,
    /// `bfdProfile`.
    pub bfd_profile: Option<String>,
    /// `enableGracefulRestart`.
    pub enable_graceful_restart: Option<bool>,
    /// `ebgpMultiHop`.
    pub ebgp_multi_hop: Option<bool>,
    /// `vrf`.
    pub vrf: Option<String>,
    /// `disableMP` (CRD default false).
    pub disable_mp: Option<bool>,
    /// `dualStackAddressFamily` (CRD default false).
    pub dual_stack_address_family: Option<bool>,
    /// SSA `force`.
    pub force_conflicts: Option<bool>,
    /// The resource's own `kubernetes` block (else the provider's).
    pub kubernetes: Option<Connection>,
}

fn strings_of(m: &mut PeerModel) -> [(&'static str, &mut Option<String>); 11] {
    [
        ("dynamicASN", &mut m.dynamic_asn),
        ("peerAddress", &mut m.peer_address),
        ("interface", &mut m.interface),
        ("sourceAddress", &mut m.source_address),
        ("holdTime", &mut m.hold_time),
        ("keepaliveTime", &mut m.keepalive_time),
        ("connectTime", &mut m.connect_time),
        ("routerID", &mut m.router_id),
        ("password", &mut m.password),
        ("bfdProfile", &mut m.bfd_profile),
        ("vrf", &mut m.vrf),
    ]
}

pub(crate) fn spec(m: &PeerModel) -> Json {
    let mut s = Map::new();
    s.insert("myASN".into(), json!(m.my_asn));
    s.insert("peerPort".into(), json!(m.peer_port.unwrap_or(179)));
    s.insert("disableMP".into(), json!(m.disable_mp.unwrap_or(false)));
    s.insert(
        "dualStackAddressFamily".into(),
        json!(m.dual_stack_address_family.unwrap_or(false)),
    );
    for (k, v) in [("peerASN", m.peer_asn), ("localASN", m.local_asn)] {
        if let Some(v) = v {
            s.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [
        ("enableGracefulRestart", m.enable_graceful_restart),
        ("ebgpMultiHop", m.ebgp_multi_hop),
    ] {
        if let Some(v) = v {
            s.insert(k.into(), json!(v));
        }
    }
    let mut mm = m.clone();
    for (k, v) in strings_of(&mut mm) {
        if let Some(v) = v {
            s.insert(k.into(), json!(v));
        }
    }
    if let Some(v) = &m.node_selectors {
        s.insert("nodeSelectors".into(), selectors_json(v));
    }
    if let Some(p) = &m.password_wo {
        s.insert("password".into(), json!(p));
    }
    if let Some(p) = &m.password_secret {
        let mut o = json!({"name": p.name});
        if let Some(n) = &p.namespace {
            o["namespace"] = json!(n);
        }
        s.insert("passwordSecret".into(), o);
    }
    Json::Object(s)
}

fn fill(mut m: PeerModel, o: &Object<Json>, all: bool) -> PeerModel {
    let s = o.spec.clone();
    let owns = |field: &str| all || o.metadata.owns(FIELD_MANAGER, field);
    m.my_asn = s.get("myASN").and_then(Json::as_i64).unwrap_or(m.my_asn);
    m.peer_port = Some(s.get("peerPort").and_then(Json::as_i64).unwrap_or(179));
    m.disable_mp = Some(s.get("disableMP").and_then(Json::as_bool).unwrap_or(false));
    m.dual_stack_address_family = Some(
        s.get("dualStackAddressFamily")
            .and_then(Json::as_bool)
            .unwrap_or(false),
    );
    if m.peer_asn.is_some() || owns("peerASN") {
        m.peer_asn = s.get("peerASN").and_then(Json::as_i64);
    }
    if m.local_asn.is_some() || owns("localASN") {
        m.local_asn = s.get("localASN").and_then(Json::as_i64);
    }
    if m.enable_graceful_restart.is_some() || owns("enableGracefulRestart") {
        m.enable_graceful_restart = s.get("enableGracefulRestart").and_then(Json::as_bool);
    }
    if m.ebgp_multi_hop.is_some() || owns("ebgpMultiHop") {
        m.ebgp_multi_hop = s.get("ebgpMultiHop").and_then(Json::as_bool);
    }
    for (k, v) in strings_of(&mut m) {
        // An import leaves the password out of state (Terraform's
        // generator cannot write a sensitive value into configuration, so
        // a password read here would plan its removal after every import);
        // the cluster keeps it, owned by whoever set it. It is read once
        // this resource sets `password` (or owns it).
        let own_only = k == "password";
        let take = if own_only {
            v.is_some() || o.metadata.owns(FIELD_MANAGER, k)
        } else {
            v.is_some() || owns(k)
        };
        if take {
            *v = s.get(k).and_then(Json::as_str).map(str::to_string);
        }
    }
    if m.password_wo_version.is_some() {
        // Set through `password_wo`: the cluster's copy stays out of state.
        m.password = None;
    }
    if m.node_selectors.is_some() || owns("nodeSelectors") {
        m.node_selectors = selectors_from(s.get("nodeSelectors"));
    }
    if m.password_secret.is_some() || owns("passwordSecret") {
        m.password_secret = s.get("passwordSecret").map(|p| SecretRef {
            name: p
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            namespace: p
                .get("namespace")
                .and_then(Json::as_str)
                .map(str::to_string),
        });
    }
    m
}

/// A Go `time.Duration` string (`90s`, `1m30s`, `1.5h`), in milliseconds.
pub(crate) fn duration_ms(s: &str) -> Option<f64> {
    let mut rest = s.trim();
    if rest == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let (unit, len) = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(**u))
            .map(|u| (*u, u.len()))
            .max_by_key(|(_, l)| *l)?;
        let f = match unit {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 6e4,
            _ => 3.6e6,
        };
        total += num * f;
        rest = &rest[len..];
    }
    Some(total)
}

fn sv<'a>(config: &'a Value, k: &str) -> Option<&'a str> {
    config.get(k).and_then(Value::as_str)
}

fn set(config: &Value, k: &str) -> bool {
    config.get(k).is_some_and(|v| !v.is_null())
}

fn unknown(config: &Value, k: &str) -> bool {
    config.get(k).is_some_and(Value::is_unknown)
}

impl Managed for PeerModel {
    const KIND: Kind = KIND;
    identity_fields!();
    fn spec(&self) -> Json {
        spec(self)
    }
    fn fill(self, o: &Object<Json>, all: bool) -> Self {
        fill(self, o, all)
    }
}

fn opt_string(d: &str) -> Attribute {
    Attribute::string().optional().describe(d)
}

impl Resource for BgpPeer {
    type Client = Connections;
    type Model = PeerModel;
    const NAME: &'static str = "metallb_bgp_peer";

    fn schema(&self) -> Schema {
        let asn = || validators::between(0, u32::MAX as i64);
        identity(
            Schema::new(
                "A MetalLB `BGPPeer` (`metallb.io/v1beta2`): a BGP session from the speakers to a \
                 router. Give `peer_asn` or `dynamic_asn`, and `peer_address` or `interface`.",
            ),
            "peer",
        )
        .attribute(
            "my_asn",
            Attribute::int().required().describe("The speakers' AS number (`myASN`).").validator(asn()),
        )
        .attribute(
            "peer_asn",
            Attribute::int().optional().describe("The peer's AS number (`peerASN`).").validator(asn()),
        )
        .attribute(
            "dynamic_asn",
            opt_string("`internal` or `external`: learn the peer's AS (`dynamicASN`).")
                .validator(validators::one_of(&["internal", "external"])),
        )
        .attribute(
            "local_asn",
            Attribute::int()
                .optional()
                .describe("AS number to present instead of `my_asn` (`localASN`).")
                .validator(validators::between(1, u32::MAX as i64)),
        )
        .attribute(
            "peer_address",
            opt_string("The peer's IP address (`peerAddress`).").validator(validators::ip_address()),
        )
        .attribute("interface", opt_string("Unnumbered BGP over this interface (`interface`)."))
        .attribute(
            "source_address",
            opt_string("Source IP of the session (`sourceAddress`).").validator(validators::ip_address()),
        )
        .attribute(
            "peer_port",
            Attribute::int()
                .default(179)
                .describe("The peer's TCP port (`peerPort`).")
                .validator(validators::between(1, 16384)),
        )
        .attribute("hold_time", opt_string("BGP hold time, a duration such as `90s` (`holdTime`)."))
        .attribute("keepalive_time", opt_string("Keepalive interval, e.g. `30s` (`keepaliveTime`)."))
        .attribute(
            "connect_time",
            opt_string("Time between connection attempts, whole seconds 1s..65535s (`connectTime`)."),
        )
        .attribute(
            "router_id",
            opt_string("BGP router ID to advertise (`routerID`).").validator(validators::ipv4_address()),
        )
        .attribute("node_selectors", selectors_attr("Only speakers on nodes matching these."))
        .attribute(
            "password",
            Attribute::string()
                .optional()
                .sensitive()
                .describe(
                    "TCP MD5 password (`password`); not with `password_secret`. An import leaves it \
                     out of state (the cluster keeps it): set `password_wo` with \
                     `password_wo_version` (or this) to manage it.",
                )
                .after_import(
                    "the cluster keeps the peer's password. To manage it, set `password_wo` with \
                     `password_wo_version` (or `password`); leave them out for a peer without a \
                     password or with `password_secret`.",
                ),
        )
        .attribute(
            "password_secret",
            Attribute::nested(
                Nesting::Single,
                [
                    ("name", Attribute::string().required().describe("Secret name.")),
                    (
                        "namespace",
                        Attribute::string().optional().describe("Secret namespace (MetalLB's)."),
                    ),
                ],
            )
            .optional()
            .describe("A `kubernetes.io/basic-auth` Secret holding the password (`passwordSecret`)."),
        )
        .attribute(
            "password_wo",
            Attribute::string()
                .optional()
                .sensitive()
                .write_only()
                .describe(
                    "TCP MD5 password (`password`), write-only (Terraform 1.11+): never stored in plan or state. \
                     Set with `password_wo_version`; change that number to send a new password. \
                     Not with `password` or `password_secret`.",
                ),
        )
        .attribute(
            "password_wo_version",
            Attribute::int()
                .optional()
                .describe("Version of `password_wo`: changing it updates the password on the cluster."),
        )
        .attribute("bfd_profile", opt_string("BFD profile name (`bfdProfile`)."))
        .attribute(
            "enable_graceful_restart",
            Attribute::bool()
                .optional()
                .describe("BGP graceful restart; fixed at creation (the CRD refuses changes), so changing it replaces the peer.")
                .plan_modifier(modifiers::requires_replace()),
        )
        .attribute("ebgp_multi_hop", Attribute::bool().optional().describe("The peer is several hops away (`ebgpMultiHop`)."))
        .attribute("vrf", opt_string("VRF to establish the session from (`vrf`)."))
        .attribute(
            "disable_mp",
            Attribute::bool().default(false).describe("Separate sessions per address family (`disableMP`)."),
        )
        .attribute(
            "dual_stack_address_family",
            Attribute::bool()
                .default(false)
                .describe("Both IPv4 and IPv6 over one session (`dualStackAddressFamily`)."),
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let err = |d: &mut Diagnostics, a: &str, msg: String| {
            d.attribute_error(AttributePath::attr(a), "Invalid attribute combination", msg)
        };
        if !unknown(config, "peer_asn") && !unknown(config, "dynamic_asn") {
            match (set(config, "peer_asn"), set(config, "dynamic_asn")) {
                (false, false) => err(&mut d, "peer_asn", "missing peer ASN and dynamicASN: set `peer_asn` or `dynamic_asn`.".into()),
                (true, true) => err(&mut d, "dynamic_asn", "both peer ASN and dynamicASN specified: set only one of `peer_asn` and `dynamic_asn`.".into()),
                _ => {}
            }
        }
        if !unknown(config, "peer_address") && !unknown(config, "interface") {
            match (set(config, "peer_address"), set(config, "interface")) {
                (false, false) => err(&mut d, "peer_address", "peer has no Address or Interface specified: set `peer_address` or `interface`.".into()),
                (true, true) => err(&mut d, "interface", "`peer_address` and `interface` exclude each other.".into()),
                _ => {}
            }
        }
        if set(config, "password") && set(config, "password_secret") {
            err(&mut d, "password_secret", "can not have both password and secret ref set: use `password` or `password_secret`.".into());
        }
        if set(config, "password_wo") {
            for other in ["password", "password_secret"] {
                if set(config, other) {
                    err(
                        &mut d,
                        "password_wo",
                        format!("`password_wo` and `{other}` exclude each other: set one of them."),
                    );
                }
            }
        }
        match (set(config, "password_wo") || unknown(config, "password_wo"), set(config, "password_wo_version") || unknown(config, "password_wo_version")) {
            (true, false) => err(&mut d, "password_wo_version", "`password_wo` needs `password_wo_version` (any number; change it to send a new password).".into()),
            (false, true) => err(&mut d, "password_wo", "`password_wo_version` is set without `password_wo`.".into()),
            _ => {}
        }
        let dur = |k: &str, d: &mut Diagnostics| -> Option<f64> {
            let s = sv(config, k)?;
            let v = duration_ms(s);
            if v.is_none() {
                d.attribute_error(
                    AttributePath::attr(k),
                    "Invalid attribute value",
                    format!("{k}: {s:?} is not a duration such as `90s` or `1m30s`."),
                );
            }
            v
        };
        if let Some(c) = dur("connect_time", &mut d)
            && (!(1000.0..=65_535_000.0).contains(&c) || c % 1000.0 != 0.0)
        {
            d.attribute_error(
                AttributePath::attr("connect_time"),
                "Invalid attribute value",
                "connect_time: connect time should be between 1 seconds to 65535, a whole number of seconds.",
            );
        }
        let hold = dur("hold_time", &mut d);
        if let Some(h) = hold
            && h != 0.0
            && h < 3000.0
        {
            d.attribute_error(
                AttributePath::attr("hold_time"),
                "Invalid attribute value",
                "hold_time: invalid hold time: must be 0 or at least 3s.",
            );
        }
        if let (Some(k), Some(h)) = (dur("keepalive_time", &mut d), hold)
            && k > h
        {
            d.attribute_error(
                AttributePath::attr("keepalive_time"),
                "Invalid attribute value",
                "keepalive_time: invalid keepaliveTime: it must be lower than the hold time.",
            );
        }
        if let Some(v) = config.get("node_selectors") {
            check_selectors(v, AttributePath::attr("node_selectors"), &mut d);
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("`namespace/name`, e.g. `metallb-system/router`")
    }

    async fn modify_plan(&self, ctx: &Ctx<Connections>, plan: &mut PlanChange<'_>) -> Result<()> {
        plan_client(ctx, plan).map(|_| ())
    }

    async fn create(&self, ctx: &Ctx<Connections>, plan: PeerModel) -> Result<PeerModel> {
        apply(ctx, plan, "create").await
    }

    async fn read(&self, ctx: &Ctx<Connections>, state: PeerModel) -> Result<Option<PeerModel>> {
        read(ctx, state).await
    }

    async fn update(
        &self,
        ctx: &Ctx<Connections>,
        _prior: PeerModel,
        plan: PeerModel,
    ) -> Result<PeerModel> {
        apply(ctx, plan, "update").await
    }

    async fn delete(&self, ctx: &Ctx<Connections>, state: PeerModel) -> Result<()> {
        delete(ctx, state).await
    }

    async fn import(&self, ctx: &Ctx<Connections>, id: &str) -> Result<PeerModel> {
        import(ctx, id).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rules() {
        assert_eq!(duration_ms("90s"), Some(90_000.0));
        assert_eq!(duration_ms("1m30s"), Some(90_000.0));
        assert_eq!(duration_ms("1.5h"), Some(5_400_000.0));
        assert_eq!(duration_ms("500ms"), Some(500.0));
        assert_eq!(duration_ms("10"), None);
        let cfg = Value::object([
            ("my_asn", Value::from_i64(64512)),
            ("connect_time", Value::string("1500ms")),
            ("hold_time", Value::string("2s")),
        ]);
        let d = BgpPeer.validate(&cfg);
        let attrs: Vec<_> = d.0.iter().filter_map(|x| x.attribute.clone()).collect();
        for a in ["peer_asn", "peer_address", "connect_time", "hold_time"] {
            assert!(attrs.contains(&AttributePath::attr(a)), "{a}: {attrs:?}");
        }
    }

    fn peer_config(extra: &[(&str, Value)]) -> Value {
        let mut fields = vec![
            ("my_asn", Value::from_i64(64512)),
            ("peer_asn", Value::from_i64(64513)),
            ("peer_address", Value::string("10.0.0.1")),
        ];
        fields.extend(extra.iter().cloned());
        Value::object(fields)
    }

    fn errors_at(config: &Value) -> Vec<AttributePath> {
        BgpPeer
            .validate(config)
            .0
            .iter()
            .filter_map(|x| x.attribute.clone())
            .collect()
    }

    #[test]
    fn write_only_password_rules() {
        let pw = || ("password_wo", Value::string("s3cret"));
        let v1 = || ("password_wo_version", Value::from_i64(1));
        assert!(errors_at(&peer_config(&[pw(), v1()])).is_empty());
        assert_eq!(
            errors_at(&peer_config(&[pw()])),
            vec![AttributePath::attr("password_wo_version")]
        );
        assert_eq!(
            errors_at(&peer_config(&[v1()])),
            vec![AttributePath::attr("password_wo")]
        );
        assert_eq!(
            errors_at(&peer_config(&[
                pw(),
                v1(),
                ("password", Value::string("x"))
            ])),
            vec![AttributePath::attr("password_wo")]
        );
        let s = BgpPeer.schema();
        let a = &s.attributes["password_wo"];
        assert!(a.write_only && a.sensitive && a.optional);
        assert!(!s.attributes["password_wo_version"].write_only);
    }

    #[test]
    fn write_only_password_is_sent_and_never_read_back() {
        let m = PeerModel {
            name: "p".into(),
            my_asn: 64512,
            peer_asn: Some(64513),
            peer_address: Some("10.0.0.1".into()),
            password_wo: Some("s3cret".into()),
            password_wo_version: Some(1),
            ..Default::default()
        };
        let sent = spec(&m);
        assert_eq!(sent["password"], json!("s3cret"));
        let object: Object<Json> = serde_json::from_value(json!({
            "apiVersion": KIND.api_version,
            "kind": KIND.kind,
            "metadata": {"name": "p", "namespace": "metallb-system"},
            "spec": sent,
        }))
        .unwrap();
        let state = PeerModel {
            password_wo: None,
            ..m.clone()
        };
        let read = fill(state.clone(), &object, true);
        assert_eq!(read.password, None);
        assert_eq!(read.password_wo, None);
        assert_eq!(read.password_wo_version, Some(1));
        // Without the write-only pair, a password set here is read back.
        let plain = PeerModel {
            password_wo_version: None,
            password: Some("old".into()),
            ..state
        };
        assert_eq!(
            fill(plain, &object, false).password.as_deref(),
            Some("s3cret")
        );
        // An import leaves another manager's password out of state.
        let imported = fill(PeerModel::default(), &object, true);
        assert_eq!(imported.password, None);
        assert_eq!(imported.peer_address.as_deref(), Some("10.0.0.1"));
    }
}
