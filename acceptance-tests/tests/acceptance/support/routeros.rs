//! Helpers of the RouterOS acceptance tests: provider blocks for the
//! simulator, and a small evaluator of RouterOS firewall chains (as the
//! simulator prints them) for the no-window checks.

use std::rc::Rc;

use anyhow::{Result, bail, ensure};
use labforge_simulators::routeros::{ADMIN_PASSWORD, ADMIN_USER, RouterosSim};
use serde_json::Value;

use super::REQUIRED_PROVIDERS;

/// A simulator, shared by a test's steps.
pub fn sim() -> Rc<RouterosSim> {
    Rc::new(RouterosSim::start().unwrap())
}

/// `ca_certificate = <<-EOT ... EOT` for the simulator's CA.
pub fn ca_attr(sim: &RouterosSim) -> String {
    format!("ca_certificate = <<-EOT\n{}EOT", sim.ca_pem())
}

/// The root module: required_providers, a `routeros` block with `settings`
/// (e.g. credentials and TLS) and `body`.
pub fn hcl_with(sim: &RouterosSim, settings: &str, body: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  routeros {{
    url = "{url}"
    {settings}
  }}
}}

{body}"#,
        url = sim.https_url(),
    )
}

/// The root module as `admin`, trusting the simulator's CA.
pub fn hcl(sim: &RouterosSim, body: &str) -> String {
    hcl_with(sim, &login(ADMIN_USER, ADMIN_PASSWORD, sim), body)
}

/// `username`, `password` and the CA.
pub fn login(user: &str, password: &str, sim: &RouterosSim) -> String {
    format!(
        "username = \"{user}\"\n    password = \"{password}\"\n    {}",
        ca_attr(sim)
    )
}

/// The rules of `chain` that a ruleset owns (comment `[homelab]...`).
pub fn owned(chain: &[Value]) -> Vec<Value> {
    chain
        .iter()
        .filter(|r| {
            r.get("comment")
                .and_then(Value::as_str)
                .is_some_and(|c| c.starts_with("[homelab]"))
        })
        .cloned()
        .collect()
}

/// The comments of a chain's rules, in order.
pub fn comments(chain: &[Value]) -> Vec<String> {
    chain
        .iter()
        .map(|r| {
            r.get("comment")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// A packet for the chain evaluator.
#[derive(Debug, Clone)]
pub struct Packet {
    pub name: &'static str,
    pub protocol: &'static str,
    pub src: [u8; 4],
    pub dst_port: u16,
    pub state: &'static str,
    pub in_interface: &'static str,
}

/// What a chain does with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

fn v4(s: &str) -> Option<u32> {
    let p: Vec<u32> = s
        .split('.')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    (p.len() == 4).then(|| (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3])
}

fn address_matches(spec: &str, ip: [u8; 4]) -> Result<bool> {
    let (neg, body) = match spec.strip_prefix('!') {
        Some(b) => (true, b),
        None => (false, spec),
    };
    let a = u32::from_be_bytes(ip);
    let hit = if let Some((base, len)) = body.split_once('/') {
        let len: u32 = len.parse()?;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let Some(base) = v4(base) else {
            bail!("bad address {spec}")
        };
        a & mask == base & mask
    } else if let Some((lo, hi)) = body.split_once('-') {
        let (Some(lo), Some(hi)) = (v4(lo), v4(hi)) else {
            bail!("bad range {spec}")
        };
        (lo..=hi).contains(&a)
    } else {
        let Some(h) = v4(body) else {
            bail!("bad address {spec}")
        };
        a == h
    };
    Ok(hit != neg)
}

fn ports_match(spec: &str, port: u16) -> Result<bool> {
    let (neg, body) = match spec.strip_prefix('!') {
        Some(b) => (true, b),
        None => (false, spec),
    };
    let mut hit = false;
    for part in body.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u16>()?, b.parse::<u16>()?),
            None => {
                let p = part.parse::<u16>()?;
                (p, p)
            }
        };
        hit |= (lo..=hi).contains(&port);
    }
    Ok(hit != neg)
}

