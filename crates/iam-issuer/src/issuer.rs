//! [`Issuer`]: mints signed JWTs with the ring's current key and serves the JWKS and OpenID
//! discovery documents.
//!
//! ```
//! use iam_issuer::{Issuer, KeyAlgorithm, KeyEncryptionKey, KeyRing, MemoryKeyStore, RotationPolicy};
//! use iam_core::clock::SystemClock;
//! use serde_json::{json, Map};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), iam_issuer::IssuerError> {
//! let ring = KeyRing::open(Arc::new(MemoryKeyStore::new()), KeyEncryptionKey::generate(),
//!                          KeyAlgorithm::Es256, RotationPolicy::default(), SystemClock).await?;
//! let issuer = Issuer::new("https://auth.example.com", ring);
//! let mut claims = Map::new();
//! claims.insert("sub".into(), json!("user-1"));
//! claims.insert("aud".into(), json!("orders-api"));
//! let minted = issuer.mint(claims, Duration::from_secs(600))?;
//! assert_eq!(minted.token.secret().split('.').count(), 3);
//! assert_eq!(format!("{:?}", minted.token), "Secret(<redacted>)");
//! let jwks = issuer.jwks(); // serve at /.well-known/jwks.json
//! assert_eq!(jwks["keys"].as_array().unwrap().len(), 2); // current + next
//! # Ok(()) }
//! ```
//!
//! A minted token's header is `{"alg", "typ": "at+jwt", "kid"}` (RFC 9068); its payload is the
//! caller's claims with `iss`, `iat`, `exp` and `jti` (128 random bits, base64url) set by the
//! issuer, replacing any the caller gave. `nbf` is left to the caller.
//!
//! # Caveats
//! - `mint` never waits: it signs with the key the last [`KeyRing::tick`] saw as current.
//! - Lifetimes above the policy's `max_token_lifetime` are refused: that bound is what lets a
//!   retired key leave the JWKS safely.
//! - RS256 signing costs about a millisecond per token (RSA 2048); ES256 and EdDSA tens of
//!   microseconds. See the crate README for the measured figures.
use crate::algorithm::SigningKey;
use crate::error::{IssuerError, IssuerErrorKind};
use crate::kek::random;
use crate::policy::RotationPolicy;
use crate::ring::KeyRing;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use iam_core::Secret;
use serde_json::{json, Map, Value};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The `typ` header of a minted token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenType {
    /// `at+jwt`: an OAuth 2.0 access token (RFC 9068), the default.
    #[default]
    AccessToken,
    /// `JWT`: any other JWT (an ID token, a token for an upstream such as the proxy's
    /// `id_token` mutator makes).
    Jwt,
}

/// A signed token and what a caller records about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MintedToken {
    /// The compact JWS (redacted in `Debug`).
    pub token: Secret<String>,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp` (Unix seconds).
    pub expires_at: i64,
    /// The key that signed it.
    pub kid: String,
}

/// Mints tokens for one issuer URL with a [`KeyRing`]. Cheap to clone.
#[derive(Clone)]
pub struct Issuer {
    issuer: Arc<str>,
    ring: KeyRing,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.issuer)
            .field("ring", &self.ring)
            .finish()
    }
}

impl Issuer {
    /// An issuer named `issuer_url` (the `iss` of every token, and the `issuer` of the
    /// discovery document: validators compare it byte for byte).
    pub fn new(issuer_url: impl Into<String>, key_ring: KeyRing) -> Self {
        Self {
            issuer: Arc::from(issuer_url.into()),
            ring: key_ring,
        }
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key ring.
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Sign `claims` as an access token (`typ: at+jwt`) valid for `lifetime` from now.
    pub fn mint(
        &self,
        claims: Map<String, Value>,
        lifetime: Duration,
    ) -> Result<MintedToken, IssuerError> {
        self.mint_as(TokenType::AccessToken, claims, lifetime)
    }

    /// Sign `claims` with the given `typ` header, valid for `lifetime` from now.
    pub fn mint_as(
        &self,
        token_type: TokenType,
        mut claims: Map<String, Value>,
        lifetime: Duration,
    ) -> Result<MintedToken, IssuerError> {
        let policy = self.ring.policy();
        if lifetime < Duration::from_secs(1) || lifetime > policy.max_token_lifetime {
            return Err(IssuerErrorKind::InvalidLifetime.into());
        }
        let view = self.ring.view();
        let key: &SigningKey = view
            .signing
            .as_deref()
            .ok_or(IssuerErrorKind::NoSigningKey)?;
        let now = self.ring.now();
        let expires_at = now.saturating_add(RotationPolicy::secs(lifetime));
        let mut id = [0u8; 16];
        random(&mut id);
        let jti = URL_SAFE_NO_PAD.encode(id);
        claims.insert("iss".into(), Value::from(&*self.issuer));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(expires_at));
        claims.insert("jti".into(), Value::from(jti.as_str()));
        let payload = serde_json::to_vec(&claims).map_err(|_| IssuerErrorKind::InvalidClaims)?;
        let header = key.header(token_type == TokenType::AccessToken);
        let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = key.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(MintedToken {
            token: Secret::new(token),
            jti,
            expires_at,
            kid: key.kid.clone(),
        })
    }

    /// The JWK set to publish: the current key, the `next` keys and the retired keys still
    /// within `retain_after`, each with `kid`, `alg` and `use: sig`.
    pub fn jwks(&self) -> Value {
        let now = self.ring.now();
        let view = self.ring.view();
        let keys: Vec<&Value> = view
            .published
            .iter()
            .filter(|k| k.unpublish_at.is_none_or(|t| now < t))
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys })
    }

    /// How long a validator may cache [`jwks`](Self::jwks): send it as
    /// `Cache-Control: max-age` (the policy's `jwks_cache_ttl`).
    pub fn jwks_max_age(&self) -> Duration {
        self.ring.policy().jwks_cache_ttl
    }

    /// The OpenID discovery document: `issuer`, `jwks_uri` (default
    /// `{issuer}/.well-known/jwks.json`), `id_token_signing_alg_values_supported` (the
    /// algorithms of the published keys), `subject_types_supported: ["public"]`,
    /// `response_types_supported: []` (a headless issuer has no authorization endpoint), then
    /// every field of `extra` (`token_endpoint`, `authorization_endpoint`, …), which may
    /// replace any of those except `issuer`.
    ///
    /// OIDC client libraries such as `openidconnect` (which iam-client's discovery uses) also
    /// require `authorization_endpoint`: pass one in `extra` for them.
    pub fn discovery(&self, extra: Map<String, Value>) -> Value {
        let now = self.ring.now();
        let mut algorithms: Vec<String> = Vec::new();
        for key in self.ring.view().published.iter() {
            if key.unpublish_at.is_none_or(|t| now < t) && !algorithms.contains(&key.algorithm) {
                algorithms.push(key.algorithm.clone());
            }
        }
        let mut doc = Map::new();
        doc.insert(
            "jwks_uri".into(),
            json!(format!(
                "{}/.well-known/jwks.json",
                self.issuer.trim_end_matches('/')
            )),
        );
        doc.insert(
            "id_token_signing_alg_values_supported".into(),
            json!(algorithms),
        );
        doc.insert("subject_types_supported".into(), json!(["public"]));
        doc.insert("response_types_supported".into(), json!([]));
        doc.extend(extra);
        doc.insert("issuer".into(), json!(&*self.issuer));
        Value::Object(doc)
    }
}
