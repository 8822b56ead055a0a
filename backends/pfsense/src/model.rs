//! What pfSense's firewall objects are, and what pfSense-pkg-RESTAPI accepts
//! in them (pure: no I/O).
//!
//! Field names, choices and defaults follow the package's native schema
//! (`FirewallRule`, `FirewallAlias`, v2.10; as embedded in pfrest/ansible-collection-pfsense
//! `plugins/module_utils/embedded_schema.py`).
//! The value checks mirror the package's field validators so that a plan
//! never sends what pfSense would refuse, or silently drop:
//! `Fields/FilterAddressField.inc` (rule addresses), `Fields/PortField.inc`
//! (ports: a number, `start:end`, or a port alias), `Models/FirewallAlias.inc`
//! (alias entries), `Validators/FilterNameValidator.inc` and pfSense's
//! `firewall_aliases_edit.php` (alias names and the reserved keywords).

use std::net::{Ipv4Addr, Ipv6Addr};

/// `type`: what a rule does with the traffic it matches.
pub const ACTIONS: &[&str] = &["pass", "block", "reject"];
/// `ipprotocol`.
pub const IP_PROTOCOLS: &[&str] = &["inet", "inet6", "inet46"];
/// `protocol` (null: any).
pub const PROTOCOLS: &[&str] = &[
    "tcp", "udp", "tcp/udp", "icmp", "esp", "ah", "gre", "ipv6", "igmp", "pim", "ospf", "carp",
    "pfsync",
];
/// Protocols with ports: `source_port` and `destination_port` are kept only
/// with these (the fields' `conditions`; any other protocol drops them).
pub const PORT_PROTOCOLS: &[&str] = &["tcp", "udp", "tcp/udp"];
/// `icmptype` (kept only with `protocol = "icmp"`).
pub const ICMP_TYPES: &[&str] = &[
    "any",
    "althost",
    "dataconv",
    "echorep",
    "echoreq",
    "inforep",
    "inforeq",
    "ipv6-here",
    "ipv6-where",
    "maskrep",
    "maskreq",
    "mobredir",
    "mobregrep",
    "mobregreq",
    "paramprob",
    "photuris",
    "redir",
    "routeradv",
    "routersol",
    "skip",
    "squench",
    "timerep",
    "timereq",
    "timex",
    "trace",
    "unreach",
];
/// `statetype`.
pub const STATE_TYPES: &[&str] = &["keep state", "sloppy state", "synproxy state", "none"];
/// `FirewallAlias.type` in v2.10: there are no URL or URL table aliases in
/// the REST API (pfSense's GUI has them; the package refuses them with
/// `FIELD_INVALID_CHOICE`).
pub const ALIAS_TYPES: &[&str] = &["host", "network", "port"];
/// Names pfSense reserves for the filter (`firewall_aliases_edit.php`,
/// `$reserved_keywords`; the package checks `get_pf_reserved()`).
pub const RESERVED_NAMES: &[&str] = &[
    "all", "pass", "block", "out", "queue", "max", "min", "pptp", "pppoe", "L2TP", "OpenVPN",
    "IPsec",
];
/// `FirewallRule` fields the rule resources manage (their attributes).
pub const MANAGED_RULE_FIELDS: &[&str] = &[
    "type",
    "interface",
    "ipprotocol",
    "protocol",
    "icmptype",
    "source",
    "source_port",
    "destination",
    "destination_port",
    "descr",
    "disabled",
    "log",
    "statetype",
    "gateway",
    "sched",
];
/// `FirewallRule` fields that are not settings: the position (`id`) and
/// what pfSense keeps itself (the schema's `read_only` fields).
pub const STATE_RULE_FIELDS: &[&str] = &[
    "id",
    "tracker",
    "associated_rule_id",
    "created_time",
    "created_by",
    "updated_time",
    "updated_by",
];
/// `FirewallRule` fields of floating rules only (`quick` and `direction`
/// have the condition `floating = true`), which the rule resources neither
/// adopt nor make.
pub const FLOATING_RULE_FIELDS: &[&str] = &["floating", "quick", "direction"];
/// `FirewallRule` settings the rule resources do not manage (the native
/// schema's other fields): DSCP matching, tags, TCP flags, traffic shaper
/// limiters and queues. A rule with any of them set keeps it on pfSense
/// (updates send only the managed fields, and PATCH merges), but neither
/// the state nor a generated configuration holds it, and a rule made again
/// lacks it.
pub const UNMANAGED_RULE_FIELDS: &[&str] = &[
    "dscp",
    "tag",
    "tcp_flags_any",
    "tcp_flags_out_of",
    "tcp_flags_set",
    "dnpipe",
    "pdnpipe",
    "defaultqueue",
    "ackqueue",
];
/// StringFields without a `maximum_length` allow 1024 characters.
pub const MAX_TEXT: usize = 1024;
/// `FirewallAlias.name` `maximum_length`.
pub const MAX_ALIAS_NAME: usize = 31;

