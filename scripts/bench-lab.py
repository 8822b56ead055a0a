#!/usr/bin/env python3
"""`make bench`, lab part: plan and apply the way users feel them (docs/performance.md).

For each kind of object (Technitium records, Cloudflare records, RouterOS address-list
entries, Proxmox VMs) and each N (10, 100, 1000), a generated configuration of N such
objects is run through the real CLI against `homelab-sim`, each command paired with the
same command on N `terraform_data` resources (same CLI, same machine, run right after it,
so both see the same load):

  apply            from empty state (`terraform apply -auto-approve`)
  plan             `terraform plan` after the apply (refreshes every object)
  plan -refresh=false

Medians over --reps runs (N=1000: --reps-large). The simulators' request counters
(homelab-sim's own `/_sim/counters`, on its own port, not a vendor API) give requests per
object on refresh and on apply; the provider's peak RSS (VmHWM of every provider process)
is recorded during the N=1000 plans. Then: 20 Proxmox clones in one apply against the
ideal for the CLI's parallelism (10), and the issue's goals (500 Cloudflare records
against the rate-limit floor, Technitium requests per record over an apply of 500).

Prints a table, writes target/bench-lab/results.json and, when matplotlib is importable,
docs/performance-lab.png (ratio against N per operation).

Usage: scripts/bench-lab.py [--provider PATH] [--sim PATH] [--cli PATH] [--sizes 10,100,1000]
       [--kinds technitium,cloudflare,routeros,proxmox] [--reps 3] [--reps-large 1]
       [--no-clones] [--no-goals] [--plot PATH] [--replot]
Cloudflare stops at N=100 (--cloudflare-max) and Proxmox at N=100 (--proxmox-max); see
docs/performance.md for why.
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, threading, time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "bench-lab")
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def version():
    text = open(os.path.join(ROOT, "Cargo.toml")).read()
    m = re.search(r'\[workspace\.package\][^\[]*?version\s*=\s*"([^"]+)"', text, re.S)
    return m.group(1)


def platform():
    arch = os.uname().machine.replace("x86_64", "amd64").replace("aarch64", "arm64")
    return f"{os.uname().sysname.lower()}_{arch}"


def install_mirror(provider):
    """Installs the provider into a filesystem mirror, as scripts/demo.sh does."""
    ver = version()
    for host in ("registry.terraform.io", "registry.opentofu.org"):
        d = os.path.join(WORK, "mirror", host, "labforge", "homelab", ver, platform())
        os.makedirs(d, exist_ok=True)
        shutil.copy2(provider, os.path.join(d, f"terraform-provider-homelab_v{ver}"))
    rc = os.path.join(WORK, "cli.tfrc")
    mirror = os.path.join(WORK, "mirror")
    with open(rc, "w") as f:
        f.write(f'''provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["registry.terraform.io/labforge/*", "registry.opentofu.org/labforge/*"]
  }}
  direct {{
    exclude = ["registry.terraform.io/labforge/*", "registry.opentofu.org/labforge/*"]
  }}
}}
''')
    return rc


class Sim:
    """A running homelab-sim: its env (endpoints, tokens) and its control endpoint."""

    def __init__(self, path, name, extra=()):
        d = os.path.join(WORK, name)
        os.makedirs(d, exist_ok=True)
        self.env_file, ready = os.path.join(d, "sim.env"), os.path.join(d, "sim.ready")
        tfvars = os.path.join(d, "sim.tfvars.json")
        for p in (ready,):
            if os.path.exists(p):
                os.remove(p)
        self.log = open(os.path.join(d, "sim.log"), "w")
        self.proc = subprocess.Popen(
            [path, "--env-file", self.env_file, "--tfvars", tfvars, "--ready-file", ready, *extra],
            stdout=subprocess.DEVNULL, stderr=self.log, env={**os.environ, "RUST_LOG": "warn"})
        for _ in range(200):
            if os.path.exists(ready):
                break
            if self.proc.poll() is not None:
                sys.exit(f"homelab-sim exited; see {self.log.name}")
            time.sleep(0.05)
        else:
            sys.exit(f"homelab-sim did not become ready; see {self.log.name}")
        self.env = {}
        for line in open(self.env_file):
            m = re.match(r"export ([A-Z_]+)='(.*)'$", line.rstrip("\n"), re.S)
            if m:
                self.env[m.group(1)] = m.group(2).replace("'\\''", "'")
        # Multi-line values (the RouterOS CA) span lines: read them from the tfvars.
        self.tfvars = json.load(open(tfvars))
        self.control = self.env["HOMELAB_SIM_CONTROL_URL"]

    def counters(self):
        """Requests so far, per simulator: {backend: total}."""
        with urllib.request.urlopen(self.control + "/_sim/counters") as r:
            data = json.load(r)
        return {k: sum(row["count"] for row in rows) for k, rows in data.items()}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def provider_block(kind, sim):
    v = sim.tfvars
    if kind == "technitium":
        return {"technitium": {"url": v["technitium_url"], "token": v["technitium_token"]}}
    if kind == "cloudflare":
        return {"cloudflare": {"api_token": v["cloudflare_api_token"],
                               "base_url": v["cloudflare_base_url"]}}
    if kind == "routeros":
        return {"routeros": {"url": v["routeros_url"], "username": v["routeros_username"],
                             "password": v["routeros_password"],
                             "ca_certificate": v["routeros_ca_certificate"]}}
    if kind == "proxmox":
        return {"proxmox": {"endpoint": v["proxmox_endpoint"], "api_token": v["proxmox_api_token"]}}
    raise ValueError(kind)


# The i-th object of each kind; ${count.index} spelled in HCL templates.
IP = "10.${floor(count.index / 250)}.${count.index % 250}.1"


def lab_resources(kind, n, sim):
    v = sim.tfvars
    if kind == "technitium":
        return {"homelab_technitium_dns_record": {"r": {
            "count": n, "zone": v["technitium_zone"], "name": "bench-${count.index}",
            "type": "A", "value": IP}}}
    if kind == "cloudflare":
        return {"homelab_cloudflare_dns_record": {"r": {
            "count": n, "zone_id": v["cloudflare_zone_id"], "name": "bench-${count.index}",
            "type": "A", "content": IP, "ttl": 300}}}
    if kind == "routeros":
        return {"homelab_routeros_firewall_address_list": {"r": {
            "count": n, "list": "bench", "address": IP, "comment": "bench ${count.index}"}}}
    if kind == "proxmox":
        # As acceptance-tests' twenty_parallel_clones_of_one_template: stopped clones.
        return {"homelab_proxmox_vm": {"r": {
            "count": n, "node": v["proxmox_node"], "name": "bench-${count.index}",
            "started": False, "tags": ["bench"], "clone": {"vm_id": v["proxmox_template_vmid"]},
            "cpu": {"cores": 2}, "memory": {"dedicated": 2048},
            "disk": {"scsi0": {"storage": "local-lvm", "size": 8}}}}}
    raise ValueError(kind)


def data_resources(n):
    return {"terraform_data": {"r": {"count": n, "input": {
        "name": "bench-${count.index}", "type": "A", "value": IP}}}}


def write_config(d, resources, provider=None):
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    cfg = {"terraform": {"required_version": ">= 1.11"}, "resource": resources}
    if provider is not None:
        cfg["terraform"]["required_providers"] = {"homelab": {"source": "labforge/homelab"}}
        cfg["provider"] = {"homelab": provider}
    with open(os.path.join(d, "main.tf.json"), "w") as f:
        json.dump(cfg, f, indent=1)


class Rss:
    """Samples VmHWM (peak RSS) of every terraform-provider-homelab process."""

    def __init__(self):
        self.peak_kib, self._stop = 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if not f.read().startswith("terraform-provi"):
                            continue
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                except OSError:
                    pass
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.peak_kib


class Cli:
    def __init__(self, path, rc):
        self.path = path
        self.env = {**os.environ, "TF_CLI_CONFIG_FILE": rc, "CHECKPOINT_DISABLE": "1",
                    "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
        for k in ("TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_CORE"):
            self.env.pop(k, None)

    def run(self, d, *args, ok=(0,)):
        t = time.perf_counter()
        p = subprocess.run([self.path, *args, "-no-color", "-input=false"], cwd=d, env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.perf_counter() - t
        if p.returncode not in ok:
            sys.exit(f"{self.path} {' '.join(args)} in {d} failed ({p.returncode}):\n{p.stdout[-4000:]}")
        return wall, p.returncode

    def init(self, d):
        self.run(d, "init")

    def apply(self, d):
        return self.run(d, "apply", "-auto-approve")[0]

    def plan(self, d, refresh=True, expect_empty=True):
        args = ["plan", "-detailed-exitcode"] + ([] if refresh else ["-refresh=false"])
        wall, rc = self.run(d, *args, ok=(0, 2))
        if expect_empty and rc != 0:
            sys.exit(f"plan after apply in {d} is not empty")
        return wall

    def destroy(self, d):
        return self.run(d, "destroy", "-auto-approve")[0]


def per_object(before, after, backend, n):
    return (after.get(backend, 0) - before.get(backend, 0)) / n


def bench_kind(cli, sim, kind, n, reps, results):
    """One (kind, N): apply, plan, plan -refresh=false; each paired with terraform_data."""
    lab, data = os.path.join(WORK, f"{kind}-{n}"), os.path.join(WORK, f"data-{kind}-{n}")
    write_config(lab, lab_resources(kind, n, sim), provider_block(kind, sim))
    write_config(data, data_resources(n))
    cli.init(lab)
    cli.init(data)
    times = {op: ([], []) for op in ("apply", "plan", "plan -refresh=false")}
    reqs = {"apply": [], "refresh": []}
    rss = []
    for rep in range(reps):
        log(f"{kind} N={n} run {rep + 1}/{reps}: apply")
        c0 = sim.counters()
        times["apply"][0].append(cli.apply(lab))
        c1 = sim.counters()
        reqs["apply"].append(per_object(c0, c1, kind, n))
        times["apply"][1].append(cli.apply(data))
        log(f"{kind} N={n} run {rep + 1}/{reps}: plan (apply {times['apply'][0][-1]:.1f}s "
            f"vs {times['apply'][1][-1]:.1f}s)")
        for _ in range(1 if n < 1000 else 3):  # N=1000: three plans per apply
            meter = Rss() if n >= 1000 else None
            c0 = sim.counters()
            times["plan"][0].append(cli.plan(lab))
            c1 = sim.counters()
            if meter:
                rss.append(meter.stop())
            reqs["refresh"].append(per_object(c0, c1, kind, n))
            times["plan"][1].append(cli.plan(data))
            times["plan -refresh=false"][0].append(cli.plan(lab, refresh=False))
            times["plan -refresh=false"][1].append(cli.plan(data, refresh=False))
        log(f"{kind} N={n} run {rep + 1}/{reps}: destroy")
        cli.destroy(lab)
        cli.destroy(data)
    for op, (a, b) in times.items():
        la, lb = statistics.median(a), statistics.median(b)
        results.append({"kind": kind, "n": n, "op": op, "runs": len(a), "labforge_s": la,
                        "terraform_data_s": lb, "ratio": la / lb,
                        "requests_per_object": statistics.median(
                            reqs["apply" if op == "apply" else "refresh"]) if op != "plan -refresh=false" else 0.0,
                        "peak_rss_kib": max(rss) if rss and op == "plan" else None})
    r = [x for x in results if x["kind"] == kind and x["n"] == n]
    log("  " + "; ".join(f"{x['op']}: {x['ratio']:.2f}x" for x in r))


def bench_clones(cli, sim_path, rc):
    """20 clones in one apply, clone task 5 s: ideal = 2 rounds of 10 (the CLI's parallelism)."""
    log("20 Proxmox clones (clone task 5 s) in one apply")
    sim = Sim(sim_path, "sim-clones", ["--proxmox-task-duration", "qmclone=5000"])
    try:
        d = os.path.join(WORK, "clones-20")
        write_config(d, lab_resources("proxmox", 20, sim), provider_block("proxmox", sim))
        cli.init(d)
        wall = cli.apply(d)
        cli.destroy(d)
    finally:
        sim.stop()
    return {"clones": 20, "clone_task_s": 5.0, "ideal_s": 10.0, "wall_s": wall, "ratio": wall / 10.0}


def bench_goals(cli, sim_path):
    """Apply of 500 Cloudflare records against the floor of the client's rate limit, and
    Technitium requests per record over an apply of 500 records. On a fresh homelab-sim
    (the Cloudflare simulator enforces Cloudflare's 1200 requests per 5 minutes per user,
    server side, like Cloudflare), and not destroyed: the simulator is stopped instead."""
    out = {}
    sim = Sim(sim_path, "sim-goals")
    for kind in ("cloudflare", "technitium"):
        n = 500
        log(f"goal: apply of {n} {kind} records")
        lab, data = os.path.join(WORK, f"goal-{kind}"), os.path.join(WORK, f"goal-data-{kind}")
        write_config(lab, lab_resources(kind, n, sim), provider_block(kind, sim))
        write_config(data, data_resources(n))
        cli.init(lab)
        cli.init(data)
        c0 = sim.counters()
        wall = cli.apply(lab)
        c1 = sim.counters()
        base = cli.apply(data)
        reqs = c1.get(kind, 0) - c0.get(kind, 0)
        entry = {"n": n, "wall_s": wall, "terraform_data_s": base, "requests": reqs,
                 "requests_per_record": reqs / n}
        if kind == "cloudflare":
            # The default budget: 1200 per 5 minutes, a burst of 300 and 3 a second after it.
            rate_floor = max(0, reqs - 300) / 3.0
            entry["rate_floor_s"] = rate_floor
            entry["floor_s"] = max(rate_floor, base)
            entry["ratio_to_floor"] = wall / entry["floor_s"]
        out[kind] = entry
        log(f"  {kind}: {wall:.1f}s, {reqs} requests ({reqs / n:.2f} per record); "
            f"terraform_data {base:.1f}s")
    sim.stop()
    return out


def table(results):
    lines = ["| kind | N | operation | runs | labforge s | terraform_data s | ratio | requests/object |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        rq = "" if r["op"] == "plan -refresh=false" else f"{r['requests_per_object']:.2f}"
        lines.append(f"| {r['kind']} | {r['n']} | {r['op']} | {r['runs']} | {r['labforge_s']:.2f} "
                     f"| {r['terraform_data_s']:.2f} | {r['ratio']:.2f} | {rq} |")
    return "\n".join(lines)


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not importable: no plot (pip install matplotlib)")
        return
    ops = ["plan", "plan -refresh=false", "apply"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=False)
    for ax, op in zip(axes, ops):
        for kind in sorted({r["kind"] for r in results}):
            pts = sorted((r["n"], r["ratio"]) for r in results if r["kind"] == kind and r["op"] == op)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=kind)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        if op == "apply":  # Proxmox applies wait for simulated tasks: tens of times the rest
            ax.set_yscale("log")
        ax.set_title(op)
        ax.set_xlabel("N objects")
        ax.set_ylabel("labforge / terraform_data (wall)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("labforge vs terraform_data, same CLI and machine, medians")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    log(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--provider", default=os.path.join(ROOT, "target/release/terraform-provider-homelab"))
    ap.add_argument("--sim", default=os.path.join(ROOT, "target/release/homelab-sim"))
    ap.add_argument("--cli", default=os.environ.get("TF_ACC_TERRAFORM_PATH") or shutil.which("terraform"))
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--kinds", default="technitium,cloudflare,routeros,proxmox")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reps-large", type=int, default=1, help="applies at N=1000 (each followed by 3 plans)")
    ap.add_argument("--proxmox-max", type=int, default=100, help="largest N of Proxmox VMs")
    ap.add_argument("--cloudflare-max", type=int, default=100,
                    help="largest N of Cloudflare records (1000 creations and 1000 deletions need "
                         "8+ minutes under Cloudflare's 1200 requests per 5 minutes)")
    ap.add_argument("--no-clones", action="store_true")
    ap.add_argument("--no-goals", action="store_true")
    ap.add_argument("--plot", default=os.path.join(ROOT, "docs", "performance-lab.png"))
    ap.add_argument("--replot", action="store_true",
                    help="only print the table and redraw the plot from the last results.json")
    a = ap.parse_args()
    if a.replot:
        results = json.load(open(os.path.join(WORK, "results.json")))["results"]
        print(table(results))
        plot(results, a.plot)
        return
    if not a.cli:
        sys.exit("needs terraform on PATH (or --cli / TF_ACC_TERRAFORM_PATH)")
    os.makedirs(WORK, exist_ok=True)
    cli = Cli(a.cli, install_mirror(a.provider))
    log(f"load average at start: {os.getloadavg()}; CLI {a.cli}")
    sim = Sim(a.sim, "sim")
    results, extra = [], {"load_start": os.getloadavg()}
    try:
        for n in [int(x) for x in a.sizes.split(",")]:
            for kind in a.kinds.split(","):
                if kind == "proxmox" and n > a.proxmox_max:
                    log(f"proxmox N={n}: skipped (--proxmox-max {a.proxmox_max})")
                    continue
                if kind == "cloudflare" and n > a.cloudflare_max:
                    log(f"cloudflare N={n}: skipped (--cloudflare-max {a.cloudflare_max})")
                    continue
                bench_kind(cli, sim, kind, n, a.reps if n < 1000 else a.reps_large, results)
                with open(os.path.join(WORK, "results.json"), "w") as f:
                    json.dump({"results": results, "partial": True}, f, indent=1)
    finally:
        sim.stop()
    if not a.no_goals:
        extra["goals"] = bench_goals(cli, a.sim)
    if not a.no_clones:
        extra["clones"] = bench_clones(cli, a.sim, cli.env["TF_CLI_CONFIG_FILE"])
    extra["load_end"] = os.getloadavg()
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump({"results": results, **extra}, f, indent=1)
    print(table(results))
    rss = [r["peak_rss_kib"] for r in results if r.get("peak_rss_kib")]
    if rss:
        print(f"\nprovider peak RSS during the N=1000 plans: {max(rss)} KiB")
    if "clones" in extra:
        c = extra["clones"]
        print(f"20 Proxmox clones (5 s clone task, parallelism 10): {c['wall_s']:.1f} s, "
              f"ideal {c['ideal_s']:.0f} s, ratio {c['ratio']:.2f}")
    for kind, g in extra.get("goals", {}).items():
        s = (f"apply of {g['n']} {kind} records: {g['wall_s']:.1f} s, {g['requests']} requests "
             f"({g['requests_per_record']:.2f} per record), terraform_data {g['terraform_data_s']:.1f} s")
        if "floor_s" in g:
            s += f", rate-limit floor {g['rate_floor_s']:.1f} s, ratio to floor {g['ratio_to_floor']:.2f}"
        print(s)
    print(f"load average: start {extra['load_start']}, end {extra['load_end']}")
    plot(results, a.plot)


if __name__ == "__main__":
    main()
