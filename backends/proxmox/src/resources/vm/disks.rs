//! `disk`: the VM's disks, keyed by slot (`scsi0`, `virtio1`, …). New
//! disks are allocated (`storage:size`) or imported (`import-from`); a
//! disk grows in place ([`Changes::resize`]) and moves to another storage
//! ([`Changes::moves`]); shrinking is refused at plan time; a slot removed
//! from the map is detached and its volume destroyed.

use std::collections::BTreeMap;

use labforge_framework::schema::{Attribute, Nesting, Schema, modifiers, validators};
use labforge_framework::{AttributePath, Diagnostics, Error, PlanChange, Result, Value};
use serde::{Deserialize, Serialize};

use super::Part;
use super::attrs::{computed, inherited, known, replace_if_was_set};
use super::changes::Changes;
use crate::client::VmConfig;
use crate::pveconf::{self, Disk, Props};

/// One disk: a value of the `disk` map (its key is the slot, `scsi0`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DiskModel {
    /// `storage`: storage for the disk, e.g. `local-lvm`. Required for new
    /// disks. A change moves the disk (`move_disk`).
    pub storage: Option<String>,
    /// `size`: size in GiB. Required for new disks unless `import_from` is
    /// set. Grows in place; cannot shrink.
    pub size: Option<i64>,
    /// `import_from`: volume to import the disk from, e.g.
    /// `local:import/noble.qcow2` (see `homelab_proxmox_download_file`).
    /// Used when the disk is created; Proxmox VE does not record it, so it
    /// is kept from state.
    pub import_from: Option<String>,
    /// `discard`: pass discard/TRIM to the storage.
    pub discard: Option<bool>,
    /// `iothread`: use a dedicated IO thread.
    pub iothread: Option<bool>,
    /// `ssd`: present the disk as an SSD.
    pub ssd: Option<bool>,
    /// `cache`: cache mode (`none`, `writethrough`, `writeback`, `unsafe`
    /// or `directsync`).
    pub cache: Option<String>,
    /// `volume` (computed): volume ID, e.g. `local-lvm:vm-100-disk-0`.
    pub volume: Option<String>,
}

/// The `disk` map.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disks;

impl Part for Disks {
    type Model = BTreeMap<String, DiskModel>;

    fn schema(s: Schema) -> Schema {
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
        s.attribute(
            "disk",
            inherited(disk)
                .describe(
                    "Disks keyed by slot (`scsi0`, `virtio1`, `sata0`, `ide0`). Unset on a clone: the \
                     template's disks are kept as they are. A slot removed from the map is detached \
                     and destroyed.",
                )
                .validator(validators::keys_match(pveconf::DISK_SLOT_RE, "a disk slot like `scsi0` (ide0-3, sata0-5, scsi0-30, virtio0-15)")),
        )
    }

    /// Every disk but CD-ROMs and the cloud-init drive; `import_from` is
    /// kept from `prior` (Proxmox VE does not record it).
    fn fill(prior: Option<Self::Model>, cfg: &VmConfig) -> Option<Self::Model> {
        let prior_disks = prior.unwrap_or_default();
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
        Some(disks)
    }

    fn diff(
        ch: &mut Changes,
        disks: &Self::Model,
        _prior: Option<&Self::Model>,
        cfg: &VmConfig,
    ) -> Result<()> {
        let have = disks_of(cfg);
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
        Ok(())
    }

