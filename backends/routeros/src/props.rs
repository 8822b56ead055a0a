//! The RouterOS properties the resources manage: attribute name, RouterOS
//! key, value kind, what RouterOS prints when it is unset, and how it is
//! cleared. One table per menu; the resources' schemas, validation,
//! encoding, decoding and comparison are all driven from here.
//!
//! Names, enum values and which properties can be unset (`!name`) come from
//! the `/console/inspect` dumps of RouterOS 7.22.3 (deep inspect: `add`
//! arguments and completions, and the `unset value-name` completion) and
//! 7.24 (same argument names), `tikoci/restraml`
//! (`routeros/7.22.3/deep-inspect.json` at 676c4bd). What a GET prints for unset
//! properties (absent keys; `disabled`/`log` `"false"`, `log-prefix` `""`,
//! DNS `ttl` `"1d"`) is from the REST manual and the research notes §1c.

/// How a value is written and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (comments, log prefixes): compared exactly.
    Text,
    /// A name (chain, interface, list): compared exactly.
    Name,
    /// One of these values.
    Choice(&'static [&'static str]),
    /// A protocol name or number (`!` negates).
    Protocol,
    /// An IPv4 address, prefix or range (`!` negates).
    Address,
    /// An address-list entry: address, prefix, range or DNS name.
    ListAddress,
    /// Any IP address (v4 or v6): DNS records.
    IpAddress,
    /// A port list (`!` negates).
    Ports,
    /// A yes/no flag: a boolean attribute.
    Flag,
    /// A time interval, compared by length.
    Duration,
    /// A time interval the router counts down (address-list `timeout`):
    /// anything up to the configured length matches it.
    Countdown,
    /// A comma-separated set of these values: a set attribute.
    Set(&'static [&'static str]),
    /// A whole number in `0..=max`.
    Count(u32),
}

/// How a property is cleared when configuration drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clear {
    /// `!key` (the menu's `unset` command knows it).
    Unset,
    /// Set it to the empty string (comments).
    Empty,
    /// Set it back to its default (flags, `action`, `log-prefix`, `ttl`).
    Default,
    /// It cannot be cleared: the resource is replaced.
    Replace,
}

/// One managed property.
#[derive(Debug, Clone, Copy)]
pub struct Prop {
    /// The attribute name (snake_case).
    pub attr: &'static str,
    /// The RouterOS property name.
    pub key: &'static str,
    /// How its value is written, validated and compared.
    pub kind: Kind,
    /// The attribute's description in the schema (Markdown).
    pub doc: &'static str,
    /// What RouterOS prints when it was never set: the attribute's default.
    pub default: Option<&'static str>,
    /// What an update sends when configuration drops it.
    pub clear: Clear,
    /// Whether it only changes what is logged or shown, never a verdict.
    pub cosmetic: bool,
}

const fn prop(attr: &'static str, key: &'static str, kind: Kind, doc: &'static str) -> Prop {
    Prop {
        attr,
        key,
        kind,
        doc,
        default: None,
        clear: Clear::Unset,
        cosmetic: false,
    }
}

impl Prop {
    const fn default(mut self, v: &'static str) -> Self {
        self.default = Some(v);
        self.clear = Clear::Default;
        self
    }
    const fn clear(mut self, c: Clear) -> Self {
        self.clear = c;
        self
    }
    const fn cosmetic(mut self) -> Self {
        self.cosmetic = true;
        self
    }
}

/// `action` of `/ip/firewall/filter add` (deep inspect completion).
pub const FILTER_ACTIONS: &[&str] = &[
    "accept",
    "add-dst-to-address-list",
    "add-src-to-address-list",
    "drop",
    "fasttrack-connection",
    "jump",
    "log",
    "passthrough",
    "reject",
    "return",
    "tarpit",
];

/// `action` of `/ip/firewall/nat add` (deep inspect completion).
pub const NAT_ACTIONS: &[&str] = &[
    "accept",
    "add-dst-to-address-list",
    "add-src-to-address-list",
    "dst-nat",
    "endpoint-independent-nat",
    "jump",
    "log",
    "masquerade",
    "netmap",
    "passthrough",
    "redirect",
    "return",
    "same",
    "socksify",
    "src-nat",
];

/// The actions of filter and NAT rules together (a ruleset's rules; its
/// table narrows them to [`FILTER_ACTIONS`] or [`NAT_ACTIONS`]).
pub const RULE_ACTIONS: &[&str] = &[
    "accept",
    "add-dst-to-address-list",
    "add-src-to-address-list",
    "drop",
    "dst-nat",
    "endpoint-independent-nat",
    "fasttrack-connection",
    "jump",
    "log",
    "masquerade",
    "netmap",
    "passthrough",
    "redirect",
    "reject",
    "return",
    "same",
    "socksify",
    "src-nat",
    "tarpit",
];

