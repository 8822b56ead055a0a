//! [`ApiError`]: why a call failed, sorted from Proxmox VE's answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use labforge_http::{ApiErrorKind, ErrorKind, HttpError};

/// Why an API call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// No usable answer: the connection could not be made or broke, or the
    /// answer's body could not be read (a `GET` after its retries; any
    /// method when nothing was sent; a `POST` whose answer was lost). The
    /// [`HttpError`] (its source kept) tells which, and whether the request
    /// may have been carried out. The text names the method and path.
    #[error(transparent)]
    Transport(Arc<HttpError>),
    /// HTTP 401: a wrong or expired token, or a failed ticket login.
    #[error(
        "{method} {path}: authentication failed ({message}); check the proxmox api_token, or username and password"
    )]
    Auth {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The API path called, below `/api2/json`, e.g. `/nodes/pve1/qemu`.
        path: String,
        /// The server's `message`, else the body's start, else the reason phrase.
        message: String,
    },
    /// HTTP 403. pveproxy's text is `Permission check failed (/vms/100,
    /// VM.Allocate)`: ACL path, then privilege (pve-common
    /// `PVE::Exception::raise_perm_exc`).
    #[error(
        "{method} {path}: permission denied: the API user lacks privilege {privilege} on {acl_path} ({message})"
    )]
    Permission {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The API path called, below `/api2/json`, e.g. `/nodes/pve1/qemu`.
        path: String,
        /// The privilege the check wanted, e.g. `VM.Allocate`; `(not stated)` if the text lacks it.
        privilege: String,
        /// The ACL path checked, e.g. `/vms/100`; `(not stated)` if the text lacks it.
        acl_path: String,
        /// The server's `message`, else the body's start, else the reason phrase.
        message: String,
    },
    /// HTTP 404, or a 500 whose text says the VM, file or resource does not
    /// exist (`Configuration file ... does not exist`, `no such VM`).
    #[error("{method} {path}: {message}")]
    NotFound {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The API path called, below `/api2/json`, e.g. `/nodes/pve1/qemu`.
        path: String,
        /// The server's `message`, else the body's start, else the reason phrase.
        message: String,
    },
    /// "already exists": a VMID or volume that is taken (a 400's per-field
    /// `errors`, or a 500's text).
    #[error("{method} {path}: {message}")]
    AlreadyExists {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The API path called, below `/api2/json`, e.g. `/nodes/pve1/qemu`.
        path: String,
        /// The server's `message`, else the body's start, else the reason phrase.
        message: String,
    },
    /// Lock contention: "can't lock file", "got timeout", "VM is locked";
    /// retried by `Client::retry_locked`.
    #[error("{method} {path}: {message}")]
    Locked {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The API path called, below `/api2/json`, e.g. `/nodes/pve1/qemu`.
        path: String,
        /// The server's `message`, else the body's start, else the reason phrase.
        message: String,
    },
    /// The `digest` sent with a config write no longer matches ("checksum
    /// mismatch", "file changed by other user"): someone else wrote first.
    #[error("{method} {path}: {message} (the VM configuration changed behind our back)")]
    Conflict {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The API path called, below `/api2/json`, e.g. `/nodes/pve1/qemu`.
        path: String,
        /// The server's `message`, else the body's start, else the reason phrase.
        message: String,
    },
    /// HTTP 400 "Parameter verification failed." with per-parameter
    /// `errors` (pve-common `PVE::Exception::raise_param_exc`).
    #[error("{method} {path}: {message}{}", fmt_errors(.errors))]
    Param {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The API path called, below `/api2/json`, e.g. `/nodes/pve1/qemu`.
        path: String,
        /// The server's `message`, else the body's start, else the reason phrase.
        message: String,
        /// Per-parameter errors (`errors` of the answer), by parameter name.
        errors: BTreeMap<String, String>,
    },
    /// Any other error status (mostly 500 with the handler's `die` text).
    #[error("{method} {path}: HTTP {status}: {message}")]
    Api {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The API path called, below `/api2/json`, e.g. `/nodes/pve1/qemu`.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The server's `message`, else the body's start, else the reason phrase.
        message: String,
    },
    /// A worker task ended with an exit status other than `OK`.
    #[error("task {upid} failed: {exitstatus}{}", fmt_log(.log))]
    Task {
        /// The task's UPID (`UPID:<node>:...`).
        upid: String,
        /// The task's exit status (its error text).
        exitstatus: String,
        /// The last lines of the task's log (20 at most; empty if it could not be read).
        log: Vec<String>,
    },
    #[error(
        "task {upid} did not finish within {} s; it may still be running on the node",
        .waited.as_secs()
    )]
    /// A task still running when the wait's deadline passed.
    TaskTimeout {
        /// The task's UPID.
        upid: String,
        /// How long the client waited.
        waited: Duration,
    },
    /// Terraform asked the provider to stop (StopProvider) while waiting.
    #[error("{what}: cancelled because Terraform asked the provider to stop")]
    Cancelled {
        /// What was being waited for, e.g. a task's UPID or a VM's lock.
        what: String,
    },
    /// A 2xx answer without the `{"data": ...}` envelope, or whose `data`
    /// does not have the shape the client expects.
    #[error("{path}: unexpected response: {message}")]
    Decode {
        /// The API path called, below `/api2/json`.
        path: String,
        /// What could not be read, and why.
        message: String,
    },
    /// The request may have reached the server, but its answer was lost (a
    /// broken connection, or pveproxy's 596/599, or a gateway's 502-504).
    #[error(
        "{method} {path}: no answer ({message}); the request may or may not have been carried out"
    )]
    NoAnswer {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The API path called, below `/api2/json`, e.g. `/nodes/pve1/qemu`.
        path: String,
        /// What broke (transport error, or the status and reason).
        message: String,
    },
    /// PVE could not start the worker of a create ("got no worker upid -
    /// start worker failed", pve-common `PVE::RESTEnvironment::fork_worker`).
    #[error("{message}{}", stub_note(*.vmid, .node, *.stub))]
    WorkerStartFailed {
        /// The node the create was sent to.
        node: String,
        /// The VMID the create asked for.
        vmid: i64,
        /// The server's `message`, else the body's start, else the reason phrase.
        message: String,
        /// What became of the config it left behind.
        stub: Stub,
    },
}

