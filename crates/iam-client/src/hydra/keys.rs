//! JSON Web Key sets: get, create, rotate (`hydra.jwt.access-token`, `hydra.openid.id-token`).
use super::{escape, non_empty, to_body, HydraAdmin, HydraError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Members of a JWK that are private key material (RFC 7518 section 6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One key of a set. `Debug` shows `kid`, `kty`, `alg` and `use` only: a key Hydra just
/// created comes back with its private half.
#[derive(Clone, Serialize, Deserialize)]
pub struct JsonWebKey {
    /// Every member, as Hydra wrote it.
    #[serde(flatten)]
    pub members: Map<String, Value>,
}

impl JsonWebKey {
    fn member(&self, name: &str) -> Option<&str> {
        self.members.get(name).and_then(Value::as_str)
    }
    /// `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.member("kid")
    }
    /// `alg`.
    pub fn alg(&self) -> Option<&str> {
        self.member("alg")
    }
    /// `kty`.
    pub fn kty(&self) -> Option<&str> {
        self.member("kty")
    }
    /// `use`.
    pub fn key_use(&self) -> Option<&str> {
        self.member("use")
    }
    /// True when the key holds private material.
    pub fn is_private(&self) -> bool {
        PRIVATE_MEMBERS
            .iter()
            .any(|m| self.members.contains_key(*m))
    }
    /// The key without its private members.
    pub fn public(&self) -> Self {
        let mut members = self.members.clone();
        for m in PRIVATE_MEMBERS {
            members.remove(m);
        }
        Self { members }
    }
}

impl fmt::Debug for JsonWebKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonWebKey")
            .field("kid", &self.kid())
            .field("kty", &self.kty())
            .field("alg", &self.alg())
            .field("use", &self.key_use())
            .field("private", &self.is_private())
            .finish()
    }
}

/// A key set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonWebKeySet {
    /// The keys.
    #[serde(default, deserialize_with = "super::flows::null_as_default")]
    pub keys: Vec<JsonWebKey>,
}

impl JsonWebKeySet {
    /// The `kid`s, in Hydra's order.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().filter_map(JsonWebKey::kid).collect()
    }
    /// The set without private members (for publishing).
    pub fn public(&self) -> Self {
        Self {
            keys: self.keys.iter().map(JsonWebKey::public).collect(),
        }
    }
}

#[derive(Serialize)]
struct CreateKeySet<'a> {
    alg: &'a str,
    kid: &'a str,
    #[serde(rename = "use")]
    key_use: &'a str,
}

/// A `kid` for a rotated key: `rotated-<unix nanoseconds>-<counter>`, unique per process.
fn fresh_kid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "rotated-{nanos}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl HydraAdmin {
    /// The keys of `set` (`hydra.jwt.access-token`, `hydra.openid.id-token`, or your own).
    pub async fn get_key_set(&self, set: &str) -> Result<JsonWebKeySet, HydraError> {
        let set = escape(non_empty(set, "empty key set name")?);
        self.send(http::Method::GET, &format!("/admin/keys/{set}"), None)
            .await?
            .json(&[200])
    }

    /// Generate a key `kid` with `alg` (`RS256`, `ES256`, `ES512`, `HS256`, `HS512`) and
    /// `key_use` (`sig` or `enc`) into `set`, creating the set if needed. The answer holds
    /// the new key with its private half.
    pub async fn create_key(
        &self,
        set: &str,
        alg: &str,
        kid: &str,
        key_use: &str,
    ) -> Result<JsonWebKeySet, HydraError> {
        let set = escape(non_empty(set, "empty key set name")?);
        let body = CreateKeySet {
            alg: non_empty(alg, "empty algorithm")?,
            kid: non_empty(kid, "empty kid")?,
            key_use: non_empty(key_use, "empty key use")?,
        };
        self.send(
            http::Method::POST,
            &format!("/admin/keys/{set}"),
            Some(to_body(&body)?),
        )
        .await?
        .json(&[200, 201])
    }

    /// Rotate `set`: generate a new signing key with `alg` under a fresh `kid`. Hydra signs
    /// with the newest key from then on and keeps publishing the older ones, so tokens
    /// signed before stay valid until they expire. Answers the new key (private half
    /// included). Hydra generates RSA keys with 4096 bits, which takes seconds on a busy
    /// machine: give the admin client a longer timeout
    /// ([`HttpClient::with_timeout`](crate::HttpClient::with_timeout)) than the 10 s default.
    pub async fn rotate_key_set(&self, set: &str, alg: &str) -> Result<JsonWebKeySet, HydraError> {
        self.create_key(set, alg, &fresh_kid(), "sig").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_members_are_never_shown_and_can_be_dropped() {
        let key: JsonWebKey = serde_json::from_value(serde_json::json!({
            "kid": "k1", "kty": "RSA", "alg": "RS256", "use": "sig",
            "n": "AQAB", "e": "AQAB", "d": "secret-exponent", "p": "secret-p"
        }))
        .unwrap();
        assert!(key.is_private());
        let shown = format!("{key:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let public = key.public();
        assert!(!public.is_private());
        assert_eq!(public.members["n"], "AQAB");
    }

    #[test]
    fn rotated_kids_are_distinct() {
        assert_ne!(fresh_kid(), fresh_kid());
    }
}
