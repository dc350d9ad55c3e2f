//! The `id_token` mutator: a JWT about the authenticated subject, signed with iam-issuer's key
//! ring, handed upstream as `Authorization: Bearer`.
//!
//! Oathkeeper's config: `issuer_url` (the `iss`), `ttl` (Go duration with one unit, default
//! `15m`), `claims` (a template rendering a JSON object, e.g.
//! `{"aud": ["orders"], "email": "{{ print .Extra.email }}"}`), `jwks_url`. The payload is the
//! rendered claims with `sub` (the session's subject), `iss`, `iat`, `nbf`, `exp` and `jti`
//! set by the proxy; the header is `{"alg", "typ": "JWT", "kid"}`.
//!
//! # Caveats
//! - The keys are the [`KeyRing`](iam_issuer::KeyRing) given to
//!   [`PipelineBuilder::id_token_keys`](super::PipelineBuilder::id_token_keys), not the
//!   private JWK set at `jwks_url` (which is accepted and not read): upstreams fetch the public
//!   keys from the proxy (access-proxy serves them on its API port at
//!   `/.well-known/jwks.json`). Without a ring, `id_token` is refused at load.
//! - `ttl` above the ring's `max_token_lifetime` is refused at load.
//!
//! # Token cache
//! A minted token is reused for the same subject, rendered claims, issuer, `ttl` and signing
//! key (all hashed into the cache key) while more than half its lifetime is left, as
//! Oathkeeper reuses its id_tokens; upstreams so see a token with at least `ttl / 2` to live.
//! The key id in the cache key is the ring's current signing key at the time of the request:
//! after a rotation every request misses and a token of the new key is minted, so a token of
//! a retired key is never handed out again (the ones already out expire within `ttl`, while
//! the retired key is still published). The cache is bounded (10 000 entries per mutator,
//! approximately; past that, entries are evicted) and holds no clear-text token in `Debug`.
//! The clock is the key ring's, so `iat`, `nbf`, `exp` and reuse agree.
use super::template::Template;
use super::{PipelineError, RequestFacts, Session};
use http::header::{HeaderValue, AUTHORIZATION};
use iam_issuer::{Issuer, KeyRing, TokenType};
use serde_json::{Map, Value};
use std::time::Duration;

/// Oathkeeper's default `ttl`.
const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Tokens kept per mutator (approximately).
const CACHE_CAPACITY: usize = 10_000;

/// A minted token as the `Authorization` value (marked sensitive) and its `exp`.
#[derive(Clone)]
struct CachedToken {
    bearer: HeaderValue,
    expires_at: i64,
}

/// Minted tokens by [`cache_key`]. `Debug` shows the size only.
struct TokenCache(quick_cache::sync::Cache<[u8; 32], CachedToken>);

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.0.len())
            .finish()
    }
}

/// A compiled `id_token` mutator.
#[derive(Debug)]
pub(crate) struct IdTokenMutator {
    issuer: Issuer,
    ttl: Duration,
    claims: Option<Template>,
    cache: TokenCache,
}

/// Everything that goes into a token, hashed: subject, rendered claims, issuer, ttl, key id.
/// Each part is length-prefixed so no two different inputs share their bytes.
fn cache_key(
    subject: &str,
    claims: &Map<String, Value>,
    issuer: &str,
    ttl: Duration,
    kid: &str,
) -> [u8; 32] {
    use sha2::Digest as _;
    let rendered = serde_json::to_string(claims).unwrap_or_default();
    let mut h = sha2::Sha256::new();
    for part in [subject, rendered.as_str(), issuer, kid] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(ttl.as_nanos().to_be_bytes());
    h.finalize().into()
}

/// A Go duration with one unit (`30s`, `15m`, `1h`), as Oathkeeper's schema allows.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("ttl {text:?} has no unit (ns, us, ms, s, m, h)"))?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("ttl {text:?} is not a number with a unit"))?;
    let d = match unit {
        "ns" => Duration::from_nanos(n),
        "us" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("ttl {text:?}: unknown unit {unit:?}")),
    };
    Ok(d)
}

