//! Acceptance tests of `homelab_proxmox_vm`, `homelab_proxmox_download_file`
//! and the Proxmox data sources, through the real CLI against the Proxmox VE
//! simulator.

#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use labforge_acceptance_tests::{Action, Provider, Step, TestCase};
use labforge_simulators::common::Fault;
use labforge_simulators::proxmox::{SEED_TEMPLATE, SHARED_STORAGE};

use crate::support::proxmox::{RT, TIME_FACTOR, addr, admin, only_seed_left, sim};

fn scratch_vm(node: &str, size: u32, cores: u32, memory: u32, nic1: bool) -> String {
    let net1 = if nic1 {
        r#"
    net1 = { bridge = "vmbr0", vlan = 20 }"#
    } else {
        ""
    };
    format!(
        r#"resource "{RT}" "web" {{
  node        = "{node}"
  vm_id       = 200
  name        = "web"
  description = "managed by terraform"
  tags        = ["web", "lab"]
  cpu         = {{ cores = {cores}, sockets = 1, type = "x86-64-v2-AES" }}
  memory      = {{ dedicated = {memory} }}
  disk = {{
    scsi0 = {{ storage = "local-lvm", size = {size}, discard = true, iothread = true }}
  }}
  network = {{
    net0 = {{ bridge = "vmbr0" }}{net1}
  }}
  boot_order = ["scsi0", "net0"]
  initialization {{
    user     = "ops"
    ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvZ ops@lab"]
    ip_config = {{
      net0 = {{ ipv4_address = "10.0.0.5/24", ipv4_gateway = "10.0.0.1" }}
    }}
    dns = {{ servers = ["10.0.0.1"], domain = "lab.internal" }}
  }}
}}
"#
    )
}

#[test]
fn vm_from_scratch_update_import_drift_replace() {
    let sim = sim();
    let c1 = admin(&sim, &scratch_vm("pve1", 8, 2, 2048, false));
    let c2 = admin(&sim, &scratch_vm("pve1", 12, 4, 4096, true));
    let shrink = admin(&sim, &scratch_vm("pve1", 4, 4, 4096, true));
    let c3 = admin(&sim, &scratch_vm("pve2", 12, 4, 4096, true));
    let (s1, s2, s3, s4, s5, s6) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    let w = addr("web");
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .expect_action(&w, Action::Create)
                .expect_attr(&w, "id", "pve1/200")
                .expect_attr(&w, "disk.scsi0.size", 8)
                .expect_attr(&w, "disk.scsi0.volume", "local-lvm:vm-200-disk-0")
                .expect_attr_matches(&w, "network.net0.mac", "^([0-9A-F]{2}:){5}[0-9A-F]{2}$")
                .expect_attr(&w, "started", true)
                .check(move |_| {
                    ensure!(s1.vm_running(200) == Some(true), "VM 200 is not running");
                    Ok(())
                }),
        )
        // Grow a disk, add a NIC, change CPU and memory: in place.
        .step(
            Step::config(&c2)
                .expect_action(&w, Action::Update)
                .expect_attr(&w, "disk.scsi0.size", 12)
                .expect_attr(&w, "cpu.cores", 4)
                .expect_attr(&w, "memory.dedicated", 4096)
                .expect_attr(&w, "network.net1.vlan", 20)
                .expect_attr_set(&w, "network.net1.mac"),
        )
        // Shrinking is refused at plan time, naming the attribute.
        .step(Step::plan_only(&shrink).expect_error(r"(?s)Disk cannot shrink.*scsi0"))
        .step(
            Step::import(&w)
                .with_config(&c2)
                .import_state_verify()
                .import_state_verify_ignore(&["ipv4_addresses", "ipv6_addresses"]),
        )
        // Drift: cores changed behind our back.
        .step(
            Step::plan_only(&c2)
                .pre_step(move |_| {
                    s2.modify_vm(200, &[("cores", "1")], &[])
                        .map_err(anyhow::Error::msg)
                })
                .expect_non_empty_plan()
                .expect_action(&w, Action::Update),
        )
        .step(
            Step::config(&c2)
                .expect_action(&w, Action::Update)
                .check(move |_| {
                    // Running VM: the change waits in [pending] until a restart.
                    let cores = s3.vm_config_json(200).map(|c| c["cores"].to_string());
                    ensure!(
                        cores.as_deref() == Some("4") || cores.as_deref() == Some("\"4\""),
                        "cores not restored: {cores:?}"
                    );
                    Ok(())
                }),
        )
        // Deleted out of band: planned for creation again.
        .step(
            Step::plan_only(&c2)
                .pre_step(move |_| {
                    ensure!(s4.delete_vm(200));
                    Ok(())
                })
                .expect_non_empty_plan()
                .expect_action(&w, Action::Create),
        )
        .step(Step::config(&c2).expect_action(&w, Action::Create))
        // A node change replaces the VM.
        .step(
            Step::config(&c3)
                .expect_action(&w, Action::Replace)
                .check(move |_| {
                    ensure!(s5.vm_node(200).as_deref() == Some("pve2"));
                    Ok(())
                }),
        )
        .check_destroy(move |_| only_seed_left(&s6))
        .run();
}

