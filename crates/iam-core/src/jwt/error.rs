//! Errors of token validation ([`JwtError`]) and of validator configuration ([`ConfigError`]).
use std::fmt;

/// What was wrong with a token. Messages are fixed strings: they never echo the token or any
/// value taken from it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtErrorKind {
    /// Longer than the configured maximum (checked before any decoding).
    TooLarge,
    /// Not a compact JWS: wrong segment count, bad base64url, not JSON, JWE, JSON
    /// serialization, ... The detail says which.
    Malformed(&'static str),
    /// A JSON object with the same member twice.
    DuplicateMember,
    /// JSON nested deeper than allowed.
    TooDeep,
    /// `alg: none`, in any spelling.
    AlgorithmNone,
    /// An `alg` iam-core does not verify.
    UnsupportedAlgorithm,
    /// The key named by `kid` may not verify this `alg` (type or JWK `alg` mismatch).
    AlgorithmNotAllowed,
    /// A header parameter iam-core refuses (`crit`, `b64`, `zip`, `enc`, nested `cty`).
    UnsupportedHeader(&'static str),
    /// No key with the token's `kid`.
    UnknownKey,
    /// No `kid`, and no key for the token's algorithm.
    NoMatchingKey,
    /// No `kid`, and several keys could verify the token's algorithm.
    AmbiguousKey,
    /// The signature does not verify.
    InvalidSignature,
    /// `typ` is not accepted by the policy.
    WrongType,
    /// A required claim is absent.
    MissingClaim(String),
    /// A claim has the wrong type or an impossible value.
    InvalidClaim(&'static str),
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// Older than the configured maximum age.
    TooOld,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not name a configured audience.
    WrongAudience,
    /// [`Validator::finish`](super::Validator::finish) (or `finish_jws`) was handed a
    /// [`PendingSignature`](super::PendingSignature) that another validator made, or that the
    /// other `begin` step made: a caller's mistake, refused rather than checked under a policy
    /// that did not choose the key.
    ForeignPendingSignature,
}

impl fmt::Display for JwtErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => f.write_str("token is too large"),
            Self::Malformed(d) => write!(f, "malformed token: {d}"),
            Self::DuplicateMember => f.write_str("malformed token: duplicate JSON member"),
            Self::TooDeep => f.write_str("malformed token: JSON nested too deep"),
            Self::AlgorithmNone => f.write_str("unsigned tokens (alg none) are not accepted"),
            Self::UnsupportedAlgorithm => f.write_str("unsupported signing algorithm"),
            Self::AlgorithmNotAllowed => {
                f.write_str("signing algorithm not allowed for this key or validator")
            }
            Self::UnsupportedHeader(h) => write!(f, "unsupported header parameter {h}"),
            Self::UnknownKey => f.write_str("unknown signing key"),
            Self::NoMatchingKey => f.write_str("no signing key for this algorithm"),
            Self::AmbiguousKey => f.write_str("token has no kid and several keys match"),
            Self::InvalidSignature => f.write_str("invalid signature"),
            Self::WrongType => f.write_str("token type (typ) not accepted"),
            Self::MissingClaim(c) => write!(f, "missing required claim {c}"),
            Self::InvalidClaim(c) => write!(f, "invalid claim {c}"),
            Self::Expired => f.write_str("token expired"),
            Self::NotYetValid => f.write_str("token not yet valid"),
            Self::IssuedInFuture => f.write_str("token issued in the future"),
            Self::TooOld => f.write_str("token is older than the maximum age"),
            Self::WrongIssuer => f.write_str("issuer not accepted"),
            Self::WrongAudience => f.write_str("audience not accepted"),
            Self::ForeignPendingSignature => {
                f.write_str("pending signature was not made by this validator's begin step")
            }
        }
    }
}

/// A refused token. [`kind`](Self::kind) tells why; `Display` gives the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtError {
    kind: JwtErrorKind,
}

impl JwtError {
    /// Why the token was refused.
    pub fn kind(&self) -> &JwtErrorKind {
        &self.kind
    }
    /// True when the token names a key the set does not have (a key source may refresh).
    pub fn is_unknown_key(&self) -> bool {
        matches!(self.kind, JwtErrorKind::UnknownKey)
    }
}

impl From<JwtErrorKind> for JwtError {
    fn from(kind: JwtErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for JwtError {}

/// A validator that cannot be built as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The issuer is empty.
    #[error("issuer must not be empty")]
    EmptyIssuer,
    /// No audience was configured (use `dangerous().accept_any_audience()` to opt out).
    #[error("at least one audience is required")]
    NoAudience,
    /// An empty audience string.
    #[error("audience must not be empty")]
    EmptyAudience,
    /// Leeway above one hour.
    #[error("leeway must be at most 3600 seconds")]
    LeewayTooLarge,
    /// Token size limit outside 256 bytes ..= 1 MiB.
    #[error("max token length must be between 256 bytes and 1 MiB")]
    BadTokenLimit,
    /// JSON depth limit outside 2 ..= 64.
    #[error("max JSON depth must be between 2 and 64")]
    BadDepthLimit,
    /// [`algorithms`](super::ValidatorBuilder::algorithms) was given an empty list.
    #[error("the algorithm allowlist must not be empty")]
    NoAlgorithm,
    /// No clock on a target without a system clock (wasm32-unknown-unknown).
    #[error("this target has no system clock: configure one with ValidatorBuilder::clock")]
    ClockRequired,
}
