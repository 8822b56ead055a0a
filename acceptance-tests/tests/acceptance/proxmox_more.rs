//! More acceptance tests of `homelab_proxmox_vm` against the Proxmox VE
//! simulator: ticket login, restricted tokens, OVMF with an EFI disk, pools,
//! moving a disk to another storage, and pending changes on running VMs.

#![allow(clippy::unwrap_used)]

use anyhow::{Result, ensure};
use labforge_acceptance_tests::{Action, Provider, Step, TestCase};
use labforge_simulators::proxmox::{
    NO_CLOUDINIT_TOKEN, ProxmoxSim, READONLY_TOKEN, ROOT_PASSWORD, SEED_TEMPLATE,
};

use crate::support::proxmox::{Auth, RT, addr, admin, hcl, only_seed_left, sim};

/// Only the seeded template is left, and no disk image but the template's.
fn nothing_left(sim: &ProxmoxSim) -> Result<()> {
    only_seed_left(sim)?;
    for storage in ["local-lvm", "fast"] {
        let images: Vec<String> = sim
            .disk_images(storage)
            .into_iter()
            .filter(|v| !v.contains(&format!("-{SEED_TEMPLATE}-")))
            .collect();
        ensure!(
            images.is_empty(),
            "disk images left on {storage}: {images:?}"
        );
    }
    Ok(())
}

/// Requests other than GET since the last counter reset.
fn writes(sim: &ProxmoxSim) -> Vec<String> {
    sim.counters()
        .snapshot()
        .into_iter()
        .filter(|((m, _), _)| m != "GET")
        .map(|((m, p), n)| format!("{n} x {m} {p}"))
        .collect()
}

fn small_vm(vm_id: u32, cores: u32, memory: u32, started: bool) -> String {
    format!(
        r#"resource "{RT}" "vm" {{
  node    = "pve1"
  vm_id   = {vm_id}
  name    = "small-{vm_id}"
  started = {started}
  cpu     = {{ cores = {cores}, type = "x86-64-v2-AES" }}
  memory  = {{ dedicated = {memory} }}
  disk = {{
    scsi0 = {{ storage = "local-lvm", size = 4 }}
  }}
  network = {{ net0 = {{ bridge = "vmbr0" }} }}
}}
"#
    )
}

#[test]
fn ticket_login_create_update_destroy() {
    let sim = sim();
    let with_ci = |cores: u32, memory: u32| {
        small_vm(200, cores, memory, true).replace(
            "  network = {",
            "  initialization {\n    user = \"ops\"\n  }\n  network = {",
        )
    };
    let c1 = hcl(&sim, Auth::Env, &with_ci(1, 1024));
    let c2 = hcl(&sim, Auth::Env, &with_ci(2, 2048));
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    let vm = addr("vm");
    TestCase::new()
        .provider(Provider::homelab())
        .env("PROXMOX_VE_USERNAME", "root@pam")
        .env("PROXMOX_VE_PASSWORD", ROOT_PASSWORD)
        .step(
            Step::config(&c1)
                .expect_action(&vm, Action::Create)
                .expect_attr(&vm, "id", "pve1/200")
                .expect_attr(&vm, "initialization.user", "ops")
                .check(move |_| {
                    let logins = s1.counters().get("POST", "/api2/json/access/ticket");
                    ensure!(logins >= 1, "no ticket login seen");
                    ensure!(s1.vm_running(200) == Some(true));
                    Ok(())
                }),
        )
        .step(
            Step::config(&c2)
                .expect_action(&vm, Action::Update)
                .expect_attr(&vm, "cpu.cores", 2)
                .expect_attr(&vm, "memory.dedicated", 2048)
                .check(move |_| {
                    let cfg = s2.vm_config_json(200).unwrap();
                    ensure!(cfg["cores"] == 2, "cores: {}", cfg["cores"]);
                    Ok(())
                }),
        )
        .step(
            Step::import(&vm)
                .import_state_verify()
                .import_state_verify_ignore(&["ipv4_addresses", "ipv6_addresses"]),
        )
        .check_destroy(move |_| nothing_left(&s3))
        .run();
}

