//! VM config key encodings, parsed and rendered the way Proxmox VE writes
//! them, so values read back compare equal to what was planned.
//!
//! - Property strings: `local-lvm:vm-100-disk-0,iothread=1,size=32G`, with a
//!   default key (the volume; for NICs the model, aliased with the MAC:
//!   `virtio=BC:24:11:AA:BB:CC,bridge=vmbr0`).
//! - Sizes: `32G`, `2252M`, `1T`, bytes → whole GiB (rounded up).
//! - Tags: `;`-separated (also `,` and spaces), lower-cased, sorted, unique.
//! - `sshkeys`: URL-encoded newline-separated keys.
//! - `ipconfigN`: `ip=…,gw=…,ip6=…,gw6=…`.

/// Disk slots: `ide0-3`, `sata0-5`, `scsi0-30`, `virtio0-15`.
pub const DISK_SLOT_RE: &str =
    "^(ide[0-3]|sata[0-5]|scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5]))$";
/// NIC slots: `net0-31`.
pub const NET_SLOT_RE: &str = "^net([0-9]|[12][0-9]|3[01])$";
/// NIC models Proxmox VE knows.
pub const NIC_MODELS: &[&str] = &[
    "virtio",
    "e1000",
    "e1000e",
    "rtl8139",
    "vmxnet3",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
];

/// Whether `k` is a disk slot key ([`DISK_SLOT_RE`]; no leading zeros).
pub fn is_disk_slot(k: &str) -> bool {
    let (bus, n) = split_slot(k);
    let max = match bus {
        "ide" => 3,
        "sata" => 5,
        "scsi" => 30,
        "virtio" => 15,
        _ => return false,
    };
    n.is_some_and(|n| n <= max)
}

/// Whether `k` is a NIC slot key ([`NET_SLOT_RE`]; no leading zeros).
pub fn is_net_slot(k: &str) -> bool {
    let (bus, n) = split_slot(k);
    bus == "net" && n.is_some_and(|n| n <= 31)
}

fn split_slot(k: &str) -> (&str, Option<u32>) {
    let i = k.find(|c: char| c.is_ascii_digit()).unwrap_or(k.len());
    let (bus, n) = k.split_at(i);
    let n = if n.is_empty() || (n.len() > 1 && n.starts_with('0')) {
        None
    } else {
        n.parse().ok()
    };
    (bus, n)
}

/// Split a property string into `(key, value)` pairs; a bare first item
/// gets `default_key`.
pub fn parse_props(s: &str, default_key: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, part) in s.split(',').enumerate() {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) => out.push((k.trim().to_string(), v.trim().to_string())),
            None if i == 0 => out.push((default_key.to_string(), part.to_string())),
            None => out.push((part.to_string(), String::new())),
        }
    }
    out
}

/// The `key=value` items of a property string, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Props(pub Vec<(String, String)>);

impl Props {
    /// The value of the first item `k`; `Some("")` for a bare `k`.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    /// Set `k` (in place if present, else at the end), or remove it on `None`.
    pub fn set(&mut self, k: &str, v: Option<String>) {
        match v {
            Some(v) => match self.0.iter_mut().find(|(key, _)| key == k) {
                Some(e) => e.1 = v,
                None => self.0.push((k.to_string(), v)),
            },
            None => self.0.retain(|(key, _)| key != k),
        }
    }
    /// Item `k` is `1`, `on`, `yes` or `true` (any case); absent is false.
    pub fn flag(&self, k: &str) -> bool {
        self.get(k).is_some_and(truthy)
    }
    /// `head` followed by `,k=v` for each item (`,k` for empty values).
    fn render_after(&self, head: String) -> String {
        let rest = render_props(&self.0);
        if rest.is_empty() {
            head
        } else {
            format!("{head},{rest}")
        }
    }
}

fn render_props(items: &[(String, String)]) -> String {
    items
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true")
}

/// A size (`32G`, `2252M`, `512K`, `1T`, bytes) in whole GiB, rounded up.
pub fn size_gib(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&s[..i], s[i..].to_ascii_uppercase()),
        None => (s, String::new()),
    };
    let n: f64 = num.trim().parse().ok()?;
    let bytes = match unit.trim_end_matches('B') {
        "" => n,
        "K" => n * 1024.0,
        "M" => n * 1024.0 * 1024.0,
        "G" => n * 1024.0 * 1024.0 * 1024.0,
        "T" => n * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let gib = bytes / (1024.0 * 1024.0 * 1024.0);
    Some(gib.ceil() as i64)
}

