//! Bad input (issue 16): for every resource and data source of every
//! backend, invalid values of each attribute kind (addresses, CIDRs,
//! ranges, ports, durations, enums, names, sizes, references to things that
//! do not exist, empty strings, wrong case), each refused at `validate` (or,
//! for what only the backend knows, at `plan`) with a diagnostic pointing at
//! the attribute, naming it and saying what is allowed; no panic in the
//! provider's log; no request at validate, only the listed reads at plan
//! (homelab-sim's counters). One configuration per backend and stage, one
//! block per case (`support::bad_input`).
//!
//! `cargo test -p labforge-acceptance-tests --test acceptance bad_input::`

use crate::support::bad_input::{Case, case, run};

const TZ: &str = "homelab_technitium_zone";
const TR: &str = "homelab_technitium_dns_record";
const ZONE_BASE: &str = r#"name = "bad.example""#;
const REC_BASE: &str = r#"
zone  = "bad.example"
name  = "www"
type  = "A"
value = "192.0.2.1"
"#;

fn technitium() -> Vec<Case> {
    vec![
        case(
            TZ,
            ZONE_BASE,
            "name",
            r#"name = "bad..example""#,
            "name",
            "DNS name|label",
        ),
        case(
            TZ,
            ZONE_BASE,
            "empty",
            r#"name = """#,
            "name",
            "DNS name|empty",
        ),
        case(
            TZ,
            ZONE_BASE,
            "empty",
            "type = \"Stub\"\n  primary_name_server_addresses = [\"\"]",
            "primary_name_server_addresses",
            "one name server",
        ),
        case(
            TZ,
            ZONE_BASE,
            "enum",
            r#"type = "Master""#,
            "type",
            "one of",
        ),
        case(
            TZ,
            ZONE_BASE,
            "wrong case",
            r#"type = "primary""#,
            "type",
            "one of",
        ),
        case(
            TZ,
            ZONE_BASE,
            "address",
            "type = \"Secondary\"\n  primary_name_server_addresses = [\"10.0.0.1,10.0.0.2\"]",
            "primary_name_server_addresses",
            "one name server",
        ),
        case(TR, REC_BASE, "enum", r#"type = "SPF""#, "type", "one of"),
        case(
            TR,
            REC_BASE,
            "wrong case",
            r#"type = "a""#,
            "type",
            "one of",
        ),
        case(
            TR,
            REC_BASE,
            "name",
            r#"name = "bad name!""#,
            "name",
            "DNS name",
        ),
        case(
            TR,
            REC_BASE,
            "name",
            r#"zone = "-bad-.example""#,
            "zone",
            "DNS name|label",
        ),
        case(
            TR,
            REC_BASE,
            "empty",
            r#"zone = """#,
            "zone",
            "DNS name|empty",
        ),
        case(
            TR,
            REC_BASE,
            "size",
            "ttl = -1",
            "ttl",
            "between 0 and 2147483647",
        ),
        case(
            TR,
            REC_BASE,
            "size",
            "ttl = 2147483648",
            "ttl",
            "between 0 and 2147483647",
        ),
        case(
            TR,
            REC_BASE,
            "size",
            "ttl = 1.5",
            "ttl",
            "whole number|between",
        ),
        case(
            TR,
            REC_BASE,
            "port",
            "port = 65536",
            "port",
            "between 0 and 65535",
        ),
        case(
            TR,
            REC_BASE,
            "size",
            "priority = -1",
            "priority",
            "between 0 and 65535",
        ),
        case(
            TR,
            REC_BASE,
            "size",
            "weight = 70000",
            "weight",
            "between 0 and 65535",
        ),
        case(
            TR,
            REC_BASE,
            "size",
            "flags = 256",
            "flags",
            "between 0 and 255",
        ),
        case(
            TR,
            REC_BASE,
            "address",
            r#"value = "300.1.2.3""#,
            "value",
            "IPv4",
        ),
        case(
            TR,
            REC_BASE,
            "address",
            r#"value = "fd00::1""#,
            "value",
            "IPv4",
        ),
        Case::data(case(
            "homelab_technitium_zone_records",
            "",
            "name",
            r#"zone = "bad..zone""#,
            "zone",
            "DNS name|label",
        )),
    ]
}

const CF: &str = "homelab_cloudflare_dns_record";
const CF_BASE: &str = r#"
zone_id = "023e105f4ecef8ad9ca31a8372d0c353"
name    = "www"
type    = "A"
content = "192.0.2.1"
"#;
const CF_ZONE: &str = "homelab_cloudflare_zone";

fn cloudflare() -> Vec<Case> {
    vec![
        case(
            CF,
            CF_BASE,
            "id",
            r#"zone_id = "example.com""#,
            "zone_id",
            "32 hexadecimal",
        ),
        case(
            CF,
            CF_BASE,
            "empty",
            r#"zone_id = """#,
            "zone_id",
            "32 hexadecimal",
        ),
        case(CF, CF_BASE, "enum", r#"type = "SPF""#, "type", "one of"),
        case(
            CF,
            CF_BASE,
            "wrong case",
            r#"type = "aaaa""#,
            "type",
            "one of",
        ),
        case(
            CF,
            CF_BASE,
            "name",
            r#"name = "www..example""#,
            "name",
            "DNS name|label",
        ),
        case(CF, CF_BASE, "duration", "ttl = 30", "ttl", "60 and 86400"),
        case(
            CF,
            CF_BASE,
            "duration",
            "ttl = 86401",
            "ttl",
            "60 and 86400",
        ),
        case(
            CF,
            CF_BASE,
            "size",
            "priority = 65536",
            "priority",
            "between 0 and 65535",
        ),
        case(
            CF,
            CF_BASE,
            "empty",
            r#"comment = """#,
            "comment",
            "between 1 and 500",
        ),
        case(
            CF,
            CF_BASE,
            "empty",
            r#"content = """#,
            "content",
            "between 1 and 4096",
        ),
        case(
            CF,
            CF_BASE,
            "name",
            r#"tags = ["no colon here"]"#,
            "tags",
            "name:value",
        ),
        case(
            CF,
            CF_BASE,
            "address",
            r#"content = "192.0.2.300""#,
            "content",
            "IPv4",
        ),
        case(
            CF,
            CF_BASE,
            "enum",
            r#"data = { tag = "issuex", flags = 0, value = "x" }"#,
            "data.tag",
            "one of",
        ),
        case(
            CF,
            CF_BASE,
            "port",
            r#"data = { port = 70000, weight = 1, target = "x" }"#,
            "data.port",
            "between 0 and 65535",
        ),
        Case::data(case(
            CF_ZONE,
            "",
            "id",
            r#"zone_id = "abc""#,
            "zone_id",
            "between 32 and 32|32 hexadecimal",
        )),
        Case::data(case(
            CF_ZONE,
            "",
            "name",
            r#"name = "bad..example""#,
            "name",
            "DNS name|label",
        )),
        Case::data(case(
            CF_ZONE,
            "",
            "reference",
            r#"name = "nonexistent.example""#,
            "name",
            "no zone named",
        ))
        .at_plan(),
    ]
}

const VM: &str = "homelab_proxmox_vm";
const VM_BASE: &str = r#"node = "pve1""#;
const DL: &str = "homelab_proxmox_download_file";
const DL_BASE: &str = r#"
node         = "pve1"
storage      = "local"
content_type = "iso"
file_name    = "x.iso"
url          = "https://example.com/x.iso"
"#;

fn proxmox() -> Vec<Case> {
    vec![
        case(
            VM,
            VM_BASE,
            "size",
            "vm_id = 99",
            "vm_id",
            "between 100 and 999999999",
        ),
        case(
            VM,
            VM_BASE,
            "size",
            "vm_id = 1000000000",
            "vm_id",
            "between 100 and 999999999",
        ),
        case(
            VM,
            VM_BASE,
            "name",
            r#"name = "bad_name!""#,
            "name",
            "DNS name",
        ),
        case(
            VM,
            VM_BASE,
            "empty",
            r#"node = """#,
            "node",
            "empty|node name|length",
        ),
        case(VM, VM_BASE, "enum", r#"bios = "uefi""#, "bios", "one of"),
        case(
            VM,
            VM_BASE,
            "wrong case",
            r#"bios = "OVMF""#,
            "bios",
            "one of",
        ),
        case(
            VM,
            VM_BASE,
            "name",
            r#"tags = ["-bad"]"#,
            "tags",
            "letters, digits|not starting",
        ),
        case(
            VM,
            VM_BASE,
            "name",
            r#"boot_order = ["scsi99"]"#,
            "boot_order",
            "disk or NIC slot",
        ),
        case(
            VM,
            VM_BASE,
            "name",
            r#"disk = { scsi31 = { storage = "local-lvm", size = 8 } }"#,
            "disk",
            r#"key "scsi31" is not a disk slot"#,
        ),
        case(
            VM,
            VM_BASE,
            "enum",
            r#"disk = { scsi0 = { storage = "local-lvm", size = 8, cache = "fast" } }"#,
            r#"disk["scsi0"].cache"#,
            "one of",
        ),
        case(
            VM,
            VM_BASE,
            "size",
            r#"disk = { scsi0 = { storage = "local-lvm", size = 0 } }"#,
            r#"disk["scsi0"].size"#,
            "between 1 and 131072",
        ),
        case(
            VM,
            VM_BASE,
            "name",
            r#"network = { eth0 = { bridge = "vmbr0" } }"#,
            "network",
            r#"key "eth0" is not a NIC slot"#,
        ),
        case(
            VM,
            VM_BASE,
            "address",
            r#"network = { net0 = { bridge = "vmbr0", mac = "zz:zz" } }"#,
            r#"network["net0"].mac"#,
            "MAC address",
        ),
        case(
            VM,
            VM_BASE,
            "enum",
            r#"network = { net0 = { bridge = "vmbr0", model = "VirtIO" } }"#,
            r#"network["net0"].model"#,
            "one of",
        ),
        case(
            VM,
            VM_BASE,
            "range",
            r#"network = { net0 = { bridge = "vmbr0", vlan = 4095 } }"#,
            r#"network["net0"].vlan"#,
            "between 1 and 4094",
        ),
        case(
            VM,
            VM_BASE,
            "size",
            r#"network = { net0 = { bridge = "vmbr0", mtu = 70000 } }"#,
            r#"network["net0"].mtu"#,
            "between 1 and 65520",
        ),
        case(
            VM,
            VM_BASE,
            "size",
            "memory = { dedicated = 8 }",
            "memory.dedicated",
            "between 16 and 8388608",
        ),
        case(
            VM,
            VM_BASE,
            "size",
            "cpu = { sockets = 17 }",
            "cpu.sockets",
            "between 1 and 16",
        ),
        case(
            VM,
            VM_BASE,
            "size",
            "cpu = { cores = 0 }",
            "cpu.cores",
            "between 1 and 1024",
        ),
        case(
            VM,
            VM_BASE,
            "enum",
            r#"efi_disk = { storage = "local-lvm", type = "8m" }"#,
            "efi_disk.type",
            "one of",
        ),
        case(
            VM,
            VM_BASE,
            "duration",
            "wait_for_ip_seconds = 3601",
            "wait_for_ip_seconds",
            "between 0 and 3600",
        ),
        case(
            VM,
            VM_BASE,
            "CIDR",
            "initialization {\n    ip_config = { net0 = { ipv4_address = \"10.0.0.5\" } }\n  }",
            "ipv4_address",
            "prefix length",
        ),
        case(
            VM,
            VM_BASE,
            "address",
            "initialization {\n    ip_config = { net0 = { ipv4_gateway = \"fd00::1\" } }\n  }",
            "ipv4_gateway",
            "IPv4",
        ),
        case(
            VM,
            VM_BASE,
            "CIDR",
            "initialization {\n    ip_config = { net0 = { ipv6_address = \"fd00::5/129\" } }\n  }",
            "ipv6_address",
            "prefix length|IPv6",
        ),
        case(
            VM,
            VM_BASE,
            "address",
            "initialization {\n    dns = { servers = [\"dns.example\"] }\n  }",
            "servers",
            "IP address",
        ),
        case(
            VM,
            VM_BASE,
            "name",
            "initialization {\n    interface = \"net0\"\n  }",
            "interface",
            "ide, sata or scsi",
        ),
        case(
            VM,
            VM_BASE,
            "size",
            "clone {\n    vm_id = 5\n  }",
            "vm_id",
            "between 100 and 999999999",
        ),
        case(VM, VM_BASE, "reference", r#"node = "pve9""#, "node", "pve1").at_plan(),
        case(
            DL,
            DL_BASE,
            "wrong case",
            r#"content_type = "ISO""#,
            "content_type",
            "one of",
        ),
        case(
            DL,
            DL_BASE,
            "name",
            r#"file_name = "a/b.iso""#,
            "file_name",
            "plain file name",
        ),
        case(
            DL,
            DL_BASE,
            "name",
            r#"file_name = "x.qcow2""#,
            "file_name",
            r"\.iso",
        ),
        case(
            DL,
            DL_BASE,
            "URL",
            r#"url = "ftp://example.com/x.iso""#,
            "url",
            "http",
        ),
        case(
            DL,
            DL_BASE,
            "enum",
            r#"checksum_algorithm = "crc32""#,
            "checksum_algorithm",
            "one of",
        ),
        Case::data(case(
            "homelab_proxmox_vm",
            "",
            "size",
            "vm_id = 50",
            "vm_id",
            "between 100 and 999999999",
        )),
        Case::data(case(
            "homelab_proxmox_vms",
            "",
            "pattern",
            r#"name_regex = "(unclosed""#,
            "name_regex",
            "regular expression",
        )),
    ]
}

const DNS: &str = "homelab_routeros_dns_static";
const DNS_BASE: &str = r#"
name    = "bad.lab"
address = "192.0.2.1"
"#;
const AL: &str = "homelab_routeros_firewall_address_list";
const AL_BASE: &str = r#"
list    = "bad"
address = "192.0.2.1"
"#;
const FF: &str = "homelab_routeros_firewall_filter";
const FF_BASE: &str = r#"chain = "forward""#;
const NAT: &str = "homelab_routeros_firewall_nat";
const NAT_BASE: &str = r#"chain = "dstnat""#;
const RS: &str = "homelab_routeros_firewall_ruleset";
const RS_BASE: &str = r#"
table = "filter"
chain = "forward"
rules = [{ action = "accept" }]
"#;

fn routeros() -> Vec<Case> {
    vec![
        case(
            DNS,
            DNS_BASE,
            "address",
            r#"address = "300.0.0.1""#,
            "address",
            "IP address",
        ),
        case(
            DNS,
            DNS_BASE,
            "duration",
            r#"ttl = "5x""#,
            "ttl",
            "time interval",
        ),
        case(
            DNS,
            DNS_BASE,
            "duration",
            r#"ttl = "36w""#,
            "ttl",
            "35w3d13h13m56s",
        ),
        case(
            DNS,
            DNS_BASE,
            "wrong case",
            r#"type = "aaaa""#,
            "type",
            "one of",
        ),
        case(
            DNS,
            DNS_BASE,
            "size",
            "mx_preference = 70000",
            "mx_preference",
            "between 0 and 65535",
        ),
        case(DNS, DNS_BASE, "empty", r#"name = """#, "name", "empty"),
        case(
            AL,
            AL_BASE,
            "CIDR",
            r#"address = "10.0.0.0/33""#,
            "address",
            "prefix|range|DNS name",
        ),
        case(
            AL,
            AL_BASE,
            "duration",
            r#"timeout = "forever""#,
            "timeout",
            "time interval",
        ),
        case(AL, AL_BASE, "empty", r#"list = """#, "list", "empty"),
        case(
            FF,
            FF_BASE,
            "wrong case",
            r#"action = "ACCEPT""#,
            "action",
            "one of",
        ),
        case(
            FF,
            FF_BASE,
            "port",
            "protocol = \"tcp\"\n  dst_port = \"70000\"",
            "dst_port",
            "0 to 65535",
        ),
        case(
            FF,
            FF_BASE,
            "range",
            "protocol = \"tcp\"\n  src_port = \"90-80\"",
            "src_port",
            "0-65535|range",
        ),
        case(
            FF,
            FF_BASE,
            "CIDR",
            r#"src_address = "10.0.0.0/40""#,
            "src_address",
            "prefix length must be 0 to 32",
        ),
        case(
            FF,
            FF_BASE,
            "range",
            r#"dst_address = "10.0.0.9-10.0.0.1""#,
            "dst_address",
            "prefix or range|range",
        ),
        case(
            FF,
            FF_BASE,
            "enum",
            r#"protocol = "tcpx""#,
            "protocol",
            "protocol name|0-255",
        ),
        case(
            FF,
            FF_BASE,
            "wrong case",
            r#"connection_state = ["Established"]"#,
            "connection_state",
            "one of",
        ),
        case(
            FF,
            FF_BASE,
            "size",
            r#"log_prefix = "0123456789012345678901234567890123""#,
            "log_prefix",
            "31",
        ),
        case(
            FF,
            FF_BASE,
            "enum",
            r#"reject_with = "nope""#,
            "reject_with",
            "one of",
        ),
        case(FF, FF_BASE, "empty", r#"chain = """#, "chain", "empty"),
        case(
            FF,
            FF_BASE,
            "empty",
            r#"in_interface = """#,
            "in_interface",
            "empty",
        ),
        case(
            NAT,
            NAT_BASE,
            "port",
            r#"to_ports = "0-70000""#,
            "to_ports",
            "0 to 65535",
        ),
        case(
            NAT,
            NAT_BASE,
            "address",
            r#"to_addresses = "a.b.c.d""#,
            "to_addresses",
            "IPv4 address",
        ),
        case(
            NAT,
            NAT_BASE,
            "enum",
            r#"action = "dstnat""#,
            "action",
            "one of",
        ),
        case(RS, RS_BASE, "enum", r#"table = "raw""#, "table", "one of"),
        case(
            RS,
            RS_BASE,
            "name",
            r#"owner = "bad owner""#,
            "owner",
            "letters, digits",
        ),
        case(
            RS,
            RS_BASE,
            "address",
            r#"rules = [{ src_address = "1.2.3" }]"#,
            "rules[0].src_address",
            "prefix|range",
        ),
        case(
            RS,
            RS_BASE,
            "port",
            r#"rules = [{ protocol = "tcp", dst_port = "1-2-3" }]"#,
            "rules[0].dst_port",
            "port list|0-65535",
        ),
        case(
            RS,
            RS_BASE,
            "enum",
            r#"rules = [{ action = "Drop" }]"#,
            "rules[0].action",
            "one of",
        ),
        case(
            RS,
            RS_BASE,
            "empty",
            r#"chain = """#,
            "chain",
            "between 1 and 255",
        ),
    ]
}

const PA: &str = "homelab_pfsense_firewall_alias";
const PA_BASE: &str = r#"
name    = "bad_alias"
type    = "host"
entries = [{ address = "192.0.2.1" }]
"#;
const PR: &str = "homelab_pfsense_firewall_rule";
const PR_BASE: &str = r#"
interface = "LAN"
type      = "pass"
"#;
const PS: &str = "homelab_pfsense_firewall_ruleset";
const PS_BASE: &str = r#"
interface = "LAN"
rules     = [{ type = "pass" }]
"#;

fn pfsense() -> Vec<Case> {
    vec![
        case(
            PA,
            PA_BASE,
            "name",
            r#"name = "1234""#,
            "name",
            "pfSense alias name|digits",
        ),
        case(PA, PA_BASE, "name", r#"name = "pkg_x""#, "name", "pkg_"),
        case(
            PA,
            PA_BASE,
            "name",
            r#"name = "has-dash""#,
            "name",
            "letters, digits",
        ),
        case(
            PA,
            PA_BASE,
            "name",
            r#"name = "a_very_long_alias_name_of_32_chars""#,
            "name",
            "31",
        ),
        case(
            PA,
            PA_BASE,
            "enum",
            r#"type = "url""#,
            "type",
            "one of|host",
        ),
        case(
            PA,
            PA_BASE,
            "wrong case",
            r#"type = "Host""#,
            "type",
            "one of|host",
        ),
        case(
            PA,
            PA_BASE,
            "address",
            r#"entries = [{ address = "10.0.0.0/33" }]"#,
            "entries[0].address",
            "IP address|host name",
        ),
        case(
            PA,
            PA_BASE,
            "name",
            r#"entries = [{ address = "192.0.2.1", description = "a||b" }]"#,
            "entries[0].description",
            r"\|\|",
        ),
        case(PR, PR_BASE, "enum", r#"type = "allow""#, "type", "one of"),
        case(
            PR,
            PR_BASE,
            "enum",
            r#"ipprotocol = "ipv4""#,
            "ipprotocol",
            "one of",
        ),
        case(
            PR,
            PR_BASE,
            "wrong case",
            r#"protocol = "TCP""#,
            "protocol",
            "one of",
        ),
        case(
            PR,
            PR_BASE,
            "CIDR",
            r#"source = "10.0.0.0/33""#,
            "source",
            "subnet",
        ),
        case(
            PR,
            PR_BASE,
            "name",
            r#"destination = "!any""#,
            "destination",
            "any",
        ),
        case(
            PR,
            PR_BASE,
            "port",
            "protocol = \"tcp\"\n  destination_port = \"70000\"",
            "destination_port",
            "1-65535",
        ),
        case(
            PR,
            PR_BASE,
            "range",
            "protocol = \"tcp\"\n  source_port = \"0\"",
            "source_port",
            "1-65535",
        ),
        case(
            PR,
            PR_BASE,
            "enum",
            r#"icmptype = ["ping"]"#,
            "icmptype",
            "ICMP type",
        ),
        case(
            PR,
            PR_BASE,
            "enum",
            r#"statetype = "keep""#,
            "statetype",
            "one of",
        ),
        case(
            PR,
            PR_BASE,
            "name",
            r#"interface = "LAN WAN""#,
            "interface",
            "interface name",
        ),
        case(
            PR,
            PR_BASE,
            "empty",
            r#"interface = """#,
            "interface",
            "interface name",
        ),
        case(
            PR,
            PR_BASE,
            "reference",
            r#"interface = "OPT9""#,
            "interface",
            "LAN",
        )
        .at_plan(),
        case(
            PS,
            PS_BASE,
            "name",
            r#"owner = "bad owner""#,
            "owner",
            "letters, digits",
        ),
        case(
            PS,
            PS_BASE,
            "enum",
            r#"rules = [{ type = "allow" }]"#,
            "rules[0].type",
            "one of",
        ),
        case(
            PS,
            PS_BASE,
            "CIDR",
            r#"rules = [{ type = "pass", destination = "192.0.2.0/99" }]"#,
            "rules[0].destination",
            "subnet",
        ),
        case(
            PS,
            PS_BASE,
            "reference",
            r#"interface = "OPT9""#,
            "interface",
            "LAN",
        )
        .at_plan(),
    ]
}

const POOL: &str = "homelab_metallb_ip_address_pool";
const POOL_BASE: &str = r#"
name      = "bad-pool"
addresses = ["10.0.0.0/28"]
"#;
const L2: &str = "homelab_metallb_l2_advertisement";
const L2_BASE: &str = r#"name = "l2""#;
const PEER: &str = "homelab_metallb_bgp_peer";
const PEER_BASE: &str = r#"
name         = "peer"
my_asn       = 64512
peer_asn     = 64513
peer_address = "192.0.2.1"
"#;
const ADV: &str = "homelab_metallb_bgp_advertisement";
const ADV_BASE: &str = r#"name = "adv""#;
const COMM: &str = "homelab_metallb_community";
const COMM_BASE: &str = r#"
name        = "comm"
communities = { a = "65000:100" }
"#;

fn metallb() -> Vec<Case> {
    vec![
        case(
            POOL,
            POOL_BASE,
            "wrong case",
            r#"name = "Bad-Pool""#,
            "name",
            "lowercase DNS subdomain",
        ),
        case(
            POOL,
            POOL_BASE,
            "empty",
            r#"name = """#,
            "name",
            "between 1 and 253|DNS subdomain",
        ),
        case(
            POOL,
            POOL_BASE,
            "name",
            r#"namespace = "metallb_system""#,
            "namespace",
            "DNS label",
        ),
        case(
            POOL,
            POOL_BASE,
            "CIDR",
            r#"addresses = ["10.0.0.0/33"]"#,
            "addresses[0]",
            "CIDR|range",
        ),
        case(
            POOL,
            POOL_BASE,
            "range",
            r#"addresses = ["10.0.0.9-10.0.0.1"]"#,
            "addresses[0]",
            "CIDR|range",
        ),
        case(
            POOL,
            POOL_BASE,
            "size",
            "addresses = []",
            "addresses",
            "between 1 and 4096",
        ),
        case(
            POOL,
            POOL_BASE,
            "range",
            r#"addresses = ["10.0.0.0/28", "10.0.0.8/29"]"#,
            "addresses[1]",
            "overlap",
        ),
        case(
            L2,
            L2_BASE,
            "name",
            r#"ip_address_pools = ["Bad_Pool"]"#,
            "ip_address_pools",
            "DNS subdomain",
        ),
        case(
            L2,
            L2_BASE,
            "enum",
            r#"node_selectors = [{ match_expressions = [{ key = "k", operator = "in", values = ["v"] }] }]"#,
            "node_selectors[0].match_expressions[0].operator",
            "one of",
        ),
        case(
            L2,
            L2_BASE,
            "name",
            r#"interfaces = [""]"#,
            "interfaces",
            "empty|interface",
        ),
        case(
            PEER,
            PEER_BASE,
            "address",
            r#"peer_address = "192.0.2""#,
            "peer_address",
            "IP address",
        ),
        case(
            PEER,
            PEER_BASE,
            "size",
            "my_asn = 4294967296",
            "my_asn",
            "between 0 and 4294967295",
        ),
        case(
            PEER,
            PEER_BASE,
            "port",
            "peer_port = 0",
            "peer_port",
            "between 1 and 16384",
        ),
        case(
            PEER,
            PEER_BASE,
            "port",
            "peer_port = 20000",
            "peer_port",
            "between 1 and 16384",
        ),
        case(
            PEER,
            PEER_BASE,
            "address",
            r#"router_id = "fd00::1""#,
            "router_id",
            "IPv4",
        ),
        case(
            PEER,
            PEER_BASE,
            "duration",
            r#"hold_time = "90""#,
            "hold_time",
            "duration",
        ),
        case(
            PEER,
            PEER_BASE,
            "duration",
            r#"keepalive_time = "soon""#,
            "keepalive_time",
            "duration",
        ),
        case(
            PEER,
            PEER_BASE,
            "duration",
            r#"connect_time = "0s""#,
            "connect_time",
            "between 1",
        ),
        case(
            PEER,
            PEER_BASE,
            "wrong case",
            r#"dynamic_asn = "Internal""#,
            "dynamic_asn",
            "one of",
        ),
        case(
            PEER,
            PEER_BASE,
            "address",
            r#"source_address = "x""#,
            "source_address",
            "IP address",
        ),
        case(
            ADV,
            ADV_BASE,
            "size",
            "aggregation_length = 33",
            "aggregation_length",
            "between 1 and 32",
        ),
        case(
            ADV,
            ADV_BASE,
            "size",
            "aggregation_length_v6 = 0",
            "aggregation_length_v6",
            "between 1 and 128",
        ),
        case(
            ADV,
            ADV_BASE,
            "name",
            r#"communities = ["65536:1"]"#,
            "communities[0]",
            "AA:NN",
        ),
        case(
            ADV,
            ADV_BASE,
            "size",
            "local_pref = -1",
            "local_pref",
            "between 0 and 4294967295",
        ),
        case(
            COMM,
            COMM_BASE,
            "name",
            r#"communities = { a = "65000" }"#,
            r#"communities["a"]"#,
            "AA:NN",
        ),
        case(
            COMM,
            COMM_BASE,
            "name",
            r#"communities = { a = "large:1:2" }"#,
            r#"communities["a"]"#,
            "large:AA:BB:CC",
        ),
    ]
}

const TALOS_EXTRA: &str = r#"
resource "homelab_talos_machine_secrets" "s" {}
"#;
const SEC: &str = "homelab_talos_machine_secrets";
const KC: &str = "homelab_talos_cluster_kubeconfig";
const KC_BASE: &str = r#"
node                 = "10.0.0.11"
client_configuration = homelab_talos_machine_secrets.s.client_configuration
"#;
const AP: &str = "homelab_talos_machine_configuration_apply";
const AP_BASE: &str = r#"
node                        = "10.0.0.11"
client_configuration        = homelab_talos_machine_secrets.s.client_configuration
machine_configuration_input = "version: v1alpha1"
"#;
const BS: &str = "homelab_talos_machine_bootstrap";
const BS_BASE: &str = r#"
node                 = "10.0.0.11"
client_configuration = homelab_talos_machine_secrets.s.client_configuration
"#;
const MC: &str = "homelab_talos_machine_configuration";
const MC_BASE: &str = r#"
cluster_name     = "lab"
cluster_endpoint = "https://10.0.0.10:6443"
machine_type     = "controlplane"
machine_secrets  = homelab_talos_machine_secrets.s.machine_secrets
"#;
const CC: &str = "homelab_talos_client_configuration";
const CC_BASE: &str = r#"
cluster_name         = "lab"
client_configuration = homelab_talos_machine_secrets.s.client_configuration
"#;

fn talos() -> Vec<Case> {
    vec![
        case(
            SEC,
            "",
            "enum",
            r#"talos_version = "v1.12""#,
            "talos_version",
            "v1.13|v1.14",
        ),
        case(
            SEC,
            "",
            "wrong case",
            r#"talos_version = "V1.14""#,
            "talos_version",
            "v1.13|v1.14",
        ),
        case(
            KC,
            KC_BASE,
            "empty",
            r#"node = """#,
            "node",
            "between 1 and 253",
        ),
        case(
            KC,
            KC_BASE,
            "duration",
            r#"certificate_renewal_duration = "30 days""#,
            "certificate_renewal_duration",
            "duration",
        ),
        case(
            KC,
            KC_BASE,
            "duration",
            r#"timeouts = { create = "10 minutes" }"#,
            "timeouts.create",
            "duration",
        ),
        case(
            AP,
            AP_BASE,
            "enum",
            r#"apply_mode = "Auto""#,
            "apply_mode",
            "auto",
        ),
        case(
            AP,
            AP_BASE,
            "enum",
            r#"apply_mode = "try""#,
            "apply_mode",
            "auto",
        ),
        case(
            AP,
            AP_BASE,
            "empty",
            r#"endpoint = """#,
            "endpoint",
            "between 1 and 253",
        ),
        case(
            AP,
            AP_BASE,
            "duration",
            r#"timeouts = { delete = "-5m" }"#,
            "timeouts.delete",
            "duration",
        ),
        case(
            BS,
            BS_BASE,
            "empty",
            r#"node = """#,
            "node",
            "between 1 and 253",
        ),
        case(
            BS,
            BS_BASE,
            "duration",
            r#"timeouts = { create = "1y" }"#,
            "timeouts.create",
            "duration",
        ),
        Case::data(case(
            MC,
            MC_BASE,
            "URL",
            r#"cluster_endpoint = "http://10.0.0.10""#,
            "cluster_endpoint",
            "https://host:port",
        )),
        Case::data(case(
            MC,
            MC_BASE,
            "wrong case",
            r#"machine_type = "ControlPlane""#,
            "machine_type",
            "one of",
        )),
        Case::data(case(
            MC,
            MC_BASE,
            "name",
            r#"install_disk = "sda""#,
            "install_disk",
            "device path",
        )),
        Case::data(case(
            MC,
            MC_BASE,
            "name",
            r#"kubernetes_version = "latest""#,
            "kubernetes_version",
            "Kubernetes version",
        )),
        Case::data(case(
            MC,
            MC_BASE,
            "enum",
            r#"talos_version = "v2.0""#,
            "talos_version",
            "v1.13, v1.14|v1.13` or `v1.14",
        )),
        Case::data(case(
            MC,
            MC_BASE,
            "empty",
            r#"cluster_name = """#,
            "cluster_name",
            "between 1 and 253",
        )),
        Case::data(case(
            CC,
            CC_BASE,
            "empty",
            r#"cluster_name = """#,
            "cluster_name",
            "between 1 and 253",
        )),
    ]
}

#[test]
fn technitium_bad_input() {
    run("technitium", "", &technitium(), &[]).unwrap();
}

#[test]
fn cloudflare_bad_input() {
    run(
        "cloudflare",
        "",
        &cloudflare(),
        &["cloudflare GET /client/v4/zones"],
    )
    .unwrap();
}

#[test]
fn proxmox_bad_input() {
    run("proxmox", "", &proxmox(), &["proxmox GET /api2/json/nodes"]).unwrap();
}

#[test]
fn routeros_bad_input() {
    run("routeros", "", &routeros(), &[]).unwrap();
}

#[test]
fn pfsense_bad_input() {
    run(
        "pfsense",
        "",
        &pfsense(),
        &[
            "pfsense GET /api/v2/interfaces",
            "pfsense GET /api/v2/system/restapi/settings",
        ],
    )
    .unwrap();
}

#[test]
fn metallb_bad_input() {
    run("metallb", "", &metallb(), &[]).unwrap();
}

#[test]
fn talos_bad_input() {
    run("talos", TALOS_EXTRA, &talos(), &[]).unwrap();
}
