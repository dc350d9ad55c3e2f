//! [`DecisionLog`]: every decision as one structured line.
//!
//! A decision point wrapped in a `DecisionLog` decides as before and emits, per decision, a
//! JSON record: the input's digest, the result (`allow`, `reasons`, or the error), the
//! policy version, the latency in microseconds and the input itself with the claims the
//! config names replaced by `"<redacted>"`. By default the record goes to `tracing` (target
//! `iam_policy::decision`, level INFO, field `decision`); [`DecisionLog::sink`] sends it
//! anywhere else.
//!
//! ```
//! use iam_policy::{DecisionLog, PolicyDecisionPoint, PolicyInput, Rbac, Resource, Subject};
//! use std::sync::{Arc, Mutex};
//! let lines = Arc::new(Mutex::new(Vec::new()));
//! let seen = lines.clone();
//! let pdp = DecisionLog::new(Rbac::new().role("viewer", ["documents:read"]))
//!     .redact_claims(["email"])
//!     .sink(move |line| seen.lock().unwrap().push(line.clone()));
//! let subject: Subject = serde_json::from_value(serde_json::json!(
//!     {"id": "u1", "kind": "user_session", "roles": ["viewer"], "claims": {"email": "a@example.com"}})).unwrap();
//! let input = PolicyInput::from_subject(subject, "documents:read", Resource::new("documents"));
//! let decision = futures_executor::block_on(pdp.decide(&input)).unwrap();
//! let line = &lines.lock().unwrap()[0];
//! assert_eq!(line["allow"], true);
//! assert_eq!(line["input"]["subject"]["claims"]["email"], "<redacted>");
//! assert_eq!(line["input_digest"], input.digest().to_string());
//! ```
//!
//! ## Caveats
//! - The record holds resource attributes and unredacted claims as they are: name every
//!   claim that could carry personal data or a secret, or wrap a decision point whose inputs
//!   carry none.
//! - An input refused by the [`InputLimits`] is logged without its body
//!   (`"input": null`), only its digest.
use crate::decision::{BoxFuture, Decision, PolicyDecisionPoint, PolicyError};
use crate::input::{InputLimits, PolicyInput};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

type Sink = Arc<dyn Fn(&Value) + Send + Sync>;

/// A decision point that logs every decision. See the [module docs](self).
pub struct DecisionLog<P> {
    inner: P,
    redact: HashSet<String>,
    sink: Sink,
}

impl<P> std::fmt::Debug for DecisionLog<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("redact", &self.redact)
            .finish_non_exhaustive()
    }
}

impl<P: PolicyDecisionPoint> DecisionLog<P> {
    /// Log the decisions of `inner` to `tracing`.
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            redact: HashSet::new(),
            sink: Arc::new(|line: &Value| {
                tracing::info!(target: "iam_policy::decision", decision = %line);
            }),
        }
    }
    /// Replace these claims of the subject by `"<redacted>"` in the record.
    pub fn redact_claims<I: IntoIterator<Item = S>, S: Into<String>>(mut self, claims: I) -> Self {
        self.redact.extend(claims.into_iter().map(Into::into));
        self
    }
    /// Send records here instead of `tracing`.
    pub fn sink(mut self, sink: impl Fn(&Value) + Send + Sync + 'static) -> Self {
        self.sink = Arc::new(sink);
        self
    }

    /// The record of one decision.
    pub fn record(
        &self,
        input: &PolicyInput,
        result: &Result<Decision, PolicyError>,
        latency_us: u64,
    ) -> Value {
        let body = if input.check(&InputLimits::default()).is_ok() {
            let mut body = input.to_json();
            if let Some(Value::Object(claims)) = body.pointer_mut("/subject/claims") {
                for (name, value) in claims.iter_mut() {
                    if self.redact.contains(name) {
                        *value = Value::String("<redacted>".into());
                    }
                }
            }
            body
        } else {
            Value::Null
        };
        let mut line = json!({
            "input_digest": input.digest().to_string(),
            "policy_version": self.inner.policy_version(),
            "latency_us": latency_us,
            "input": body,
        });
        match result {
            Ok(d) => {
                line["allow"] = d.allow.into();
                line["reasons"] = json!(d.reasons);
            }
            Err(e) => {
                line["allow"] = false.into();
                line["error"] = e.to_string().into();
            }
        }
        line
    }
}

impl<P: PolicyDecisionPoint> PolicyDecisionPoint for DecisionLog<P> {
    fn decide<'a>(
        &'a self,
        input: &'a PolicyInput,
    ) -> BoxFuture<'a, Result<Decision, PolicyError>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.inner.decide(input).await;
            let latency = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            (self.sink)(&self.record(input, &result, latency));
            result
        })
    }
    fn policy_version(&self) -> Option<String> {
        self.inner.policy_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Resource, Subject};

    #[test]
    fn an_error_is_logged_as_a_deny_with_its_cause_and_an_oversized_input_without_its_body() {
        let log = DecisionLog::new(crate::Rbac::new());
        let subject: Subject =
            serde_json::from_value(json!({"id": "u1", "kind": "client"})).unwrap();
        let mut input = PolicyInput::from_subject(subject, "a:b", Resource::new("a"));
        let line = log.record(&input, &Err(PolicyError::Unavailable("down".into())), 7);
        assert_eq!(line["allow"], false);
        assert!(line["error"].as_str().unwrap().contains("unavailable"));
        assert_eq!(line["latency_us"], 7);
        input
            .resource
            .attributes
            .insert("blob".into(), "x".repeat(3 * 1024 * 1024).into());
        let line = log.record(&input, &Ok(Decision::deny(["input_too_large"])), 1);
        assert_eq!(line["input"], Value::Null);
        assert_eq!(line["reasons"], json!(["input_too_large"]));
    }
}
