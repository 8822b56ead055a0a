//! Registry-style Markdown generated from the schemas: `docs/index.md`,
//! `docs/resources/<name>.md`, `docs/data-sources/<name>.md`,
//! `docs/ephemeral-resources/<name>.md`, with example configuration taken
//! from `examples/` (the tfplugindocs conventions:
//! `examples/provider/provider.tf`, `examples/resources/<type>/resource.tf`
//! and `import.sh`, `examples/data-sources/<type>/data-source.tf`,
//! `examples/ephemeral-resources/<type>/ephemeral-resource.tf`); and the
//! guides, `docs/guides/<name>.md`, from `templates/guides/<name>.md.tmpl`
//! ([`guides`]), which include files of the repository with
//! `{{ tffile "examples/lab/talos.tf" }}`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use labforge_cty::Type;

use crate::provider::Provider;
use crate::schema::{Attribute, Block, Nesting, Schema};

/// Every docs file of a provider, by path relative to `docs/`.
pub fn generate<P: Provider>(provider: &P, examples: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let read = |p: PathBuf| std::fs::read_to_string(examples.join(p)).ok();
    out.insert(
        PathBuf::from("index.md"),
        page(
            &format!("{} Provider", P::NAME),
            None,
            &provider.schema(),
            read(PathBuf::from("provider/provider.tf")).as_deref(),
            None,
            "Schema",
        ),
    );
    let registry = provider.resources();
    for (name, schema, import) in registry.resource_schemas() {
        let full = format!("{}_{name}", P::NAME);
        let example = read(PathBuf::from(format!("resources/{full}/resource.tf")));
        let import_sh = read(PathBuf::from(format!("resources/{full}/import.sh")));
        let import_section = import.map(|format| {
            let stop = if format.ends_with('.') { "" } else { "." };
            let mut s = format!("## Import\n\nImport ID: {format}{stop}\n");
            if let Some(sh) = &import_sh {
                let _ = write!(s, "\n```shell\n{}\n```\n", sh.trim_end());
            }
            s
        });
        out.insert(
            PathBuf::from(format!("resources/{name}.md")),
            page(
                &full,
                Some("Resource"),
                schema,
                example.as_deref(),
                import_section.as_deref(),
                "Schema",
            ),
        );
    }
    for (name, schema) in registry.data_source_schemas() {
        let full = format!("{}_{name}", P::NAME);
        let example = read(PathBuf::from(format!("data-sources/{full}/data-source.tf")));
        out.insert(
            PathBuf::from(format!("data-sources/{name}.md")),
            page(
                &full,
                Some("Data Source"),
                schema,
                example.as_deref(),
                None,
                "Schema",
            ),
        );
    }
    for (name, schema) in registry.ephemeral_schemas() {
        let full = format!("{}_{name}", P::NAME);
        let example = read(PathBuf::from(format!(
            "ephemeral-resources/{full}/ephemeral-resource.tf"
        )));
        out.insert(
            PathBuf::from(format!("ephemeral-resources/{name}.md")),
            page(
                &full,
                Some("Ephemeral Resource"),
                schema,
                example.as_deref(),
                None,
                "Schema",
            ),
        );
    }
    out
}

/// The guides: every `<templates>/guides/<name>.md.tmpl` as
/// `guides/<name>.md`, each `{{ tffile "<path>" }}` replaced by the file at
/// `<root>/<path>` in a `terraform` code block (an `hcl` block for other
/// files), so a guide shows the examples as they are. A template naming a
/// file that does not exist is an error.
pub fn guides(templates: &Path, root: &Path) -> Result<BTreeMap<PathBuf, String>, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(templates.join("guides")) else {
        return Ok(out);
    };
    let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for file in names {
        let file = file.to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".md.tmpl") else {
            continue;
        };
        let path = templates.join("guides").join(&file);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let page = expand(&text, root).map_err(|e| format!("{}: {e}", path.display()))?;
        out.insert(PathBuf::from(format!("guides/{stem}.md")), page);
    }
    Ok(out)
}

/// Replace every `{{ tffile "<path>" }}` of `text` by that file's content.
fn expand(text: &str, root: &Path) -> Result<String, String> {
    const OPEN: &str = "{{ tffile \"";
    const CLOSE: &str = "\" }}";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + OPEN.len()..];
        let end = after
            .find(CLOSE)
            .ok_or_else(|| format!("unclosed {OPEN}"))?;
        let rel = &after[..end];
        let content =
            std::fs::read_to_string(root.join(rel)).map_err(|e| format!("tffile {rel:?}: {e}"))?;
        let lang = if rel.ends_with(".tf") {
            "terraform"
        } else {
            "hcl"
        };
        let _ = write!(out, "```{lang}\n{}\n```", content.trim_end());
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

