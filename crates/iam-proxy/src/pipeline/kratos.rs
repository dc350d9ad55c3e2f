//! `cookie_session` and `bearer_token`: one handler, two places a Kratos credential comes
//! from, answered by iam-client's cached `KratosSessions` (Oathkeeper asks Kratos on every
//! request).
//!
//! What of Oathkeeper's session-store options is honoured, and why:
//! - `check_session_url` must be Kratos' `/sessions/whoami` and `preserve_path` must be
//!   `true`: with Oathkeeper's default (`false`) the request's own path is sent to the session
//!   store, which Kratos answers with 404 for every path but its own.
//! - `preserve_query` and `force_method` are accepted and do not change the answer: Kratos
//!   answers whoami on every method and reads no query parameter the cache could miss
//!   (`tokenize_as` is not forwarded).
//! - `preserve_host`, `additional_headers` and `forward_http_headers` beyond the credential's
//!   own header are refused: Kratos' answer would depend on request facets a cache keyed by
//!   the credential cannot hold.
//! - `subject_from` is `identity.id`, `id`, or Oathkeeper's defaults `subject`
//!   (`cookie_session`) and `sub` (`bearer_token`), which name no field of a Kratos session
//!   and give an empty subject, as in Oathkeeper; `extra_from` is `@this`, `identity`,
//!   `identity.traits` or anything else (empty extra).
//! - `cookie_session` without `only` is responsible for any request with a cookie (as
//!   Oathkeeper), and refuses one without the Kratos session cookie; `bearer_token` honours
//!   `prefix`.
use super::authn::str_of;
use super::scope::strings;
use super::token::TokenFrom;
use super::{Instances, PipelineError, RequestFacts, Session};
use http::header::{HeaderMap, HeaderName, HeaderValue, COOKIE};
use iam_core::authn::{Authenticator as _, RequestView};
use iam_core::principal::Principal;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The session cookie Kratos sets unless configured otherwise.
const DEFAULT_COOKIE: &str = "ory_kratos_session";

/// Where a Kratos credential comes from.
#[derive(Debug, Clone)]
enum KratosCredential {
    /// `cookie_session`: the session cookie; `any_cookie` when `only` is not set (then any
    /// cookie makes the handler responsible).
    Cookie { any_cookie: bool },
    /// `bearer_token`: a token in `Authorization: Bearer` or a header, with a prefix.
    Token { from: TokenFrom, prefix: String },
}

/// `cookie_session` and `bearer_token` through iam-client's cached `KratosSessions`.
#[derive(Debug)]
pub(crate) struct KratosHandler {
    sessions: Arc<iam_client::KratosSessions>,
    credential: KratosCredential,
    cookie_name: String,
    subject_from: String,
    extra_from: String,
}

/// Headers whose forwarding is the credential itself.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "x-session-token"];

