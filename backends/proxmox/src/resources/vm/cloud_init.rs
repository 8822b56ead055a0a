//! `initialization`: cloud-init. Adds a cloud-init drive when the VM has
//! none; the user, password, SSH keys, IP configuration per NIC, DNS and
//! custom snippets map to the `ci*`, `sshkeys`, `ipconfigN`, `nameserver`,
//! `searchdomain` and `cicustom` config keys. When the block is absent the
//! VM's cloud-init settings are left alone.
//!
//! The password is either `password` (sensitive, kept in state) or
//! `password_wo` (Terraform 1.11 write-only: never in plan or state) with
//! `password_wo_version`, HashiCorp's convention: the password is sent when
//! the VM is created, when the version changes, and when the VM has lost
//! its `cipassword`; a changed `password_wo` alone plans nothing. Proxmox VE
//! stores a crypt hash of the password (qemu-server `PVE/API2/Qemu.pm`
//! hashes `cipassword` with `PVE::Tools::encrypt_pw` unless it already is
//! one) and returns `**********`, so refresh can only tell whether a
//! password is set.

use std::collections::BTreeMap;

use labforge_framework::schema::{Attribute, Block, Nesting, Schema, validators};
use labforge_framework::{AttributePath, Diagnostics, Result, Type, Value};
use serde::{Deserialize, Serialize};

use super::Part;
use super::attrs::{inherited, known, list_of};
use super::changes::{Changes, set_if, yes};
use crate::client::VmConfig;
use crate::pveconf::{self, Disk, IpConfig};

/// The IP configuration of one NIC: a value of `initialization.ip_config`
/// (its key is the NIC's slot, `net0`), the `ipconfigN` config key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IpModel {
    /// `ipv4_address`: `dhcp` or an address with prefix length.
    pub ipv4_address: Option<String>,
    /// `ipv4_gateway`: IPv4 gateway.
    pub ipv4_gateway: Option<String>,
    /// `ipv6_address`: `dhcp`, `auto` (SLAAC) or an address with prefix
    /// length.
    pub ipv6_address: Option<String>,
    /// `ipv6_gateway`: IPv6 gateway.
    pub ipv6_gateway: Option<String>,
}

/// `initialization.dns`: DNS settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DnsModel {
    /// `servers`: DNS servers (`nameserver`).
    pub servers: Option<Vec<String>>,
    /// `domain`: search domain (`searchdomain`).
    pub domain: Option<String>,
}

/// The `initialization` block: cloud-init. Adds a cloud-init drive when the
/// VM has none. When this block is absent the VM's cloud-init settings are
/// left alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InitModel {
    /// `storage`: storage for the cloud-init drive. Default `local-lvm`.
    pub storage: Option<String>,
    /// `interface`: slot of the cloud-init drive. Default `ide2`.
    pub interface: Option<String>,
    /// `user`: user to create (`ciuser`).
    pub user: Option<String>,
    /// `password` (sensitive): password of `user` (`cipassword`). Proxmox
    /// VE never returns it, so it never shows as drift.
    pub password: Option<String>,
    /// `password_wo` (write-only, sensitive): password of `user`
    /// (`cipassword`), sent when `password_wo_version` changes; never in
    /// state. Excludes `password`.
    pub password_wo: Option<String>,
    /// `password_wo_version`: changing it sends `password_wo`. Null after a
    /// refresh that finds the VM without a password (the next apply sends
    /// it again) and after an import.
    pub password_wo_version: Option<i64>,
    /// `ssh_keys`: public SSH keys for `user`.
    pub ssh_keys: Option<Vec<String>>,
    /// `upgrade`: upgrade packages on first boot (`ciupgrade`). Unset
    /// leaves the Proxmox VE default.
    pub upgrade: Option<bool>,
    /// `ip_config`: IP configuration per NIC, keyed by the NIC's slot
    /// (`net0`).
    pub ip_config: Option<BTreeMap<String, IpModel>>,
    /// `dns`: DNS settings.
    pub dns: Option<DnsModel>,
    /// `user_data`: custom cloud-init user snippet, e.g.
    /// `local:snippets/user.yaml` (`cicustom`).
    pub user_data: Option<String>,
    /// `network_data`: custom cloud-init network snippet, e.g.
    /// `local:snippets/network.yaml` (`cicustom`).
    pub network_data: Option<String>,
    /// `meta_data`: custom cloud-init meta snippet, e.g.
    /// `local:snippets/meta.yaml` (`cicustom`).
    pub meta_data: Option<String>,
    /// `vendor_data`: custom cloud-init vendor snippet, e.g.
    /// `local:snippets/vendor.yaml` (`cicustom`).
    pub vendor_data: Option<String>,
}

