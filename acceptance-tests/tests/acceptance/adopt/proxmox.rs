//! Adopting a hand-built proxmox (see the module above): a cloud image, an
//! ISO and a container template downloaded by the nodes, a template made
//! from the image, a VM cloned from it and one made from scratch (both with
//! cloud-init, disks and NICs), all through the Proxmox VE HTTP API
//! (`/api2/json`, the admin token in `Authorization: PVEAPIToken=...`, form
//! bodies, every async task's UPID waited for), as a person's script would;
//! then adopted with the read-only token.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::Value;

use super::{Drift, Seeded};
use crate::support::lab_ci::HomelabSim;

/// The Proxmox VE API as a script uses it.
struct Pve {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Pve {
    /// `method path` with a form body; the answer's `data`.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Value> {
        let url = format!("{}/api2/json{path}", self.base);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header("Authorization", &self.auth);
        if method == reqwest::Method::GET {
            req = req.query(form);
        } else {
            req = req.form(form);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .with_context(|| format!("{method} {path}"))?;
        ensure!(
            status.is_success(),
            "{method} {path} {form:?}: HTTP {status} {body}"
        );
        Ok(body["data"].clone())
    }

    /// Start an async task (the answer is its UPID) and wait until it
    /// stops; it must end `OK`.
    async fn task(
        &self,
        method: reqwest::Method,
        node: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<()> {
        let upid = self.call(method, path, form).await?;
        let upid = upid
            .as_str()
            .with_context(|| format!("{path}: no UPID in {upid}"))?
            .to_string();
        let status = format!("/nodes/{node}/tasks/{}/status", urlencode(&upid));
        let start = Instant::now();
        loop {
            // Right after a task starts, its status may not be readable
            // yet ("no such task"): pvedaemon has not written its index
            // entry. A script retries for a while.
            let st = match self.call(reqwest::Method::GET, &status, &[]).await {
                Ok(st) => st,
                Err(e)
                    if format!("{e:#}").contains("no such task")
                        && start.elapsed() < Duration::from_secs(10) =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if st["status"] == "stopped" {
                ensure!(st["exitstatus"] == "OK", "{path}: task {upid} failed: {st}");
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(120) {
                bail!("{path}: task {upid} still running after 120 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Pve {
    /// The API of `sim`'s cluster with the admin token.
    fn admin(sim: &HomelabSim) -> Result<Pve> {
        Ok(Pve {
            http: reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()?,
            base: sim
                .env("PROXMOX_VE_ENDPOINT")?
                .trim_end_matches('/')
                .to_string(),
            auth: format!("PVEAPIToken={}", sim.env("PROXMOX_VE_API_TOKEN")?),
        })
    }
}

/// db01's description as the seed wrote it (and the adopted configuration
/// holds it).
const DB01_DESCRIPTION: &str = "PostgreSQL";

/// The drift: someone edits db01's notes in the web UI (the UI sends
/// `PUT /nodes/{node}/qemu/{vmid}/config`, a synchronous call: no UPID;
/// `description` is applied at once on a running VM). The plan must update
/// the VM in place.
fn drift() -> Drift {
    Drift::update(
        "homelab_proxmox_vm.pve2_db01",
        "db01's description edited in the web UI",
        |sim| {
            let pve = Pve::admin(sim)?;
            tokio::runtime::Runtime::new()?.block_on(async {
                pve.call(
                    reqwest::Method::PUT,
                    "/nodes/pve2/qemu/102/config",
                    &[("description", "PostgreSQL 16, do not reboot before Friday")],
                )
                .await
                .map(|_| ())
            })
        },
        |sim| {
            let pve = Pve::admin(sim)?;
            let config = tokio::runtime::Runtime::new()?.block_on(pve.call(
                reqwest::Method::GET,
                "/nodes/pve2/qemu/102/config",
                &[],
            ))?;
            let now = config["description"].as_str().unwrap_or_default();
            ensure!(
                now.trim_end() == DB01_DESCRIPTION,
                "db01's description is {now:?}, not {DB01_DESCRIPTION:?}"
            );
            Ok(())
        },
    )
}

/// Seed the lab through the Proxmox VE API with the admin token.
pub(super) fn seed(sim: &HomelabSim) -> Result<Seeded> {
    use reqwest::Method;
    let pve = Pve::admin(sim)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // The nodes download a cloud image, an ISO and a container template.
        for (node, content, file, url) in [
            (
                "pve1",
                "import",
                "noble-server-cloudimg-amd64.qcow2",
                "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
            ),
            (
                "pve2",
                "iso",
                "debian-12.8.0-amd64-netinst.iso",
                "https://cdimage.debian.org/cdimage/archive/12.8.0/amd64/iso-cd/debian-12.8.0-amd64-netinst.iso",
            ),
            (
                "pve1",
                "vztmpl",
                "debian-12-standard_12.7-1_amd64.tar.zst",
                "http://download.proxmox.com/images/system/debian-12-standard_12.7-1_amd64.tar.zst",
            ),
        ] {
            pve.task(
                Method::POST,
                node,
                &format!("/nodes/{node}/storage/local/download-url"),
                &[("content", content), ("filename", file), ("url", url)],
            )
            .await?;
        }
        // A template from the cloud image.
        pve.task(
            Method::POST,
            "pve1",
            "/nodes/pve1/qemu",
            &[
                ("vmid", "9001"),
                ("name", "noble-template"),
                ("memory", "2048"),
                ("cores", "2"),
                ("scsihw", "virtio-scsi-single"),
                (
                    "scsi0",
                    "local-lvm:0,import-from=local:import/noble-server-cloudimg-amd64.qcow2,discard=on",
                ),
                ("ide2", "local-lvm:cloudinit"),
                ("net0", "virtio,bridge=vmbr0"),
                ("boot", "order=scsi0"),
                ("agent", "1"),
                ("serial0", "socket"),
            ],
        )
        .await?;
        pve.task(Method::POST, "pve1", "/nodes/pve1/qemu/9001/template", &[])
            .await?;
        // web01: a full clone, configured (cloud-init, CPU, memory, tags),
        // its disk grown, started.
        pve.task(
            Method::POST,
            "pve1",
            "/nodes/pve1/qemu/9001/clone",
            &[("newid", "101"), ("name", "web01"), ("full", "1")],
        )
        .await?;
        pve.call(
            Method::PUT,
            "/nodes/pve1/qemu/101/config",
            &[
                ("ciuser", "ops"),
                ("cipassword", "correct-horse-battery"),
                ("sshkeys", "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIGxhYmZvcmdl%20ops%40lab"),
                ("ipconfig0", "ip=10.0.10.11/24,gw=10.0.10.1"),
                ("nameserver", "10.0.10.1"),
                ("searchdomain", "home.arpa"),
                ("cores", "4"),
                ("memory", "4096"),
                ("tags", "web;prod"),
                ("onboot", "1"),
            ],
        )
        .await?;
        pve.task(
            Method::PUT,
            "pve1",
            "/nodes/pve1/qemu/101/resize",
            &[("disk", "scsi0"), ("size", "20G")],
        )
        .await?;
        pve.task(Method::POST, "pve1", "/nodes/pve1/qemu/101/status/start", &[])
            .await?;
        // db01: made from scratch on pve2 from the seeded Debian image, a
        // data disk, two NICs (one tagged), cloud-init; started.
        pve.task(
            Method::POST,
            "pve2",
            "/nodes/pve2/qemu",
            &[
                ("vmid", "102"),
                ("name", "db01"),
                ("description", DB01_DESCRIPTION),
                ("memory", "8192"),
                ("cores", "2"),
                ("sockets", "2"),
                ("cpu", "host"),
                ("scsihw", "virtio-scsi-single"),
                (
                    "scsi0",
                    "local-lvm:0,import-from=local:import/debian-12-genericcloud-amd64.qcow2,iothread=1",
                ),
                ("scsi1", "local-lvm:50,iothread=1,discard=on"),
                ("ide2", "local-lvm:cloudinit"),
                ("net0", "virtio,bridge=vmbr0,firewall=1"),
                ("net1", "virtio,bridge=vmbr0,tag=20"),
                ("boot", "order=scsi0"),
                ("agent", "1"),
                ("ciuser", "debian"),
                ("ipconfig0", "ip=dhcp"),
                ("ipconfig1", "ip=10.0.20.5/24"),
            ],
        )
        .await?;
        pve.task(Method::POST, "pve2", "/nodes/pve2/qemu/102/status/start", &[])
            .await?;
        anyhow::Ok(())
    })?;
    let found = [
        // The simulator's own template and cloud images.
        "homelab_proxmox_vm.pve1_debian_12_template",
        "homelab_proxmox_download_file.pve1_debian_12_genericcloud_amd64_qcow2",
        "homelab_proxmox_download_file.pve2_debian_12_genericcloud_amd64_qcow2",
        // The seed's.
        "homelab_proxmox_vm.pve1_noble_template",
        "homelab_proxmox_vm.pve1_web01",
        "homelab_proxmox_vm.pve2_db01",
        "homelab_proxmox_download_file.pve1_noble_server_cloudimg_amd64_qcow2",
        "homelab_proxmox_download_file.pve2_debian_12_8_0_amd64_netinst_iso",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let skipped = [
        r"^container template local:vztmpl/debian-12-standard_12\.7-1_amd64\.tar\.zst on pve1: container templates are for LXC containers",
        r"^\d+ disk volume\(s\) in local-lvm on pve1: VM disks belong to their VM",
        r"^\d+ disk volume\(s\) in local-lvm on pve2: VM disks belong to their VM",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    Ok(Seeded {
        backend: "proxmox",
        found,
        skipped,
        args: ["--node", "pve1", "--node", "pve2"]
            .into_iter()
            .map(String::from)
            .collect(),
        discover_env: BTreeMap::from([(
            "PROXMOX_VE_API_TOKEN".to_string(),
            sim.env("PROXMOX_VE_READONLY_API_TOKEN")?.to_string(),
        )]),
        terraform_env: BTreeMap::new(),
        hand_edits: Vec::new(),
        extra_hcl: String::new(),
        // The destroy deletes the VMs and the template with their disks:
        // the skipped disk volumes (imported in each VM's `disk` map) go
        // with them, on both nodes. The container template stays.
        gone_with_destroy: [
            r"^\d+ disk volume\(s\) in local-lvm on pve1: VM disks belong to their VM",
            r"^\d+ disk volume\(s\) in local-lvm on pve2: VM disks belong to their VM",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        drift: Some(drift()),
    })
}

#[test]
fn adopts_a_hand_built_proxmox() -> Result<()> {
    let sim = HomelabSim::start()?;
    let seeded = seed(&sim)?;
    let figures = super::adopt(&sim, &[seeded])?;
    eprintln!("{figures:#?}");
    Ok(())
}
