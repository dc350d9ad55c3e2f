//! The `opa` authorizer: iam-policy's OPA-compatible input document, decided by a
//! [`PolicyDecisionPoint`]: a remote OPA server (`OpaClient`) or the same `.rego` files in
//! process (`Rego`).
//!
//! Config (rule or global): either `url` (OPA's base URL) and `path` (the decision document,
//! e.g. `iam/authz/decision`), optional `timeout_ms` (default 500); or `rego_dir` (a bundle
//! directory) and `entrypoint` (e.g. `data.iam.authz.decision`). `action` (default: the
//! request method) and `resource` (the resource type, default `http`) name what is decided.
//!
//! The input: `subject` from the authenticated principal (or `{id: <subject>, kind:
//! "anonymous"}` when the authenticator made none), `action`, `resource` `{type, id: <path>,
//! attributes: {host, scheme, rule, captures}}`, `context` `{method, path, ip, time}` (the
//! client address after trusted-proxy handling).
//!
//! # Caveats
//! - Fail closed: OPA down, slow or undefined at the path is 503; a deny is 403; never an allow.
//! - One `OpaClient` (and its decision cache, keyed by the input's digest) per URL, path and
//!   timeout; one `Rego` per directory and entrypoint, loaded at rule load (not hot-reloaded
//!   with the rules).
use super::{Instances, PipelineError, RequestFacts, Session};
use iam_policy::input::{RequestContext, Resource, Subject};
use iam_policy::{Decision, PolicyDecisionPoint, PolicyError, PolicyInput};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// A compiled `opa` authorizer.
pub(crate) struct OpaAuthorizer {
    decider: Arc<dyn PolicyDecisionPoint>,
    action: Option<String>,
    resource: String,
}

impl std::fmt::Debug for OpaAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpaAuthorizer")
            .field("action", &self.action)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

fn text<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl OpaAuthorizer {
    pub(crate) fn compile(config: &Value, instances: &Instances) -> Result<Self, String> {
        let decider: Arc<dyn PolicyDecisionPoint> =
            match (text(config, "url"), text(config, "rego_dir")) {
                (Some(url), None) => {
                    let path = text(config, "path").ok_or_else(|| "path is missing".to_owned())?;
                    let timeout = match config.get("timeout_ms") {
                        None => Duration::from_millis(500),
                        Some(v) => v
                            .as_u64()
                            .filter(|ms| (1..=60_000).contains(ms))
                            .map(Duration::from_millis)
                            .ok_or_else(|| {
                                "timeout_ms must be 1 to 60000 milliseconds".to_owned()
                            })?,
                    };
                    let key = format!("opa/{url}/{path}/{}", timeout.as_millis());
                    instances.get_or_try(key, || {
                        iam_policy::OpaClient::new(url, path)
                            .map(|c| c.timeout(timeout))
                            .map_err(|e| e.to_string())
                    })?
                }
                (None, Some(dir)) => {
                    let entrypoint = text(config, "entrypoint")
                        .ok_or_else(|| "entrypoint is missing".to_owned())?;
                    instances.get_or_try(format!("rego/{dir}/{entrypoint}"), || {
                        iam_policy::Rego::from_dir(dir, entrypoint).map_err(|e| e.to_string())
                    })?
                }
                _ => return Err("set either url and path (OPA) or rego_dir and entrypoint".into()),
            };
        Ok(Self {
            decider,
            action: text(config, "action").map(str::to_owned),
            resource: text(config, "resource").unwrap_or("http").to_owned(),
        })
    }

    /// The input document of one request.
    fn input(&self, facts: &RequestFacts<'_>, session: &Session) -> Result<PolicyInput, String> {
        let subject = match &session.principal {
            Some(p) => Subject::from_principal(p),
            None => serde_json::from_value(json!({"id": session.subject, "kind": "anonymous"}))
                .map_err(|e| e.to_string())?,
        };
        let method = facts.canonical.method().as_str();
        let path = facts.canonical.path();
        let resource = Resource::new(self.resource.clone())
            .id(path)
            .attribute("host", facts.canonical.host())
            .attribute("scheme", facts.canonical.scheme())
            .attribute("captures", facts.captures.to_vec());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let action = self.action.clone().unwrap_or_else(|| method.to_owned());
        Ok(PolicyInput::from_subject(subject, action, resource)
            .context(RequestContext::new(method, path, now).ip(facts.client_ip.to_string())))
    }

    pub(crate) async fn authorize(
        &self,
        facts: &RequestFacts<'_>,
        session: &Session,
    ) -> Result<(), PipelineError> {
        let input = self
            .input(facts, session)
            .map_err(|_| PipelineError::internal("the policy input could not be built"))?;
        let decision: Result<Decision, PolicyError> = self.decider.decide(&input).await;
        match decision {
            Ok(d) if d.allow => Ok(()),
            Ok(_) => Err(PipelineError::forbidden()),
            Err(_) => Err(PipelineError::unavailable(
                "the policy decision point is unavailable",
            )),
        }
    }
}