/// The `initialization` block.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudInit;

impl Part for CloudInit {
    type Model = InitModel;

    fn schema(s: Schema) -> Schema {
        let ip = Attribute::nested(
            Nesting::Map,
            [
                (
                    "ipv4_address",
                    Attribute::string()
                        .optional()
                        .describe("`dhcp` or an address with prefix length.")
                        .validator(ip_or(&["dhcp"], false)),
                ),
                (
                    "ipv4_gateway",
                    Attribute::string()
                        .optional()
                        .describe("IPv4 gateway.")
                        .validator(validators::ipv4_address()),
                ),
                (
                    "ipv6_address",
                    Attribute::string()
                        .optional()
                        .describe("`dhcp`, `auto` (SLAAC) or an address with prefix length.")
                        .validator(ip_or(&["dhcp", "auto"], true)),
                ),
                (
                    "ipv6_gateway",
                    Attribute::string()
                        .optional()
                        .describe("IPv6 gateway.")
                        .validator(validators::ipv6_address()),
                ),
            ],
        )
        .optional()
        .describe("IP configuration per NIC, keyed by the NIC's slot (`net0`).")
        .validator(validators::keys_match(
            pveconf::NET_SLOT_RE,
            "a NIC slot like `net0`",
        ));
        let snippet = |what: &str| {
            Attribute::string().optional().describe(format!(
                "Custom cloud-init {what} snippet, e.g. `local:snippets/{what}.yaml` (`cicustom`)."
            ))
        };
        let init = Schema::new(
            "Cloud-init. Adds a cloud-init drive when the VM has none. When this block is absent the \
             VM's cloud-init settings are left alone.",
        )
        .attribute(
            "storage",
            inherited(Attribute::string()).describe("Storage for the cloud-init drive. Default `local-lvm`."),
        )
        .attribute(
            "interface",
            inherited(Attribute::string())
                .describe("Slot of the cloud-init drive. Default `ide2`.")
                .validator(validators::matches("^(ide[0-3]|sata[0-5]|scsi([0-9]|[12][0-9]|30))$", "an ide, sata or scsi slot")),
        )
        .attribute("user", Attribute::string().optional().describe("User to create (`ciuser`)."))
        .attribute(
            "password",
            Attribute::string()
                .optional()
                .sensitive()
                .describe("Password of `user` (`cipassword`). Proxmox VE never returns it, so it never shows as drift. Kept in state: prefer `password_wo`.")
                .after_import("Proxmox VE only shows that a cloud-init password is set. Leave `password` and `password_wo` unset to keep the VM's current password; to manage it, set `password_wo` (from a variable) and `password_wo_version = 1`, and the next apply sends it."),
        )
        .attribute(
            "password_wo",
            Attribute::string()
                .optional()
                .sensitive()
                .write_only()
                .describe(
                    "Password of `user` (`cipassword`), write-only (Terraform 1.11 or later): never stored in plan or \
                     state. Sent when the VM is created and whenever `password_wo_version` changes; changing only this \
                     value plans nothing. Needs `password_wo_version`; excludes `password`.",
                ),
        )
        .attribute(
            "password_wo_version",
            Attribute::int().optional().describe(
                "Version of `password_wo`: change it (any number) to send a new password. A refresh that finds the \
                 VM without a password clears it, so the next apply sends the password again; after an import it \
                 is unset, so the first apply sends the password.",
            ),
        )
        .attribute(
            "ssh_keys",
            Attribute::list(Type::String).optional().describe("Public SSH keys for `user`."),
        )
        .attribute(
            "upgrade",
            Attribute::bool().optional().describe("Upgrade packages on first boot (`ciupgrade`). Unset leaves the Proxmox VE default."),
        )
        .attribute("ip_config", ip)
        .attribute(
            "dns",
            Attribute::nested(
                Nesting::Single,
                [
                    (
                        "servers",
                        Attribute::list(Type::String)
                            .optional()
                            .describe("DNS servers (`nameserver`).")
                            .validator(list_of("ip", "an IP address")),
                    ),
                    ("domain", Attribute::string().optional().describe("Search domain (`searchdomain`).")),
                ],
            )
            .optional()
            .describe("DNS settings."),
        )
        .attribute("user_data", snippet("user"))
        .attribute("network_data", snippet("network"))
        .attribute("meta_data", snippet("meta"))
        .attribute("vendor_data", snippet("vendor"));
        s.block("initialization", Block::single(init))
    }

