#!/usr/bin/env bash
# The labforge demo: starts the simulators and applies examples/ with the provider.
# Stub: another change writes it.
set -euo pipefail
echo "make demo: not yet implemented" >&2
exit 1
