//! JSON error answers: `{"error": code, "error_description": text}`, the OAuth 2.0 shape the
//! middleware already uses (RFC 6749 §5.2, RFC 6750 §3), so a client reads one error format
//! from every part of the suite.
//!
//! ```
//! use iam_service::Problem;
//! let p = Problem::bad_request("tenant must not be empty");
//! assert_eq!(p.status(), http::StatusCode::BAD_REQUEST);
//! ```
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{HeaderValue, StatusCode};
use std::borrow::Cow;
use std::time::Duration;

/// An error answer. The description is shown to the client: never put a token, password or
/// secret in it.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    error: &'static str,
    description: Cow<'static, str>,
    retry_after: Option<Duration>,
}

impl Problem {
    /// Any status with an error code and a description.
    pub fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn bad_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 401 `invalid_token` with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
    }

    /// 403 `forbidden`.
    pub fn forbidden(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", description)
    }

    /// 404 `not_found`.
    pub fn not_found(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// 429 `rate_limited` with `Retry-After`.
    pub fn too_many_requests(retry_after: Duration) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; retry later",
        )
        .retry_after(retry_after)
    }

    /// 503 `temporarily_unavailable` (a dependency is down: refused, never let through).
    pub fn unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            description,
        )
    }

    /// Add `Retry-After` (whole seconds, at least 1).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    pub fn error(&self) -> &'static str {
        self.error
    }

    /// A body axum's `Json` extractor refused: 413 when too large, 415 when not JSON, 400
    /// otherwise (with axum's description, which names the JSON error, not the body).
    pub fn from_json_rejection(e: &axum::extract::rejection::JsonRejection) -> Self {
        let status = match e.status() {
            s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => s,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, "invalid_request", e.body_text())
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.error,
            self.description
        )
    }
}

impl std::error::Error for Problem {}

impl From<axum::extract::rejection::JsonRejection> for Problem {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::from_json_rejection(&e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(serde_json::json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            res.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limited_answer_carries_retry_after_rounded_up() {
        let res = Problem::too_many_requests(Duration::from_millis(1500)).into_response();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()[http::header::RETRY_AFTER], "2");
        let res = Problem::unauthorized("no").into_response();
        assert_eq!(res.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
    }
}
