//! `homelab-sim`: starts every backend simulator on 127.0.0.1 for the demo
//! lab and for manual testing, writes where they listen and how to log in,
//! and runs until SIGINT or SIGTERM.
//!
//! ```text
//! homelab-sim [--port-base N] [--env-file PATH] [--tfvars PATH] [--ready-file PATH]
//!             [--control-port N] [--proxmox-time-factor F] [--proxmox-task-duration TYPE=MS]
//!             [--talos-node NAME=VERSION] [--talos-boot-delay-ms MS] [--sites N]
//! ```
//!
//! * `--port-base N`: simulator i listens on port N+i (in the order listed
//!   by `--help`); default: ephemeral ports.
//! * `--env-file PATH`: shell lines `export NAME=value` (endpoints, tokens).
//!   The Kubernetes API is HTTPS only, as a real API server's:
//!   `KUBE_HOST` is its `https://` URL and `KUBE_CLUSTER_CA_CERT_DATA` the
//!   cluster CA that signed its certificate (PEM, as the provider's
//!   `cluster_ca_certificate` takes it).
//! * `--tfvars PATH`: the same as a Terraform `*.tfvars.json` object.
//! * `--ready-file PATH`: written (with the env lines) once every simulator
//!   listens; without it, `READY` is printed on stdout.
//! * `--control-port N`: port of the simulator's own control endpoint
//!   (default: ephemeral; its URL is `HOMELAB_SIM_CONTROL_URL` in the env
//!   file). It is NOT a vendor API and lives on its own port, under
//!   `/_sim/`: `GET /_sim/counters` answers every simulator's request
//!   counters as JSON (`{"technitium": [{"method", "route", "count"}], ...}`),
//!   `POST /_sim/counters/reset` forgets them. `make bench` reads them.
//!   `GET /_sim/state` answers what each simulator holds, read from the
//!   simulator itself (zones and records, VMs and volumes, firewall items,
//!   aliases and rules, MetalLB objects, each Talos node's configuration
//!   state): a test compares it before an apply and after the destroy.
//!   `POST /_sim/faults` arms a fault in one simulator (the simulator's own
//!   [`Faults`](labforge_simulators::common::Faults)): a JSON body
//!   `{"sim": "technitium", "method": "GET", "route": "/api/zones/list",
//!   "fault": "500", "times": 1}`, where `route` is a route pattern as the
//!   counters name it (or a path glob, `*` one segment, a final `**` the
//!   rest), `fault` is an HTTP status (`"500"`, `"503"`; `"429"` answers
//!   with `Retry-After: 1`) or `"reset"` (the connection closed before the
//!   request is handled) and `times` how many matching requests fail
//!   (default 1). `GET /_sim/faults` answers the faults still pending per
//!   simulator, `POST /_sim/faults/clear` disarms every one. Talos is not
//!   armed here (its faults are gRPC statuses, not HTTP).
//! * `--proxmox-time-factor F`, `--proxmox-task-duration TYPE=MS` (repeatable):
//!   the Proxmox simulator's task timing (`ProxmoxSim::set_time_factor`,
//!   `ProxmoxSim::set_task_duration`).
//! * `--talos-node NAME=VERSION` (repeatable): the Talos node NAME runs
//!   VERSION (`v1.13.9`, `v1.14.0`); a new NAME adds a node. Default nodes:
//!   cp1, cp2, cp3, w1, w2 on v1.14.0. Their kubeconfigs point at the
//!   Kubernetes simulator's HTTPS port.
//! * `--talos-boot-delay-ms MS`: how long a Talos node reboots (default 2000).
//! * `--sites N`: starts every simulator N times (default 1), one set per
//!   site, as two homelabs that share nothing (`examples/multi-site`). Site 1
//!   keeps the plain names; site k > 1 prefixes its env variables with
//!   `SITEk_` and its counter and state keys with `sitek/`. With N > 1 the
//!   tfvars are `{"sites": {"site1": {...}, "site2": {...}}}`, each site's
//!   object holding the keys a single site's tfvars hold. With
//!   `--port-base`, site k's simulators follow site k-1's.
//!
//! Logs go to stderr (`RUST_LOG` filters, default `info`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use axum::response::IntoResponse as _;
use labforge_simulators::common::{Counters, Fault, Faults};
use labforge_simulators::{cloudflare, kubernetes, pfsense, proxmox, routeros, talos, technitium};
use serde_json::{Map, Value, json};

