//! Admission checks around the pipeline: where a rate limiter (or any other budget) plugs
//! into [`AccessEngine`](crate::engine::AccessEngine).
//!
//! The engine asks an [`Admission`] three times per request, each time with what it knows by
//! then:
//! 1. [`Admission::before_matching`]: the client address (trusted forwarding applied, so a
//!    client behind no trusted proxy cannot pick its own), before any rule work;
//! 2. [`Admission::before_pipeline`]: the matched rule's id and the canonical URL, before any
//!    authenticator runs (the place for a stricter budget on login or token endpoints);
//! 3. [`Admission::after_authentication`]: the session the authenticators built, before the
//!    authorizer and the mutators (the place for a per-user budget).
//!
//! A [`Refusal`] becomes a `429 Too Many Requests` with `Retry-After` (whole seconds, at
//! least 1) and Oathkeeper's JSON error body, on the proxy port and on `/decisions` alike.
//!
//! ```
//! use iam_proxy::admission::{Admission, AdmissionFuture, ClientFacts, Refusal};
//! use std::time::Duration;
//! #[derive(Debug)]
//! struct NoOneFrom203;
//! impl Admission for NoOneFrom203 {
//!     fn before_matching<'a>(&'a self, c: &'a ClientFacts) -> AdmissionFuture<'a> {
//!         let blocked = c.client_ip.to_string().starts_with("203.");
//!         Box::pin(async move {
//!             if blocked { Err(Refusal::new("client_ip", Duration::from_millis(1500))) } else { Ok(()) }
//!         })
//!     }
//! }
//! let res = Refusal::new("client_ip", Duration::from_millis(1500)).into_response();
//! assert_eq!(res.status(), 429);
//! assert_eq!(res.headers()["retry-after"], "2");
//! ```
//!
//! # Caveats
//! - The hooks run on every request: keep them cheap and never let one wait long on a
//!   remote store (a limiter should decide in process when its store is slow or down).
//! - A request refused by a hook gets the 429 directly: the rule's error handlers (`json`,
//!   `redirect`, `www_authenticate`) are not consulted, since none of them knows that status.
use crate::pipeline::{ErrorResponse, Session};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, StatusCode};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

/// What an admission hook answers.
pub type AdmissionFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send + 'a>>;

/// What is known of a request before matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientFacts {
    /// The client's address (the TCP peer, or what trusted proxies told).
    pub client_ip: IpAddr,
}

/// What is known once a rule matched.
#[derive(Debug, Clone, Copy)]
pub struct RuleFacts<'a> {
    /// The client's address.
    pub client_ip: IpAddr,
    /// The matched rule's id.
    pub rule_id: &'a str,
    /// The method asked about.
    pub method: &'a Method,
    /// The canonical URL the rule matched (`scheme://host/path`, no query).
    pub url: &'a str,
}

/// A request refused for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    tier: &'static str,
    retry_after: Duration,
}

impl Refusal {
    /// Refused by `tier` (a short name for logs and metrics); retry after `retry_after`.
    pub fn new(tier: &'static str, retry_after: Duration) -> Self {
        Self { tier, retry_after }
    }

    /// The tier that refused.
    pub fn tier(&self) -> &'static str {
        self.tier
    }

    /// When the client may retry.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// `429 Too Many Requests`, `Retry-After` in whole seconds (rounded up, at least 1) and
    /// Oathkeeper's JSON error body.
    pub fn into_response(self) -> ErrorResponse {
        let status = StatusCode::TOO_MANY_REQUESTS;
        let body = serde_json::json!({"error": {
            "code": status.as_u16(),
            "status": status.canonical_reason().unwrap_or_default(),
            "message": "Rate limit exceeded",
        }});
        let mut res = http::Response::new(body.to_string());
        *res.status_mut() = status;
        let secs = self
            .retry_after
            .as_secs()
            .saturating_add(u64::from(self.retry_after.subsec_nanos() > 0))
            .max(1);
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
        res.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        res
    }
}

/// Checks the engine runs around the pipeline (each defaults to "admit").
pub trait Admission: std::fmt::Debug + Send + Sync + 'static {
    /// Before matching, with the client address only.
    fn before_matching<'a>(&'a self, client: &'a ClientFacts) -> AdmissionFuture<'a> {
        let _ = client;
        Box::pin(std::future::ready(Ok(())))
    }

    /// After matching, before the authenticators.
    fn before_pipeline<'a>(&'a self, rule: &'a RuleFacts<'a>) -> AdmissionFuture<'a> {
        let _ = rule;
        Box::pin(std::future::ready(Ok(())))
    }

    /// After authentication, before the authorizer and the mutators. `session.principal` is
    /// `None` for `noop` and `anonymous`.
    fn after_authentication<'a>(
        &'a self,
        rule: &'a RuleFacts<'a>,
        session: &'a Session,
    ) -> AdmissionFuture<'a> {
        let _ = (rule, session);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        let secs = |d| Refusal::new("t", d).into_response().headers()[RETRY_AFTER].clone();
        assert_eq!(secs(Duration::ZERO), "1");
        assert_eq!(secs(Duration::from_millis(10)), "1");
        assert_eq!(secs(Duration::from_secs(2)), "2");
        assert_eq!(secs(Duration::from_millis(2001)), "3");
    }
}