    /// A new disk (not on a clone, whose disks come from its source) needs
    /// a storage and a size (or an image to import).
    fn validate(config: &Value, d: &mut Diagnostics) {
        let is_clone = config.get("clone").is_some_and(|c| !c.is_null());
        let Some(Value::Map(disks)) = known(config, &["disk"]) else {
            return;
        };
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
    }
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

pub(super) fn disks_of(cfg: &VmConfig) -> BTreeMap<String, Disk> {
    cfg.keys
        .iter()
        .filter(|(k, _)| pveconf::is_disk_slot(k))
        .map(|(k, v)| (k.clone(), Disk::parse(v)))
        .filter(|(_, d)| !d.is_cdrom())
        .collect()
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

/// The `unusedN` keys of `cfg` that hold one of `volumes`: what is left of
/// disks detached by an update, to be destroyed.
pub(super) fn unused_leftovers(cfg: &VmConfig, volumes: &[String]) -> Vec<String> {
    cfg.keys
        .iter()
        .filter(|(k, v)| {
            k.starts_with("unused") && volumes.iter().any(|vol| Disk::parse(v).volume == *vol)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// A disk moved to another storage gets a new volume ID: unknown in the plan.
pub(super) fn unknown_volumes_of_moved_disks(plan: &mut PlanChange<'_>) {
    let prior = plan.prior_attr("disk").clone();
    let mut disks = plan.planned_attr("disk").clone();
    let mut changed = false;
    if let Value::Map(m) = &mut disks {
        for (slot, d) in m.iter_mut() {
            let was = prior.get(slot).and_then(|p| p.get("storage"));
            let now = d.get("storage");
            let moved =
                matches!((was, now), (Some(Value::String(a)), Some(Value::String(b))) if a != b);
            if moved && let Value::Object(attrs) = d {
                attrs.insert("volume".into(), Value::unknown());
                changed = true;
            }
        }
    }
    if changed {
        plan.set("disk", disks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::vm::testing::{cfg, obj};

    fn disk(storage: &str, size: i64) -> DiskModel {
        DiskModel {
            storage: Some(storage.into()),
            size: Some(size),
            ..DiskModel::default()
        }
    }

    /// A disk grows in place, moves to another storage, is added, and is
    /// removed with its volume; a smaller size is refused.
    #[test]
    fn grow_move_add_and_remove() {
        let c = cfg(&[
            ("scsi0", "local-lvm:vm-100-disk-0,size=32G"),
            ("scsi1", "local-lvm:vm-100-disk-1,size=8G"),
            ("scsi2", "local-lvm:vm-100-disk-2,size=8G"),
            ("ide2", "local-lvm:vm-100-cloudinit,media=cdrom"),
        ]);
        let plan = BTreeMap::from([
            ("scsi0".to_string(), disk("local-lvm", 40)),
            ("scsi2".to_string(), disk("ceph", 8)),
            ("virtio0".to_string(), disk("local-lvm", 4)),
        ]);
        let mut ch = Changes::default();
        Disks::diff(&mut ch, &plan, None, &c).unwrap();
        assert_eq!(ch.resize, vec![("scsi0".to_string(), 40)]);
        assert_eq!(ch.moves, vec![("scsi2".to_string(), "ceph".to_string())]);
        assert_eq!(
            ch.set,
            vec![("virtio0".to_string(), "local-lvm:4".to_string())]
        );
        assert_eq!(
            ch.delete,
            vec!["scsi1".to_string()],
            "not the cloud-init drive"
        );
        assert_eq!(
            ch.removed_volumes,
            vec!["local-lvm:vm-100-disk-1".to_string()]
        );
        let shrunk = BTreeMap::from([("scsi0".to_string(), disk("local-lvm", 16))]);
        let e = Disks::diff(&mut Changes::default(), &shrunk, None, &c).unwrap_err();
        assert!(e.to_string().contains("smaller"), "{e}");
    }

    /// Reading keeps `import_from` from state and leaves out the
    /// cloud-init drive and CD-ROMs.
    #[test]
    fn fill_keeps_what_proxmox_does_not_record() {
        let c = cfg(&[
            ("scsi0", "local-lvm:vm-100-disk-0,discard=on,size=32G"),
            ("ide0", "local:iso/x.iso,media=cdrom"),
            ("ide2", "local-lvm:vm-100-cloudinit,media=cdrom"),
        ]);
        let prior = BTreeMap::from([(
            "scsi0".to_string(),
            DiskModel {
                import_from: Some("local:import/noble.qcow2".into()),
                ..DiskModel::default()
            },
        )]);
        let got = Disks::fill(Some(prior), &c).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["scsi0"]);
        let d = &got["scsi0"];
        assert_eq!(d.import_from.as_deref(), Some("local:import/noble.qcow2"));
        assert_eq!(d.size, Some(32));
        assert_eq!(d.discard, Some(true));
        assert_eq!(d.volume.as_deref(), Some("local-lvm:vm-100-disk-0"));
    }

    #[test]
    fn new_disks_need_storage_and_size_unless_cloned() {
        let config = obj(&[(
            "disk",
            Value::Map(
                [("scsi0".to_string(), obj(&[("size", Value::Null)]))]
                    .into_iter()
                    .collect(),
            ),
        )]);
        let mut d = Diagnostics::new();
        Disks::validate(&config, &mut d);
        let summaries: Vec<&str> = d.iter().map(|x| x.summary.as_str()).collect();
        assert_eq!(summaries, vec!["Missing disk storage", "Missing disk size"]);
        let Value::Object(mut attrs) = config else {
            unreachable!()
        };
        attrs.insert("clone".into(), obj(&[("vm_id", Value::from(9000_i64))]));
        let mut d = Diagnostics::new();
        Disks::validate(&Value::Object(attrs), &mut d);
        assert!(d.is_empty(), "a clone's disks come from its source");
    }

    #[test]
    fn leftovers_of_removed_disks() {
        let c = cfg(&[
            ("unused0", "local-lvm:vm-100-disk-1"),
            ("unused1", "local-lvm:vm-100-disk-7"),
        ]);
        let removed = vec!["local-lvm:vm-100-disk-1".to_string()];
        assert_eq!(unused_leftovers(&c, &removed), vec!["unused0".to_string()]);
    }
}
