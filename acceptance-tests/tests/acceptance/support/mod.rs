//! Helpers shared by several acceptance test binaries. Each binary uses only
//! some of them, hence the `dead_code` allowance.

#![allow(dead_code)]

use anyhow::{Result, ensure};
use labforge_acceptance_tests::Workdir;
use labforge_simulators::common::Counters;

pub mod bad_input;
pub mod faults;
pub mod kubernetes;
pub mod lab_ci;
pub mod pfsense;
pub mod proxmox;
pub mod routeros;
pub mod talos;
pub mod talos_nodes;

/// The `terraform { required_providers { … } }` block pinning this build of
/// the provider (no trailing newline).
pub const REQUIRED_PROVIDERS: &str = concat!(
    "terraform {\n",
    "  required_providers {\n",
    "    homelab = {\n",
    "      source  = \"labforge/homelab\"\n",
    "      version = \"",
    env!("CARGO_PKG_VERSION"),
    "\"\n",
    "    }\n",
    "  }\n",
    "}",
);

/// The refresh-cost check every backend's tests share: runs `plan` (with
/// refresh), which must be empty and must write nothing (`is_write(method,
/// route)` says which requests would be writes), prints what it cost (per
/// object when `objects` is not 0), and returns the number of requests the
/// simulator counted.
pub fn refresh_cost(
    backend: &str,
    counters: &Counters,
    wd: &Workdir,
    objects: u64,
    what: &str,
    is_write: impl Fn(&str, &str) -> bool,
) -> Result<u64> {
    counters.reset();
    let (empty, out) = wd.plan_is_empty(true)?;
    ensure!(empty, "plan after apply is not empty:\n{}", out.combined());
    let snapshot = counters.snapshot();
    let n = counters.total();
    let per = match objects {
        0 => String::new(),
        k => format!(" for {k} objects ({:.2} per object)", n as f64 / k as f64),
    };
    eprintln!("[{backend}] {what}: refresh made {n} API requests{per}: {snapshot:?}");
    let writes: u64 = snapshot
        .iter()
        .filter(|((method, route), _)| is_write(method, route))
        .map(|(_, count)| count)
        .sum();
    ensure!(writes == 0, "refresh wrote: {snapshot:?}");
    Ok(n)
}
