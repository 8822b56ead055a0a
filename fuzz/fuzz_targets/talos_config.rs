//! Talos: the machine configuration patcher (`config::apply_patches`: strategic
//! merge and RFC 6902 patches checked against the contract's schema), the
//! config readers, and the `talosctl gen secrets` file reader. The input is
//! split at the first NUL: a configuration, then patches separated by NULs.
#![no_main]

use labforge_talos::{config, secrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = s.split('\0');
    let cfg = parts.next().unwrap_or_default();
    let patches: Vec<String> = parts.map(str::to_owned).collect();
    let _ = config::contract_of(cfg);
    let _ = config::normalize(cfg);
    let _ = config::machine_type_of(cfg);
    // Not asserted: that what the patcher returns reads back. It does not
    // for a document that is not a mapping and no patch ("a\n": returned
    // as is, refused by `normalize`); see docs/reliability.md.
    if let Ok(patched) = config::apply_patches(cfg, &patches) {
        let _ = config::normalize(&patched);
    }
    let _ = secrets::Bundle::from_yaml(s);
    let _ = secrets::not_after(s);
    let _ = secrets::is_token(s);
});