/// `reject-with` (deep inspect completion).
pub const REJECT_WITH: &[&str] = &[
    "icmp-admin-prohibited",
    "icmp-host-prohibited",
    "icmp-host-unreachable",
    "icmp-net-prohibited",
    "icmp-network-unreachable",
    "icmp-port-unreachable",
    "icmp-protocol-unreachable",
    "tcp-reset",
];

/// `connection-state` (deep inspect completion).
pub const CONNECTION_STATES: &[&str] = &["established", "invalid", "new", "related", "untracked"];

/// `connection-nat-state` (deep inspect completion).
pub const CONNECTION_NAT_STATES: &[&str] = &["dstnat", "ein-dnat", "ein-snat", "srcnat"];

/// DNS static `type` (deep inspect completion).
pub const DNS_TYPES: &[&str] = &[
    "A", "AAAA", "CNAME", "FWD", "MX", "NS", "NXDOMAIN", "SRV", "TXT",
];

const CHAIN: Prop = prop(
    "chain",
    "chain",
    Kind::Name,
    "The chain: `input`, `forward`, `output` (filter), `srcnat`, `dstnat` (NAT), or a chain of your own (a `jump` target).",
)
.clear(Clear::Replace);

/// Matchers shared by filter and NAT rules (all unset with `!name`).
const MATCHERS: [Prop; 13] = [
    prop(
        "protocol",
        "protocol",
        Kind::Protocol,
        "IP protocol: a name (`tcp`, `udp`, `icmp`, `gre`, ...) or number; `!` negates.",
    ),
    prop(
        "src_address",
        "src-address",
        Kind::Address,
        "Source IPv4 address, prefix (`10.0.0.0/24`) or range (`10.0.0.1-10.0.0.9`); `!` negates. A single host is printed without `/32`.",
    ),
    prop(
        "dst_address",
        "dst-address",
        Kind::Address,
        "Destination IPv4 address, prefix or range; `!` negates.",
    ),
    prop(
        "src_address_list",
        "src-address-list",
        Kind::Name,
        "Source address list name; `!` negates.",
    ),
    prop(
        "dst_address_list",
        "dst-address-list",
        Kind::Name,
        "Destination address list name; `!` negates.",
    ),
    prop(
        "src_port",
        "src-port",
        Kind::Ports,
        "Source ports: `22`, `80,443`, `8000-8100`; `!` negates. Needs `protocol` tcp, udp, udp-lite, sctp or dccp.",
    ),
    prop(
        "dst_port",
        "dst-port",
        Kind::Ports,
        "Destination ports: `22`, `80,443`, `8000-8100`; `!` negates. Needs `protocol` tcp, udp, udp-lite, sctp or dccp.",
    ),
    prop(
        "port",
        "port",
        Kind::Ports,
        "Source or destination ports. Needs `protocol` tcp, udp, udp-lite, sctp or dccp.",
    ),
    prop(
        "in_interface",
        "in-interface",
        Kind::Name,
        "Interface the packet came in on (e.g. `ether1`); `!` negates.",
    ),
    prop(
        "out_interface",
        "out-interface",
        Kind::Name,
        "Interface the packet leaves on; `!` negates.",
    ),
    prop(
        "in_interface_list",
        "in-interface-list",
        Kind::Name,
        "Interface list the packet came in on (e.g. `WAN`, `LAN`, `all`); `!` negates.",
    ),
    prop(
        "out_interface_list",
        "out-interface-list",
        Kind::Name,
        "Interface list the packet leaves on; `!` negates.",
    ),
    prop(
        "address_list",
        "address-list",
        Kind::Name,
        "The list `add-src-to-address-list` and `add-dst-to-address-list` add to.",
    )
    .clear(Clear::Replace),
];

const JUMP_TARGET: Prop = prop(
    "jump_target",
    "jump-target",
    Kind::Name,
    "The chain to jump to; required with (and only used with) `action = \"jump\"`.",
)
.clear(Clear::Replace);

const LOG: Prop = prop(
    "log",
    "log",
    Kind::Flag,
    "Log matching packets (to the system log).",
)
.default("false")
.cosmetic();

const LOG_PREFIX: Prop = prop(
    "log_prefix",
    "log-prefix",
    Kind::Text,
    "Prefix of the log lines (at most 31 characters).",
)
.default("")
.cosmetic();

const COMMENT: Prop = prop(
    "comment",
    "comment",
    Kind::Text,
    "Comment shown with the rule.",
)
.clear(Clear::Empty)
.cosmetic();

