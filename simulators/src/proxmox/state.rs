//! The simulated cluster: nodes, storages, VMs (config + pending), tasks,
//! file locks, credentials and the knobs tests turn.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::schema;
use crate::common::lock;
use crate::common::text::IdGen;

pub(crate) type Shared = Arc<Mutex<Cluster>>;

/// How the QEMU guest agent of running VMs behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentMode {
    /// The agent answers at once with the VM's interfaces and addresses.
    Running,
    /// `500 QEMU guest agent is not running` forever.
    NotRunning,
    /// Not running until the VM has been up this long (scaled by the time
    /// factor), then answers.
    Slow(Duration),
    /// Answers, but interfaces carry only link-local IPv6 addresses.
    LinkLocalOnly,
}

/// A set of PVE privileges (`VM.Audit`, `VM.Config.Disk`, ...).
#[derive(Debug, Clone, Default)]
pub(crate) struct Privs {
    all: bool,
    set: BTreeSet<String>,
}

impl Privs {
    pub(crate) fn all() -> Self {
        Self {
            all: true,
            set: BTreeSet::new(),
        }
    }

    pub(crate) fn of(list: &[&str]) -> Self {
        Self {
            all: false,
            set: list.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub(crate) fn all_except(list: &[&str]) -> Self {
        let set = ALL_PRIVS
            .iter()
            .filter(|p| !list.contains(p))
            .map(|s| s.to_string())
            .collect();
        Self { all: false, set }
    }

    pub(crate) fn has(&self, p: &str) -> bool {
        self.all || self.set.contains(p)
    }
}

/// The PVE 9 privilege set (no `VM.Monitor`).
pub(crate) const ALL_PRIVS: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Pool.Allocate",
    "Pool.Audit",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Incoming",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
    "User.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.FileRead",
    "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite",
    "VM.GuestAgent.Unrestricted",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Replicate",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];

/// An API token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) secret: String,
    pub(crate) privs: Privs,
}

/// A login ticket.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub(crate) user: String,
    pub(crate) csrf: String,
    pub(crate) issued: Instant,
}

/// One storage.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    pub(crate) id: String,
    pub(crate) stype: &'static str,
    pub(crate) content: Vec<&'static str>,
    pub(crate) shared: bool,
    pub(crate) total: u64,
}

/// A non-disk volume (ISO, import image, snippet).
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub(crate) node: String,
    pub(crate) volid: String,
    pub(crate) content: String,
    pub(crate) format: String,
    pub(crate) size: u64,
    pub(crate) ctime: u64,
}

/// A resource pool (`/pools`): a comment and its member VMs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pool {
    pub(crate) comment: Option<String>,
    pub(crate) vms: BTreeSet<u32>,
}

/// One VM.
#[derive(Debug, Clone)]
pub(crate) struct Vm {
    pub(crate) node: String,
    pub(crate) conf: BTreeMap<String, String>,
    pub(crate) pending: BTreeMap<String, String>,
    pub(crate) pending_delete: BTreeSet<String>,
    pub(crate) running: bool,
    pub(crate) started: Option<Instant>,
    pub(crate) created: Instant,
    pub(crate) agent: Option<AgentMode>,
}

impl Vm {
    pub(crate) fn name(&self) -> String {
        self.conf.get("name").cloned().unwrap_or_default()
    }

    /// The name status answers show: `$conf->{name} || "VM $vmid"`
    /// (qemu-server `PVE::QemuServer::vmstatus`).
    pub(crate) fn display_name(&self, vmid: u32) -> String {
        match self.conf.get("name") {
            Some(n) if !n.is_empty() => n.clone(),
            _ => format!("VM {vmid}"),
        }
    }

    pub(crate) fn is_template(&self) -> bool {
        self.conf
            .get("template")
            .and_then(|v| schema::parse_bool(v))
            .unwrap_or(false)
    }

    /// The config file text, as `qemu-server` writes it (keys sorted,
    /// pending section last). The digest is its SHA-1.
    pub(crate) fn file_text(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.conf {
            out.push_str(&format!("{k}: {v}\n"));
        }
        if !self.pending.is_empty() || !self.pending_delete.is_empty() {
            out.push_str("\n[PENDING]\n");
            for (k, v) in &self.pending {
                out.push_str(&format!("{k}: {v}\n"));
            }
            if !self.pending_delete.is_empty() {
                let d: Vec<&str> = self.pending_delete.iter().map(String::as_str).collect();
                out.push_str(&format!("delete: {}\n", d.join(",")));
            }
        }
        out
    }