    /// Read only when the block is in state (or import found cloud-init
    /// settings): otherwise it stays absent.
    fn fill(prior: Option<InitModel>, cfg: &VmConfig) -> Option<InitModel> {
        let mut init = prior?;
        fill_init(&mut init, cfg);
        Some(init)
    }

    fn diff(
        ch: &mut Changes,
        init: &InitModel,
        prior: Option<&InitModel>,
        cfg: &VmConfig,
    ) -> Result<()> {
        diff_init(ch, init, prior, cfg);
        Ok(())
    }

    /// The cloud-init drive's slot is not a disk's; `ip_config` is for
    /// NICs in `network`; one kind of password, and `password_wo` with its
    /// version.
    fn validate(config: &Value, d: &mut Diagnostics) {
        validate_password(config, d);
        if let Some(Value::Map(disks)) = known(config, &["disk"])
            && let Some(iface) =
                known(config, &["initialization", "interface"]).and_then(Value::as_str)
            && disks.contains_key(iface)
        {
            d.attribute_error(
                AttributePath::attr("initialization").join_attr("interface"),
                "Slot used twice",
                format!("initialization.interface: {iface} is also a disk slot."),
            );
        }
        if let (Some(Value::Map(ips)), Some(Value::Map(nets))) = (
            known(config, &["initialization", "ip_config"]),
            known(config, &["network"]),
        ) {
            for slot in ips.keys() {
                if !nets.contains_key(slot) {
                    d.attribute_error(
                        AttributePath::attr("initialization")
                            .join_attr("ip_config")
                            .join_key(slot),
                        "No such NIC",
                        format!("initialization.ip_config: {slot} is not in `network`."),
                    );
                }
            }
        }
    }
}

/// `password` excludes `password_wo`; `password_wo` and
/// `password_wo_version` go together. Unknown values count as set.
fn validate_password(config: &Value, d: &mut Diagnostics) {
    let init = config.get("initialization").unwrap_or(&Value::Null);
    let set = |k: &str| init.get(k).is_some_and(|v| !v.is_null());
    let at = |k: &str| AttributePath::attr("initialization").join_attr(k);
    if set("password") && set("password_wo") {
        d.attribute_error(
            at("password_wo"),
            "Conflicting passwords",
            "initialization: `password` and `password_wo` exclude each other: set one of them \
             (`password_wo` keeps the password out of state).",
        );
    }
    match (set("password_wo"), set("password_wo_version")) {
        (true, false) => d.attribute_error(
            at("password_wo_version"),
            "Missing attribute",
            "initialization: `password_wo` needs `password_wo_version` (any number; change it to \
             send a new password).",
        ),
        (false, true) => d.attribute_error(
            at("password_wo"),
            "Missing attribute",
            "initialization: `password_wo_version` is set without `password_wo`.",
        ),
        _ => {}
    }
}