/// A disk entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Disk {
    /// `local-lvm:vm-100-disk-0` (or `none`, or an ISO for CD-ROMs).
    pub volume: String,
    /// The rest, in order (size, discard, iothread, …).
    pub props: Props,
}

impl Disk {
    /// Parse a disk value (`local-lvm:vm-100-disk-0,size=32G`); the volume
    /// is the `file=` item or the bare first item, else empty.
    pub fn parse(s: &str) -> Disk {
        let mut props = parse_props(s, "file");
        let volume = if props.first().is_some_and(|(k, _)| k == "file") {
            props.remove(0).1
        } else {
            String::new()
        };
        Disk {
            volume,
            props: Props(props),
        }
    }
    /// Back to a config value: the volume, then the other items in order.
    pub fn render(&self) -> String {
        self.props.render_after(self.volume.clone())
    }
    /// `media=cdrom`.
    pub fn is_cdrom(&self) -> bool {
        self.props.get("media") == Some("cdrom")
    }
    /// A cloud-init drive (its volume is `<storage>:vm-<vmid>-cloudinit`).
    pub fn is_cloudinit(&self) -> bool {
        self.volume.contains("cloudinit")
    }
    /// `local-lvm` from `local-lvm:vm-100-disk-0`.
    pub fn storage(&self) -> Option<&str> {
        self.volume.split_once(':').map(|(s, _)| s)
    }
    /// The `size` item in whole GiB, rounded up; `None` if absent or unreadable.
    pub fn size_gib(&self) -> Option<i64> {
        self.props.get("size").and_then(size_gib)
    }
}

/// A network device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Net {
    /// The NIC model (`virtio`, `e1000`, ... from [`NIC_MODELS`]).
    pub model: String,
    /// The MAC address, upper-case; `None` if the value has none.
    pub mac: Option<String>,
    /// Everything but model and MAC, in order.
    pub props: Props,
}

impl Net {
    /// Parse a `netN` value, in either form: `model=virtio,macaddr=MAC,...`
    /// or `virtio=MAC,...`.
    pub fn parse(s: &str) -> Net {
        let mut net = Net::default();
        for (k, v) in parse_props(s, "model") {
            if k == "model" {
                net.model = v;
            } else if k == "macaddr" {
                net.mac = Some(v.to_ascii_uppercase());
            } else if NIC_MODELS.contains(&k.as_str()) && net.model.is_empty() {
                net.model = k;
                if !v.is_empty() {
                    net.mac = Some(v.to_ascii_uppercase());
                }
            } else {
                net.props.0.push((k, v));
            }
        }
        net
    }
    /// `virtio=MAC,bridge=…` (the form Proxmox VE writes back).
    pub fn render(&self) -> String {
        self.props.render_after(match &self.mac {
            Some(m) => format!("{}={m}", self.model),
            None => format!("model={}", self.model),
        })
    }
}

/// An `ipconfigN` value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpConfig {
    /// IPv4 address/prefix or `dhcp`; `None`: not set.
    pub ip: Option<String>,
    /// IPv4 gateway.
    pub gw: Option<String>,
    /// IPv6 address/prefix, `dhcp` or `auto`; `None`: not set.
    pub ip6: Option<String>,
    /// IPv6 gateway.
    pub gw6: Option<String>,
}

impl IpConfig {
    /// Parse an `ipconfigN` value; unknown items are dropped.
    pub fn parse(s: &str) -> IpConfig {
        let mut c = IpConfig::default();
        for (k, v) in parse_props(s, "ip") {
            match k.as_str() {
                "ip" => c.ip = Some(v),
                "gw" => c.gw = Some(v),
                "ip6" => c.ip6 = Some(v),
                "gw6" => c.gw6 = Some(v),
                _ => {}
            }
        }
        c
    }
    /// In the order Proxmox VE prints: `gw`, `gw6`, `ip`, `ip6`.
    pub fn render(&self) -> String {
        let mut items = Vec::new();
        for (k, v) in [
            ("gw", &self.gw),
            ("gw6", &self.gw6),
            ("ip", &self.ip),
            ("ip6", &self.ip6),
        ] {
            if let Some(v) = v {
                items.push(format!("{k}={v}"));
            }
        }
        items.join(",")
    }
}

