//! `POST /hydra/token-hook`: Hydra's token hook (`oauth2.token_hook`, Hydra v2.3), so the
//! claims the IAM API put into Hydra's tokens at consent follow the account at every token
//! Hydra issues, refreshes included.
//!
//! Hydra POSTs `{"session": …, "request": …}` before it issues tokens at its token endpoint.
//! The hook answers:
//! - 401 when the secret header ([`HOOK_SECRET_HEADER`]) is missing or wrong (Hydra then
//!   refuses the token with `server_error`: fail closed);
//! - 413 for a body over [`MAX_HOOK_BODY`], 400 for one that is not Hydra's shape;
//! - 204 for a session without the IAM API's `tenant` claim (client_credentials tokens,
//!   other login providers): Hydra keeps the session as it is;
//! - 403 when the user is unknown, disabled or deleted, or its tenant suspended (Hydra
//!   refuses with `access_denied`);
//! - 200 with the session's access-token and ID-token claims, `tenant`, `roles` and
//!   `permissions` recomputed as at consent and every other claim kept;
//! - 503 when the storage cannot answer (Hydra refuses with `server_error`).
//!
//! ```
//! use iam_api::hydra_provider::token_hook::{TokenHookSecret, HOOK_SECRET_HEADER};
//! let secret = TokenHookSecret::new("a-long-random-hook-secret".into()).unwrap();
//! assert!(secret.matches(b"a-long-random-hook-secret"));
//! assert!(!secret.matches(b"a-long-random-hook-secreT"));
//! assert_eq!(HOOK_SECRET_HEADER, "x-iam-token-hook-secret");
//! assert!(TokenHookSecret::new("short".into()).is_none());
//! ```
//!
//! # Caveats
//! - The payload is never logged: it holds the client's token request form.
//! - Hydra's answer replaces the access token's `ext` and the ID token's extra claims: a
//!   claim another hook or provider added to those is kept only because it comes back from
//!   the session Hydra sent.
//! - The hook is not rate limited (Hydra is its only caller, behind the secret).
//! - A session is taken as the IAM API's when its access-token claims carry `tenant`: with
//!   several login providers on one Hydra, another provider's `tenant` claim is looked up
//!   here too (and refused unless the user exists in that tenant).
//! - A role or permission change reaches the next token Hydra issues; access tokens issued
//!   before keep their claims until `exp`.
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{HeaderMap, StatusCode};
use iam_core::Secret;
use iam_identity::audit::{AuditEvent, AuditKind, AuditSink, TracingAudit};
use iam_service::Problem;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The header Hydra sends the secret in (`auth: {type: api_key, config: {in: header, name:
/// x-iam-token-hook-secret, value: …}}`).
pub const HOOK_SECRET_HEADER: &str = "x-iam-token-hook-secret";

/// The largest hook body read (Hydra's are a few KiB).
pub const MAX_HOOK_BODY: usize = 64 * 1024;

/// The shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

/// `IAM_API_HYDRA_TOKEN_HOOK_SECRET`: what Hydra sends in [`HOOK_SECRET_HEADER`].
#[derive(Debug, Clone)]
pub struct TokenHookSecret(Secret);

impl TokenHookSecret {
    /// The secret, or `None` when shorter than [`MIN_SECRET_LEN`] characters.
    pub fn new(value: String) -> Option<Self> {
        (value.chars().count() >= MIN_SECRET_LEN).then(|| Self(Secret::new(value)))
    }

    /// Whether `sent` is the secret (compared in constant time, lengths hidden by hashing).
    pub fn matches(&self, sent: &[u8]) -> bool {
        let want = Sha256::digest(self.0.secret().as_bytes());
        let got = Sha256::digest(sent);
        subtle::ConstantTimeEq::ct_eq(&want[..], &got[..]).into()
    }
}

impl PartialEq for TokenHookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.secret() == other.0.secret()
    }
}

impl Eq for TokenHookSecret {}

