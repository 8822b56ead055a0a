//! Proxmox VE: the cluster resource and node lists the client reads, and the
//! `key=value,...` strings PVE prints in a VM's config (disks, NICs,
//! ipconfig, tags, boot order, cicustom, SSH keys) as the client parses them.
#![no_main]

use labforge_proxmox::client::{self, ClusterVm, NodeInfo};
use labforge_proxmox::pveconf::{self, Disk, IpConfig, Net};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(vms) = serde_json::from_slice::<Vec<ClusterVm>>(data) {
        for vm in &vms {
            let _ = (vm.id(), vm.is_template());
        }
    }
    let _ = serde_json::from_slice::<Vec<NodeInfo>>(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = (client::text(&v), client::num(&v));
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = pveconf::parse_props(s, "file");
    let d = Disk::parse(s);
    let _ = (
        d.render(),
        d.is_cdrom(),
        d.is_cloudinit(),
        d.storage(),
        d.size_gib(),
    );
    let _ = Net::parse(s).render();
    let _ = IpConfig::parse(s).render();
    let _ = pveconf::size_gib(s);
    let _ = pveconf::parse_tags(s);
    let _ = pveconf::url_decode(s);
    let _ = pveconf::url_encode(s);
    let _ = pveconf::decode_ssh_keys(s);
    let _ = pveconf::parse_boot(s);
    let _ = pveconf::parse_memory(s);
    let _ = pveconf::cpu_type(s);
    let _ = pveconf::with_cpu_type(Some(s), "host");
    let _ = pveconf::agent_enabled(s);
    let _ = pveconf::with_agent(Some(s), true);
    let _ = pveconf::parse_cicustom(s);
    let _ = pveconf::is_mac(s);
    let _ = pveconf::norm_mac(s);
    let _ = client::api_base(s);
});