const USAGE: &str =
    "usage: homelab-sim [--port-base N] [--env-file PATH] [--tfvars PATH] [--ready-file PATH]
                   [--control-port N] [--proxmox-time-factor F] [--proxmox-task-duration TYPE=MS]
                   [--talos-node NAME=VERSION] [--talos-boot-delay-ms MS] [--sites N]

Starts the homelab backend simulators on 127.0.0.1, in this order:
  0 technitium   Technitium DNS Server HTTP API
  1 cloudflare   Cloudflare API v4 (zones, DNS records)
  2 proxmox      Proxmox VE API (/api2/json: VMs, clones, tasks, storage)
  3 routeros     MikroTik RouterOS REST API (/rest, HTTPS; plain HTTP on 4)
  5 pfsense      pfSense-pkg-RESTAPI v2 (/api/v2, plain HTTP)
  6 kubernetes   Kubernetes API for MetalLB's CRDs (HTTPS with its own CA, bearer tokens)
  7.. talos      Talos apid (gRPC over TLS), one port per node (cp1 cp2 cp3 w1 w2)
and runs until SIGINT/SIGTERM. --sites N starts that set N times (separate sites).
Its own control endpoint (not a vendor API) listens on --control-port:
GET /_sim/counters, POST /_sim/counters/reset, GET /_sim/state,
POST /_sim/faults {\"sim\", \"method\", \"route\", \"fault\": \"500\"|\"429\"|\"reset\", \"times\"},
GET /_sim/faults (pending per simulator), POST /_sim/faults/clear.";

#[derive(Debug, Default)]
struct Args {
    port_base: Option<u16>,
    env_file: Option<PathBuf>,
    tfvars: Option<PathBuf>,
    ready_file: Option<PathBuf>,
    control_port: u16,
    proxmox_time_factor: Option<f64>,
    proxmox_task_durations: Vec<(String, u64)>,
    talos_nodes: Vec<(String, String)>,
    talos_boot_delay_ms: Option<u64>,
    sites: usize,
}

fn parse_args() -> Result<Option<Args>> {
    let mut args = Args {
        sites: 1,
        ..Args::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            match inline.clone().or_else(|| it.next()) {
                Some(v) => Ok(v),
                None => bail!("{name} needs a value\n{USAGE}"),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port-base" => {
                let v = value("--port-base")?;
                args.port_base = Some(v.parse().with_context(|| format!("bad --port-base {v}"))?);
            }
            "--env-file" => args.env_file = Some(value("--env-file")?.into()),
            "--tfvars" => args.tfvars = Some(value("--tfvars")?.into()),
            "--ready-file" => args.ready_file = Some(value("--ready-file")?.into()),
            "--control-port" => {
                let v = value("--control-port")?;
                args.control_port = v
                    .parse()
                    .with_context(|| format!("bad --control-port {v}"))?;
            }
            "--proxmox-time-factor" => {
                let v = value("--proxmox-time-factor")?;
                let f: f64 = v
                    .parse()
                    .with_context(|| format!("bad --proxmox-time-factor {v}"))?;
                if !(f.is_finite() && f >= 0.0) {
                    bail!("--proxmox-time-factor must be a finite number >= 0, not {v}");
                }
                args.proxmox_time_factor = Some(f);
            }
            "--proxmox-task-duration" => {
                let v = value("--proxmox-task-duration")?;
                let Some((ttype, ms)) = v.split_once('=') else {
                    bail!("--proxmox-task-duration takes TYPE=MS, not {v}");
                };
                let ms = ms
                    .parse()
                    .with_context(|| format!("bad milliseconds in --proxmox-task-duration {v}"))?;
                args.proxmox_task_durations.push((ttype.to_string(), ms));
            }
            "--talos-node" => {
                let v = value("--talos-node")?;
                let Some((name, version)) = v.split_once('=') else {
                    bail!("--talos-node takes NAME=VERSION, not {v}");
                };
                args.talos_nodes
                    .push((name.to_string(), version.to_string()));
            }
            "--talos-boot-delay-ms" => {
                let v = value("--talos-boot-delay-ms")?;
                args.talos_boot_delay_ms = Some(
                    v.parse()
                        .with_context(|| format!("bad --talos-boot-delay-ms {v}"))?,
                );
            }
            "--sites" => {
                let v = value("--sites")?;
                let n: usize = v.parse().with_context(|| format!("bad --sites {v}"))?;
                if !(1..=9).contains(&n) {
                    bail!("--sites must be between 1 and 9, not {v}");
                }
                args.sites = n;
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(Some(args))
}

/// One running simulator and what clients need to reach it.
struct Running {
    name: &'static str,
    url: String,
    env: Vec<(&'static str, String)>,
    tfvars: Vec<(&'static str, Value)>,
    counters: Counters,
    /// Its fault rules (`POST /_sim/faults`); `None` for Talos, whose
    /// faults are gRPC statuses that the HTTP-shaped control route does
    /// not describe.
    faults: Option<Faults>,
    /// What the simulator holds now (`GET /_sim/state`); it keeps the
    /// simulator alive.
    state: StateFn,
}

/// Reads a simulator's state (the closure owns the simulator).
type StateFn = std::sync::Arc<dyn Fn() -> Value + Send + Sync>;

/// One site's simulators.
struct Site {
    /// `site1`, `site2`, ...
    name: String,
    sims: Vec<Running>,
}

impl Site {
    /// The key of one of its simulators in the counters and the state:
    /// plain for site 1, `sitek/NAME` for the others.
    fn key(&self, sim: &str) -> String {
        if self.name == "site1" {
            sim.to_string()
        } else {
            format!("{}/{sim}", self.name)
        }
    }

    /// The prefix of its env variables: none for site 1, `SITEk_` for the others.
    fn env_prefix(&self) -> String {
        if self.name == "site1" {
            String::new()
        } else {
            format!("{}_", self.name.to_uppercase())
        }
    }
}

fn port(base: Option<u16>, index: u16) -> Result<u16> {
    match base {
        None => Ok(0),
        Some(b) => b
            .checked_add(index)
            .context("--port-base too large for the number of simulators"),
    }
}

/// The Talos nodes every site gets: the default five, changed or extended
/// by `--talos-node`.
fn talos_node_list(args: &Args) -> Vec<(String, String)> {
    let mut nodes: Vec<(String, String)> = ["cp1", "cp2", "cp3", "w1", "w2"]
        .iter()
        .map(|n| ((*n).to_string(), "v1.14.0".to_string()))
        .collect();
    for (name, version) in &args.talos_nodes {
        match nodes.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = version.clone(),
            None => nodes.push((name.clone(), version.clone())),
        }
    }
    nodes
}

/// Starts every site.
fn start_sites(args: &Args) -> Result<Vec<Site>> {
    let stride = u16::try_from(7 + talos_node_list(args).len()).context("too many Talos nodes")?;
    let mut sites = Vec::new();
    for i in 0..args.sites {
        let offset = u16::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(stride))
            .context("too many sites")?;
        let base = match args.port_base {
            None => None,
            Some(b) => Some(
                b.checked_add(offset)
                    .context("--port-base too large for the number of sites")?,
            ),
        };
        let name = format!("site{}", i + 1);
        let sims = start_all(args, base).with_context(|| format!("starting {name}"))?;
        sites.push(Site { name, sims });
    }
    Ok(sites)
}

/// JSON rows of a list of strings (sorted, for stable comparisons).
fn sorted(mut v: Vec<String>) -> Value {
    v.sort();
    json!(v)
}

/// Starts every simulator of one site (ports from `base`). Add new backends
/// here, at the end of the list.
fn start_all(args: &Args, base: Option<u16>) -> Result<Vec<Running>> {
    let mut all = Vec::new();

    let t = technitium::TechnitiumSim::start_on_port(port(base, 0)?)
        .context("starting the Technitium simulator")?;
    all.push(Running {
        name: "technitium",
        url: t.base_url(),
        env: vec![
            ("TECHNITIUM_URL", t.base_url()),
            ("TECHNITIUM_TOKEN", technitium::ADMIN_TOKEN.into()),
            (
                "TECHNITIUM_READONLY_TOKEN",
                technitium::READONLY_TOKEN.into(),
            ),
            ("TECHNITIUM_USER", technitium::ADMIN_USER.into()),
            ("TECHNITIUM_PASSWORD", technitium::ADMIN_PASSWORD.into()),
            ("TECHNITIUM_ZONE", technitium::SEED_ZONE.into()),
        ],
        tfvars: vec![
            ("technitium_url", json!(t.base_url())),
            ("technitium_token", json!(technitium::ADMIN_TOKEN)),
            ("technitium_zone", json!(technitium::SEED_ZONE)),
        ],
        counters: t.counters().clone(),
        faults: Some(t.faults().clone()),
        state: {
            let t = std::sync::Arc::new(t);
            std::sync::Arc::new(move || {
                let zones: Map<String, Value> = t
                    .zone_names()
                    .into_iter()
                    .map(|z| {
                        let records = t.zone_records(&z).unwrap_or_default();
                        (z, Value::Array(records))
                    })
                    .collect();
                json!({ "zones": zones })
            })
        },
    });

    let c = cloudflare::CloudflareSim::start_on_port(port(base, 1)?)
        .context("starting the Cloudflare simulator")?;
    all.push(Running {
        name: "cloudflare",
        url: c.base_url(),
        env: vec![
            ("CLOUDFLARE_BASE_URL", c.base_url()),
            ("CLOUDFLARE_API_TOKEN", cloudflare::EDIT_TOKEN.into()),
            ("CLOUDFLARE_READONLY_TOKEN", cloudflare::READ_TOKEN.into()),
            (
                "CLOUDFLARE_ZONE_SCOPED_TOKEN",
                cloudflare::SCOPED_TOKEN.into(),
            ),
            ("CLOUDFLARE_ZONE_ID", cloudflare::ZONE_EXAMPLE_COM.into()),
            ("CLOUDFLARE_ZONE_NAME", "example.com".into()),
            (
                "CLOUDFLARE_LAB_ZONE_ID",
                cloudflare::ZONE_LAB_EXAMPLE_NET.into(),
            ),
        ],
        tfvars: vec![
            ("cloudflare_base_url", json!(c.base_url())),
            ("cloudflare_api_token", json!(cloudflare::EDIT_TOKEN)),
            ("cloudflare_zone_id", json!(cloudflare::ZONE_EXAMPLE_COM)),
            ("cloudflare_zone_name", json!("example.com")),
        ],
        counters: c.counters().clone(),
        faults: Some(c.faults().clone()),
        state: {
            let c = std::sync::Arc::new(c);
            std::sync::Arc::new(move || {
                let zones: Map<String, Value> = [
                    cloudflare::ZONE_EXAMPLE_COM,
                    cloudflare::ZONE_LAB_EXAMPLE_NET,
                ]
                .iter()
                .map(|z| ((*z).to_string(), Value::Array(c.records(z))))
                .collect();
                json!({ "records": zones })
            })
        },
    });

    let p = proxmox::ProxmoxSim::start_on_port(port(base, 2)?)
        .context("starting the Proxmox VE simulator")?;
    if let Some(f) = args.proxmox_time_factor {
        p.set_time_factor(f);
    }
    for (ttype, ms) in &args.proxmox_task_durations {
        p.set_task_duration(ttype, std::time::Duration::from_millis(*ms));
    }
    let token = |header: &str| header.trim_start_matches("PVEAPIToken=").to_string();
    let endpoint = format!("{}/", p.base_url());
    all.push(Running {
        name: "proxmox",
        url: p.base_url(),
        env: vec![
            ("PROXMOX_VE_ENDPOINT", endpoint.clone()),
            ("PROXMOX_VE_API_TOKEN", token(proxmox::ADMIN_TOKEN)),
            (
                "PROXMOX_VE_READONLY_API_TOKEN",
                token(proxmox::READONLY_TOKEN),
            ),
            ("PROXMOX_VE_USERNAME", "root@pam".into()),
            ("PROXMOX_VE_PASSWORD", proxmox::ROOT_PASSWORD.into()),
            ("PROXMOX_VE_INSECURE", "true".into()),
            ("PROXMOX_VE_NODE", proxmox::NODES[0].into()),
            (
                "PROXMOX_VE_TEMPLATE_VMID",
                proxmox::SEED_TEMPLATE.to_string(),
            ),
            ("PROXMOX_VE_CLOUD_IMAGE", proxmox::SEED_IMAGE.into()),
        ],
        tfvars: vec![
            ("proxmox_endpoint", json!(endpoint)),
            ("proxmox_api_token", json!(token(proxmox::ADMIN_TOKEN))),
            ("proxmox_node", json!(proxmox::NODES[0])),
            ("proxmox_template_vmid", json!(proxmox::SEED_TEMPLATE)),
            ("proxmox_cloud_image", json!(proxmox::SEED_IMAGE)),
        ],
        counters: p.counters().clone(),
        faults: Some(p.faults().clone()),
        state: {
            let p = std::sync::Arc::new(p);
            std::sync::Arc::new(move || {
                let vms: Vec<Value> = p
                    .list_vms()
                    .into_iter()
                    .map(|id| json!({"vmid": id, "node": p.vm_node(id), "config": p.vm_config_json(id)}))
                    .collect();
                let volumes: Map<String, Value> = proxmox::NODES
                    .iter()
                    .map(|n| ((*n).to_string(), sorted(p.volumes(n))))
                    .collect();
                let disks: Map<String, Value> = ["local-lvm", "fast", proxmox::SHARED_STORAGE]
                    .iter()
                    .map(|st| ((*st).to_string(), sorted(p.disk_images(st))))
                    .collect();
                json!({ "vms": vms, "volumes": volumes, "disk_images": disks })
            })
        },
    });

    let r = routeros::RouterosSim::start_on_ports(port(base, 3)?, port(base, 4)?)
        .context("starting the RouterOS simulator")?;
    all.push(Running {
        name: "routeros",
        url: r.https_url(),
        env: vec![
            ("ROS_HOSTURL", r.https_url()),
            ("ROS_USERNAME", routeros::ADMIN_USER.into()),
            ("ROS_PASSWORD", routeros::ADMIN_PASSWORD.into()),
            ("ROS_CA_CERTIFICATE", r.ca_pem().to_string()),
            ("ROS_READONLY_USERNAME", routeros::READ_USER.into()),
            ("ROS_READONLY_PASSWORD", routeros::READ_PASSWORD.into()),
            ("ROS_HTTP_URL", r.http_url()),
        ],
        tfvars: vec![
            ("routeros_url", json!(r.https_url())),
            ("routeros_username", json!(routeros::ADMIN_USER)),
            ("routeros_password", json!(routeros::ADMIN_PASSWORD)),
            ("routeros_ca_certificate", json!(r.ca_pem())),
        ],
        counters: r.counters().clone(),
        faults: Some(r.faults().clone()),
        state: {
            let r = std::sync::Arc::new(r);
            std::sync::Arc::new(move || {
                let menus: Map<String, Value> = [
                    routeros::FILTER,
                    routeros::NAT,
                    routeros::ADDRESS_LIST,
                    routeros::DNS_STATIC,
                ]
                .iter()
                .map(|m| ((*m).to_string(), Value::Array(r.items(m))))
                .collect();
                Value::Object(menus)
            })
        },
    });

    let f = pfsense::PfsenseSim::start_on_port(port(base, 5)?)
        .context("starting the pfSense simulator")?;
    all.push(Running {
        name: "pfsense",
        url: f.url(),
        env: vec![
            ("PFSENSE_URL", f.url()),
            ("PFSENSE_USERNAME", pfsense::ADMIN_USER.into()),
            ("PFSENSE_PASSWORD", pfsense::ADMIN_PASSWORD.into()),
            ("PFSENSE_READONLY_USERNAME", pfsense::READER_USER.into()),
            ("PFSENSE_READONLY_PASSWORD", pfsense::READER_PASSWORD.into()),
        ],
        tfvars: vec![
            ("pfsense_url", json!(f.url())),
            ("pfsense_username", json!(pfsense::ADMIN_USER)),
            ("pfsense_password", json!(pfsense::ADMIN_PASSWORD)),
        ],
        counters: f.counters().clone(),
        faults: Some(f.faults().clone()),
        state: {
            let f = std::sync::Arc::new(f);
            std::sync::Arc::new(move || json!({ "rules": f.rules(), "aliases": f.aliases() }))
        },
    });

    // A real API server serves HTTPS only (the insecure port went in
    // Kubernetes 1.20), so clients get the HTTPS port and its cluster CA,
    // as a kubeconfig's `server` and `certificate-authority-data` give
    // them. The simulator's plain-HTTP listener is left on an ephemeral
    // port and not advertised.
    let k = kubernetes::KubernetesSim::start_on_ports(0, port(base, 6)?)
        .context("starting the Kubernetes simulator")?;
    let kube_https = k.https_url();
    let kube_ca = k.ca_pem().to_string();
    let kube_admin = k.client_cert(kubernetes::CERT_ADMIN_USER);
    all.push(Running {
        name: "kubernetes",
        url: kube_https.clone(),
        env: vec![
            ("KUBE_HOST", kube_https.clone()),
            // PEM text, as the kubernetes provider's `cluster_ca_certificate`
            // (and its KUBE_CLUSTER_CA_CERT_DATA) takes it.
            ("KUBE_CLUSTER_CA_CERT_DATA", kube_ca.clone()),
            ("KUBE_TOKEN", kubernetes::ADMIN_TOKEN.into()),
            ("KUBE_READONLY_TOKEN", kubernetes::READONLY_TOKEN.into()),
        ],
        // No tfvars yet: examples/lab does not declare kubernetes variables.
        tfvars: vec![],
        counters: k.counters().clone(),
        faults: Some(k.faults().clone()),
        state: {
            let k = std::sync::Arc::new(k);
            std::sync::Arc::new(move || {
                let kinds: Map<String, Value> = [
                    "ipaddresspools",
                    "l2advertisements",
                    "bgpadvertisements",
                    "bgppeers",
                    "communities",
                ]
                .iter()
                .map(|plural| ((*plural).to_string(), Value::Array(k.objects(plural))))
                .collect();
                Value::Object(kinds)
            })
        },
    });

    let nodes = talos_node_list(args);
    let mut specs = Vec::new();
    for (i, (name, version)) in nodes.iter().enumerate() {
        let index = u16::try_from(7 + i).context("too many Talos nodes")?;
        specs.push((talos::NodeSpec::new(name, version), port(base, index)?));
    }
    let t = talos::TalosSim::start_on_ports(specs).context("starting the Talos simulator")?;
    if let Some(ms) = args.talos_boot_delay_ms {
        t.set_boot_delay(std::time::Duration::from_millis(ms));
    }
    if let Some((cert, key)) = kube_admin {
        t.set_kubernetes(&kube_https, &kube_ca, &cert, &key);
    }
    let endpoints: Vec<(String, String)> = nodes
        .iter()
        .filter_map(|(n, _)| t.endpoint(n).map(|e| (n.clone(), e)))
        .collect();
    let mut env: Vec<(&'static str, String)> = vec![(
        "TALOS_NODES",
        endpoints
            .iter()
            .map(|(n, e)| format!("{n}={e}"))
            .collect::<Vec<_>>()
            .join(","),
    )];
    if let Some((_, e)) = endpoints.first() {
        env.push(("TALOS_ENDPOINT", e.clone()));
    }
    let map: Map<String, Value> = endpoints
        .iter()
        .map(|(n, e)| (n.clone(), json!(e)))
        .collect();
    all.push(Running {
        name: "talos",
        url: endpoints
            .iter()
            .map(|(n, e)| format!("{n}={e}"))
            .collect::<Vec<_>>()
            .join(" "),
        env,
        tfvars: vec![("talos_nodes", Value::Object(map))],
        counters: t.counters(),
        // Talos is gRPC: `POST /_sim/faults` speaks of HTTP methods,
        // statuses and `Retry-After`, which its calls do not have; its
        // faults are armed in-process (`TalosSim::faults`) only.
        faults: None,
        state: {
            let t = std::sync::Arc::new(t);
            std::sync::Arc::new(move || {
                let nodes: Map<String, Value> = t
                    .names()
                    .into_iter()
                    .map(|n| {
                        let v = json!({
                            "configured": t.is_configured(&n),
                            "bootstrapped": t.bootstrapped(&n),
                        });
                        (n, v)
                    })
                    .collect();
                Value::Object(nodes)
            })
        },
    });

    Ok(all)
}

/// Single-quotes a value for POSIX shells.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// One simulator as the control endpoint sees it: its key (`technitium`,
/// `site2/technitium`), counters and state.
struct Controlled {
    key: String,
    counters: Counters,
    faults: Option<Faults>,
    state: StateFn,
}

/// `GET /_sim/counters`: every simulator's request counters, by key.
fn counters_json(sims: &[Controlled]) -> Value {
    let mut m = Map::new();
    for s in sims {
        let rows: Vec<Value> = s
            .counters
            .snapshot()
            .into_iter()
            .map(|((method, route), count)| json!({"method": method, "route": route, "count": count}))
            .collect();
        m.insert(s.key.clone(), Value::Array(rows));
    }
    Value::Object(m)
}

/// `GET /_sim/state`: what every simulator holds, by key.
fn state_json(sims: &[Controlled]) -> Value {
    Value::Object(sims.iter().map(|s| (s.key.clone(), (s.state)())).collect())
}

/// The body of `POST /_sim/faults`.
#[derive(Debug)]
struct ArmFault {
    /// The simulator's key (`technitium`, `site2/proxmox`).
    sim: String,
    /// The HTTP method (`GET`), or `*` for any.
    method: String,
    /// A route pattern as the counters name it, or a path glob.
    route: String,
    /// `"500"` (any status 400-599), `"429"` (with `Retry-After: 1`) or `"reset"`.
    fault: Fault,
    /// How many matching requests fail (default 1).
    times: usize,
}

impl ArmFault {
    /// Reads the JSON body; every key but `times` is required, no other key
    /// is allowed (a typo would else arm something else).
    fn parse(body: &[u8]) -> Result<ArmFault, String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "sim" | "method" | "route" | "fault" | "times"))
        {
            return Err(format!("unknown key {k:?}"));
        }
        let text = |k: &str| -> Result<String, String> {
            match obj.get(k).and_then(Value::as_str) {
                Some(s) if !s.is_empty() => Ok(s.to_string()),
                _ => Err(format!("{k:?} must be a non-empty string")),
            }
        };
        let times = match obj.get("times") {
            None => 1,
            Some(t) => t
                .as_u64()
                .and_then(|t| usize::try_from(t).ok())
                .filter(|t| *t > 0)
                .ok_or("\"times\" must be a whole number, at least 1")?,
        };
        Ok(ArmFault {
            sim: text("sim")?,
            method: text("method")?,
            route: text("route")?,
            fault: parse_fault(&text("fault")?)?,
            times,
        })
    }
}