impl IdTokenMutator {
    pub(crate) fn compile(config: &Value, keys: Option<&KeyRing>) -> Result<Self, String> {
        let keys = keys.ok_or_else(|| {
            "no key ring to sign with (PipelineBuilder::id_token_keys)".to_owned()
        })?;
        let issuer_url = config
            .get("issuer_url")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| "issuer_url is missing".to_owned())?;
        let ttl = match config.get("ttl").and_then(Value::as_str) {
            Some(t) => parse_ttl(t)?,
            None => DEFAULT_TTL,
        };
        let longest = keys.policy().max_token_lifetime;
        if ttl < Duration::from_secs(1) || ttl > longest {
            return Err(format!(
                "ttl must be between 1s and the key ring's longest token lifetime ({}s)",
                longest.as_secs()
            ));
        }
        let claims = match config.get("claims").and_then(Value::as_str) {
            Some(text) if !text.trim().is_empty() => {
                Some(Template::parse(text).map_err(|e| format!("claims: {e}"))?)
            }
            _ => None,
        };
        Ok(Self {
            issuer: Issuer::new(issuer_url, keys.clone()),
            ttl,
            claims,
            cache: TokenCache(quick_cache::sync::Cache::new(CACHE_CAPACITY)),
        })
    }

    pub(crate) fn mutate(
        &self,
        facts: &RequestFacts<'_>,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        let mut claims = match &self.claims {
            Some(t) => {
                let rendered = t.render(&session.template_data(facts));
                match serde_json::from_str::<Value>(&rendered) {
                    Ok(Value::Object(m)) => m,
                    _ => {
                        return Err(PipelineError::internal(
                            "the id_token claims template did not render a JSON object",
                        ))
                    }
                }
            }
            None => Map::new(),
        };
        let ring = self.issuer.key_ring();
        let kid = ring
            .signing_kid()
            .ok_or_else(|| PipelineError::unavailable("the id_token signing key is unavailable"))?;
        let key = cache_key(
            &session.subject,
            &claims,
            self.issuer.issuer(),
            self.ttl,
            &kid,
        );
        let now = ring.now();
        // Reused while more than half of its lifetime is left.
        let keep_for = i64::try_from(self.ttl.as_secs().div_ceil(2)).unwrap_or(i64::MAX);
        if let Some(hit) = self.cache.0.get(&key) {
            if hit.expires_at.saturating_sub(now) > keep_for {
                session.headers.insert(AUTHORIZATION, hit.bearer);
                return Ok(());
            }
        }
        claims.insert("sub".into(), Value::from(session.subject.as_str()));
        claims.insert("nbf".into(), Value::from(now));
        let minted = self
            .issuer
            .mint_as(TokenType::Jwt, claims, self.ttl)
            .map_err(|_| PipelineError::unavailable("the id_token signing key is unavailable"))?;
        let token = minted.token.secret();
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| PipelineError::internal("a minted token is not a header value"))?;
        value.set_sensitive(true);
        // Cached only under the key that signed: a rotation between the two reads leaves
        // this token uncached.
        if minted.kid == kid {
            self.cache.0.insert(
                key,
                CachedToken {
                    bearer: value.clone(),
                    expires_at: minted.expires_at,
                },
            );
        }
        session.headers.insert(AUTHORIZATION, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::CanonicalRequest;
    use base64::Engine as _;
    use iam_core::clock::FixedClock;
    use iam_issuer::{KeyAlgorithm, KeyEncryptionKey, MemoryKeyStore, RotationPolicy};
    use std::sync::Arc;

    async fn ring(clock: Arc<FixedClock>) -> KeyRing {
        KeyRing::open(
            Arc::new(MemoryKeyStore::new()),
            KeyEncryptionKey::generate(),
            KeyAlgorithm::Es256,
            RotationPolicy::default(),
            clock,
        )
        .await
        .unwrap()
    }

    /// The `Authorization` value the mutator sets for `subject` with `extra.email`.
    fn bearer(m: &IdTokenMutator, subject: &str, email: &str) -> String {
        let canonical =
            CanonicalRequest::new(&http::Method::GET, "http", "app.example", "/x").unwrap();
        let headers = http::HeaderMap::new();
        let facts = RequestFacts {
            canonical: &canonical,
            headers: &headers,
            client_ip: "127.0.0.1".parse().unwrap(),
            captures: &[],
            body: None,
        };
        let mut session = Session {
            subject: subject.to_owned(),
            ..Session::default()
        };
        session.extra.insert("email".into(), email.into());
        m.mutate(&facts, &mut session).unwrap();
        session.headers[AUTHORIZATION].to_str().unwrap().to_owned()
    }

    fn kid_of(bearer: &str) -> String {
        let header = bearer
            .trim_start_matches("Bearer ")
            .split('.')
            .next()
            .unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        let header: Value = serde_json::from_slice(&header).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    }

    fn mutator(keys: &KeyRing) -> IdTokenMutator {
        let config = serde_json::json!({"issuer_url": "https://proxy.example", "ttl": "10m",
            "claims": "{\"email\": \"{{ print .Extra.email }}\"}"});
        IdTokenMutator::compile(&config, Some(keys)).unwrap()
    }

    #[tokio::test]
    async fn one_subject_with_the_same_claims_reuses_its_token_until_half_its_lifetime_is_gone() {
        let clock = Arc::new(FixedClock::new(1_800_000_000));
        let keys = ring(clock.clone()).await;
        let m = mutator(&keys);
        let first = bearer(&m, "alice", "a@example.com");
        clock.advance(299);
        assert_eq!(bearer(&m, "alice", "a@example.com"), first);
        clock.advance(2);
        let renewed = bearer(&m, "alice", "a@example.com");
        assert_ne!(
            renewed, first,
            "under half of the 10 minutes left: minted again"
        );
        assert_eq!(bearer(&m, "alice", "a@example.com"), renewed);
        assert!(!format!("{m:?}").contains(renewed.trim_start_matches("Bearer ")));
    }

    #[tokio::test]
    async fn another_subject_or_other_rendered_claims_never_get_a_cached_token() {
        let clock = Arc::new(FixedClock::new(1_800_000_000));
        let keys = ring(clock).await;
        let m = mutator(&keys);
        let alice = bearer(&m, "alice", "a@example.com");
        assert_ne!(bearer(&m, "bob", "a@example.com"), alice);
        assert_ne!(bearer(&m, "alice", "other@example.com"), alice);
        // A mutator with another issuer or ttl has its own tokens.
        let config = serde_json::json!({"issuer_url": "https://other.example", "ttl": "10m",
            "claims": "{\"email\": \"{{ print .Extra.email }}\"}"});
        let other = IdTokenMutator::compile(&config, Some(&keys)).unwrap();
        assert_ne!(bearer(&other, "alice", "a@example.com"), alice);
        // Length-prefixed parts: moving bytes between subject and claims changes the key.
        let ttl = Duration::from_secs(600);
        let claims = |c: &str| {
            let mut m = Map::new();
            m.insert("c".into(), c.into());
            m
        };
        assert_ne!(
            cache_key("ab", &claims("c"), "i", ttl, "k"),
            cache_key("a", &claims("bc"), "i", ttl, "k")
        );
    }

    #[tokio::test]
    async fn after_a_rotation_no_token_of_the_retired_key_is_handed_out() {
        let clock = Arc::new(FixedClock::new(1_800_000_000));
        let keys = ring(clock.clone()).await;
        let m = mutator(&keys);
        let before = bearer(&m, "alice", "a@example.com");
        let old_kid = keys.signing_kid().unwrap();
        assert_eq!(kid_of(&before), old_kid);
        keys.rotate_now().await.unwrap();
        let new_kid = keys.signing_kid().unwrap();
        assert_ne!(new_kid, old_kid);
        let after = bearer(&m, "alice", "a@example.com");
        assert_ne!(after, before);
        assert_eq!(kid_of(&after), new_kid);
    }

    #[test]
    fn ttls_take_one_go_unit_and_anything_else_is_refused() {
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_ttl("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "15", "m", "1d", "-1m", "1h30m", "99999999999999999999s"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }
}