/// One firewall rule's settings, as the REST API represents them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// `type`: pass, block or reject.
    pub action: String,
    /// The interface, as the API represents interfaces (see
    /// [`InterfaceMode`]).
    pub interface: String,
    /// IP version: `inet` (IPv4), `inet6` (IPv6) or `inet46` (both).
    pub ipprotocol: String,
    /// `None`: any protocol.
    pub protocol: Option<String>,
    /// Only with `icmp`; pfSense's default is `["any"]`.
    pub icmptype: Option<Vec<String>>,
    /// An address, subnet, alias, interface (`LAN`, `LAN:ip`), `any`,
    /// `(self)`, `l2tp` or `pppoe`; a leading `!` inverts.
    pub source: String,
    /// A port, `start:end` or a port alias; only with a port protocol
    /// ([`PORT_PROTOCOLS`]). `None`: any port.
    pub source_port: Option<String>,
    /// As [`RuleSpec::source`].
    pub destination: String,
    /// As [`RuleSpec::source_port`].
    pub destination_port: Option<String>,
    /// `descr`.
    pub descr: String,
    /// The rule is kept but not used.
    pub disabled: bool,
    /// Log the packets the rule matches.
    pub log: bool,
    /// State tracking, one of [`STATE_TYPES`].
    pub statetype: String,
    /// A gateway or gateway group for policy routing; `None` (or empty on
    /// the wire): the default route.
    pub gateway: Option<String>,
    /// A firewall schedule's name; `None` (or empty on the wire): always.
    pub sched: Option<String>,
}

impl RuleSpec {
    /// The spec with pfSense's own defaults filled in and what pfSense would
    /// drop dropped, for comparisons: icmp without types is `["any"]`, ports
    /// without a port protocol and types without icmp are gone.
    pub fn normalized(&self) -> RuleSpec {
        let mut r = self.clone();
        let proto = r.protocol.as_deref();
        if !proto.is_some_and(|p| PORT_PROTOCOLS.contains(&p)) {
            r.source_port = None;
            r.destination_port = None;
        }
        if proto == Some("icmp") {
            if r.icmptype.as_ref().is_none_or(Vec::is_empty) {
                r.icmptype = Some(vec!["any".into()]);
            }
        } else {
            r.icmptype = None;
        }
        r
    }

    /// Whether `self` and `other` differ only in what decides no packet
    /// (the description and logging).
    pub fn same_verdicts(&self, other: &RuleSpec) -> bool {
        let (mut a, mut b) = (self.normalized(), other.normalized());
        a.descr.clear();
        b.descr.clear();
        a.log = false;
        b.log = false;
        a == b
    }
}

/// A rule as listed: its position, identity and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The position in pfSense's whole rule list (`filter/rule`), all
    /// interfaces: it changes whenever a rule before it is added, moved or
    /// deleted.
    pub id: usize,
    /// `tracker`: the rule's identity, the Unix time of its creation (two
    /// rules made in the same second share one).
    pub tracker: Option<i64>,
    /// A floating rule (Firewall > Rules > Floating); the rule resources
    /// neither adopt nor count them as their interface's rules.
    pub floating: bool,
    /// Every interface of the rule (more than one only for floating rules).
    pub interfaces: Vec<String>,
    /// `associated_rule_id`: a rule pfSense made for a NAT port forward.
    pub associated: bool,
    /// The settings; `spec.interface` is the first of `interfaces`.
    pub spec: RuleSpec,
    /// The whole object as answered, without `id`: what tells a rule from
    /// any other, including fields labforge does not manage.
    pub fingerprint: String,
    /// The settings of the answer that labforge does not manage (see
    /// [`UNMANAGED_RULE_FIELDS`]; any field of a newer package counts too)
    /// and that are set (not null, empty or `false`), sorted.
    pub unmanaged: Vec<String>,
}

