//! Extractors.
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use iam_core::principal::Principal;
use iam_core::AuthError;
use std::convert::Infallible;

/// The authenticated principal. Extracting it fails with 401 when the request has none (no
/// [`IamLayer`](crate::IamLayer), or [`optional`](crate::IamLayer::optional) mode and no
/// credentials). Use `Option<Auth>` for routes that also serve anonymous requests.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl std::ops::Deref for Auth {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// Why [`Auth`] could not be extracted: always "missing" (bad credentials never reach a
/// handler; the layer refused them).
#[derive(Debug, Clone)]
pub struct AuthRejection(AuthError);

impl AuthRejection {
    /// The HTTP status (401).
    pub fn status(&self) -> http::StatusCode {
        self.0.status()
    }
    /// True when there were no credentials (as opposed to invalid ones).
    pub fn is_missing(&self) -> bool {
        self.0.is_missing()
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        crate::response(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AuthRejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| AuthRejection(AuthError::missing_credential()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Auth {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Infallible> {
        Ok(parts.extensions.get::<Principal>().cloned().map(Auth))
    }
}