#[test]
fn read_only_token_plans_but_cannot_apply() {
    let sim = sim();
    let extra = format!(
        r#"resource "{RT}" "extra" {{
  node    = "pve1"
  vm_id   = 211
  started = false
  disk    = {{ scsi0 = {{ storage = "local-lvm", size = 2 }} }}
}}
"#
    );
    let body1 = small_vm(210, 2, 1024, false);
    let c1 = admin(&sim, &body1);
    let ro_same = hcl(&sim, Auth::Token(READONLY_TOKEN), &body1);
    let ro_changed = hcl(
        &sim,
        Auth::Token(READONLY_TOKEN),
        &format!("{}{extra}", small_vm(210, 3, 1024, false)),
    );
    let (s1, s2, s3, s4) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(&c1))
        // Refresh and plan need only VM.Audit: an empty plan, and no writes.
        .step(Step::plan_only(&ro_same).pre_step(move |_| {
            s1.counters().reset();
            Ok(())
        }))
        .step(
            Step::config(&ro_changed)
                .pre_step(move |_| {
                    let w = writes(&s2);
                    ensure!(w.is_empty(), "the read-only plan wrote: {w:?}");
                    Ok(())
                })
                .expect_error(
                    r"(?s)(lacks privilege VM\.Config\.CPU on /vms/210.*lacks privilege VM\.Allocate on /vms/211|lacks privilege VM\.Allocate on /vms/211.*lacks privilege VM\.Config\.CPU on /vms/210)",
                ),
        )
        // Nothing changed; the admin token plans no changes.
        .step(Step::config(&c1).pre_step(move |_| {
            let cfg = s3.vm_config_json(210).unwrap();
            ensure!(cfg["cores"] == 2, "cores changed: {}", cfg["cores"]);
            ensure!(s3.list_vms() == vec![210, SEED_TEMPLATE], "{:?}", s3.list_vms());
            Ok(())
        }))
        .check_destroy(move |_| nothing_left(&s4))
        .run();
}

#[test]
fn no_cloudinit_token_refuses_initialization_and_leaves_nothing() {
    let sim = sim();
    let body = format!(
        r#"resource "{RT}" "scratch" {{
  node    = "pve1"
  vm_id   = 220
  started = false
  disk    = {{ scsi0 = {{ storage = "local-lvm", size = 2 }} }}
  network = {{ net0 = {{ bridge = "vmbr0" }} }}
  initialization {{
    user = "ops"
  }}
}}

resource "{RT}" "cloned" {{
  node    = "pve1"
  started = false
  clone {{
    vm_id = {SEED_TEMPLATE}
  }}
  initialization {{
    user = "ops"
  }}
}}
"#
    );
    let c1 = hcl(&sim, Auth::Token(NO_CLOUDINIT_TOKEN), &body);
    let (s1, s2) = (sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(&c1).expect_error(
            r"(?s)(lacks privilege VM\.Config\.Cloudinit on /vms/220.*lacks privilege VM\.Config\.Cloudinit on /vms/\d+|lacks privilege VM\.Config\.Cloudinit on /vms/\d+.*lacks privilege VM\.Config\.Cloudinit on /vms/220)",
        ))
        .step(
            Step::refresh()
                .pre_step(move |ctx| {
                    let st = ctx.workdir.state_json()?;
                    let left: Vec<String> = st
                        .resources()
                        .into_iter()
                        .map(|r| r.address().to_string())
                        .collect();
                    ensure!(left.is_empty(), "left in state: {left:?}");
                    nothing_left(&s1)
                })
                .expect_non_empty_plan(),
        )
        .check_destroy(move |_| nothing_left(&s2))
        .run();
}

fn ovmf_vm(bios_extra: &str) -> String {
    format!(
        r#"resource "{RT}" "uefi" {{
  node    = "pve1"
  vm_id   = 230
  name    = "uefi"
  started = false
  bios    = "ovmf"
  machine = "q35"
  efi_disk = {{
    storage           = "local-lvm"
    type              = "4m"
    pre_enrolled_keys = true
  }}
  disk = {{
    scsi0 = {{ storage = "local-lvm", size = 4 }}
  }}
  network = {{ net0 = {{ bridge = "vmbr0" }} }}{bios_extra}
}}
"#
    )
}