/// A fault as `POST /_sim/faults` names it.
fn parse_fault(s: &str) -> Result<Fault, String> {
    match s {
        "reset" => Ok(Fault::Reset),
        "429" => Ok(Fault::RateLimited {
            retry_after_secs: 1,
        }),
        _ => match s.parse::<u16>() {
            Ok(code) if (400..=599).contains(&code) => Ok(Fault::Status(code)),
            _ => Err(format!(
                "fault {s:?}: expected an HTTP status 400-599 (\"500\", \"429\") or \"reset\""
            )),
        },
    }
}

/// `POST /_sim/faults`: arms the fault, or says why not (400 for a bad
/// body, 404 for an unknown simulator or one that takes no HTTP faults).
fn arm_fault(sims: &[Controlled], body: &[u8]) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    let arm = match ArmFault::parse(body) {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad fault: {e}\n")),
    };
    let Some(sim) = sims.iter().find(|s| s.key == arm.sim) else {
        let keys: Vec<&str> = sims.iter().map(|s| s.key.as_str()).collect();
        return (
            StatusCode::NOT_FOUND,
            format!("no simulator {:?}: one of {}\n", arm.sim, keys.join(", ")),
        );
    };
    let Some(faults) = &sim.faults else {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "{} speaks gRPC: its faults are not armed over HTTP\n",
                arm.sim
            ),
        );
    };
    faults.inject(&arm.method, &arm.route, arm.fault, arm.times);
    (StatusCode::NO_CONTENT, String::new())
}

