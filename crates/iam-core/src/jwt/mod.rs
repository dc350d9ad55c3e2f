//! Validation of compact JWS tokens and their JWT claims.
//!
//! ```
//! use iam_core::jwt::{TokenType, Validator};
//! use std::time::Duration;
//!
//! let validator = Validator::builder("https://auth.example.com/")
//!     .audience("orders-api")
//!     .leeway(Duration::from_secs(30))
//!     .token_type(TokenType::AccessToken) // RFC 9068: typ must be at+jwt
//!     .require_claim("sub")
//!     .build()
//!     .expect("valid configuration");
//! # let _ = validator;
//! ```
//!
//! The policy, with no switch that turns a check off:
//! - compact serialization only, at most 16 KiB by default (checked before any decoding),
//!   each segment strict base64url without padding, header and payload JSON objects without
//!   duplicate members and at most 32 levels deep;
//! - `alg` must be one the chosen key is bound to (see [`crate::jwks`]); `none` never; HMAC
//!   only with a secret added by
//!   [`JwkSet::insert_shared_secret`](crate::jwks::JwkSet::insert_shared_secret);
//! - `crit`, `b64`, `zip`, `enc` and nested tokens (`cty: JWT`) are refused; `jwk`, `jku`,
//!   `x5u`, `x5c` are ignored: keys come only from the key set;
//! - `typ`: absent, `JWT`, `at+jwt` or `application/at+jwt` (case-insensitive) by default;
//!   [`TokenType::AccessToken`] requires `at+jwt`;
//! - `exp` required; `nbf` and `iat` checked when present; leeway 60 s by default; `iss`
//!   must equal the configured issuer byte for byte; `aud` must name a configured audience.
//!
//! ## Caveats
//! - The signature is checked before the payload is decoded, so a forged token is refused
//!   as `invalid signature` even when its claims are also wrong.
//! - Valid tokens are cached (see [`ValidatorBuilder::cache_capacity`]); a cached entry is
//!   tied to its key and is ignored as soon as a key set without that key is used.
mod algorithm;
mod builder;
mod cache;
mod claim_mapping;
mod error;
mod external;
mod header;
mod jws;
mod unverified;
mod validator;

pub use algorithm::Algorithm;
pub use builder::{DangerousValidatorBuilder, ValidatorBuilder};
pub use claim_mapping::ClaimNames;
pub use error::{ConfigError, JwtError, JwtErrorKind};
pub use external::{EcCurve, ExternalKey, PendingSignature, Step};
pub use header::{JwsHeader, TokenType, VerifiedJws};
pub use unverified::{unverified_issuer, unverified_kid};
pub use validator::{ValidatedToken, Validator};

use builder::Policy;
