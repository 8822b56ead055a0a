//! Generated configuration for the importable types discovery does not
//! list (issue 15: "for every resource type, `terraform plan
//! -generate-config-out` on those import blocks produces configuration
//! that is valid, `terraform fmt`-clean and minimal, and a plan after the
//! import applies is empty").
//!
//! Discovery adopts RouterOS chains and pfSense interfaces as rulesets,
//! never rule by rule, and lists Talos machine secrets only from a file
//! the user names; so the single-rule resources and the secrets are
//! adopted here by hand: the object made through the vendor's API (or the
//! file `talosctl gen secrets` writes), an `import` block with the
//! documented import ID in a fresh working directory, then the same steps
//! as [`super::adopt`]: generate, `homelab-discover tidy`, `fmt -check`,
//! `validate`, an apply that only imports, an empty plan and an empty
//! refresh-only plan, and no write on the simulators. Each test also
//! states the exact lines each generated block must hold, so that a
//! default or computed value written out (not minimal) fails.
//!
//! [`every_importable_type_is_adopted_by_a_test`] keeps it so: every type
//! the provider registers with an import is adopted by a seed of the
//! whole-lab test or by a test here, or is on [`EXCLUDED`] with a reason.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, anyhow, ensure};
use base64::Engine as _;
use labforge_acceptance_tests::{Provider, Workdir, hcl_string};
use labforge_framework::Provider as _;
use regex::Regex;
use serde_json::{Value, json};

use super::{generate_tidied, import_generated, require_no_writes};
use crate::support::REQUIRED_PROVIDERS;
use crate::support::lab_ci::HomelabSim;

/// The importable types adopted by the tests of this file, each with the
/// test that does it (the coverage test checks the test exists; the flow
/// refuses to import a type not listed here).
const COVERED_HERE: &[(&str, &str)] = &[
    (
        "homelab_routeros_firewall_filter",
        "adopts_hand_made_routeros_filter_rules",
    ),
    (
        "homelab_routeros_firewall_nat",
        "adopts_hand_made_routeros_nat_rules",
    ),
    (
        "homelab_pfsense_firewall_rule",
        "adopts_hand_made_pfsense_rules",
    ),
    (
        "homelab_talos_machine_secrets",
        "adopts_a_talosctl_secrets_file",
    ),
];

/// Importable types no adoption test imports, and why. Empty: every
/// importable type is adopted (a type without an import, e.g.
/// `homelab_talos_cluster_kubeconfig`, needs no entry).
const EXCLUDED: &[(&str, &str)] = &[];

/// One object to adopt: its address, its import ID, and the lines its
/// block must hold after `tidy` (each trimmed, spaces collapsed: `terraform
/// fmt` aligns them), exactly: no more, no fewer.
struct Adopt {
    address: String,
    id: String,
    lines: Vec<String>,
}

impl Adopt {
    fn new(address: &str, id: impl Into<String>, lines: &[&str]) -> Adopt {
        Adopt {
            address: address.to_string(),
            id: id.into(),
            lines: lines.iter().map(|l| (*l).to_string()).collect(),
        }
    }
}

