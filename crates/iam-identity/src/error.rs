//! The one error type of this crate, and the repositories' error.
use std::time::Duration;

/// A repository failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError {
    /// A unique name is taken (username, email, group or role name, tenant id).
    #[error("already exists")]
    Conflict,
    /// The storage failed or cannot be reached (the source never carries a bound value).
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl RepositoryError {
    /// A storage failure from any error.
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// Why a new password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordRejection {
    /// Fewer characters than the policy's minimum.
    #[error("the password must have at least {min} characters")]
    TooShort {
        /// The minimum, in characters.
        min: usize,
    },
    /// More bytes than the policy's maximum (refused before hashing).
    #[error("the password must have at most {max} bytes")]
    TooLong {
        /// The maximum, in bytes.
        max: usize,
    },
}

/// What went wrong in an identity operation. Never carries a password, code or token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Unknown tenant or user, wrong password, disabled user, suspended tenant: one answer.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The limiter refuses the attempt for now.
    #[error("too many attempts")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The hashing pool's queue is full.
    #[error("too busy to check a password now")]
    Overloaded {
        /// When to try again.
        retry_after: Duration,
    },
    /// A password longer than the policy's maximum, refused before hashing (a login too).
    #[error(transparent)]
    PasswordRejected(#[from] PasswordRejection),
    /// The MFA token is unknown, expired, used, or exhausted by wrong codes.
    #[error("invalid or expired MFA challenge")]
    InvalidMfaChallenge,
    /// A wrong, malformed or replayed TOTP or recovery code.
    #[error("invalid MFA code")]
    InvalidMfaCode,
    /// The refresh token is unknown, expired, revoked, or was reused (the family is revoked).
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// The user has a confirmed TOTP credential already (delete it first).
    #[error("TOTP is already enrolled")]
    TotpAlreadyEnrolled,
    /// No TOTP enrolment is pending or present.
    #[error("no TOTP enrolment")]
    TotpNotEnrolled,
    /// The tenant, user, group or role does not exist (in this tenant).
    #[error("not found")]
    NotFound,
    /// A unique name is taken.
    #[error("already exists")]
    Conflict,
    /// A field is malformed; names the field.
    #[error("invalid {0}")]
    InvalidInput(&'static str),
    /// The storage failed.
    #[error("storage unavailable")]
    Unavailable(#[source] RepositoryError),
    /// A stored TOTP secret cannot be opened: sealed by an unknown key-encryption key,
    /// bound to another user, or altered (fail closed: no code is accepted).
    #[error("a stored TOTP secret cannot be opened")]
    SealedSecretRejected,
    /// The hashing worker failed (a bug or a panic in the worker).
    #[error("password hashing failed")]
    Hashing,
}

impl From<RepositoryError> for IdentityError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Conflict => Self::Conflict,
            e => Self::Unavailable(e),
        }
    }
}
