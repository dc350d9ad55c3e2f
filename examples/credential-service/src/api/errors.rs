//! Error answers: iam-service's [`Problem`] (`{error, error_description}`), and the ones this
//! API gives in several places.
use crate::store::StoreError;
use iam_service::Problem;

/// A store failure: 503, the cause logged (never shown).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Problem::unavailable("the credential store is unavailable")
    }
}

/// What the handlers return on error.
pub(crate) type ApiError = Problem;

/// An authentication failure of the middleware's chain, as the middleware would answer it.
pub(crate) fn auth_error(e: &iam_core::authn::AuthError) -> Problem {
    Problem::new(e.status(), e.error_code(), e.description().to_owned())
}

/// 400 `invalid_request`.
pub(crate) fn bad(msg: impl Into<String>) -> Problem {
    Problem::bad_request(msg.into())
}

/// 403 `forbidden`.
pub(crate) fn forbidden(msg: &'static str) -> Problem {
    Problem::forbidden(msg)
}

/// The one answer for a bearer that may not call a route, whatever it is: an unknown
/// token, a real PAT or API key, or a service token on a management route all look alike
/// (no validity oracle).
pub(crate) fn not_a_caller() -> Problem {
    Problem::unauthorized("invalid token")
}

/// 401 for a request without usable credentials.
pub(crate) fn authentication_required() -> Problem {
    Problem::unauthorized("authentication required")
}