/// One alias's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSpec {
    /// The name rules refer to it by (letters, digits, `_`; at most
    /// [`MAX_ALIAS_NAME`] characters).
    pub name: String,
    /// host, network or port.
    pub kind: String,
    /// `descr`: the alias's description (empty when none).
    pub descr: String,
    /// The entries: addresses, subnets, host names, ports or port ranges,
    /// or other aliases' names, as `kind` allows.
    pub address: Vec<String>,
    /// One description per address.
    pub detail: Vec<String>,
}

/// An alias as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// Position in `aliases/alias` (changes when an alias before it goes).
    pub id: usize,
    /// The settings.
    pub spec: AliasSpec,
}

/// A network interface (`GET /api/v2/interfaces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// pfSense's internal name: `wan`, `lan`, `opt1`.
    pub id: String,
    /// The device: `igb0`, `vtnet1`.
    pub device: String,
    /// The description: `WAN`, `LAN` (the upper-cased id when empty).
    pub descr: String,
}

/// How the API names interfaces: the package's `represent_interfaces_as`
/// setting (`Fields/InterfaceField.inc`; default `descr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceMode {
    /// By description: `LAN` (the default).
    Descr,
    /// By internal name: `lan`.
    Id,
    /// By device: `igb1`.
    If,
}

impl InterfaceMode {
    /// The mode a `represent_interfaces_as` value names; `None` for any
    /// other value.
    pub fn parse(s: &str) -> Option<InterfaceMode> {
        match s {
            "descr" => Some(InterfaceMode::Descr),
            "id" => Some(InterfaceMode::Id),
            "if" => Some(InterfaceMode::If),
            _ => None,
        }
    }

    /// The mode's `represent_interfaces_as` value: `descr`, `id` or `if`.
    pub fn name(self) -> &'static str {
        match self {
            InterfaceMode::Descr => "descr",
            InterfaceMode::Id => "id",
            InterfaceMode::If => "if",
        }
    }

    /// The interface's name in this mode.
    pub fn name_of(self, i: &Interface) -> &str {
        match self {
            InterfaceMode::Descr => &i.descr,
            InterfaceMode::Id => &i.id,
            InterfaceMode::If => &i.device,
        }
    }
}

/// What an interface name means on a box: fine, another mode's spelling of
/// an interface (with the right one), or unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceCheck {
    /// The name is how the API names an interface of this box.
    Ok,
    /// The name is an interface's name in another mode.
    WrongSpelling {
        /// The same interface as the API names it.
        right: String,
    },
    /// No interface of this box has this name in any mode.
    Unknown,
}

/// Check `name` (an interface, `:ip` already taken off) against the box's
/// interfaces. With `mode` unknown (the settings were not readable) any
/// spelling of an existing interface is accepted.
pub fn check_interface(
    name: &str,
    interfaces: &[Interface],
    mode: Option<InterfaceMode>,
) -> InterfaceCheck {
    let modes = [InterfaceMode::Descr, InterfaceMode::Id, InterfaceMode::If];
    let Some(mode) = mode else {
        let known = interfaces
            .iter()
            .any(|i| modes.iter().any(|m| m.name_of(i) == name));
        return if known {
            InterfaceCheck::Ok
        } else {
            InterfaceCheck::Unknown
        };
    };
    if interfaces.iter().any(|i| mode.name_of(i) == name) {
        return InterfaceCheck::Ok;
    }
    match interfaces
        .iter()
        .find(|i| modes.iter().any(|m| m.name_of(i) == name))
    {
        Some(i) => InterfaceCheck::WrongSpelling {
            right: mode.name_of(i).to_string(),
        },
        None => InterfaceCheck::Unknown,
    }
}

