//! Mapping identity errors to HTTP answers, and the request extractors.
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use iam_identity::IdentityError;
use iam_service::Problem;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// An identity error as the answer a client gets. Every invalid-credential case is one
/// answer: 401 `{"error": "invalid_credentials", …}`.
pub fn problem(e: IdentityError) -> Problem {
    match e {
        IdentityError::InvalidCredentials => Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "invalid credentials",
        ),
        IdentityError::RateLimited { retry_after } => {
            metrics::counter!("iam_api_limiter_hits_total", "kind" => "account").increment(1);
            Problem::too_many_requests(retry_after)
        }
        IdentityError::Overloaded { retry_after } => {
            metrics::counter!("iam_api_hash_overloaded_total").increment(1);
            Problem::unavailable("too busy; retry later").retry_after(retry_after)
        }
        IdentityError::PasswordRejected(r) => Problem::bad_request(r.to_string()),
        IdentityError::InvalidMfaChallenge => Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_token",
            "the MFA token is invalid, used or expired",
        ),
        IdentityError::InvalidMfaCode => Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "the code is wrong or was used already",
        ),
        IdentityError::InvalidRefreshToken => Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "the refresh token is invalid, spent, revoked or expired",
        ),
        IdentityError::TotpAlreadyEnrolled => Problem::new(
            StatusCode::CONFLICT,
            "already_enrolled",
            "TOTP is already enrolled; delete it first",
        ),
        IdentityError::TotpNotEnrolled => Problem::new(
            StatusCode::CONFLICT,
            "not_enrolled",
            "no TOTP enrolment is pending or present",
        ),
        IdentityError::NotFound => Problem::not_found("not found"),
        IdentityError::Conflict => Problem::new(StatusCode::CONFLICT, "conflict", "already exists"),
        IdentityError::InvalidInput(field) => Problem::bad_request(format!("invalid {field}")),
        IdentityError::Unavailable(e) => {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "storage unavailable");
            Problem::unavailable("storage unavailable")
                .retry_after(std::time::Duration::from_secs(1))
        }
        e => {
            tracing::error!(error = %e, "internal error");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
    }
}

/// A JSON body whose every rejection (malformed, wrong type, too large, wrong content type)
/// is a 400 `invalid_request`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(e) => {
                let text = match e.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => "the body is too large".to_owned(),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                        "the body must be JSON (Content-Type: application/json)".to_owned()
                    }
                    _ => e.body_text(),
                };
                Err(Problem::bad_request(text))
            }
        }
    }
}

/// The client's address: the peer, or `X-Forwarded-For` when the peer is a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<Arc<crate::AppState>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<crate::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(Self(state.trusted_proxies.client_ip(peer, &parts.headers)))
    }
}
