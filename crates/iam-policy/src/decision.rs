//! [`PolicyDecisionPoint`], [`Decision`] and [`PolicyError`]: what every engine answers.
use crate::input::PolicyInput;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

pub use iam_core::authn::BoxFuture;

/// A policy's answer.
///
/// `reasons` are short codes the policy chose (`tenant_mismatch`, `not_owner`), sorted and
/// without duplicates; a route guard returns them in its 403 body. `obligations` are what the
/// caller must do when it acts on the decision (log an access, show a banner); engines never
/// invent them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Decision {
    /// True when the action is allowed.
    pub allow: bool,
    /// Why (usually why not).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// What the caller must do with an allow.
    #[serde(default)]
    pub obligations: Map<String, Value>,
}

impl Decision {
    /// Allow, with no reasons or obligations.
    pub fn allow() -> Self {
        Self {
            allow: true,
            reasons: Vec::new(),
            obligations: Map::new(),
        }
    }
    /// Deny for these reasons (sorted and deduplicated here).
    pub fn deny<I: IntoIterator<Item = S>, S: Into<String>>(reasons: I) -> Self {
        let mut reasons: Vec<String> = reasons.into_iter().map(Into::into).collect();
        reasons.sort();
        reasons.dedup();
        Self {
            allow: false,
            reasons,
            obligations: Map::new(),
        }
    }
    /// Add an obligation.
    pub fn with_obligation(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.obligations.insert(name.into(), value.into());
        self
    }

    /// Read a decision from a policy's result: an object `{"allow": bool, "reasons": [..],
    /// "obligations": {..}}` or a bare boolean. Anything else is [`PolicyError::InvalidAnswer`]
    /// (an engine never reads a malformed answer as allow).
    pub fn from_result(result: &Value) -> Result<Self, PolicyError> {
        let bad = |why: &'static str| Err(PolicyError::InvalidAnswer(Cow::Borrowed(why)));
        let object = match result {
            Value::Bool(allow) => {
                return Ok(if *allow {
                    Self::allow()
                } else {
                    Self::deny(Vec::<String>::new())
                })
            }
            Value::Object(o) => o,
            _ => return bad("the policy result is neither an object nor a boolean"),
        };
        let Some(Value::Bool(allow)) = object.get("allow") else {
            return bad("the policy result has no boolean `allow`");
        };
        let mut reasons = Vec::new();
        match object.get("reasons") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let Value::String(s) = item else {
                        return bad("a policy reason is not a string");
                    };
                    reasons.push(s.clone());
                }
            }
            Some(_) => return bad("the policy's `reasons` is not an array"),
        }
        reasons.sort();
        reasons.dedup();
        let obligations = match object.get("obligations") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(_) => return bad("the policy's `obligations` is not an object"),
        };
        Ok(Self {
            allow: *allow,
            reasons,
            obligations,
        })
    }
}

/// Why a decision point could not decide. A route guard answers 503 for every kind: an
/// error is never an allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The decision point could not be reached, or did not answer in time.
    #[error("policy decision point unavailable: {0}")]
    Unavailable(Cow<'static, str>),
    /// It answered, but not with a decision (wrong path, garbage, undefined result).
    #[error("policy decision point gave an invalid answer: {0}")]
    InvalidAnswer(Cow<'static, str>),
    /// The policy failed while evaluating (a Rego runtime error, a time limit).
    #[error("policy evaluation failed: {0}")]
    Evaluation(Cow<'static, str>),
}

/// What an engine answers when it cannot decide: both fail closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailureMode {
    /// Return the [`PolicyError`]: a route guard answers 503 (the default).
    #[default]
    Unavailable,
    /// Deny with reason `pdp_unavailable`: a route guard answers 403.
    Deny,
}

impl FailureMode {
    /// Apply the mode to an engine's result.
    pub fn apply(self, result: Result<Decision, PolicyError>) -> Result<Decision, PolicyError> {
        match (self, result) {
            (Self::Deny, Err(_)) => Ok(Decision::deny(["pdp_unavailable"])),
            (_, other) => other,
        }
    }
}

/// Decides whether a subject may do an action on a resource.
///
/// Object-safe (`Arc<dyn PolicyDecisionPoint>` is what route guards hold) and implemented by
/// [`Rbac`](crate::Rbac), [`Rego`](crate::Rego), [`OpaClient`](crate::OpaClient) and
/// [`DecisionLog`](crate::DecisionLog). An implementation must fail closed: when it cannot
/// decide it returns an error or a deny, never an allow.
pub trait PolicyDecisionPoint: Send + Sync {
    /// Decide on one input.
    fn decide<'a>(&'a self, input: &'a PolicyInput)
        -> BoxFuture<'a, Result<Decision, PolicyError>>;

    /// A label of the policy in force (a bundle digest, a revision), for the decision log.
    fn policy_version(&self) -> Option<String> {
        None
    }
}

impl<P: PolicyDecisionPoint + ?Sized> PolicyDecisionPoint for Arc<P> {
    fn decide<'a>(
        &'a self,
        input: &'a PolicyInput,
    ) -> BoxFuture<'a, Result<Decision, PolicyError>> {
        (**self).decide(input)
    }
    fn policy_version(&self) -> Option<String> {
        (**self).policy_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_result_reads_as_a_decision_and_malformed_ones_are_errors() {
        let d =
            Decision::from_result(&json!({"allow": false, "reasons": ["b", "a", "a"]})).unwrap();
        assert_eq!(d, Decision::deny(["a", "b"]));
        assert_eq!(
            Decision::from_result(&json!(true)).unwrap(),
            Decision::allow()
        );
        for garbage in [
            json!(null),
            json!("allow"),
            json!({"allow": "true"}),
            json!({"reasons": []}),
            json!({"allow": true, "reasons": [1]}),
            json!({"allow": true, "reasons": "x"}),
            json!({"allow": true, "obligations": []}),
        ] {
            assert!(
                matches!(
                    Decision::from_result(&garbage),
                    Err(PolicyError::InvalidAnswer(_))
                ),
                "{garbage}"
            );
        }
    }

    #[test]
    fn the_deny_failure_mode_turns_errors_into_denies_and_never_into_allows() {
        let err = Err(PolicyError::Unavailable("down".into()));
        assert_eq!(
            FailureMode::Deny.apply(err.clone()).unwrap(),
            Decision::deny(["pdp_unavailable"])
        );
        assert_eq!(FailureMode::Unavailable.apply(err.clone()), err);
    }
}