#[test]
fn bad_input_is_rejected_at_plan() {
    let sim = sim();
    let cases = [
        (
            r#"disk = { scsi31 = { storage = "local-lvm", size = 8 } }"#,
            r"disk.*scsi31.*disk slot",
        ),
        (
            r#"disk = { scsi0 = { storage = "local-lvm", size = 0 } }"#,
            r"disk.*scsi0.*size.*between 1 and",
        ),
        (r#"vm_id = 99"#, r"vm_id.*between 100 and 999999999"),
        (
            r#"network = { eth0 = { bridge = "vmbr0" } }"#,
            r"network.*eth0.*NIC slot",
        ),
        (
            r#"disk = { scsi0 = { storage = "local-lvm" } }"#,
            r#"disk\["scsi0"\]\.size"#,
        ),
    ];
    let mut tc = TestCase::new().provider(Provider::homelab());
    for (body, err) in cases {
        let cfg = admin(
            &sim,
            &format!("resource \"{RT}\" \"bad\" {{\n  node = \"pve1\"\n  {body}\n}}\n"),
        );
        tc = tc.step(Step::plan_only(cfg).expect_error(err));
    }
    let cidr = admin(
        &sim,
        &format!(
            r#"resource "{RT}" "bad" {{
  node    = "pve1"
  network = {{ net0 = {{ bridge = "vmbr0" }} }}
  initialization {{
    ip_config = {{ net0 = {{ ipv4_address = "10.0.0.5/33" }} }}
  }}
}}
"#
        ),
    );
    let s = sim.clone();
    tc.step(Step::plan_only(cidr).expect_error(r"ip_config.*net0.*ipv4_address"))
        .check_destroy(move |_| only_seed_left(&s))
        .run();
}

#[test]
fn clone_from_template_built_from_downloaded_image() {
    let sim = sim();
    let body = format!(
        r#"resource "homelab_proxmox_download_file" "noble" {{
  node         = "pve1"
  storage      = "local"
  content_type = "import"
  file_name    = "noble-server-cloudimg-amd64.qcow2"
  url          = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
}}

resource "{RT}" "tpl" {{
  node     = "pve1"
  name     = "noble-template"
  template = true
  started  = false
  cpu      = {{ cores = 2 }}
  memory   = {{ dedicated = 2048 }}
  disk = {{
    scsi0 = {{ storage = "local-lvm", import_from = homelab_proxmox_download_file.noble.id, size = 10 }}
  }}
  network = {{ net0 = {{ bridge = "vmbr0" }} }}
  initialization {{
    user = "ubuntu"
  }}
}}

resource "{RT}" "app" {{
  node = "pve1"
  name = "app"
  clone {{
    vm_id = {RT}.tpl.vm_id
  }}
  disk = {{
    scsi0 = {{ storage = "local-lvm", size = 16 }}
  }}
  network = {{ net0 = {{ bridge = "vmbr0" }} }}
  initialization {{
    user     = "ubuntu"
    password = "not-in-logs"
    ip_config = {{ net0 = {{ ipv4_address = "dhcp" }} }}
  }}
}}

