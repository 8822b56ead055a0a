#!/usr/bin/env bash
# `make demo`: build the provider and the lab simulator, install the provider
# into a local filesystem mirror (as users do), start `homelab-sim`, then run
# init, apply, a second plan that must show no changes, a refresh-only plan
# that must find nothing changed outside Terraform, and destroy on
# examples/lab. Any failure exits non-zero; the simulator is always stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work="$root/target/demo"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\n\033[31mdemo failed: %s\033[0m\n' "$*" >&2; exit 1; }

cli=${TF_ACC_TERRAFORM_PATH:-$(command -v tofu || command -v terraform || true)}
[ -n "$cli" ] || fail "make demo needs terraform or tofu on PATH (or TF_ACC_TERRAFORM_PATH)"

rm -rf "$work"
mkdir -p "$work/lab"

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
target/debug/homelab-sim --env-file "$work/sim.env" --tfvars "$work/lab/sim.auto.tfvars.json" \
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

cp examples/lab/*.tf "$work/lab/"
cd "$work/lab"
tf() { echo "+ $(basename "$cli") $*"; "$cli" "$@" -no-color -input=false; }

step "init"
# Terraform computes the lock file's checksums from the mirror, which holds this platform's
# build only, so it warns "Incomplete lock file information": expected for a local build.
echo "note: init warns \"Incomplete lock file information\" because the local mirror holds"
echo "      only this platform's build ($platform): the lock file can record its checksum only."
tf init
step "apply"
tf apply -auto-approve
step "plan again: it must show no changes"
set +e
tf plan -detailed-exitcode
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "the second plan is not empty (exit code $rc)"
step "refresh-only plan: nothing may have changed outside Terraform"
set +e
tf plan -refresh-only -detailed-exitcode
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "the refresh-only plan found changes (exit code $rc)"
step "destroy"
tf destroy -auto-approve

step "Demo finished: apply, an empty second plan, an empty refresh-only plan, and destroy all passed."
