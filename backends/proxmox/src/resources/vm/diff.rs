//! Plan → config changes: what a create sends, and what an update (or the
//! configuration of a fresh clone) changes. The sub-blocks diff their own
//! parts ([`Part::diff`]).

use labforge_framework::Result;

use super::Part;
use super::changes::{Changes, yes};
use super::cloud_init::CloudInit;
use super::disks::Disks;
use super::model::{VmModel, flag};
use super::nics::Nics;
use crate::client::VmConfig;
use crate::pveconf;

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
    if let Some(disks) = &plan.disk {
        Disks::diff(&mut ch, disks, prior.and_then(|p| p.disk.as_ref()), cfg)?;
    }
    if let Some(nets) = &plan.network {
        Nics::diff(&mut ch, nets, prior.and_then(|p| p.network.as_ref()), cfg)?;
    }
    if let Some(order) = plan.boot_order.as_ref().filter(|o| !o.is_empty())
        && cfg.get("boot").map(pveconf::parse_boot).as_ref() != Some(order)
    {
        ch.set.push(("boot".into(), pveconf::render_boot(order)));
    }
    if let Some(init) = &plan.initialization {
        let prior = prior.and_then(|p| p.initialization.as_ref());
        CloudInit::diff(&mut ch, init, prior, cfg)?;
    }
    Ok(ch)
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::client::VmStatus;
    use crate::resources::vm::cloud_init::{DnsModel, InitModel, IpModel};
    use crate::resources::vm::disks::DiskModel;
    use crate::resources::vm::model::{CpuModel, MemoryModel, fill};
    use crate::resources::vm::nics::NetModel;
    use crate::resources::vm::testing::cfg;

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
}