data "homelab_proxmox_vms" "tpl" {{
  template   = true
  name_regex = "^noble"
  depends_on = [{RT}.tpl]
}}

data "homelab_proxmox_nodes" "all" {{}}

output "nodes" {{
  value = data.homelab_proxmox_nodes.all.names
}}
"#
    );
    let c1 = admin(&sim, &body);
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    let app = addr("app");
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(&c1))
        .step(
            Step::config(&c1)
                .expect_attr(&addr("tpl"), "template", true)
                .expect_attr(&app, "disk.scsi0.size", 16)
                .expect_attr(&app, "started", true)
                .expect_sensitive(&app, "initialization.password")
                .expect_attr_set(&app, "ipv4_addresses.0")
                .expect_output("nodes", serde_json::json!(["pve1", "pve2"]))
                .check(move |st| {
                    let tpl = st
                        .resources()
                        .into_iter()
                        .find(|r| r.address() == "homelab_proxmox_vm.tpl")
                        .and_then(|r| r.attr_string("vm_id"))
                        .unwrap_or_default();
                    let vms = s1.list_vms();
                    ensure!(vms.len() == 3, "expected seed + template + clone: {vms:?}");
                    ensure!(vms.iter().any(|v| v.to_string() == tpl));
                    Ok(())
                }),
        )
        // The password cannot be read back: importing records it with an
        // in-place update that changes nothing. (The clone source is read
        // back: the template with the clone's `meta`.)
        .step(
            Step::import(&app)
                .expect_non_empty_plan()
                .plan_check(|p| {
                    let a = p.action("homelab_proxmox_vm.app")?;
                    ensure!(
                        a == Action::Update || a == Action::NoOp,
                        "import plans {a:?}"
                    );
                    Ok(())
                })
                .import_state_verify()
                .import_state_verify_ignore(&[
                    "clone",
                    "initialization.password",
                    "ipv4_addresses",
                    "ipv6_addresses",
                ]),
        )
        .step(
            Step::plan_only(&c1)
                .pre_step(move |_| {
                    let app = s2
                        .list_vms()
                        .into_iter()
                        .filter(|v| *v != SEED_TEMPLATE)
                        .max()
                        .unwrap();
                    ensure!(s2.delete_vm(app));
                    Ok(())
                })
                .expect_non_empty_plan()
                .expect_action(&app, Action::Create),
        )
        .step(Step::config(&c1).expect_action(&app, Action::Create))
        .check_destroy(move |_| only_seed_left(&s3))
        .run();
}

fn clones(n: usize, started: bool) -> String {
    format!(
        r#"resource "{RT}" "node" {{
  count   = {n}
  node    = "pve1"
  name    = "k8s-${{count.index}}"
  started = {started}
  tags    = ["k8s"]
  clone {{
    vm_id = {SEED_TEMPLATE}
  }}
  cpu    = {{ cores = 2 }}
  memory = {{ dedicated = 2048 }}
  disk = {{
    scsi0 = {{ storage = "local-lvm", size = 8 }}
  }}
}}
"#
    )
}

