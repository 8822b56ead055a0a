//! The MetalLB resources: one Kubernetes object each, written with
//! server-side apply. Each file is one resource type (its spec mapping and
//! its checks); what they share is in [`lifecycle`] (identity, import ID,
//! the per-resource `kubernetes` block, apply/read/delete/import, plan's
//! client, API errors as diagnostics) and [`selectors`] (label selectors).

mod bgp_adv;
mod bgp_peer;
mod community;
mod l2;
mod lifecycle;
mod pool;
mod selectors;

pub use bgp_adv::BgpAdvertisement;
pub use bgp_peer::BgpPeer;
pub use community::Community;
pub use l2::L2Advertisement;
pub use pool::IpAddressPool;
pub use selectors::{Expression, Selector};

pub(crate) use lifecycle::{
    Managed, apply, delete, identity, identity_fields, import, plan_client, read,
};
pub(crate) use selectors::{
    check_selectors, selectors_attr, selectors_from, selectors_json, strings_from,
};

/// MetalLB's namespace in its manifests and Helm chart; its webhook refuses
/// objects elsewhere (`resource must be created in <ns> namespace`).
pub const DEFAULT_NAMESPACE: &str = "metallb-system";
