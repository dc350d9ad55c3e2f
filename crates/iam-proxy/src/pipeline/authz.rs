//! Authorizers: `allow`, `deny`, `remote_json`, `scopes` / `permissions` over the
//! principal, and `opa` and `remote` (in their own modules).
use super::opa::OpaAuthorizer;
use super::remote::RemoteAuthorizer;
use super::scope::strings;
use super::template::Template;
use super::{Instances, PipelineError, RequestFacts, Session};
use crate::error::RuleError;
use serde_json::Value;

/// A compiled authorizer.
#[derive(Debug)]
pub(crate) enum Authorizer {
    Allow,
    Deny,
    RemoteJson {
        url: String,
        payload: Template,
        http: iam_client::HttpClient,
    },
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
                let url = config
                    .get("remote")
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail("remote is missing".into()))?;
                let payload = config
                    .get("payload")
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail("payload is missing".into()))?;
                Self::RemoteJson {
                    url: url.to_owned(),
                    payload: Template::parse(payload).map_err(|e| fail(e.to_string()))?,
                    http: http.clone(),
                }
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
        matches!(self, Self::Remote(_))
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
            Self::RemoteJson { url, payload, http } => {
                let body = payload.render(&session.template_data(facts));
                if serde_json::from_str::<Value>(&body).is_err() {
                    return Err(PipelineError::internal("remote_json payload is not JSON"));
                }
                let req = http::Request::post(url.as_str())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.into_bytes())
                    .map_err(|_| PipelineError::internal("remote_json: invalid remote URL"))?;
                let res = http.call(req).await.map_err(|_| {
                    PipelineError::unavailable("the remote authorizer is unavailable")
                })?;
                match res.status().as_u16() {
                    200 => Ok(()),
                    403 => Err(PipelineError::forbidden()),
                    _ => Err(PipelineError::internal(
                        "the remote authorizer answered with an unexpected status",
                    )),
                }
            }
        }
    }
}