    /// `Digest::SHA::sha1_hex` of the file text, as `PVE::QemuConfig`
    /// computes `digest` (pve-guest-common `AbstractConfig`, via
    /// `PVE::Cluster::cfs_read_file`).
    pub(crate) fn digest(&self) -> String {
        sha1_hex(self.file_text().as_bytes())
    }

    /// Memory in MiB (`[current=]N`).
    pub(crate) fn memory_mib(&self) -> u64 {
        self.conf
            .get("memory")
            .map(|m| m.trim_start_matches("current="))
            .and_then(|m| m.split(',').next())
            .and_then(|m| m.parse().ok())
            .unwrap_or(512)
    }

    pub(crate) fn cpus(&self) -> u64 {
        if let Some(v) = self.conf.get("vcpus").and_then(|v| v.parse().ok()) {
            return v;
        }
        let cores: u64 = self
            .conf
            .get("cores")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let sockets: u64 = self
            .conf
            .get("sockets")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        cores * sockets
    }

    /// Size of the boot disk (first disk by slot; not the EFI/TPM state), bytes.
    pub(crate) fn maxdisk(&self) -> u64 {
        self.conf
            .iter()
            .filter(|(k, _)| is_disk_key(k) && *k != "efidisk0" && *k != "tpmstate0")
            .filter(|(_, v)| !v.contains("media=cdrom"))
            .find_map(|(_, v)| drive_opt(v, "size").and_then(|s| parse_size(&s)))
            .unwrap_or(0)
    }

    pub(crate) fn agent_enabled(&self) -> bool {
        self.conf
            .get("agent")
            .map(|a| {
                let first = a.split(',').next().unwrap_or("");
                let v = first.strip_prefix("enabled=").unwrap_or(first);
                schema::parse_bool(v).unwrap_or(false)
            })
            .unwrap_or(false)
    }
}

/// A worker task.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) node: String,
    pub(crate) ttype: String,
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) pid: u32,
    pub(crate) pstart: u32,
    pub(crate) starttime: u64,
    pub(crate) created: Instant,
    pub(crate) exit: Option<String>,
    pub(crate) log: Vec<String>,
}

/// Per-VM flock of `/var/lock/qemu-server/lock-<vmid>.conf`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flock {
    pub(crate) exclusive: bool,
    pub(crate) shared: usize,
}

/// Tunables (see the `ProxmoxSim` setters).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) time_factor: f64,
    pub(crate) durations: BTreeMap<String, Duration>,
    pub(crate) agent: AgentMode,
    pub(crate) resources_lag: Duration,
    pub(crate) task_grace: Duration,
    pub(crate) unauthorized_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        let ms = Duration::from_millis;
        let durations = [
            ("qmcreate", ms(300)),
            ("qmclone", ms(1000)),
            ("qmconfig", ms(100)),
            ("qmstart", ms(400)),
            ("qmstop", ms(200)),
            ("qmshutdown", ms(400)),
            ("qmreboot", ms(500)),
            ("qmdestroy", ms(300)),
            ("resize", ms(200)),
            ("qmtemplate", ms(300)),
            ("qmmove", ms(600)),
            ("download", ms(800)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Self {
            time_factor: 1.0,
            durations,
            agent: AgentMode::Running,
            resources_lag: Duration::ZERO,
            task_grace: ms(100),
            unauthorized_delay: Duration::from_secs(3),
        }
    }
}

impl Settings {
    pub(crate) fn scaled(&self, d: Duration) -> Duration {
        let f = if self.time_factor.is_finite() && self.time_factor >= 0.0 {
            self.time_factor
        } else {
            1.0
        };
        d.mul_f64(f)
    }

    pub(crate) fn task_duration(&self, ttype: &str) -> Duration {
        self.scaled(
            self.durations
                .get(ttype)
                .copied()
                .unwrap_or(Duration::from_millis(200)),
        )
    }
}

/// A deleted VM still listed by `/cluster/resources`.
#[derive(Debug, Clone)]
pub(crate) struct Ghost {
    pub(crate) vmid: u32,
    pub(crate) row: Value,
    pub(crate) deleted: Instant,
}