fn first_sentence(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    match line.find(". ") {
        Some(i) => line[..=i].to_string(),
        None => line.to_string(),
    }
}

fn page(
    title: &str,
    kind: Option<&str>,
    schema: &Schema,
    example: Option<&str>,
    import: Option<&str>,
    heading: &str,
) -> String {
    let mut s = String::new();
    let page_title = match kind {
        Some(k) => format!("{title} {k}"),
        None => title.to_string(),
    };
    let _ = write!(
        s,
        "---\npage_title: \"{page_title}\"\ndescription: |-\n  {}\n---\n\n# {}\n\n{}\n",
        first_sentence(&schema.description).replace('"', "'"),
        match kind {
            Some(k) => format!("{title} ({k})"),
            None => title.to_string(),
        },
        schema.description
    );
    if let Some(d) = &schema.deprecation {
        let _ = write!(s, "\n~> **Deprecated:** {d}\n");
    }
    if let Some(ex) = example {
        let _ = write!(
            s,
            "\n## Example Usage\n\n```terraform\n{}\n```\n",
            ex.trim_end()
        );
    }
    let _ = write!(s, "\n## {heading}\n");
    let mut nested = Vec::new();
    block_body(&mut s, schema, "", &mut nested);
    while !nested.is_empty() {
        let pending = std::mem::take(&mut nested);
        for (anchor, schema) in pending {
            let _ = write!(
                s,
                "\n<a id=\"nestedblock--{anchor}\"></a>\n### Nested Schema for `{}`\n",
                anchor.replace("--", ".")
            );
            block_body(&mut s, &schema, &anchor, &mut nested);
        }
    }
    if let Some(i) = import {
        let _ = write!(s, "\n{i}");
    }
    s
}

fn block_body(s: &mut String, schema: &Schema, prefix: &str, nested: &mut Vec<(String, Schema)>) {
    let anchor = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}--{name}")
        }
    };
    type Group = (&'static str, fn(&Attribute) -> bool);
    let groups: [Group; 3] = [
        ("Required", |a| a.required),
        ("Optional", |a| a.optional),
        ("Read-Only", |a| a.computed && !a.optional && !a.required),
    ];
    for (title, pick) in groups {
        let attrs: Vec<_> = schema.attributes.iter().filter(|(_, a)| pick(a)).collect();
        let blocks: Vec<_> = if title == "Optional" {
            schema
                .blocks
                .iter()
                .filter(|(_, b)| b.min_items == 0)
                .collect()
        } else if title == "Required" {
            schema
                .blocks
                .iter()
                .filter(|(_, b)| b.min_items > 0)
                .collect()
        } else {
            Vec::new()
        };
        if attrs.is_empty() && blocks.is_empty() {
            continue;
        }
        let _ = write!(s, "\n### {title}\n\n");
        for (name, a) in attrs {
            let _ = writeln!(s, "{}", attribute_line(name, a, &anchor(name)));
            if let Some((_, inner)) = a.nested_schema() {
                nested.push((anchor(name), inner.clone()));
            }
        }
        for (name, b) in blocks {
            let _ = writeln!(s, "{}", block_line(name, b, &anchor(name)));
            nested.push((anchor(name), b.schema.clone()));
        }
    }
}

fn attribute_line(name: &str, a: &Attribute, anchor: &str) -> String {
    let mut flags = vec![match a.nested_schema() {
        Some((n, _)) => format!("{} of object", nesting_name(n)),
        None => type_name(&a.value_type()),
    }];
    if a.sensitive {
        flags.push("Sensitive".into());
    }
    if a.write_only {
        flags.push("Write-only".into());
    }
    if a.deprecation.is_some() {
        flags.push("Deprecated".into());
    }
    let mut line = format!("- `{name}` ({}) {}", flags.join(", "), a.description.trim());
    if let Some(d) = &a.default {
        let shown = match d {
            labforge_cty::Value::String(s) => format!("{s:?}"),
            labforge_cty::Value::Number(n) => n.to_string(),
            labforge_cty::Value::Bool(b) => b.to_string(),
            other => format!("{other:?}"),
        };
        let _ = write!(line, " Default: `{shown}`.");
    }
    for v in &a.validators {
        let d = v.description();
        if d != "A whole number." {
            let _ = write!(line, " {d}");
        }
    }
    for m in &a.plan_modifiers {
        let _ = write!(line, " {}", m.description());
    }
    if let Some(dep) = &a.deprecation {
        let _ = write!(line, " **Deprecated:** {dep}");
    }
    if let Some(hint) = &a.import_hint {
        let _ = write!(line, " **After an import:** {hint}");
    }
    if a.nested_schema().is_some() {
        let _ = write!(
            line,
            " (see [below for nested schema](#nestedblock--{anchor}))"
        );
    }
    line
}