#[test]
fn ovmf_with_efi_disk() {
    let sim = sim();
    let c1 = admin(&sim, &ovmf_vm(""));
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    let vm = addr("uefi");
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .expect_action(&vm, Action::Create)
                .expect_attr(&vm, "bios", "ovmf")
                .expect_attr(&vm, "machine", "q35")
                .expect_attr(&vm, "efi_disk.storage", "local-lvm")
                .expect_attr(&vm, "efi_disk.type", "4m")
                .expect_attr(&vm, "efi_disk.pre_enrolled_keys", true)
                .expect_attr(&vm, "disk.scsi0.volume", "local-lvm:vm-230-disk-0")
                .check(move |_| {
                    let cfg = s1.vm_config_json(230).unwrap();
                    ensure!(
                        cfg["efidisk0"]
                            == "local-lvm:vm-230-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M",
                        "efidisk0: {}",
                        cfg["efidisk0"]
                    );
                    let images = s1.disk_images("local-lvm");
                    ensure!(
                        images.contains(&"local-lvm:vm-230-disk-1".to_string()),
                        "EFI disk not allocated: {images:?}"
                    );
                    Ok(())
                }),
        )
        .step(
            Step::import(&vm)
                .import_state_verify()
                .import_state_verify_ignore(&["ipv4_addresses", "ipv6_addresses"]),
        )
        // Drift: switched back to SeaBIOS behind our back.
        .step(
            Step::plan_only(&c1)
                .pre_step(move |_| {
                    s2.modify_vm(230, &[("bios", "seabios")], &[])
                        .map_err(anyhow::Error::msg)
                })
                .expect_non_empty_plan()
                .expect_action(&vm, Action::Update),
        )
        .step(
            Step::config(&c1)
                .expect_action(&vm, Action::Update)
                .expect_attr(&vm, "bios", "ovmf"),
        )
        .check_destroy(move |_| nothing_left(&s3))
        .run();
}

fn pooled(pool: &str, storage: &str, clone_pool: &str) -> String {
    format!(
        r#"resource "{RT}" "pooled" {{
  node  = "pve1"
  vm_id = 240
  name  = "pooled"
  pool  = "{pool}"
  cpu   = {{ cores = 1 }}
  disk = {{
    scsi0 = {{ storage = "{storage}", size = 4, discard = true }}
  }}
  network = {{ net0 = {{ bridge = "vmbr0" }} }}
}}

resource "{RT}" "pooled_clone" {{
  node    = "pve1"
  vm_id   = 241
  started = false
  pool    = "{clone_pool}"
  clone {{
    vm_id = {SEED_TEMPLATE}
  }}
}}
"#
    )
}

#[test]
fn pool_membership_and_disk_move() {
    let sim = sim();
    sim.add_pool("lab");
    sim.add_pool("prod");
    let c1 = admin(&sim, &pooled("lab", "local-lvm", "lab"));
    let c2 = admin(&sim, &pooled("prod", "fast", "lab"));
    let (s1, s2, s3, s4, s5, s6) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    let vm = addr("pooled");
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .expect_attr(&vm, "pool", "lab")
                .expect_attr(&addr("pooled_clone"), "pool", "lab")
                .check(move |_| {
                    ensure!(s1.vm_pool(240).as_deref() == Some("lab"));
                    ensure!(s1.vm_pool(241).as_deref() == Some("lab"));
                    ensure!(s1.vm_running(240) == Some(true));
                    Ok(())
                }),
        )
        // New pool and the disk to another storage: both in place, on a running VM.
        .step(
            Step::config(&c2)
                .expect_action(&vm, Action::Update)
                .expect_attr(&vm, "pool", "prod")
                .expect_attr(&vm, "disk.scsi0.storage", "fast")
                .expect_attr(&vm, "disk.scsi0.volume", "fast:vm-240-disk-0")
                .expect_attr(&vm, "disk.scsi0.size", 4)
                .check(move |_| {
                    ensure!(s2.vm_pool(240).as_deref() == Some("prod"));
                    let cfg = s2.vm_config_json(240).unwrap();
                    ensure!(
                        cfg["scsi0"] == "fast:vm-240-disk-0,discard=on,size=4G",
                        "scsi0: {}",
                        cfg["scsi0"]
                    );
                    let unused: Vec<_> = cfg
                        .as_object()
                        .unwrap()
                        .keys()
                        .filter(|k| k.starts_with("unused"))
                        .collect();
                    ensure!(unused.is_empty(), "source disk kept: {unused:?}");
                    let old = s2.disk_images("local-lvm");
                    ensure!(
                        !old.iter().any(|v| v.contains("vm-240-")),
                        "source volume left: {old:?}"
                    );
                    ensure!(s2.vm_running(240) == Some(true));
                    Ok(())
                }),
        )
        .step(
            Step::import(&vm)
                .import_state_verify()
                .import_state_verify_ignore(&["ipv4_addresses", "ipv6_addresses"]),
        )
        // Drift: moved to another pool behind our back.
        .step(
            Step::plan_only(&c2)
                .pre_step(move |_| {
                    ensure!(s3.set_vm_pool(240, Some("lab")));
                    Ok(())
                })
                .expect_non_empty_plan()
                .expect_action(&vm, Action::Update),
        )
        .step(Step::config(&c2).check(move |_| {
            ensure!(s4.vm_pool(240).as_deref() == Some("prod"));
            Ok(())
        }))
        // Drift: taken out of every pool.
        .step(
            Step::plan_only(&c2)
                .pre_step(move |_| {
                    ensure!(s5.set_vm_pool(240, None));
                    Ok(())
                })
                .expect_non_empty_plan()
                .expect_action(&vm, Action::Update),
        )
        .step(Step::config(&c2))
        .check_destroy(move |_| {
            ensure!(s6.vm_pool(240).is_none() && s6.vm_pool(241).is_none());
            nothing_left(&s6)
        })
        .run();
}

