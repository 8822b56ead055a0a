//! Helpers of the pfSense acceptance tests: provider blocks for the
//! simulator, and a small evaluator of pfSense interface rules (as the
//! simulator shows them) for the no-window checks.

use std::rc::Rc;

use anyhow::{Result, bail, ensure};
use labforge_simulators::pfsense::{ADMIN_PASSWORD, ADMIN_USER, PfsenseSim};
use serde_json::Value;

use super::REQUIRED_PROVIDERS;

/// A simulator, shared by a test's steps.
pub fn sim() -> Rc<PfsenseSim> {
    Rc::new(PfsenseSim::start().unwrap())
}

/// The root module: required_providers, a `pfsense` block with `settings`
/// (credentials) and `body`.
pub fn hcl_with(sim: &PfsenseSim, settings: &str, body: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  pfsense {{
    url = "{url}"
    {settings}
  }}
}}

{body}"#,
        url = sim.url(),
    )
}

/// The root module as `admin` (Basic authentication).
pub fn hcl(sim: &PfsenseSim, body: &str) -> String {
    hcl_with(sim, &login(ADMIN_USER, ADMIN_PASSWORD), body)
}

/// `username` and `password`.
pub fn login(user: &str, password: &str) -> String {
    format!("username = \"{user}\"\n    password = \"{password}\"")
}