/// What the hook decided, one per answer (and one metric label).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Unauthorized,
    TooLarge,
    Malformed(&'static str),
    NotOurs,
    Refused,
    Updated(Value),
    Unavailable,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::TooLarge => "too_large",
            Self::Malformed(_) => "malformed",
            Self::NotOurs => "not_ours",
            Self::Refused => "refused",
            Self::Updated(_) => "updated",
            Self::Unavailable => "unavailable",
        }
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized => {
                Problem::unauthorized("the token hook secret is missing or wrong").into_response()
            }
            Self::TooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the token hook body is too large",
            )
            .into_response(),
            Self::Malformed(why) => Problem::bad_request(why).into_response(),
            Self::NotOurs => StatusCode::NO_CONTENT.into_response(),
            Self::Refused => Problem::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "the account is not active",
            )
            .into_response(),
            Self::Updated(session) => Json(json!({ "session": session })).into_response(),
            Self::Unavailable => Problem::unavailable("storage unavailable").into_response(),
        }
    }
}

/// The parts of Hydra's hook body the decision needs.
#[derive(Debug, PartialEq)]
struct HookSession {
    tenant: String,
    subject: String,
    access_claims: Map<String, Value>,
    id_claims: Map<String, Value>,
}

/// Read Hydra's body: `Ok(None)` when the session carries no IAM API tenant.
fn parse(body: &[u8]) -> Result<Option<HookSession>, &'static str> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| "the token hook body is not JSON")?;
    let session = value
        .get("session")
        .and_then(Value::as_object)
        .ok_or("the token hook body has no session object")?;
    let object_or_empty = |v: Option<&Value>| -> Result<Map<String, Value>, &'static str> {
        match v {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err("a claims field of the session is not an object"),
        }
    };
    let access_claims = object_or_empty(session.get("extra"))?;
    let Some(tenant) = access_claims.get("tenant") else {
        return Ok(None);
    };
    let tenant = tenant
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("the session's tenant is not a string")?
        .to_owned();
    let id_token = session.get("id_token").and_then(Value::as_object);
    let subject = id_token
        .and_then(|t| t.get("subject"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            id_token
                .and_then(|t| t.get("id_token_claims"))
                .and_then(|c| c.get("sub"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .ok_or("the session has no subject")?
        .to_owned();
    let id_claims = object_or_empty(
        id_token
            .and_then(|t| t.get("id_token_claims"))
            .and_then(|c| c.get("ext")),
    )?;
    Ok(Some(HookSession {
        tenant,
        subject,
        access_claims,
        id_claims,
    }))
}

/// Hydra's token hook; see the module documentation.
pub async fn token_hook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = decide(&state, &headers, body).await;
    metrics::counter!("iam_api_token_hook_total", "outcome" => outcome.label()).increment(1);
    outcome.into_response()
}

async fn decide(state: &AppState, headers: &HeaderMap, body: Body) -> Outcome {
    let Some(hydra) = state.hydra.as_deref() else {
        return Outcome::Unauthorized;
    };
    let sent = headers.get(HOOK_SECRET_HEADER).map(|v| v.as_bytes());
    if !sent.is_some_and(|s| hydra.token_hook_secret().matches(s)) {
        tracing::warn!("token hook: a call without the right secret was refused");
        return Outcome::Unauthorized;
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_HOOK_BODY).await else {
        return Outcome::TooLarge;
    };
    let session = match parse(&bytes) {
        Ok(Some(s)) => s,
        Ok(None) => return Outcome::NotOurs,
        Err(why) => return Outcome::Malformed(why),
    };
    match hydra
        .account_grant(state, &session.tenant, &session.subject)
        .await
    {
        Err(e) => {
            tracing::error!(error = %e, "token hook: the account could not be read");
            Outcome::Unavailable
        }
        Ok(None) => {
            let mut e = AuditEvent::new(AuditKind::LoginFailed);
            (e.tenant, e.user_id, e.action) = (
                Some(session.tenant),
                Some(session.subject),
                Some("token_refused_account_inactive"),
            );
            TracingAudit.record(&e);
            Outcome::Refused
        }
        Ok(Some(grant)) => Outcome::Updated(updated(session, &grant.claims())),
    }
}

/// The session's claims with the account's current ones over them.
fn updated(session: HookSession, current: &[(&'static str, Value)]) -> Value {
    let (mut access, mut id) = (session.access_claims, session.id_claims);
    for (name, value) in current {
        access.insert((*name).to_owned(), value.clone());
        id.insert((*name).to_owned(), value.clone());
    }
    json!({ "access_token": access, "id_token": id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(extra: Value, id_ext: Value) -> Value {
        json!({"session": {
            "id_token": {"id_token_claims": {"sub": "u1", "ext": id_ext, "acr": "pwd"},
                         "subject": "u1", "username": ""},
            "extra": extra, "client_id": "web"},
            "request": {"client_id": "web", "grant_types": ["refresh_token"],
                        "payload": {"refresh_token": ["ory_rt_x"]}}})
    }

    #[test]
    fn a_session_of_this_api_is_read_with_its_claims() {
        let body = session(
            json!({"tenant": "acme", "roles": ["old"], "acr": "mfa"}),
            json!({"tenant": "acme", "email": "a@example.com"}),
        );
        let s = parse(body.to_string().as_bytes()).unwrap().unwrap();
        assert_eq!((s.tenant.as_str(), s.subject.as_str()), ("acme", "u1"));
        let out = updated(
            s,
            &[("roles", json!(["new"])), ("permissions", json!(["p"]))],
        );
        assert_eq!(
            out,
            json!({"access_token": {"tenant": "acme", "roles": ["new"], "permissions": ["p"], "acr": "mfa"},
                   "id_token": {"tenant": "acme", "email": "a@example.com", "roles": ["new"], "permissions": ["p"]}})
        );
    }

    #[test]
    fn a_session_without_a_tenant_is_not_ours() {
        for extra in [json!(null), json!({}), json!({"other": 1})] {
            let body = session(extra, json!(null));
            assert_eq!(parse(body.to_string().as_bytes()), Ok(None));
        }
    }

    #[test]
    fn hostile_bodies_are_malformed_never_granted() {
        let no_subject = json!({"session": {"extra": {"tenant": "acme"}, "id_token": {}}});
        let bad_ext = session(json!({"tenant": "acme"}), json!("text"));
        let bad_extra = json!({"session": {"extra": ["tenant"]}});
        for body in [
            b"".to_vec(),
            b"{".to_vec(),
            b"null".to_vec(),
            b"[]".to_vec(),
            br#"{"request": {}}"#.to_vec(),
            br#"{"session": "x"}"#.to_vec(),
            br#"{"session": {"extra": {"tenant": 7}}}"#.to_vec(),
            br#"{"session": {"extra": {"tenant": ""}}}"#.to_vec(),
            no_subject.to_string().into_bytes(),
            bad_ext.to_string().into_bytes(),
            bad_extra.to_string().into_bytes(),
            vec![0xff, 0xfe],
        ] {
            assert!(parse(&body).is_err(), "{}", String::from_utf8_lossy(&body));
        }
    }

    #[test]
    fn the_secret_is_short_checked_and_compared_whole() {
        assert!(TokenHookSecret::new("0123456789abcde".into()).is_none());
        let s = TokenHookSecret::new("0123456789abcdef".into()).unwrap();
        assert!(s.matches(b"0123456789abcdef"));
        for wrong in [&b""[..], b"0123456789abcde", b"0123456789abcdef0", b"x"] {
            assert!(!s.matches(wrong));
        }
        assert!(!format!("{s:?}").contains("0123"));
    }

    #[test]
    fn every_refusal_is_a_4xx_or_503_and_only_updated_is_200() {
        for o in [
            Outcome::Unauthorized,
            Outcome::TooLarge,
            Outcome::Malformed("x"),
            Outcome::Refused,
            Outcome::Unavailable,
        ] {
            let status = o.into_response().status().as_u16();
            assert!((400..500).contains(&status) || status == 503, "{status}");
        }
        assert_eq!(Outcome::NotOurs.into_response().status(), 204);
    }
}
