//! More acceptance tests of `homelab_proxmox_vm` against the Proxmox VE
//! simulator: ticket login, restricted tokens, OVMF with an EFI disk, pools,
//! moving a disk to another storage, and pending changes on running VMs.

#![allow(clippy::unwrap_used)]

use anyhow::{Result, ensure};
use labforge_acceptance_tests::{Action, Provider, Step, TestCase, workspace_root};
use labforge_simulators::proxmox::{
    NO_CLOUDINIT_TOKEN, ProxmoxSim, READONLY_TOKEN, ROOT_PASSWORD, SEED_TEMPLATE, SHARED_STORAGE,
};

use crate::support::proxmox::{Auth, RT, addr, admin, hcl, only_seed_left, sim};

/// Only the seeded template is left, and no disk image but the template's.
fn nothing_left(sim: &ProxmoxSim) -> Result<()> {
    only_seed_left(sim)?;
    for storage in ["local-lvm", "fast", SHARED_STORAGE] {
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

const CREATE: &str = "/api2/json/nodes/{node}/qemu";

fn plain_vm(name: &str) -> String {
    format!(
        r#"resource "{RT}" "{name}" {{
  node    = "pve1"
  name    = "{name}"
  started = false
  disk    = {{ scsi0 = {{ storage = "local-lvm", size = 2 }} }}
}}
"#
    )
}

/// "got no worker upid - start worker failed" on a create: Proxmox VE has
/// already written the VM's `lock: create` config, so the old client's
/// retry got "already exists", moved on to the next VMID and left the stub.
/// Now the create fails at once, naming the VMID left locked and how to
/// remove it (a token cannot: `skiplock` is root-only).
#[test]
fn worker_start_failure_with_a_token_reports_the_locked_vmid() {
    let sim = sim();
    let c1 = admin(&sim, &plain_vm("stub"));
    let (s1, s2, s3, s4) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .pre_step(move |_| {
                    s1.fail_worker_start("qmcreate", 1);
                    Ok(())
                })
                .expect_error(
                    r"(?s)got no worker upid - start worker failed.*VM\s+100\s+on\s+node\s+pve1.*left\s+behind.*skiplock",
                ),
        )
        .step(
            Step::plan_only(&c1)
                .pre_step(move |_| {
                    ensure!(
                        s2.counters().get("POST", CREATE) == 1,
                        "the create was retried: {:?}",
                        s2.counters().snapshot()
                    );
                    ensure!(s2.list_vms() == vec![100, SEED_TEMPLATE], "{:?}", s2.list_vms());
                    let conf = s2.vm_config_json(100).unwrap_or_default();
                    ensure!(conf["lock"] == "create", "no stub: {conf}");
                    // As root would: remove the stub.
                    ensure!(s2.delete_vm(100));
                    Ok(())
                })
                .expect_non_empty_plan()
                .expect_action(&addr("stub"), Action::Create),
        )
        .step(
            Step::config(&c1)
                .expect_attr(&addr("stub"), "vm_id", 100)
                .check(move |_| {
                    ensure!(s3.vm_config_json(100).is_some_and(|c| c.get("lock").is_none()));
                    Ok(())
                }),
        )
        .check_destroy(move |_| nothing_left(&s4))
        .run();
}

/// The same failure with root@pam (ticket login), who may use `skiplock`:
/// the stub is removed, and the error says so.
#[test]
fn worker_start_failure_as_root_removes_the_stub() {
    let sim = sim();
    let c1 = hcl(&sim, Auth::Env, &plain_vm("stub"));
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    let vm = addr("stub");
    TestCase::new()
        .provider(Provider::homelab())
        .env("PROXMOX_VE_USERNAME", "root@pam")
        .env("PROXMOX_VE_PASSWORD", ROOT_PASSWORD)
        .step(
            Step::config(&c1)
                .pre_step(move |_| {
                    s1.fail_worker_start("qmcreate", 1);
                    Ok(())
                })
                .expect_error(r"(?s)got no worker upid.*VM\s+100.*was\s+removed"),
        )
        .step(
            Step::plan_only(&c1)
                .pre_step(move |_| {
                    ensure!(s2.counters().get("POST", CREATE) == 1);
                    ensure!(s2.list_vms() == vec![SEED_TEMPLATE], "{:?}", s2.list_vms());
                    Ok(())
                })
                .expect_non_empty_plan()
                .expect_action(&vm, Action::Create),
        )
        .step(Step::config(&c1).expect_attr(&vm, "vm_id", 100))
        .step(
            Step::import(&vm)
                .import_state_verify()
                .import_state_verify_ignore(&["ipv4_addresses", "ipv6_addresses"]),
        )
        .check_destroy(move |_| nothing_left(&s3))
        .run();
}

