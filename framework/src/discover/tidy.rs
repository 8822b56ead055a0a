//! Tidy what `terraform plan -generate-config-out` writes.
//!
//! Terraform's generator (hashicorp/terraform `internal/genconfig/
//! generate_config.go`, `writeConfigAttributesFromExisting`) writes every
//! required and optional attribute from the imported state: optional ones
//! that are null as `name = null`, ones equal to the schema's default as
//! their value, and sensitive ones as `name = null # sensitive`. A provider
//! cannot change that; this pass, driven by the provider's schemas, makes
//! the file minimal without changing what it means:
//!
//! - `name = null` of an optional attribute goes (null is what leaving it
//!   out means);
//! - an optional attribute whose value is its schema default goes (the
//!   default is what leaving it out gives);
//! - `name = null # sensitive` (and `[] # sensitive`, `{} # sensitive`)
//!   becomes a `# TODO` comment saying what to fill in: the attribute's
//!   import hint ([`Attribute::import_hint`]), else its write-only sibling
//!   (`name_wo`, whose own line then goes), else the attribute itself; an
//!   attribute with an import hint left null gets the same TODO;
//! - every run of assignments is re-aligned as `terraform fmt` aligns it
//!   (hclwrite's `formatCells`: a run is consecutive lines each holding a
//!   complete `name = value`; anything else ends it).
//!
//! Everything else is kept as written, inside resource blocks of types the
//! provider does not have too.

use crate::schema::{Attribute, Nesting, Schema};
use labforge_cty::Value;

use super::hcl_string;

/// The result of [`tidy`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tidied {
    /// The tidied file.
    pub text: String,
    /// Lines removed (nulls and defaults).
    pub removed: usize,
    /// What must be filled in by hand, one line each (`address: attribute: hint`).
    pub todos: Vec<String>,
}

/// What a frame of the nesting holds.
#[derive(Clone, Copy)]
enum Frame<'a> {
    /// Attributes and blocks of this schema (a resource, a block, one object).
    Schema(&'a Schema),
    /// A list or set of objects of this schema: each `{` opens one.
    Objects(&'a Schema),
    /// A map of objects of this schema: each `key = {` opens one.
    MapOfObjects(&'a Schema),
    /// A value kept as written (lists, maps, unknown attributes).
    Opaque,
}

/// Tidy `text`, a file of `resource` blocks; `schema_of` gives a resource
/// type's schema (full type name, e.g. `homelab_technitium_zone`).
pub fn tidy<'a>(text: &str, schema_of: impl Fn(&str) -> Option<&'a Schema>) -> Tidied {
    let mut out: Vec<String> = Vec::new();
    let mut stack: Vec<Frame<'a>> = Vec::new();
    let mut address = String::new();
    let mut removed = 0;
    let mut todos = Vec::new();
    let mut heredoc: Option<String> = None;

    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(end) = &heredoc {
            if trimmed == end {
                heredoc = None;
            }
            out.push(line.to_string());
            continue;
        }
        if let Some(marker) = heredoc_start(trimmed) {
            heredoc = Some(marker);
            out.push(line.to_string());
            continue;
        }
        let Some(top) = stack.last().copied() else {
            if let Some((rtype, name)) = resource_header(trimmed) {
                address = format!("{rtype}.{name}");
                stack.push(schema_of(&rtype).map_or(Frame::Opaque, Frame::Schema));
            }
            out.push(line.to_string());
            continue;
        };
        let closers = trimmed
            .chars()
            .take_while(|c| matches!(c, '}' | ']' | ')' | ','))
            .filter(|c| *c != ',')
            .count();
        if closers > 0 {
            for _ in 0..closers {
                stack.pop();
            }
            // A closer that also opens (`}, {`) is not written by the generator.
            out.push(line.to_string());
            continue;
        }
        let opens = net_brackets(trimmed) > 0;
        match top {
            Frame::Opaque => {
                if opens {
                    stack.push(Frame::Opaque);
                }
                out.push(line.to_string());
            }
            Frame::Objects(schema) => {
                if opens {
                    stack.push(if trimmed == "{" {
                        Frame::Schema(schema)
                    } else {
                        Frame::Opaque
                    });
                }
                out.push(line.to_string());
            }
            Frame::MapOfObjects(schema) => {
                if opens {
                    stack.push(if trimmed.ends_with("= {") {
                        Frame::Schema(schema)
                    } else {
                        Frame::Opaque
                    });
                }
                out.push(line.to_string());
            }
            Frame::Schema(schema) => {
                if let Some((name, value)) = assignment(trimmed) {
                    let attr = schema.attributes.get(name);
                    if opens {
                        stack.push(attr.map_or(Frame::Opaque, value_frame));
                        out.push(line.to_string());
                        continue;
                    }
                    if let Some(attr) = attr {
                        // `x_wo` beside `x`: one TODO, on `x`.
                        let wo_of = name
                            .strip_suffix("_wo")
                            .filter(|base| schema.attributes.contains_key(*base));
                        if wo_of.is_some() && (value == "null" || is_sensitive_placeholder(value)) {
                            removed += 1;
                            continue;
                        }
                        if is_sensitive_placeholder(value)
                            || (value == "null" && attr.import_hint.is_some())
                        {
                            let hint = fill_in_hint(schema, name, attr);
                            todos.push(format!("{address}: {name}: {hint}"));
                            out.push(format!("{}# TODO: {name}: {hint}", indent_of(line)));
                            removed += 1;
                            continue;
                        }
                        if attr.optional && !attr.required && redundant(attr, value) {
                            removed += 1;
                            continue;
                        }
                    }
                    out.push(line.to_string());
                } else if let Some(block) = block_header(trimmed) {
                    stack.push(
                        schema
                            .blocks
                            .get(block)
                            .map_or(Frame::Opaque, |b| Frame::Schema(&b.schema)),
                    );
                    out.push(line.to_string());
                } else {
                    if opens {
                        stack.push(Frame::Opaque);
                    }
                    out.push(line.to_string());
                }
            }
        }
    }
    let mut text = align(&out).join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    Tidied {
        text,
        removed,
        todos,
    }
}