/// What a create whose worker could not be started left behind: qemu-server
/// `create_vm` writes the VM's config (`lock: create`) with
/// `create_and_lock_config` before `fork_worker`, and only the worker
/// removes it on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stub {
    /// No config was found under the VMID.
    None,
    /// The `lock: create` config was found and removed (root@pam, `skiplock`).
    Removed,
    /// The `lock: create` config is still there: removing a locked VM needs
    /// `skiplock`, which only root@pam may use (qemu-server `destroy_vm`:
    /// "Only root may use this option."); API tokens never may.
    Left,
    /// The config was found, but removing it failed.
    RemoveFailed,
}

fn stub_note(vmid: i64, node: &str, stub: Stub) -> String {
    match stub {
        Stub::None => format!(
            "; Proxmox VE could not start the task that creates VM {vmid}, and nothing was created"
        ),
        Stub::Removed => format!(
            "; Proxmox VE could not start the task that creates VM {vmid}; the empty config \
             (lock: create) it had already written on node {node} was removed"
        ),
        Stub::Left | Stub::RemoveFailed => format!(
            "; Proxmox VE could not start the task that creates VM {vmid}, but it had already \
             written an empty config locked `create` for VM {vmid} on node {node}, which is left \
             behind and keeps VMID {vmid} taken. Removing a locked VM needs `skiplock`, which only \
             root@pam may use (an API token never can): as root, run `qm destroy {vmid} \
             --skiplock 1` on {node}, or DELETE /nodes/{node}/qemu/{vmid}?skiplock=1 with a \
             root@pam ticket"
        ),
    }
}

fn fmt_errors(e: &BTreeMap<String, String>) -> String {
    if e.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = e
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.trim()))
        .collect();
    format!(" ({})", parts.join("; "))
}