/// Tags as Proxmox VE keeps them: lower-case, sorted, unique.
pub fn parse_tags(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .split([';', ',', ' '])
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Tags as one `tags` value: normalised as [`parse_tags`], `;`-separated.
pub fn render_tags(tags: &[String]) -> String {
    parse_tags(&tags.join(";")).join(";")
}

/// Percent-encode like `encodeURIComponent` (what `sshkeys` expects).
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undo [`url_encode`] (also `+` as a space); bad escapes stay as they are.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `sshkeys` value: one key a line (blank ones dropped), URL-encoded.
pub fn encode_ssh_keys(keys: &[String]) -> String {
    let joined: Vec<&str> = keys
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .collect();
    url_encode(&(joined.join("\n") + "\n"))
}

/// The keys of an `sshkeys` value, one a line, trimmed, blank lines dropped.
pub fn decode_ssh_keys(s: &str) -> Vec<String> {
    url_decode(s)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `order=scsi0;ide2;net0` → `[scsi0, ide2, net0]`.
pub fn parse_boot(s: &str) -> Vec<String> {
    for (k, v) in parse_props(s, "legacy") {
        if k == "order" {
            return v
                .split([';', ' '])
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect();
        }
    }
    Vec::new()
}

/// `[scsi0, net0]` → `order=scsi0;net0`.
pub fn render_boot(order: &[String]) -> String {
    format!("order={}", order.join(";"))
}

/// `memory` is `[current=]MiB`.
pub fn parse_memory(s: &str) -> Option<i64> {
    for (k, v) in parse_props(s, "current") {
        if k == "current" {
            return v.parse().ok();
        }
    }
    None
}

/// The CPU type from `cpu` (`x86-64-v2-AES,flags=+aes`).
pub fn cpu_type(s: &str) -> Option<String> {
    parse_props(s, "cputype")
        .into_iter()
        .find(|(k, _)| k == "cputype")
        .map(|(_, v)| v)
}

/// Replace the CPU type in `cpu`, keeping other properties.
pub fn with_cpu_type(current: Option<&str>, ty: &str) -> String {
    let mut props = current
        .map(|c| parse_props(c, "cputype"))
        .unwrap_or_default();
    props.retain(|(k, _)| k != "cputype");
    let rest = render_props(&props);
    if rest.is_empty() {
        ty.to_string()
    } else {
        format!("{ty},{rest}")
    }
}

/// Whether `agent` says enabled (`1`, `enabled=1,fstrim_cloned_disks=1`).
pub fn agent_enabled(s: &str) -> bool {
    parse_props(s, "enabled")
        .iter()
        .any(|(k, v)| k == "enabled" && truthy(v))
}

/// Set `enabled` in `agent`, keeping other properties.
pub fn with_agent(current: Option<&str>, on: bool) -> String {
    let mut props = current
        .map(|c| parse_props(c, "enabled"))
        .unwrap_or_default();
    props.retain(|(k, _)| k != "enabled");
    let rest = render_props(&props);
    let v = if on { "1" } else { "0" };
    if rest.is_empty() {
        v.to_string()
    } else {
        format!("{v},{rest}")
    }
}

/// `cicustom` parts: `user=local:snippets/u.yaml,network=…`.
pub fn parse_cicustom(s: &str) -> Vec<(String, String)> {
    parse_props(s, "user")
}

/// A MAC address as Proxmox VE prints it.
pub fn norm_mac(m: &str) -> String {
    m.trim().replace('-', ":").to_ascii_uppercase()
}

/// Six pairs of hex digits separated by `:` or `-`.
pub fn is_mac(m: &str) -> bool {
    let parts: Vec<&str> = m.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots() {
        assert!(is_disk_slot("scsi0") && is_disk_slot("scsi30") && is_disk_slot("virtio15"));
        assert!(!is_disk_slot("scsi31") && !is_disk_slot("ide4") && !is_disk_slot("scsi01"));
        assert!(!is_disk_slot("nvme0") && !is_disk_slot("scsi"));
        assert!(is_net_slot("net0") && is_net_slot("net31") && !is_net_slot("net32"));
    }

    #[test]
    fn props_set_in_place_append_and_remove() {
        let mut d = Disk::parse("local-lvm:vm-100-disk-0,size=32G,ssd=1");
        d.props.set("size", Some("40G".into()));
        d.props.set("iothread", Some("1".into()));
        d.props.set("ssd", None);
        assert_eq!(d.render(), "local-lvm:vm-100-disk-0,size=40G,iothread=1");
        assert_eq!(Disk::parse("none").render(), "none");
        let mut n = Net::parse("virtio=bc:24:11:aa:bb:cc");
        n.props.set("bridge", Some("vmbr0".into()));
        assert_eq!(n.render(), "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0");
        assert!(!n.props.flag("firewall"));
    }

    #[test]
    fn disks_round_trip() {
        let d = Disk::parse("local-lvm:vm-100-disk-0,discard=on,iothread=1,size=32G");
        assert_eq!(d.volume, "local-lvm:vm-100-disk-0");
        assert_eq!(d.storage(), Some("local-lvm"));
        assert_eq!(d.size_gib(), Some(32));
        assert!(d.props.flag("discard") && d.props.flag("iothread") && !d.props.flag("ssd"));
        assert_eq!(
            d.render(),
            "local-lvm:vm-100-disk-0,discard=on,iothread=1,size=32G"
        );
        let c = Disk::parse("local-lvm:vm-100-cloudinit,media=cdrom");
        assert!(c.is_cdrom() && c.is_cloudinit());
    }

    #[test]
    fn sizes() {
        assert_eq!(size_gib("32G"), Some(32));
        assert_eq!(size_gib("2252M"), Some(3));
        assert_eq!(size_gib("1T"), Some(1024));
        assert_eq!(size_gib("4M"), Some(1));
        assert_eq!(size_gib("1073741824"), Some(1));
        assert_eq!(size_gib("x"), None);
    }

    #[test]
    fn nets() {
        let n = Net::parse("virtio=bc:24:11:aa:bb:cc,bridge=vmbr0,firewall=1,tag=10");
        assert_eq!(n.model, "virtio");
        assert_eq!(n.mac.as_deref(), Some("BC:24:11:AA:BB:CC"));
        assert_eq!(n.props.get("bridge"), Some("vmbr0"));
        assert_eq!(n.props.get("tag"), Some("10"));
        assert_eq!(
            n.render(),
            "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1,tag=10"
        );
        let w = Net::parse("model=e1000,macaddr=BC:24:11:00:00:01,bridge=vmbr1");
        assert_eq!(w.model, "e1000");
        assert_eq!(w.render(), "e1000=BC:24:11:00:00:01,bridge=vmbr1");
    }

    #[test]
    fn cloud_init_bits() {
        let c = IpConfig::parse("ip=10.0.0.5/24,gw=10.0.0.1");
        assert_eq!(c.ip.as_deref(), Some("10.0.0.5/24"));
        assert_eq!(c.render(), "gw=10.0.0.1,ip=10.0.0.5/24");
        let keys = vec![
            "ssh-ed25519 AAAA a@b".to_string(),
            "ssh-rsa BBB c@d".to_string(),
        ];
        let enc = encode_ssh_keys(&keys);
        assert!(enc.contains("%20") && enc.contains("%0A"));
        assert_eq!(decode_ssh_keys(&enc), keys);
        assert_eq!(parse_tags("b;A;a,c"), vec!["a", "b", "c"]);
        assert_eq!(
            parse_boot("order=scsi0;ide2;net0"),
            vec!["scsi0", "ide2", "net0"]
        );
        assert_eq!(parse_memory("current=2048"), Some(2048));
        assert_eq!(parse_memory("1024"), Some(1024));
        assert_eq!(
            cpu_type("x86-64-v2-AES,flags=+aes").as_deref(),
            Some("x86-64-v2-AES")
        );
        assert_eq!(
            with_cpu_type(Some("kvm64,flags=+aes"), "host"),
            "host,flags=+aes"
        );
        assert!(agent_enabled("enabled=1,fstrim_cloned_disks=1") && agent_enabled("1"));
        assert!(!agent_enabled("0"));
        assert_eq!(
            with_agent(Some("1,fstrim_cloned_disks=1"), false),
            "0,fstrim_cloned_disks=1"
        );
    }
}
