//! [`Principal`]: who made a request, whatever the credential was.
//!
//! Every authenticator (JWT, Kratos session, personal access token, API key, service token)
//! produces one, and every framework crate hands it to handlers. It is cheap to clone (one
//! reference count) so it can sit in request extensions and in caches.
//!
//! ```
//! use iam_core::principal::{Principal, PrincipalKind};
//! let p = Principal::builder("user-1", PrincipalKind::OAuth2Token)
//!     .tenant("acme")
//!     .scopes(["read:*"])
//!     .build();
//! assert!(p.has_scope("read:users"));
//! assert!(p.has_permission("read:users")); // scopes count as permissions
//! assert!(!p.has_permission("write:users"));
//! ```
use crate::scope::ScopeSet;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// What kind of credential a principal was authenticated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PrincipalKind {
    /// A browser or native-app session (Kratos).
    UserSession,
    /// An OAuth2 access token issued to act for a user.
    #[serde(rename = "oauth2_token")]
    OAuth2Token,
    /// An OAuth2 client acting for itself (client credentials: `sub` is the `client_id`).
    Client,
    /// A personal access token (`pat_`).
    PersonalAccessToken,
    /// An API key (`key_`).
    ApiKey,
    /// A service token (`svc_`).
    ServiceToken,
}

impl PrincipalKind {
    /// The snake_case name used in JSON and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserSession => "user_session",
            Self::OAuth2Token => "oauth2_token",
            Self::Client => "client",
            Self::PersonalAccessToken => "personal_access_token",
            Self::ApiKey => "api_key",
            Self::ServiceToken => "service_token",
        }
    }
}

/// Authenticator assurance level (NIST SP 800-63B; Kratos `aal1`/`aal2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AssuranceLevel {
    /// One factor.
    Aal1,
    /// Two factors.
    Aal2,
    /// Hardware-backed two factors.
    Aal3,
}

impl AssuranceLevel {
    /// `aal1`, `aal2`, `aal3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
            Self::Aal3 => "aal3",
        }
    }
    /// Parse `aal1`, `aal2`, `aal3`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "aal1" => Some(Self::Aal1),
            "aal2" => Some(Self::Aal2),
            "aal3" => Some(Self::Aal3),
            _ => None,
        }
    }
}

fn is_empty(m: &Arc<Map<String, Value>>) -> bool {
    m.is_empty()
}

#[derive(Debug, Serialize)]
struct Data {
    subject: String,
    kind: PrincipalKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    tenant: Option<String>,
    roles: Vec<String>,
    permissions: ScopeSet,
    scopes: ScopeSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    assurance_level: Option<AssuranceLevel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(skip_serializing_if = "is_empty")]
    claims: Arc<Map<String, Value>>,
}

/// A verified identity. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Principal(Arc<Data>);

impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl Principal {
    /// Start building a principal for `subject`.
    pub fn builder(subject: impl Into<String>, kind: PrincipalKind) -> PrincipalBuilder {
        PrincipalBuilder(Data {
            subject: subject.into(),
            kind,
            issuer: None,
            tenant: None,
            roles: Vec::new(),
            permissions: ScopeSet::new(),
            scopes: ScopeSet::new(),
            assurance_level: None,
            acr: None,
            amr: Vec::new(),
            auth_time: None,
            session_id: None,
            client_id: None,
            token_id: None,
            expires_at: None,
            claims: Arc::new(Map::new()),
        })
    }

    /// The subject: user id, client id, or credential owner.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }
    /// What kind of credential this principal came from.
    pub fn kind(&self) -> PrincipalKind {
        self.0.kind
    }
    /// The issuer that vouched for it (`iss`), when there is one.
    pub fn issuer(&self) -> Option<&str> {
        self.0.issuer.as_deref()
    }
    /// The tenant / organisation.
    pub fn tenant(&self) -> Option<&str> {
        self.0.tenant.as_deref()
    }
    /// Roles.
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }
    /// Permissions (not counting scopes).
    pub fn permissions(&self) -> &ScopeSet {
        &self.0.permissions
    }
    /// OAuth2 scopes (or a credential's scopes).
    pub fn scopes(&self) -> &ScopeSet {
        &self.0.scopes
    }
    /// Assurance level, when known.
    pub fn assurance_level(&self) -> Option<AssuranceLevel> {
        self.0.assurance_level
    }
    /// `acr` as the issuer sent it.
    pub fn acr(&self) -> Option<&str> {
        self.0.acr.as_deref()
    }
    /// `amr`: authentication methods.
    pub fn amr(&self) -> &[String] {
        &self.0.amr
    }
    /// When the user authenticated (Unix seconds).
    pub fn auth_time(&self) -> Option<i64> {
        self.0.auth_time
    }
    /// Session id (`sid`, or the Kratos session id).
    pub fn session_id(&self) -> Option<&str> {
        self.0.session_id.as_deref()
    }
    /// OAuth2 client id.
    pub fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
    }
    /// Token or credential id (`jti`).
    pub fn token_id(&self) -> Option<&str> {
        self.0.token_id.as_deref()
    }
    /// When the credential stops being valid (Unix seconds).
    pub fn expires_at(&self) -> Option<i64> {
        self.0.expires_at
    }
    /// Raw claims or identity traits, for anything custom.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.0.claims
    }
    /// True when a scope grants `required` (wildcards as in [`crate::scope`]).
    pub fn has_scope(&self, required: &str) -> bool {
        self.0.scopes.grants(required)
    }
    /// True when a permission, or else a scope, grants `required`.
    pub fn has_permission(&self, required: &str) -> bool {
        self.0.permissions.grants(required) || self.0.scopes.grants(required)
    }
    /// True when the principal has this role (exact match).
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|r| r == role)
    }
}

/// Builder for [`Principal`], for authenticators.
#[derive(Debug)]
pub struct PrincipalBuilder(Data);

impl PrincipalBuilder {
    /// Issuer.
    pub fn issuer(mut self, v: impl Into<String>) -> Self {
        self.0.issuer = Some(v.into());
        self
    }
    /// Tenant / organisation.
    pub fn tenant(mut self, v: impl Into<String>) -> Self {
        self.0.tenant = Some(v.into());
        self
    }
    /// Roles.
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.0.roles = v.into_iter().map(Into::into).collect();
        self
    }
    /// Permissions.
    pub fn permissions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.0.permissions = v.into_iter().map(Into::into).collect();
        self
    }
    /// Scopes.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.0.scopes = v.into_iter().map(Into::into).collect();
        self
    }
    /// Assurance level.
    pub fn assurance_level(mut self, v: AssuranceLevel) -> Self {
        self.0.assurance_level = Some(v);
        self
    }
    /// `acr`.
    pub fn acr(mut self, v: impl Into<String>) -> Self {
        self.0.acr = Some(v.into());
        self
    }
    /// `amr`.
    pub fn amr<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.0.amr = v.into_iter().map(Into::into).collect();
        self
    }
    /// Authentication time.
    pub fn auth_time(mut self, v: i64) -> Self {
        self.0.auth_time = Some(v);
        self
    }
    /// Session id.
    pub fn session_id(mut self, v: impl Into<String>) -> Self {
        self.0.session_id = Some(v.into());
        self
    }
    /// OAuth2 client id.
    pub fn client_id(mut self, v: impl Into<String>) -> Self {
        self.0.client_id = Some(v.into());
        self
    }
    /// Token / credential id.
    pub fn token_id(mut self, v: impl Into<String>) -> Self {
        self.0.token_id = Some(v.into());
        self
    }
    /// Expiry (Unix seconds).
    pub fn expires_at(mut self, v: i64) -> Self {
        self.0.expires_at = Some(v);
        self
    }
    /// Raw claims or identity traits.
    pub fn claims(mut self, v: impl Into<Arc<Map<String, Value>>>) -> Self {
        self.0.claims = v.into();
        self
    }
    /// Finish.
    pub fn build(self) -> Principal {
        Principal(Arc::new(self.0))
    }
}
