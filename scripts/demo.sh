#!/usr/bin/env bash
# `make demo`: build the provider and the lab simulator, install the provider
# into a local filesystem mirror (as users do), start `homelab-sim`, then run
# init, apply, a second plan that must show no changes, a refresh-only plan
# that must find nothing changed outside Terraform, and destroy on
# examples/lab: once with the RouterOS edge, then once with the pfSense edge
# (each variant in its own working directory, against the same simulators:
# the first one's destroy leaves them as they started, the Talos nodes reset
# to maintenance mode, so the second variant builds a new cluster on them).
# Any failure exits non-zero; the simulator is always stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work="$root/target/demo"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\n\033[31mdemo failed: %s\033[0m\n' "$*" >&2; exit 1; }

cli=${TF_ACC_TERRAFORM_PATH:-$(command -v tofu || command -v terraform || true)}
[ -n "$cli" ] || fail "make demo needs terraform or tofu on PATH (or TF_ACC_TERRAFORM_PATH)"
for tool in curl jq; do
  command -v "$tool" >/dev/null || fail "make demo needs $tool on PATH (to read homelab-sim's counters)"
done

rm -rf "$work"
mkdir -p "$work"

step "Building terraform-provider-homelab and homelab-sim"
# Not quiet: on a fresh clone this compiles ~300 crates (several minutes on two cores),
# and cargo's progress is the only sign that it is working.
echo "(a first build takes several minutes; later ones seconds)"
cargo build --locked -p terraform-provider-homelab -p labforge-simulators --bins

version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
platform="$(uname -s | tr '[:upper:]' '[:lower:]')_$(uname -m | sed -e 's/x86_64/amd64/' -e 's/aarch64/arm64/')"

step "Installing the provider ($version, $platform) into a local mirror"
for host in registry.terraform.io registry.opentofu.org; do
  dir="$work/mirror/$host/labforge/homelab/$version/$platform"
  mkdir -p "$dir"
  cp target/debug/terraform-provider-homelab "$dir/terraform-provider-homelab_v$version"
done
cat >"$work/cli.tfrc" <<EOT
provider_installation {
  filesystem_mirror {
    path    = "$work/mirror"
    include = ["registry.terraform.io/labforge/*", "registry.opentofu.org/labforge/*"]
  }
  direct {
    exclude = ["registry.terraform.io/labforge/*", "registry.opentofu.org/labforge/*"]
  }
}
EOT
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
echo "CLI config: $TF_CLI_CONFIG_FILE"

step "Starting homelab-sim"
target/debug/homelab-sim --env-file "$work/sim.env" --tfvars "$work/sim.auto.tfvars.json" \
  --ready-file "$work/sim.ready" 2>"$work/sim.log" &
sim=$!
trap 'kill "$sim" 2>/dev/null || true; wait "$sim" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -f "$work/sim.ready" ] && break
  kill -0 "$sim" 2>/dev/null || { cat "$work/sim.log" >&2; fail "homelab-sim exited"; }
  sleep 0.1
done
[ -f "$work/sim.ready" ] || fail "homelab-sim did not become ready (see $work/sim.log)"
# shellcheck disable=SC1091
source "$work/sim.env"
sed -n 's/^export \([A-Z_]*\)=.*/  \1/p' "$work/sim.env"

tf() { echo "+ $(basename "$cli") $*"; "$cli" "$@" -no-color -input=false; }

# How many MachineService/Reset calls homelab-sim's Talos nodes have answered
# so far (its control endpoint's request counters).
talos_resets() {
  curl -fsS "$HOMELAB_SIM_CONTROL_URL/_sim/counters" |
    jq '[.talos[] | select(.route == "/machine.MachineService/Reset") | .count] | add // 0'
}

# A step of the variant running (run_variant's $edge).
variant() { step "[edge = $edge] $*"; }

