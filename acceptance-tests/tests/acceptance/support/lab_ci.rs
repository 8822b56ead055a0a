//! Helpers of the lab CI tests (`lab_ci.rs`): `homelab-sim` as a child
//! process (its env file, tfvars and control port), `examples/lab` in a
//! working dir, the write check over every simulator's request counters,
//! read-only credentials, and a throwaway PostgreSQL cluster.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use labforge_acceptance_tests::harness::binary::binary;
use labforge_acceptance_tests::{Provider, Workdir, workspace_root};
use serde_json::{Map, Value};

/// `homelab-sim`, started for one test on ephemeral ports; stopped on drop.
pub struct HomelabSim {
    child: Child,
    _dir: tempfile::TempDir,
    /// The env file's variables (endpoints, admin and read-only credentials).
    pub env: BTreeMap<String, String>,
    /// The tfvars it wrote for `examples/lab` (admin credentials).
    pub tfvars: Map<String, Value>,
    control: String,
}

impl HomelabSim {
    /// Starts the binary (built by `make testacc`, or here if stale) and
    /// waits for its ready file.
    pub fn start() -> Result<HomelabSim> {
        let bin = binary("labforge-simulators", "homelab-sim")?;
        let dir = tempfile::tempdir()?;
        let (env_file, tfvars, ready) = (
            dir.path().join("sim.env"),
            dir.path().join("sim.tfvars.json"),
            dir.path().join("sim.ready"),
        );
        let log = std::fs::File::create(dir.path().join("sim.log"))?;
        let mut child = Command::new(&bin)
            .arg("--env-file")
            .arg(&env_file)
            .arg("--tfvars")
            .arg(&tfvars)
            .arg("--ready-file")
            .arg(&ready)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let start = Instant::now();
        while !ready.exists() {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(dir.path().join("sim.log")).unwrap_or_default();
                bail!("homelab-sim exited ({status}):\n{log}");
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                bail!("homelab-sim was not ready after 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let env = parse_env_file(&std::fs::read_to_string(&env_file)?)?;
        let tfvars: Value = serde_json::from_str(&std::fs::read_to_string(&tfvars)?)?;
        let tfvars = tfvars
            .as_object()
            .cloned()
            .ok_or_else(|| anyhow!("homelab-sim's tfvars are not an object"))?;
        let control = env
            .get("HOMELAB_SIM_CONTROL_URL")
            .cloned()
            .ok_or_else(|| anyhow!("no HOMELAB_SIM_CONTROL_URL in the env file"))?;
        Ok(HomelabSim {
            child,
            _dir: dir,
            env,
            tfvars,
            control,
        })
    }

    /// One variable of the env file.
    pub fn env(&self, name: &str) -> Result<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("homelab-sim's env file has no {name}"))
    }

    /// `GET /_sim/counters`: `{"<simulator>": [{"method", "route", "count"}]}`.
    pub fn counters(&self) -> Result<Value> {
        let body = http(&self.control, "GET", "/_sim/counters")?;
        serde_json::from_str(&body).context("parsing /_sim/counters")
    }

    /// `POST /_sim/counters/reset`.
    pub fn reset_counters(&self) -> Result<()> {
        http(&self.control, "POST", "/_sim/counters/reset").map(|_| ())
    }
}

impl Drop for HomelabSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `export NAME='value'` lines (values single-quoted for POSIX
/// shells, `'\''` for a quote; a value may span lines, as a PEM does).
pub fn parse_env_file(text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let line = &rest[..line_end];
        let Some(assign) = line.strip_prefix("export ") else {
            rest = rest.get(line_end + 1..).unwrap_or("");
            continue;
        };
        let (name, _) = assign
            .split_once('=')
            .ok_or_else(|| anyhow!("bad env line {line:?}"))?;
        let mut value = String::new();
        let mut s = &rest["export ".len() + name.len() + 1..];
        loop {
            let body = s
                .strip_prefix('\'')
                .ok_or_else(|| anyhow!("{name}: value is not single-quoted"))?;
            let close = body
                .find('\'')
                .ok_or_else(|| anyhow!("{name}: unterminated quote"))?;
            value.push_str(&body[..close]);
            s = &body[close + 1..];
            if let Some(more) = s.strip_prefix("\\'") {
                value.push('\'');
                s = more;
            } else {
                break;
            }
        }
        out.insert(name.to_string(), value);
        rest = s.strip_prefix('\n').unwrap_or(s);
    }
    Ok(out)
}

/// A minimal HTTP/1.0 request to homelab-sim's control port; the body.
fn http(base: &str, method: &str, path: &str) -> Result<String> {
    let host = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("control URL is not http: {base}"))?
        .trim_end_matches('/');
    let mut s = TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP header end in {resp:?}"))?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    ensure!(status.starts_with('2'), "{method} {path}: {head}\n{body}");
    Ok(body.to_string())
}

