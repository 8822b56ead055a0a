//! Logs as hclog-shaped JSON lines on stderr, which go-plugin hosts re-log at
//! the line's level (visible with `TF_LOG=debug` / `TF_LOG_PROVIDER=trace`),
//! plus the panic hook.
//!
//! Level: `TF_LOG_PROVIDER`, else `TF_LOG` (`trace`, `debug`, `info`, `warn`,
//! `error`, `off`; `json` means trace, like Terraform). Default when neither
//! is set: `info` (Terraform discards provider logs unless `TF_LOG` is set, so
//! a low default keeps the unobserved case cheap).
//!
//! That level applies to the provider's own code (targets `labforge*` and
//! `terraform_provider_homelab`). Everything else logging through `tracing`
//! in the process is transport internals (h2 frames, hyper connections, tonic
//! and tower plumbing), thousands of lines a plan at trace: those keep their
//! own targets and log only warnings and errors unless
//! `TF_LOG_PROVIDER_TRANSPORT` names a level for them (same values).

use std::fmt;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Parses a Terraform-style log level.
pub(crate) fn parse_level(value: &str) -> Option<LevelFilter> {
    match value.trim().to_ascii_lowercase().as_str() {
        "trace" | "json" => Some(LevelFilter::TRACE),
        "debug" => Some(LevelFilter::DEBUG),
        "info" => Some(LevelFilter::INFO),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "error" => Some(LevelFilter::ERROR),
        "off" => Some(LevelFilter::OFF),
        _ => None,
    }
}

/// The level chosen from `TF_LOG_PROVIDER` / `TF_LOG` through `lookup`.
pub(crate) fn level_from(lookup: &impl Fn(&str) -> Option<String>) -> LevelFilter {
    ["TF_LOG_PROVIDER", "TF_LOG"]
        .iter()
        .find_map(|key| lookup(key).as_deref().and_then(parse_level))
        .unwrap_or(LevelFilter::INFO)
}

/// The provider's own code: target prefixes (crate names).
pub(crate) const OWN_TARGETS: &[&str] = &["labforge", "terraform_provider_homelab"];

/// Opt-in level for transport internals (everything not [`OWN_TARGETS`]).
pub(crate) const TRANSPORT_VAR: &str = "TF_LOG_PROVIDER_TRANSPORT";

/// Which events are logged: ours at the level from `TF_LOG_PROVIDER` /
/// `TF_LOG`, transport internals at `TF_LOG_PROVIDER_TRANSPORT`, else at
/// most warnings (never more than ours).
pub(crate) fn filter_from(lookup: impl Fn(&str) -> Option<String>) -> Targets {
    let level = level_from(&lookup);
    let transport = lookup(TRANSPORT_VAR)
        .as_deref()
        .and_then(parse_level)
        .unwrap_or_else(|| level.min(LevelFilter::WARN));
    OWN_TARGETS
        .iter()
        .fold(Targets::new().with_default(transport), |t, own| {
            t.with_target(*own, level)
        })
}

/// Installs the stderr JSON subscriber (filter from the environment, see the
/// module docs). Does nothing if a global subscriber is already set.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = filter_from(|key| std::env::var(key).ok());
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .event_format(HclogJson::new("provider")),
        )
        .with(filter)
        .try_init();
}

/// `tracing` event formatter producing one hclog JSON object per line:
/// `{"@level":..,"@message":..,"@module":..,"@timestamp":..,<fields>}`.
#[derive(Debug, Clone)]
pub struct HclogJson {
    module: &'static str,
}

impl HclogJson {
    /// `module` becomes the `@module` of every line.
    pub fn new(module: &'static str) -> Self {
        Self { module }
    }

    /// Renders one line (without newline) from its parts.
    fn render(&self, level: &Level, fields: Map<String, Value>, now: SystemTime) -> String {
        let mut out = Map::new();
        let mut fields = fields;
        let message = fields
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        out.insert("@level".into(), Value::String(level_name(level).into()));
        out.insert("@message".into(), message);
        out.insert("@module".into(), Value::String(self.module.into()));
        out.insert("@timestamp".into(), Value::String(format_timestamp(now)));
        for (key, value) in fields {
            // Never let a field overwrite the hclog keys.
            if !key.starts_with('@') {
                out.insert(key, value);
            }
        }
        Value::Object(out).to_string()
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

impl<S, N> FormatEvent<S, N> for HclogJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);
        let line = self.render(event.metadata().level(), visitor.fields, SystemTime::now());
        writeln!(writer, "{line}")
    }
}

#[derive(Default)]
struct JsonVisitor {
    fields: Map<String, Value>,
}

