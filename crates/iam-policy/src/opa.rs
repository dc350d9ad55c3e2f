//! [`OpaClient`]: a real OPA server's Data API (`POST /v1/data/{path}` with `{"input": ...}`).
//!
//! ```no_run
//! # async fn run(input: iam_policy::PolicyInput) -> Result<(), Box<dyn std::error::Error>> {
//! use iam_policy::{FailureMode, OpaClient, PolicyDecisionPoint};
//! use std::time::Duration;
//! let opa = OpaClient::new("http://127.0.0.1:8181", "iam/authz/decision")?
//!     .timeout(Duration::from_millis(200))
//!     .cache(10_000, Duration::from_secs(10))
//!     .on_failure(FailureMode::Unavailable);
//! let decision = opa.decide(&input).await?;
//! # Ok(()) }
//! ```
//!
//! The result at the path is read with [`Decision::from_result`]: a decision object or a
//! boolean. Defaults: 500 ms timeout for the whole call (connect included), 64 KiB answer
//! limit, a cache of 10,000 decisions for 5 s, failures answered as errors (a route guard
//! answers 503).
//!
//! ## Caveats
//! - Fail closed: OPA down, slow past the timeout, an answer that is not 200, not JSON, too
//!   large, or without a decision at the path (an undefined document: a wrong path or a policy
//!   that does not define the rule) is a [`PolicyError`], or with [`FailureMode::Deny`] a deny
//!   with reason `pdp_unavailable`; never an allow.
//! - The cache key is the SHA-256 of the exact JSON sent ([`PolicyInput::digest`]): one input's
//!   decision is never served for another, but a policy change on the server shows after the
//!   cache lifetime at the latest. Errors are never cached. Set the lifetime to zero to turn
//!   the cache off.
//! - The input goes over the network with the subject's claims: use TLS to a remote OPA
//!   (`https://` URL) and keep secrets out of claims.
use crate::decision::{BoxFuture, Decision, FailureMode, PolicyDecisionPoint, PolicyError};
use crate::input::{InputDigest, InputLimits, PolicyInput};
use crate::PolicyLoadError;
use std::time::{Duration, Instant};

const MAX_ANSWER: usize = 64 * 1024;

/// A client of OPA's Data API. See the [module docs](self).
pub struct OpaClient {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
    ttl: Duration,
    cache: quick_cache::sync::Cache<InputDigest, (Decision, Instant)>,
    limits: InputLimits,
    failure: FailureMode,
    version: Option<String>,
}

impl std::fmt::Debug for OpaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpaClient")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("ttl", &self.ttl)
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl OpaClient {
    /// A client of the OPA server at `base` (e.g. `http://127.0.0.1:8181`) asking for the
    /// document at `path` (e.g. `iam/authz/decision`, the package path with `/`).
    pub fn new(base: &str, path: &str) -> Result<Self, PolicyLoadError> {
        let base = base.trim_end_matches('/');
        let parsed: http::Uri = base
            .parse()
            .map_err(|_| PolicyLoadError::Opa("the OPA URL does not parse".into()))?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return Err(PolicyLoadError::Opa(
                "the OPA URL must be http(s)://host[:port]".into(),
            ));
        }
        let path = path.trim_matches('/');
        if path.is_empty()
            || !path.split('/').all(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
        {
            return Err(PolicyLoadError::Opa(
                "the decision path must be package segments such as iam/authz/decision".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PolicyLoadError::Opa(e.to_string()))?;
        Ok(Self {
            http,
            url: format!("{base}/v1/data/{path}"),
            timeout: Duration::from_millis(500),
            ttl: Duration::from_secs(5),
            cache: quick_cache::sync::Cache::new(10_000),
            limits: InputLimits::default(),
            failure: FailureMode::default(),
            version: None,
        })
    }
    /// The time limit of one call, connect included (default 500 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Keep up to `capacity` decisions for `ttl` each (default 10,000 for 5 s; a zero `ttl`
    /// turns the cache off).
    pub fn cache(mut self, capacity: usize, ttl: Duration) -> Self {
        self.cache = quick_cache::sync::Cache::new(capacity.max(1));
        self.ttl = ttl;
        self
    }
    /// What to answer when OPA cannot decide (default: the error, so 503).
    pub fn on_failure(mut self, mode: FailureMode) -> Self {
        self.failure = mode;
        self
    }
    /// Input limits (default [`InputLimits::default`]); past them the input is denied without
    /// a call.
    pub fn limits(mut self, limits: InputLimits) -> Self {
        self.limits = limits;
        self
    }
    /// The label the decision log shows for this server's policy (e.g. a bundle revision).
    pub fn policy_version_label(mut self, label: impl Into<String>) -> Self {
        self.version = Some(label.into());
        self
    }
    /// The URL decisions are asked at.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// Decisions in the cache now.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Ask OPA (or the cache).
    pub async fn evaluate(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        if let Err(rejected) = input.check(&self.limits) {
            return Ok(Decision::deny([rejected.reason()]));
        }
        let body = format!("{{\"input\":{}}}", input.to_json_string());
        let digest = InputDigest::of_json(body.as_bytes());
        if !self.ttl.is_zero() {
            if let Some((decision, at)) = self.cache.get(&digest) {
                if at.elapsed() < self.ttl {
                    return Ok(decision);
                }
            }
        }
        let answer = tokio::time::timeout(self.timeout, self.call(body)).await;
        let result = match answer {
            Ok(result) => result,
            Err(_) => Err(PolicyError::Unavailable(
                "OPA did not answer in time".into(),
            )),
        };
        if let (Ok(decision), false) = (&result, self.ttl.is_zero()) {
            self.cache
                .insert(digest, (decision.clone(), Instant::now()));
        }
        self.failure.apply(result)
    }

    async fn call(&self, body: String) -> Result<Decision, PolicyError> {
        let mut res = self
            .http
            .post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                PolicyError::Unavailable(if e.is_connect() {
                    "cannot connect to OPA".into()
                } else {
                    "the call to OPA failed".into()
                })
            })?;
        let status = res.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|_| PolicyError::Unavailable("OPA's answer was cut off".into()))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(PolicyError::InvalidAnswer(
                    "OPA's answer is too large".into(),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(PolicyError::InvalidAnswer(
                format!("OPA answered {}", status.as_u16()).into(),
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| PolicyError::InvalidAnswer("OPA's answer is not JSON".into()))?;
        let Some(result) = value.get("result") else {
            return Err(PolicyError::InvalidAnswer(
                "OPA has no document at the decision path".into(),
            ));
        };
        Decision::from_result(result)
    }
}

impl PolicyDecisionPoint for OpaClient {
    fn decide<'a>(
        &'a self,
        input: &'a PolicyInput,
    ) -> BoxFuture<'a, Result<Decision, PolicyError>> {
        Box::pin(self.evaluate(input))
    }
    fn policy_version(&self) -> Option<String> {
        self.version.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_or_path_is_refused() {
        for (base, path) in [
            ("ftp://opa:8181", "iam/authz"),
            ("not a url", "iam/authz"),
            ("http://opa:8181", ""),
            ("http://opa:8181", "iam/../secret"),
            ("http://opa:8181", "iam/authz?x=1"),
        ] {
            assert!(
                matches!(OpaClient::new(base, path), Err(PolicyLoadError::Opa(_))),
                "{base} {path}"
            );
        }
        let ok = OpaClient::new("http://127.0.0.1:8181/", "/iam/authz/decision").unwrap();
        assert_eq!(ok.url(), "http://127.0.0.1:8181/v1/data/iam/authz/decision");
    }
}
