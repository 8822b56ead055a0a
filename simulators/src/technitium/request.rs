//! One API request as the Technitium simulator's operations see it: its
//! parameters, who sent it, the permission each endpoint needs, and what an
//! operation answers. Shared by the HTTP glue (`api`) and the operations
//! (`ops`), so that neither imports the other's internals both ways.

use serde_json::{Map, Value};

/// What a session may do in the Zones section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Role {
    pub(crate) view: bool,
    pub(crate) modify: bool,
    pub(crate) delete: bool,
}

impl Role {
    pub(crate) const ADMIN: Role = Role {
        view: true,
        modify: true,
        delete: true,
    };
    pub(crate) const READ_ONLY: Role = Role {
        view: true,
        modify: false,
        delete: false,
    };
    pub(crate) const NO_DELETE: Role = Role {
        view: true,
        modify: true,
        delete: false,
    };
}

/// A login session or API token.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) username: String,
    pub(crate) role: Role,
    pub(crate) token_name: Option<String>,
}

/// Request parameters: query string first, then form body.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pub(crate) query: Vec<(String, String)>,
    pub(crate) form: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            query: Vec::new(),
            form: pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }

    /// The raw value of a parameter, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(self.form.iter())
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A present, non-empty value.
    pub(crate) fn opt(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// A required value: "Parameter 'x' missing." otherwise.
    pub(crate) fn req(&self, name: &str) -> Result<&str, ApiError> {
        self.opt(name)
            .ok_or_else(|| ApiError::error(format!("Parameter '{name}' missing.")))
    }

    pub(crate) fn bool_or(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.opt(name) {
            None => Ok(default),
            Some(v) => parse_bool(v),
        }
    }

    pub(crate) fn num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<T>().map(Some).map_err(|_| {
                ApiError::error(format!(
                    "The value '{v}' is not valid for parameter '{name}'."
                ))
            }),
        }
    }

    pub(crate) fn req_num<T: std::str::FromStr>(&self, name: &str) -> Result<T, ApiError> {
        self.req(name)?;
        self.num(name)?
            .ok_or_else(|| ApiError::error(format!("Parameter '{name}' missing.")))
    }

    pub(crate) fn query_has(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn form_has(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// .NET `bool.Parse`: "true"/"false", case-insensitive.
pub(crate) fn parse_bool(v: &str) -> Result<bool, ApiError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::error(format!(
            "String '{v}' was not recognized as a valid Boolean."
        ))),
    }
}

/// An API failure, rendered as HTTP 200 with a non-`ok` status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// `status: "error"`.
    Error(String),
    /// `status: "invalid-token"`.
    InvalidToken(String),
}

impl ApiError {
    pub(crate) fn error(msg: impl Into<String>) -> Self {
        ApiError::Error(msg.into())
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            ApiError::Error(m) | ApiError::InvalidToken(m) => m,
        }
    }
}

/// What an operation answers on success.
#[derive(Debug)]
pub(crate) enum Reply {
    /// `{"response": value, "status": "ok"}`.
    Response(Value),
    /// Fields at the top level next to `status` (login, createToken).
    Flat(Map<String, Value>),
    /// Just `{"status": "ok"}`.
    Empty,
}

/// A permission level of Technitium's access model (`View`, `Modify`,
/// `Delete`), or `None` (no permission needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    None,
    View,
    Modify,
    Delete,
}

/// What an endpoint needs. For the Zones API these are the two
/// `PERMISSIONS:` lines of APIDOCS.md: one on the Zones section, one on the
/// zone itself. A simulated token has one role for the section and every
/// zone, so the stricter of the two decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Perm {
    /// No session needed (login).
    None,
    /// Any valid session.
    Session,
    /// `Zones: <section>`, `Zone: <zone>`.
    Zones { section: Level, zone: Level },
}

impl Perm {
    pub(crate) const fn zones(section: Level, zone: Level) -> Perm {
        Perm::Zones { section, zone }
    }
}

/// One authenticated call.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) params: Params,
    pub(crate) session: Option<Session>,
    pub(crate) token: Option<String>,
}