/// Mistakes Proxmox VE would refuse at apply are reported at plan, naming
/// the attribute, and nothing is written: a linked clone with a target
/// storage, a node the cluster does not have (also as a clone's source),
/// and a file name whose extension pve-storage refuses for its content type.
#[test]
fn mistakes_proxmox_refuses_are_reported_at_plan() {
    let sim = sim();
    let cases = [
        (
            format!(
                r#"resource "{RT}" "linked" {{
  node = "pve1"
  clone {{
    vm_id          = {SEED_TEMPLATE}
    full           = false
    target_storage = "fast"
  }}
}}
"#
            ),
            r"(?s)Target storage needs a full clone.*clone\.target_storage",
        ),
        (
            format!("resource \"{RT}\" \"lost\" {{\n  node = \"pve9\"\n}}\n"),
            r#"(?s)Unknown node.*node: "pve9" is not a node of this Proxmox VE\s+cluster"#,
        ),
        (
            format!(
                "resource \"{RT}\" \"lost\" {{\n  node = \"pve1\"\n  clone {{\n    vm_id = {SEED_TEMPLATE}\n    node  = \"pve7\"\n  }}\n}}\n"
            ),
            r#"(?s)Unknown node.*clone\.node: "pve7""#,
        ),
        (
            r#"resource "homelab_proxmox_download_file" "img" {
  node         = "pve1"
  storage      = "local"
  content_type = "import"
  file_name    = "noble-server-cloudimg-amd64.img"
  url          = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
}
"#
            .to_string(),
            r#"(?s)file_name.*"noble-server-cloudimg-amd64.img" does not end in\s+\.ova,\s+\.qcow2,\s+\.raw,\s+\.vmdk"#,
        ),
        (
            r#"resource "homelab_proxmox_download_file" "iso" {
  node         = "pve1"
  storage      = "local"
  content_type = "iso"
  file_name    = "installer.qcow2"
  url          = "https://example.org/installer.iso"
}
"#
            .to_string(),
            r#"(?s)file_name.*"installer.qcow2" does not end in \.iso, \.img"#,
        ),
    ];
    let mut tc = TestCase::new().provider(Provider::homelab());
    for (body, err) in cases {
        tc = tc.step(Step::plan_only(admin(&sim, &body)).expect_error(err));
    }
    let ok = admin(
        &sim,
        &format!(
            r#"resource "{RT}" "linked" {{
  node    = "pve2"
  started = false
  clone {{
    vm_id = {SEED_TEMPLATE}
    node  = "pve1"
    full  = true
  }}
}}

resource "{RT}" "other" {{
  node    = "pve1"
  started = false
}}
"#
        ),
    );
    let (s1, s2) = (sim.clone(), sim.clone());
    // Known nodes plan; the node list is read once per provider process
    // (two resources, three nodes checked, one read).
    tc.step(
        Step::plan_only(&ok)
            .pre_step(move |_| {
                let w = writes(&s1);
                ensure!(w.is_empty(), "plans wrote: {w:?}");
                s1.counters().reset();
                Ok(())
            })
            .expect_non_empty_plan()
            .plan_check(move |_| {
                let n = s2.counters().get("GET", "/api2/json/nodes");
                ensure!(n == 1, "{n} node list reads in one plan");
                Ok(())
            }),
    )
    .run();
}

