//! The shape of the workspace, checked: no module imports a module that
//! imports it back, and backends depend on the shared layers, never on each
//! other (ARCHITECTURE.md).
//!
//! Module edges are read from the sources: a `crate::a::b` or `super::a`
//! path outside comments and outside `#[cfg(test)] mod tests` makes the
//! module that writes it depend on the module it names (a parent's own
//! items are not an edge: a child may use what its parent declares).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every library crate's `src/` folder in the workspace.
fn crate_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [
        "proto",
        "cty",
        "server",
        "framework",
        "provider",
        "simulators",
        "acceptance-tests",
    ] {
        out.push(root().join(dir).join("src"));
    }
    for e in fs::read_dir(root().join("backends")).unwrap().flatten() {
        out.push(e.path().join("src"));
    }
    out.retain(|p| p.is_dir());
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "bin") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `lib.rs` is the root.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its unit tests.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        let line = line.split("//").next().unwrap_or_default();
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The module a path names: the longest prefix of it that is a module.
fn resolve(modules: &BTreeSet<Module>, path: Module) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains(m))
}

fn edges(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    let path = regex::Regex::new(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)").unwrap();
    let mut out = BTreeMap::new();
    for f in &files {
        let me = module_of(src, f);
        let text = code(&fs::read_to_string(f).unwrap());
        let mut deps = BTreeSet::new();
        for c in path.captures_iter(&text) {
            let tail: Module = c[2].split("::").skip(1).map(str::to_string).collect();
            let base: Module = if &c[1] == "crate" {
                Vec::new()
            } else {
                me[..me.len().saturating_sub(1)].to_vec()
            };
            let full: Module = base.into_iter().chain(tail).collect();
            if let Some(target) = resolve(&modules, full)
                && target != me
                && !me.starts_with(&target)
            {
                deps.insert(target);
            }
        }
        out.insert(me, deps);
    }
    out
}

fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        n: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(i) = stack.iter().position(|m| m == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.clone());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.clone());
        for t in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(t, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let mut cycles = Vec::new();
    for src in crate_sources() {
        if let Some(c) = find_cycle(&edges(&src)) {
            let names: Vec<String> = c
                .iter()
                .map(|m| {
                    if m.is_empty() {
                        "crate".into()
                    } else {
                        m.join("::")
                    }
                })
                .collect();
            cycles.push(format!("{}: {}", src.display(), names.join(" -> ")));
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_check_finds_cycles() {
    let m = |s: &str| -> Module { s.split("::").map(str::to_string).collect() };
    let mut g = BTreeMap::new();
    g.insert(m("a"), BTreeSet::from([m("b")]));
    g.insert(m("b"), BTreeSet::from([m("c")]));
    g.insert(m("c"), BTreeSet::from([m("a")]));
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(4));
    g.insert(m("c"), BTreeSet::new());
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn backends_depend_on_shared_layers_not_on_each_other() {
    let backends: Vec<String> = fs::read_dir(root().join("backends"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // Shared layers every backend may use.
    let shared = ["http", "ruleset"];
    let mut wrong = Vec::new();
    for b in &backends {
        let manifest =
            fs::read_to_string(root().join("backends").join(b).join("Cargo.toml")).unwrap();
        let deps = manifest.split("[dependencies]").nth(1).unwrap_or_default();
        let deps = deps.split("\n[").next().unwrap_or_default();
        for other in &backends {
            if other != b
                && !shared.contains(&other.as_str())
                && deps.contains(&format!("labforge-{other}"))
            {
                wrong.push(format!("{b} depends on {other}"));
            }
        }
        if b == "http" && deps.contains("labforge-framework") {
            wrong.push("the HTTP layer depends on the framework".into());
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
