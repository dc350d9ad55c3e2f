//! OIDC Back-Channel Logout 1.0: validating the logout token a provider POSTs to the
//! relying party's `backchannel_logout_uri`.
//!
//! The token must be a JWT from the issuer, for this client (`aud`), signed by a key of the
//! issuer's set, `typ` `logout+jwt` when present (an access token is never a logout token),
//! with `iat`, `exp`, `jti`, an `events` object naming the back-channel-logout event, `sid`
//! or `sub`, and no `nonce`. A `jti` seen before is refused (replay).
//!
//! ```no_run
//! use iam_client::logout::BackchannelLogout;
//! use iam_client::RemoteJwks;
//! # async fn run(body_logout_token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let keys = RemoteJwks::builder("https://auth.example.com/.well-known/jwks.json").build()?;
//! let logout = BackchannelLogout::new("https://auth.example.com/", "web-app", keys)?;
//! let request = logout.validate(body_logout_token).await?;
//! // end the sessions of request.subject() / request.session_id(), then answer 200
//! # let _ = request; Ok(()) }
//! ```
//!
//! ## Caveats: the replay memory
//! - Each accepted `jti` is remembered as a SHA-256 digest (a long `jti` costs no more)
//!   until no validator could accept its token any more: its `exp` plus the largest leeway a
//!   [`Validator`] allows (1 h), compared with the newest `iat` accepted so far minus that
//!   leeway again (a lower bound on the validator's clock that needs no clock of its own).
//!   An entry therefore outlives its token by two hours or more; tokens without `iat`
//!   (possible with [`BackchannelLogout::with_validator`]) do not move that bound.
//! - The memory holds at most [`BackchannelLogout::max_remembered`] entries (100 000 by
//!   default, about 10 MiB). At the cap, when every entry may still be valid, a new token is
//!   refused with [`LogoutTokenError::ReplayMemoryFull`] (fail closed) rather than forgetting
//!   a `jti` a replay could still use: the provider sees an error and may retry once older
//!   entries expire. Replays of remembered tokens are still answered
//!   [`LogoutTokenError::Replayed`].
//! - The memory is per instance: behind a load balancer, a replay sent to another instance
//!   is not recognised.
use iam_core::jwks::KeySource;
use iam_core::jwt::{ConfigError, JwtError, TokenType, Validator};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

/// The event URI a logout token must carry in `events`.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutTokenError {
    /// The JWT itself failed (signature, issuer, audience, type, expiry, ...).
    #[error("invalid logout token: {0}")]
    Jwt(#[from] JwtError),
    /// `events` is missing or does not carry the back-channel logout event as an object.
    #[error("invalid logout token: no back-channel logout event")]
    MissingEvent,
    /// A `nonce` claim is present (forbidden in logout tokens).
    #[error("invalid logout token: nonce is not allowed")]
    NoncePresent,
    /// Neither `sid` nor `sub`.
    #[error("invalid logout token: neither sid nor sub")]
    NoSubject,
    /// `sid` or `sub` present but not a string.
    #[error("invalid logout token: sid or sub is not a string")]
    BadSubject,
    /// `jti` already seen.
    #[error("invalid logout token: replayed")]
    Replayed,
    /// No key set could be had.
    #[error("issuer keys unavailable")]
    KeysUnavailable,
    /// The replay memory is full of tokens that may still be valid: the token is refused
    /// so that no remembered `jti` is forgotten early (see the [module docs](self)).
    #[error("logout token refused: too many unexpired logout tokens to remember")]
    ReplayMemoryFull,
}

/// A validated logout request: end the sessions it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    subject: Option<String>,
    session_id: Option<String>,
    token_id: String,
}

impl LogoutRequest {
    /// `sub`: log out every session of this user.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// `sid`: log out this session.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
    /// `jti`.
    pub fn token_id(&self) -> &str {
        &self.token_id
    }
}

/// Validates back-channel logout tokens of one issuer for one client.
pub struct BackchannelLogout<K> {
    validator: Validator,
    keys: K,
    seen: Mutex<ReplayMemory>,
}

/// The largest leeway a [`Validator`] accepts, in seconds.
const MAX_LEEWAY: i64 = 3600;

/// Digests of the `jti`s accepted, with their `exp`, bounded.
#[derive(Debug)]
struct ReplayMemory {
    ids: HashSet<[u8; 32]>,
    by_expiry: BTreeSet<(i64, [u8; 32])>,
    newest_iat: i64,
    capacity: usize,
}

impl ReplayMemory {
    fn new(capacity: usize) -> Self {
        Self {
            ids: HashSet::new(),
            by_expiry: BTreeSet::new(),
            newest_iat: i64::MIN,
            capacity,
        }
    }

