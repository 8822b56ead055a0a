//! The schema of `homelab_proxmox_vm`, its plan modifiers and validators,
//! and its cross-attribute validation. The sub-blocks add their own parts
//! ([`Part::schema`], [`Part::validate`]).

use labforge_framework::schema::{
    Attribute, Block, Nesting, Schema, Validator, modifiers, validators,
};
use labforge_framework::{AttributePath, Diagnostics, Type, Value};

use super::Part;
use super::attrs::{computed, inherited, known, list_of, replace_if_was_set};
use super::cloud_init::CloudInit;
use super::disks::Disks;
use super::nics::Nics;

fn tag_validator() -> impl Validator {
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
                    return Err(format!(
                        "{s:?} is not a valid Proxmox VE tag: letters, digits, `_`, `-`, `+` \
                         and `.`, not starting with `-`, `+` or `.`"
                    ));
                }
            }
            Ok(())
        },
    )
}

/// The resource schema.
pub fn vm_schema() -> Schema {
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
                .describe("Node of the source. Default: `node`. Checked against the cluster's nodes at plan time.")
                .validator(crate::node_name()),
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

    let s = Schema::new(
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
            .validator(crate::node_name())
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
    );
    CloudInit::schema(Nics::schema(Disks::schema(s)))
}

/// The cross-attribute checks of a configuration: no `target_storage` on a
/// linked clone, no `started` template, and the parts' own
/// ([`Part::validate`]).
pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
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
    Disks::validate(config, &mut d);
    CloudInit::validate(config, &mut d);
    d
}
