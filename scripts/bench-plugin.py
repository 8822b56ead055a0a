#!/usr/bin/env python3
"""`make bench`, process part: time from process start to the handshake line,
and provider memory after a plan, each as a ratio against a baseline measured
in the same run (the minimal `echo_plugin` of labforge-server for start-up;
the same provider idle, just after its handshake, for memory)."""
import json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COOKIE = {"TF_PLUGIN_MAGIC_COOKIE": "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
          "PLUGIN_PROTOCOL_VERSIONS": "5,6"}


def start_to_handshake(binary, rounds=15):
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        p = subprocess.Popen([binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env={**os.environ, **COOKIE})
        line = p.stdout.readline()
        samples.append(time.perf_counter() - t)
        p.terminate()
        p.wait()
        assert line.startswith(b"1|6|unix|"), line
    return statistics.median(samples)


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith(field + ":"):
                return int(l.split()[1])
    return 0


def memory_after_plan(binary, terraform):
    """Serve the provider in debug mode, plan against it via TF_REATTACH_PROVIDERS."""
    p = subprocess.Popen([binary, "--debug"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    reattach = None
    for raw in p.stdout:
        line = raw.decode().strip()
        if line.startswith("TF_REATTACH_PROVIDERS="):
            reattach = line.split("=", 1)[1].strip("'")
            break
    time.sleep(0.2)
    idle = rss_kib(p.pid)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "main.tf"), "w") as f:
            f.write('terraform {\n  required_providers {\n    homelab = { source = "labforge/homelab" }\n  }\n}\n'
                    'provider "homelab" {}\n')
        env = {**os.environ, "TF_REATTACH_PROVIDERS": reattach, "CHECKPOINT_DISABLE": "1",
               "TF_CLI_CONFIG_FILE": os.devnull}
        subprocess.run([terraform, "plan", "-input=false", "-no-color"], cwd=d, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after, peak = rss_kib(p.pid), rss_kib(p.pid, "VmHWM")
    p.terminate()
    p.wait()
    return idle, after, peak


def main():
    provider = os.path.join(ROOT, "target/release/terraform-provider-homelab")
    echo = os.path.join(ROOT, "target/release/examples/echo_plugin")
    terraform = os.environ.get("TF_ACC_TERRAFORM_PATH") or "terraform"
    ours, base = start_to_handshake(provider), start_to_handshake(echo)
    print(f"start to handshake: provider {ours*1000:.1f} ms, minimal plugin {base*1000:.1f} ms "
          f"= {ours/base:.2f}x baseline")
    idle, after, peak = memory_after_plan(provider, terraform)
    print(f"provider RSS: idle {idle} KiB, after a plan {after} KiB (peak {peak} KiB) = {after/idle:.2f}x idle")
    size = os.path.getsize(provider)
    print(f"provider binary (release, stripped): {size/1024/1024:.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
