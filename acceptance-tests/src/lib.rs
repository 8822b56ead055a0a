//! Acceptance test harness that drives the real terraform/tofu CLI.