/// An IPv4 or IPv6 address (`is_ipaddr`).
pub fn is_ip(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok() || s.parse::<Ipv6Addr>().is_ok()
}

/// A subnet as pfSense's `is_subnet` takes it: an address and a prefix of 1
/// to 32 (IPv4) or 1 to 128 (IPv6); host bits may be set.
pub fn is_subnet(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
        return false;
    }
    let Ok(len) = len.parse::<u32>() else {
        return false;
    };
    if addr.parse::<Ipv4Addr>().is_ok() {
        (1..=32).contains(&len)
    } else if addr.parse::<Ipv6Addr>().is_ok() {
        (1..=128).contains(&len)
    } else {
        false
    }
}

/// A host name as pfSense's `is_fqdn` takes it: dot-separated labels of
/// letters, digits, `_` and inner `-` (one label is enough).
pub fn is_fqdn(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            let edge = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
            !b.is_empty()
                && edge(b[0])
                && edge(b[b.len() - 1])
                && b.iter().all(|&c| edge(c) || c == b'-')
        })
}

/// A name that can be an alias, an interface description or id
/// (`FilterNameValidator` / `is_validaliasname`: letters, digits, `_`).
pub fn is_filter_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why `name` cannot be an alias name, if it cannot.
pub fn alias_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("an alias name cannot be empty".into());
    }
    if name.len() > MAX_ALIAS_NAME {
        return Some(format!(
            "{name:?} is {} characters long; pfSense allows {MAX_ALIAS_NAME}",
            name.len()
        ));
    }
    if !is_filter_name(name) {
        return Some(format!(
            "{name:?}: alias names are letters, digits and `_` only"
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("{name:?}: an alias name cannot be all digits"));
    }
    if name.starts_with("pkg_") {
        return Some(format!(
            "{name:?}: names starting with `pkg_` are reserved for packages"
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Some(format!(
            "{name:?} is a name pfSense reserves for the filter"
        ));
    }
    None
}

/// Why `v` cannot be a rule's `source` or `destination`, if it cannot. Names
/// (aliases, interfaces) are only checked for their spelling here; which
/// ones exist is checked against the box at plan.
pub fn address_problem(v: &str) -> Option<String> {
    let body = v.strip_prefix('!').unwrap_or(v);
    if body == "any" && v.starts_with('!') {
        return Some(
            "`!any` matches nothing; pfSense refuses it (FILTER_RULE_ADDRESS_FIELD_WITH_INVERT_ANY)"
                .into(),
        );
    }
    if body.is_empty() {
        return Some("an address cannot be empty (use \"any\")".into());
    }
    if is_ip(body) || is_subnet(body) || ["any", "(self)", "l2tp", "pppoe"].contains(&body) {
        return None;
    }
    if body.contains('/') {
        return Some(format!(
            "{v:?} is not a subnet pfSense accepts (an address and a prefix of 1-32 for IPv4, 1-128 for IPv6)"
        ));
    }
    let name = body.strip_suffix(":ip").unwrap_or(body);
    if is_filter_name(name) && !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "{v:?} is not an IP address, a subnet (CIDR), an alias, an interface (optionally with `:ip`), \
         `any`, `(self)`, `l2tp` or `pppoe`"
    ))
}

/// The interface an address names (`LAN` for `LAN`, `!LAN:ip`), when it is
/// not an IP, subnet or keyword: it is then an interface or an alias.
pub fn address_name(v: &str) -> Option<&str> {
    let body = v.strip_prefix('!').unwrap_or(v);
    if is_ip(body) || is_subnet(body) || ["any", "(self)", "l2tp", "pppoe"].contains(&body) {
        return None;
    }
    Some(body.strip_suffix(":ip").unwrap_or(body))
}

fn port_number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|p| (1..=65_535).contains(p))
}