/// The documented example (`examples/resources/homelab_proxmox_vm`):
/// applied, then the cloned `k8s[0]` imported with its documented import
/// ID. The plan that imports it is empty: the clone source is read from
/// Proxmox (a clone keeps its template's `meta`), and `reboot_after_update`
/// and `wait_for_ip_seconds`, which Proxmox has no record of, show no
/// change. Drift on the imported VM is still planned and fixed.
#[test]
fn documented_import_example_plans_no_change() {
    let sim = sim();
    let example = std::fs::read_to_string(
        workspace_root().join("examples/resources/homelab_proxmox_vm/resource.tf"),
    )
    .unwrap();
    let import_sh = std::fs::read_to_string(
        workspace_root().join("examples/resources/homelab_proxmox_vm/import.sh"),
    )
    .unwrap();
    let address = import_sh
        .lines()
        .find_map(|l| l.strip_prefix("terraform import "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert_eq!(address, "homelab_proxmox_vm.k8s[0]");
    let re = regex::Regex::new(r#"(node\s*=\s*)"pve""#).unwrap();
    let ours = re.replace_all(&example, r#"${1}"pve1""#).to_string();
    let more_cores = ours.replace("cpu    = { cores = 4 }", "cpu    = { cores = 6 }");
    assert_ne!(ours, more_cores, "the example changed: update this test");
    let c1 = admin(&sim, &ours);
    let c2 = admin(&sim, &more_cores);
    let (s1, s2) = (sim.clone(), sim.clone());
    let k8s0 = address.clone();
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .expect_attr(&address, "reboot_after_update", true)
                .expect_attr_set(&address, "clone.vm_id"),
        )
        .step(
            Step::import(&address)
                .import_block()
                .import_state_verify()
                .import_state_verify_ignore(&[
                    "ipv4_addresses",
                    "ipv6_addresses",
                    "reboot_after_update",
                ]),
        )
        .step(
            Step::plan_only(&c1)
                .pre_step(move |ctx| {
                    let st = ctx.workdir.state_json()?;
                    let id = st.attr(&k8s0, "vm_id")?.as_u64().unwrap_or(0) as u32;
                    s1.modify_vm(id, &[("memory", "1024")], &[])
                        .map_err(anyhow::Error::msg)
                })
                .expect_non_empty_plan()
                .expect_action(&address, Action::Update),
        )
        .step(Step::config(&c2).expect_attr(&address, "cpu.cores", 6))
        .check_destroy(move |_| nothing_left(&s2))
        .run();
}

const CI_PASSWORD_1: &str = "ci-wo-Pa55-7d41c2e8";
const CI_PASSWORD_2: &str = "ci-wo-Pa55-93be0f1a";
const WO_VMID: u32 = 240;

/// A stopped VM whose cloud-init password is write-only.
fn wo_vm(password: &str, version: i64) -> String {
    small_vm(WO_VMID, 1, 512, false).replace(
        "  network = {",
        &format!(
            "  initialization {{\n    user                = \"ops\"\n    password_wo         = \"{password}\"\n    password_wo_version = {version}\n  }}\n  network = {{"
        ),
    )
}

/// The `cipassword` the simulator holds for the VM (its config, not the
/// masked `**********` the API returns). Proxmox VE stores a crypt hash of
/// it; the simulator keeps what it got.
fn sim_cipassword(sim: &ProxmoxSim) -> Option<String> {
    sim.vm_config(WO_VMID)?
        .into_iter()
        .find(|(k, _)| k == "cipassword")
        .map(|(_, v)| v)
}

fn ensure_sim_password(sim: &ProxmoxSim, want: &str, which: &str) -> Result<()> {
    ensure!(
        sim_cipassword(sim).as_deref() == Some(want),
        "the simulator does not hold {which} as the VM's cipassword"
    );
    Ok(())
}

/// Neither write-only password anywhere in `text` (named `what`); the
/// error never shows the text.
fn ensure_no_password(what: &str, text: &str) -> Result<()> {
    for (name, p) in [("password 1", CI_PASSWORD_1), ("password 2", CI_PASSWORD_2)] {
        ensure!(!text.contains(p), "{what} holds the write-only {name}");
    }
    Ok(())
}

/// The local state file, read as it is on disk.
fn state_file(wd: &labforge_acceptance_tests::workdir::Workdir) -> Result<String> {
    let text = std::fs::read_to_string(wd.path().join("terraform.tfstate"))?;
    ensure!(
        text.contains("password_wo_version"),
        "the state file does not hold the VM"
    );
    Ok(text)
}

/// `initialization.password_wo` (Terraform 1.11 write-only) with
/// `password_wo_version`: created with the password, which the state file
/// never holds; a changed password alone plans nothing; bumping the
/// version sends the new one; a password removed behind Terraform's back
/// is sent again; import reads the VM without a version (a config-driven
/// import plans only setting it, which sends the password).
#[test]
fn write_only_cloud_init_password() {
    let sim = sim();
    let c1 = admin(&sim, &wo_vm(CI_PASSWORD_1, 1));
    let c2 = admin(&sim, &wo_vm(CI_PASSWORD_2, 1));
    let c3 = admin(&sim, &wo_vm(CI_PASSWORD_2, 2));
    let vm = addr("vm");
    let (s1, s2, s3, s4, s5, s6) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .expect_action(&vm, Action::Create)
                .expect_attr(&vm, "initialization.user", "ops")
                .expect_attr_null(&vm, "initialization.password_wo")
                .expect_attr(&vm, "initialization.password_wo_version", 1)
                .check(move |state| {
                    ensure_sim_password(&s1, CI_PASSWORD_1, "password 1")?;
                    ensure_no_password("show -json", &state.raw.to_string())
                }),
        )
        // A new password without a new version: nothing to do.
        .step(
            Step::plan_only(&c2)
                .pre_step(|ctx| ensure_no_password("the state file", &state_file(ctx.workdir)?)),
        )
        .step(
            Step::config(&c3)
                .pre_step(move |_| ensure_sim_password(&s2, CI_PASSWORD_1, "password 1"))
                .expect_action(&vm, Action::Update)
                .expect_attr(&vm, "initialization.password_wo_version", 2)
                .check(move |state| {
                    ensure_sim_password(&s3, CI_PASSWORD_2, "password 2")?;
                    ensure_no_password("show -json", &state.raw.to_string())
                }),
        )
        // The password removed behind Terraform's back: refresh clears the
        // version, and the apply sends the password again.
        .step(
            Step::config(&c3)
                .pre_step(move |ctx| {
                    ensure_no_password("the state file", &state_file(ctx.workdir)?)?;
                    ensure!(s4.set_raw_config(WO_VMID, "cipassword", None));
                    ensure!(sim_cipassword(&s4).is_none());
                    Ok(())
                })
                .expect_action(&vm, Action::Update)
                .expect_attr(&vm, "initialization.password_wo_version", 2)
                .check(move |_| ensure_sim_password(&s5, CI_PASSWORD_2, "password 2")),
        )
        .step(
            Step::import(&vm)
                .pre_step(|ctx| ensure_no_password("the state file", &state_file(ctx.workdir)?))
                .expect_attr_null(&vm, "initialization.password_wo")
                .expect_attr_null(&vm, "initialization.password_wo_version")
                .import_state_verify()
                .import_state_verify_ignore(&[
                    "ipv4_addresses",
                    "ipv6_addresses",
                    "initialization.password_wo_version",
                ]),
        )
        // Import cannot know the version (Proxmox VE keeps only a hash),
        // and Terraform wants a configured non-computed value planned as
        // configured when the prior one is null: the one change planned.
        .step(
            Step::import(&vm)
                .import_block()
                .expect_non_empty_plan()
                .plan_check(move |plan| {
                    let change = plan.change(&addr("vm")).unwrap();
                    ensure!(change.action()? == Action::Update, "{}", plan.summary());
                    let before = labforge_acceptance_tests::json::flatten(change.before());
                    let after = labforge_acceptance_tests::json::flatten(change.after());
                    let changed: Vec<&String> = after
                        .iter()
                        .filter(|(k, v)| before.get(*k) != Some(*v))
                        .map(|(k, _)| k)
                        .collect();
                    ensure!(
                        changed == ["initialization.password_wo_version"],
                        "the import plans more than the version: {changed:?}"
                    );
                    // `configuration` echoes the literals of the `.tf`
                    // source: the user's text, not the provider's doing.
                    let mut doc = plan.raw.clone();
                    if let Some(m) = doc.as_object_mut() {
                        m.remove("configuration");
                    }
                    ensure_no_password("the import plan", &doc.to_string())?;
                    ensure_sim_password(&s6, CI_PASSWORD_2, "password 2")
                }),
        )
        .check_destroy(move |_| nothing_left(&sim))
        .run();
}
