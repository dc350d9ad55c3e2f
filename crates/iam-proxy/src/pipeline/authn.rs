//! Authenticators: Oathkeeper's handlers on iam-core and iam-client.
use super::client_credentials::ClientCredentialsHandler;
use super::kratos::KratosHandler;
use super::scope::{strings, ScopeCheck};
use super::token::TokenFrom;
use super::{Instances, PipelineError, RequestFacts, Session};
use crate::error::RuleError;
use http::header::AUTHORIZATION;
use iam_core::jwks::KeySource as _;
use serde_json::{Map, Value};
use std::sync::Arc;

/// One trusted issuer's validator.
#[derive(Debug)]
struct IssuerValidator {
    issuer: String,
    validator: iam_core::jwt::Validator,
}

/// The `jwt` authenticator.
#[derive(Debug)]
pub(crate) struct JwtHandler {
    token_from: TokenFrom,
    issuers: Vec<IssuerValidator>,
    keys: Vec<Arc<iam_client::RemoteJwks>>,
    scopes: ScopeCheck,
}

impl JwtHandler {
    async fn authenticate(
        &self,
        facts: &RequestFacts<'_>,
    ) -> Result<Option<Session>, PipelineError> {
        let Some(token) = self.token_from.token(facts)? else {
            return Ok(None);
        };
        if token.split('.').count() != 3 {
            return Ok(None); // not a JWT: another authenticator's
        }
        let iss =
            iam_core::jwt::unverified_issuer(&token).ok_or_else(PipelineError::unauthorized)?;
        let v = self
            .issuers
            .iter()
            .find(|v| v.issuer == iss)
            .ok_or_else(PipelineError::unauthorized)?;
        let mut last = PipelineError::unauthorized();
        for keys in &self.keys {
            let set = match keys.cached_keys() {
                Some(s) => s,
                None => keys
                    .keys()
                    .await
                    .map_err(|_| PipelineError::unavailable("signing keys are unavailable"))?,
            };
            let validated = match v.validator.validate(&token, &set) {
                Ok(ok) => ok,
                Err(e) if e.is_unknown_key() => {
                    let refreshed = match iam_core::jwt::unverified_kid(&token) {
                        Some(kid) => keys.keys_after_unknown_kid(&kid).await.ok().flatten(),
                        None => None,
                    };
                    match refreshed.map(|s| v.validator.validate(&token, &s)) {
                        Some(Ok(ok)) => ok,
                        _ => {
                            last = PipelineError::unauthorized();
                            continue;
                        }
                    }
                }
                Err(_) => return Err(PipelineError::unauthorized()),
            };
            let claims = validated.claims().raw().clone();
            let mut granted = Vec::new();
            for name in ["scp", "scope", "scopes"] {
                granted.extend(strings(claims.get(name)));
            }
            self.scopes.check(&granted)?;
            return Ok(Some(Session {
                subject: validated.principal().subject().to_owned(),
                extra: claims,
                principal: Some(validated.principal().clone()),
                ..Session::default()
            }));
        }
        Err(last)
    }
}

/// `pat`: personal access tokens, API keys and service tokens checked by the credential
/// service through iam-client's cached `RemoteCredentials`.
#[derive(Debug)]
pub(crate) struct PatHandler {
    credentials: Arc<iam_client::RemoteCredentials>,
    token_from: TokenFrom,
}

impl PatHandler {
    async fn authenticate(
        &self,
        facts: &RequestFacts<'_>,
    ) -> Result<Option<Session>, PipelineError> {
        let Some(token) = self.token_from.token(facts)? else {
            return Ok(None);
        };
        let Ok(parsed) = iam_core::credential::parse(&token) else {
            return Ok(None); // not one of ours
        };
        let p = self
            .credentials
            .verify_for_client(parsed, facts.client_ip)
            .await
            .map_err(|e| PipelineError::from(iam_core::authn::AuthError::from(e)))?;
        let mut extra = Map::new();
        extra.insert("kind".into(), p.kind().as_str().into());
        extra.insert(
            "scopes".into(),
            p.scopes().iter().collect::<Vec<_>>().into(),
        );
        if let Some(t) = p.tenant() {
            extra.insert("tenant".into(), t.into());
        }
        Ok(Some(Session {
            subject: p.subject().to_owned(),
            extra,
            principal: Some(p),
            ..Session::default()
        }))
    }
}