/// The whole simulated datacenter.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<String>,
    pub(crate) storages: Vec<Storage>,
    pub(crate) volumes: Vec<Volume>,
    pub(crate) vms: BTreeMap<u32, Vm>,
    pub(crate) pools: BTreeMap<String, Pool>,
    pub(crate) ghosts: Vec<Ghost>,
    pub(crate) tasks: BTreeMap<String, Task>,
    pub(crate) tickets: BTreeMap<String, Ticket>,
    pub(crate) tokens: BTreeMap<String, Token>,
    pub(crate) users: BTreeMap<String, String>,
    pub(crate) flocks: Flocks,
    pub(crate) settings: Settings,
    pub(crate) ids: IdGen,
    pub(crate) next_pid: u32,
    pub(crate) running_tasks: usize,
    pub(crate) max_running_tasks: usize,
    /// Pending worker start failures by task type (`qmcreate`, ...).
    pub(crate) worker_failures: BTreeMap<String, usize>,
    /// Answers to lose after the request was handled.
    pub(crate) lost_answers: Vec<LostAnswer>,
}

/// A request that is handled, after which its answer is replaced by an
/// error status, as pveproxy answers when the connection to the node that
/// did the work breaks (`596`, AnyEvent::HTTP's "errors during TLS
/// negotiation, request sending and header processing") or a gateway fails.
#[derive(Debug, Clone)]
pub(crate) struct LostAnswer {
    pub(crate) method: String,
    pub(crate) route: String,
    pub(crate) status: u16,
    pub(crate) remaining: usize,
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Cluster {
    pub(crate) fn new() -> Self {
        Self {
            nodes: Vec::new(),
            storages: Vec::new(),
            volumes: Vec::new(),
            vms: BTreeMap::new(),
            pools: BTreeMap::new(),
            ghosts: Vec::new(),
            tasks: BTreeMap::new(),
            tickets: BTreeMap::new(),
            tokens: BTreeMap::new(),
            users: BTreeMap::new(),
            flocks: Flocks::default(),
            settings: Settings::default(),
            ids: IdGen::new(0x0050_56e9),
            next_pid: 0x1a2b,
            running_tasks: 0,
            max_running_tasks: 0,
            worker_failures: BTreeMap::new(),
            lost_answers: Vec::new(),
        }
    }

    pub(crate) fn storage(&self, id: &str) -> Option<&Storage> {
        self.storages.iter().find(|s| s.id == id)
    }

    pub(crate) fn conf_path(node: &str, vmid: u32) -> String {
        format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")
    }

    /// A Proxmox-OUI MAC address (`BC:24:11:XX:XX:XX`).
    pub(crate) fn new_mac(&mut self) -> String {
        let h = self.ids.hex(6).to_ascii_uppercase();
        format!("BC:24:11:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6])
    }

    pub(crate) fn new_uuid(&mut self) -> String {
        let h = self.ids.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// The lowest unused VMID ≥ 100 (no reservation: racy, like PVE).
    pub(crate) fn next_free_id(&self) -> u32 {
        let mut id = 100;
        while self.vms.contains_key(&id) {
            id += 1;
        }
        id
    }

    /// Size of an existing volume (`local:import/x.qcow2` or a VM disk).
    pub(crate) fn volume_size(&self, volid: &str) -> Option<u64> {
        if let Some(v) = self.volumes.iter().find(|v| v.volid == volid) {
            return Some(v.size);
        }
        self.vms.values().find_map(|vm| {
            vm.conf
                .values()
                .chain(vm.pending.values())
                .find(|v| drive_file(v) == volid)
                .and_then(|v| drive_opt(v, "size"))
                .and_then(|s| parse_size(&s))
        })
    }

    /// The pool a VM belongs to.
    pub(crate) fn pool_of(&self, vmid: u32) -> Option<&str> {
        self.pools
            .iter()
            .find(|(_, p)| p.vms.contains(&vmid))
            .map(|(id, _)| id.as_str())
    }

    /// Next free `vm-<vmid>-disk-<n>` index on a storage.
    pub(crate) fn next_disk_index(&self, vmid: u32, storage: &str, extra: &[String]) -> u32 {
        let prefix_vm = format!("{storage}:vm-{vmid}-disk-");
        let prefix_base = format!("{storage}:base-{vmid}-disk-");
        let mut used: BTreeSet<u32> = BTreeSet::new();
        let mut scan = |v: &str| {
            let f = drive_file(v);
            let f = f.rsplit_once('/').map(|x| x.1).unwrap_or(&f).to_string();
            let full = if f.contains(':') {
                f
            } else {
                format!("{storage}:{f}")
            };
            for p in [&prefix_vm, &prefix_base] {
                if let Some(n) = full.strip_prefix(p.as_str()).and_then(|n| n.parse().ok()) {
                    used.insert(n);
                }
            }
        };
        if let Some(vm) = self.vms.get(&vmid) {
            for v in vm.conf.values().chain(vm.pending.values()) {
                scan(v);
            }
        }
        for v in extra {
            scan(v);
        }
        (0..).find(|n| !used.contains(n)).unwrap_or(0)
    }

    /// Turns a drive value as written by a client into its stored form:
    /// `local-lvm:8` → `local-lvm:vm-100-disk-0,size=8G`,
    /// `local-lvm:0,import-from=local:import/x.qcow2` → a new volume of the
    /// image's size, `local-lvm:cloudinit` → `local-lvm:vm-100-cloudinit`.
    pub(crate) fn allocate_drive(
        &mut self,
        vmid: u32,
        key: &str,
        value: &str,
        siblings: &[String],
    ) -> Result<String, String> {
        let file = drive_file(value);
        let mut opts: Vec<(String, String)> = drive_opts(value);
        let cdrom = opts.iter().any(|(k, v)| k == "media" && v == "cdrom");
        if file == "none" || file.starts_with('/') {
            return Ok(render_drive(&file, &opts));
        }
        let Some((storage, rest)) = file.split_once(':') else {
            return Err(format!("unable to parse drive options for '{key}'"));
        };
        let storage = storage.to_string();
        let Some(st) = self.storage(&storage).cloned() else {
            return Err(format!("storage '{storage}' does not exist"));
        };
        if rest == "cloudinit" {
            if !st.content.contains(&"images") {
                return Err(format!(
                    "storage '{storage}' does not support content-type 'images'"
                ));
            }
            set_opt(&mut opts, "media", "cdrom");
            return Ok(render_drive(
                &format!("{storage}:vm-{vmid}-cloudinit"),
                &opts,
            ));
        }
        let new_size = is_new_disk_size(rest);
        let import = opts
            .iter()
            .find(|(k, _)| k == "import-from")
            .map(|(_, v)| v.clone());
        if new_size.is_none() {
            // An existing volume: an ISO on a cdrom, or a disk reference.
            if cdrom {
                if !rest.starts_with("iso/") || self.volume_size(&file).is_none() {
                    return Err(format!("volume '{file}' does not exist"));
                }
            } else if self.volume_size(&file).is_none() {
                return Err(format!("volume '{file}' does not exist"));
            }
            return Ok(render_drive(&file, &opts));
        }
        if !st.content.contains(&"images") {
            return Err(format!(
                "storage '{storage}' does not support content-type 'images'"
            ));
        }
        let mut bytes = (new_size.unwrap_or(0.0) * GIB as f64) as u64;
        if key == "efidisk0" {
            // The size asked for is ignored: the volume holds a copy of the
            // OVMF vars template (4m: 540672 bytes, 2m: 131072), rounded up
            // to the 4 MiB extents of LVM.
            let four_m = opts.iter().any(|(k, v)| k == "efitype" && v == "4m");
            bytes = match (st.stype, four_m) {
                ("lvmthin" | "lvm", _) => 4 * MIB,
                (_, true) => 540_672,
                (_, false) => 131_072,
            };
        } else if let Some(src) = import {
            let Some(size) = self.volume_size(&src) else {
                return Err(format!("volume '{src}' does not exist"));
            };
            bytes = bytes.max(size);
            opts.retain(|(k, _)| k != "import-from");
        } else if bytes == 0 {
            return Err(format!(
                "{key}: size 0 is only allowed together with 'import-from'"
            ));
        }
        let n = self.next_disk_index(vmid, &storage, siblings);
        set_opt(&mut opts, "size", &format_size(bytes));
        Ok(render_drive(
            &format!("{storage}:vm-{vmid}-disk-{n}"),
            &opts,
        ))
    }

    /// Normalises a NIC: `virtio,bridge=vmbr0` → `virtio=BC:24:11:..,bridge=vmbr0`.
    pub(crate) fn normalize_net(&mut self, value: &str) -> String {
        let mut model = String::from("virtio");
        let mut mac = None;
        let mut rest: Vec<(String, String)> = Vec::new();
        for part in value.split(',').filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                None => model = part.to_string(),
                Some(("model", m)) => model = m.to_string(),
                Some(("macaddr", m)) => mac = Some(m.to_ascii_uppercase()),
                Some((k, v)) if is_nic_model(k) => {
                    model = k.to_string();
                    mac = Some(v.to_ascii_uppercase());
                }
                Some((k, v)) => rest.push((k.to_string(), v.to_string())),
            }
        }
        let mac = match mac {
            Some(m) => m,
            None => self.new_mac(),
        };
        rest.sort();
        let mut out = format!("{model}={mac}");
        for (k, v) in rest {
            out.push_str(&format!(",{k}={v}"));
        }
        out
    }

    /// The default `boot` order for a new VM: disks, then the first NIC.
    pub(crate) fn default_boot(conf: &BTreeMap<String, String>) -> String {
        let mut order: Vec<&str> = Vec::new();
        for prefix in ["scsi", "virtio", "sata", "ide"] {
            let mut keys: Vec<(u32, &str)> = conf
                .keys()
                .filter_map(|k| {
                    let (p, n) = schema::split_indexed(k)?;
                    (p == prefix).then_some((n, k.as_str()))
                })
                .collect();
            keys.sort();
            for (_, k) in keys {
                let is_ci = conf.get(k).is_some_and(|v| v.contains("cloudinit"));
                if !is_ci {
                    order.push(k);
                }
            }
        }
        if conf.contains_key("net0") {
            order.push("net0");
        }
        format!("order={}", order.join(";"))
    }

    /// The `/cluster/resources` row of a VM.
    pub(crate) fn resource_row(&self, vmid: u32, vm: &Vm) -> Value {
        let mut row = json!({
            "id": format!("qemu/{vmid}"),
            "type": "qemu",
            "node": vm.node,
            "vmid": vmid,
            "name": vm.name(),
            "status": if vm.running { "running" } else { "stopped" },
            "template": if vm.is_template() { 1 } else { 0 },
            "maxmem": vm.memory_mib() * MIB,
            "maxdisk": vm.maxdisk(),
            "maxcpu": vm.cpus(),
            "mem": 0,
            "cpu": 0,
            "disk": 0,
            "diskread": 0,
            "diskwrite": 0,
            "netin": 0,
            "netout": 0,
            "uptime": vm.started.map(|s| s.elapsed().as_secs()).unwrap_or(0),
        });
        if let Some(t) = vm.conf.get("tags") {
            row["tags"] = json!(t);
        }
        if let Some(l) = vm.conf.get("lock") {
            row["lock"] = json!(l);
        }
        if let Some(p) = self.pool_of(vmid) {
            row["pool"] = json!(p);
        }
        row
    }

    /// Disk-image volumes of a storage, from the VM configs.
    pub(crate) fn disk_volumes(&self, storage: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (vmid, vm) in &self.vms {
            for (k, v) in vm.conf.iter().chain(vm.pending.iter()) {
                if !(is_disk_key(k) || k.starts_with("unused")) {
                    continue;
                }
                let f = drive_file(v);
                let Some((s, name)) = f.split_once(':') else {
                    continue;
                };
                if s != storage || v.contains("media=cdrom") && !v.contains("cloudinit") {
                    continue;
                }
                if !seen.insert(f.clone()) {
                    continue;
                }
                let size = drive_opt(v, "size")
                    .and_then(|s| parse_size(&s))
                    .unwrap_or(4 * MIB);
                let name = name.rsplit('/').next().unwrap_or(name);
                out.push(json!({
                    "volid": format!("{s}:{name}"),
                    "content": "images",
                    "format": "raw",
                    "size": size,
                    "vmid": vmid,
                    "ctime": unix_now(),
                }));
            }
        }
        out
    }
}

/// Lowercase hex SHA-1 (aws-lc-rs; legacy use only: a change detector, not security).
pub(crate) fn sha1_hex(data: &[u8]) -> String {
    use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
    digest(&SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) const MIB: u64 = 1024 * 1024;
pub(crate) const GIB: u64 = 1024 * MIB;

const NIC_MODELS: &[&str] = &[
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rtl8139",
    "virtio",
    "vmxnet3",
];

pub(crate) fn is_nic_model(s: &str) -> bool {
    NIC_MODELS.contains(&s)
}

/// `ide0`, `sata1`, `scsi0`, `virtio3`, `efidisk0`, `tpmstate0`.
pub(crate) fn is_disk_key(k: &str) -> bool {
    if k == "efidisk0" || k == "tpmstate0" {
        return true;
    }
    matches!(
        schema::split_indexed(k),
        Some(("ide" | "sata" | "scsi" | "virtio", _))
    )
}

/// `^(([^/:\s]+):)?(\d+(\.\d+)?)$` (NEW_DISK_RE), the size part only.
fn is_new_disk_size(rest: &str) -> Option<f64> {
    let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (rest.contains('.') && frac.is_empty())
    {
        return None;
    }
    rest.parse().ok()
}

/// The volume part of a drive string (`local-lvm:vm-100-disk-0`).
pub(crate) fn drive_file(v: &str) -> String {
    let first = v.split(',').next().unwrap_or("");
    first.strip_prefix("file=").unwrap_or(first).to_string()
}

pub(crate) fn drive_opts(v: &str) -> Vec<(String, String)> {
    v.split(',')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn drive_opt(v: &str, key: &str) -> Option<String> {
    drive_opts(v)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

pub(crate) fn set_opt(opts: &mut Vec<(String, String)>, key: &str, value: &str) {
    match opts.iter_mut().find(|(k, _)| k == key) {
        Some(o) => o.1 = value.to_string(),
        None => opts.push((key.to_string(), value.to_string())),
    }
}

/// `file,key=value,...` with the keys sorted.
pub(crate) fn render_drive(file: &str, opts: &[(String, String)]) -> String {
    let mut opts = opts.to_vec();
    opts.sort();
    let mut out = file.to_string();
    for (k, v) in opts {
        out.push_str(&format!(",{k}={v}"));
    }
    out
}

/// `32G`, `512M`, `1.5G` (bytes → PVE `format_size`-like text).
pub(crate) fn format_size(bytes: u64) -> String {
    const T: u64 = 1024 * GIB;
    if bytes.is_multiple_of(T) && bytes >= T {
        format!("{}T", bytes / T)
    } else if bytes.is_multiple_of(GIB) && bytes >= GIB {
        format!("{}G", bytes / GIB)
    } else if bytes.is_multiple_of(MIB) && bytes >= MIB {
        format!("{}M", bytes / MIB)
    } else if bytes.is_multiple_of(1024) && bytes >= 1024 {
        format!("{}K", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

/// `32G`, `512M`, `1.5G`, `1024` → bytes.
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = match s.chars().last()? {
        c @ ('K' | 'M' | 'G' | 'T') => (&s[..s.len() - 1], c),
        _ => (s, 'B'),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite() && *f >= 0.0)?;
    let mult = match unit {
        'K' => 1024.0,
        'M' => MIB as f64,
        'G' => GIB as f64,
        'T' => 1024.0 * GIB as f64,
        _ => 1.0,
    };
    Some((n * mult) as u64)
}

/// Tags: split on `;`, `,` or space, de-duplicated, sorted, `;`-joined.
pub(crate) fn normalize_tags(v: &str) -> String {
    let set: BTreeSet<String> = v
        .split([';', ',', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase())
        .collect();
    set.into_iter().collect::<Vec<_>>().join(";")
}

/// Keys a running VM applies at once (the rest go to `[PENDING]`).
pub(crate) fn hotpluggable(key: &str) -> bool {
    matches!(
        key,
        "name" | "description" | "onboot" | "protection" | "tags" | "startup" | "lock"
    ) || key.starts_with("net")
        || is_disk_key(key)
        || key.starts_with("unused")
}

/// Renders a config value with its schema type: integers and booleans as
/// numbers, everything else (`memory` included) as a string.
pub(crate) fn render_value(key: &str, v: &str) -> Value {
    match schema::config_key_type(key) {
        "integer" => v.parse::<i64>().map(Value::from).unwrap_or(json!(v)),
        "boolean" => match schema::parse_bool(v) {
            Some(b) => json!(if b { 1 } else { 0 }),
            None => json!(v),
        },
        "number" => v
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .unwrap_or(json!(v)),
        _ => json!(v),
    }
}

/// A VM's config as `GET .../config` returns it.
pub(crate) fn render_config(vm: &Vm, current: bool) -> Value {
    let mut conf = vm.conf.clone();
    if !current {
        for (k, v) in &vm.pending {
            conf.insert(k.clone(), v.clone());
        }
        for k in &vm.pending_delete {
            conf.remove(k);
        }
    }
    let mut m = Map::new();
    for (k, v) in &conf {
        let shown = if k == "cipassword" { "**********" } else { v };
        m.insert(k.clone(), render_value(k, shown));
    }
    m.insert("digest".into(), json!(vm.digest()));
    Value::Object(m)
}

/// The `/pending` list.
pub(crate) fn render_pending(vm: &Vm) -> Value {
    let mut keys: BTreeSet<&String> = vm.conf.keys().collect();
    keys.extend(vm.pending.keys());
    keys.extend(vm.pending_delete.iter());
    let mask = |k: &str, v: &str| -> Value {
        if k == "cipassword" {
            json!("**********")
        } else {
            render_value(k, v)
        }
    };
    let mut out = Vec::new();
    for k in keys {
        let mut row = Map::new();
        row.insert("key".into(), json!(k));
        if let Some(v) = vm.conf.get(k) {
            row.insert("value".into(), mask(k, v));
        }
        if let Some(v) = vm.pending.get(k) {
            row.insert("pending".into(), mask(k, v));
        }
        if vm.pending_delete.contains(k) {
            row.insert("delete".into(), json!(1));
        }
        out.push(Value::Object(row));
    }
    out.push(json!({"key": "digest", "value": vm.digest()}));
    Value::Array(out)
}

/// The flock table, behind its own mutex so that releasing a lock never
/// needs the cluster mutex.
pub(crate) type Flocks = Arc<Mutex<HashMap<u32, Flock>>>;

/// A held per-VM file lock; released when dropped.
#[derive(Debug)]
pub struct VmLockGuard {
    pub(crate) flocks: Flocks,
    pub(crate) vmid: u32,
    pub(crate) exclusive: bool,
}

impl Drop for VmLockGuard {
    fn drop(&mut self) {
        let mut table = lock(&self.flocks);
        if let Some(f) = table.get_mut(&self.vmid) {
            if self.exclusive {
                f.exclusive = false;
            } else {
                f.shared = f.shared.saturating_sub(1);
            }
            if !f.exclusive && f.shared == 0 {
                table.remove(&self.vmid);
            }
        }
    }
}

/// Tries to take the flock once.
pub(crate) fn try_flock(shared: &Shared, vmid: u32, exclusive: bool) -> Option<VmLockGuard> {
    let flocks = lock(shared).flocks.clone();
    let mut table = lock(&flocks);
    let f = table.entry(vmid).or_default();
    let free = if exclusive {
        !f.exclusive && f.shared == 0
    } else {
        !f.exclusive
    };
    if !free {
        return None;
    }
    if exclusive {
        f.exclusive = true;
    } else {
        f.shared += 1;
    }
    drop(table);
    Some(VmLockGuard {
        flocks,
        vmid,
        exclusive,
    })
}

/// Waits up to `timeout` (real seconds, scaled by the time factor) for the
/// flock, like `PVE::Tools::lock_file_full`.
pub(crate) async fn flock(
    shared: &Shared,
    vmid: u32,
    exclusive: bool,
    timeout: Duration,
) -> Result<VmLockGuard, String> {
    let timeout = lock(shared).settings.scaled(timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(g) = try_flock(shared, vmid, exclusive) {
            return Ok(g);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "can't lock file '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout"
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(format_size(32 * GIB), "32G");
        assert_eq!(format_size(512 * MIB), "512M");
        assert_eq!(parse_size("1.5G"), Some(GIB + 512 * MIB));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn sha1_known_vectors() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn tags() {
        assert_eq!(normalize_tags("web;db,web prod"), "db;prod;web");
    }

    #[test]
    fn nets() {
        let mut c = Cluster::new();
        let n = c.normalize_net("model=virtio,firewall=1,bridge=vmbr0");
        assert!(n.starts_with("virtio=BC:24:11:"), "{n}");
        assert!(n.ends_with(",bridge=vmbr0,firewall=1"), "{n}");
        assert_eq!(
            c.normalize_net("virtio=bc:24:11:00:00:01,bridge=vmbr0"),
            "virtio=BC:24:11:00:00:01,bridge=vmbr0"
        );
    }
}
