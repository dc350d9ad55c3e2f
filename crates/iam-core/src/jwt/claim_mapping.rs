//! Claims → [`Principal`]: which claims feed it ([`ClaimNames`]) and how they are read.
use super::JwtErrorKind;
use crate::claims::Claims;
use crate::principal::{AssuranceLevel, Principal, PrincipalKind};
use serde_json::Value;

/// Names of the claims that feed a [`Principal`]. Each is looked up at the top level first,
/// then inside Hydra's `ext` object.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimNames {
    /// Tenant / organisation (default `tenant`).
    pub tenant: String,
    /// Roles: an array of strings or a space-separated string (default `roles`).
    pub roles: String,
    /// Permissions: same shapes (default `permissions`).
    pub permissions: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            tenant: "tenant".into(),
            roles: "roles".into(),
            permissions: "permissions".into(),
        }
    }
}

impl ClaimNames {
    /// Override the tenant claim name.
    pub fn tenant(mut self, name: impl Into<String>) -> Self {
        self.tenant = name.into();
        self
    }
    /// Override the roles claim name.
    pub fn roles(mut self, name: impl Into<String>) -> Self {
        self.roles = name.into();
        self
    }
    /// Override the permissions claim name.
    pub fn permissions(mut self, name: impl Into<String>) -> Self {
        self.permissions = name.into();
        self
    }
}

fn string_list(value: Option<&Value>, name: &'static str) -> Result<Vec<String>, JwtErrorKind> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(JwtErrorKind::InvalidClaim(name)),
        Some(_) => Err(JwtErrorKind::InvalidClaim(name)),
    }
}

fn opt_str<'a>(
    value: Option<&'a Value>,
    name: &'static str,
) -> Result<Option<&'a str>, JwtErrorKind> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtErrorKind::InvalidClaim(name)),
    }
}

pub(super) fn build_principal(c: &Claims, names: &ClaimNames) -> Result<Principal, JwtErrorKind> {
    let client_id = opt_str(c.get("client_id"), "client_id")?;
    let subject = match (c.subject(), client_id) {
        (Some(s), _) => s,
        (None, Some(cid)) => cid,
        (None, None) => return Err(JwtErrorKind::MissingClaim("sub".into())),
    };
    if subject.is_empty() {
        return Err(JwtErrorKind::InvalidClaim("sub"));
    }
    let kind = if client_id == Some(subject) {
        PrincipalKind::Client
    } else {
        PrincipalKind::OAuth2Token
    };
    let scopes = match c.get("scope") {
        Some(v) => string_list(Some(v), "scope")?,
        None => string_list(c.get("scp"), "scp")?,
    };
    let mut b = Principal::builder(subject, kind)
        .scopes(scopes)
        .roles(string_list(c.get_with_ext(&names.roles), "roles")?)
        .permissions(string_list(
            c.get_with_ext(&names.permissions),
            "permissions",
        )?)
        .amr(string_list(c.get("amr"), "amr")?)
        .expires_at(c.expires_at())
        .claims(c.shared_raw());
    if let Some(iss) = c.issuer() {
        b = b.issuer(iss);
    }
    if let Some(t) = opt_str(c.get_with_ext(&names.tenant), "tenant")? {
        b = b.tenant(t);
    }
    if let Some(acr) = opt_str(c.get("acr"), "acr")? {
        if let Some(level) = AssuranceLevel::from_name(acr) {
            b = b.assurance_level(level);
        }
        b = b.acr(acr);
    }
    if let Some(v) = c.get("auth_time") {
        let t = crate::claims::numeric_date(v, crate::claims::Round::Down)
            .ok_or(JwtErrorKind::InvalidClaim("auth_time"))?;
        b = b.auth_time(t);
    }
    if let Some(sid) = opt_str(c.get("sid"), "sid")? {
        b = b.session_id(sid);
    }
    if let Some(cid) = client_id {
        b = b.client_id(cid);
    }
    if let Some(jti) = c.token_id() {
        b = b.token_id(jti);
    }
    Ok(b.build())
}