/// Whether `cfg` holds cloud-init settings (a cloud-init drive, or any of
/// its keys): import then reads them into `initialization`.
pub(super) fn present(cfg: &VmConfig) -> bool {
    cloudinit_drive(cfg).is_some()
        || cfg
            .keys
            .keys()
            .any(|k| k.starts_with("ci") || k.starts_with("ipconfig") || k == "sshkeys")
}

fn ip_or(
    keywords: &'static [&'static str],
    v6: bool,
) -> impl labforge_framework::schema::Validator {
    let kw = keywords
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    validators::from_fn(
        format!(
            "{kw}, or an {} address with prefix length, e.g. `{}`.",
            if v6 { "IPv6" } else { "IPv4" },
            if v6 { "fd00::5/64" } else { "10.0.0.5/24" }
        ),
        move |v| {
            let Some(s) = v.as_str() else { return Ok(()) };
            if keywords.contains(&s) {
                return Ok(());
            }
            let err = || {
                format!(
                    "{s:?} is not {} or an {} address with prefix length",
                    keywords.join("/"),
                    if v6 { "IPv6" } else { "IPv4" }
                )
            };
            let (a, l) = s.split_once('/').ok_or_else(err)?;
            let addr: std::net::IpAddr = a.parse().map_err(|_| err())?;
            let len: u8 = l.parse().map_err(|_| err())?;
            if addr.is_ipv6() != v6 || len > if v6 { 128 } else { 32 } {
                return Err(err());
            }
            Ok(())
        },
    )
}

fn cloudinit_drive(cfg: &VmConfig) -> Option<(String, Disk)> {
    cfg.keys
        .iter()
        .filter(|(k, _)| pveconf::is_disk_slot(k))
        .map(|(k, v)| (k.clone(), Disk::parse(v)))
        .find(|(_, d)| d.is_cloudinit())
}

fn ip_index(slot: &str) -> &str {
    slot.trim_start_matches("net")
}

fn fill_init(init: &mut InitModel, cfg: &VmConfig) {
    if let Some((slot, d)) = cloudinit_drive(cfg) {
        init.interface = Some(slot);
        init.storage = d.storage().map(str::to_string);
    } else {
        init.interface = None;
        init.storage = None;
    }
    init.user = cfg.get("ciuser").map(str::to_string);
    // Proxmox VE masks the password: keep ours unless it was removed. A
    // write-only password that is gone is sent again by the next apply.
    if cfg.get("cipassword").is_none() {
        init.password = None;
        init.password_wo_version = None;
    }
    init.password_wo = None;
    let keys = cfg
        .get("sshkeys")
        .map(pveconf::decode_ssh_keys)
        .unwrap_or_default();
    let mine: Vec<String> = init
        .ssh_keys
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if mine != keys {
        init.ssh_keys = (!keys.is_empty()).then_some(keys);
    }
    if cfg.get("ciupgrade").is_some() || init.upgrade.is_some() {
        init.upgrade = Some(cfg.get("ciupgrade").is_none_or(|v| v == "1"));
    }
    let mut ips = BTreeMap::new();
    for (k, v) in &cfg.keys {
        if let Some(n) = k.strip_prefix("ipconfig") {
            let c = IpConfig::parse(v);
            ips.insert(
                format!("net{n}"),
                IpModel {
                    ipv4_address: c.ip,
                    ipv4_gateway: c.gw,
                    ipv6_address: c.ip6,
                    ipv6_gateway: c.gw6,
                },
            );
        }
    }
    init.ip_config = if ips.is_empty() && init.ip_config.is_none() {
        None
    } else {
        Some(ips)
    };
    let servers: Option<Vec<String>> = cfg
        .get("nameserver")
        .map(|s| s.split_whitespace().map(str::to_string).collect());
    let domain = cfg.get("searchdomain").map(str::to_string);
    init.dns = if servers.is_none() && domain.is_none() && init.dns.is_none() {
        None
    } else {
        Some(DnsModel { servers, domain })
    };
    let custom = cfg
        .get("cicustom")
        .map(pveconf::parse_cicustom)
        .unwrap_or_default();
    let part = |k: &str| {
        custom
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.clone())
    };
    init.user_data = part("user");
    init.network_data = part("network");
    init.meta_data = part("meta");
    init.vendor_data = part("vendor");
}