const DISABLED: Prop = prop(
    "disabled",
    "disabled",
    Kind::Flag,
    "Keep the rule but do not use it.",
)
.default("false");

/// `/ip/firewall/filter` rules.
pub const FILTER: &[Prop] = &[
    CHAIN,
    prop(
        "action",
        "action",
        Kind::Choice(FILTER_ACTIONS),
        "What to do with a matching packet.",
    )
    .default("accept"),
    MATCHERS[0],
    MATCHERS[1],
    MATCHERS[2],
    MATCHERS[3],
    MATCHERS[4],
    MATCHERS[5],
    MATCHERS[6],
    MATCHERS[7],
    MATCHERS[8],
    MATCHERS[9],
    MATCHERS[10],
    MATCHERS[11],
    prop(
        "connection_state",
        "connection-state",
        Kind::Set(CONNECTION_STATES),
        "Connection tracking states to match: `established`, `related`, `new`, `invalid`, `untracked`. A `!` before one of them negates the whole set (RouterOS's `!established,related`: neither).",
    ),
    prop(
        "connection_nat_state",
        "connection-nat-state",
        Kind::Set(CONNECTION_NAT_STATES),
        "Match connections NAT changed: `srcnat`, `dstnat`; `[\"!dstnat\"]` matches those it did not (a `!` negates the whole set).",
    ),
    MATCHERS[12],
    JUMP_TARGET,
    prop(
        "reject_with",
        "reject-with",
        Kind::Choice(REJECT_WITH),
        "How `action = \"reject\"` answers (e.g. `icmp-port-unreachable`, `tcp-reset`).",
    )
    .clear(Clear::Replace),
    LOG,
    LOG_PREFIX,
    COMMENT,
    DISABLED,
];

/// `/ip/firewall/nat` rules.
pub const NAT: &[Prop] = &[
    CHAIN,
    prop(
        "action",
        "action",
        Kind::Choice(NAT_ACTIONS),
        "What to do with a matching packet (`masquerade`, `dst-nat`, `src-nat`, ...).",
    )
    .default("accept"),
    MATCHERS[0],
    MATCHERS[1],
    MATCHERS[2],
    MATCHERS[3],
    MATCHERS[4],
    MATCHERS[5],
    MATCHERS[6],
    MATCHERS[7],
    MATCHERS[8],
    MATCHERS[9],
    MATCHERS[10],
    MATCHERS[11],
    MATCHERS[12],
    prop(
        "to_addresses",
        "to-addresses",
        Kind::Address,
        "Address (or range) `dst-nat`, `src-nat` and `netmap` translate to.",
    ),
    prop(
        "to_ports",
        "to-ports",
        Kind::Ports,
        "Port (or range) `dst-nat`, `src-nat`, `masquerade` and `redirect` translate to.",
    ),
    JUMP_TARGET,
    LOG,
    LOG_PREFIX,
    COMMENT,
    DISABLED,
];

/// `/ip/firewall/address-list` entries.
pub const ADDRESS_LIST: &[Prop] = &[
    prop(
        "list",
        "list",
        Kind::Name,
        "The list's name (lists exist as long as they have entries).",
    )
    .clear(Clear::Replace),
    prop(
        "address",
        "address",
        Kind::ListAddress,
        "IPv4 address, prefix, range (RouterOS prints a range that is a prefix as the prefix) or DNS name (RouterOS resolves it).",
    )
    .clear(Clear::Replace),
    prop(
        "timeout",
        "timeout",
        Kind::Countdown,
        "Remove the entry after this long (e.g. `1h`, `1d`). RouterOS counts it down and then deletes the entry, \
         which the next plan shows as gone (and creates again). Without it the entry is permanent.",
    )
    .clear(Clear::Replace),
    COMMENT,
    prop(
        "disabled",
        "disabled",
        Kind::Flag,
        "Keep the entry but do not use it.",
    )
    .default("false"),
];