/// The lab's credentials: the tfvars (or environment variable) holding each
/// backend's admin credential, and the env-file variable of the simulator's
/// read-only one.
pub struct Credential {
    /// The backend's type prefix (`homelab_<backend>_`).
    pub backend: &'static str,
    /// A tfvars key of `examples/lab`, or an environment variable (`env:NAME`).
    pub target: &'static str,
    /// The env-file variable holding the read-only value.
    pub read_only: &'static str,
}

/// Every backend's read-only credential in homelab-sim (a read-only token,
/// or a user in a read-only group).
pub const READ_ONLY: &[Credential] = &[
    Credential {
        backend: "technitium",
        target: "technitium_token",
        read_only: "TECHNITIUM_READONLY_TOKEN",
    },
    Credential {
        backend: "cloudflare",
        target: "cloudflare_api_token",
        read_only: "CLOUDFLARE_READONLY_TOKEN",
    },
    Credential {
        backend: "proxmox",
        target: "proxmox_api_token",
        read_only: "PROXMOX_VE_READONLY_API_TOKEN",
    },
    Credential {
        backend: "routeros",
        target: "routeros_username",
        read_only: "ROS_READONLY_USERNAME",
    },
    Credential {
        backend: "routeros",
        target: "routeros_password",
        read_only: "ROS_READONLY_PASSWORD",
    },
    Credential {
        backend: "pfsense",
        target: "pfsense_username",
        read_only: "PFSENSE_READONLY_USERNAME",
    },
    Credential {
        backend: "pfsense",
        target: "pfsense_password",
        read_only: "PFSENSE_READONLY_PASSWORD",
    },
    // MetalLB: the kubernetes block falls back to KUBE_HOST,
    // KUBE_CLUSTER_CA_CERT_DATA and KUBE_TOKEN.
    Credential {
        backend: "metallb",
        target: "env:KUBE_TOKEN",
        read_only: "KUBE_READONLY_TOKEN",
    },
];

/// The tfvars file every lab working dir gets (homelab-sim's values with
/// `extra` merged in).
pub const TFVARS: &str = "sim.auto.tfvars.json";

/// `examples/lab/*.tf` in a new working dir, with homelab-sim's tfvars
/// (admin credentials), `extra` tfvars, and KUBE_HOST (HTTPS) /
/// KUBE_CLUSTER_CA_CERT_DATA / KUBE_TOKEN (admin) in the environment.
pub fn lab_workdir(sim: &HomelabSim, extra: &Value) -> Result<Workdir> {
    let mut wd = Workdir::new(&Provider::homelab())?;
    let lab = workspace_root().join("examples/lab");
    let mut files = 0;
    for entry in std::fs::read_dir(&lab)?.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "tf") {
            let name = entry.file_name().to_string_lossy().into_owned();
            wd.write_file(&name, &std::fs::read_to_string(&path)?)?;
            files += 1;
        }
    }
    ensure!(files > 0, "no .tf files in {}", lab.display());
    wd.set_env("KUBE_HOST", sim.env("KUBE_HOST")?);
    wd.set_env(
        "KUBE_CLUSTER_CA_CERT_DATA",
        sim.env("KUBE_CLUSTER_CA_CERT_DATA")?,
    );
    write_tfvars(&mut wd, sim, extra, false)?;
    Ok(wd)
}

/// Writes the tfvars (admin credentials, or with `read_only` every
/// backend's read-only one instead) and sets the matching environment.
pub fn write_tfvars(
    wd: &mut Workdir,
    sim: &HomelabSim,
    extra: &Value,
    read_only: bool,
) -> Result<()> {
    let mut vars = sim.tfvars.clone();
    if let Some(extra) = extra.as_object() {
        vars.extend(extra.clone());
    }
    wd.set_env("KUBE_TOKEN", sim.env("KUBE_TOKEN")?);
    if read_only {
        for c in READ_ONLY {
            let value = sim.env(c.read_only)?.to_string();
            match c.target.strip_prefix("env:") {
                Some(var) => wd.set_env(var, value),
                None => {
                    ensure!(
                        vars.contains_key(c.target),
                        "homelab-sim's tfvars have no {} to replace with {}",
                        c.target,
                        c.read_only
                    );
                    vars.insert(c.target.to_string(), Value::String(value));
                }
            }
        }
    }
    wd.write_file(TFVARS, &serde_json::to_string_pretty(&Value::Object(vars))?)
}

