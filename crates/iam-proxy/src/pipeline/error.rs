//! [`PipelineError`]: why the pipeline refused a request, with Oathkeeper's status codes.
use std::borrow::Cow;

/// The class of a refusal, named as Oathkeeper's `when.error` conditions name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the request cannot be read (canonicalisation, ambiguous headers).
    BadRequest,
    /// 401: no authenticator accepted the request, or a credential was refused.
    Unauthorized,
    /// 403: the authorizer refused.
    Forbidden,
    /// 404: no rule matches.
    NotFound,
    /// 408: the client sent a body a rule reads too slowly.
    RequestTimeout,
    /// 413: the client sent a body a rule reads beyond the configured limit.
    PayloadTooLarge,
    /// 500: several rules match, a handler is misconfigured or unavailable.
    InternalServerError,
    /// 503: a dependency (key set, session store, policy endpoint) is down: fail closed.
    ServiceUnavailable,
}

impl ErrorKind {
    /// The HTTP status.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::BadRequest => S::BAD_REQUEST,
            Self::Unauthorized => S::UNAUTHORIZED,
            Self::Forbidden => S::FORBIDDEN,
            Self::NotFound => S::NOT_FOUND,
            Self::RequestTimeout => S::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            Self::InternalServerError => S::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => S::SERVICE_UNAVAILABLE,
        }
    }

    /// The name used in `errors[].config.when[].error` (`unauthorized`, `forbidden`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::RequestTimeout => "request_timeout",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InternalServerError => "internal_server_error",
            Self::ServiceUnavailable => "service_unavailable",
        }
    }
}

/// A refused request. The message never contains a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PipelineError {
    kind: ErrorKind,
    message: Cow<'static, str>,
}

impl PipelineError {
    /// A refusal of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    /// Oathkeeper's 401.
    pub fn unauthorized() -> Self {
        Self::new(ErrorKind::Unauthorized, "Access credentials are invalid")
    }
    /// Oathkeeper's 403.
    pub fn forbidden() -> Self {
        Self::new(
            ErrorKind::Forbidden,
            "Access credentials are not sufficient to access this resource",
        )
    }
    /// 503.
    pub fn unavailable(what: &'static str) -> Self {
        Self::new(ErrorKind::ServiceUnavailable, what)
    }
    /// 500.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InternalServerError, message)
    }
    /// The class.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The status.
    pub fn status(&self) -> http::StatusCode {
        self.kind.status()
    }
    /// The message (no secrets).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<iam_core::authn::AuthError> for PipelineError {
    fn from(e: iam_core::authn::AuthError) -> Self {
        use iam_core::authn::AuthErrorKind as K;
        match e.kind() {
            K::Unavailable => {
                Self::unavailable("a dependency needed to authenticate is unavailable")
            }
            K::Forbidden | K::InsufficientScope { .. } | K::InsufficientAssurance { .. } => {
                Self::forbidden()
            }
            _ => Self::unauthorized(),
        }
    }
}