/// `oauth2_introspection` through iam-client's cached `Introspection`.
#[derive(Debug)]
pub(crate) struct IntrospectionHandler {
    introspection: Arc<iam_client::Introspection>,
    scopes: ScopeCheck,
}

impl IntrospectionHandler {
    async fn authenticate(
        &self,
        facts: &RequestFacts<'_>,
    ) -> Result<Option<Session>, PipelineError> {
        let Some(token) = TokenFrom::Bearer.token(facts)? else {
            return Ok(None);
        };
        let p = match self.introspection.introspect(&token).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(PipelineError::unauthorized()),
            Err(_) => {
                return Err(PipelineError::unavailable(
                    "the introspection endpoint is unavailable",
                ))
            }
        };
        let granted: Vec<String> = p.scopes().iter().map(str::to_owned).collect();
        self.scopes.check(&granted)?;
        Ok(Some(Session {
            subject: p.subject().to_owned(),
            extra: p.claims().clone(),
            principal: Some(p),
            ..Session::default()
        }))
    }
}

/// A compiled authenticator.
#[derive(Debug)]
pub(crate) enum Authenticator {
    Noop,
    Anonymous(String),
    Unauthorized,
    Jwt(JwtHandler),
    Kratos(KratosHandler),
    Pat(PatHandler),
    Introspection(IntrospectionHandler),
    ClientCredentials(Arc<ClientCredentialsHandler>),
}

