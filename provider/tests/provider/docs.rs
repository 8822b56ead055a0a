//! The committed docs must match what the schemas and examples generate.

use std::path::Path;

#[test]
fn committed_docs_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = labforge_framework::docs::generate(&homelab::Homelab, &root.join("examples"));
    let stale =
        labforge_framework::docs::sync(&root.join("docs"), &files, false).expect("read docs");
    assert!(
        stale.is_empty(),
        "docs are stale: {stale:?}\nRun `make docs` and commit the result."
    );
    // Every generated page exists; nothing in docs/ is left over from a removed resource.
    for dir in ["resources", "data-sources"] {
        let Ok(entries) = std::fs::read_dir(root.join("docs").join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let rel = Path::new(dir).join(e.file_name());
            assert!(
                files.contains_key(&rel),
                "docs/{} has no resource behind it",
                rel.display()
            );
        }
    }
}