/// Why `v` cannot be a rule port or a port alias entry, if it cannot: a
/// port (1-65535), a range `start:end`, or the name of a port alias.
pub fn port_problem(v: &str) -> Option<String> {
    if port_number(v).is_some() {
        return None;
    }
    if let Some((a, b)) = v.split_once(':') {
        return match (port_number(a), port_number(b)) {
            (Some(_), Some(_)) => None,
            _ => Some(format!(
                "{v:?} is not a port range: pfSense takes `start:end`, both 1-65535"
            )),
        };
    }
    if let Some((a, b)) = v.split_once('-')
        && port_number(a).is_some()
        && port_number(b).is_some()
    {
        return Some(format!(
            "{v:?}: pfSense separates port ranges with `:`, as in \"{a}:{b}\""
        ));
    }
    if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() {
        return Some(format!("{v:?} is not a port (1-65535)"));
    }
    if is_filter_name(v) {
        return None;
    }
    Some(format!(
        "{v:?} is not a port (1-65535), a range `start:end`, or a port alias"
    ))
}

/// Why `v` cannot be an entry of an alias of type `kind`, if it cannot
/// (`FirewallAlias::validate_address`: host: an IP, a host name or an alias;
/// network: a subnet, a host name or an alias; port: a port, a range or a
/// port alias).
pub fn alias_entry_problem(kind: &str, v: &str) -> Option<String> {
    if v.contains(char::is_whitespace) {
        return Some(format!(
            "{v:?}: alias entries cannot contain spaces (pfSense stores them space-separated)"
        ));
    }
    match kind {
        "host" if is_ip(v) || is_fqdn(v) => None,
        "host" => Some(format!(
            "{v:?} is not an IP address, a host name or an alias (a host alias takes no subnets: use type \"network\")"
        )),
        "network" if is_subnet(v) || is_fqdn(v) => None,
        "network" => Some(format!(
            "{v:?} is not a subnet (CIDR with a prefix of 1-32, or 1-128 for IPv6), a host name or an alias"
        )),
        "port" => port_problem(v),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec() -> RuleSpec {
        RuleSpec {
            action: "pass".into(),
            interface: "LAN".into(),
            ipprotocol: "inet".into(),
            protocol: Some("tcp".into()),
            icmptype: None,
            source: "any".into(),
            source_port: None,
            destination: "any".into(),
            destination_port: Some("22".into()),
            descr: "ssh".into(),
            disabled: false,
            log: false,
            statetype: "keep state".into(),
            gateway: None,
            sched: None,
        }
    }

    #[test]
    fn normalization_follows_the_field_conditions() {
        let mut s = spec();
        s.protocol = Some("icmp".into());
        let n = s.normalized();
        assert_eq!(n.destination_port, None);
        assert_eq!(n.icmptype, Some(vec!["any".to_string()]));
        let mut t = spec();
        t.icmptype = Some(vec!["echoreq".into()]);
        assert_eq!(t.normalized().icmptype, None);
        let mut u = spec();
        u.descr = "other".into();
        u.log = true;
        assert!(u.same_verdicts(&spec()));
        u.destination_port = Some("23".into());
        assert!(!u.same_verdicts(&spec()));
    }

    #[test]
    fn addresses() {
        for ok in [
            "any",
            "10.0.0.0/24",
            "10.0.0.5/24",
            "!192.168.1.1",
            "2001:db8::/32",
            "(self)",
            "LAN",
            "LAN:ip",
            "!OPT1:ip",
            "web_servers",
        ] {
            assert_eq!(address_problem(ok), None, "{ok}");
        }
        for bad in [
            "!any",
            "10.0.0.0/33",
            "10.0.0.0/0",
            "",
            "10.0.0.1-10.0.0.9",
            "my host",
            "123",
        ] {
            assert!(address_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(address_name("!LAN:ip"), Some("LAN"));
        assert_eq!(address_name("10.0.0.1"), None);
    }

    #[test]
    fn ports() {
        for ok in ["22", "1:1024", "65535", "web_ports"] {
            assert_eq!(port_problem(ok), None, "{ok}");
        }
        assert!(port_problem("8000-9000").unwrap().contains("8000:9000"));
        for bad in ["0", "65536", "1:70000", "a b", ""] {
            assert!(port_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn alias_names_and_entries() {
        assert_eq!(alias_name_problem("web_servers"), None);
        for bad in [
            "",
            "123",
            "pkg_x",
            "queue",
            "with-dash",
            "a_name_that_is_much_longer_than_31",
        ] {
            assert!(alias_name_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(alias_entry_problem("host", "10.0.0.1"), None);
        assert_eq!(alias_entry_problem("host", "nas.home.arpa"), None);
        assert!(alias_entry_problem("host", "10.0.0.0/24").is_some());
        assert_eq!(alias_entry_problem("network", "10.0.0.0/24"), None);
        assert!(alias_entry_problem("network", "10.0.0.0/40").is_some());
        assert_eq!(alias_entry_problem("port", "8000:8080"), None);
        assert!(alias_entry_problem("port", "8000-8080").is_some());
        assert!(alias_entry_problem("host", "a b").is_some());
    }

    /// The choice lists are the package's native schema's (the vendor's
    /// data file the simulator embeds; no code is shared).
    #[test]
    fn choices_are_the_native_schema_s() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../simulators/src/pfsense/schema.json"))
                .unwrap();
        let choices = |model: &str, field: &str| -> Vec<String> {
            schema["models"][model]["fields"][field]["choices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect()
        };
        for (field, ours) in [
            ("type", ACTIONS),
            ("ipprotocol", IP_PROTOCOLS),
            ("protocol", PROTOCOLS),
            ("icmptype", ICMP_TYPES),
            ("statetype", STATE_TYPES),
        ] {
            assert_eq!(choices("FirewallRule", field), ours, "{field}");
        }
        assert_eq!(choices("FirewallAlias", "type"), ALIAS_TYPES);
        // Every field of a rule is managed, state, floating or named as
        // unmanaged; the unmanaged ones are unset by default.
        let fields = schema["models"]["FirewallRule"]["fields"]
            .as_object()
            .unwrap();
        let mut ours: Vec<&str> = [
            MANAGED_RULE_FIELDS,
            &STATE_RULE_FIELDS[1..],
            FLOATING_RULE_FIELDS,
            UNMANAGED_RULE_FIELDS,
        ]
        .concat();
        ours.sort_unstable();
        let mut theirs: Vec<&str> = fields.keys().map(String::as_str).collect();
        theirs.sort_unstable();
        assert_eq!(ours, theirs);
        for f in &STATE_RULE_FIELDS[1..] {
            assert_eq!(fields[*f]["read_only"], serde_json::json!(true), "{f}");
        }
        for f in UNMANAGED_RULE_FIELDS {
            assert_eq!(fields[*f]["read_only"], serde_json::json!(false), "{f}");
            let d = &fields[*f]["default"];
            assert!(
                d.is_null() || *d == serde_json::json!("") || *d == serde_json::json!(false),
                "{f}: {d}"
            );
        }
        let cond = &schema["models"]["FirewallRule"]["fields"]["destination_port"]["conditions"];
        assert_eq!(cond["protocol"], serde_json::json!(PORT_PROTOCOLS));
        assert_eq!(
            schema["models"]["FirewallAlias"]["fields"]["name"]["maximum_length"],
            serde_json::json!(MAX_ALIAS_NAME)
        );
    }

    #[test]
    fn interface_spellings() {
        let ifs = [
            Interface {
                id: "wan".into(),
                device: "vtnet0".into(),
                descr: "WAN".into(),
            },
            Interface {
                id: "lan".into(),
                device: "vtnet1".into(),
                descr: "LAN".into(),
            },
        ];
        let d = Some(InterfaceMode::Descr);
        assert_eq!(check_interface("LAN", &ifs, d), InterfaceCheck::Ok);
        assert_eq!(
            check_interface("lan", &ifs, d),
            InterfaceCheck::WrongSpelling {
                right: "LAN".into()
            }
        );
        assert_eq!(check_interface("dmz", &ifs, d), InterfaceCheck::Unknown);
        assert_eq!(check_interface("vtnet1", &ifs, None), InterfaceCheck::Ok);
        assert_eq!(
            check_interface("LAN", &ifs, Some(InterfaceMode::If)),
            InterfaceCheck::WrongSpelling {
                right: "vtnet1".into()
            }
        );
    }
}