/// The trimmed lines of `address`'s block in `hcl` (header and closing
/// brace left out), spaces collapsed.
fn block_lines(hcl: &str, address: &str) -> Result<Vec<String>> {
    let (ty, name) = address
        .split_once('.')
        .ok_or_else(|| anyhow!("not an address: {address}"))?;
    let header = format!("resource \"{ty}\" \"{name}\" {{");
    let mut lines = hcl.lines().skip_while(|l| *l != header);
    ensure!(
        lines.next().is_some(),
        "no resource {address} in the generated configuration:\n{hcl}"
    );
    let spaces = Regex::new(r"\s+")?;
    Ok(lines
        .take_while(|l| *l != "}")
        .map(|l| spaces.replace_all(l.trim(), " ").into_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Generate, tidy, check, import and plan empty for `objects` (made by
/// hand on `sim` beforehand) in a fresh working directory, with `env`
/// besides homelab-sim's; the simulators must see no write from the
/// generation on. Returns the working directory (its state holds the
/// imports) and the output of the generating plan (its warnings).
fn adopt_by_hand(
    sim: &HomelabSim,
    objects: &[Adopt],
    env: &BTreeMap<String, String>,
    files: &[(&str, &str)],
) -> Result<(Workdir, String)> {
    for o in objects {
        let ty = o.address.split('.').next().unwrap_or_default();
        ensure!(
            COVERED_HERE.iter().any(|(t, _)| *t == ty),
            "{ty} is not in COVERED_HERE"
        );
    }
    let mut wd = Workdir::new(&Provider::homelab())?;
    for (k, v) in sim.env.iter().chain(env) {
        wd.set_env(k.clone(), v.clone());
    }
    for (name, content) in files {
        wd.write_file(name, content)?;
    }
    let imports: String = objects
        .iter()
        .map(|o| {
            format!(
                "import {{\n  to = {}\n  id = {}\n}}\n\n",
                o.address,
                hcl_string(&o.id)
            )
        })
        .collect();
    wd.write_config(&format!(
        "{REQUIRED_PROVIDERS}\n\nprovider \"homelab\" {{}}\n\n{imports}"
    ))?;
    wd.ensure_init()?;
    sim.reset_counters()?;

    let (generated, planned) = generate_tidied(&wd)?;
    eprintln!("[adopt generated] after tidy:\n{generated}");
    for o in objects {
        let got = block_lines(&generated, &o.address)?;
        ensure!(
            got == o.lines,
            "{}: the tidied block is not the minimal configuration\n got: {got:#?}\nwant: {:#?}",
            o.address,
            o.lines
        );
    }
    let expected: BTreeSet<String> = objects.iter().map(|o| o.address.clone()).collect();
    import_generated(&wd, &generated, &expected)?;
    require_no_writes(sim)?;
    Ok((wd, planned))
}

/// The generating plan's output (`planned`) holds exactly one warning
/// whose summary ends in `marker`, and it matches `pattern` (the summary,
/// then the detail naming `what`); Terraform wraps the lines, so spaces
/// are collapsed first.
fn require_one_warning(planned: &str, marker: &str, pattern: &str, what: &str) -> Result<()> {
    let planned = Regex::new(r"\s+")?.replace_all(planned, " ");
    let warning = Regex::new(&format!("(?s){pattern}"))?;
    ensure!(
        warning.is_match(&planned),
        "the import of {what} did not warn:\n{planned}"
    );
    ensure!(
        planned.matches(marker).count() == 1,
        "only the import of {what} warns {marker:?}:\n{planned}"
    );
    Ok(())
}

/// Each of `objects` holds, in the state of `wd`, the `.id` of the RouterOS
/// item made for it (`items`, in the same order).
fn require_imported_ros_items(wd: &Workdir, objects: &[Adopt], items: &[Value]) -> Result<()> {
    let state = wd.state_json()?;
    for (o, item) in objects.iter().zip(items) {
        ensure!(
            state.attr_str(&o.address, "id")? == ros_id(item)?,
            "{} imported another rule than {item}",
            o.address
        );
    }
    Ok(())
}

/// RouterOS: `PUT /rest/<menu>` (add) with the admin user; the new items.
fn routeros_add(sim: &HomelabSim, menu: &str, items: &[&[(&str, &str)]]) -> Result<Vec<Value>> {
    let rest = super::routeros::AdminRest::new(sim)?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let mut out = Vec::new();
        for props in items {
            out.push(rest.add(menu, props).await?);
        }
        Ok(out)
    })
}

fn ros_id(item: &Value) -> Result<String> {
    item[".id"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| anyhow!("no .id in {item}"))
}

/// Filter rules made on the router by hand (a default rule set's kind:
/// connection states, negations, address lists, a jump to a custom chain,
/// a reject, logging, a disabled rule), imported by `.id`, by
/// `comment=...` and by a bare comment.
#[test]
fn adopts_hand_made_routeros_filter_rules() -> Result<()> {
    let sim = HomelabSim::start()?;
    let items = routeros_add(
        &sim,
        "ip/firewall/filter",
        &[
            &[
                ("chain", "input"),
                ("action", "accept"),
                ("protocol", "tcp"),
                ("dst-port", "22,8291"),
                ("src-address-list", "mgmt"),
                ("comment", "ssh and winbox from mgmt"),
            ],
            &[
                ("chain", "forward"),
                ("action", "drop"),
                ("connection-state", "invalid"),
            ],
            &[
                ("chain", "forward"),
                ("action", "jump"),
                ("jump-target", "lan-in"),
                ("in-interface-list", "LAN"),
                ("comment", "lan traffic"),
            ],
            &[
                ("chain", "lan-in"),
                ("action", "reject"),
                ("reject-with", "icmp-admin-prohibited"),
                ("protocol", "tcp"),
                ("dst-port", "25"),
                ("src-address", "10.0.10.0/24"),
                ("log", "yes"),
                ("log-prefix", "smtp"),
                ("comment", "no direct smtp"),
            ],
            &[
                ("chain", "forward"),
                ("action", "drop"),
                ("connection-state", "new"),
                ("connection-nat-state", "!dstnat"),
                ("in-interface-list", "WAN"),
                ("dst-address", "10.0.0.1-10.0.0.9"),
                ("disabled", "yes"),
                ("comment", "drop all from WAN not DSTNATed"),
            ],
            // RouterOS's own spellings (protocol number, `/32`), a negated
            // set, a comment HCL must escape, and a property the resource
            // does not manage (`tcp-flags`: the import warns).
            &[
                ("chain", "input"),
                ("action", "accept"),
                ("protocol", "6"),
                ("src-address", "10.0.0.1/32"),
                ("connection-state", "!established,related"),
                ("tcp-flags", "syn"),
                ("comment", "say \"hi\" ${x} %{y} back\\slash"),
            ],
        ],
    )?;
    let t = "homelab_routeros_firewall_filter";
    let objects = [
        Adopt::new(
            &format!("{t}.ssh"),
            "comment=ssh and winbox from mgmt",
            &[
                "chain = \"input\"",
                "comment = \"ssh and winbox from mgmt\"",
                "dst_port = \"22,8291\"",
                "protocol = \"tcp\"",
                "src_address_list = \"mgmt\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.drop_invalid"),
            ros_id(&items[1])?,
            &[
                "action = \"drop\"",
                "chain = \"forward\"",
                "connection_state = [\"invalid\"]",
            ],
        ),
        Adopt::new(
            &format!("{t}.to_lan_in"),
            "lan traffic",
            &[
                "action = \"jump\"",
                "chain = \"forward\"",
                "comment = \"lan traffic\"",
                "in_interface_list = \"LAN\"",
                "jump_target = \"lan-in\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.no_smtp"),
            ros_id(&items[3])?,
            &[
                "action = \"reject\"",
                "chain = \"lan-in\"",
                "comment = \"no direct smtp\"",
                "dst_port = \"25\"",
                "log = true",
                "log_prefix = \"smtp\"",
                "protocol = \"tcp\"",
                "reject_with = \"icmp-admin-prohibited\"",
                "src_address = \"10.0.10.0/24\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.wan_not_dstnat"),
            "comment=drop all from WAN not DSTNATed",
            &[
                "action = \"drop\"",
                "chain = \"forward\"",
                "comment = \"drop all from WAN not DSTNATed\"",
                "connection_nat_state = [\"!dstnat\"]",
                "connection_state = [\"new\"]",
                "disabled = true",
                "dst_address = \"10.0.0.1-10.0.0.9\"",
                "in_interface_list = \"WAN\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.syn_from_host"),
            ros_id(&items[5])?,
            &[
                "chain = \"input\"",
                "comment = \"say \\\"hi\\\" $${x} %%{y} back\\\\slash\"",
                "connection_state = [\"!established\", \"related\"]",
                "protocol = \"tcp\"",
                "src_address = \"10.0.0.1\"",
            ],
        ),
    ];
    let (wd, planned) = adopt_by_hand(&sim, &objects, &BTreeMap::new(), &[])?;
    require_one_warning(
        &planned,
        "has properties not managed here",
        &format!(
            r"Imported firewall filter rule has properties not managed here.*firewall filter rule {} has properties this resource does not manage: tcp-flags\.",
            regex::escape(&ros_id(&items[5])?)
        ),
        "the rule with tcp-flags",
    )?;
    require_imported_ros_items(&wd, &objects, &items)
}

/// NAT rules made by hand (masquerade, a port forward, a source NAT, a
/// redirect), imported by comment and by `.id`.
#[test]
fn adopts_hand_made_routeros_nat_rules() -> Result<()> {
    let sim = HomelabSim::start()?;
    let items = routeros_add(
        &sim,
        "ip/firewall/nat",
        &[
            &[
                ("chain", "srcnat"),
                ("action", "masquerade"),
                ("out-interface-list", "WAN"),
                ("comment", "masquerade"),
            ],
            &[
                ("chain", "dstnat"),
                ("action", "dst-nat"),
                ("protocol", "tcp"),
                ("dst-port", "443"),
                ("in-interface", "ether1"),
                ("to-addresses", "10.0.10.5"),
                ("to-ports", "8443"),
                ("comment", "https to nas"),
            ],
            &[
                ("chain", "srcnat"),
                ("action", "src-nat"),
                ("src-address", "10.0.20.0/24"),
                ("to-addresses", "203.0.113.2"),
            ],
            &[
                ("chain", "dstnat"),
                ("action", "redirect"),
                ("protocol", "udp"),
                ("dst-port", "53"),
                ("to-ports", "5353"),
                ("in-interface-list", "LAN"),
                ("disabled", "yes"),
            ],
        ],
    )?;
    let t = "homelab_routeros_firewall_nat";
    let objects = [
        Adopt::new(
            &format!("{t}.masquerade"),
            "comment=masquerade",
            &[
                "action = \"masquerade\"",
                "chain = \"srcnat\"",
                "comment = \"masquerade\"",
                "out_interface_list = \"WAN\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.https_to_nas"),
            ros_id(&items[1])?,
            &[
                "action = \"dst-nat\"",
                "chain = \"dstnat\"",
                "comment = \"https to nas\"",
                "dst_port = \"443\"",
                "in_interface = \"ether1\"",
                "protocol = \"tcp\"",
                "to_addresses = \"10.0.10.5\"",
                "to_ports = \"8443\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.lab_out"),
            ros_id(&items[2])?,
            &[
                "action = \"src-nat\"",
                "chain = \"srcnat\"",
                "src_address = \"10.0.20.0/24\"",
                "to_addresses = \"203.0.113.2\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.dns_redirect"),
            ros_id(&items[3])?,
            &[
                "action = \"redirect\"",
                "chain = \"dstnat\"",
                "disabled = true",
                "dst_port = \"53\"",
                "in_interface_list = \"LAN\"",
                "protocol = \"udp\"",
                "to_ports = \"5353\"",
            ],
        ),
    ];
    let (wd, _) = adopt_by_hand(&sim, &objects, &BTreeMap::new(), &[])?;
    require_imported_ros_items(&wd, &objects, &items)
}

/// pfSense rules made through pfSense-pkg-RESTAPI v2 by hand and applied,
/// imported by tracker, or `tracker/description` where rules made in the
/// same second share one (these do: they are made one after the other).
/// One has settings the resource does not manage (a tag, TCP flags): its
/// import warns, naming them; the others' do not.
#[test]
fn adopts_hand_made_pfsense_rules() -> Result<()> {
    let sim = HomelabSim::start()?;
    let rules = [
        json!({"type": "pass", "interface": ["LAN"], "ipprotocol": "inet",
               "protocol": "tcp", "source": "LAN", "destination": "LAN:ip",
               "destination_port": "22", "descr": "ssh to the firewall", "log": true,
               "tag": "ssh_in", "tcp_flags_out_of": ["syn", "ack"], "tcp_flags_set": ["syn"]}),
        json!({"type": "block", "interface": ["WAN"], "ipprotocol": "inet",
               "source": "203.0.113.9", "destination": "any", "descr": "known scanner"}),
        json!({"type": "pass", "interface": ["DMZ"], "ipprotocol": "inet",
               "protocol": "icmp", "icmptype": ["echoreq", "unreach"],
               "source": "DMZ", "destination": "any", "descr": "ping out"}),
        json!({"type": "reject", "interface": ["DMZ"], "ipprotocol": "inet46",
               "source": "DMZ", "destination": "LAN", "descr": "",
               "statetype": "sloppy state", "disabled": true}),
        json!({"type": "pass", "interface": ["LAN"], "ipprotocol": "inet",
               "protocol": "tcp/udp", "source": "10.0.10.0/24", "source_port": "1024:65535",
               "destination": "any", "destination_port": "53", "descr": "dns out"}),
        json!({"type": "block", "interface": ["LAN"], "ipprotocol": "inet",
               "source": "!10.0.0.0/8", "destination": "any",
               "descr": "not ours / \"quoted\""}),
    ];
    let api = super::pfsense::AdminApi::new(&sim)?;
    let made: Vec<Value> = tokio::runtime::Runtime::new()?.block_on(async {
        let mut made = Vec::new();
        for r in &rules {
            made.push(api.call("/firewall/rule", r).await?);
        }
        api.call("/firewall/apply", &json!({"async": false}))
            .await?;
        anyhow::Ok(made)
    })?;
    let trackers: Vec<i64> = made
        .iter()
        .map(|m| {
            m["tracker"]
                .as_i64()
                .ok_or_else(|| anyhow!("no tracker in {m}"))
        })
        .collect::<Result<_>>()?;
    // The documented ID: the tracker, with the description where another
    // rule shares the tracker.
    let id = |i: usize| {
        let shared = trackers.iter().filter(|t| **t == trackers[i]).count() > 1;
        let descr = rules[i]["descr"].as_str().unwrap_or_default();
        if shared {
            format!("{}/{descr}", trackers[i])
        } else {
            trackers[i].to_string()
        }
    };
    let t = "homelab_pfsense_firewall_rule";
    let objects = [
        Adopt::new(
            &format!("{t}.ssh"),
            id(0),
            &[
                "description = \"ssh to the firewall\"",
                "destination = \"LAN:ip\"",
                "destination_port = \"22\"",
                "interface = \"LAN\"",
                "log = true",
                "protocol = \"tcp\"",
                "source = \"LAN\"",
                "type = \"pass\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.block_scanner"),
            id(1),
            &[
                "description = \"known scanner\"",
                "interface = \"WAN\"",
                "source = \"203.0.113.9\"",
                "type = \"block\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.ping_out"),
            id(2),
            &[
                "description = \"ping out\"",
                "icmptype = [\"echoreq\", \"unreach\"]",
                "interface = \"DMZ\"",
                "protocol = \"icmp\"",
                "source = \"DMZ\"",
                "type = \"pass\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.dmz_to_lan"),
            id(3),
            &[
                "destination = \"LAN\"",
                "disabled = true",
                "interface = \"DMZ\"",
                "ipprotocol = \"inet46\"",
                "source = \"DMZ\"",
                "statetype = \"sloppy state\"",
                "type = \"reject\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.dns_out"),
            id(4),
            &[
                "description = \"dns out\"",
                "destination_port = \"53\"",
                "interface = \"LAN\"",
                "protocol = \"tcp/udp\"",
                "source = \"10.0.10.0/24\"",
                "source_port = \"1024:65535\"",
                "type = \"pass\"",
            ],
        ),
        Adopt::new(
            &format!("{t}.not_ours"),
            id(5),
            &[
                "description = \"not ours / \\\"quoted\\\"\"",
                "interface = \"LAN\"",
                "source = \"!10.0.0.0/8\"",
                "type = \"block\"",
            ],
        ),
    ];
    let (wd, planned) = adopt_by_hand(&sim, &objects, &BTreeMap::new(), &[])?;
    require_one_warning(
        &planned,
        "has settings not managed here",
        &format!(
            r"Imported firewall rule has settings not managed here.*Firewall rule tracker {} {} has settings this resource does not manage: tag, tcp_flags_out_of, tcp_flags_set\.",
            trackers[0],
            regex::escape("\"ssh to the firewall\"")
        ),
        "the rule with a tag and TCP flags",
    )?;
    let state = wd.state_json()?;
    for (o, tracker) in objects.iter().zip(&trackers) {
        ensure!(
            state.attr(&o.address, "tracker")?.as_i64() == Some(*tracker),
            "{} imported another rule than tracker {tracker}",
            o.address
        );
    }
    Ok(())
}

/// Talos: the file `talosctl gen secrets` writes (written here in its
/// layout, from a freshly generated bundle: certificates and keys as
/// base64 of PEM), imported by its path.
#[test]
fn adopts_a_talosctl_secrets_file() -> Result<()> {
    let sim = HomelabSim::start()?;
    let b = labforge_talos::secrets::Bundle::generate(labforge_talos::secrets::Contract::V1_14)?;
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    // talos: pkg/machinery/config/generate/secrets/bundle.go (yaml.v3, four-space indent).
    let file = format!(
        "cluster:\n    id: {id}\n    secret: {secret}\nsecrets:\n    bootstraptoken: {bt}\n    \
         secretboxencryptionsecret: {sb}\ntrustdinfo:\n    token: {tt}\ncerts:\n    etcd:\n        \
         crt: {etcd_c}\n        key: {etcd_k}\n    k8s:\n        crt: {k8s_c}\n        key: {k8s_k}\n    \
         k8saggregator:\n        crt: {agg_c}\n        key: {agg_k}\n    k8sserviceaccount:\n        \
         key: {sa}\n    os:\n        crt: {os_c}\n        key: {os_k}\n",
        id = b.cluster_id,
        secret = b.cluster_secret,
        bt = b.bootstrap_token,
        sb = b.secretbox_encryption_secret,
        tt = b.trustd_token,
        etcd_c = b64(&b.etcd.cert),
        etcd_k = b64(&b.etcd.key),
        k8s_c = b64(&b.k8s.cert),
        k8s_k = b64(&b.k8s.key),
        agg_c = b64(&b.k8s_aggregator.cert),
        agg_k = b64(&b.k8s_aggregator.key),
        sa = b64(&b.k8s_serviceaccount_key),
        os_c = b64(&b.os.cert),
        os_k = b64(&b.os.key),
    );
    let address = "homelab_talos_machine_secrets.lab";
    // The imported contract is the oldest (documented): the configuration
    // says so, and nothing else (the bundle is computed from the file).
    let objects = [Adopt::new(
        address,
        "./secrets.yaml",
        &["talos_version = \"v1.13\""],
    )];
    let (wd, _) = adopt_by_hand(
        &sim,
        &objects,
        &BTreeMap::new(),
        &[("secrets.yaml", file.as_str())],
    )?;
    let state = wd.state_json()?;
    for (path, want) in [
        ("machine_secrets.cluster.id", b.cluster_id.clone()),
        ("machine_secrets.cluster.secret", b.cluster_secret.clone()),
        (
            "machine_secrets.secrets.bootstrap_token",
            b.bootstrap_token.clone(),
        ),
        ("machine_secrets.trustdinfo.token", b.trustd_token.clone()),
        ("machine_secrets.certs.os.cert", b64(&b.os.cert)),
        ("machine_secrets.certs.etcd.key", b64(&b.etcd.key)),
        (
            "machine_secrets.certs.k8s_serviceaccount.key",
            b64(&b.k8s_serviceaccount_key),
        ),
        ("client_configuration.ca_certificate", b64(&b.os.cert)),
    ] {
        ensure!(
            state.attr_str(address, path)? == want,
            "{address}.{path} is not the file's"
        );
    }
    Ok(())
}

/// Every resource type the provider registers with an import is adopted by
/// a test (a seed of the whole-lab test, which [`super::adopt`] imports
/// exactly, or a test of this file) or excluded with a reason; a new
/// importable type fails here until a test adopts it.
#[test]
fn every_importable_type_is_adopted_by_a_test() -> Result<()> {
    let registry = homelab::Homelab.resources();
    let registered: BTreeMap<String, bool> = registry
        .resource_schemas()
        .map(|(name, _, import)| (format!("homelab_{name}"), import.is_some()))
        .collect();
    let importable: BTreeSet<&str> = registered
        .iter()
        .filter(|(_, i)| **i)
        .map(|(n, _)| n.as_str())
        .collect();
    ensure!(
        importable.len() >= 20,
        "only {} importable types registered: {importable:?}",
        importable.len()
    );

    // What the whole lab's seeds import (adopt() requires discovery to list
    // exactly these and the apply to import each).
    let sim = HomelabSim::start()?;
    let seeds = [
        super::proxmox::seed(&sim)?,
        super::talos::seed(&sim)?,
        super::technitium::seed(&sim)?,
        super::cloudflare::seed(&sim)?,
        super::routeros::seed(&sim)?,
        super::pfsense::seed(&sim)?,
        super::kubernetes::seed(&sim)?,
    ];
    let mut covered: BTreeMap<String, String> = BTreeMap::new();
    for s in &seeds {
        for address in &s.found {
            let ty = address.split('.').next().unwrap_or_default();
            covered
                .entry(ty.to_string())
                .or_insert_with(|| format!("adopt::{}::seed", s.backend));
        }
    }
    // The tests here, each of which must exist.
    let source = include_str!("generated.rs");
    for (ty, test) in COVERED_HERE {
        ensure!(
            source.contains(&format!("#[test]\nfn {test}() -> Result<()> {{")),
            "COVERED_HERE names {test}, which is not a test of adopt/generated.rs"
        );
        covered
            .entry((*ty).to_string())
            .or_insert_with(|| format!("adopt::generated::{test}"));
    }

    for ty in covered.keys() {
        ensure!(
            importable.contains(ty.as_str()),
            "{ty} is adopted by {} but is not an importable type of the provider",
            covered[ty]
        );
    }
    let excluded: BTreeMap<&str, &str> = EXCLUDED.iter().copied().collect();
    for (ty, why) in &excluded {
        ensure!(
            importable.contains(ty),
            "EXCLUDED lists {ty} ({why}), which is not an importable type"
        );
        ensure!(
            !covered.contains_key(*ty),
            "EXCLUDED lists {ty}, which {} adopts: drop it from the list",
            covered[*ty]
        );
    }
    let uncovered: Vec<&&str> = importable
        .iter()
        .filter(|t| !covered.contains_key(**t) && !excluded.contains_key(**t))
        .collect();
    ensure!(
        uncovered.is_empty(),
        "importable types no adoption test imports (adopt one in adopt/generated.rs, or \
         list it in EXCLUDED with the reason): {uncovered:?}"
    );
    for (ty, by) in &covered {
        eprintln!("[adopt coverage] {ty}: {by}");
    }
    let not_importable: Vec<&String> = registered
        .iter()
        .filter(|(_, i)| !**i)
        .map(|(n, _)| n)
        .collect();
    eprintln!("[adopt coverage] without an import: {not_importable:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read_line_by_line() {
        let hcl =
            "resource \"t\" \"a\" {\n  x   = 1\n  yy  = \"b c\"\n}\n\nresource \"t\" \"b\" {\n}\n";
        assert_eq!(block_lines(hcl, "t.a").unwrap(), ["x = 1", "yy = \"b c\""]);
        assert!(block_lines(hcl, "t.b").unwrap().is_empty());
        assert!(block_lines(hcl, "t.c").is_err());
    }
}