/// The descriptions of rules, in order.
pub fn descrs(rules: &[Value]) -> Vec<String> {
    rules
        .iter()
        .map(|r| r["descr"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The rules a ruleset owns (description `[homelab]...`).
pub fn owned(rules: &[Value]) -> Vec<Value> {
    rules
        .iter()
        .filter(|r| {
            r["descr"]
                .as_str()
                .is_some_and(|c| c == "[homelab]" || c.starts_with("[homelab] "))
        })
        .cloned()
        .collect()
}

/// The owned rules' own descriptions (marker off), in order.
pub fn owned_descrs(rules: &[Value]) -> Vec<String> {
    descrs(&owned(rules))
        .into_iter()
        .map(|d| d.trim_start_matches("[homelab]").trim().to_string())
        .collect()
}

/// A packet arriving on an interface.
#[derive(Debug, Clone)]
pub struct Packet {
    pub name: &'static str,
    /// `tcp`, `udp` or `icmp`.
    pub protocol: &'static str,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub dst_port: u16,
}

/// What the interface's rules do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Block,
}

fn v4(s: &str) -> Option<u32> {
    let p: Vec<u32> = s
        .split('.')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    (p.len() == 4 && p.iter().all(|x| *x < 256))
        .then(|| (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3])
}

/// The LAN subnet of the simulator's interfaces, for `LAN` addresses.
const LAN: &str = "10.0.0.0/24";
const LAN_IP: &str = "10.0.0.1";

fn address_matches(spec: &str, ip: [u8; 4], aliases: &[Value]) -> Result<bool> {
    let (neg, body) = match spec.strip_prefix('!') {
        Some(b) => (true, b),
        None => (false, spec),
    };
    let a = u32::from_be_bytes(ip);
    let in_net = |net: &str| -> Result<bool> {
        let Some((base, len)) = net.split_once('/') else {
            let Some(h) = v4(net) else {
                bail!("the evaluator does not know the address {net:?}")
            };
            return Ok(a == h);
        };
        let len: u32 = len.parse()?;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let Some(base) = v4(base) else {
            bail!("bad address {net}")
        };
        Ok(a & mask == base & mask)
    };
    let hit = match body {
        "any" => true,
        "LAN" => in_net(LAN)?,
        "LAN:ip" => in_net(LAN_IP)?,
        b if v4(b.split('/').next().unwrap_or("")).is_some() => in_net(b)?,
        name => {
            let Some(alias) = aliases.iter().find(|x| x["name"] == name) else {
                bail!("the evaluator does not know the address {name:?}")
            };
            let mut any = false;
            for e in alias["address"].as_array().into_iter().flatten() {
                any |= in_net(e.as_str().unwrap_or(""))?;
            }
            any
        }
    };
    Ok(hit != neg)
}

fn port_matches(spec: &str, port: u16, aliases: &[Value]) -> Result<bool> {
    let one = |s: &str| -> Result<bool> {
        Ok(match s.split_once(':') {
            Some((lo, hi)) => (lo.parse::<u16>()?..=hi.parse::<u16>()?).contains(&port),
            None => s.parse::<u16>()? == port,
        })
    };
    if spec.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return one(spec);
    }
    let Some(alias) = aliases.iter().find(|x| x["name"] == spec) else {
        bail!("the evaluator does not know the port {spec:?}")
    };
    let mut any = false;
    for e in alias["address"].as_array().into_iter().flatten() {
        any |= one(e.as_str().unwrap_or(""))?;
    }
    Ok(any)
}

/// Whether `rule` (as shown) matches `p`. Matchers the evaluator does not
/// know are an error, so a test cannot silently ignore one.
fn matches(rule: &Value, p: &Packet, aliases: &[Value]) -> Result<bool> {
    if rule["ipprotocol"] == "inet6" {
        return Ok(false);
    }
    let proto_ok = match rule["protocol"].as_str() {
        None => true,
        Some("tcp/udp") => p.protocol == "tcp" || p.protocol == "udp",
        Some(proto) => proto == p.protocol,
    };
    if !proto_ok {
        return Ok(false);
    }
    if let Some(types) = rule["icmptype"].as_array()
        && !types.iter().any(|t| t == "any" || t == "echoreq")
    {
        return Ok(false);
    }
    if !address_matches(rule["source"].as_str().unwrap_or("any"), p.src, aliases)? {
        return Ok(false);
    }
    if !address_matches(
        rule["destination"].as_str().unwrap_or("any"),
        p.dst,
        aliases,
    )? {
        return Ok(false);
    }
    if rule["source_port"].is_string() {
        bail!("the evaluator does not know source ports ({rule})");
    }
    if let Some(dp) = rule["destination_port"].as_str()
        && !port_matches(dp, p.dst_port, aliases)?
    {
        return Ok(false);
    }
    Ok(true)
}

/// The verdict of an interface's rules (first match wins; pfSense blocks
/// what no rule passes).
pub fn verdict(rules: &[Value], p: &Packet, aliases: &[Value]) -> Result<Verdict> {
    for r in rules {
        if r["disabled"] == true {
            continue;
        }
        if !matches(r, p, aliases)? {
            continue;
        }
        return match r["type"].as_str() {
            Some("pass") => Ok(Verdict::Pass),
            Some("block" | "reject") => Ok(Verdict::Block),
            other => bail!("the evaluator does not know the action {other:?}"),
        };
    }
    Ok(Verdict::Block)
}

/// Every snapshot gives every packet the first snapshot's verdict or the
/// last's (no window); returns how many snapshots there were.
pub fn check_no_window(
    history: &[Vec<Value>],
    packets: &[Packet],
    aliases: &[Value],
) -> Result<usize> {
    ensure!(history.len() >= 2, "recorded {} lists", history.len());
    let (first, last) = (&history[0], &history[history.len() - 1]);
    for p in packets {
        let old = verdict(first, p, aliases)?;
        let new = verdict(last, p, aliases)?;
        for (i, s) in history.iter().enumerate() {
            let v = verdict(s, p, aliases)?;
            ensure!(
                v == old || v == new,
                "after write {i}: packet {} gets {v:?}, the old rules {old:?}, the new {new:?}; rules: {:?}",
                p.name,
                descrs(s)
            );
        }
    }
    Ok(history.len())
}

/// Packets that exercise a typical LAN ruleset.
pub fn packets() -> Vec<Packet> {
    let p = |name, protocol, src, dst, dst_port| Packet {
        name,
        protocol,
        src,
        dst,
        dst_port,
    };
    vec![
        p("lan ssh to fw", "tcp", [10, 0, 0, 7], [10, 0, 0, 1], 22),
        p("lan ssh out", "tcp", [10, 0, 0, 7], [192, 0, 2, 10], 22),
        p("lan web", "tcp", [10, 0, 0, 8], [198, 51, 100, 2], 443),
        p("lan alt web", "tcp", [10, 0, 0, 8], [198, 51, 100, 2], 8443),
        p("lan dns", "udp", [10, 0, 0, 9], [10, 0, 0, 1], 53),
        p("lan dns out", "udp", [10, 0, 0, 9], [8, 8, 8, 8], 53),
        p("ping", "icmp", [10, 0, 0, 5], [10, 0, 0, 1], 0),
        p("smtp out", "tcp", [10, 0, 0, 5], [203, 0, 113, 5], 25),
        p("ntp out", "udp", [10, 0, 0, 3], [203, 0, 113, 7], 123),
        p("stranger ssh", "tcp", [172, 16, 0, 9], [10, 0, 0, 1], 22),
        p("to nas", "tcp", [10, 0, 0, 4], [10, 0, 0, 20], 445),
    ]
}