fn fmt_log(log: &[String]) -> String {
    if log.is_empty() {
        return String::new();
    }
    format!("\ntask log (last lines):\n  {}", log.join("\n  "))
}

fn is_lock_text(m: &str) -> bool {
    let l = m.to_ascii_lowercase();
    l.contains("can't lock file") || l.contains("got timeout") || l.contains("vm is locked")
}

/// pve-common `PVE::RESTEnvironment::fork_worker`: "got no worker upid -
/// start worker failed", "starting worker failed: …", "got strange worker upid".
fn is_worker_start_text(m: &str) -> bool {
    let l = m.to_ascii_lowercase();
    l.contains("got no worker upid")
        || l.contains("starting worker failed")
        || l.contains("start worker failed")
}

impl ApiErrorKind for ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Transport(e) => e.api_kind(),
            ApiError::Auth { .. } => ErrorKind::Unauthorized,
            ApiError::Permission { .. } => ErrorKind::Forbidden,
            ApiError::NotFound { .. } => ErrorKind::NotFound,
            ApiError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            ApiError::Locked { .. } => ErrorKind::Locked,
            ApiError::Conflict { .. } => ErrorKind::Conflict,
            // "already exists" as a per-field error: a VMID or volume taken.
            ApiError::Param { errors, .. }
                if errors.values().any(|v| v.contains("already exists")) =>
            {
                ErrorKind::AlreadyExists
            }
            ApiError::Param { .. } => ErrorKind::Invalid,
            ApiError::Api { status, .. } => ErrorKind::from_status(*status),
            // A failed task's exit status says the same things an answer does.
            ApiError::Task { exitstatus, .. } if exitstatus.contains("already exists") => {
                ErrorKind::AlreadyExists
            }
            ApiError::Task { exitstatus, .. } if is_lock_text(exitstatus) => ErrorKind::Locked,
            ApiError::Task { .. } => ErrorKind::Other,
            ApiError::TaskTimeout { .. } => ErrorKind::Unfinished,
            ApiError::Cancelled { .. } => ErrorKind::Cancelled,
            ApiError::Decode { .. } => ErrorKind::Decode,
            ApiError::NoAnswer { .. } => ErrorKind::AnswerLost,
            ApiError::WorkerStartFailed { .. } => ErrorKind::Other,
        }
    }
}

impl ApiError {
    /// PVE could not start a worker ("got no worker upid"): nothing the
    /// worker would have done happened, but what the API handler did before
    /// forking did (a create's `lock: create` config).
    pub fn is_worker_start_failure(&self) -> bool {
        match self {
            ApiError::Api { message, .. } => is_worker_start_text(message),
            _ => false,
        }
    }
    /// Worth another attempt after a pause (`Client::retry_locked`).
    pub fn is_transient(&self) -> bool {
        self.is_locked() || self.is_worker_start_failure()
    }
    /// The answer was lost: the request may have been carried out.
    pub fn is_no_answer(&self) -> bool {
        matches!(self, ApiError::NoAnswer { .. } | ApiError::Transport(_))
    }
    /// [`ApiError::Conflict`]: the config changed since it was read. The
    /// same as [`ApiErrorKind::is_conflict`], for callers without the trait
    /// in scope.
    pub fn is_conflict(&self) -> bool {
        ApiErrorKind::is_conflict(self)
    }
    /// The wait was given up (stop requested or deadline passed); the
    /// operation may still complete on the server.
    pub fn is_abandoned(&self) -> bool {
        matches!(
            self,
            ApiError::Cancelled { .. } | ApiError::TaskTimeout { .. }
        )
    }
    /// The server's message, for matching.
    pub fn message(&self) -> String {
        match self {
            ApiError::NotFound { message, .. }
            | ApiError::AlreadyExists { message, .. }
            | ApiError::Locked { message, .. }
            | ApiError::Conflict { message, .. }
            | ApiError::Param { message, .. }
            | ApiError::Api { message, .. }
            | ApiError::Auth { message, .. }
            | ApiError::Permission { message, .. }
            | ApiError::NoAnswer { message, .. }
            | ApiError::WorkerStartFailed { message, .. } => message.clone(),
            ApiError::Task { exitstatus, .. } => exitstatus.clone(),
            ApiError::Transport(e) => e.what(),
            other => other.to_string(),
        }
    }
}