/// `/ip/dns/static` records.
pub const DNS_STATIC: &[Prop] = &[
    prop(
        "name",
        "name",
        Kind::Name,
        "The name the record answers for. Give `name` or `regexp`.",
    )
    .clear(Clear::Replace),
    prop(
        "regexp",
        "regexp",
        Kind::Text,
        "A regular expression of names to answer for, instead of `name`.",
    )
    .clear(Clear::Replace),
    prop(
        "type",
        "type",
        Kind::Choice(DNS_TYPES),
        "Record type. RouterOS does not print it for `A` records.",
    )
    .default("A"),
    prop(
        "address",
        "address",
        Kind::IpAddress,
        "The address of an `A` (IPv4) or `AAAA` (IPv6) record.",
    )
    .clear(Clear::Replace),
    prop(
        "cname",
        "cname",
        Kind::Name,
        "The target of a `CNAME` record.",
    )
    .clear(Clear::Replace),
    prop(
        "forward_to",
        "forward-to",
        Kind::Name,
        "The server a `FWD` record forwards to.",
    )
    .clear(Clear::Replace),
    prop(
        "mx_exchange",
        "mx-exchange",
        Kind::Name,
        "The mail exchanger of an `MX` record.",
    )
    .clear(Clear::Replace),
    prop(
        "mx_preference",
        "mx-preference",
        Kind::Count(65_535),
        "The preference of an `MX` record.",
    )
    .clear(Clear::Replace),
    prop("ns", "ns", Kind::Name, "The name server of an `NS` record.").clear(Clear::Replace),
    prop(
        "srv_target",
        "srv-target",
        Kind::Name,
        "The target of an `SRV` record.",
    )
    .clear(Clear::Replace),
    prop(
        "srv_port",
        "srv-port",
        Kind::Count(65_535),
        "The port of an `SRV` record.",
    )
    .clear(Clear::Replace),
    prop(
        "srv_priority",
        "srv-priority",
        Kind::Count(65_535),
        "The priority of an `SRV` record.",
    )
    .clear(Clear::Replace),
    prop(
        "srv_weight",
        "srv-weight",
        Kind::Count(65_535),
        "The weight of an `SRV` record.",
    )
    .clear(Clear::Replace),
    prop("text", "text", Kind::Text, "The text of a `TXT` record.").clear(Clear::Replace),
    prop(
        "ttl",
        "ttl",
        Kind::Duration,
        "Time to live, e.g. `5m`, `1h`, `1d` (`24h` and `1d` are the same).",
    )
    .default("1d"),
    prop(
        "match_subdomain",
        "match-subdomain",
        Kind::Flag,
        "Also answer for every name below `name`.",
    )
    .default("false"),
    prop(
        "address_list",
        "address-list",
        Kind::Name,
        "Add the answered addresses to this address list.",
    )
    .clear(Clear::Replace),
    COMMENT,
    prop(
        "disabled",
        "disabled",
        Kind::Flag,
        "Keep the record but do not answer with it.",
    )
    .default("false"),
];

/// Properties the REST API prints that are state, not configuration.
pub const READ_ONLY: &[&str] = &[
    "dynamic",
    "invalid",
    "bytes",
    "packets",
    "creation-time",
    "builtin",
    "default",
];

/// The keys of an item (as the router printed them) that neither `props`
/// nor [`READ_ONLY`] know: configuration the resource does not manage
/// (`tcp-flags`, `limit`, ...), which stays on the router but is not in
/// the resource's state, so an imported or generated configuration lacks it.
pub fn unmanaged<'a>(props: &[Prop], keys: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    keys.into_iter()
        .filter(|k| !READ_ONLY.contains(&k.as_str()) && !props.iter().any(|p| p.key == *k))
        .cloned()
        .collect()
}

/// The property of `props` with attribute name `attr`.
pub fn find(props: &'static [Prop], attr: &str) -> Option<&'static Prop> {
    props.iter().find(|p| p.attr == attr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_actions_are_the_union() {
        let mut all: Vec<&str> = FILTER_ACTIONS.iter().chain(NAT_ACTIONS).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all, RULE_ACTIONS);
    }

    #[test]
    fn unmanaged_keys_are_neither_managed_nor_state() {
        let keys: Vec<String> = [
            "chain",
            "action",
            "tcp-flags",
            "bytes",
            "dynamic",
            "limit",
            "comment",
        ]
        .iter()
        .map(|k| (*k).to_string())
        .collect();
        assert_eq!(unmanaged(FILTER, &keys), ["tcp-flags", "limit"]);
        // NAT's own properties are not the filter table's.
        let nat: Vec<String> = vec!["to-addresses".into(), "to-ports".into()];
        assert_eq!(unmanaged(NAT, &nat), Vec::<String>::new());
        assert_eq!(unmanaged(FILTER, &nat), ["to-addresses", "to-ports"]);
    }

    #[test]
    fn attribute_names_follow_the_keys() {
        for table in [FILTER, NAT, ADDRESS_LIST, DNS_STATIC] {
            for p in table {
                assert_eq!(p.attr.replace('_', "-"), p.key, "{}", p.attr);
                if p.default.is_some() {
                    assert_eq!(p.clear, Clear::Default, "{}", p.attr);
                }
            }
        }
    }
}
