//! Data source `homelab_technitium_zone_records`: every record of a zone.

use crate::Client;
use labforge_framework::schema::{Attribute, Schema, validators};
use labforge_framework::{Ctx, DataSource, Error, Nesting, Result};
use serde::{Deserialize, Serialize};

use crate::client::RecordInfo;
use crate::rdata::{RecordData, norm_name};

/// The data source.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZoneRecords;

/// The data source's configuration and result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZoneRecordsModel {
    /// The zone to list, as written.
    pub zone: String,
    /// Every record of the zone, in the server's order; `None` in configuration.
    pub records: Option<Vec<RecordItem>>,
}

/// One record, flattened like the `homelab_technitium_dns_record` resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordItem {
    /// Fully qualified owner name, as the server has it.
    pub name: String,
    /// Record type, as the server spells it (also types the resource does
    /// not manage, such as `SOA`).
    #[serde(rename = "type")]
    pub rtype: String,
    /// Address, target name, text or CAA value; SOA as its zone-file
    /// fields; other unmanaged types as their rdata in compact JSON.
    pub value: String,
    /// MX preference or SRV priority; `None` for other types.
    pub priority: Option<i64>,
    /// SRV weight; `None` for other types.
    pub weight: Option<i64>,
    /// SRV port; `None` for other types.
    pub port: Option<i64>,
    /// CAA flags; `None` for other types.
    pub flags: Option<i64>,
    /// CAA tag; `None` for other types.
    pub tag: Option<String>,
    /// Time to live in seconds.
    pub ttl: i64,
    /// Kept but not served.
    pub disabled: bool,
    /// Comments; empty when none.
    pub comments: String,
}

/// A record as an item; types the resource does not manage get their rdata
/// as compact JSON in `value`.
pub(crate) fn item(r: &RecordInfo) -> RecordItem {
    let d = RecordData::from_record(r);
    let value = match (&d, r.rtype.as_str()) {
        (Some(d), _) => d.value.clone(),
        (None, "SOA") => [
            "primaryNameServer",
            "responsiblePerson",
            "serial",
            "refresh",
            "retry",
            "expire",
            "minimum",
        ]
        .iter()
        .map(|k| match r.rdata.get(*k) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        })
        .collect::<Vec<_>>()
        .join(" "),
        (None, _) => serde_json::Value::Object(r.rdata.clone()).to_string(),
    };
    RecordItem {
        name: r.name.clone(),
        rtype: r.rtype.clone(),
        value,
        priority: d.as_ref().and_then(|d| d.priority),
        weight: d.as_ref().and_then(|d| d.weight),
        port: d.as_ref().and_then(|d| d.port),
        flags: d.as_ref().and_then(|d| d.flags),
        tag: d.as_ref().and_then(|d| d.tag.clone()),
        ttl: r.ttl,
        disabled: r.disabled,
        comments: r.comments.clone().unwrap_or_default(),
    }
}

impl DataSource for ZoneRecords {
    type Client = Client;
    type Model = ZoneRecordsModel;
    const NAME: &'static str = "technitium_zone_records";

    fn schema(&self) -> Schema {
        let s = |d: &str| Attribute::string().computed().describe(d);
        let n = |d: &str| Attribute::int().computed().describe(d);
        Schema::new(
            "Every record of a Technitium authoritative zone (including SOA and NS), with the \
             same value fields as `homelab_technitium_dns_record`.",
        )
        .attribute(
            "zone",
            Attribute::string()
                .required()
                .describe("Zone name, e.g. `home.arpa`.")
                .validator(validators::dns_name(false)),
        )
        .attribute(
            "records",
            Attribute::nested(
                Nesting::List,
                [
                    ("name", s("Fully qualified owner name, lower case.")),
                    ("type", s("Record type.")),
                    (
                        "value",
                        s(
                            "Address, target name, text or CAA value; SOA as its zone-file \
                           fields; other types as their rdata in JSON.",
                        ),
                    ),
                    ("priority", n("MX preference or SRV priority.")),
                    ("weight", n("SRV weight.")),
                    ("port", n("SRV port.")),
                    ("flags", n("CAA flags.")),
                    ("tag", s("CAA tag.")),
                    ("ttl", n("TTL in seconds.")),
                    (
                        "disabled",
                        Attribute::bool()
                            .computed()
                            .describe("Whether it is disabled."),
                    ),
                    ("comments", s("Comments (empty when none).")),
                ],
            )
            .computed()
            .describe("The records, sorted as the server lists them."),
        )
    }

    async fn read(&self, ctx: &Ctx<Client>, config: ZoneRecordsModel) -> Result<ZoneRecordsModel> {
        let c = ctx.client();
        let zone = norm_name(&config.zone);
        // Listed now, in the server's order (not a listing patched by writes).
        let records = c
            .zone_records_fresh(&zone)
            .await
            .map_err(|e| Error::msg(format!("listing the records of zone {zone}: {e}")))?;
        Ok(ZoneRecordsModel {
            zone: config.zone,
            records: Some(records.iter().map(item).collect()),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn items() {
        let r: RecordInfo = serde_json::from_value(serde_json::json!({
            "name": "_sip._tcp.home.arpa", "type": "SRV", "ttl": 60,
            "rData": {"priority": 1, "weight": 2, "port": 3, "target": "t.home.arpa"}
        }))
        .unwrap();
        let i = item(&r);
        assert_eq!((i.priority, i.weight, i.port), (Some(1), Some(2), Some(3)));
        assert_eq!(i.value, "t.home.arpa");
        let r: RecordInfo = serde_json::from_value(serde_json::json!({
            "name": "home.arpa", "type": "SOA", "ttl": 900,
            "rData": {"primaryNameServer": "ns", "responsiblePerson": "h", "serial": 2,
                      "refresh": 1, "retry": 1, "expire": 1, "minimum": 1}
        }))
        .unwrap();
        assert_eq!(item(&r).value, "ns h 2 1 1 1 1");
        // Long TXT as the server renders it: the text, no new line at byte 255.
        let long = format!("{}{}", "a".repeat(255), "b".repeat(45));
        let r: RecordInfo = serde_json::from_value(serde_json::json!({
            "name": "home.arpa", "type": "TXT", "ttl": 60,
            "rData": {"text": long, "splitText": true,
                      "characterStrings": [&long[..255], &long[255..]]}
        }))
        .unwrap();
        assert_eq!(item(&r).value, long);
    }
}