fn diff_init(ch: &mut Changes, init: &InitModel, prior: Option<&InitModel>, cfg: &VmConfig) {
    if cloudinit_drive(cfg).is_none() {
        let slot = init.interface.clone().unwrap_or_else(|| "ide2".into());
        let storage = init.storage.clone().unwrap_or_else(|| "local-lvm".into());
        ch.set.push((slot, format!("{storage}:cloudinit")));
    }
    set_if(ch, cfg, "ciuser", init.user.clone());
    match &init.password {
        Some(p) => {
            let changed = prior.and_then(|i| i.password.as_ref()) != Some(p);
            if changed || cfg.get("cipassword").is_none() {
                ch.set.push(("cipassword".into(), p.clone()));
            }
        }
        None => match &init.password_wo {
            Some(p) => {
                let version = prior.and_then(|i| i.password_wo_version);
                if version != init.password_wo_version || cfg.get("cipassword").is_none() {
                    ch.set.push(("cipassword".into(), p.clone()));
                }
            }
            // Only a password this configuration managed (and no longer
            // sets) is removed: after an import state has none, and the
            // VM's password, which Proxmox VE never shows, is left alone.
            None if cfg.get("cipassword").is_some()
                && prior
                    .is_some_and(|i| i.password.is_some() || i.password_wo_version.is_some()) =>
            {
                ch.delete.push("cipassword".into())
            }
            None => {}
        },
    }
    let keys: Vec<String> = init
        .ssh_keys
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    let have = cfg
        .get("sshkeys")
        .map(pveconf::decode_ssh_keys)
        .unwrap_or_default();
    if keys != have {
        if keys.is_empty() {
            ch.delete.push("sshkeys".into());
        } else {
            ch.set
                .push(("sshkeys".into(), pveconf::encode_ssh_keys(&keys)));
        }
    }
    if let Some(u) = init.upgrade
        && cfg.get("ciupgrade").is_none_or(|v| v == "1") != u
    {
        ch.set.push(("ciupgrade".into(), yes(u)));
    }
    let ips = init.ip_config.clone().unwrap_or_default();
    for (slot, ip) in &ips {
        let key = format!("ipconfig{}", ip_index(slot));
        let want = IpConfig {
            ip: ip.ipv4_address.clone(),
            gw: ip.ipv4_gateway.clone(),
            ip6: ip.ipv6_address.clone(),
            gw6: ip.ipv6_gateway.clone(),
        };
        let have = cfg.get(&key).map(IpConfig::parse);
        if have.as_ref() != Some(&want) {
            if want == IpConfig::default() {
                if have.is_some() {
                    ch.delete.push(key);
                }
            } else {
                ch.set.push((key, want.render()));
            }
        }
    }
    for k in cfg.keys.keys().filter(|k| k.starts_with("ipconfig")) {
        let slot = format!("net{}", k.trim_start_matches("ipconfig"));
        if !ips.contains_key(&slot) {
            ch.delete.push(k.clone());
        }
    }
    let dns = init.dns.clone().unwrap_or_default();
    let servers = dns.servers.filter(|s| !s.is_empty()).map(|s| s.join(" "));
    let have_servers = cfg
        .get("nameserver")
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
    if servers != have_servers {
        match servers {
            Some(s) => ch.set.push(("nameserver".into(), s)),
            None => ch.delete.push("nameserver".into()),
        }
    }
    set_if(ch, cfg, "searchdomain", dns.domain);
    let parts: Vec<String> = [
        ("user", &init.user_data),
        ("network", &init.network_data),
        ("meta", &init.meta_data),
        ("vendor", &init.vendor_data),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect();
    let want = (!parts.is_empty()).then(|| parts.join(","));
    let have = cfg.get("cicustom").map(|c| {
        let mut p = pveconf::parse_cicustom(c);
        let order = ["user", "network", "meta", "vendor"];
        p.sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap_or(9));
        p.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    });
    if want != have {
        match want {
            Some(w) => ch.set.push(("cicustom".into(), w)),
            None => ch.delete.push("cicustom".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::vm::testing::{cfg, obj};

    /// A password this configuration never set (after an import: state has
    /// none) is left alone by an update; one it managed and no longer sets
    /// is removed.
    #[test]
    fn only_a_managed_password_is_removed() {
        let c = cfg(&[
            ("ide2", "local-lvm:vm-101-cloudinit,media=cdrom"),
            ("ciuser", "ops"),
            ("cipassword", "**********"),
        ]);
        let plan = InitModel {
            user: Some("ops".into()),
            ..InitModel::default()
        };
        let imported = plan.clone();
        let mut ch = Changes::default();
        diff_init(&mut ch, &plan, Some(&imported), &c);
        assert!(ch.is_empty(), "{ch:?}");
        let managed = InitModel {
            password_wo_version: Some(1),
            ..plan.clone()
        };
        let mut ch = Changes::default();
        diff_init(&mut ch, &plan, Some(&managed), &c);
        assert_eq!(ch.delete, vec!["cipassword".to_string()]);
    }

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    /// The cloud-init drive's slot is not a disk's, and `ip_config` names
    /// NICs in `network`.
    #[test]
    fn validate_checks_slots_against_disks_and_nics() {
        let config = obj(&[
            ("disk", map(&[("ide2", obj(&[]))])),
            ("network", map(&[("net0", obj(&[]))])),
            (
                "initialization",
                obj(&[
                    ("interface", Value::string("ide2")),
                    ("ip_config", map(&[("net0", obj(&[])), ("net1", obj(&[]))])),
                ]),
            ),
        ]);
        let mut d = Diagnostics::new();
        CloudInit::validate(&config, &mut d);
        let details: Vec<&str> = d.iter().map(|x| x.detail.as_str()).collect();
        assert_eq!(
            details,
            vec![
                "initialization.interface: ide2 is also a disk slot.",
                "initialization.ip_config: net1 is not in `network`.",
            ]
        );
    }

    /// Without the block in state nothing is read; with it, the drive and
    /// the settings are, and the password (masked by Proxmox VE) is kept.
    #[test]
    fn fill_reads_only_a_block_in_state() {
        let c = cfg(&[
            ("ide2", "local-lvm:vm-100-cloudinit,media=cdrom"),
            ("ciuser", "ops"),
            ("cipassword", "**********"),
            ("ipconfig0", "ip=dhcp"),
        ]);
        assert!(present(&c));
        assert_eq!(CloudInit::fill(None, &c), None);
        let prior = InitModel {
            password: Some("s3cret".into()),
            ..InitModel::default()
        };
        let got = CloudInit::fill(Some(prior), &c).unwrap();
        assert_eq!(got.interface.as_deref(), Some("ide2"));
        assert_eq!(got.storage.as_deref(), Some("local-lvm"));
        assert_eq!(got.user.as_deref(), Some("ops"));
        assert_eq!(got.password.as_deref(), Some("s3cret"));
        let ip = &got.ip_config.as_ref().unwrap()["net0"];
        assert_eq!(ip.ipv4_address.as_deref(), Some("dhcp"));
        assert!(!present(&cfg(&[(
            "scsi0",
            "local-lvm:vm-100-disk-0,size=2G"
        )])));
    }

    fn wo(password: &str, version: i64) -> InitModel {
        InitModel {
            password_wo: Some(password.into()),
            password_wo_version: Some(version),
            ..InitModel::default()
        }
    }

    /// The `cipassword` a diff sends, if any.
    fn sent(init: &InitModel, prior: Option<&InitModel>, c: &VmConfig) -> Option<String> {
        let mut ch = Changes::default();
        diff_init(&mut ch, init, prior, c);
        assert!(!ch.delete.contains(&"cipassword".to_string()), "{ch:?}");
        ch.set
            .into_iter()
            .find(|(k, _)| k == "cipassword")
            .map(|(_, v)| v)
    }

    /// `password_wo` is sent on create, when its version changes and when
    /// the VM lost its password; a changed value alone sends nothing.
    #[test]
    fn write_only_password_is_sent_only_when_its_version_changes() {
        let drive = ("ide2", "local-lvm:vm-100-cloudinit,media=cdrom");
        let with_pw = cfg(&[drive, ("cipassword", "**********")]);
        let without = cfg(&[drive]);
        assert_eq!(sent(&wo("one", 1), None, &without).as_deref(), Some("one"));
        // A clone whose template has a password: still sent on create.
        assert_eq!(sent(&wo("one", 1), None, &with_pw).as_deref(), Some("one"));
        let state = InitModel {
            password_wo_version: Some(1),
            ..InitModel::default()
        };
        assert_eq!(sent(&wo("two", 1), Some(&state), &with_pw), None);
        assert_eq!(
            sent(&wo("two", 2), Some(&state), &with_pw).as_deref(),
            Some("two")
        );
        assert_eq!(
            sent(&wo("two", 1), Some(&state), &without).as_deref(),
            Some("two"),
            "gone from the VM: sent again"
        );
        // Neither password configured: the VM's password is removed.
        let mut ch = Changes::default();
        diff_init(&mut ch, &InitModel::default(), Some(&state), &with_pw);
        assert_eq!(ch.delete, ["cipassword"]);
    }

    /// Refresh never holds the write-only value, keeps the version while the
    /// VM has a password, and clears it when the password is gone.
    #[test]
    fn fill_keeps_the_version_while_a_password_is_set() {
        let drive = ("ide2", "local-lvm:vm-100-cloudinit,media=cdrom");
        let got = CloudInit::fill(
            Some(wo("one", 3)),
            &cfg(&[drive, ("cipassword", "**********")]),
        )
        .unwrap();
        assert_eq!((got.password_wo, got.password_wo_version), (None, Some(3)));
        let got = CloudInit::fill(Some(wo("one", 3)), &cfg(&[drive])).unwrap();
        assert_eq!((got.password_wo, got.password_wo_version), (None, None));
    }

    /// `password` and `password_wo` exclude each other; `password_wo` and
    /// its version go together (unknown counts as set).
    #[test]
    fn validate_checks_the_password_attributes() {
        let run = |pairs: &[(&str, Value)]| {
            let mut d = Diagnostics::new();
            CloudInit::validate(&obj(&[("initialization", obj(pairs))]), &mut d);
            d.iter()
                .map(|x| format!("{}: {}", x.attribute.as_ref().unwrap(), x.summary))
                .collect::<Vec<_>>()
        };
        let pw = || ("password", Value::string("a"));
        let wo = || ("password_wo", Value::string("b"));
        let v1 = || ("password_wo_version", Value::from_i64(1));
        assert!(run(&[wo(), v1()]).is_empty());
        assert!(run(&[("password_wo", Value::unknown()), v1()]).is_empty());
        assert!(run(&[pw()]).is_empty());
        assert_eq!(
            run(&[pw(), wo(), v1()]),
            ["initialization.password_wo: Conflicting passwords"]
        );
        assert_eq!(
            run(&[wo()]),
            ["initialization.password_wo_version: Missing attribute"]
        );
        assert_eq!(
            run(&[v1()]),
            ["initialization.password_wo: Missing attribute"]
        );
        assert!(run(&[]).is_empty());
    }

    /// The schema passes the framework's rules (write-only inside the
    /// single `initialization` block), and only `password_wo` is write-only.
    #[test]
    fn password_wo_is_write_only_and_sensitive() {
        let s = CloudInit::schema(Schema::new("t"));
        assert!(
            s.definition_errors().is_empty(),
            "{:?}",
            s.definition_errors()
        );
        let init = &s.blocks["initialization"].schema;
        let a = &init.attributes["password_wo"];
        assert!(a.write_only && a.sensitive && !a.computed);
        assert!(!init.attributes["password_wo_version"].write_only);
        assert!(!init.attributes["password"].write_only);
    }
}
