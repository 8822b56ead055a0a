#!/usr/bin/env bash
# Fuzz every target of fuzz/ (its own cargo workspace) on the stable toolchain,
# one target after another, FUZZ_SECONDS each (default 60).
#
#   FUZZ_SECONDS=10 bash scripts/fuzz.sh            # every target, 10 s each
#   FUZZ_TARGETS="round_trip plugin_rpc" bash scripts/fuzz.sh
#
# cargo-fuzz is installed into target/tools/cargo-fuzz when missing; it needs
# nightly-only rustc flags, which RUSTC_BOOTSTRAP=1 allows on stable. The
# build goes to target/fuzz (cache it in CI). New inputs go to
# target/fuzz/corpus/<target>; the committed corpus fuzz/corpus/<target>
# is read, never written. A crash stops the run and fails: its input is in
# target/fuzz/artifacts/<target>/. Keep it as a regression test beside the code
# and copy it into fuzz/corpus/<target>/regression-<what>.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
# No AddressSanitizer by default: the code has no `unsafe`, and without it
# builds and runs are about twice as fast. Overflow checks stay on (-a).
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
CARGO_FUZZ_VERSION=0.13.2
TOOLS=target/tools/cargo-fuzz
OUT=target/fuzz

export RUSTC_BOOTSTRAP=1
SECONDS=0
if [ "$("$TOOLS/bin/cargo-fuzz" --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
  cargo install --locked --quiet --root "$TOOLS" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
  echo "cargo-fuzz installed in ${SECONDS} s"
fi
cargo_fuzz() { "$TOOLS/bin/cargo-fuzz" fuzz "$@"; }
flags=(--fuzz-dir fuzz --target-dir "$OUT" --sanitizer "$FUZZ_SANITIZER" --debug-assertions)

targets=${FUZZ_TARGETS:-$(cargo_fuzz list --fuzz-dir fuzz)}

SECONDS=0
for t in $targets; do
  cargo_fuzz build "${flags[@]}" "$t"
done
echo "fuzz targets built in ${SECONDS} s"

summary=()
for t in $targets; do
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t" "fuzz/corpus/$t"
  log="$OUT/$t.log"
  echo "== fuzz $t (${FUZZ_SECONDS} s)"
  SECONDS=0
  if ! cargo_fuzz run "${flags[@]}" "$t" "$OUT/corpus/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$FUZZ_SECONDS" -artifact_prefix="$OUT/artifacts/$t/" \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz target $t failed: input in $OUT/artifacts/$t/ (full log: $log)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(sed -n 's/^#[0-9]*.*DONE *cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  summary+=("$(printf '%-16s %10s execs %5s s  cov %s' "$t" "${runs:-?}" "$SECONDS" "${cov:-?}")")
done
echo "== fuzz summary (${FUZZ_SECONDS} s per target, sanitizer $FUZZ_SANITIZER, no crash)"
printf '%s\n' "${summary[@]}"