#[test]
fn twenty_parallel_clones_of_one_template() {
    let sim = sim();
    let clone_task = Duration::from_secs(5);
    sim.set_task_duration("qmclone", clone_task);
    let c1 = admin(&sim, &clones(20, false));
    let t0: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let (ta, tb) = (t0.clone(), t0.clone());
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .pre_step(move |_| {
                    ta.set(Some(Instant::now()));
                    Ok(())
                })
                .check(move |st| {
                    let wall = tb.get().map(|t| t.elapsed()).unwrap_or_default();
                    let task = clone_task.mul_f64(TIME_FACTOR);
                    let ideal = task * 2; // 20 clones / parallelism 10
                    eprintln!(
                        "[proxmox] 20 clones: wall time {:.2?} (plan+apply), ideal {:.2?} \
                         (2 rounds x {:.2?} clone task); max concurrent tasks {}",
                        wall,
                        ideal,
                        task,
                        s1.max_concurrent_tasks()
                    );
                    let n = st
                        .resources()
                        .into_iter()
                        .filter(|r| r.type_name() == RT)
                        .count();
                    ensure!(n == 20, "{n} VMs in state");
                    ensure!(s1.list_vms().len() == 21, "{:?}", s1.list_vms());
                    let failed: Vec<_> = s1
                        .tasks()
                        .into_iter()
                        .filter(|(_, e)| e.as_deref().is_some_and(|e| e != "OK"))
                        .collect();
                    eprintln!("[proxmox] failed tasks during the apply: {failed:?}");
                    Ok(())
                }),
        )
        .step(Step::refresh().pre_step(move |ctx| {
            s2.counters().reset();
            let (empty, out) = ctx.workdir.plan_is_empty(true)?;
            ensure!(empty, "plan after apply is not empty:\n{}", out.combined());
            let n = s2.counters().total();
            let per = n as f64 / 20.0;
            eprintln!(
                "[proxmox] refresh of 20 VMs: {n} API requests ({per:.2} per VM): {:?}",
                s2.counters().snapshot()
            );
            ensure!(per <= 2.0, "{per} requests per VM on refresh");
            Ok(())
        }))
        .check_destroy(move |_| only_seed_left(&s3))
        .run();
}

#[test]
fn failed_clone_leaves_nothing_behind() {
    let sim = sim();
    let c1 = admin(&sim, &clones(3, false));
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        // The first configuration of a fresh clone fails: that clone is
        // removed again, the others are kept in state.
        .step(
            Step::config(&c1)
                .pre_step(move |_| {
                    s1.faults().inject(
                        "POST",
                        "/api2/json/nodes/{node}/qemu/{vmid}/config",
                        Fault::Status(500),
                        1,
                    );
                    Ok(())
                })
                .expect_error(r"(?s)updating VM \d+"),
        )
        .step(Step::refresh().pre_step(move |ctx| {
            let st = ctx.workdir.state_json()?;
            let in_state = st
                .resources()
                .into_iter()
                .filter(|r| r.type_name() == RT)
                .count();
            let in_sim = s2.list_vms().len() - 1;
            eprintln!("[proxmox] after the failed clone: {in_state} VMs in state, {in_sim} in the simulator");
            ensure!(in_state == 2 && in_sim == 2, "state {in_state}, sim {in_sim}");
            Ok(())
        }).expect_non_empty_plan())
        .step(Step::config(&c1))
        .check_destroy(move |_| only_seed_left(&s3))
        .run();
}

/// Proxmox VE did the create and the clone, but both answers were lost (the
/// connection broke after the work was done). POSTs are not resent; the
/// provider finds the VM under the VMID it tried, sees it is its own (same
/// name), waits for its lock and carries on: one VM each, nothing orphaned.
#[test]
fn lost_create_and_clone_answers_keep_the_vms() {
    let sim = sim();
    let c1 = admin(
        &sim,
        &format!(
            r#"resource "{RT}" "cloned" {{
  node    = "pve1"
  name    = "lost-clone"
  started = false
  clone {{
    vm_id = {SEED_TEMPLATE}
  }}
}}

resource "{RT}" "new" {{
  node    = "pve1"
  name    = "lost-new"
  started = false
}}
"#
        ),
    );
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    const CLONE: &str = "/api2/json/nodes/{node}/qemu/{vmid}/clone";
    const CREATE: &str = "/api2/json/nodes/{node}/qemu";
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .pre_step(move |_| {
                    s1.faults()
                        .inject("POST", CLONE, Fault::ResetAfterHandling, 1);
                    s1.faults()
                        .inject("POST", CREATE, Fault::ResetAfterHandling, 1);
                    Ok(())
                })
                .expect_apply_output(
                    r"Took over VM \d+ on node pve1(?s:.*)was\s+lost(?s:.*)now\s+managed\s+by\s+this\s+resource",
                )
                .check(move |st| {
                    ensure!(s2.faults().pending() == 0, "faults not all delivered");
                    let c = s2.counters();
                    ensure!(c.get("POST", CLONE) == 1 && c.get("POST", CREATE) == 1);
                    let vms = s2.list_vms();
                    ensure!(vms.len() == 3, "one VM each expected: {vms:?}");
                    for (name, want) in [("cloned", "lost-clone"), ("new", "lost-new")] {
                        let id = st.attr(&addr(name), "vm_id")?.as_u64().unwrap_or(0) as u32;
                        let conf = s2.vm_config_json(id).unwrap_or_default();
                        ensure!(conf["name"] == want, "VM {id}: {conf}");
                        ensure!(conf.get("lock").is_none(), "VM {id} still locked: {conf}");
                    }
                    Ok(())
                }),
        )
        .check_destroy(move |_| only_seed_left(&s3))
        .run();
}

