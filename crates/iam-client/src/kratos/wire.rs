//! Kratos's `whoami` answer on the wire, and the [`Principal`] made from it.
use iam_core::authn::AuthError;
use iam_core::principal::{AssuranceLevel, Principal, PrincipalKind};
use serde::Deserialize;
use serde_json::{Map, Value};

fn rfc3339(s: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.timestamp())
}

#[derive(Deserialize)]
pub(super) struct WireSession {
    pub(super) id: String,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    authenticated_at: Option<String>,
    #[serde(default)]
    authenticator_assurance_level: Option<String>,
    #[serde(default)]
    authentication_methods: Option<Vec<WireMethod>>,
    pub(super) identity: WireIdentity,
    #[serde(default)]
    pub(super) tokenized: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireMethod {
    #[serde(default)]
    method: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireIdentity {
    pub(super) id: String,
    #[serde(default)]
    traits: Value,
    #[serde(default)]
    metadata_public: Value,
    #[serde(default)]
    verifiable_addresses: Option<Vec<WireAddress>>,
}

#[derive(Deserialize)]
pub(super) struct WireAddress {
    value: String,
    #[serde(default)]
    verified: bool,
}

#[derive(Deserialize)]
pub(super) struct WireError {
    pub(super) error: WireErrorBody,
}

#[derive(Deserialize)]
pub(super) struct WireErrorBody {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) reason: Option<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The principal of a `whoami` session body, or why it is refused (inactive, expired). The
/// shared store keeps bodies, so this also runs on what comes back from it.
pub(super) fn principal_of(s: &WireSession, now: i64) -> Result<(Principal, i64), AuthError> {
    if s.active != Some(true) {
        return Err(AuthError::invalid_credential("session is not active"));
    }
    let expires = rfc3339(s.expires_at.as_deref())
        .ok_or_else(|| AuthError::unavailable("session service answered without an expiry"))?;
    if expires <= now {
        return Err(AuthError::invalid_credential("session has expired"));
    }
    let mut claims = match &s.identity.traits {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let verified = email.as_deref().is_some_and(|e| {
        s.identity
            .verifiable_addresses
            .iter()
            .flatten()
            .any(|a| a.verified && a.value.eq_ignore_ascii_case(e))
    });
    claims.insert("email_verified".into(), verified.into());
    let meta = s.identity.metadata_public.as_object();
    let mut b = Principal::builder(s.identity.id.clone(), PrincipalKind::UserSession)
        .session_id(s.id.clone())
        .expires_at(expires)
        .roles(strings(meta.and_then(|m| m.get("roles"))))
        .permissions(strings(meta.and_then(|m| m.get("permissions"))))
        .amr(
            s.authentication_methods
                .iter()
                .flatten()
                .filter_map(|m| m.method.clone()),
        )
        .claims(claims);
    if let Some(t) = meta.and_then(|m| m.get("tenant")).and_then(Value::as_str) {
        b = b.tenant(t);
    }
    if let Some(t) = rfc3339(s.authenticated_at.as_deref()) {
        b = b.auth_time(t);
    }
    if let Some(l) = s
        .authenticator_assurance_level
        .as_deref()
        .and_then(AssuranceLevel::from_name)
    {
        b = b.assurance_level(l);
    }
    Ok((b.build(), expires))
}

pub(super) fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
