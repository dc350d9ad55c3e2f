//! The one error type of the Hydra admin API.
use crate::transport::{HttpError, TransportPolicyError};
use serde_json::Value;
use std::fmt;

/// The longest `error`, `error_description` or `error_hint` kept from Hydra's answer; the
/// rest is cut (an answer is read into memory bounded, but a message need not be kept whole).
const MAX_TEXT: usize = 512;

/// Hydra refused a call: its `{error, error_description, error_hint, status_code}` answer
/// (or, for the few endpoints that answer Ory's generic error, its `message` and `reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HydraApiError {
    status: u16,
    error: String,
    description: Option<String>,
    hint: Option<String>,
}

impl HydraApiError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// The OAuth2 error code (`invalid_request`, `not_found`, ...), or the HTTP reason phrase
    /// when Hydra gave none.
    pub fn error(&self) -> &str {
        &self.error
    }
    /// `error_description` (or the generic error's `reason`/`message`).
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// `error_hint`.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Read an error answer of any shape Hydra uses; never fails.
    pub(crate) fn from_answer(status: u16, body: &[u8]) -> Self {
        let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(cut);
        let (error, description, hint) = match doc.get("error") {
            // errorOAuth2
            Some(Value::String(_)) => (
                text(doc.get("error")),
                text(doc.get("error_description")),
                text(doc.get("error_hint")),
            ),
            // genericError, wrapped as {"error": {...}}
            Some(inner @ Value::Object(_)) => (
                text(inner.get("status")),
                text(inner.get("reason")).or_else(|| text(inner.get("message"))),
                None,
            ),
            _ => (None, None, None),
        };
        let error = error.unwrap_or_else(|| {
            http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error")
                .to_ascii_lowercase()
                .replace(' ', "_")
        });
        Self {
            status,
            error,
            description,
            hint,
        }
    }
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl fmt::Display for HydraApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hydra answered {} {}", self.status, self.error)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// A call to Hydra's admin API failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HydraError {
    /// The admin URL is not an absolute http(s) URL.
    #[error("invalid Hydra admin URL")]
    InvalidUrl,
    /// The admin URL is refused by the HTTP client's transport policy.
    #[error(transparent)]
    Insecure(#[from] TransportPolicyError),
    /// Hydra could not be reached (connection, timeout, oversized answer).
    #[error("Hydra admin API unreachable: {0}")]
    Unavailable(#[from] HttpError),
    /// Hydra refused the call (see [`HydraApiError`]).
    #[error("{0}")]
    Api(HydraApiError),
    /// Hydra answered with a body that is not what its API describes.
    #[error("Hydra's answer does not parse: {0}")]
    InvalidResponse(&'static str),
    /// An argument cannot be sent (an empty challenge or id).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

impl HydraError {
    /// Hydra's refusal, when it refused.
    pub fn api(&self) -> Option<&HydraApiError> {
        match self {
            HydraError::Api(e) => Some(e),
            _ => None,
        }
    }
    /// The HTTP status Hydra answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        self.api().map(HydraApiError::status)
    }
    /// True when Hydra answered 404 (no such client, key set, challenge or session).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth2_errors_keep_code_description_and_hint() {
        let e = HydraApiError::from_answer(
            400,
            br#"{"error":"invalid_request","error_description":"The request is missing a parameter.","error_hint":"login_challenge is empty","status_code":400}"#,
        );
        assert_eq!(e.status(), 400);
        assert_eq!(e.error(), "invalid_request");
        assert_eq!(e.description(), Some("The request is missing a parameter."));
        assert_eq!(e.hint(), Some("login_challenge is empty"));
        assert_eq!(
            e.to_string(),
            "Hydra answered 400 invalid_request: The request is missing a parameter. (login_challenge is empty)"
        );
    }

    #[test]
    fn generic_errors_and_garbage_still_name_the_status() {
        let e = HydraApiError::from_answer(
            404,
            br#"{"error":{"code":404,"status":"Not Found","message":"Unable to locate the resource"}}"#,
        );
        assert_eq!(e.error(), "Not Found");
        assert_eq!(e.description(), Some("Unable to locate the resource"));
        let e = HydraApiError::from_answer(502, b"<html>bad gateway</html>");
        assert_eq!(e.error(), "bad_gateway");
        assert_eq!(e.description(), None);
        let e = HydraApiError::from_answer(500, br#"{"error":12,"error_description":[1]}"#);
        assert_eq!(e.error(), "internal_server_error");
    }

    #[test]
    fn a_huge_description_is_cut_on_a_character_boundary() {
        let long = "é".repeat(10_000);
        let body = serde_json::json!({"error": "x", "error_description": long}).to_string();
        let e = HydraApiError::from_answer(400, body.as_bytes());
        let d = e.description().unwrap();
        assert!(d.len() <= MAX_TEXT + 3, "{}", d.len());
        assert!(d.ends_with('…'));
    }
}