impl KratosHandler {
    /// Compile `cookie_session` or `bearer_token` (`name`) from its effective config; the
    /// `KratosSessions` (and its cache) is shared by every rule with the same Kratos and
    /// cookie name.
    pub(crate) fn compile(
        name: &str,
        config: &Value,
        http: &iam_client::HttpClient,
        instances: &Instances,
    ) -> Result<Self, String> {
        if config.get("preserve_path") != Some(&Value::Bool(true)) {
            return Err(
                "preserve_path must be true: without it the request's path is sent to \
                 the session store, and Kratos answers sessions only on /sessions/whoami"
                    .into(),
            );
        }
        if config
            .get("preserve_host")
            .is_some_and(|v| v != &Value::Bool(false) && !v.is_null())
        {
            return Err(
                "preserve_host is not supported (the session cache is keyed by the credential)"
                    .into(),
            );
        }
        if config
            .get("additional_headers")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            return Err("additional_headers is not supported".into());
        }
        for h in strings(config.get("forward_http_headers")) {
            if !CREDENTIAL_HEADERS.contains(&h.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "forward_http_headers {h:?} is not supported (the session cache is keyed \
                     by the credential)"
                ));
            }
        }
        let url = str_of(config, "check_session_url")
            .ok_or_else(|| "check_session_url is missing".to_owned())?;
        let public = url
            .strip_suffix("/sessions/whoami")
            .ok_or_else(|| "check_session_url must be Kratos' /sessions/whoami".to_owned())?;
        let default_subject = if name == "cookie_session" {
            "subject"
        } else {
            "sub"
        };
        let subject_from = str_of(config, "subject_from")
            .unwrap_or(default_subject)
            .to_owned();
        if !["subject", "sub", "identity.id", "id"].contains(&subject_from.as_str()) {
            return Err(format!(
                "subject_from {subject_from:?} is not supported (identity.id, id)"
            ));
        }
        let extra_from = str_of(config, "extra_from").unwrap_or("extra").to_owned();
        let (credential, cookie_name) = if name == "cookie_session" {
            let only = strings(config.get("only"));
            if only.len() > 1 {
                return Err("only: one session cookie name is supported".into());
            }
            let any_cookie = only.is_empty();
            let cookie = only
                .into_iter()
                .next()
                .unwrap_or_else(|| DEFAULT_COOKIE.into());
            (KratosCredential::Cookie { any_cookie }, cookie)
        } else {
            let from = TokenFrom::compile(config)?;
            if matches!(from, TokenFrom::Query(_)) {
                return Err(
                    "token_from.query_parameter is not supported: tokens in URLs end up in logs"
                        .into(),
                );
            }
            let prefix = str_of(config, "prefix").unwrap_or_default().to_owned();
            (
                KratosCredential::Token { from, prefix },
                DEFAULT_COOKIE.to_owned(),
            )
        };
        let sessions = instances.get_or_try(format!("kratos/{public}/{cookie_name}"), || {
            iam_client::KratosSessions::builder(public)
                .cookie_name(cookie_name.clone())
                .http_client(http.clone())
                .build()
                .map_err(|e| e.to_string())
        })?;
        Ok(Self {
            sessions,
            credential,
            cookie_name,
            subject_from,
            extra_from,
        })
    }

    /// The credential as the one header `KratosSessions` reads, `None` when this handler is
    /// not responsible.
    fn credential_headers(
        &self,
        facts: &RequestFacts<'_>,
    ) -> Result<Option<HeaderMap>, PipelineError> {
        let mut headers = HeaderMap::new();
        match &self.credential {
            KratosCredential::Cookie { any_cookie } => {
                let uri = http::Uri::from_static("/");
                let view = RequestView::new(facts.canonical.method(), &uri, facts.headers);
                let cookie = view
                    .cookie(&self.cookie_name)
                    .map_err(|_| PipelineError::unauthorized())?;
                let c = match cookie {
                    Some(c) => c,
                    None if *any_cookie && has_cookie(facts.headers) => {
                        return Err(PipelineError::unauthorized())
                    }
                    None => return Ok(None),
                };
                let v = HeaderValue::from_str(&format!("{}={c}", self.cookie_name))
                    .map_err(|_| PipelineError::unauthorized())?;
                headers.insert(COOKIE, v);
            }
            KratosCredential::Token { from, prefix } => {
                let Some(t) = from.token(facts)? else {
                    return Ok(None);
                };
                if !t.starts_with(prefix.as_str()) {
                    return Ok(None);
                }
                let v = HeaderValue::from_str(&t).map_err(|_| PipelineError::unauthorized())?;
                headers.insert(HeaderName::from_static("x-session-token"), v);
            }
        }
        Ok(Some(headers))
    }

    pub(crate) async fn authenticate(
        &self,
        facts: &RequestFacts<'_>,
    ) -> Result<Option<Session>, PipelineError> {
        // KratosSessions reads a session token (X-Session-Token or bearer) or its cookie: hand
        // it only the credential this handler is configured for.
        let Some(headers) = self.credential_headers(facts)? else {
            return Ok(None);
        };
        let uri = http::Uri::from_static("/");
        let view = RequestView::new(facts.canonical.method(), &uri, &headers);
        let principal = match self.sessions.authenticate_now(&view) {
            Some(r) => r,
            None => self.sessions.authenticate(&view).await,
        }?
        .ok_or_else(PipelineError::unauthorized)?;
        Ok(Some(self.session(principal)))
    }

    fn session(&self, p: Principal) -> Session {
        let mut traits = p.claims().clone();
        traits.remove("email_verified");
        let identity = serde_json::json!({"id": p.subject(), "traits": traits});
        let subject = match self.subject_from.as_str() {
            "identity.id" => p.subject().to_owned(),
            "id" => p.session_id().unwrap_or_default().to_owned(),
            _ => String::new(),
        };
        let extra = match self.extra_from.as_str() {
            "@this" => {
                let mut m = Map::new();
                m.insert("id".into(), p.session_id().unwrap_or_default().into());
                m.insert("active".into(), true.into());
                m.insert("identity".into(), identity);
                m
            }
            "identity" => identity.as_object().cloned().unwrap_or_default(),
            "identity.traits" => traits,
            _ => Map::new(),
        };
        Session {
            subject,
            extra,
            principal: Some(p),
            ..Session::default()
        }
    }
}

/// Whether the request carries any cookie (Oathkeeper's `cookie_session` without `only` is
/// responsible then).
fn has_cookie(headers: &HeaderMap) -> bool {
    headers.get_all(COOKIE).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(';').any(|p| p.contains('=')))
    })
}