/// Sort an error answer into a kind.
pub(crate) fn classify(
    method: &str,
    path: &str,
    status: u16,
    message: String,
    errors: BTreeMap<String, String>,
) -> ApiError {
    let (method, path) = (method.to_string(), path.to_string());
    let lower = message.to_ascii_lowercase();
    match status {
        401 => ApiError::Auth {
            method,
            path,
            message,
        },
        403 => {
            // "Permission check failed (/vms/100, VM.Allocate)"
            let (acl_path, privilege) = message
                .split_once('(')
                .and_then(|(_, rest)| rest.rsplit_once(')'))
                .and_then(|(inner, _)| inner.split_once(','))
                .map(|(p, v)| (p.trim().to_string(), v.trim().to_string()))
                .unwrap_or_else(|| ("(not stated)".into(), "(not stated)".into()));
            ApiError::Permission {
                method,
                path,
                privilege,
                acl_path,
                message,
            }
        }
        404 => ApiError::NotFound {
            method,
            path,
            message,
        },
        400 => {
            let all = format!("{lower} {}", fmt_errors(&errors).to_ascii_lowercase());
            if all.contains("already exists") {
                ApiError::AlreadyExists {
                    method,
                    path,
                    message: format!("{message}{}", fmt_errors(&errors)),
                }
            } else {
                ApiError::Param {
                    method,
                    path,
                    message,
                    errors,
                }
            }
        }
        _ if lower.contains("checksum mismatch")
            || lower.contains("file changed by other user") =>
        {
            ApiError::Conflict {
                method,
                path,
                message,
            }
        }
        _ if lower.contains("does not exist")
            || lower.contains("no such vm")
            || lower.contains("no such resource")
            || lower.contains("no such file or directory") =>
        {
            ApiError::NotFound {
                method,
                path,
                message,
            }
        }
        _ if lower.contains("already exists") => ApiError::AlreadyExists {
            method,
            path,
            message,
        },
        _ if is_lock_text(&lower) => ApiError::Locked {
            method,
            path,
            message,
        },
        _ => ApiError::Api {
            method,
            path,
            status,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `classify` for an answer without per-parameter errors.
    fn plain(method: &str, path: &str, status: u16, message: &str) -> ApiError {
        classify(method, path, status, message.into(), BTreeMap::new())
    }

    #[test]
    fn classifies_pve_errors() {
        let e = plain(
            "GET",
            "/nodes/pve/qemu/100/config",
            500,
            "Configuration file 'nodes/pve/qemu-server/100.conf' does not exist",
        );
        assert!(e.is_not_found());
        let e = plain(
            "POST",
            "/x",
            500,
            "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout",
        );
        assert!(e.is_locked());
        let e = plain("PUT", "/x", 500, "VM is locked (clone)");
        assert!(e.is_locked());
        let e = plain(
            "PUT",
            "/x",
            500,
            "checksum mismatch (file change by other user?)",
        );
        assert!(e.is_conflict());
        let e = plain(
            "POST",
            "/x",
            500,
            "unable to create VM 100 - VM 100 already exists on node 'pve'",
        );
        assert!(e.is_already_exists());
        let e = classify(
            "GET",
            "/cluster/nextid",
            400,
            "Parameter verification failed.".into(),
            BTreeMap::from([("vmid".to_string(), "VM 100 already exists".to_string())]),
        );
        assert!(e.is_already_exists());
        let e = plain(
            "POST",
            "/nodes/pve/qemu",
            403,
            "Permission check failed (/vms/100, VM.Allocate)",
        );
        let s = e.to_string();
        assert!(s.contains("VM.Allocate") && s.contains("/vms/100"), "{s}");
    }

    #[test]
    fn errors_have_the_shared_kinds() {
        let kind = |status: u16, message: &str| plain("POST", "/x", status, message).kind();
        assert_eq!(kind(401, "authentication failure"), ErrorKind::Unauthorized);
        assert_eq!(
            kind(403, "Permission check failed (/vms/100, VM.Allocate)"),
            ErrorKind::Forbidden
        );
        assert_eq!(kind(500, "no such VM ('100')"), ErrorKind::NotFound);
        assert_eq!(
            kind(
                500,
                "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
            ),
            ErrorKind::Locked
        );
        assert_eq!(
            kind(500, "checksum mismatch (file change by other user?)"),
            ErrorKind::Conflict
        );
        assert_eq!(
            kind(500, "got no worker upid - start worker failed"),
            ErrorKind::Other
        );
        assert_eq!(kind(503, "Service Unavailable"), ErrorKind::Unavailable);
        let param = |field: &str, text: &str| {
            classify(
                "POST",
                "/x",
                400,
                "Parameter verification failed.".into(),
                BTreeMap::from([(field.to_string(), text.to_string())]),
            )
        };
        assert_eq!(
            param("memory", "value must be at least 16").kind(),
            ErrorKind::Invalid
        );
        let task = |exitstatus: &str| ApiError::Task {
            upid: "UPID:pve:1:2:3:qmcreate:100:root@pam:".into(),
            exitstatus: exitstatus.into(),
            log: Vec::new(),
        };
        assert!(
            task("unable to create VM 100 - VM 100 already exists on node 'pve'")
                .is_already_exists()
        );
        assert_eq!(
            task("command 'qm' failed: exit code 1").kind(),
            ErrorKind::Other
        );
        let timeout = ApiError::TaskTimeout {
            upid: "UPID:pve:1:2:3:qmclone:100:root@pam:".into(),
            waited: Duration::from_secs(1),
        };
        assert_eq!(timeout.kind(), ErrorKind::Unfinished);
        assert!(timeout.is_abandoned());
        let cancelled = ApiError::Cancelled { what: "x".into() };
        assert_eq!(cancelled.kind(), ErrorKind::Cancelled);
        let lost = ApiError::NoAnswer {
            method: "POST".into(),
            path: "/x".into(),
            message: "HTTP 596 Broken pipe".into(),
        };
        assert!(lost.is_answer_lost() && lost.is_no_answer());
        // A POST whose connection broke: its answer is lost, and the
        // message (for matching) leaves out the method and path.
        let broke = ApiError::Transport(Arc::new(HttpError::answer_lost("POST", "/x", "reset")));
        assert!(broke.is_answer_lost() && broke.is_no_answer());
        assert_eq!(broke.message(), "the answer was lost: reset");
        let read = ApiError::Transport(Arc::new(HttpError::answer_lost("GET", "/x", "reset")));
        assert_eq!(read.kind(), ErrorKind::Transport);
    }

    #[test]
    fn worker_start_failures_are_transient_but_not_locks() {
        let e = plain(
            "POST",
            "/x",
            500,
            "got no worker upid - start worker failed",
        );
        assert!(e.is_worker_start_failure() && e.is_transient() && !e.is_locked());
        let e = ApiError::WorkerStartFailed {
            node: "pve1".into(),
            vmid: 104,
            message: "got no worker upid - start worker failed".into(),
            stub: Stub::Left,
        };
        assert!(!e.is_transient());
        let s = e.to_string();
        assert!(
            s.contains("VM 104") && s.contains("skiplock") && s.contains("pve1"),
            "{s}"
        );
    }

    #[test]
    fn task_errors_carry_the_log() {
        let e = ApiError::Task {
            upid: "UPID:pve:1:2:3:qmclone:100:root@pam:".into(),
            exitstatus: "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout".into(),
            log: vec!["TASK ERROR: clone failed".into()],
        };
        assert!(e.is_locked());
        assert!(e.to_string().contains("TASK ERROR"));
    }
}
