#!/usr/bin/env python3
"""`make bench`, process part (docs/performance.md says what each number means).

1. Start to handshake line, as Terraform starts the provider: with the go-plugin
   environment and PLUGIN_CLIENT_CERT holding a client certificate made the way
   go-plugin makes it (ECDSA P-521, self-signed, CA:TRUE), which turns on AutoMTLS.
   Compared with a minimal process (/bin/echo: spawn, one line, exit) and with
   labforge-server's minimal `echo_plugin`, both measured in the same run.
2. Provider memory during a real plan: homelab-sim serves the example lab
   (examples/lab, every backend), the provider runs in debug mode (reattached),
   `terraform apply` creates the lab and a `terraform plan` then refreshes every
   object while the provider's RSS is sampled.
3. Log volume with TF_LOG_PROVIDER=trace over that plan (the provider's own stderr),
   and, where strace exists, how many files of the system CA store the provider
   opened over apply and plan.

Usage: scripts/bench-plugin.py [--provider PATH] [--sim PATH] [--echo PATH]
(defaults: target/release builds, as `make bench` makes them).
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COOKIE = {"TF_PLUGIN_MAGIC_COOKIE": "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
          "PLUGIN_PROTOCOL_VERSIONS": "5,6"}
CA_DIRS = ("/etc/ssl/certs", "/usr/share/ca-certificates", "/etc/pki", "/etc/ca-certificates")


def go_plugin_client_cert():
    """PEM of a certificate like go-plugin's generateCert (mtls.go): ECDSA P-521
    key, self-signed with SHA-512, CN localhost, CA:TRUE, client+server auth."""
    with tempfile.TemporaryDirectory() as d:
        key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        if shutil.which("openssl"):
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521",
                 "-sha512", "-nodes", "-keyout", key, "-out", cert, "-days", "30",
                 "-subj", "/O=HashiCorp/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=digitalSignature,keyEncipherment,keyAgreement,keyCertSign",
                 "-addext", "extendedKeyUsage=clientAuth,serverAuth"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(cert) as f:
                return f.read()
    from cryptography import x509  # fallback when there is no openssl CLI
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import datetime
    k = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now)
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                               ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
         .sign(k, hashes.SHA512()))
    return c.public_bytes(serialization.Encoding.PEM).decode()


def start_to_handshake(argv, env, expect, rounds=21):
    """Median wall time from spawn to the handshake line, and median CPU time
    (user + system) of the process until then: the CPU figure holds still on a
    busy machine, the wall figure is what Terraform waits."""
    wall, cpu = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        line = p.stdout.readline()
        wall.append(time.perf_counter() - t)
        os.kill(p.pid, signal.SIGSTOP)  # no CPU past the handshake line counts
        os.kill(p.pid, signal.SIGKILL)
        _, _, usage = os.wait4(p.pid, 0)
        p.returncode = -9
        p.stdout.close()
        cpu.append(usage.ru_utime + usage.ru_stime)
        assert line.startswith(expect), line
    return statistics.median(wall), statistics.median(cpu)


def rss_kib(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for l in f:
                if l.startswith(field + ":"):
                    return int(l.split()[1])
    except FileNotFoundError:
        pass
    return 0


class Sim:
    """homelab-sim, with its endpoints as environment and Terraform variables."""

    def __init__(self, binary, work):
        self.env_file = os.path.join(work, "sim.env")
        self.tfvars = os.path.join(work, "lab", "sim.auto.tfvars.json")
        ready = os.path.join(work, "sim.ready")
        self.proc = subprocess.Popen([binary, "--env-file", self.env_file, "--tfvars", self.tfvars,
                                      "--ready-file", ready], stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(ready):
                break
            if self.proc.poll() is not None:
                raise SystemExit("homelab-sim exited")
            time.sleep(0.05)
        else:
            raise SystemExit("homelab-sim did not become ready")
        # Shell syntax (values may span lines, e.g. a PEM): let bash read it.
        out = subprocess.run(["bash", "-c", 'source "$1" && env -0', "-", self.env_file],
                             capture_output=True, check=True, env={}).stdout
        self.env = dict(kv.split("=", 1) for kv in out.decode().split("\0") if "=" in kv)
        for k in ("PWD", "SHLVL", "_"):
            self.env.pop(k, None)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class DebugProvider:
    """The provider in debug mode (`--debug`): Terraform reattaches to it."""

    def __init__(self, binary, env, stderr, strace_to=None):
        argv = [binary, "--debug"]
        if strace_to:
            argv = ["strace", "-f", "-qq", "-e", "trace=open,openat", "-o", strace_to] + argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, env=env,
                                     start_new_session=True)
        self.reattach = None
        for raw in self.proc.stdout:
            line = raw.decode().strip()
            if line.startswith("TF_REATTACH_PROVIDERS="):
                self.reattach = line.split("=", 1)[1].strip("'")
                break
        assert self.reattach, "no TF_REATTACH_PROVIDERS line"
        self.pid = json.loads(self.reattach)["registry.terraform.io/labforge/homelab"]["Pid"]

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait()


def terraform(tf, lab, reattach, *args):
    env = {**os.environ, "TF_REATTACH_PROVIDERS": reattach, "CHECKPOINT_DISABLE": "1",
           "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
    env.pop("TF_LOG", None)
    r = subprocess.run([tf, *args, "-input=false", "-no-color"], cwd=lab, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"terraform {args[0]} failed:\n{r.stderr}")


def sample_rss(pid, stop, out):
    while not stop.is_set():
        out.append(rss_kib(pid))
        time.sleep(0.005)


def ca_opens(trace_file):
    n = 0
    with open(trace_file) as f:
        for l in f:
            if "open" in l and any(d in l for d in CA_DIRS) and "ENOENT" not in l:
                n += 1
    return n


def lab_run(provider, sim_binary, tf):
    with tempfile.TemporaryDirectory() as work:
        lab = os.path.join(work, "lab")
        os.makedirs(lab)
        for f in os.listdir(os.path.join(ROOT, "examples/lab")):
            if f.endswith(".tf"):
                shutil.copy(os.path.join(ROOT, "examples/lab", f), lab)
        sim = Sim(sim_binary, work)
        try:
            base = {k: v for k, v in os.environ.items() if not k.startswith("TF_LOG")}
            env = {**base, **sim.env}
            strace = os.path.join(work, "strace.txt") if shutil.which("strace") else None
            p = DebugProvider(provider, env, subprocess.DEVNULL, strace)
            try:
                time.sleep(0.2)
                idle = rss_kib(p.pid)
                terraform(tf, lab, p.reattach, "apply", "-auto-approve")
                samples, stop = [], threading.Event()
                t = threading.Thread(target=sample_rss, args=(p.pid, stop, samples))
                t.start()
                terraform(tf, lab, p.reattach, "plan")
                stop.set()
                t.join()
                peak = rss_kib(p.pid, "VmHWM")
            finally:
                p.stop()
            objects = count_objects(tf, lab)
            opens = ca_opens(strace) if strace else None
            # The same plan with TF_LOG_PROVIDER=trace, counting the provider's lines.
            log = os.path.join(work, "provider.log")
            with open(log, "w") as f:
                p = DebugProvider(provider, {**env, "TF_LOG_PROVIDER": "trace"}, f)
                try:
                    terraform(tf, lab, p.reattach, "plan")
                finally:
                    p.stop()
            with open(log) as f:
                lines = sum(1 for _ in f)
        finally:
            sim.stop()
    return idle, max(samples or [0]), peak, objects, lines, opens


def count_objects(tf, lab):
    out = subprocess.run([tf, "state", "list"], cwd=lab, capture_output=True, text=True,
                         env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull})
    return len([l for l in out.stdout.splitlines() if l.strip()])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--provider", default=os.path.join(ROOT, "target/release/terraform-provider-homelab"))
    ap.add_argument("--sim", default=os.path.join(ROOT, "target/release/homelab-sim"))
    ap.add_argument("--echo", default=os.path.join(ROOT, "target/release/examples/echo_plugin"))
    a = ap.parse_args()
    tf = os.environ.get("TF_ACC_TERRAFORM_PATH") or shutil.which("tofu") or "terraform"

    env = {**os.environ, **COOKIE, "PLUGIN_CLIENT_CERT": go_plugin_client_cert()}
    env.pop("TF_LOG", None)
    env.pop("TF_LOG_PROVIDER", None)
    minimal = start_to_handshake(["/bin/echo", "1|6|unix"], env, b"1|6|unix")
    ours = start_to_handshake([a.provider], env, b"1|6|unix|")
    echo = start_to_handshake([a.echo], env, b"1|6|unix|") if os.path.exists(a.echo) else None
    ms = lambda r: f"{r[0]*1000:.1f} ms (CPU {r[1]*1000:.1f} ms)"
    print("start to handshake line (AutoMTLS, P-521 client certificate, medians of 21): "
          f"provider {ms(ours)}; minimal process {ms(minimal)}"
          + (f"; echo_plugin {ms(echo)}" if echo else ""), flush=True)

    idle, during, peak, objects, lines, opens = lab_run(a.provider, a.sim, tf)
    print(f"provider RSS over a plan of the example lab ({objects} objects, all backends): "
          f"idle {idle} KiB, during the plan up to {during} KiB (peak {peak} KiB)")
    print(f"TF_LOG_PROVIDER=trace lines from the provider over that plan: {lines}")
    if opens is not None:
        print(f"system CA store files opened over apply + plan: {opens}")
    size = os.path.getsize(a.provider)
    print(f"provider binary: {size/1024/1024:.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
