//! Kubernetes: the objects (metadata with managed fields, spec) and `Status`
//! errors the client reads from the API server, the kubeconfig it reads
//! (YAML or JSON), and MetalLB address entries.
#![no_main]

use labforge_kubernetes::client::{Object, Status};
use labforge_kubernetes::{kubeconfig, net};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(o) = serde_json::from_slice::<Object<serde_json::Value>>(data) {
        let _ = o.metadata.owns("labforge", "addresses");
    }
    let _ = serde_json::from_slice::<Status>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = kubeconfig::settings(s, None);
        let _ = kubeconfig::settings(s, Some("admin@lab"));
        let _ = net::parse(s);
    }
});