/// The frame an attribute's multi-line value opens.
fn value_frame(attr: &Attribute) -> Frame<'_> {
    match attr.nested_schema() {
        Some((Nesting::Single, s)) => Frame::Schema(s),
        Some((Nesting::List | Nesting::Set, s)) => Frame::Objects(s),
        Some((Nesting::Map, s)) => Frame::MapOfObjects(s),
        _ => Frame::Opaque,
    }
}

/// Whether the written value says nothing that leaving it out would not:
/// null, or the attribute's default.
fn redundant(attr: &Attribute, value: &str) -> bool {
    if value == "null" {
        return true;
    }
    attr.default
        .as_ref()
        .and_then(literal)
        .is_some_and(|d| d == value)
}

/// A primitive value as `hclwrite.TokensForValue` writes it.
fn literal(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(hcl_string(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_sensitive_placeholder(value: &str) -> bool {
    let v = value.replace(' ', "");
    matches!(
        v.as_str(),
        "null#sensitive" | "[]#sensitive" | "{}#sensitive"
    )
}

/// What to fill in for a sensitive attribute the generator could not write
/// (or one whose value the API never gives back): the attribute's own
/// [`Attribute::import_hint`], else its write-only sibling, else its
/// description.
fn fill_in_hint(schema: &Schema, name: &str, attr: &Attribute) -> String {
    if let Some(hint) = &attr.import_hint {
        return hint.clone();
    }
    let wo = format!("{name}_wo");
    if schema.attributes.contains_key(&wo) {
        let version = if schema.attributes.contains_key(&format!("{wo}_version")) {
            format!(" and `{wo}_version`")
        } else {
            String::new()
        };
        return format!(
            "sensitive, not read back. Set `{wo}` (write-only, kept out of state){version}, \
             or `{name}`, from a variable or a secret store."
        );
    }
    let need = if attr.required {
        "required"
    } else {
        "set it if you manage it"
    };
    let what = first_sentence(&attr.description);
    format!("sensitive, not read back ({need}). {what}")
        .trim_end()
        .to_string()
}

fn first_sentence(s: &str) -> &str {
    match s.find(". ") {
        Some(i) => &s[..=i],
        None => s,
    }
}

/// `resource "type" "name" {` → (type, name).
fn resource_header(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("resource ")?.strip_suffix('{')?.trim();
    let mut parts = rest.split('"').filter(|p| !p.trim().is_empty());
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

/// `name {` → name (a nested block).
fn block_header(line: &str) -> Option<&str> {
    let name = line.strip_suffix('{')?.trim_end();
    is_ident(name).then_some(name)
}

/// `name = value` → (name, value), for an identifier name.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once('=')?;
    let name = name.trim_end();
    if !is_ident(name) || value.starts_with('=') {
        return None;
    }
    Some((name, value.trim()))
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// `name = <<EOT` (or `<<-EOT`) → the end marker.
fn heredoc_start(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("<<")?;
    let marker = rest.strip_prefix('-').unwrap_or(rest).trim();
    is_ident(marker).then(|| marker.to_string())
}

/// Opening minus closing brackets outside string literals and comments.
fn net_brackets(line: &str) -> i32 {
    let mut n = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => break,
            '/' if chars.peek() == Some(&'/') => break,
            '{' | '[' | '(' => n += 1,
            '}' | ']' | ')' => n -= 1,
            _ => {}
        }
    }
    n
}

/// Align the `=` of every run of complete single-line assignments, as
/// hclwrite's `formatCells` does: `name` padded so that every `=` of the
/// run stands one column after the longest name (indentation included).
fn align(lines: &[String]) -> Vec<String> {
    let cell = |l: &str| -> Option<(usize, String, String)> {
        let trimmed = l.trim_start();
        let (name, value) = assignment(trimmed)?;
        (net_brackets(trimmed) == 0 && !trimmed.starts_with('#'))
            .then(|| (l.len() - trimmed.len(), name.to_string(), value.to_string()))
    };
    let mut out: Vec<String> = lines.to_vec();
    let mut i = 0;
    while i < lines.len() {
        if cell(&lines[i]).is_none() {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && cell(&lines[i]).is_some() {
            i += 1;
        }
        let cells: Vec<_> = lines[start..i].iter().filter_map(|l| cell(l)).collect();
        let width = cells
            .iter()
            .map(|(ind, n, _)| ind + n.len())
            .max()
            .unwrap_or(0);
        for (k, (ind, name, value)) in cells.into_iter().enumerate() {
            let pad = width - ind - name.len() + 1;
            out[start + k] = format!("{}{name}{}= {value}", " ".repeat(ind), " ".repeat(pad));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Attribute, Block, Nesting, Schema};

    fn schema() -> Schema {
        Schema::new("t")
            .attribute("id", Attribute::string().computed())
            .attribute("name", Attribute::string().required())
            .attribute("ttl", Attribute::int().optional().computed().default(3600))
            .attribute(
                "disabled",
                Attribute::bool().optional().computed().default(false),
            )
            .attribute("comments", Attribute::string().optional())
            .attribute("password", Attribute::string().optional().sensitive())
            .attribute(
                "password_wo",
                Attribute::string().optional().write_only().sensitive(),
            )
            .attribute(
                "url",
                Attribute::string()
                    .optional()
                    .after_import("set the URL it came from."),
            )
            .attribute(
                "token",
                Attribute::string()
                    .required()
                    .sensitive()
                    .describe("The API token. More."),
            )
            .attribute(
                "nics",
                Attribute::nested(
                    Nesting::List,
                    [
                        ("bridge", Attribute::string().required()),
                        ("mtu", Attribute::int().optional()),
                        (
                            "firewall",
                            Attribute::bool().optional().computed().default(true),
                        ),
                    ],
                )
                .optional(),
            )
            .attribute(
                "tags",
                Attribute::list(labforge_cty::Type::String).optional(),
            )
            .block(
                "disk",
                Block::list(
                    Schema::new("d")
                        .attribute("size", Attribute::int().required())
                        .attribute(
                            "cache",
                            Attribute::string().optional().computed().default("none"),
                        ),
                ),
            )
    }

    const GENERATED: &str = r#"# __generated__ by Terraform
# Please review these resources and move them into your main configuration files.

# __generated__ by Terraform from "x"
resource "homelab_thing" "x" {
  comments    = null
  disabled    = false
  name        = "www.gen.test"
  password    = null # sensitive
  password_wo = null # sensitive
  tags = [
    "a",
    "b",
  ]
  token = null # sensitive
  ttl   = 3600
  url   = null
  nics = [
    {
      bridge   = "vmbr0"
      firewall = true
      mtu      = null
    },
  ]
  disk {
    cache = "none"
    size  = 8
  }
  disk {
    cache = "writeback"
    size  = 16
  }
}

resource "other_thing" "y" {
  a   = null
  bcd = 1
}
"#;

    #[test]
    fn drops_nulls_and_defaults_and_says_what_to_fill_in() {
        let s = schema();
        let t = tidy(GENERATED, |ty| (ty == "homelab_thing").then_some(&s));
        let expected = r#"# __generated__ by Terraform
# Please review these resources and move them into your main configuration files.

# __generated__ by Terraform from "x"
resource "homelab_thing" "x" {
  name = "www.gen.test"
  # TODO: password: sensitive, not read back. Set `password_wo` (write-only, kept out of state), or `password`, from a variable or a secret store.
  tags = [
    "a",
    "b",
  ]
  # TODO: token: sensitive, not read back (required). The API token.
  # TODO: url: set the URL it came from.
  nics = [
    {
      bridge = "vmbr0"
    },
  ]
  disk {
    size = 8
  }
  disk {
    cache = "writeback"
    size  = 16
  }
}

resource "other_thing" "y" {
  a   = null
  bcd = 1
}
"#;
        assert_eq!(t.text, expected);
        assert_eq!(t.removed, 10);
        assert_eq!(t.todos.len(), 3);
        assert!(t.todos[0].starts_with("homelab_thing.x: password: "));
    }

    #[test]
    fn alignment_follows_hclwrite_runs() {
        let lines: Vec<String> = [
            "  a = 1",
            "  long_name = 2",
            "  m = {",
            "    k = 1",
            "  }",
            "  z = 3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            align(&lines),
            [
                "  a         = 1",
                "  long_name = 2",
                "  m = {",
                "    k = 1",
                "  }",
                "  z = 3"
            ]
        );
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert_eq!(net_brackets(r#"a = "{[(" # {"#), 0);
        assert_eq!(net_brackets(r#"a = "x\"{" "#), 0);
        assert_eq!(net_brackets("a = ["), 1);
        assert_eq!(net_brackets("a = jsonencode({"), 2);
    }
}
