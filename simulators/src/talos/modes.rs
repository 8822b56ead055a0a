//! How an apply's mode resolves, per Talos version: which modes maintenance
//! mode takes, and what an accepted apply does outside it (siderolabs/talos
//! `internal/app/maintenance/server.go` and
//! `internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go`
//! `ApplyConfiguration`, tags v1.13.9 and v1.14.0-rc.1).

use std::time::Duration;

use tonic::{Code, Status};

use super::config;
use super::proto::machine::apply_configuration_request::Mode;
use super::{Node, TalosVersion};

/// The timeout of a TRY apply that gives none.
pub(super) const DEFAULT_TRY_TIMEOUT: Duration = Duration::from_secs(60);

/// Go's `time.Duration.String()` for whole milliseconds.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m) = (ms / 3_600_000, (ms / 60_000) % 60);
    let s = (ms % 60_000) as f64 / 1000.0;
    let secs = if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// The modes an apply in maintenance mode takes (siderolabs/talos
/// `internal/app/maintenance/server.go` `ApplyConfiguration`): TRY, REBOOT
/// and AUTO install the configuration; the others are refused, in the
/// vendor's words (`--mode=` with the enum name lower-cased, `_` as `-`).
pub(super) fn maintenance_mode_allowed(mode: Mode) -> Result<(), Status> {
    match mode {
        Mode::Try | Mode::Reboot | Mode::Auto => Ok(()),
        Mode::NoReboot | Mode::Staged => Err(Status::unimplemented(format!(
            "apply configuration --mode='{}' is not supported in maintenance mode",
            mode.as_str_name().to_lowercase().replace('_', "-")
        ))),
    }
}

/// What an accepted apply does.
pub(super) enum Effect {
    /// Maintenance: write the config, install, reboot.
    Install,
    /// Running and persistent config now.
    Live,
    /// Persistent now, running at the next boot, reboot now.
    Reboot,
    /// Persistent only.
    Staged,
    /// Running only, reverted after the timeout.
    Try(Duration),
}

/// Mode resolution outside maintenance mode, per version.
pub(super) fn resolve_mode(
    n: &Node,
    mode: Mode,
    docs: &[config::Document],
    diff: &str,
    try_timeout: Duration,
) -> Result<(Effect, Mode, String), Status> {
    const LIVE: &str = "Applied configuration without a reboot";
    const STAGED: &str = "Staged configuration to be applied after the next reboot";
    let try_note = |d: Duration| {
        format!(
            "{LIVE}\nThe config is applied in 'try' mode and will be automatically reverted back in {}",
            go_duration(d)
        )
    };
    match n.version {
        TalosVersion::V1_14 => match mode {
            Mode::Reboot => Err(Status::unimplemented(
                "the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead",
            )),
            Mode::Auto | Mode::NoReboot => Ok((Effect::Live, Mode::NoReboot, LIVE.into())),
            Mode::Staged => Ok((Effect::Staged, Mode::Staged, STAGED.into())),
            Mode::Try => Ok((Effect::Try(try_timeout), Mode::Try, try_note(try_timeout))),
        },
        TalosVersion::V1_13 => {
            let old = config::docs_of(n.running.as_ref());
            let immediate = config::can_apply_immediate(&old, docs);
            let refusal =
                format!("this config change can't be applied in immediate mode\ndiff:\n{diff}");
            match mode {
                Mode::Reboot => Ok((
                    Effect::Reboot,
                    Mode::Reboot,
                    "Applied configuration with a reboot".into(),
                )),
                Mode::Auto if immediate => Ok((Effect::Live, Mode::NoReboot, LIVE.into())),
                Mode::Auto => Ok((
                    Effect::Reboot,
                    Mode::Reboot,
                    format!("Applied configuration with a reboot: {refusal}"),
                )),
                Mode::NoReboot | Mode::Try if !immediate => {
                    Err(Status::new(Code::InvalidArgument, refusal))
                }
                Mode::NoReboot => Ok((Effect::Live, Mode::NoReboot, LIVE.into())),
                Mode::Try => Ok((Effect::Try(try_timeout), Mode::Try, try_note(try_timeout))),
                Mode::Staged => Ok((Effect::Staged, Mode::Staged, STAGED.into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(3725)), "1h2m5s");
    }
}