const CLONE: &str = "/api2/json/nodes/{node}/qemu/{vmid}/clone";
const CREATE: &str = "/api2/json/nodes/{node}/qemu";
const TASK_STATUS: &str = "/api2/json/nodes/{node}/tasks/{upid}/status";

/// Proxmox VE did the clone and the create, but pveproxy answered 596 and
/// a gateway 502 (the answers were lost after the work was done). The old
/// client sent the POSTs again: "already exists", the next VMID, and the
/// first VMs orphaned. Now nothing is resent: the VMs are found where
/// Proxmox keeps them and taken over, one each.
#[test]
fn answers_lost_with_596_and_502_are_taken_over_not_resent() {
    let sim = sim();
    let body = |cores: u32| {
        format!(
            r#"resource "{RT}" "cloned" {{
  node    = "pve1"
  name    = "lost-596"
  started = false
  cpu     = {{ cores = {cores} }}
  clone {{
    vm_id = {SEED_TEMPLATE}
  }}
}}

resource "{RT}" "new" {{
  node    = "pve1"
  name    = "lost-502"
  started = false
  disk    = {{ scsi0 = {{ storage = "local-lvm", size = 2 }} }}
}}
"#
        )
    };
    let c1 = admin(&sim, &body(2));
    let (s1, s2, s3, s4) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    let cloned = addr("cloned");
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .pre_step(move |_| {
                    s1.lose_answers("POST", CLONE, 596, 1);
                    s1.lose_answers("POST", CREATE, 502, 1);
                    Ok(())
                })
                .expect_apply_output(r"Took over VM \d+ on node pve1")
                .check(move |st| {
                    ensure!(s2.pending_lost_answers() == 0, "answers not all lost");
                    let c = s2.counters();
                    ensure!(
                        c.get("POST", CLONE) == 1 && c.get("POST", CREATE) == 1,
                        "a POST was resent: {:?}",
                        c.snapshot()
                    );
                    let vms = s2.list_vms();
                    ensure!(vms.len() == 3, "one VM each expected: {vms:?}");
                    for (name, want) in [("cloned", "lost-596"), ("new", "lost-502")] {
                        let id = st.attr(&addr(name), "vm_id")?.as_u64().unwrap_or(0) as u32;
                        let conf = s2.vm_config_json(id).unwrap_or_default();
                        ensure!(conf["name"] == want, "VM {id}: {conf}");
                        ensure!(conf.get("lock").is_none(), "VM {id} still locked: {conf}");
                    }
                    Ok(())
                }),
        )
        .step(
            Step::import(addr("new"))
                .import_block()
                .import_state_verify()
                .import_state_verify_ignore(&["ipv4_addresses", "ipv6_addresses"]),
        )
        // Drift: cores changed behind our back.
        .step(
            Step::plan_only(&c1)
                .pre_step(move |ctx| {
                    let st = ctx.workdir.state_json()?;
                    let id = st.attr(&addr("cloned"), "vm_id")?.as_u64().unwrap_or(0) as u32;
                    s3.modify_vm(id, &[("cores", "6")], &[])
                        .map_err(anyhow::Error::msg)
                })
                .expect_non_empty_plan()
                .expect_action(&cloned, Action::Update),
        )
        .step(Step::config(&c1).expect_attr(&cloned, "cpu.cores", 2))
        .check_destroy(move |_| only_seed_left(&s4))
        .run();
}