pub(crate) fn str_of<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl Authenticator {
    pub(crate) fn compile(
        rule: &str,
        name: &str,
        config: &Value,
        http: &iam_client::HttpClient,
        instances: &Instances,
    ) -> Result<Self, RuleError> {
        let fail = |reason: String| RuleError::Handler {
            rule: rule.into(),
            kind: "authenticator",
            handler: name.into(),
            reason,
        };
        let key = format!("authn/{name}/{config}");
        Ok(match name {
            "noop" => Self::Noop,
            "anonymous" => {
                Self::Anonymous(str_of(config, "subject").unwrap_or("anonymous").to_owned())
            }
            "unauthorized" => Self::Unauthorized,
            "jwt" => {
                let urls = strings(config.get("jwks_urls"));
                if urls.is_empty() {
                    return Err(fail("jwks_urls is empty".into()));
                }
                let issuers = strings(config.get("trusted_issuers"));
                if issuers.is_empty() {
                    return Err(fail(
                        "trusted_issuers is empty: tokens from any issuer would be accepted".into(),
                    ));
                }
                let audiences = strings(config.get("target_audience"));
                let mut algorithms = strings(config.get("allowed_algorithms"));
                if algorithms.is_empty() {
                    algorithms.push("RS256".into());
                }
                let algorithms = algorithms
                    .iter()
                    .map(|a| {
                        iam_core::jwt::Algorithm::from_name(a)
                            .ok_or_else(|| fail(format!("unknown algorithm {a:?}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let scopes = ScopeCheck::compile(config, "none").map_err(fail)?;
                let mut validators = Vec::new();
                for iss in issuers {
                    let mut b = iam_core::jwt::Validator::builder(iss.clone())
                        .algorithms(algorithms.clone());
                    if audiences.is_empty() {
                        b = b.dangerous().accept_any_audience();
                    }
                    for a in &audiences {
                        b = b.audience(a.clone());
                    }
                    let validator = b.build().map_err(|e| fail(e.to_string()))?;
                    validators.push(IssuerValidator {
                        issuer: iss,
                        validator,
                    });
                }
                let keys = urls
                    .iter()
                    .map(|u| {
                        instances
                            .get_or_try(format!("jwks/{u}"), || {
                                iam_client::RemoteJwks::builder(u.clone())
                                    .http_client(http.clone())
                                    .dangerous_allow_http()
                                    .build()
                                    .map_err(|e| e.to_string())
                            })
                            .map_err(&fail)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Self::Jwt(JwtHandler {
                    token_from: TokenFrom::compile(config).map_err(fail)?,
                    issuers: validators,
                    keys,
                    scopes,
                })
            }
            "cookie_session" | "bearer_token" => {
                Self::Kratos(KratosHandler::compile(name, config, http, instances).map_err(fail)?)
            }
            "pat" => {
                let url = str_of(config, "validate_url")
                    .ok_or_else(|| fail("validate_url is missing".into()))?;
                let caller = str_of(config, "service_token")
                    .ok_or_else(|| fail("service_token is missing".into()))?;
                let credentials = instances
                    .get_or_try(format!("pat/{url}/{}", sha(caller)), || {
                        iam_client::RemoteCredentials::builder(url, caller)
                            .http_client(http.clone())
                            .build()
                            .map_err(|e| e.to_string())
                    })
                    .map_err(fail)?;
                Self::Pat(PatHandler {
                    credentials,
                    token_from: TokenFrom::compile(config).map_err(fail)?,
                })
            }
            "oauth2_introspection" => {
                let url = str_of(config, "introspection_url")
                    .ok_or_else(|| fail("introspection_url is missing".into()))?;
                let pre = config.get("pre_authorization").cloned().unwrap_or_default();
                let id = str_of(&pre, "client_id").unwrap_or_default().to_owned();
                let secret = str_of(&pre, "client_secret").unwrap_or_default().to_owned();
                let audiences = strings(config.get("target_audience"));
                let issuers = strings(config.get("trusted_issuers"));
                if audiences.len() > 1 || issuers.len() > 1 {
                    return Err(fail(
                        "one target_audience and one trusted issuer are supported".into(),
                    ));
                }
                let scopes = ScopeCheck::compile(config, "none").map_err(fail)?;
                let introspection = instances
                    .get_or_try(key.clone(), || {
                        let mut b = iam_client::Introspection::builder(url, id, secret);
                        b = match audiences.first() {
                            Some(a) => b.audience(a.clone()),
                            None => b.dangerous().accept_any_audience(),
                        };
                        if let Some(i) = issuers.first() {
                            b = b.issuer(i.clone());
                        }
                        b.build(http.clone()).map_err(|e| e.to_string())
                    })
                    .map_err(fail)?;
                Self::Introspection(IntrospectionHandler {
                    introspection,
                    scopes,
                })
            }
            // Shared by rules with the same effective config, across reloads (its cache too).
            "oauth2_client_credentials" => Self::ClientCredentials(
                instances
                    .get_or_try(key.clone(), || {
                        ClientCredentialsHandler::compile(config, http)
                    })
                    .map_err(fail)?,
            ),
            other => return Err(fail(format!("unknown authenticator {other:?}"))),
        })
    }

    /// `Ok(None)`: not responsible (the next one is tried).
    pub(crate) async fn authenticate(
        &self,
        facts: &RequestFacts<'_>,
    ) -> Result<Option<Session>, PipelineError> {
        match self {
            Self::Noop => Ok(Some(Session::default())),
            Self::Anonymous(subject) => {
                if facts.headers.contains_key(AUTHORIZATION) {
                    return Ok(None);
                }
                Ok(Some(Session {
                    subject: subject.clone(),
                    ..Session::default()
                }))
            }
            Self::Unauthorized => Err(PipelineError::unauthorized()),
            Self::Jwt(h) => h.authenticate(facts).await,
            Self::Kratos(h) => h.authenticate(facts).await,
            Self::Pat(h) => h.authenticate(facts).await,
            Self::Introspection(h) => h.authenticate(facts).await,
            Self::ClientCredentials(h) => h.authenticate(facts).await,
        }
    }
}

/// A short hash naming a secret in a cache key without holding it.
fn sha(secret: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(secret.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}
