//! `homelab_proxmox_vm`: a QEMU virtual machine, created from scratch or
//! cloned from a template.
//!
//! Disks and NICs are maps keyed by slot (`scsi0`, `net0`), so their order
//! never drifts. Disks grow in place; shrinking is refused at plan time.
//! Refresh reads `config` and `status/current` only (two requests) and never
//! waits on the guest agent; addresses are collected, with a bounded wait,
//! when the VM is created.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use labforge_framework::context::StopTrigger;
use labforge_framework::schema::{Attribute, Block, Nesting, Schema, modifiers, validators};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, Error, Resource, Result, StopSignal, Type, Value,
};
use serde::{Deserialize, Serialize};

use crate::client::{
    ApiError, Client, CloneOf, ConfigChange, GuestInterface, Made, NewVm, VmConfig, VmStatus, pause,
};
use crate::pveconf::{self, Disk, IpConfig, Net, Props};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vm;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CloneModel {
    pub vm_id: i64,
    pub node: Option<String>,
    pub full: Option<bool>,
    pub target_storage: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuModel {
    pub cores: Option<i64>,
    pub sockets: Option<i64>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryModel {
    pub dedicated: Option<i64>,
    pub balloon: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DiskModel {
    pub storage: Option<String>,
    pub size: Option<i64>,
    pub import_from: Option<String>,
    pub discard: Option<bool>,
    pub iothread: Option<bool>,
    pub ssd: Option<bool>,
    pub cache: Option<String>,
    pub volume: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetModel {
    pub bridge: String,
    pub model: Option<String>,
    pub vlan: Option<i64>,
    pub mac: Option<String>,
    pub firewall: Option<bool>,
    pub mtu: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IpModel {
    pub ipv4_address: Option<String>,
    pub ipv4_gateway: Option<String>,
    pub ipv6_address: Option<String>,
    pub ipv6_gateway: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DnsModel {
    pub servers: Option<Vec<String>>,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InitModel {
    pub storage: Option<String>,
    pub interface: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub ssh_keys: Option<Vec<String>>,
    pub upgrade: Option<bool>,
    pub ip_config: Option<BTreeMap<String, IpModel>>,
    pub dns: Option<DnsModel>,
    pub user_data: Option<String>,
    pub network_data: Option<String>,
    pub meta_data: Option<String>,
    pub vendor_data: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EfiModel {
    pub storage: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub pre_enrolled_keys: Option<bool>,
}

/// One VM.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmModel {
    pub id: Option<String>,
    pub node: String,
    pub vm_id: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub pool: Option<String>,
    pub clone: Option<CloneModel>,
    pub cpu: Option<CpuModel>,
    pub memory: Option<MemoryModel>,
    pub disk: Option<BTreeMap<String, DiskModel>>,
    pub network: Option<BTreeMap<String, NetModel>>,
    pub initialization: Option<InitModel>,
    pub agent: Option<bool>,
    pub started: Option<bool>,
    pub on_boot: Option<bool>,
    pub boot_order: Option<Vec<String>>,
    pub bios: Option<String>,
    pub machine: Option<String>,
    pub efi_disk: Option<EfiModel>,
    pub template: Option<bool>,
    pub reboot_after_update: Option<bool>,
    pub wait_for_ip_seconds: Option<i64>,
    pub ipv4_addresses: Option<Vec<String>>,
    pub ipv6_addresses: Option<Vec<String>>,
}

impl VmModel {
    fn vmid(&self) -> Result<i64> {
        self.vm_id.ok_or_else(|| {
            Error::msg("the VM has no vm_id in state").at(AttributePath::attr("vm_id"))
        })
    }
    fn started(&self) -> bool {
        self.started.unwrap_or(true) && !self.template.unwrap_or(false)
    }
}

fn api(what: impl std::fmt::Display, e: ApiError) -> Error {
    Error::msg(format!("{what}: {e}"))
}

fn yes(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

/// Computed attribute whose value stays once known.
fn computed(a: Attribute) -> Attribute {
    a.computed().plan_modifier(keep_state())
}

/// Like `use_state_for_unknown`, but also keeps a null prior value: an unset
/// inherited value is never changed by an update, so it stays what it was.
fn keep_state() -> impl labforge_framework::schema::PlanModifier {
    modifiers::from_fn(
        "Unless set in configuration, the value stays as it is.",
        |req, resp| {
            if req.creating || !resp.plan.is_unknown() || !req.config.is_null() {
                return;
            }
            resp.plan = req.state.clone();
        },
    )
}

/// Optional, and inherited (from the template or Proxmox VE defaults) when unset.
fn inherited(a: Attribute) -> Attribute {
    a.optional().computed().plan_modifier(keep_state())
}

/// Replace only when a value recorded before changes (not when it is first
/// recorded, e.g. after import).
fn replace_if_was_set(what: &str) -> impl labforge_framework::schema::PlanModifier + use<> {
    modifiers::requires_replace_if(
        format!("Changing {what} forces a new resource."),
        |req, _| !req.state.is_null(),
    )
}

fn no_shrink() -> impl labforge_framework::schema::PlanModifier {
    modifiers::from_fn(
        "Disks grow in place; a smaller size is refused at plan time (Proxmox VE cannot shrink disks).",
        |req, resp| {
            if req.creating {
                return;
            }
            if let (Some(s), Some(p)) = (req.state.as_number(), resp.plan.as_number())
                && p.as_f64() < s.as_f64()
            {
                resp.diagnostics.attribute_error(
                    req.path.clone(),
                    "Disk cannot shrink",
                    format!(
                        "{}: {p} GiB is smaller than the current {s} GiB. Proxmox VE cannot shrink \
                         disks; keep the size or grow it (or replace the VM).",
                        req.path
                    ),
                );
            }
        },
    )
}

fn tag_validator() -> impl labforge_framework::schema::Validator {
    validators::from_fn(
        "Each tag: letters, digits, `_`, `-`, `+`, `.`; not starting with `-`, `+` or `.`.",
        |v| {
            for t in v.elements().unwrap_or(&[]) {
                let Some(s) = t.as_str() else { continue };
                let ok = !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-+.".contains(c))
                    && !s.starts_with(['-', '+', '.']);
                if !ok {
                    return Err(format!("{s:?} is not a valid Proxmox VE tag"));
                }
            }
            Ok(())
        },
    )
}

fn list_of(
    pattern: &'static str,
    what: &'static str,
) -> impl labforge_framework::schema::Validator {
    validators::from_fn(format!("Each element must be {what}."), move |v| {
        for e in v.elements().unwrap_or(&[]) {
            if let Some(s) = e.as_str() {
                let ok = match pattern {
                    "boot" => {
                        pveconf::is_disk_slot(s) || pveconf::is_net_slot(s) || s == "efidisk0"
                    }
                    _ => s.parse::<std::net::IpAddr>().is_ok(),
                };
                if !ok {
                    return Err(format!("{s:?} is not {what}"));
                }
            }
        }
        Ok(())
    })
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

pub fn vm_schema() -> Schema {
    let disk = Attribute::nested(
        Nesting::Map,
        [
            (
                "storage",
                inherited(Attribute::string())
                    .describe("Storage for the disk, e.g. `local-lvm`. Required for new disks. A change moves the disk (`move_disk`)."),
            ),
            (
                "size",
                inherited(Attribute::int())
                    .describe("Size in GiB. Required for new disks unless `import_from` is set. Grows in place; cannot shrink.")
                    .validator(validators::between(1, 131_072))
                    .plan_modifier(no_shrink()),
            ),
            (
                "import_from",
                Attribute::string()
                    .optional()
                    .describe("Volume to import the disk from, e.g. `local:import/noble.qcow2` (see `homelab_proxmox_download_file`). Used when the disk is created.")
                    .plan_modifier(replace_if_was_set("`import_from`")),
            ),
            ("discard", inherited(Attribute::bool()).describe("Pass discard/TRIM to the storage.")),
            ("iothread", inherited(Attribute::bool()).describe("Use a dedicated IO thread.")),
            ("ssd", inherited(Attribute::bool()).describe("Present the disk as an SSD.")),
            (
                "cache",
                inherited(Attribute::string())
                    .describe("Cache mode.")
                    .validator(validators::one_of(&["none", "writethrough", "writeback", "unsafe", "directsync"])),
            ),
            ("volume", computed(Attribute::string()).describe("Volume ID, e.g. `local-lvm:vm-100-disk-0`.")),
        ],
    );
    let network = Attribute::nested(
        Nesting::Map,
        [
            (
                "bridge",
                Attribute::string()
                    .required()
                    .describe("Bridge, e.g. `vmbr0`."),
            ),
            (
                "model",
                Attribute::string()
                    .default("virtio")
                    .describe("NIC model.")
                    .validator(validators::one_of(pveconf::NIC_MODELS)),
            ),
            (
                "vlan",
                Attribute::int()
                    .optional()
                    .describe("VLAN tag.")
                    .validator(validators::between(1, 4094)),
            ),
            (
                "mac",
                inherited(Attribute::string())
                    .describe("MAC address. Generated by Proxmox VE when unset (and kept).")
                    .validator(validators::matches(
                        "^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$",
                        "a MAC address like `BC:24:11:00:00:01`",
                    )),
            ),
            (
                "firewall",
                Attribute::bool()
                    .default(false)
                    .describe("Enable the Proxmox VE firewall on this NIC."),
            ),
            (
                "mtu",
                Attribute::int()
                    .optional()
                    .describe("MTU (`1` = the bridge's MTU).")
                    .validator(validators::between(1, 65520)),
            ),
        ],
    );
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
            .describe("Password of `user` (`cipassword`). Proxmox VE never returns it, so it never shows as drift."),
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
    let clone = Schema::new(
        "Clone this VM or template instead of creating an empty VM. Only used when the VM is \
         created: after an import the source is taken from Proxmox VE where it shows (a \
         template with the same creation `meta`), and a differing block changes nothing.",
    )
        .attribute(
            "vm_id",
            Attribute::int()
                .required()
                .describe("VMID of the source (usually a template).")
                .validator(validators::between(100, 999_999_999)),
        )
        .attribute(
            "node",
            Attribute::string()
                .optional()
                .describe("Node of the source. Default: `node`. Checked against the cluster's nodes at plan time."),
        )
        .attribute(
            "full",
            Attribute::bool().default(true).describe(
                "Full clone (independent disks). `false` makes a linked clone (templates only).",
            ),
        )
        .attribute(
            "target_storage",
            Attribute::string()
                .optional()
                .describe("Storage for the disks of a full clone (not allowed with `full = false`). Default: the source's. A clone to another `node` needs shared storage."),
        );

    Schema::new(
        "A Proxmox VE QEMU virtual machine, created empty (disks allocated or imported) or cloned \
         from a template. Disks and NICs are keyed by slot, so their order never drifts. Refresh \
         costs two API requests per VM and never waits for the guest agent.",
    )
    .attribute(
        "id",
        computed(Attribute::string()).describe("`node/vm_id` (also the import ID)."),
    )
    .attribute(
        "node",
        Attribute::string()
            .required()
            .describe("Node to create the VM on, checked against the cluster's nodes at plan time. Changing it replaces the VM.")
            .plan_modifier(modifiers::requires_replace()),
    )
    .attribute(
        "vm_id",
        inherited(Attribute::int())
            .describe("VMID. When unset, the next free one is allocated (without races between parallel creates).")
            .validator(validators::between(100, 999_999_999))
            .plan_modifier(modifiers::requires_replace()),
    )
    .attribute(
        "name",
        inherited(Attribute::string())
            .describe("VM name (a DNS name).")
            .validator(validators::dns_name(false)),
    )
    .attribute("description", Attribute::string().optional().describe("Description (notes)."))
    .attribute(
        "tags",
        inherited(Attribute::set(Type::String))
            .describe("Tags. Proxmox VE sorts them; order never shows as a change.")
            .validator(tag_validator()),
    )
    .attribute(
        "pool",
        Attribute::string()
            .optional()
            .describe("Resource pool the VM is a member of (the pool must exist). Changing it moves the VM in place. When unset, pool membership is not managed (a VM added to a pool elsewhere is left there)."),
    )
    .block("clone", Block::single(clone).plan_modifier(replace_if_was_set("`clone`")))
    .attribute(
        "cpu",
        inherited(Attribute::nested(
            Nesting::Single,
            [
                ("cores", inherited(Attribute::int()).describe("Cores per socket. Default 1.").validator(validators::between(1, 1024))),
                ("sockets", inherited(Attribute::int()).describe("Sockets. Default 1.").validator(validators::between(1, 16))),
                ("type", inherited(Attribute::string()).describe("CPU type, e.g. `host` or `x86-64-v2-AES`.")),
            ],
        ))
        .describe("CPU. Unset values are inherited (from the template, or Proxmox VE defaults)."),
    )
    .attribute(
        "memory",
        inherited(Attribute::nested(
            Nesting::Single,
            [
                ("dedicated", inherited(Attribute::int()).describe("Memory in MiB. Default 512.").validator(validators::between(16, 8_388_608))),
                ("balloon", inherited(Attribute::int()).describe("Minimum memory in MiB for ballooning; `0` disables the balloon device.").validator(validators::between(0, 8_388_608))),
            ],
        ))
        .describe("Memory."),
    )
    .attribute(
        "disk",
        inherited(disk)
            .describe(
                "Disks keyed by slot (`scsi0`, `virtio1`, `sata0`, `ide0`). Unset on a clone: the \
                 template's disks are kept as they are. A slot removed from the map is detached \
                 and destroyed.",
            )
            .validator(validators::keys_match(pveconf::DISK_SLOT_RE, "a disk slot like `scsi0` (ide0-3, sata0-5, scsi0-30, virtio0-15)")),
    )
    .attribute(
        "network",
        inherited(network)
            .describe("Network devices keyed by slot (`net0`…`net31`). Unset on a clone: the template's NICs are kept.")
            .validator(validators::keys_match(pveconf::NET_SLOT_RE, "a NIC slot like `net0` (net0-31)")),
    )
    .block("initialization", Block::single(init))
    .attribute("agent", Attribute::bool().default(true).describe("Enable the QEMU guest agent."))
    .attribute("started", Attribute::bool().default(true).describe("Keep the VM running."))
    .attribute("on_boot", Attribute::bool().default(false).describe("Start the VM when the node boots."))
    .attribute(
        "boot_order",
        inherited(Attribute::list(Type::String))
            .describe("Boot devices in order, e.g. `[\"scsi0\", \"net0\"]`.")
            .validator(list_of("boot", "a disk or NIC slot")),
    )
    .attribute(
        "bios",
        inherited(Attribute::string()).describe("`seabios` or `ovmf` (UEFI; add `efi_disk`).").validator(validators::one_of(&["seabios", "ovmf"])),
    )
    .attribute(
        "machine",
        inherited(Attribute::string()).describe("Machine type, e.g. `q35` or `pc`."),
    )
    .attribute(
        "efi_disk",
        inherited(Attribute::nested(
            Nesting::Single,
            [
                ("storage", Attribute::string().required().describe("Storage for the EFI vars disk.")),
                ("type", Attribute::string().default("4m").describe("`2m` or `4m`.").validator(validators::one_of(&["2m", "4m"]))),
                ("pre_enrolled_keys", Attribute::bool().default(false).describe("Pre-enroll Secure Boot keys.")),
            ],
        ))
        .describe("EFI vars disk (for `bios = \"ovmf\"`), allocated when the VM is created (or when added later). Unset: a clone keeps its template's. Changing it replaces the VM.")
        .plan_modifier(replace_if_was_set("`efi_disk`")),
    )
    .attribute(
        "template",
        Attribute::bool()
            .default(false)
            .describe("Make the VM a template (converted after creation; a template cannot become a VM again, so `false` after `true` replaces it).")
            .plan_modifier(modifiers::requires_replace_if(
                "Turning a template back into a VM forces a new resource.",
                |req, plan| req.state == &Value::Bool(true) && plan == &Value::Bool(false),
            )),
    )
    .attribute(
        "reboot_after_update",
        Attribute::bool()
            .default(false)
            .describe(
                "Reboot a running VM when, after an update, changes are pending (values Proxmox VE applies only at the next start, e.g. `cpu` or `memory` without hotplug). \
                 When `false`, a warning lists the pending keys and the VM keeps running with the old values. \
                 State always holds the configured (pending) values, as `GET config` returns them, so pending changes never show as a diff; \
                 they take effect at the next reboot, or at the next update with this set to `true`. \
                 Only used by updates: after an import, a value in configuration shows no change until something else changes.",
            ),
    )
    .attribute(
        "wait_for_ip_seconds",
        Attribute::int()
            .default(60)
            .describe("On create only: how long to wait for the guest agent to report an IP address (`0`: don't wait). Refresh never waits; after an import, a value in configuration shows no change.")
            .validator(validators::between(0, 3600)),
    )
    .attribute(
        "ipv4_addresses",
        computed(Attribute::list(Type::String)).describe("IPv4 addresses the guest agent reported when the VM was created."),
    )
    .attribute(
        "ipv6_addresses",
        computed(Attribute::list(Type::String)).describe("IPv6 addresses the guest agent reported when the VM was created."),
    )
}

fn known<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    (!cur.is_null() && !cur.is_unknown()).then_some(cur)
}

/// Cross-attribute checks at validate time.
pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let is_clone = config.get("clone").is_some_and(|c| !c.is_null());
    // qemu-server clone_vm: die "parameter 'storage' not allowed for linked
    // clones" (a linked clone's disks stay on the template's storage).
    if known(config, &["clone", "full"]) == Some(&Value::Bool(false))
        && known(config, &["clone", "target_storage"]).is_some()
    {
        d.attribute_error(
            AttributePath::attr("clone").join_attr("target_storage"),
            "Target storage needs a full clone",
            "clone.target_storage: a linked clone (`full = false`) keeps its disks on the \
             template's storage, and Proxmox VE refuses a target storage for it. Remove \
             `target_storage`, or set `full = true`.",
        );
    }
    if known(config, &["template"]) == Some(&Value::Bool(true))
        && known(config, &["started"]) == Some(&Value::Bool(true))
    {
        d.attribute_error(
            AttributePath::attr("started"),
            "A template cannot run",
            "started: set `started = false` (or leave it unset) when `template = true`.",
        );
    }
    if let Some(Value::Map(disks)) = known(config, &["disk"]) {
        for (slot, disk) in disks {
            let p = AttributePath::attr("disk").join_key(slot);
            let null = |k: &str| disk.get(k).is_none_or(Value::is_null);
            if !is_clone && null("storage") {
                d.attribute_error(
                    p.join_attr("storage"),
                    "Missing disk storage",
                    format!(
                        "disk[\"{slot}\"].storage: a new disk needs a storage, e.g. `local-lvm`."
                    ),
                );
            }
            if !is_clone && null("size") && null("import_from") {
                d.attribute_error(
                    p.join_attr("size"),
                    "Missing disk size",
                    format!("disk[\"{slot}\"].size: give `size` (GiB) or `import_from`."),
                );
            }
        }
        if let Some(iface) = known(config, &["initialization", "interface"]).and_then(Value::as_str)
            && disks.contains_key(iface)
        {
            d.attribute_error(
                AttributePath::attr("initialization").join_attr("interface"),
                "Slot used twice",
                format!("initialization.interface: {iface} is also a disk slot."),
            );
        }
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
    d
}

// ---------------------------------------------------------------------------
// Reading

fn flag(cfg: &VmConfig, k: &str) -> bool {
    cfg.get(k)
        .is_some_and(|v| matches!(v, "1" | "on" | "yes" | "true"))
}

fn disks_of(cfg: &VmConfig) -> BTreeMap<String, Disk> {
    cfg.keys
        .iter()
        .filter(|(k, _)| pveconf::is_disk_slot(k))
        .map(|(k, v)| (k.clone(), Disk::parse(v)))
        .filter(|(_, d)| !d.is_cdrom())
        .collect()
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

/// Fill `m` from the VM's config and status.
pub fn fill(m: &mut VmModel, cfg: &VmConfig, st: Option<&VmStatus>) {
    let vmid = m.vm_id.unwrap_or_default();
    m.id = Some(format!("{}/{vmid}", m.node));
    m.name = cfg.get("name").map(str::to_string);
    let desc = cfg.get("description").map(str::to_string);
    if m.description.as_deref().map(str::trim_end) != desc.as_deref().map(str::trim_end) {
        m.description = desc;
    }
    let tags = pveconf::parse_tags(cfg.get("tags").unwrap_or(""));
    let same_tags = m.tags.as_ref().is_some_and(|t| {
        let mut a: Vec<String> = t.iter().map(|x| x.to_ascii_lowercase()).collect();
        a.sort();
        a.dedup();
        a == tags
            .iter()
            .map(|x| x.to_ascii_lowercase())
            .collect::<Vec<_>>()
    });
    if !same_tags {
        m.tags = Some(tags);
    }
    m.cpu = Some(CpuModel {
        cores: Some(cfg.get("cores").and_then(|v| v.parse().ok()).unwrap_or(1)),
        sockets: Some(cfg.get("sockets").and_then(|v| v.parse().ok()).unwrap_or(1)),
        kind: cfg.get("cpu").and_then(pveconf::cpu_type),
    });
    m.memory = Some(MemoryModel {
        dedicated: Some(
            cfg.get("memory")
                .and_then(pveconf::parse_memory)
                .unwrap_or(512),
        ),
        balloon: cfg.get("balloon").and_then(|v| v.parse().ok()),
    });
    let prior_disks = m.disk.take().unwrap_or_default();
    let mut disks = BTreeMap::new();
    for (slot, d) in disks_of(cfg) {
        if d.is_cloudinit() {
            continue;
        }
        let prior = prior_disks.get(&slot);
        disks.insert(
            slot.clone(),
            DiskModel {
                storage: d.storage().map(str::to_string),
                size: d.size_gib(),
                import_from: prior.and_then(|p| p.import_from.clone()),
                discard: Some(d.props.get("discard") == Some("on")),
                iothread: Some(d.props.flag("iothread")),
                ssd: Some(d.props.flag("ssd")),
                cache: d.props.get("cache").map(str::to_string),
                volume: Some(d.volume.clone()),
            },
        );
    }
    m.disk = Some(disks);
    let prior_nets = m.network.take().unwrap_or_default();
    let mut nets = BTreeMap::new();
    for (slot, v) in cfg.keys.iter().filter(|(k, _)| pveconf::is_net_slot(k)) {
        let n = Net::parse(v);
        let prior = prior_nets.get(slot);
        let mac = match (n.mac.clone(), prior.and_then(|p| p.mac.clone())) {
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b) => Some(b),
            (a, _) => a,
        };
        nets.insert(
            slot.clone(),
            NetModel {
                bridge: n.props.get("bridge").unwrap_or_default().to_string(),
                model: Some(n.model.clone()),
                vlan: n.props.get("tag").and_then(|t| t.parse().ok()),
                mac,
                firewall: Some(n.props.flag("firewall")),
                mtu: n.props.get("mtu").and_then(|t| t.parse().ok()),
            },
        );
    }
    m.network = Some(nets);
    if let Some(init) = m.initialization.as_mut() {
        fill_init(init, cfg);
    }
    m.agent = Some(cfg.get("agent").is_some_and(pveconf::agent_enabled));
    if let Some(st) = st {
        m.started = Some(st.status == "running");
    }
    m.on_boot = Some(flag(cfg, "onboot"));
    m.boot_order = Some(cfg.get("boot").map(pveconf::parse_boot).unwrap_or_default());
    m.bios = Some(cfg.get("bios").unwrap_or("seabios").to_string());
    m.machine = cfg.get("machine").map(str::to_string);
    m.efi_disk = cfg.get("efidisk0").map(|v| {
        let d = Disk::parse(v);
        EfiModel {
            storage: d.storage().unwrap_or_default().to_string(),
            kind: Some(d.props.get("efitype").unwrap_or("2m").to_string()),
            pre_enrolled_keys: Some(d.props.flag("pre-enrolled-keys")),
        }
    });
    m.template = Some(flag(cfg, "template"));
    m.reboot_after_update.get_or_insert(false);
    m.wait_for_ip_seconds.get_or_insert(60);
    m.ipv4_addresses.get_or_insert_with(Vec::new);
    m.ipv6_addresses.get_or_insert_with(Vec::new);
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
    // Proxmox VE masks the password: keep ours unless it was removed.
    if cfg.get("cipassword").is_none() {
        init.password = None;
    }
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

// ---------------------------------------------------------------------------
// Writing

/// What an update (or the configuration of a fresh clone) changes.
#[derive(Debug, Default)]
pub struct Changes {
    pub set: Vec<(String, String)>,
    pub delete: Vec<String>,
    pub resize: Vec<(String, i64)>,
    pub moves: Vec<(String, String)>,
    /// Volumes of disks being removed (their `unusedN` leftovers are destroyed).
    pub removed_volumes: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.delete.is_empty()
            && self.resize.is_empty()
            && self.moves.is_empty()
    }
    /// Config keys touched (for messages).
    pub fn keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self.set.iter().map(|(k, _)| k.clone()).collect();
        v.extend(self.delete.iter().cloned());
        v
    }
}

fn new_disk(slot: &str, d: &DiskModel) -> Result<String> {
    let p = AttributePath::attr("disk").join_key(slot);
    let storage = d.storage.as_deref().ok_or_else(|| {
        Error::msg(format!(
            "disk[\"{slot}\"].storage: a new disk needs a storage"
        ))
        .at(p.join_attr("storage"))
    })?;
    let mut disk = match (&d.import_from, d.size) {
        (Some(src), _) => Disk {
            volume: format!("{storage}:0"),
            props: Props(vec![("import-from".into(), src.clone())]),
        },
        (None, Some(size)) => Disk {
            volume: format!("{storage}:{size}"),
            props: Props::default(),
        },
        (None, None) => {
            return Err(Error::msg(format!(
                "disk[\"{slot}\"].size: a new disk needs `size` or `import_from`"
            ))
            .at(p.join_attr("size")));
        }
    };
    disk_opts(&mut disk, d);
    Ok(disk.render())
}

fn disk_opts(disk: &mut Disk, d: &DiskModel) {
    if let Some(b) = d.discard {
        disk.props.set("discard", b.then(|| "on".to_string()));
    }
    if let Some(b) = d.iothread {
        disk.props.set("iothread", b.then(|| "1".to_string()));
    }
    if let Some(b) = d.ssd {
        disk.props.set("ssd", b.then(|| "1".to_string()));
    }
    if let Some(c) = &d.cache {
        disk.props.set("cache", Some(c.clone()));
    }
}

fn net_value(current: Option<&str>, n: &NetModel) -> String {
    let mut net = current.map(Net::parse).unwrap_or_default();
    if let Some(m) = &n.model {
        net.model = m.clone();
    }
    if net.model.is_empty() {
        net.model = "virtio".into();
    }
    if let Some(mac) = &n.mac {
        net.mac = Some(pveconf::norm_mac(mac));
    }
    net.props.set("bridge", Some(n.bridge.clone()));
    net.props.set("tag", n.vlan.map(|v| v.to_string()));
    net.props.set(
        "firewall",
        n.firewall.filter(|f| *f).map(|_| "1".to_string()),
    );
    net.props.set("mtu", n.mtu.map(|v| v.to_string()));
    // Proxmox VE writes bridge first; keep a stable order for comparison.
    let order = [
        "bridge",
        "firewall",
        "link_down",
        "mtu",
        "queues",
        "rate",
        "tag",
        "trunks",
    ];
    net.props
        .0
        .sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap_or(order.len()));
    net.render()
}

fn norm_net(v: &str) -> String {
    let mut n = Net::parse(v);
    let order = [
        "bridge",
        "firewall",
        "link_down",
        "mtu",
        "queues",
        "rate",
        "tag",
        "trunks",
    ];
    n.props.0.retain(|(k, v)| !(k == "firewall" && v == "0"));
    n.props
        .0
        .sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap_or(order.len()));
    n.render()
}

fn set_if(ch: &mut Changes, cfg: &VmConfig, key: &str, want: Option<String>) {
    match want {
        Some(v) if cfg.get(key) != Some(v.as_str()) => ch.set.push((key.to_string(), v)),
        None if cfg.get(key).is_some() => ch.delete.push(key.to_string()),
        _ => {}
    }
}

/// The changes that bring `cfg` to `plan` (`prior`: for write-only-ish values like the password).
pub fn diff(plan: &VmModel, prior: Option<&VmModel>, cfg: &VmConfig) -> Result<Changes> {
    let mut ch = Changes::default();
    if let Some(n) = &plan.name
        && cfg.get("name") != Some(n.as_str())
    {
        ch.set.push(("name".into(), n.clone()));
    }
    match (&plan.description, cfg.get("description")) {
        (Some(d), Some(c)) if d.trim_end() == c.trim_end() => {}
        (Some(d), _) => ch.set.push(("description".into(), d.clone())),
        (None, Some(_)) => ch.delete.push("description".into()),
        (None, None) => {}
    }
    if let Some(tags) = &plan.tags {
        let want = pveconf::render_tags(tags);
        let have = pveconf::render_tags(&pveconf::parse_tags(cfg.get("tags").unwrap_or("")));
        if !want.eq_ignore_ascii_case(&have) {
            if want.is_empty() {
                ch.delete.push("tags".into());
            } else {
                ch.set.push(("tags".into(), want));
            }
        }
    }
    if let Some(cpu) = &plan.cpu {
        let num = |k: &str, d: i64| cfg.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(d);
        if let Some(c) = cpu.cores
            && c != num("cores", 1)
        {
            ch.set.push(("cores".into(), c.to_string()));
        }
        if let Some(s) = cpu.sockets
            && s != num("sockets", 1)
        {
            ch.set.push(("sockets".into(), s.to_string()));
        }
        if let Some(t) = &cpu.kind
            && cfg.get("cpu").and_then(pveconf::cpu_type).as_deref() != Some(t.as_str())
        {
            ch.set
                .push(("cpu".into(), pveconf::with_cpu_type(cfg.get("cpu"), t)));
        }
    }
    if let Some(mem) = &plan.memory {
        if let Some(d) = mem.dedicated
            && Some(d)
                != cfg
                    .get("memory")
                    .and_then(pveconf::parse_memory)
                    .or(Some(512))
        {
            ch.set.push(("memory".into(), d.to_string()));
        }
        if let Some(b) = mem.balloon
            && Some(b) != cfg.get("balloon").and_then(|v| v.parse().ok())
        {
            ch.set.push(("balloon".into(), b.to_string()));
        }
    }
    if let Some(a) = plan.agent
        && a != cfg.get("agent").is_some_and(pveconf::agent_enabled)
    {
        ch.set
            .push(("agent".into(), pveconf::with_agent(cfg.get("agent"), a)));
    }
    if let Some(o) = plan.on_boot
        && o != flag(cfg, "onboot")
    {
        ch.set.push(("onboot".into(), yes(o)));
    }
    if let Some(b) = &plan.bios
        && cfg.get("bios").unwrap_or("seabios") != b
    {
        ch.set.push(("bios".into(), b.clone()));
    }
    if let Some(mch) = &plan.machine
        && cfg.get("machine") != Some(mch.as_str())
    {
        ch.set.push(("machine".into(), mch.clone()));
    }
    // The EFI vars disk is allocated once (on create, or when added to a
    // VM or clone without one); changing it replaces the VM.
    if let Some(e) = &plan.efi_disk
        && cfg.get("efidisk0").is_none()
    {
        // The size is ignored: Proxmox VE sizes it for the vars template.
        let mut v = format!(
            "{}:1,efitype={}",
            e.storage,
            e.kind.as_deref().unwrap_or("4m")
        );
        if e.pre_enrolled_keys.unwrap_or(false) {
            v.push_str(",pre-enrolled-keys=1");
        }
        ch.set.push(("efidisk0".into(), v));
    }
    // Disks.
    let have = disks_of(cfg);
    if let Some(disks) = &plan.disk {
        for (slot, d) in disks {
            let p = AttributePath::attr("disk").join_key(slot);
            match have.get(slot).filter(|h| !h.is_cloudinit()) {
                Some(h) => {
                    if let Some(s) = &d.storage
                        && h.storage() != Some(s.as_str())
                    {
                        ch.moves.push((slot.clone(), s.clone()));
                    }
                    let cur = h.size_gib().unwrap_or(0);
                    if let Some(size) = d.size {
                        if size > cur {
                            ch.resize.push((slot.clone(), size));
                        } else if size < cur {
                            return Err(Error::new(
                                "Disk cannot shrink",
                                format!("disk[\"{slot}\"].size: {size} GiB is smaller than the current {cur} GiB"),
                            )
                            .at(p.join_attr("size")));
                        }
                    }
                    let mut want = h.clone();
                    disk_opts(&mut want, d);
                    if want.render() != h.render() {
                        ch.set.push((slot.clone(), want.render()));
                    }
                }
                None => ch.set.push((slot.clone(), new_disk(slot, d)?)),
            }
        }
        for (slot, h) in &have {
            if !disks.contains_key(slot) && !h.is_cloudinit() {
                ch.delete.push(slot.clone());
                ch.removed_volumes.push(h.volume.clone());
            }
        }
    }
    // NICs.
    if let Some(nets) = &plan.network {
        for (slot, n) in nets {
            let cur = cfg.get(slot);
            let want = net_value(cur, n);
            if cur.map(norm_net) != Some(norm_net(&want)) {
                ch.set.push((slot.clone(), want));
            }
        }
        for k in cfg.keys.keys().filter(|k| pveconf::is_net_slot(k)) {
            if !nets.contains_key(k) {
                ch.delete.push(k.clone());
            }
        }
    }
    if let Some(order) = plan.boot_order.as_ref().filter(|o| !o.is_empty())
        && cfg.get("boot").map(pveconf::parse_boot).as_ref() != Some(order)
    {
        ch.set.push(("boot".into(), pveconf::render_boot(order)));
    }
    if let Some(init) = &plan.initialization {
        diff_init(
            &mut ch,
            init,
            prior.and_then(|p| p.initialization.as_ref()),
            cfg,
        );
    }
    Ok(ch)
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
        None if cfg.get("cipassword").is_some() => ch.delete.push("cipassword".into()),
        None => {}
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

/// The configuration of a VM created from scratch.
pub fn create_config(plan: &VmModel) -> Result<Vec<(String, String)>> {
    let empty = VmConfig::default();
    let mut config = diff(plan, None, &empty)?.set;
    // Agent on by default; without this key Proxmox VE leaves it off.
    if !config.iter().any(|(k, _)| k == "agent") && plan.agent.unwrap_or(true) {
        config.push(("agent".into(), "1".into()));
    }
    Ok(config)
}

// ---------------------------------------------------------------------------
// Operations

/// How long a shutdown may take before the VM is stopped.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);

/// Apply `ch` to a VM (config, disk moves, resizes), guarded by `digest`.
async fn apply_changes(
    c: &Client,
    stop: &StopSignal,
    node: &str,
    vmid: i64,
    plan: &VmModel,
    prior: Option<&VmModel>,
    mut cfg: VmConfig,
) -> Result<Vec<String>> {
    let mut ch = diff(plan, prior, &cfg)?;
    for (slot, storage) in &ch.moves {
        c.move_disk(stop, node, vmid, slot, storage)
            .await
            .map_err(|e| api(format!("moving {slot} of VM {vmid} to {storage}"), e))?;
    }
    if !ch.moves.is_empty() {
        cfg = c
            .vm_config(node, vmid)
            .await
            .map_err(|e| api(format!("reading VM {vmid}"), e))?
            .ok_or_else(|| Error::msg(format!("VM {vmid} disappeared during the update")))?;
        ch = diff(plan, prior, &cfg)?;
    }
    let touched = ch.keys();
    let mut retried = false;
    loop {
        let change = ConfigChange {
            set: &ch.set,
            delete: &ch.delete,
            digest: cfg.digest.as_deref(),
        };
        if change.is_empty() {
            break;
        }
        match c.update_vm_config(stop, node, vmid, change).await {
            Ok(()) => break,
            Err(e) if e.is_conflict() && !retried => {
                // Changed behind our back: re-read and try once more.
                retried = true;
                cfg = c
                    .vm_config(node, vmid)
                    .await
                    .map_err(|e| api(format!("reading VM {vmid}"), e))?
                    .ok_or_else(|| {
                        Error::msg(format!("VM {vmid} disappeared during the update"))
                    })?;
                let resize = std::mem::take(&mut ch.resize);
                ch = diff(plan, prior, &cfg)?;
                ch.resize = resize;
            }
            Err(e) if e.is_conflict() => {
                return Err(Error::new(
                    "VM changed during the update",
                    format!(
                        "VM {vmid} was modified by someone else twice while it was being updated ({e}). \
                         Run terraform apply again."
                    ),
                ));
            }
            Err(e) => {
                return Err(api(
                    format!("updating VM {vmid} ({})", touched.join(", ")),
                    e,
                ));
            }
        }
    }
    for (slot, size) in &ch.resize {
        c.resize_disk(stop, node, vmid, slot, *size)
            .await
            .map_err(|e| {
                api(format!("growing {slot} of VM {vmid} to {size} GiB",), e)
                    .at(AttributePath::attr("disk").join_key(slot).join_attr("size"))
            })?;
    }
    if !ch.removed_volumes.is_empty()
        && let Ok(Some(now)) = c.vm_config(node, vmid).await
    {
        let unused: Vec<String> = now
            .keys
            .iter()
            .filter(|(k, v)| {
                k.starts_with("unused")
                    && ch
                        .removed_volumes
                        .iter()
                        .any(|vol| Disk::parse(v).volume == *vol)
            })
            .map(|(k, _)| k.clone())
            .collect();
        if !unused.is_empty() {
            let change = ConfigChange {
                set: &[],
                delete: &unused,
                digest: None,
            };
            c.update_vm_config(stop, node, vmid, change)
                .await
                .map_err(|e| api(format!("destroying detached disks of VM {vmid}"), e))?;
        }
    }
    Ok(touched)
}

async fn start(c: &Client, stop: &StopSignal, node: &str, vmid: i64) -> Result<()> {
    c.start_vm(stop, node, vmid)
        .await
        .map_err(|e| api(format!("starting VM {vmid}"), e))
}

async fn shutdown(c: &Client, stop: &StopSignal, node: &str, vmid: i64) -> Result<()> {
    c.shutdown_vm(stop, node, vmid, SHUTDOWN_TIMEOUT)
        .await
        .map_err(|e| api(format!("stopping VM {vmid}"), e))
}

/// Addresses from the guest agent, waiting at most `secs` for a routable IPv4.
/// `Err` only when Terraform asks to stop.
async fn wait_for_ips(
    c: &Client,
    stop: &StopSignal,
    node: &str,
    vmid: i64,
    secs: i64,
) -> Result<Option<(Vec<String>, Vec<String>)>, ApiError> {
    let deadline = Instant::now() + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    let mut delay = Duration::from_millis(200);
    loop {
        if let Ok(ifaces) = c.guest_interfaces(node, vmid).await {
            let (v4, v6) = routable_ips(&ifaces);
            if !v4.is_empty() {
                return Ok(Some((v4, v6)));
            }
        }
        if Instant::now() + delay > deadline {
            return Ok(None);
        }
        pause(
            stop,
            delay,
            &format!("waiting for the guest agent of VM {vmid}"),
        )
        .await?;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
}

/// Routable IPv4 and IPv6 addresses of the guest's interfaces (not `lo`).
pub fn routable_ips(ifaces: &[GuestInterface]) -> (Vec<String>, Vec<String>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for iface in ifaces {
        if iface.name.as_deref() == Some("lo") {
            continue;
        }
        for ip in &iface.addresses {
            match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(x)) if !x.is_loopback() && !x.is_link_local() => {
                    v4.push(ip.to_string())
                }
                Ok(std::net::IpAddr::V6(x))
                    if !x.is_loopback() && (x.segments()[0] & 0xffc0) != 0xfe80 =>
                {
                    v6.push(ip.to_string())
                }
                _ => {}
            }
        }
    }
    (v4, v6)
}

impl Vm {
    async fn read_vm(&self, c: &Client, mut m: VmModel) -> Result<Option<VmModel>> {
        let vmid = m.vmid()?;
        let Some(cfg) = c
            .vm_config(&m.node, vmid)
            .await
            .map_err(|e| api(format!("reading VM {vmid} on {}", m.node), e))?
        else {
            return Ok(None);
        };
        let st = c
            .vm_status(&m.node, vmid)
            .await
            .map_err(|e| api(format!("reading VM {vmid} status"), e))?;
        let Some(st) = st else { return Ok(None) };
        fill(&mut m, &cfg, Some(&st));
        if let Some(pool) = &m.pool
            && let Ok(list) = c.cluster_vms().await
            && let Some(entry) = list.iter().find(|v| v.id() == Some(vmid))
            && entry.pool.as_deref() != Some(pool.as_str())
        {
            // Only believe the (lagging) list when it lists the VM.
            m.pool = entry.pool.clone();
        }
        Ok(Some(m))
    }

    /// Everything after the VM exists: config, resizes, template, start, IPs.
    async fn finish_create(
        &self,
        ctx: &Ctx<Client>,
        c: &Client,
        plan: &VmModel,
        vmid: i64,
        cloned: bool,
    ) -> Result<VmModel> {
        let node = plan.node.as_str();
        let stop = ctx.stop_signal();
        let cfg = c
            .vm_config(node, vmid)
            .await
            .map_err(|e| api(format!("reading VM {vmid}"), e))?
            .ok_or_else(|| Error::msg(format!("VM {vmid} vanished right after it was created")))?;
        if cloned {
            apply_changes(c, stop, node, vmid, plan, None, cfg).await?;
        } else {
            // Imported disks: grow to the asked size.
            let ch = diff(plan, None, &cfg)?;
            for (slot, size) in &ch.resize {
                c.resize_disk(stop, node, vmid, slot, *size)
                    .await
                    .map_err(|e| api(format!("growing {slot} of VM {vmid}"), e))?;
            }
        }
        if plan.template.unwrap_or(false) {
            c.convert_to_template(stop, node, vmid)
                .await
                .map_err(|e| api(format!("converting VM {vmid} to a template"), e))?;
        }
        let mut m = plan.clone();
        m.vm_id = Some(vmid);
        m.ipv4_addresses = Some(Vec::new());
        m.ipv6_addresses = Some(Vec::new());
        if plan.started() {
            start(c, stop, node, vmid).await?;
            let wait = plan.wait_for_ip_seconds.unwrap_or(60);
            if plan.agent.unwrap_or(true) && wait > 0 {
                let ips = wait_for_ips(c, stop, node, vmid, wait)
                    .await
                    .map_err(|e| api(format!("VM {vmid}"), e))?;
                match ips {
                    Some((v4, v6)) => {
                        m.ipv4_addresses = Some(v4);
                        m.ipv6_addresses = Some(v6);
                    }
                    None => ctx.warn(
                        "No IP address from the guest agent",
                        format!(
                            "VM {vmid} started, but its guest agent reported no IPv4 address within \
                             {wait} s. ipv4_addresses stays empty; is qemu-guest-agent installed in the image?"
                        ),
                    ),
                }
            }
        }
        self.read_vm(c, m)
            .await?
            .ok_or_else(|| Error::msg(format!("VM {vmid} vanished right after it was created")))
    }

    async fn create_inner(&self, ctx: &Ctx<Client>, plan: VmModel) -> Result<VmModel> {
        let c = ctx.client();
        let stop = ctx.stop_signal();
        let node = plan.node.clone();
        // Where the request goes: a clone's source node (which holds the new
        // VM's config until the clone ends), else `node`.
        let source = plan
            .clone
            .as_ref()
            .and_then(|cl| cl.node.clone())
            .unwrap_or_else(|| node.clone());
        let dispatched: std::result::Result<Made, (Error, Option<i64>)> = match &plan.clone {
            Some(cl) => {
                let clone = CloneOf {
                    source: cl.vm_id,
                    source_node: &source,
                    node: &node,
                    vmid: plan.vm_id,
                    name: plan.name.as_deref(),
                    pool: plan.pool.as_deref(),
                    full: cl.full.unwrap_or(true),
                    target_storage: cl.target_storage.as_deref(),
                };
                c.clone_vm(stop, &clone).await.map_err(|f| {
                    let e = api(format!("cloning VM {} on {source}", cl.vm_id), *f.error);
                    (e, f.vmid)
                })
            }
            None => {
                // Validate the parameters before allocating anything.
                let config = create_config(&plan)?;
                let new = NewVm {
                    node: &node,
                    vmid: plan.vm_id,
                    pool: plan.pool.as_deref(),
                    config: &config,
                };
                c.create_vm(stop, &new)
                    .await
                    .map_err(|f| (api(format!("creating a VM on {node}"), *f.error), f.vmid))
            }
        };
        c.invalidate().await;
        let result = match dispatched {
            Ok(made) => {
                let vmid = made.vmid;
                if let Some(lost) = made.taken_over {
                    ctx.warn(
                        format!("Took over VM {vmid} on node {node}"),
                        format!(
                            "The answer to the request that creates VM {vmid} was lost ({lost}), \
                             but the VM was found on node {node}; it is now managed by this resource."
                        ),
                    );
                }
                self.finish_create(ctx, c, &plan, vmid, plan.clone.is_some())
                    .await
                    .map_err(|e| (e, Some(vmid)))
            }
            Err(failed) => Err(failed),
        };
        match result {
            Ok(m) => Ok(m),
            Err((e, None)) => Err(e),
            Err((e, Some(vmid))) => {
                // Leave nothing behind: remove the half-made VM. Not
                // cancellable: this runs after Terraform asked to stop too.
                let (_keep, no_stop) = StopTrigger::new();
                match c.remove_half_made(&no_stop, vmid, &[&node, &source]).await {
                    Ok(()) => Err(e),
                    Err(de) => {
                        let mut partial = plan.clone();
                        partial.vm_id = Some(vmid);
                        partial.id = Some(format!("{node}/{vmid}"));
                        Err(Error::msg(format!(
                            "{e}\nThe half-created VM {vmid} could not be removed ({de}); it is kept in state as tainted."
                        ))
                        .with_partial_state(&partial))
                    }
                }
            }
        }
    }

    async fn update_inner(
        &self,
        ctx: &Ctx<Client>,
        prior: VmModel,
        plan: VmModel,
    ) -> Result<VmModel> {
        let c = ctx.client();
        let stop = ctx.stop_signal();
        let node = plan.node.clone();
        let vmid = prior.vmid()?;
        let mut plan = plan;
        plan.vm_id = Some(vmid);
        let cfg = c
            .vm_config(&node, vmid)
            .await
            .map_err(|e| api(format!("reading VM {vmid}"), e))?
            .ok_or_else(|| Error::msg(format!("VM {vmid} on {node} no longer exists")))?;
        let was_template = flag(&cfg, "template");
        let st = c
            .vm_status(&node, vmid)
            .await
            .map_err(|e| api(format!("reading VM {vmid}"), e))?
            .unwrap_or_default();
        let running = st.status == "running";
        let touched = apply_changes(c, stop, &node, vmid, &plan, Some(&prior), cfg).await?;
        if plan.pool != prior.pool {
            match (&prior.pool, &plan.pool) {
                (_, Some(new)) => c
                    .add_to_pool(new, vmid)
                    .await
                    .map_err(|e| api(format!("adding VM {vmid} to pool {new}"), e))?,
                (Some(old), None) => c
                    .remove_from_pool(old, vmid)
                    .await
                    .map_err(|e| api(format!("removing VM {vmid} from pool {old}"), e))?,
                (None, None) => {}
            }
            c.invalidate().await;
        }
        if plan.template.unwrap_or(false) && !was_template {
            if running {
                shutdown(c, stop, &node, vmid).await?;
            }
            c.convert_to_template(stop, &node, vmid)
                .await
                .map_err(|e| api(format!("converting VM {vmid} to a template"), e))?;
        } else if plan.started() && !running {
            start(c, stop, &node, vmid).await?;
        } else if !plan.started() && running {
            shutdown(c, stop, &node, vmid).await?;
        } else if running && (!touched.is_empty() || plan.reboot_after_update.unwrap_or(false)) {
            let pending = c
                .vm_pending(&node, vmid)
                .await
                .map_err(|e| api(format!("reading pending changes of VM {vmid}"), e))?;
            if !pending.is_empty() {
                if plan.reboot_after_update.unwrap_or(false) {
                    c.reboot_vm(stop, &node, vmid).await.map_err(|e| {
                        api(
                            format!("rebooting VM {vmid} to apply {}", pending.join(", ")),
                            e,
                        )
                    })?;
                } else {
                    ctx.warn(
                        "VM needs a reboot",
                        format!(
                            "VM {vmid} is running; these changes wait for a restart: {}. Reboot it, \
                             or set reboot_after_update = true.",
                            pending.join(", ")
                        ),
                    );
                }
            }
        }
        let mut m = plan;
        m.ipv4_addresses = prior.ipv4_addresses.clone();
        m.ipv6_addresses = prior.ipv6_addresses.clone();
        self.read_vm(c, m)
            .await?
            .ok_or_else(|| Error::msg(format!("VM {vmid} vanished during the update")))
    }
}

/// Private-state key: the resource was imported, and its config-only
/// attributes (`CONFIG_ONLY`) hold what import could tell, not configuration.
const IMPORTED: &str = "imported";

/// Attributes that exist only in configuration (Proxmox VE has no record of
/// them) and only matter when the VM is created (`clone`,
/// `wait_for_ip_seconds`) or updated (`reboot_after_update`).
const CONFIG_ONLY: [&str; 3] = ["clone", "wait_for_ip_seconds", "reboot_after_update"];

/// After an import, a value of a config-only attribute that differs from
/// what import recorded is no change: keep the recorded value (Terraform
/// accepts a prior value in place of a configured one), unless something
/// else changes anyway, in which case the update records the configured
/// values. A differing `clone` never replaces an imported VM.
fn keep_imported_config_only(plan: &mut labforge_framework::PlanChange<'_>) {
    let clone = AttributePath::attr("clone");
    plan.requires_replace
        .retain(|p| p.steps.first() != clone.steps.first());
    let mut kept = plan.planned.clone();
    if let Value::Object(attrs) = &mut kept {
        for k in CONFIG_ONLY {
            let prior = plan.prior_attr(k);
            if !prior.is_null() && !plan.config_attr(k).is_null() {
                attrs.insert(k.to_string(), prior.clone());
            }
        }
    }
    if kept == *plan.prior {
        *plan.planned = kept;
    }
}

/// `node` (and, when creating, `clone.node`) must be a node of the cluster,
/// checked against the node list (read once per provider process). When the
/// list cannot be read the check is skipped: apply reports the problem.
async fn check_nodes(c: &Client, plan: &mut labforge_framework::PlanChange<'_>) {
    let mut wanted: Vec<(AttributePath, String)> = Vec::new();
    if let Value::String(n) = plan.planned_attr("node")
        && (plan.creating() || plan.prior_attr("node") != &Value::String(n.clone()))
    {
        wanted.push((AttributePath::attr("node"), n.clone()));
    }
    if plan.creating()
        && let Some(Value::String(n)) = plan.planned_attr("clone").get("node")
    {
        wanted.push((AttributePath::attr("clone").join_attr("node"), n.clone()));
    }
    if wanted.is_empty() {
        return;
    }
    let nodes = match c.nodes().await {
        Ok(list) => list,
        Err(e) => {
            tracing::debug!(error = %e, "node list unavailable; nodes not checked at plan");
            return;
        }
    };
    let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
    for (path, n) in wanted {
        if !names.contains(&n.as_str()) {
            plan.diagnostics.attribute_error(
                path.clone(),
                "Unknown node",
                format!(
                    "{path}: {n:?} is not a node of this Proxmox VE cluster (its nodes: {}).",
                    names.join(", ")
                ),
            );
        }
    }
}

/// The clone source of VM `vmid`, as far as Proxmox VE shows it. qemu-server
/// `clone_vm` copies every key of the source's config it does not
/// regenerate (`PVE/API2/Qemu.pm`: "copy everything else"), `meta`
/// (creation-qemu, ctime) included, while `create_vm` writes a new `meta`
/// (`new_meta_info_string`). So a template with the very same `meta` is the
/// source; a linked clone's disks name its base volumes. `None` when no
/// single template matches.
async fn clone_source(
    c: &Client,
    node: &str,
    vmid: i64,
    cfg: &VmConfig,
    list: &[crate::client::ClusterVm],
) -> Option<CloneModel> {
    let meta = cfg.get("meta")?;
    let mut found = Vec::new();
    for t in list
        .iter()
        .filter(|v| v.is_template() && v.id() != Some(vmid))
    {
        let Some(id) = t.id() else { continue };
        if let Ok(Some(tc)) = c.vm_config(&t.node, id).await
            && tc.get("meta") == Some(meta)
        {
            found.push((id, t.node.clone()));
        }
    }
    let [(id, at)] = found.as_slice() else {
        return None;
    };
    let base = format!("base-{id}-");
    let linked = disks_of(cfg).values().any(|d| d.volume.contains(&base));
    Some(CloneModel {
        vm_id: *id,
        node: (at != node).then(|| at.clone()),
        full: Some(!linked),
        target_storage: None,
    })
}

/// Parse an import ID `node/vmid`.
pub fn parse_import_id(id: &str) -> Result<(String, i64)> {
    let err = || {
        Error::new(
            "Invalid import ID",
            format!("expected `node/vmid`, e.g. `pve/100`, got {id:?}"),
        )
    };
    let (node, vmid) = id.trim().split_once('/').ok_or_else(err)?;
    let vmid: i64 = vmid.parse().map_err(|_| err())?;
    if node.is_empty() || !(100..=999_999_999).contains(&vmid) {
        return Err(err());
    }
    Ok((node.to_string(), vmid))
}

impl Resource for Vm {
    type Client = Client;
    type Model = VmModel;
    const NAME: &'static str = "proxmox_vm";

    fn schema(&self) -> Schema {
        vm_schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }

    async fn modify_plan(
        &self,
        ctx: &Ctx<Client>,
        plan: &mut labforge_framework::PlanChange<'_>,
    ) -> Result<()> {
        if plan.destroying() {
            return Ok(());
        }
        check_nodes(ctx.client(), plan).await;
        if plan.creating() {
            return Ok(());
        }
        if ctx.private::<bool>(IMPORTED) == Some(true) {
            keep_imported_config_only(plan);
        }
        // A disk moved to another storage gets a new volume ID.
        let prior = plan.prior_attr("disk").clone();
        let mut disks = plan.planned_attr("disk").clone();
        let mut changed = false;
        if let Value::Map(m) = &mut disks {
            for (slot, d) in m.iter_mut() {
                let was = prior.get(slot).and_then(|p| p.get("storage"));
                let now = d.get("storage");
                let moved = matches!((was, now), (Some(Value::String(a)), Some(Value::String(b))) if a != b);
                if moved && let Value::Object(attrs) = d {
                    attrs.insert("volume".into(), Value::unknown());
                    changed = true;
                }
            }
        }
        if changed {
            plan.set("disk", disks);
        }
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: VmModel) -> Result<VmModel> {
        // Not `until_stopped`: dropped half-way, a created VM would be
        // neither removed nor kept in state. The waits inside watch the
        // stop signal and fail into the cleanup below instead.
        self.create_inner(ctx, plan).await
    }

    async fn read(&self, ctx: &Ctx<Client>, state: VmModel) -> Result<Option<VmModel>> {
        let c = ctx.client();
        ctx.until_stopped(self.read_vm(c, state)).await
    }

    async fn update(&self, ctx: &Ctx<Client>, prior: VmModel, plan: VmModel) -> Result<VmModel> {
        let m = self.update_inner(ctx, prior, plan).await?;
        // State now holds the configured values of the config-only attributes.
        ctx.remove_private(IMPORTED);
        Ok(m)
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: VmModel) -> Result<()> {
        let c = ctx.client();
        let vmid = state.vmid()?;
        c.destroy_vm(ctx.stop_signal(), &state.node, vmid)
            .await
            .map_err(|e| api(format!("destroying VM {vmid} on {}", state.node), e))?;
        c.invalidate().await;
        Ok(())
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<VmModel> {
        let (node, vmid) = parse_import_id(id)?;
        let c = ctx.client();
        let cfg = c
            .vm_config(&node, vmid)
            .await
            .map_err(|e| api(format!("reading VM {vmid} on {node}"), e))?
            .ok_or_else(|| {
                Error::new(
                    "Cannot import",
                    format!("VM {vmid} does not exist on node {node}"),
                )
            })?;
        let has_ci = cloudinit_drive(&cfg).is_some()
            || cfg
                .keys
                .keys()
                .any(|k| k.starts_with("ci") || k.starts_with("ipconfig") || k == "sshkeys");
        let m = VmModel {
            node,
            vm_id: Some(vmid),
            initialization: has_ci.then(InitModel::default),
            ..VmModel::default()
        };
        let mut m = self
            .read_vm(c, m)
            .await?
            .ok_or_else(|| Error::new("Cannot import", format!("VM {vmid} does not exist")))?;
        // Pool membership is not in the VM config; the cluster list has it.
        let list = c
            .cluster_vms()
            .await
            .map_err(|e| api("listing VMs (for the pool)", e))?;
        m.pool = list
            .iter()
            .find(|v| v.id() == Some(vmid))
            .and_then(|v| v.pool.clone());
        m.clone = clone_source(c, &m.node, vmid, &cfg, &list).await;
        // `clone`, `wait_for_ip_seconds` and `reboot_after_update` are not
        // in Proxmox VE: until an update records the configured values, a
        // differing value in configuration plans no change.
        ctx.set_private(IMPORTED, &true)?;
        Ok(m)
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("`node/vm_id`, e.g. `pve/100`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> VmConfig {
        VmConfig {
            keys: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            digest: Some("abc".into()),
        }
    }

    fn plan() -> VmModel {
        VmModel {
            node: "pve".into(),
            vm_id: Some(100),
            name: Some("web".into()),
            cpu: Some(CpuModel {
                cores: Some(2),
                sockets: None,
                kind: Some("host".into()),
            }),
            memory: Some(MemoryModel {
                dedicated: Some(2048),
                balloon: None,
            }),
            disk: Some(BTreeMap::from([(
                "scsi0".to_string(),
                DiskModel {
                    storage: Some("local-lvm".into()),
                    size: Some(32),
                    discard: Some(true),
                    iothread: Some(true),
                    ..DiskModel::default()
                },
            )])),
            network: Some(BTreeMap::from([(
                "net0".to_string(),
                NetModel {
                    bridge: "vmbr0".into(),
                    model: Some("virtio".into()),
                    vlan: Some(10),
                    firewall: Some(false),
                    ..NetModel::default()
                },
            )])),
            initialization: Some(InitModel {
                user: Some("ops".into()),
                password: Some("s3cret".into()),
                ssh_keys: Some(vec!["ssh-ed25519 AAAA me@x".into()]),
                ip_config: Some(BTreeMap::from([(
                    "net0".to_string(),
                    IpModel {
                        ipv4_address: Some("10.0.0.5/24".into()),
                        ipv4_gateway: Some("10.0.0.1".into()),
                        ..IpModel::default()
                    },
                )])),
                dns: Some(DnsModel {
                    servers: Some(vec!["10.0.0.1".into()]),
                    domain: Some("lab".into()),
                }),
                ..InitModel::default()
            }),
            agent: Some(true),
            on_boot: Some(false),
            started: Some(true),
            tags: Some(vec!["web".into(), "prod".into()]),
            ..VmModel::default()
        }
    }

    #[test]
    fn create_config_encodes_everything() {
        let f = create_config(&plan()).unwrap();
        let get = |k: &str| f.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
        assert_eq!(get("name"), Some("web"));
        assert_eq!(get("scsi0"), Some("local-lvm:32,discard=on,iothread=1"));
        assert_eq!(get("net0"), Some("model=virtio,bridge=vmbr0,tag=10"));
        assert_eq!(get("ide2"), Some("local-lvm:cloudinit"));
        assert_eq!(get("ipconfig0"), Some("gw=10.0.0.1,ip=10.0.0.5/24"));
        assert_eq!(get("tags"), Some("prod;web"));
        assert_eq!(get("cpu"), Some("host"));
        assert_eq!(get("memory"), Some("2048"));
        assert_eq!(get("cipassword"), Some("s3cret"));
        assert_eq!(get("agent"), Some("1"));
        assert_eq!(get("nameserver"), Some("10.0.0.1"));
        assert!(get("sshkeys").unwrap().contains("%20"));
    }

    #[test]
    fn read_back_is_a_noop() {
        // What Proxmox VE stores after create_params.
        let c = cfg(&[
            ("name", "web"),
            ("cores", "2"),
            ("cpu", "host"),
            ("memory", "2048"),
            (
                "scsi0",
                "local-lvm:vm-100-disk-0,discard=on,iothread=1,size=32G",
            ),
            ("net0", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,tag=10"),
            ("ide2", "local-lvm:vm-100-cloudinit,media=cdrom"),
            ("ciuser", "ops"),
            ("cipassword", "**********"),
            ("sshkeys", "ssh-ed25519%20AAAA%20me%40x%0A"),
            ("ipconfig0", "ip=10.0.0.5/24,gw=10.0.0.1"),
            ("nameserver", "10.0.0.1"),
            ("searchdomain", "lab"),
            ("agent", "1"),
            ("tags", "prod;web"),
            ("boot", "order=scsi0;ide2;net0"),
        ]);
        let mut m = plan();
        fill(
            &mut m,
            &c,
            Some(&VmStatus {
                status: "running".into(),
                ..VmStatus::default()
            }),
        );
        assert_eq!(
            m.network.as_ref().unwrap()["net0"].mac.as_deref(),
            Some("BC:24:11:AA:BB:CC")
        );
        assert_eq!(
            m.initialization.as_ref().unwrap().password.as_deref(),
            Some("s3cret")
        );
        assert_eq!(m.disk.as_ref().unwrap()["scsi0"].size, Some(32));
        assert_eq!(m.started, Some(true));
        let ch = diff(&m, Some(&m), &c).unwrap();
        assert!(ch.is_empty(), "{ch:?}");
    }

    #[test]
    fn grow_add_nic_and_remove_disk() {
        let c = cfg(&[
            ("scsi0", "local-lvm:vm-100-disk-0,size=32G"),
            ("scsi1", "local-lvm:vm-100-disk-1,size=8G"),
            ("net0", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0"),
        ]);
        let mut p = VmModel {
            node: "pve".into(),
            ..VmModel::default()
        };
        p.disk = Some(BTreeMap::from([(
            "scsi0".to_string(),
            DiskModel {
                storage: Some("local-lvm".into()),
                size: Some(40),
                ..DiskModel::default()
            },
        )]));
        p.network = Some(BTreeMap::from([
            (
                "net0".to_string(),
                NetModel {
                    bridge: "vmbr0".into(),
                    model: Some("virtio".into()),
                    mac: Some("bc:24:11:aa:bb:cc".into()),
                    firewall: Some(false),
                    ..NetModel::default()
                },
            ),
            (
                "net1".to_string(),
                NetModel {
                    bridge: "vmbr1".into(),
                    model: Some("virtio".into()),
                    ..NetModel::default()
                },
            ),
        ]));
        let ch = diff(&p, None, &c).unwrap();
        assert_eq!(ch.resize, vec![("scsi0".to_string(), 40)]);
        assert_eq!(ch.delete, vec!["scsi1".to_string()]);
        assert_eq!(
            ch.set,
            vec![("net1".to_string(), "model=virtio,bridge=vmbr1".to_string())]
        );
        p.disk.as_mut().unwrap().get_mut("scsi0").unwrap().size = Some(16);
        assert!(diff(&p, None, &c).is_err());
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    /// After an import, config-only values that differ from what import
    /// recorded plan no change, and a differing clone never replaces the
    /// VM; once something else changes, the configured values are planned.
    #[test]
    fn imported_config_only_values_are_kept_until_something_else_changes() {
        let clone = |id: &str| obj(&[("vm_id", Value::String(id.into()))]);
        let prior = obj(&[
            ("name", Value::String("k8s-0".into())),
            ("clone", clone("9000")),
            ("reboot_after_update", Value::Bool(false)),
        ]);
        let config = obj(&[
            ("name", Value::String("k8s-0".into())),
            ("clone", clone("9001")),
            ("reboot_after_update", Value::Bool(true)),
        ]);
        let run = |planned: Value| {
            let mut planned = planned;
            let mut replace = vec![AttributePath::attr("clone").join_attr("vm_id")];
            let mut diags = Diagnostics::new();
            let mut change = labforge_framework::PlanChange {
                config: &config,
                prior: &prior,
                planned: &mut planned,
                requires_replace: &mut replace,
                diagnostics: &mut diags,
            };
            keep_imported_config_only(&mut change);
            (planned, replace)
        };
        let (planned, replace) = run(config.clone());
        assert_eq!(planned, prior, "nothing else changes: no change");
        assert!(replace.is_empty(), "{replace:?}");
        let renamed = obj(&[
            ("name", Value::String("k8s-9".into())),
            ("clone", clone("9001")),
            ("reboot_after_update", Value::Bool(true)),
        ]);
        let (planned, replace) = run(renamed.clone());
        assert_eq!(planned, renamed, "an update records the configured values");
        assert!(
            replace.is_empty(),
            "a differing clone never replaces: {replace:?}"
        );
    }

    #[test]
    fn import_ids() {
        assert_eq!(
            parse_import_id("pve/100").unwrap(),
            ("pve".to_string(), 100)
        );
        assert!(parse_import_id("pve").is_err());
        assert!(parse_import_id("pve/99").is_err());
        assert!(parse_import_id("/100").is_err());
    }

    #[test]
    fn routable_agent_addresses() {
        let iface = |name: &str, addrs: &[&str]| GuestInterface {
            name: Some(name.into()),
            addresses: addrs.iter().map(|a| a.to_string()).collect(),
        };
        let ifaces = [
            iface("lo", &["127.0.0.1", "10.0.0.99"]),
            iface("eth0", &["10.0.0.5", "fe80::1", "fd00::5", "169.254.1.1"]),
            iface("eth1", &["::1", "not an address"]),
        ];
        let (v4, v6) = routable_ips(&ifaces);
        assert_eq!(v4, vec!["10.0.0.5"]);
        assert_eq!(v6, vec!["fd00::5"]);
    }
}
