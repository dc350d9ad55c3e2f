//! The `oauth2_client_credentials` authenticator: the request's HTTP Basic credentials are a
//! client id and secret; they are valid when the token endpoint grants them a token
//! (`client_credentials` grant, with `required_scope` asked for). The subject is the client id.
//!
//! Config as Oathkeeper's: `token_url` (required), `required_scope`, `cache` (`enabled`,
//! `ttl` as a Go duration with one unit, default `30s`, `max_tokens`, default 1,000).
//!
//! # Caveats
//! - A request without Basic credentials is "not responsible"; a Basic header that does not
//!   decode, or credentials the endpoint refuses, is 401; an endpoint that cannot be reached or
//!   answers nonsense is 503.
//! - The cache holds a SHA-256 of the client id and secret (never the secret) for successful
//!   grants only, per handler instance (so per full effective config: token URL and scopes),
//!   bounded by `max_tokens`: when full, answers are not cached until entries expire.
use super::{PipelineError, RequestFacts, Session};
use base64::Engine as _;
use http::header::AUTHORIZATION;
use iam_client::{ClientCredentials, ClientCredentialsError};
use serde_json::{Map, Value};
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The compiled authenticator with its cache of granted credentials.
pub(crate) struct ClientCredentialsHandler {
    token_url: String,
    scopes: Vec<String>,
    http: iam_client::HttpClient,
    /// `None` when `cache.enabled` is not set.
    cache: Option<GrantCache>,
}

impl std::fmt::Debug for ClientCredentialsHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentialsHandler")
            .field("token_url", &self.token_url)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Digests of granted credentials until they expire.
struct GrantCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Instant>>,
}

impl GrantCache {
    fn hit(&self, key: &[u8; 32]) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .is_some_and(|until| Instant::now() < *until)
    }

    fn insert(&self, key: [u8; 32]) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, until| now < *until);
        }
        if entries.len() < self.capacity {
            entries.insert(key, now + self.ttl);
        }
    }
}

/// A Go duration with one unit (`30s`, `5m`).
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = text[..split].parse().ok()?;
    Some(match &text[split..] {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    })
}

/// Go's `url.QueryUnescape` (Oathkeeper unescapes both halves of the Basic credentials).
fn query_unescape(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

impl ClientCredentialsHandler {
    pub(crate) fn compile(config: &Value, http: &iam_client::HttpClient) -> Result<Self, String> {
        let token_url = config
            .get("token_url")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| "token_url is missing".to_owned())?;
        // Checked once here, so a request never meets a bad URL.
        ClientCredentials::builder(token_url, "probe", "probe")
            .build(http.clone())
            .map_err(|e| format!("token_url: {e}"))?;
        let scopes = super::scope::strings(config.get("required_scope"));
        let cache_config = config.get("cache").cloned().unwrap_or_default();
        let cache = if cache_config.get("enabled") == Some(&Value::Bool(true)) {
            let ttl = match cache_config.get("ttl").and_then(Value::as_str) {
                Some(t) => parse_duration(t)
                    .filter(|d| !d.is_zero() && *d <= Duration::from_secs(86_400))
                    .ok_or_else(|| format!("cache.ttl {t:?} is not a duration up to 24h"))?,
                None => Duration::from_secs(30),
            };
            let capacity = match cache_config.get("max_tokens") {
                None => 1_000,
                Some(v) => v
                    .as_u64()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| "cache.max_tokens must be 1 to 1000000".to_owned())?,
            };
            Some(GrantCache {
                ttl,
                capacity,
                entries: Mutex::new(HashMap::new()),
            })
        } else {
            None
        };
        Ok(Self {
            token_url: token_url.to_owned(),
            scopes,
            http: http.clone(),
            cache,
        })
    }

    /// The client id and secret of `Authorization: Basic`; `Ok(None)` without one.
    fn basic(facts: &RequestFacts<'_>) -> Result<Option<(String, String)>, PipelineError> {
        let mut values = facts.headers.get_all(AUTHORIZATION).iter();
        let (Some(v), None) = (values.next(), values.next()) else {
            return if facts.headers.contains_key(AUTHORIZATION) {
                Err(PipelineError::unauthorized())
            } else {
                Ok(None)
            };
        };
        let Some((scheme, encoded)) = v.to_str().ok().and_then(|v| v.split_once(' ')) else {
            return Ok(None);
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Ok(None);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(PipelineError::unauthorized)?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(PipelineError::unauthorized)?;
        match (query_unescape(id), query_unescape(secret)) {
            (Some(id), Some(secret)) if !id.is_empty() => Ok(Some((id, secret))),
            _ => Err(PipelineError::unauthorized()),
        }
    }

    pub(crate) async fn authenticate(
        &self,
        facts: &RequestFacts<'_>,
    ) -> Result<Option<Session>, PipelineError> {
        let Some((id, secret)) = Self::basic(facts)? else {
            return Ok(None);
        };
        let mut digest = sha2::Sha256::new();
        digest.update((id.len() as u64).to_be_bytes());
        digest.update(id.as_bytes());
        digest.update(secret.as_bytes());
        let key: [u8; 32] = digest.finalize().into();
        let cached = self.cache.as_ref().is_some_and(|c| c.hit(&key));
        if !cached {
            let mut b = ClientCredentials::builder(self.token_url.as_str(), id.as_str(), secret);
            for s in &self.scopes {
                b = b.scope(s.clone());
            }
            let cc = b
                .build(self.http.clone())
                .map_err(|_| PipelineError::internal("the token_url is invalid"))?;
            match cc.access_token().await {
                Ok(t) if !t.secret().is_empty() => {}
                Ok(_) | Err(ClientCredentialsError::Refused(_)) => {
                    return Err(PipelineError::unauthorized())
                }
                Err(_) => {
                    return Err(PipelineError::unavailable(
                        "the token endpoint is unavailable",
                    ))
                }
            }
            if let Some(c) = &self.cache {
                c.insert(key);
            }
        }
        Ok(Some(Session {
            subject: id,
            extra: Map::new(),
            ..Session::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_unescaped_as_go_does_and_bad_escapes_are_refused() {
        assert_eq!(query_unescape("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(query_unescape("%ff"), None);
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn the_grant_cache_stays_within_its_capacity() {
        let c = GrantCache {
            ttl: Duration::from_secs(60),
            capacity: 2,
            entries: Mutex::new(HashMap::new()),
        };
        for i in 0..10u8 {
            c.insert([i; 32]);
        }
        assert!(c.hit(&[0; 32]) && c.hit(&[1; 32]));
        assert!(!c.hit(&[9; 32]));
        assert_eq!(c.entries.lock().unwrap().len(), 2);
    }
}
