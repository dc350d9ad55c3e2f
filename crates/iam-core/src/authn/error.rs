//! [`AuthError`]: why a request was refused, and its HTTP answer (RFC 6750 section 3).
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use std::borrow::Cow;
use std::fmt;

/// What went wrong, for a caller that wants to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No credential at all: 401, `WWW-Authenticate: Bearer` with no error code.
    MissingCredential,
    /// A malformed request (two `Authorization` headers, a header that is not text): 400,
    /// `error="invalid_request"`.
    InvalidRequest,
    /// A credential that was refused: 401, `error="invalid_token"`.
    InvalidCredential,
    /// Authenticated, but a scope or permission is missing: 403,
    /// `error="insufficient_scope", scope="..."`.
    InsufficientScope {
        /// The scope (or permission) that was needed.
        scope: String,
    },
    /// Authenticated, but with a weaker authentication than the route needs (one factor
    /// where two are required): 403, `error="insufficient_user_authentication"` (the code of
    /// RFC 9470) with `acr_values` naming the level. Step up and retry.
    InsufficientAssurance {
        /// The level needed (`aal2`, ...).
        required: crate::principal::AssuranceLevel,
    },
    /// Authenticated, but refused for another reason (policy): 403.
    Forbidden,
    /// A dependency needed to decide (key set, session store) is down: 503.
    Unavailable,
}

/// A refused request. Never carries the credential itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    kind: AuthErrorKind,
    description: Cow<'static, str>,
}

/// Keep a description safe inside a quoted-string and a log line.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '"' || c == '\\' || !(' '..='~').contains(&c) {
                '_'
            } else {
                c
            }
        })
        .take(200)
        .collect()
}

impl AuthError {
    fn new(kind: AuthErrorKind, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            description: description.into(),
        }
    }
    /// No credential was presented.
    pub fn missing_credential() -> Self {
        Self::new(AuthErrorKind::MissingCredential, "authentication required")
    }
    /// The request is malformed.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::InvalidRequest, description)
    }
    /// The credential was refused. The description must not contain the credential.
    pub fn invalid_credential(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::InvalidCredential, description)
    }
    /// The principal lacks `scope`.
    pub fn insufficient_scope(scope: impl Into<String>) -> Self {
        let scope = sanitize(&scope.into());
        Self::new(
            AuthErrorKind::InsufficientScope { scope },
            "the request requires higher privileges",
        )
    }
    /// The authentication is weaker than `required`.
    pub fn insufficient_assurance(required: crate::principal::AssuranceLevel) -> Self {
        Self::new(
            AuthErrorKind::InsufficientAssurance { required },
            "a stronger authentication is required",
        )
    }
    /// Refused for a reason other than scope.
    pub fn forbidden(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::Forbidden, description)
    }
    /// A dependency is down.
    pub fn unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::Unavailable, description)
    }

    /// What went wrong.
    pub fn kind(&self) -> &AuthErrorKind {
        &self.kind
    }
    /// True when no credential was presented (as opposed to a bad one).
    pub fn is_missing(&self) -> bool {
        self.kind == AuthErrorKind::MissingCredential
    }
    /// Human-readable reason.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            AuthErrorKind::MissingCredential | AuthErrorKind::InvalidCredential => {
                StatusCode::UNAUTHORIZED
            }
            AuthErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            AuthErrorKind::InsufficientScope { .. }
            | AuthErrorKind::InsufficientAssurance { .. }
            | AuthErrorKind::Forbidden => StatusCode::FORBIDDEN,
            AuthErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The machine-readable error code of the JSON body (and of `WWW-Authenticate` where
    /// RFC 6750 defines one).
    pub fn error_code(&self) -> &'static str {
        match self.kind {
            AuthErrorKind::MissingCredential => "unauthorized",
            AuthErrorKind::InvalidRequest => "invalid_request",
            AuthErrorKind::InvalidCredential => "invalid_token",
            AuthErrorKind::InsufficientScope { .. } => "insufficient_scope",
            AuthErrorKind::InsufficientAssurance { .. } => "insufficient_user_authentication",
            AuthErrorKind::Forbidden => "forbidden",
            AuthErrorKind::Unavailable => "temporarily_unavailable",
        }
    }

    /// The `WWW-Authenticate` value, when the status calls for one.
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        let desc = sanitize(&self.description);
        let value = match &self.kind {
            AuthErrorKind::MissingCredential => "Bearer".to_owned(),
            AuthErrorKind::InvalidRequest | AuthErrorKind::InvalidCredential => format!(
                "Bearer error=\"{}\", error_description=\"{desc}\"",
                self.error_code()
            ),
            AuthErrorKind::InsufficientScope { scope } => format!(
                "Bearer error=\"insufficient_scope\", error_description=\"{desc}\", scope=\"{scope}\""
            ),
            AuthErrorKind::InsufficientAssurance { required } => format!(
                "Bearer error=\"insufficient_user_authentication\", error_description=\"{desc}\", acr_values=\"{}\"",
                required.as_str()
            ),
            AuthErrorKind::Forbidden | AuthErrorKind::Unavailable => return None,
        };
        HeaderValue::from_str(&value).ok()
    }

    /// The JSON body: `{"error", "error_description", "status"}` plus `scope` for
    /// `insufficient_scope`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "error": self.error_code(),
            "error_description": self.description,
            "status": self.status().as_u16(),
        });
        if let AuthErrorKind::InsufficientScope { scope } = &self.kind {
            body["scope"] = serde_json::Value::String(scope.clone());
        }
        if let AuthErrorKind::InsufficientAssurance { required } = &self.kind {
            body["required_aal"] = required.as_str().into();
        }
        body
    }

    /// The whole HTTP answer: status, `WWW-Authenticate`, `Cache-Control: no-store`, JSON body.
    pub fn to_response(&self) -> Response<String> {
        let mut res = Response::new(self.to_json().to_string());
        *res.status_mut() = self.status();
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = self.www_authenticate() {
            h.insert(WWW_AUTHENTICATE, v);
        }
        res
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code(), self.description)
    }
}

impl std::error::Error for AuthError {}

impl From<crate::jwt::JwtError> for AuthError {
    fn from(e: crate::jwt::JwtError) -> Self {
        Self::invalid_credential(e.to_string())
    }
}
