//! Credentials that never print: [`Secret`] shows as `***` in `{:?}` and has
//! no `Display`, so a token, password, ticket or session can only reach
//! text through an explicit [`Secret::expose`].

use serde::Deserialize;

/// A token, password, ticket or session.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How a backend client authenticates (Proxmox VE, Technitium).
#[derive(Debug, Clone)]
pub enum Auth {
    /// An API token (Proxmox VE: `user@realm!tokenid=secret`).
    Token(Secret),
    /// Log in with a user name and password (a ticket or session).
    Login {
        /// The user, e.g. `root@pam`.
        username: String,
        /// The password.
        password: Secret,
    },
}

impl Auth {
    /// A token if there is one, else a login when both a user name and a
    /// password are given; `None` when neither is complete.
    pub fn token_or_login(
        token: Option<String>,
        username: Option<String>,
        password: Option<String>,
    ) -> Option<Auth> {
        match (token, username, password) {
            (Some(t), _, _) => Some(Auth::Token(t.into())),
            (None, Some(username), Some(p)) => Some(Auth::Login {
                username,
                password: p.into(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_wins_over_a_login_and_half_a_login_is_none() {
        let s = |v: &str| Some(v.to_string());
        assert!(matches!(
            Auth::token_or_login(s("t"), s("u"), s("p")),
            Some(Auth::Token(t)) if t.expose() == "t"
        ));
        assert!(matches!(
            Auth::token_or_login(None, s("u"), s("p")),
            Some(Auth::Login { username, password }) if username == "u" && password.expose() == "p"
        ));
        assert!(Auth::token_or_login(None, s("u"), None).is_none());
        assert!(Auth::token_or_login(None, None, None).is_none());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        let a = Auth::Login {
            username: "root@pam".into(),
            password: "hunter2".into(),
        };
        let text = format!("{a:?}");
        assert!(
            !text.contains("hunter2") && text.contains("root@pam"),
            "{text}"
        );
        assert_eq!(s.expose(), "hunter2");
    }
}