    /// Refuse a replay, forget what can no longer be replayed, then remember this token or
    /// refuse it when the memory is full.
    fn admit(&mut self, jti: &str, iat: Option<i64>, exp: i64) -> Result<(), LogoutTokenError> {
        let id: [u8; 32] = Sha256::digest(jti.as_bytes()).into();
        if self.ids.contains(&id) {
            return Err(LogoutTokenError::Replayed);
        }
        if let Some(iat) = iat {
            self.newest_iat = self.newest_iat.max(iat);
        }
        // The validator accepted a token issued at `newest_iat`, so its clock reads at least
        // `newest_iat - leeway`; a token whose `exp + leeway` lies before that is refused
        // as expired whatever is remembered.
        let expired_before = self
            .newest_iat
            .saturating_sub(MAX_LEEWAY)
            .saturating_sub(MAX_LEEWAY);
        while let Some(&(first_exp, first_id)) = self.by_expiry.first() {
            if first_exp >= expired_before {
                break;
            }
            self.by_expiry.pop_first();
            self.ids.remove(&first_id);
        }
        if self.ids.len() >= self.capacity {
            return Err(LogoutTokenError::ReplayMemoryFull);
        }
        self.ids.insert(id);
        self.by_expiry.insert((exp, id));
        Ok(())
    }
}

impl<K> std::fmt::Debug for BackchannelLogout<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackchannelLogout")
            .field("validator", &self.validator)
            .finish_non_exhaustive()
    }
}

/// Default bound of the replay memory.
const MAX_REMEMBERED: usize = 100_000;

impl<K: KeySource> BackchannelLogout<K> {
    /// Logout tokens from `issuer` for `client_id`, verified with `keys`.
    pub fn new(issuer: &str, client_id: &str, keys: K) -> Result<Self, ConfigError> {
        Self::with_validator(
            Validator::builder(issuer)
                .audience(client_id)
                .token_type(TokenType::LogoutToken)
                .require_claim("iat")
                .require_claim("jti")
                .cache_capacity(0),
            keys,
        )
    }

    /// With a validator configured by you (clock, leeway); its token type must be
    /// [`TokenType::LogoutToken`].
    pub fn with_validator(
        builder: iam_core::jwt::ValidatorBuilder,
        keys: K,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            validator: builder.build()?,
            keys,
            seen: Mutex::new(ReplayMemory::new(MAX_REMEMBERED)),
        })
    }

    /// Remember at most this many logout tokens for replay protection (default 100 000;
    /// at least 1). Past it, tokens that may still be valid fill the memory and a new token
    /// is refused with [`LogoutTokenError::ReplayMemoryFull`].
    pub fn max_remembered(self, entries: usize) -> Self {
        let mut seen = self.seen.into_inner().unwrap_or_else(|e| e.into_inner());
        seen.capacity = entries.max(1);
        Self {
            seen: Mutex::new(seen),
            ..self
        }
    }

    /// How many logout tokens are remembered for replay protection now.
    pub fn remembered(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ids
            .len()
    }

    /// Validate one logout token.
    pub async fn validate(&self, token: &str) -> Result<LogoutRequest, LogoutTokenError> {
        let set = self
            .keys
            .keys()
            .await
            .map_err(|_| LogoutTokenError::KeysUnavailable)?;
        let (_, claims) = match self.validator.validate_claims(token, &set) {
            Err(e) if e.is_unknown_key() => {
                let kid = iam_core::jwt::unverified_kid(token).unwrap_or_default();
                match self.keys.keys_after_unknown_kid(&kid).await {
                    Ok(Some(newer)) => self.validator.validate_claims(token, &newer)?,
                    _ => return Err(e.into()),
                }
            }
            other => other?,
        };
        let event_ok = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT))
            .is_some_and(Value::is_object);
        if !event_ok {
            return Err(LogoutTokenError::MissingEvent);
        }
        if claims.get("nonce").is_some() {
            return Err(LogoutTokenError::NoncePresent);
        }
        let string = |name: &str| -> Result<Option<String>, LogoutTokenError> {
            match claims.get(name) {
                None => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(LogoutTokenError::BadSubject),
            }
        };
        let (subject, session_id) = (string("sub")?, string("sid")?);
        if subject.is_none() && session_id.is_none() {
            return Err(LogoutTokenError::NoSubject);
        }
        let token_id = claims.token_id().ok_or(LogoutTokenError::Jwt(
            iam_core::jwt::JwtErrorKind::MissingClaim("jti".into()).into(),
        ))?;
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).admit(
            token_id,
            claims.issued_at(),
            claims.expires_at(),
        )?;
        Ok(LogoutRequest {
            subject,
            session_id,
            token_id: token_id.to_owned(),
        })
    }
}
