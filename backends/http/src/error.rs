//! One shape for API errors: [`HttpError`] (no usable answer, with its
//! source error kept and a [`HttpErrorKind`]), and one classification of
//! every backend client's own error type ([`ErrorKind`], [`ApiErrorKind`]).

use std::fmt;

/// A boxed error a client made itself (e.g. "HTTP 502 from a gateway").
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong with a request that got no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpErrorKind {
    /// The connection could not be made (DNS, refused, TLS handshake,
    /// connect timeout): the request was never sent.
    Connect,
    /// No answer came in time: the request may have been carried out.
    Timeout,
    /// The connection was reset or closed after the request was sent, or a
    /// gateway answered in the server's place: the request may have been
    /// carried out.
    AnswerLost,
    /// The status came but the body could not be read: the request was
    /// received, and may have been carried out.
    Body,
    /// The request could not be built or sent (e.g. an invalid header):
    /// nothing was sent.
    Request,
}

impl HttpErrorKind {
    /// Whether the server may have received (and carried out) the request.
    pub fn may_have_been_handled(self) -> bool {
        matches!(self, Self::Timeout | Self::AnswerLost | Self::Body)
    }

    fn phrase(self) -> &'static str {
        match self {
            Self::Connect => "could not connect",
            Self::Timeout => "timed out waiting for the answer",
            Self::AnswerLost => "the answer was lost",
            Self::Body => "reading the answer failed",
            Self::Request => "the request could not be sent",
        }
    }
}

/// Why a request did not get a usable answer (after the retries its caller
/// allows). It keeps its source error (a `reqwest::Error` stripped of its
/// URL, or an error the client made itself), and its text names the method
/// and path, never the URL (which may carry credentials).
#[derive(Debug)]
pub struct HttpError {
    kind: HttpErrorKind,
    method: String,
    path: String,
    source: BoxError,
}

impl HttpError {
    /// A failed `send` (or body read), sorted by what reqwest says happened.
    /// The error is kept without its URL.
    pub fn from_reqwest(method: &str, path: &str, e: reqwest::Error) -> Self {
        let kind = if e.is_builder() {
            HttpErrorKind::Request
        } else if e.is_connect() {
            // Checked before the timeout: a connect timeout sent nothing.
            HttpErrorKind::Connect
        } else if e.is_timeout() {
            HttpErrorKind::Timeout
        } else if e.is_body() || e.is_decode() {
            HttpErrorKind::Body
        } else {
            HttpErrorKind::AnswerLost
        };
        Self::new(kind, method, path, Box::new(e.without_url()))
    }

    /// The answer's status came, but reading its body failed.
    pub fn body(method: &str, path: &str, e: reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            HttpErrorKind::Timeout
        } else {
            HttpErrorKind::Body
        };
        Self::new(kind, method, path, Box::new(e.without_url()))
    }

    /// The request may have been carried out but its answer is lost, for a
    /// reason the client found itself (e.g. a gateway's 502 in front of the
    /// server): `detail` says what happened.
    pub fn answer_lost(method: &str, path: &str, detail: impl Into<BoxError>) -> Self {
        Self::new(HttpErrorKind::AnswerLost, method, path, detail.into())
    }

    /// An error of any kind, with its cause.
    pub fn new(kind: HttpErrorKind, method: &str, path: &str, source: BoxError) -> Self {
        Self {
            kind,
            method: method.to_string(),
            path: path.to_string(),
            source,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> HttpErrorKind {
        self.kind
    }

    /// The request's method, e.g. `POST`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request's path (never the whole URL).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The reqwest error behind it, if it came from reqwest.
    pub fn reqwest_error(&self) -> Option<&reqwest::Error> {
        self.source.downcast_ref()
    }

    /// Whether the request was surely never sent (nothing can have happened).
    pub fn was_not_sent(&self) -> bool {
        !self.kind.may_have_been_handled()
    }

    /// The API classification: [`ErrorKind::AnswerLost`] when a request
    /// that changes something may have been carried out, else
    /// [`ErrorKind::Transport`] (a read that failed has no effect to find out).
    pub fn api_kind(&self) -> ErrorKind {
        if self.kind.may_have_been_handled() && !is_safe(&self.method) {
            ErrorKind::AnswerLost
        } else {
            ErrorKind::Transport
        }
    }

    /// What happened, with its causes, without the method and path (nor the
    /// note that the request may have been carried out, which the text adds).
    pub fn what(&self) -> String {
        let mut s = self.kind.phrase().to_string();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&*self.source);
        while let Some(e) = next {
            let text = e.to_string();
            if !text.is_empty() && !s.contains(&text) {
                s.push_str(": ");
                s.push_str(&text);
            }
            next = e.source();
        }
        s
    }
}

