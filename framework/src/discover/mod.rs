//! Discovery: what already exists on a backend, as import blocks.
//!
//! A backend that can list what it holds implements
//! [`Backend::discover`](crate::Backend::discover): it reads (never writes)
//! its API and fills an [`Inventory`]: one [`Found`] per object a resource
//! type of the provider can import (its import ID and a readable resource
//! name), one [`Skipped`] per object it leaves alone and why (what the
//! platform makes itself: SOA and NS records, dynamic rules, built-in zones).
//!
//! Three consumers share that one listing:
//! - the `homelab-discover` binary writes the import blocks ([`imports_hcl`]);
//! - each backend's inventory data source ([`InventoryDataSource`]) lets a
//!   configuration read what exists without managing it;
//! - [`tidy`] trims what `terraform plan -generate-config-out` writes for
//!   those import blocks (nulls, defaults) and says what to fill in
//!   (secrets and write-only values, which no generator can read back).

pub mod data_source;
pub mod tidy;

use std::collections::{BTreeMap, BTreeSet};

pub use data_source::InventoryDataSource;

/// Which objects to list: per filter key (`node`, `zone`, `chain`,
/// `namespace`, ...), the values allowed. A key without values allows all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter(BTreeMap<String, Vec<String>>);

impl Filter {
    /// No filter: everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Also require `key` to be one of `values` (case-insensitive, trailing
    /// dots ignored, so `home.arpa.` matches zone `home.arpa`).
    pub fn with(mut self, key: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.0
            .entry(key.to_string())
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    /// Whether an object whose `key` is `value` passes.
    pub fn allows(&self, key: &str, value: &str) -> bool {
        let norm = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
        match self.0.get(key) {
            Some(values) if !values.is_empty() => values.iter().any(|v| norm(v) == norm(value)),
            _ => true,
        }
    }

    /// The values given for `key` (empty: no filter on it).
    pub fn values(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    /// The keys this filter sets.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The filter backend `block` sees: a key scoped to it
    /// (`routeros.list`) as the plain key (`list`), a key scoped to another
    /// backend not at all, and a plain key only if the backend has it
    /// (`keys`), so that `--zone` narrows Technitium and Cloudflare alike
    /// while `--filter cloudflare.zone=...` narrows Cloudflare alone.
    pub fn for_backend(&self, block: &str, keys: &[(&str, &str)]) -> Filter {
        let mut out = Filter::all();
        for (key, values) in &self.0 {
            let plain = match key.split_once('.') {
                Some((b, k)) if b == block => k,
                Some(_) => continue,
                None => key.as_str(),
            };
            if keys.iter().any(|(k, _)| *k == plain) {
                out = out.with(plain, values.iter().cloned());
            }
        }
        out
    }
}

/// An object that a resource type of the provider can import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The resource type without the provider prefix, e.g. `technitium_dns_record`.
    pub resource_type: String,
    /// A readable resource name, unique within the type (see [`Inventory::found`]).
    pub name: String,
    /// The import ID, as the resource's import documents it.
    pub id: String,
    /// One line for people: what the object is (`A www.home.arpa -> 10.0.0.5`).
    pub summary: String,
    /// A few identifying values (e.g. `node`, `zone`, `chain`), for the data source.
    pub attributes: BTreeMap<String, String>,
}

/// An object left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What it is, for people (`SOA record of home.arpa`).
    pub what: String,
    /// Why it is not imported (`the server makes it with the zone`).
    pub why: String,
}

/// What a backend holds: objects to import and objects skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Objects to import, in the order found.
    pub found: Vec<Found>,
    /// Objects skipped, in the order found.
    pub skipped: Vec<Skipped>,
    names: BTreeSet<(String, String)>,
}

impl Inventory {
    /// An empty inventory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an object of `resource_type` (no provider prefix) to import with
    /// `id`. Its resource name is made of `name_parts` ([`resource_name`]);
    /// a name already taken within the type gets `_2`, `_3`, ... so that
    /// names stay stable for a stable listing order.
    pub fn found(
        &mut self,
        resource_type: &str,
        name_parts: &[&str],
        id: impl Into<String>,
        summary: impl Into<String>,
    ) -> &mut Found {
        let base = resource_name(name_parts);
        let mut name = base.clone();
        let mut n = 1;
        while !self.names.insert((resource_type.to_string(), name.clone())) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.found.push(Found {
            resource_type: resource_type.to_string(),
            name,
            id: id.into(),
            summary: summary.into(),
            attributes: BTreeMap::new(),
        });
        let last = self.found.len() - 1;
        &mut self.found[last]
    }

    /// Record an object left alone.
    pub fn skip(&mut self, what: impl Into<String>, why: impl Into<String>) {
        self.skipped.push(Skipped {
            what: what.into(),
            why: why.into(),
        });
    }

    /// Add every object of `other` (names re-made unique here).
    pub fn extend(&mut self, other: Inventory) {
        for f in other.found {
            let parts = [f.name.as_str()];
            let summary = f.summary.clone();
            let added = self.found(&f.resource_type, &parts, f.id, summary);
            added.attributes = f.attributes;
        }
        self.skipped.extend(other.skipped);
    }
}

impl Found {
    /// Add an identifying value (shown by the inventory data source).
    pub fn attr(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.attributes.insert(key.to_string(), value.into());
        self
    }
}

