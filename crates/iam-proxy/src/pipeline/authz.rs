//! Authorizers: `allow`, `deny`, `scopes` / `permissions` over the principal, and `opa`,
//! `remote` and `remote_json` (in their own modules).
use super::opa::OpaAuthorizer;
use super::remote::RemoteAuthorizer;
use super::scope::strings;
use super::{Instances, PipelineError, RequestFacts, Session};
use crate::error::RuleError;
use serde_json::Value;

/// A compiled authorizer.
#[derive(Debug)]
pub(crate) enum Authorizer {
    Allow,
    Deny,
    Scopes(Vec<String>),
    Permissions(Vec<String>),
    Opa(OpaAuthorizer),
    Remote(RemoteAuthorizer),
}

impl Authorizer {
    pub(crate) fn compile(
        rule: &str,
        name: &str,
        config: &Value,
        http: &iam_client::HttpClient,
        instances: &Instances,
    ) -> Result<Self, RuleError> {
        let fail = |reason: String| RuleError::Handler {
            rule: rule.into(),
            kind: "authorizer",
            handler: name.into(),
            reason,
        };
        Ok(match name {
            "allow" => Self::Allow,
            "deny" => Self::Deny,
            "remote_json" => {
                Self::Remote(RemoteAuthorizer::compile_json(config, http).map_err(fail)?)
            }
            "scopes" | "permissions" => {
                let required = strings(config.get("required"));
                if required.is_empty() {
                    return Err(fail("required is empty".into()));
                }
                if name == "scopes" {
                    Self::Scopes(required)
                } else {
                    Self::Permissions(required)
                }
            }
            "remote" => Self::Remote(RemoteAuthorizer::compile(config, http).map_err(fail)?),
            "opa" => Self::Opa(OpaAuthorizer::compile(config, instances).map_err(fail)?),
            "keto_engine_acp_ory" => return Err(fail("not supported (removed from Keto)".into())),
            other => return Err(fail(format!("unknown authorizer {other:?}"))),
        })
    }

    /// Whether this authorizer reads the request body (the proxy buffers it first).
    pub(crate) fn needs_body(&self) -> bool {
        matches!(self, Self::Remote(r) if r.needs_body())
    }

    /// Header names this authorizer sets on the request that goes upstream.
    pub(crate) fn header_names(&self) -> Vec<String> {
        match self {
            Self::Remote(r) => r.header_names(),
            _ => Vec::new(),
        }
    }

    pub(crate) async fn authorize(
        &self,
        facts: &RequestFacts<'_>,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        match self {
            Self::Remote(r) => r.authorize(facts, session).await,
            Self::Allow => Ok(()),
            Self::Deny => Err(PipelineError::forbidden()),
            Self::Opa(o) => o.authorize(facts, session).await,
            Self::Scopes(required) => match &session.principal {
                Some(p) if required.iter().all(|s| p.has_scope(s)) => Ok(()),
                _ => Err(PipelineError::forbidden()),
            },
            Self::Permissions(required) => match &session.principal {
                Some(p) if required.iter().all(|s| p.has_permission(s)) => Ok(()),
                _ => Err(PipelineError::forbidden()),
            },
        }
    }
}