/// Whether `rule` (as printed) matches `p`. Matchers the evaluator does not
/// know are an error, so a test cannot silently ignore one.
fn matches(rule: &Value, p: &Packet) -> Result<bool> {
    let Some(m) = rule.as_object() else {
        bail!("not a rule: {rule}")
    };
    for (k, v) in m {
        let v = v.as_str().unwrap_or_default();
        let ok = match k.as_str() {
            ".id" | "chain" | "action" | "comment" | "disabled" | "dynamic" | "invalid" | "log"
            | "log-prefix" | "bytes" | "packets" | "reject-with" => true,
            "protocol" => match v.strip_prefix('!') {
                Some(x) => x != p.protocol,
                None => v == p.protocol,
            },
            "src-address" => address_matches(v, p.src)?,
            "dst-port" => ports_match(v, p.dst_port)?,
            "connection-state" => v.split(',').any(|s| s == p.state),
            "in-interface" => match v.strip_prefix('!') {
                Some(x) => x != p.in_interface,
                None => v == p.in_interface,
            },
            other => bail!("the evaluator does not know the matcher {other:?} ({rule})"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The verdict of a chain (printed rules, in order) for `p`; the policy
/// (no rule decides) is accept, as in RouterOS's built-in chains.
pub fn verdict(chain: &[Value], p: &Packet) -> Result<Verdict> {
    for r in chain {
        if r.get("disabled").and_then(Value::as_str) == Some("true") {
            continue;
        }
        if !matches(r, p)? {
            continue;
        }
        match r.get("action").and_then(Value::as_str).unwrap_or("accept") {
            "accept" => return Ok(Verdict::Accept),
            "drop" | "reject" | "tarpit" => return Ok(Verdict::Drop),
            "passthrough" | "log" => {}
            other => bail!("the evaluator does not know the action {other:?}"),
        }
    }
    Ok(Verdict::Accept)
}

/// Every snapshot gives every packet the first snapshot's verdict or the
/// last's (no window); returns how many snapshots there were.
pub fn check_no_window(history: &[Vec<Value>], packets: &[Packet]) -> Result<usize> {
    ensure!(history.len() >= 2, "recorded {} chains", history.len());
    let (first, last) = (&history[0], &history[history.len() - 1]);
    for p in packets {
        let old = verdict(first, p)?;
        let new = verdict(last, p)?;
        for (i, s) in history.iter().enumerate() {
            let v = verdict(s, p)?;
            ensure!(
                v == old || v == new,
                "after request {i}: packet {} gets {v:?}, the old chain {old:?}, the new {new:?}; \
                 chain: {:?}",
                p.name,
                comments(s)
            );
        }
    }
    Ok(history.len())
}

/// Packets that exercise a typical input/forward ruleset.
pub fn packets() -> Vec<Packet> {
    let p = |name, protocol, src, dst_port, state, in_interface| Packet {
        name,
        protocol,
        src,
        dst_port,
        state,
        in_interface,
    };
    vec![
        p("lan ssh", "tcp", [10, 0, 0, 7], 22, "new", "bridge"),
        p("wan ssh", "tcp", [203, 0, 113, 9], 22, "new", "ether1"),
        p("lan web", "tcp", [10, 0, 0, 8], 443, "new", "bridge"),
        p("wan web", "tcp", [198, 51, 100, 2], 443, "new", "ether1"),
        p("lan dns", "udp", [10, 0, 0, 9], 53, "new", "bridge"),
        p("wan dns", "udp", [198, 51, 100, 3], 53, "new", "ether1"),
        p(
            "reply",
            "tcp",
            [198, 51, 100, 4],
            50_000,
            "established",
            "ether1",
        ),
        p("invalid", "tcp", [10, 0, 0, 7], 22, "invalid", "bridge"),
        p("ping", "icmp", [203, 0, 113, 1], 0, "new", "ether1"),
        p("wan smtp", "tcp", [203, 0, 113, 5], 25, "new", "ether1"),
        p("lan ntp", "udp", [10, 0, 0, 3], 123, "new", "bridge"),
    ]
}