/// A method that changes nothing on the server (RFC 9110 §9.2.1).
fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.method, self.path, self.what())?;
        if self.kind.may_have_been_handled() && !is_safe(&self.method) {
            f.write_str("; the request may or may not have been carried out")?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// What an API error means, the same for every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object does not exist (or no longer does).
    NotFound,
    /// An object with that identity exists already.
    AlreadyExists,
    /// The object changed since it was read (a digest or revision mismatch).
    Conflict,
    /// The object is locked by another operation; worth retrying later.
    Locked,
    /// The credentials were refused (wrong, expired).
    Unauthorized,
    /// The credentials are valid but lack a permission.
    Forbidden,
    /// Too many requests (after the retries).
    RateLimited,
    /// The server refused the request's content (a value, a parameter).
    Invalid,
    /// The server (or a gateway in front of it) is unavailable.
    Unavailable,
    /// No answer, and nothing to find out: the request was never sent, or
    /// it only read.
    Transport,
    /// A request that changes something may have been carried out, but its
    /// answer is lost: find out before sending it again.
    AnswerLost,
    /// An answer the client could not read (not the documented shape).
    Decode,
    /// Terraform asked the provider to stop while waiting.
    Cancelled,
    /// A wait for the server's work gave up at its deadline; the work may
    /// still complete.
    Unfinished,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The kind an HTTP error status means by itself (RFC 9110 §15), for
    /// answers the vendor's body says nothing more precise about.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 422 => Self::Invalid,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 | 410 => Self::NotFound,
            409 | 412 => Self::Conflict,
            423 => Self::Locked,
            429 => Self::RateLimited,
            502..=504 => Self::Unavailable,
            _ => Self::Other,
        }
    }
}

/// Implemented by every backend client's error type: one classification,
/// whatever the vendor's way of saying it.
pub trait ApiErrorKind: std::error::Error {
    /// What the error means.
    fn kind(&self) -> ErrorKind;

    /// [`ErrorKind::NotFound`].
    fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }
    /// [`ErrorKind::AlreadyExists`].
    fn is_already_exists(&self) -> bool {
        self.kind() == ErrorKind::AlreadyExists
    }
    /// [`ErrorKind::Conflict`].
    fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }
    /// [`ErrorKind::Locked`].
    fn is_locked(&self) -> bool {
        self.kind() == ErrorKind::Locked
    }
    /// [`ErrorKind::Unauthorized`].
    fn is_unauthorized(&self) -> bool {
        self.kind() == ErrorKind::Unauthorized
    }
    /// [`ErrorKind::Forbidden`].
    fn is_forbidden(&self) -> bool {
        self.kind() == ErrorKind::Forbidden
    }
    /// [`ErrorKind::RateLimited`].
    fn is_rate_limited(&self) -> bool {
        self.kind() == ErrorKind::RateLimited
    }
    /// [`ErrorKind::AnswerLost`].
    fn is_answer_lost(&self) -> bool {
        self.kind() == ErrorKind::AnswerLost
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn answer_lost_keeps_its_detail_as_the_source_and_says_what_happened() {
        let e = HttpError::answer_lost("POST", "/api/x", "HTTP 502 from a gateway");
        assert_eq!(e.kind(), HttpErrorKind::AnswerLost);
        assert_eq!(e.api_kind(), ErrorKind::AnswerLost);
        assert!(!e.was_not_sent());
        assert_eq!(e.source().unwrap().to_string(), "HTTP 502 from a gateway");
        assert_eq!(
            e.to_string(),
            "POST /api/x: the answer was lost: HTTP 502 from a gateway; the request may or may \
             not have been carried out"
        );
        assert!(e.reqwest_error().is_none());
        // A lost read has nothing to find out.
        let e = HttpError::answer_lost("GET", "/api/x", "gone");
        assert_eq!(e.api_kind(), ErrorKind::Transport);
        assert_eq!(e.to_string(), "GET /api/x: the answer was lost: gone");
    }

    #[test]
    fn statuses_have_their_rfc_meaning() {
        assert_eq!(ErrorKind::from_status(404), ErrorKind::NotFound);
        assert_eq!(ErrorKind::from_status(409), ErrorKind::Conflict);
        assert_eq!(ErrorKind::from_status(429), ErrorKind::RateLimited);
        assert_eq!(ErrorKind::from_status(503), ErrorKind::Unavailable);
        assert_eq!(ErrorKind::from_status(500), ErrorKind::Other);
    }
}
