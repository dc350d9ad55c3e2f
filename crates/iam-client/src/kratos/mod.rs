//! Ory Kratos sessions: a session cookie or session token turned into a [`Principal`](iam_core::Principal) by
//! Kratos's `GET /sessions/whoami`, cached, failing closed.
//!
//! ```no_run
//! use iam_client::kratos::KratosSessions;
//! use iam_client::JwtConfig;
//! use iam_core::authn::Requirement;
//! use iam_core::principal::AssuranceLevel;
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let sessions = KratosSessions::builder("https://auth.example.com/.ory/kratos/public")
//!     .cookie_name("ory_kratos_session")          // the default
//!     .build()?;
//! // JWT bearers go to the JWT authenticator, sessions to Kratos: the chain decides by shape.
//! let chain = JwtConfig::from_env("IAM_")?.chain()?.with(sessions.clone());
//! // Admin areas: aal2, else 403 insufficient_user_authentication.
//! let admin_only = Requirement::assurance(AssuranceLevel::Aal2);
//! # let _ = (chain, admin_only); Ok(()) }
//! ```
//!
//! Credentials, in this order: `X-Session-Token`; an `Authorization: Bearer` that starts with
//! `ory_st_` (a bearer shaped like a JWT belongs to the JWT authenticator, any other opaque
//! bearer to whichever authenticator claims it); the session cookie. Only that one cookie is
//! sent to Kratos (`Cookie: name=value`), never the request's whole `Cookie` header.
//!
//! Answers: 200 with an active, unexpired session → a principal of kind `user_session`;
//! Kratos 401 (no, unknown or inactive session) → 401 `invalid_token`; Kratos 403
//! `session_aal2_required` → 403 `insufficient_user_authentication` (`acr_values="aal2"`);
//! Kratos unreachable, 5xx or unreadable → 503 (cached sessions keep working until their
//! TTL). A credential over 4 KiB is a 400 without a call.
//!
//! The principal: `subject` = identity id, `session_id`, `auth_time` = `authenticated_at`,
//! assurance level from `authenticator_assurance_level`, `amr` = the methods of
//! `authentication_methods`, `expires_at`; claims = the identity's traits plus
//! `email_verified` (true when a verified address equals `traits.email`); from
//! `metadata_public`: `roles` and `permissions` (arrays of strings, or space-separated
//! strings) and `tenant` (a string).
//!
//! Cache: in-process, bounded (10 000 entries), keyed by SHA-256 of the credential (the
//! credential itself is never stored), 60 s and never past the session's `expires_at`;
//! refusals for 5 s so a flood of bad cookies reaches Kratos once per distinct cookie per 5 s
//! at most. A shared [`SessionStore`] (Redis: [`RedisSessionStore`]) is consulted after the
//! in-process cache; when it fails, Kratos is asked directly and `stats().store_errors`
//! counts it. An entry read from the store is kept in process no longer than the store still
//! keeps it (its remaining lifetime, never a fresh TTL), so a fleet never holds a session
//! longer than one TTL after Kratos last confirmed it.
//!
//! Revocation: [`KratosSessions::purge_session`], [`KratosSessions::purge_identity`] and
//! [`KratosSessions::revoke_all_sessions`] purge the shared store, which announces the purge
//! to every instance sharing it (Redis pub/sub, [`SessionStore::watch_purges`]); each drops
//! the session from its in-process cache as soon as the message arrives (milliseconds). The
//! watch starts with the first request (it needs the tokio runtime) and reconnects after a
//! failure. Caveat, failing closed: while an instance's watch is not connected it cannot hear
//! purges, so it serves no session from its in-process cache (each request goes to the
//! store, then Kratos) and empties that cache when the watch is back. A store without a
//! watch (a custom [`SessionStore`]) keeps the in-process TTL as the revocation delay.

mod admin;
mod purge;
#[cfg(feature = "redis")]
mod redis_store;
mod sessions;
mod store;
mod wire;

pub use admin::session_jwt_authenticator;
#[cfg(feature = "redis")]
pub use redis_store::RedisSessionStore;
pub use sessions::{KratosSessions, KratosSessionsBuilder};
pub use store::{PurgeEvent, PurgeSink, SessionStore, StoreError, StoredSession};

/// Kratos session tokens start with this.
pub const SESSION_TOKEN_PREFIX: &str = "ory_st_";
/// Longest session credential sent to Kratos; longer ones are a 400 without a call.
const MAX_CREDENTIAL: usize = 4096;

/// A Kratos client that cannot be built as configured, or a failed admin call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KratosError {
    /// A URL is not absolute http(s).
    #[error("invalid Kratos URL")]
    InvalidUrl,
    /// A URL is refused by the transport policy (https, or http to loopback).
    #[error(transparent)]
    Insecure(#[from] crate::transport::TransportPolicyError),
    /// The cookie name is not an RFC 6265 token.
    #[error("invalid session cookie name")]
    InvalidCookieName,
    /// Kratos could not be reached.
    #[error(transparent)]
    Http(#[from] crate::transport::HttpError),
    /// Kratos answered with an unexpected status.
    #[error("Kratos answered HTTP {0}")]
    Status(u16),
    /// Kratos's answer does not parse.
    #[error("unexpected answer from Kratos")]
    Malformed,
    /// No admin URL was configured.
    #[error("no Kratos admin URL configured")]
    NoAdmin,
    /// The shared session store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counters (monotonic since start); also sent to the `metrics` facade as
/// `iam_kratos_{cache_hits,store_hits,store_errors,whoami_calls,errors}_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KratosStats {
    /// Answered from the in-process cache.
    pub cache_hits: u64,
    /// Answered from the shared store.
    pub store_hits: u64,
    /// Shared store failures (each fell back to Kratos).
    pub store_errors: u64,
    /// Calls to `whoami`.
    pub whoami_calls: u64,
    /// Kratos unreachable or 5xx.
    pub kratos_errors: u64,
}
