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

use crate::client::Kind;

pub use bgp_adv::BgpAdvertisement;
pub use bgp_peer::BgpPeer;
pub use community::Community;
pub(crate) use community::communities_of;
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

/// Each resource type (no provider prefix) with the kind it manages, in
/// the order discovery lists them (pools before what refers to them).
pub(crate) const KINDS: [(&str, Kind); 5] = [
    (
        <IpAddressPool as labforge_framework::Resource>::NAME,
        pool::KIND,
    ),
    (
        <L2Advertisement as labforge_framework::Resource>::NAME,
        l2::KIND,
    ),
    (
        <BgpAdvertisement as labforge_framework::Resource>::NAME,
        bgp_adv::KIND,
    ),
    (
        <BgpPeer as labforge_framework::Resource>::NAME,
        bgp_peer::KIND,
    ),
    (
        <Community as labforge_framework::Resource>::NAME,
        community::KIND,
    ),
];
