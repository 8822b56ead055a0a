//! The committed docs must match what the schemas, examples and guide templates generate.

use std::path::Path;

#[test]
fn committed_docs_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = labforge_framework::docs::generate(&homelab::Homelab, &root.join("examples"));
    files.extend(
        labforge_framework::docs::guides(&root.join("templates"), &root).expect("the guides build"),
    );
    let stale =
        labforge_framework::docs::sync(&root.join("docs"), &files, false).expect("read docs");
    assert!(
        stale.is_empty(),
        "docs are stale: {stale:?}\nRun `make docs` and commit the result."
    );
    // Every generated page exists; nothing in docs/ is left over from a removed resource.
    for dir in ["resources", "data-sources", "ephemeral-resources", "guides"] {
        let Ok(entries) = std::fs::read_dir(root.join("docs").join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let rel = Path::new(dir).join(e.file_name());
            assert!(
                files.contains_key(&rel),
                "docs/{} has nothing behind it (no resource, or no template in templates/guides/)",
                rel.display()
            );
        }
    }
}