/// Whether a request the simulator `backend` counted changes something.
/// Reads: GET everywhere; RouterOS's `POST …/print` queries; Technitium
/// answers reads and writes to GET alike, so its reads are told by route
/// (`…/get`, `…/list`), and login/logout change no configuration; Talos's
/// are gRPC calls, told by RPC. A simulator not listed here is judged by
/// the method alone.
pub fn is_write(backend: &str, method: &str, route: &str) -> bool {
    let read_method = matches!(method, "GET" | "HEAD");
    match backend {
        "technitium" => {
            !(route.ends_with("/get")
                || route.ends_with("/list")
                || route == "/api/user/login"
                || route == "/api/user/logout")
        }
        "routeros" => !(read_method || route.ends_with("/print")),
        // gRPC (method "GRPC", route the RPC's path): COSI reads, Version and ServiceList.
        "talos" => !matches!(
            route,
            "/cosi.resource.State/Get"
                | "/cosi.resource.State/List"
                | "/cosi.resource.State/Watch"
                | "/machine.MachineService/Version"
                | "/machine.MachineService/ServiceList"
        ),
        _ => !read_method,
    }
}

/// Every counted write, as `backend METHOD route xN` (empty: nothing was
/// written), and the number of requests per simulator.
pub fn writes(counters: &Value) -> Result<(Vec<String>, BTreeMap<String, u64>)> {
    let sims = counters
        .as_object()
        .ok_or_else(|| anyhow!("counters are not an object: {counters}"))?;
    let mut writes = Vec::new();
    let mut totals = BTreeMap::new();
    for (backend, rows) in sims {
        let mut total = 0;
        for row in rows.as_array().into_iter().flatten() {
            let method = row["method"].as_str().unwrap_or_default();
            let route = row["route"].as_str().unwrap_or_default();
            let count = row["count"].as_u64().unwrap_or_default();
            total += count;
            if is_write(backend, method, route) {
                writes.push(format!("{backend} {method} {route} x{count}"));
            }
        }
        totals.insert(backend.clone(), total);
    }
    Ok((writes, totals))
}

/// The backends (`homelab_<backend>_*` types) with resources in the state.
pub fn backends_in_state(wd: &Workdir) -> Result<Vec<String>> {
    let mut out: Vec<String> = wd
        .state_json()?
        .resources()
        .iter()
        .filter(|r| r.mode() == "managed")
        .filter_map(|r| r.type_name().strip_prefix("homelab_"))
        .filter_map(|t| t.split('_').next())
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The simulator that serves a backend's resources (its counters' key).
pub fn simulator_of(backend: &str) -> &str {
    match backend {
        "metallb" => "kubernetes",
        other => other,
    }
}

/// A PostgreSQL cluster of its own in a temp dir, listening only on a unix
/// socket there (no TCP port), trust authentication; stopped on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
}

impl Postgres {
    /// initdb, then `pg_ctl start -w`. Fails (with what to install) when
    /// PostgreSQL's server programs are not installed.
    pub fn start() -> Result<Postgres> {
        let bin = server_bin_dir()?;
        // initdb and postgres refuse to run as root: as root (CI), the cluster
        // belongs to the `postgres` user Debian's package creates.
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        // Short path: a unix socket path must stay under 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("labforge-pg-")
            .tempdir_in("/tmp")?;
        let pg = Postgres {
            dir,
            bin,
            as_postgres,
        };
        if as_postgres {
            let out = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(pg.dir.path())
                .output()?;
            ensure!(
                out.status.success(),
                "chown postgres {}: {}",
                pg.dir.path().display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let data = pg.data_dir();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        let opts = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=off",
            pg.socket_dir()
        );
        let log = format!("{}/pg.log", pg.socket_dir());
        pg.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
            ],
        )?;
        pg.run(
            "createdb",
            &[
                "-h",
                &pg.socket_dir(),
                "-U",
                "postgres",
                "terraform_backend",
            ],
        )?;
        Ok(pg)
    }

    fn data_dir(&self) -> String {
        format!("{}/data", self.socket_dir())
    }

    /// The directory of the server's unix socket.
    pub fn socket_dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// The `pg` backend's `conn_str` (lib/pq's URL form; `host` a socket dir).
    pub fn conn_str(&self) -> String {
        format!(
            "postgres://postgres@/terraform_backend?host={}&sslmode=disable",
            self.socket_dir()
        )
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when we are root).
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", path.display()))?;
        ensure!(
            out.status.success(),
            "{program} {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A query's rows, unaligned, `|`-separated.
    pub fn query(&self, sql: &str) -> Result<String> {
        self.run(
            "psql",
            &[
                "-h",
                &self.socket_dir(),
                "-U",
                "postgres",
                "-d",
                "terraform_backend",
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// `/usr/lib/postgresql/<newest>/bin`, where Debian's `postgresql` package
/// puts initdb and pg_ctl.
fn server_bin_dir() -> Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!(
            "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb). \
             `make tools` (run by `make test` and .ci/run) installs it as root: \
             apt-get install -y --no-install-recommends postgresql"
        )
    })
}