impl Visit for JsonVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .insert(field.name().into(), Value::String(value.to_string()));
    }
}

/// `2026-01-02T03:04:05.123456Z` (UTC, microseconds), like hclog's JSON.
pub(crate) fn format_timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// Installs a panic hook that logs the panic as an ERROR JSON line, writes the
/// plain `panic: ...` text (with location and backtrace) to stderr so the
/// CLI's crash detection sees it, removes our sockets, and exits with code 2
/// (like a Go panic) instead of leaving a half-dead server behind.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        tracing::error!(location = %location, "panic: {message}");
        let backtrace = std::backtrace::Backtrace::force_capture();
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "panic: {message}\n\nat {location}\n\n{backtrace}");
        let _ = stderr.flush();
        drop(stderr);
        crate::listener::remove_live_sockets();
        std::process::exit(2);
    }));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(format_timestamp(t), "2023-11-14T22:13:20.123456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(format_timestamp(leap), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn levels_from_env() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(level_from(&env(&[])), LevelFilter::INFO);
        assert_eq!(level_from(&env(&[("TF_LOG", "DEBUG")])), LevelFilter::DEBUG);
        assert_eq!(level_from(&env(&[("TF_LOG", "JSON")])), LevelFilter::TRACE);
        assert_eq!(
            level_from(&env(&[("TF_LOG", "debug"), ("TF_LOG_PROVIDER", "error")])),
            LevelFilter::ERROR
        );
        assert_eq!(
            level_from(&env(&[("TF_LOG", "warn"), ("TF_LOG_PROVIDER", "bogus")])),
            LevelFilter::WARN
        );
    }

    /// Ours at trace, the transport's (h2, hyper, tonic targets) off below
    /// warnings unless TF_LOG_PROVIDER_TRANSPORT asks for them.
    #[test]
    fn transport_internals_are_opt_in() {
        let logged = |vars: &'static [(&'static str, &'static str)]| {
            let filter = filter_from(|k: &str| {
                vars.iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| (*v).to_owned())
            });
            let buf = Buf::default();
            let writer = buf.clone();
            use tracing_subscriber::layer::SubscriberExt as _;
            let subscriber = tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(move || writer.clone())
                        .event_format(HclogJson::new("provider")),
                )
                .with(filter);
            tracing::subscriber::with_default(subscriber, || {
                tracing::trace!(target: "labforge_framework::grpc", "own trace");
                tracing::debug!(target: "terraform_provider_homelab", "own debug");
                tracing::trace!(target: "h2::codec::framed_read", "frame");
                tracing::debug!(target: "hyper_util::client::legacy::pool", "pooling");
                tracing::trace!(target: "tonic::transport::server", "accept");
                tracing::warn!(target: "h2::proto::connection", "transport warning");
            });
            let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    v["@message"].as_str().unwrap().to_owned()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            logged(&[("TF_LOG", "trace")]),
            ["own trace", "own debug", "transport warning"]
        );
        assert_eq!(
            logged(&[("TF_LOG", "trace"), ("TF_LOG_PROVIDER_TRANSPORT", "TRACE")]),
            [
                "own trace",
                "own debug",
                "frame",
                "pooling",
                "accept",
                "transport warning"
            ]
        );
        assert_eq!(
            logged(&[("TF_LOG", "info"), ("TF_LOG_PROVIDER_TRANSPORT", "debug")]),
            ["pooling", "transport warning"]
        );
        // Quieter than ours by default, never louder.
        assert!(logged(&[("TF_LOG", "error")]).is_empty());
    }

    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn line_shape() {
        let mut fields = Map::new();
        fields.insert("message".into(), Value::String("hello".into()));
        fields.insert("count".into(), 3.into());
        fields.insert("@level".into(), Value::String("spoof".into()));
        let line = HclogJson::new("provider").render(&Level::WARN, fields, UNIX_EPOCH);
        assert_eq!(
            line,
            r#"{"@level":"warn","@message":"hello","@module":"provider","@timestamp":"1970-01-01T00:00:00.000000Z","count":3}"#
        );
    }

    /// End to end through a real subscriber, captured in memory.
    #[test]
    fn events_are_formatted_as_json_lines() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(data);
                Ok(data.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(LevelFilter::DEBUG)
            .event_format(HclogJson::new("provider"))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(rpc = "GetProviderSchema", ok = true, "served {}", 1);
            tracing::trace!("filtered out");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["@level"], "debug");
        assert_eq!(v["@message"], "served 1");
        assert_eq!(v["@module"], "provider");
        assert_eq!(v["rpc"], "GetProviderSchema");
        assert_eq!(v["ok"], true);
        assert!(v["@timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