fn rebooting(cores: u32, cpu: &str, reboot: bool) -> String {
    format!(
        r#"resource "{RT}" "busy" {{
  node                = "pve1"
  vm_id               = 250
  name                = "busy"
  reboot_after_update = {reboot}
  cpu                 = {{ cores = {cores}, type = "{cpu}" }}
  memory              = {{ dedicated = 1024 }}
  disk = {{
    scsi0 = {{ storage = "local-lvm", size = 4 }}
  }}
  network = {{ net0 = {{ bridge = "vmbr0" }} }}
}}
"#
    )
}

fn reboots(sim: &ProxmoxSim) -> usize {
    sim.tasks()
        .iter()
        .filter(|(u, e)| u.contains(":qmreboot:250:") && e.as_deref() == Some("OK"))
        .count()
}

#[test]
fn reboot_after_update_applies_pending_changes() {
    let sim = sim();
    let c1 = admin(&sim, &rebooting(1, "x86-64-v2-AES", true));
    let c2 = admin(&sim, &rebooting(2, "host", true));
    let c3 = admin(&sim, &rebooting(4, "host", false));
    let c4 = admin(&sim, &rebooting(4, "host", true));
    let (s1, s2, s3, s4) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    let vm = addr("busy");
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(&c1))
        // CPU changes of a running VM wait in [PENDING]: the provider reboots.
        .step(
            Step::config(&c2)
                .expect_action(&vm, Action::Update)
                .expect_attr(&vm, "cpu.cores", 2)
                .expect_attr(&vm, "cpu.type", "host")
                .check(move |_| {
                    let pending = s1.vm_pending(250).unwrap();
                    ensure!(pending.is_empty(), "still pending: {pending:?}");
                    let cur: std::collections::BTreeMap<_, _> =
                        s1.vm_config(250).unwrap().into_iter().collect();
                    ensure!(cur.get("cores").map(String::as_str) == Some("2"));
                    ensure!(cur.get("cpu").map(String::as_str) == Some("host"));
                    ensure!(reboots(&s1) == 1, "reboots: {}", reboots(&s1));
                    ensure!(s1.vm_running(250) == Some(true));
                    Ok(())
                }),
        )
        // Without reboot: a warning names the pending keys; state holds the
        // configured value and the next plan is empty.
        .step(Step::plan_only(&c3).pre_step({
            let c3 = c3.clone();
            move |ctx| {
                ctx.workdir.write_config(&c3)?;
                let out = ctx.workdir.apply()?;
                let text = out.combined();
                ensure!(
                    text.contains("VM needs a reboot") && text.contains("cores"),
                    "no pending warning in:\n{text}"
                );
                let pending = s2.vm_pending(250).unwrap();
                ensure!(
                    pending == vec![("cores".to_string(), "4".to_string())],
                    "pending: {pending:?}"
                );
                ensure!(reboots(&s2) == 1);
                let st = ctx.workdir.state_json()?;
                let r = st.get(&addr("busy"))?;
                ensure!(r.attr_string("cpu.cores").as_deref() == Some("4"));
                Ok(())
            }
        }))
        // Turning reboot_after_update on applies what is pending.
        .step(
            Step::config(&c4)
                .expect_action(&vm, Action::Update)
                .check(move |_| {
                    let pending = s3.vm_pending(250).unwrap();
                    ensure!(pending.is_empty(), "still pending: {pending:?}");
                    ensure!(reboots(&s3) == 2, "reboots: {}", reboots(&s3));
                    Ok(())
                }),
        )
        .step(
            Step::import(&vm)
                .import_state_verify()
                .import_state_verify_ignore(&[
                    "ipv4_addresses",
                    "ipv6_addresses",
                    "reboot_after_update",
                ]),
        )
        .check_destroy(move |_| nothing_left(&s4))
        .run();
}
