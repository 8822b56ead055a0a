//! Helpers of the MetalLB acceptance tests: a Kubernetes simulator and
//! provider blocks for it.

use std::rc::Rc;

use anyhow::{Result, ensure};
use labforge_simulators::kubernetes::{ADMIN_TOKEN, KubernetesSim};

use super::REQUIRED_PROVIDERS;

/// A simulator, shared by a test's steps.
pub fn sim() -> Rc<KubernetesSim> {
    Rc::new(KubernetesSim::start().unwrap())
}

/// The root module: required_providers, a `kubernetes` block for `host`
/// with `token`, and `body`.
pub fn hcl_at(host: &str, token: &str, body: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  kubernetes {{
    host  = "{host}"
    token = "{token}"
  }}
}}

{body}"#
    )
}

/// The root module against `sim` as the admin.
pub fn hcl(sim: &KubernetesSim, body: &str) -> String {
    hcl_at(&sim.url(), ADMIN_TOKEN, body)
}

/// Every object the provider sent validated against the CRD schemas:
/// nothing pruned as unknown, nothing refused as invalid.
pub fn sent_valid_objects(sim: &KubernetesSim) -> Result<()> {
    ensure!(
        sim.pruned_fields().is_empty(),
        "fields the CRDs do not know were sent: {:?}",
        sim.pruned_fields()
    );
    ensure!(
        sim.invalid_writes().is_empty(),
        "objects the CRD schemas refuse were sent: {:?}",
        sim.invalid_writes()
    );
    Ok(())
}

/// Nothing of MetalLB's kinds is left.
pub fn nothing_left(sim: &KubernetesSim) -> Result<()> {
    for plural in ["ipaddresspools", "l2advertisements"] {
        let left = sim.objects(plural);
        ensure!(left.is_empty(), "{plural} left: {left:?}");
    }
    Ok(())
}