/// A Terraform resource name made of `parts`: lower case, every run of
/// characters other than ASCII letters and digits becomes one `_`, no `_`
/// at either end, and a leading digit gets an `_` in front (names must
/// start with a letter or underscore). Empty parts are left out; nothing at
/// all gives `unnamed`.
pub fn resource_name(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        let mut pending = !out.is_empty();
        let mut wrote = false;
        for c in part.chars() {
            if c.is_ascii_alphanumeric() {
                if pending && (wrote || !out.is_empty()) {
                    out.push('_');
                }
                pending = false;
                wrote = true;
                out.push(c.to_ascii_lowercase());
            } else {
                pending = true;
            }
        }
    }
    if out.is_empty() {
        return "unnamed".into();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// An HCL string literal: quoted, with `"`, `\`, control characters and
/// template sequences (`${`, `%{`) escaped.
pub fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The import blocks for every object of `inventories` (one per backend,
/// with the backend's block name), with each object's summary as a comment
/// and the skipped objects listed as comments with their reasons.
/// `provider` is the provider's local name (`homelab`).
pub fn imports_hcl(provider: &str, inventories: &[(&str, &Inventory)]) -> String {
    let mut out = String::from(
        "# Written by homelab-discover: one import block per object found.\n\
         # Next: terraform plan -generate-config-out=generated.tf, then\n\
         # homelab-discover tidy generated.tf, review, terraform apply.\n",
    );
    for (backend, inv) in inventories {
        out.push_str(&format!(
            "\n# {backend}: {} to import, {} skipped\n",
            inv.found.len(),
            inv.skipped.len()
        ));
        for f in &inv.found {
            out.push('\n');
            for line in f.summary.lines() {
                out.push_str(&format!("# {line}\n"));
            }
            out.push_str(&format!(
                "import {{\n  to = {provider}_{}.{}\n  id = {}\n}}\n",
                f.resource_type,
                f.name,
                hcl_string(&f.id)
            ));
        }
        if !inv.skipped.is_empty() {
            out.push_str(&format!("\n# {backend}: skipped\n"));
            for s in &inv.skipped {
                out.push_str(&format!(
                    "#   {}: {}\n",
                    one_line(&s.what),
                    one_line(&s.why)
                ));
            }
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_are_terraform_identifiers() {
        assert_eq!(resource_name(&["pve1", "web-01"]), "pve1_web_01");
        assert_eq!(resource_name(&["www.home.arpa.", "A"]), "www_home_arpa_a");
        assert_eq!(resource_name(&["10.0.0.0/24"]), "_10_0_0_0_24");
        assert_eq!(resource_name(&["", "--", "Lab Zone"]), "lab_zone");
        assert_eq!(resource_name(&["*.apps", "CNAME"]), "apps_cname");
        assert_eq!(resource_name(&["", "@"]), "unnamed");
    }

    #[test]
    fn names_are_unique_per_type_and_stable() {
        let mut inv = Inventory::new();
        assert_eq!(
            inv.found("dns_record", &["www", "A"], "1", "").name,
            "www_a"
        );
        assert_eq!(
            inv.found("dns_record", &["www", "A"], "2", "").name,
            "www_a_2"
        );
        assert_eq!(
            inv.found("dns_record", &["www", "a"], "3", "").name,
            "www_a_3"
        );
        assert_eq!(inv.found("zone", &["www", "A"], "4", "").name, "www_a");
    }

    #[test]
    fn filters_match_case_and_trailing_dots_loosely() {
        let f = Filter::all().with("zone", ["Home.Arpa."]);
        assert!(f.allows("zone", "home.arpa"));
        assert!(!f.allows("zone", "example.com"));
        assert!(f.allows("node", "anything"));
        assert!(
            Filter::all()
                .with("node", Vec::<String>::new())
                .allows("node", "x")
        );
    }

    #[test]
    fn scoped_keys_reach_their_backend_only() {
        let f = Filter::all()
            .with("zone", ["home.arpa"])
            .with("routeros.list", ["mgmt"])
            .with("cloudflare.zone", ["example.com"]);
        let ros = f.for_backend("routeros", &[("chain", ""), ("list", "")]);
        assert_eq!(ros.values("list"), ["mgmt"]);
        assert!(ros.values("zone").is_empty());
        let cf = f.for_backend("cloudflare", &[("zone", "")]);
        assert_eq!(cf.values("zone"), ["example.com", "home.arpa"]);
        let t = f.for_backend("technitium", &[("zone", "")]);
        assert_eq!(t.values("zone"), ["home.arpa"]);
    }

    #[test]
    fn hcl_strings_escape_quotes_and_templates() {
        assert_eq!(hcl_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(hcl_string("${x} %{y} $z"), r#""$${x} %%{y} $z""#);
        assert_eq!(hcl_string("l1\nl2"), r#""l1\nl2""#);
    }

    #[test]
    fn import_blocks_list_found_and_skipped() {
        let mut inv = Inventory::new();
        inv.found(
            "technitium_zone",
            &["home.arpa"],
            "home.arpa",
            "zone home.arpa",
        );
        inv.skip(
            "SOA record of home.arpa",
            "the server makes it with the zone",
        );
        let hcl = imports_hcl("homelab", &[("technitium", &inv)]);
        assert!(hcl.contains(
            "import {\n  to = homelab_technitium_zone.home_arpa\n  id = \"home.arpa\"\n}\n"
        ));
        assert!(hcl.contains("# technitium: 1 to import, 1 skipped"));
        assert!(hcl.contains("#   SOA record of home.arpa: the server makes it with the zone"));
    }
}