fn block_line(name: &str, b: &Block, anchor: &str) -> String {
    let mut kind = format!("Block {}", nesting_name(b.nesting));
    if b.max_items > 0 {
        let _ = write!(kind, ", Max: {}", b.max_items);
    }
    if b.min_items > 0 {
        let _ = write!(kind, ", Min: {}", b.min_items);
    }
    let mut line = format!("- `{name}` ({kind}) {}", b.description.trim());
    for m in &b.plan_modifiers {
        let _ = write!(line, " {}", m.description());
    }
    let _ = write!(
        line,
        " (see [below for nested schema](#nestedblock--{anchor}))"
    );
    line
}

fn nesting_name(n: Nesting) -> &'static str {
    match n {
        Nesting::Single | Nesting::Group => "Single",
        Nesting::List => "List",
        Nesting::Set => "Set",
        Nesting::Map => "Map",
    }
}

fn type_name(t: &Type) -> String {
    match t {
        Type::Bool => "Boolean".into(),
        Type::Number => "Number".into(),
        Type::String => "String".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

/// Write `files` under `dir`, or compare them with what is there.
/// Returns the paths that differ (empty when the docs are fresh).
pub fn sync(
    dir: &Path,
    files: &BTreeMap<PathBuf, String>,
    write: bool,
) -> std::io::Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    for (rel, content) in files {
        let path = dir.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            stale.push(rel.clone());
            if write {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, content)?;
            }
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guides_include_files_and_refuse_missing_ones() {
        let dir = std::env::temp_dir().join(format!("labforge-guides-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("templates/guides")).unwrap_or_default();
        std::fs::write(dir.join("a.tf"), "resource \"x\" \"y\" {}\n").unwrap_or_default();
        std::fs::write(
            dir.join("templates/guides/g.md.tmpl"),
            "# G\n\n{{ tffile \"a.tf\" }}\n\nend\n",
        )
        .unwrap_or_default();
        let out = guides(&dir.join("templates"), &dir).unwrap_or_default();
        assert_eq!(
            out.get(Path::new("guides/g.md")).map(String::as_str),
            Some("# G\n\n```terraform\nresource \"x\" \"y\" {}\n```\n\nend\n")
        );
        std::fs::write(
            dir.join("templates/guides/h.md.tmpl"),
            "{{ tffile \"nope.tf\" }}",
        )
        .unwrap_or_default();
        let err = guides(&dir.join("templates"), &dir)
            .err()
            .unwrap_or_default();
        assert!(err.contains("nope.tf"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    use crate::schema::{modifiers, validators};

    #[test]
    fn attribute_lines_carry_types_defaults_and_rules() {
        let a = Attribute::int()
            .default(3600)
            .describe("Time to live.")
            .validator(validators::between(60, 86400));
        let line = attribute_line("ttl", &a, "ttl");
        assert_eq!(
            line,
            "- `ttl` (Number) Time to live. Default: `3600`. Between 60 and 86400."
        );
        let s = Attribute::string()
            .required()
            .sensitive()
            .plan_modifier(modifiers::requires_replace());
        assert!(attribute_line("name", &s, "name").contains("(String, Sensitive)"));
        assert!(attribute_line("name", &s, "name").contains("forces a new resource"));
    }

    #[test]
    fn page_lists_nested_blocks() {
        let schema = Schema::new("A VM.")
            .attribute("name", Attribute::string().required().describe("Name."))
            .block(
                "disk",
                Block::map(Schema::new("").attribute("size", Attribute::int().required()))
                    .describe("Disks."),
            );
        let p = page(
            "homelab_vm",
            Some("Resource"),
            &schema,
            None,
            None,
            "Schema",
        );
        assert!(p.contains("### Required"));
        assert!(p.contains("- `disk` (Block Map)"));
        assert!(p.contains("### Nested Schema for `disk`"));
    }
}