/// `GET /_sim/faults`: the faults still to be delivered, per simulator
/// that takes them.
fn pending_json(sims: &[Controlled]) -> Value {
    Value::Object(
        sims.iter()
            .filter_map(|s| Some((s.key.clone(), json!(s.faults.as_ref()?.pending()))))
            .collect(),
    )
}

/// The control endpoint: homelab-sim's own, on its own port, never a vendor's.
fn control_router(sims: Vec<Controlled>) -> axum::Router {
    use axum::routing::{get, post};
    let sims = std::sync::Arc::new(sims);
    let (a, b, c) = (sims.clone(), sims.clone(), sims.clone());
    let (d, e, g) = (sims.clone(), sims.clone(), sims);
    axum::Router::new()
        .route(
            "/_sim/counters",
            get(move || async move { axum::Json(counters_json(&a)) }),
        )
        .route(
            "/_sim/counters/reset",
            post(move || async move {
                for s in b.iter() {
                    s.counters.reset();
                }
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_sim/state",
            get(move || async move {
                // The simulators' locks are std mutexes: read them off the
                // runtime's thread.
                let c = c.clone();
                match tokio::task::spawn_blocking(move || state_json(&c)).await {
                    Ok(v) => axum::Json(v).into_response(),
                    Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }),
        )
        .route(
            "/_sim/faults",
            post(move |body: axum::body::Bytes| async move { arm_fault(&d, &body) })
                .get(move || async move { axum::Json(pending_json(&e)) }),
        )
        .route(
            "/_sim/faults/clear",
            post(move || async move {
                for f in g.iter().filter_map(|s| s.faults.as_ref()) {
                    f.clear();
                }
                axum::http::StatusCode::NO_CONTENT
            }),
        )
}

fn env_text(sites: &[Site], control_url: &str) -> String {
    let mut out =
        String::from("# Written by homelab-sim: endpoints and credentials of the simulators.\n");
    out.push_str(&format!(
        "export HOMELAB_SIM_CONTROL_URL={}\n",
        shell_quote(control_url)
    ));
    out.push_str(&format!("export HOMELAB_SIM_SITES='{}'\n", sites.len()));
    for site in sites {
        let prefix = site.env_prefix();
        for s in &site.sims {
            for (k, v) in &s.env {
                out.push_str(&format!("export {prefix}{k}={}\n", shell_quote(v)));
            }
        }
    }
    out
}

/// One site's tfvars object.
fn site_tfvars(sims: &[Running]) -> Map<String, Value> {
    let mut m = Map::new();
    for s in sims {
        for (k, v) in &s.tfvars {
            m.insert((*k).to_string(), v.clone());
        }
    }
    m
}

/// One site: its tfvars; several: `{"sites": {"site1": {...}, ...}}`.
fn tfvars_text(sites: &[Site]) -> Result<String> {
    let value = match sites {
        [one] => Value::Object(site_tfvars(&one.sims)),
        _ => {
            let all: Map<String, Value> = sites
                .iter()
                .map(|s| (s.name.clone(), Value::Object(site_tfvars(&s.sims))))
                .collect();
            json!({ "sites": all })
        }
    };
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

/// Writes via a temporary file and a rename, so readers never see half.
fn write_atomic(path: &PathBuf, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

async fn wait_for_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Some(args) = parse_args()? else {
        writeln!(std::io::stderr(), "{USAGE}")?;
        return Ok(());
    };
    let sites = start_sites(&args)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the signal runtime")?;
    let control = runtime
        .block_on(tokio::net::TcpListener::bind((
            "127.0.0.1",
            args.control_port,
        )))
        .context("binding the control port")?;
    let control_url = format!("http://{}", control.local_addr()?);
    let controlled: Vec<Controlled> = sites
        .iter()
        .flat_map(|site| {
            site.sims.iter().map(|s| Controlled {
                key: site.key(s.name),
                counters: s.counters.clone(),
                faults: s.faults.clone(),
                state: s.state.clone(),
            })
        })
        .collect();
    let router = control_router(controlled);
    runtime.spawn(async move {
        if let Err(e) = axum::serve(control, router).await {
            tracing::warn!(error = %e, "control endpoint stopped");
        }
    });

    let env = env_text(&sites, &control_url);
    if let Some(p) = &args.env_file {
        write_atomic(p, &env)?;
    }
    if let Some(p) = &args.tfvars {
        write_atomic(p, &tfvars_text(&sites)?)?;
    }
    let mut err = std::io::stderr();
    writeln!(err, "homelab-sim: simulators listening")?;
    for site in &sites {
        for s in &site.sims {
            writeln!(err, "  {:<20} {}", site.key(s.name), s.url)?;
        }
    }
    writeln!(
        err,
        "  {:<20} {control_url}/_sim/ (not a vendor API)",
        "control"
    )?;
    if let Some(p) = &args.env_file {
        writeln!(err, "  {:<20} {}", "env file", p.display())?;
    }
    if let Some(p) = &args.tfvars {
        writeln!(err, "  {:<20} {}", "tfvars", p.display())?;
    }
    match &args.ready_file {
        Some(p) => write_atomic(p, &env)?,
        None => {
            let mut out = std::io::stdout();
            writeln!(out, "READY")?;
            out.flush()?;
        }
    }

    runtime.block_on(wait_for_signal())?;
    drop(runtime);
    tracing::info!("signal received, stopping simulators");
    drop(sites);
    if let Some(p) = &args.ready_file {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_read_from_json() {
        let a = ArmFault::parse(
            br#"{"sim": "technitium", "method": "GET", "route": "/api/zones/list", "fault": "429", "times": 2}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (a.sim.as_str(), a.method.as_str(), a.route.as_str(), a.times),
            ("technitium", "GET", "/api/zones/list", 2)
        );
        assert_eq!(
            a.fault,
            Fault::RateLimited {
                retry_after_secs: 1
            }
        );
        let once = br#"{"sim": "x", "method": "*", "route": "/a/**", "fault": "reset"}"#;
        let a = ArmFault::parse(once).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.fault, a.times), (Fault::Reset, 1));
        assert_eq!(parse_fault("503"), Ok(Fault::Status(503)));
        for bad in [
            r#"{"sim": "x", "method": "GET", "route": "/a", "fault": "200"}"#,
            r#"{"sim": "x", "method": "GET", "route": "/a", "fault": "slow"}"#,
            r#"{"sim": "x", "method": "GET", "route": "/a", "fault": "500", "times": 0}"#,
            r#"{"sim": "x", "method": "GET", "fault": "500"}"#,
            r#"{"sim": "x", "method": "GET", "route": "/a", "fault": "500", "time": 2}"#,
            r#"["x"]"#,
        ] {
            assert!(ArmFault::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