# One variant: examples/lab with edge = $1 (and any more tfvars from stdin).
run_variant() {
  local edge=$1 dir="$work/lab-$1" rc
  mkdir -p "$dir"
  cp "$root"/examples/lab/*.tf "$work/sim.auto.tfvars.json" "$dir/"
  # Named to sort after sim.auto.tfvars.json: Terraform loads *.auto.tfvars
  # files in lexical order, so the variant's values override homelab-sim's.
  cat >"$dir/variant.auto.tfvars.json"
  cd "$dir"

  variant "init"
  # Terraform computes the lock file's checksums from the mirror, which holds this platform's
  # build only, so it warns "Incomplete lock file information": expected for a local build.
  echo "note: init warns \"Incomplete lock file information\" because the local mirror holds"
  echo "      only this platform's build ($platform): the lock file can record its checksum only."
  tf init
  variant "apply"
  tf apply -auto-approve
  variant "the edge's resources in the state"
  "$cli" state list | grep "^homelab_${edge}_" || fail "[edge = $edge] no homelab_${edge}_* resource was applied"
  variant "plan again: it must show no changes"
  set +e
  tf plan -detailed-exitcode
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || fail "[edge = $edge] the second plan is not empty (exit code $rc)"
  variant "refresh-only plan: nothing may have changed outside Terraform"
  set +e
  tf plan -refresh-only -detailed-exitcode -out=refresh.tfplan
  rc=$?
  set -e
  if [ "$rc" -eq 2 ]; then
    # Terraform 1.10 to 1.14 compare the refreshed state with the saved one
    # exactly (hashicorp/terraform#36403), including the order of each
    # resource's sensitive paths, which Terraform collects by walking Go maps:
    # a resource with two or more sensitive attributes (the Talos secrets and
    # their client configuration) exits 2 about every other run while printing
    # "No changes". Then the plan itself decides: no drift and no output change.
    plan_json=$("$cli" show -json refresh.tfplan)
    if grep -q '"resource_drift"' <<<"$plan_json" ||
      grep -qE '"actions":\["(create|update|delete)"' <<<"$plan_json"; then
      fail "[edge = $edge] the refresh-only plan found changes (exit code $rc)"
    fi
    echo "note: exit code 2 without drift or output changes (hashicorp/terraform#36403: sensitive paths compared in order)"
  elif [ "$rc" -ne 0 ]; then
    fail "[edge = $edge] the refresh-only plan failed (exit code $rc)"
  fi
  variant "destroy"
  local resets_before nodes
  resets_before=$(talos_resets)
  nodes=$(jq -r '.talos_nodes // {} | .[]' "$work/sim.auto.tfvars.json")
  tf destroy -auto-approve
  [ -z "$("$cli" state list)" ] || fail "[edge = $edge] destroy left resources in the state"
  # Each node's destroy (on_destroy.reset) waited until the node answered in
  # maintenance mode; the simulator counted the resets.
  variant "the Talos nodes were reset back to maintenance mode"
  local resets
  resets=$(($(talos_resets) - resets_before))
  [ "$resets" -eq "$(wc -w <<<"$nodes")" ] ||
    fail "[edge = $edge] destroy reset $resets Talos nodes, not $(wc -w <<<"$nodes")"
  echo "$resets Talos nodes reset: $(tr '\n' ' ' <<<"$nodes")"
  step "[edge = $edge] passed: apply, an empty second plan, an empty refresh-only plan, and destroy."
  cd "$root"
}

run_variant routeros <<'EOT'
{ "edge": "routeros" }
EOT

# homelab-sim's pfSense has the interfaces WAN, LAN and DMZ only (a fresh
# install plus one): the cluster comes in on DMZ, the other networks share
# LAN (each rule matches its network's alias as source). The Talos nodes are
# the same: the first variant's destroy reset them, so they take this
# variant's new cluster (new secrets).
run_variant pfsense <<'EOT'
{
  "edge": "pfsense",
  "pfsense_interfaces": {
    "wan": "WAN",
    "management": "LAN",
    "cluster": "DMZ",
    "home": "LAN",
    "wireguard": "LAN"
  }
}
EOT

step "Demo finished: both edges (routeros, pfsense) passed apply, an empty second plan, an empty refresh-only plan, and destroy."