/// A template on the storage both nodes share, and a clone of it made on
/// the other node. During such a clone Proxmox VE keeps the new VM's config
/// on the SOURCE node and moves it to the target only when the task ends.
/// One 500 on a task poll is read again (the clone succeeds); a clone whose
/// polls keep failing is cleaned up where its config is, once the task
/// lets go of it: nothing is left behind.
#[test]
fn cross_node_clone_survives_a_failed_poll_and_cleans_up_where_the_vm_is() {
    let sim = sim();
    let tpl = format!(
        r#"resource "{RT}" "tpl" {{
  node     = "pve1"
  name     = "shared-template"
  template = true
  started  = false
  disk     = {{ scsi0 = {{ storage = "{SHARED_STORAGE}", size = 2 }} }}
  network  = {{ net0 = {{ bridge = "vmbr0" }} }}
}}
"#
    );
    let remote = |name: &str, cores: u32| {
        format!(
            r#"resource "{RT}" "{name}" {{
  node    = "pve2"
  name    = "{name}"
  started = false
  cpu     = {{ cores = {cores} }}
  clone {{
    vm_id = {RT}.tpl.vm_id
    node  = "pve1"
  }}
}}
"#
        )
    };
    let c1 = admin(&sim, &tpl);
    let c2 = admin(&sim, &format!("{tpl}{}", remote("remote", 2)));
    let c3 = admin(
        &sim,
        &format!("{tpl}{}{}", remote("remote", 2), remote("doomed", 1)),
    );
    let (s1, s2, s3, s4, s5, s6) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    let r = addr("remote");
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(&c1).expect_attr(&addr("tpl"), "template", true))
        // One failed poll of the clone's task: read again, the clone goes on.
        .step(
            Step::config(&c2)
                .pre_step(move |_| {
                    s1.faults()
                        .inject("GET", TASK_STATUS, Fault::Status(500), 1);
                    Ok(())
                })
                .expect_action(&r, Action::Create)
                .expect_attr(&r, "id", "pve2/101")
                .check(move |_| {
                    ensure!(s2.faults().pending() == 0, "the fault was not hit");
                    ensure!(s2.vm_node(101).as_deref() == Some("pve2"));
                    let conf = s2.vm_config_json(101).unwrap_or_default();
                    ensure!(conf["cores"] == 2, "not configured: {conf}");
                    ensure!(
                        conf["scsi0"] == format!("{SHARED_STORAGE}:vm-101-disk-0,size=2G"),
                        "{conf}"
                    );
                    Ok(())
                }),
        )
        .step(
            Step::import(&r)
                .import_state_verify()
                .import_state_verify_ignore(&["ipv4_addresses", "ipv6_addresses"]),
        )
        // Every poll fails, longer than the client reads again: the clone is
        // given up while its config still sits on pve1, locked. The clean-up
        // waits for the task to let go and removes the VM from pve2.
        .step(
            Step::config(&c3)
                .pre_step(move |_| {
                    s3.set_task_duration("qmclone", Duration::from_secs(80));
                    s3.faults()
                        .inject("GET", TASK_STATUS, Fault::Status(500), 5);
                    Ok(())
                })
                .expect_error(r"(?s)cloning VM \d+ on pve1.*HTTP 500"),
        )
        .step(
            Step::plan_only(&c3)
                .pre_step(move |ctx| {
                    s4.set_task_duration("qmclone", Duration::from_secs(1));
                    let vms = s4.list_vms();
                    ensure!(vms.len() == 3, "the failed clone was left behind: {vms:?}");
                    let st = ctx.workdir.state_json()?;
                    ensure!(
                        st.get(&addr("doomed")).is_err(),
                        "the failed clone is in state"
                    );
                    Ok(())
                })
                .expect_non_empty_plan()
                .expect_action(&addr("doomed"), Action::Create),
        )
        // Drift on the other node: fixed in place.
        .step(
            Step::plan_only(&c2)
                .pre_step(move |_| {
                    s5.modify_vm(101, &[("cores", "8")], &[])
                        .map_err(anyhow::Error::msg)
                })
                .expect_non_empty_plan()
                .expect_action(&r, Action::Update),
        )
        .step(Step::config(&c2).expect_attr(&r, "cpu.cores", 2))
        .check_destroy(move |_| only_seed_left(&s6))
        .run();
}
