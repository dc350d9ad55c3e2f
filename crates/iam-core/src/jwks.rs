//! JWK sets (RFC 7517): parsing with per-key checks, and key lookup by `kid`.
//!
//! Only public signature keys are accepted from a set: RSA of 2048 to 8192 bits (exponent odd
//! and at least 3, ROCA-weak moduli refused), EC P-256 / P-384 with the point on the curve,
//! and Ed25519. A key is bound to the algorithms it may verify: its JWK `alg` when present,
//! otherwise the algorithms of its type (RSA: RS*/PS*, P-256: ES256, P-384: ES384, Ed25519:
//! EdDSA). Symmetric (`oct`) keys are never taken from a JWK set; an HMAC secret has to be
//! configured explicitly with [`JwkSet::insert_shared_secret`].
//!
//! A bad key is skipped with a [`SkipReason`] and does not poison the rest of the set; keys
//! sharing a `kid` are all skipped (the `kid` would be ambiguous).
//!
//! ```
//! use iam_core::jwks::{JwkSet, SkipReason};
//! let set = JwkSet::from_json(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"a"}]}"#).unwrap();
//! assert!(set.is_empty());
//! assert_eq!(set.skipped()[0].reason, SkipReason::SymmetricKey);
//! ```
//!
//! ## Caveats
//! - A set is immutable once built (shared secrets are added before it is shared); a key
//!   source swaps whole sets. Cached token validations are tied to the key that verified
//!   them and stop counting as soon as a set without that key is used.
use crate::backend::{self, Curve};
use crate::json;
use crate::jwt::Algorithm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Limits applied when a JWK set is parsed.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct JwksLimits {
    /// Largest document accepted, in bytes (default 1 MiB).
    pub max_document_bytes: usize,
    /// Keys beyond this count are skipped (default 100).
    pub max_keys: usize,
    /// Deepest JSON nesting accepted (default 8).
    pub max_depth: usize,
}

impl Default for JwksLimits {
    fn default() -> Self {
        Self {
            max_document_bytes: 1024 * 1024,
            max_keys: 100,
            max_depth: 8,
        }
    }
}

/// Why a whole JWK set document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The document is larger than [`JwksLimits::max_document_bytes`].
    #[error("JWK set document is larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Not a JSON object (or duplicate members, or nested too deep).
    #[error("JWK set is not a valid JSON object")]
    Malformed,
    /// No `keys` array at the top level.
    #[error("JWK set has no \"keys\" array")]
    MissingKeys,
    /// A shared secret shorter than its algorithm's hash output (RFC 7518 section 3.2).
    #[error("shared secret for {alg} must be at least {min} bytes")]
    SecretTooShort {
        /// The algorithm the secret was configured for.
        alg: &'static str,
        /// The minimum length in bytes.
        min: usize,
    },
    /// A shared secret configured for an algorithm that is not HMAC.
    #[error("shared secrets can only be used with HS256, HS384 or HS512")]
    NotHmac,
    /// A shared secret whose `kid` is already used by another key of the set.
    #[error("a key with this kid is already in the set")]
    DuplicateKid,
}

/// Why one key of a set was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The entry is not a JSON object.
    NotAnObject,
    /// `kty` is missing or not a string.
    MissingKeyType,
    /// A `kty` iam-core does not verify with (not RSA, EC or OKP).
    UnsupportedKeyType,
    /// `kty: oct`: symmetric keys are never taken from a JWK set.
    SymmetricKey,
    /// `use` is present and is not `sig`.
    NotForSignatures,
    /// `key_ops` is present and does not allow `verify`.
    VerifyNotAllowed,
    /// `alg` is not a signature algorithm iam-core supports, or does not fit the key type.
    UnsupportedAlgorithm,
    /// `crv` is not one iam-core supports, or does not match `alg`.
    UnsupportedCurve,
    /// A required member is missing, has the wrong type, or is not base64url.
    InvalidParameter(&'static str),
    /// RSA modulus below 2048 bits.
    RsaKeyTooSmall,
    /// RSA modulus above 8192 bits.
    RsaKeyTooLarge,
    /// RSA exponent not odd, below 3, or absurdly large.
    RsaBadExponent,
    /// RSA modulus with the ROCA (CVE-2017-15361) structure.
    RsaWeakModulus,
    /// EC point not on the curve, or an invalid Ed25519 key.
    InvalidPublicKey,
    /// The entry carries private key members (`d`, `p`, ...): a leaked private key.
    PrivateKeyMaterial,
    /// The `kid` is shared with another key of the set.
    DuplicateKid,
    /// `kid` longer than 256 bytes.
    KidTooLong,
    /// More keys than [`JwksLimits::max_keys`].
    TooManyKeys,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::NotAnObject => "key is not a JSON object",
            Self::MissingKeyType => "key has no kty",
            Self::UnsupportedKeyType => "unsupported kty",
            Self::SymmetricKey => "symmetric (oct) keys are not accepted from a JWK set",
            Self::NotForSignatures => "key use is not sig",
            Self::VerifyNotAllowed => "key_ops does not allow verify",
            Self::UnsupportedAlgorithm => "alg is not a supported signature algorithm for this key",
            Self::UnsupportedCurve => "crv is unsupported or does not match alg",
            Self::InvalidParameter(p) => return write!(f, "invalid or missing parameter {p}"),
            Self::RsaKeyTooSmall => "RSA modulus is below 2048 bits",
            Self::RsaKeyTooLarge => "RSA modulus is above 8192 bits",
            Self::RsaBadExponent => "RSA exponent is invalid",
            Self::RsaWeakModulus => "RSA modulus has the ROCA weakness",
            Self::InvalidPublicKey => "public key is not a valid point",
            Self::PrivateKeyMaterial => "key contains private key material",
            Self::DuplicateKid => "kid is not unique in the set",
            Self::KidTooLong => "kid is longer than 256 bytes",
            Self::TooManyKeys => "too many keys in the set",
        };
        f.write_str(s)
    }
}

/// One key that was left out of a set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// The key's `kid`, when it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// The type of a verification key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// RSA public key with its modulus size.
    Rsa {
        /// Modulus length in bits.
        bits: usize,
    },
    /// NIST P-256 public key.
    EcP256,
    /// NIST P-384 public key.
    EcP384,
    /// Ed25519 public key.
    Ed25519,
    /// HMAC shared secret configured explicitly.
    SharedSecret,
}

/// A stable identifier of a key's material, used to tie cached validations to their key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub(crate) fn bytes(self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(..)")
    }
}

/// A key that can verify signatures, with the algorithms it is bound to.
pub struct VerifyingKey {
    kid: Option<String>,
    key_type: KeyType,
    algorithms: u16,
    decoding: backend::KeyMaterial,
    fingerprint: Fingerprint,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("algorithms", &self.algorithms().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }
    /// Whether this key may verify tokens signed with `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms & alg.bit() != 0
    }
    /// The algorithms this key may verify.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        Algorithm::ALL.iter().copied().filter(|a| self.allows(*a))
    }
    pub(crate) fn decoding_key(&self) -> &backend::KeyMaterial {
        &self.decoding
    }
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

/// Why no key could be chosen for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SelectError {
    UnknownKid,
    NoKeyForAlgorithm,
    Ambiguous,
    AlgorithmNotAllowed,
}

/// A set of verification keys.
#[derive(Debug, Default)]
pub struct JwkSet {
    keys: Vec<VerifyingKey>,
    by_kid: HashMap<String, usize>,
    fingerprints: HashSet<Fingerprint>,
    skipped: Vec<SkippedKey>,
}

impl JwkSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse a JWK set document (`{"keys":[...]}`) with the default [`JwksLimits`].
    pub fn from_json(document: &[u8]) -> Result<Self, JwksError> {
        Self::from_json_with_limits(document, JwksLimits::default())
    }

    /// Parse a JWK set document with explicit limits.
    pub fn from_json_with_limits(document: &[u8], limits: JwksLimits) -> Result<Self, JwksError> {
        if document.len() > limits.max_document_bytes {
            return Err(JwksError::TooLarge {
                limit: limits.max_document_bytes,
            });
        }
        let root =
            json::parse_object(document, limits.max_depth).map_err(|_| JwksError::Malformed)?;
        let Some(Value::Array(entries)) = root.get("keys") else {
            return Err(JwksError::MissingKeys);
        };
        let mut set = JwkSet::new();
        let mut parsed: Vec<(usize, VerifyingKey)> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
            if index >= limits.max_keys {
                set.skipped.push(SkippedKey {
                    index,
                    kid,
                    reason: SkipReason::TooManyKeys,
                });
                continue;
            }
            match parse_key(entry) {
                Ok(key) => parsed.push((index, key)),
                Err(reason) => set.skipped.push(SkippedKey { index, kid, reason }),
            }
        }
        // A kid named by more than one entry (valid or not) is ambiguous: drop all of them.
        let mut kid_count: HashMap<&str, usize> = HashMap::new();
        for entry in entries.iter().take(limits.max_keys) {
            if let Some(kid) = entry.get("kid").and_then(Value::as_str) {
                *kid_count.entry(kid).or_default() += 1;
            }
        }
        for (index, key) in parsed {
            if let Some(kid) = key.kid.as_deref() {
                if kid_count.get(kid).copied().unwrap_or(0) > 1 {
                    set.skipped.push(SkippedKey {
                        index,
                        kid: key.kid.clone(),
                        reason: SkipReason::DuplicateKid,
                    });
                    continue;
                }
            }
            set.push(key);
        }
        set.skipped.sort_by_key(|s| s.index);
        Ok(set)
    }

    fn push(&mut self, key: VerifyingKey) {
        if let Some(kid) = &key.kid {
            self.by_kid.insert(kid.clone(), self.keys.len());
        }
        self.fingerprints.insert(key.fingerprint);
        self.keys.push(key);
    }

    /// Add an HMAC shared secret (HS256/384/512). This is the only way an HMAC key enters a
    /// set: `oct` keys in a JWK set document are always skipped. The secret must be at least
    /// as long as the hash output (32, 48 or 64 bytes).
    pub fn insert_shared_secret(
        &mut self,
        kid: Option<&str>,
        alg: Algorithm,
        secret: &[u8],
    ) -> Result<(), JwksError> {
        let min = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => return Err(JwksError::NotHmac),
        };
        if secret.len() < min {
            return Err(JwksError::SecretTooShort {
                alg: alg.as_str(),
                min,
            });
        }
        if let Some(kid) = kid {
            if self.by_kid.contains_key(kid) {
                return Err(JwksError::DuplicateKid);
            }
        }
        let fingerprint = fingerprint(&[b"oct", alg.as_str().as_bytes(), secret]);
        self.push(VerifyingKey {
            kid: kid.map(str::to_owned),
            key_type: KeyType::SharedSecret,
            algorithms: alg.bit(),
            decoding: backend::hmac_key(secret),
            fingerprint,
        });
        Ok(())
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    /// True when no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    /// The usable keys.
    pub fn keys(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter()
    }
    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.by_kid.get(kid).map(|i| &self.keys[*i])
    }
    /// The entries that were left out, with their reasons.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    pub(crate) fn contains_fingerprint(&self, fp: &Fingerprint) -> bool {
        self.fingerprints.contains(fp)
    }

    /// The key to verify a token with this `kid` and `alg`. A token without `kid` is accepted
    /// only when exactly one key of the set may verify its algorithm.
    pub(crate) fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&VerifyingKey, SelectError> {
        match kid {
            Some(kid) => {
                let key = self.get(kid).ok_or(SelectError::UnknownKid)?;
                if key.allows(alg) {
                    Ok(key)
                } else {
                    Err(SelectError::AlgorithmNotAllowed)
                }
            }
            None => {
                let mut found = self.keys.iter().filter(|k| k.allows(alg));
                match (found.next(), found.next()) {
                    (Some(key), None) => Ok(key),
                    (None, _) => Err(SelectError::NoKeyForAlgorithm),
                    (Some(_), Some(_)) => Err(SelectError::Ambiguous),
                }
            }
        }
    }
}

/// Where keys come from: a fixed [`JwkSet`], or a remote JWKS with a cache (iam-client's
/// `RemoteJwks`). Async, but needs no particular runtime.
pub trait KeySource: Send + Sync {
    /// The current key set. May wait for a first fetch; fails when no key set can be had
    /// at all (the caller answers 503).
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>>;

    /// The current key set when it is at hand without waiting (a fresh cache): lets the
    /// authenticator skip the future on the hot path. The default says "ask [`Self::keys`]".
    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        None
    }

    /// Called when a token names a `kid` the current set does not have. A source that can
    /// refresh returns a newer set (subject to its own cooldown); the default has nothing newer.
    fn keys_after_unknown_kid<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        let _ = kid;
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// A boxed, sendable future (the async traits of iam-core need no runtime).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A key source could not produce any key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no key set available: {reason}")]
pub struct KeySourceError {
    reason: String,
}

impl KeySourceError {
    /// An error with a human-readable reason (never include secrets).
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl<K: KeySource + ?Sized> KeySource for Arc<K> {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        (**self).keys()
    }
    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        (**self).cached_keys()
    }
    fn keys_after_unknown_kid<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        (**self).keys_after_unknown_kid(kid)
    }
}

/// A fixed key set as a [`KeySource`] (keys from a file or configuration).
#[derive(Debug, Clone)]
pub struct StaticKeys(Arc<JwkSet>);

impl StaticKeys {
    /// Serve `set` forever.
    pub fn new(set: JwkSet) -> Self {
        Self(Arc::new(set))
    }
}

impl From<JwkSet> for StaticKeys {
    fn from(set: JwkSet) -> Self {
        Self::new(set)
    }
}

impl KeySource for StaticKeys {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        Box::pin(std::future::ready(Ok(Arc::clone(&self.0))))
    }
    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        Some(Arc::clone(&self.0))
    }
}

fn fingerprint(parts: &[&[u8]]) -> Fingerprint {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    Fingerprint(h.finalize().into())
}

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

fn parse_key(entry: &Value) -> Result<VerifyingKey, SkipReason> {
    let obj = entry.as_object().ok_or(SkipReason::NotAnObject)?;
    let kty = obj
        .get("kty")
        .and_then(Value::as_str)
        .ok_or(SkipReason::MissingKeyType)?;
    if kty == "oct" {
        return Err(SkipReason::SymmetricKey);
    }
    let kid = match obj.get("kid") {
        None => None,
        Some(Value::String(k)) if k.len() <= 256 => Some(k.clone()),
        Some(Value::String(_)) => return Err(SkipReason::KidTooLong),
        Some(_) => return Err(SkipReason::InvalidParameter("kid")),
    };
    if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err(SkipReason::PrivateKeyMaterial);
    }
    match obj.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(SkipReason::NotForSignatures),
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops
            .as_array()
            .ok_or(SkipReason::InvalidParameter("key_ops"))?;
        if !ops.iter().all(Value::is_string) {
            return Err(SkipReason::InvalidParameter("key_ops"));
        }
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return Err(SkipReason::VerifyNotAllowed);
        }
    }
    let declared = match obj.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(a.as_str()),
        Some(_) => return Err(SkipReason::InvalidParameter("alg")),
    };
    match kty {
        "RSA" => parse_rsa(obj, kid, declared),
        "EC" => parse_ec(obj, kid, declared),
        "OKP" => parse_okp(obj, kid, declared),
        _ => Err(SkipReason::UnsupportedKeyType),
    }
}

fn b64_member(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, SkipReason> {
    let s = obj
        .get(name)
        .and_then(Value::as_str)
        .ok_or(SkipReason::InvalidParameter(name))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| SkipReason::InvalidParameter(name))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn parse_rsa(
    obj: &Map<String, Value>,
    kid: Option<String>,
    declared: Option<&str>,
) -> Result<VerifyingKey, SkipReason> {
    const RSA_ALGS: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];
    let algorithms = match declared {
        None => RSA_ALGS.iter().fold(0, |acc, a| acc | a.bit()),
        Some(name) => match Algorithm::from_name(name) {
            Some(a) if RSA_ALGS.contains(&a) => a.bit(),
            _ => return Err(SkipReason::UnsupportedAlgorithm),
        },
    };
    let n_raw = b64_member(obj, "n")?;
    let e_raw = b64_member(obj, "e")?;
    let n = strip_leading_zeros(&n_raw);
    let e = strip_leading_zeros(&e_raw);
    let bits = match n.first() {
        Some(first) => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    };
    if bits < 2048 {
        return Err(SkipReason::RsaKeyTooSmall);
    }
    if bits > 8192 {
        return Err(SkipReason::RsaKeyTooLarge);
    }
    if n[n.len() - 1] & 1 == 0 {
        return Err(SkipReason::InvalidPublicKey);
    }
    if e.is_empty() || e.len() > 4 {
        return Err(SkipReason::RsaBadExponent);
    }
    let e_value = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if e_value < 3 || e_value % 2 == 0 {
        return Err(SkipReason::RsaBadExponent);
    }
    if is_roca_modulus(n) {
        return Err(SkipReason::RsaWeakModulus);
    }
    Ok(VerifyingKey {
        kid,
        key_type: KeyType::Rsa { bits },
        algorithms,
        decoding: backend::rsa_key(n, e),
        fingerprint: fingerprint(&[b"RSA", n, e]),
    })
}

/// The ROCA fingerprint test (Nemec et al., CCS 2017): moduli produced by the vulnerable
/// generator are, modulo each small prime below, a power of 65537.
fn is_roca_modulus(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = n.iter().fold(0u32, |r, b| (r * 256 + u32::from(*b)) % p);
        let g = 65537 % p;
        let mut x = 1u32;
        loop {
            if x == residue {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                return false;
            }
        }
    })
}

fn parse_ec(
    obj: &Map<String, Value>,
    kid: Option<String>,
    declared: Option<&str>,
) -> Result<VerifyingKey, SkipReason> {
    let crv = obj
        .get("crv")
        .and_then(Value::as_str)
        .ok_or(SkipReason::InvalidParameter("crv"))?;
    let (curve, alg, len, key_type) = match crv {
        "P-256" => (Curve::P256, Algorithm::ES256, 32, KeyType::EcP256),
        "P-384" => (Curve::P384, Algorithm::ES384, 48, KeyType::EcP384),
        _ => return Err(SkipReason::UnsupportedCurve),
    };
    if let Some(name) = declared {
        match Algorithm::from_name(name) {
            Some(a) if a == alg => {}
            Some(Algorithm::ES256 | Algorithm::ES384) => return Err(SkipReason::UnsupportedCurve),
            _ => return Err(SkipReason::UnsupportedAlgorithm),
        }
    }
    let x = b64_member(obj, "x")?;
    let y = b64_member(obj, "y")?;
    if x.len() != len {
        return Err(SkipReason::InvalidParameter("x"));
    }
    if y.len() != len {
        return Err(SkipReason::InvalidParameter("y"));
    }
    let mut sec1 = Vec::with_capacity(1 + 2 * len);
    sec1.push(0x04);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    if !backend::ec_point_is_valid(curve, &sec1) {
        return Err(SkipReason::InvalidPublicKey);
    }
    Ok(VerifyingKey {
        kid,
        key_type,
        algorithms: alg.bit(),
        decoding: backend::ec_key(curve, &sec1),
        fingerprint: fingerprint(&[b"EC", crv.as_bytes(), &sec1]),
    })
}

fn parse_okp(
    obj: &Map<String, Value>,
    kid: Option<String>,
    declared: Option<&str>,
) -> Result<VerifyingKey, SkipReason> {
    let crv = obj
        .get("crv")
        .and_then(Value::as_str)
        .ok_or(SkipReason::InvalidParameter("crv"))?;
    if crv != "Ed25519" {
        return Err(SkipReason::UnsupportedCurve);
    }
    match declared {
        None | Some("EdDSA") | Some("Ed25519") => {}
        Some(_) => return Err(SkipReason::UnsupportedAlgorithm),
    }
    let x = b64_member(obj, "x")?;
    if !backend::ed25519_key_is_valid(&x) {
        return Err(SkipReason::InvalidPublicKey);
    }
    Ok(VerifyingKey {
        kid,
        key_type: KeyType::Ed25519,
        algorithms: Algorithm::EdDSA.bit(),
        decoding: backend::ed25519_key(&x),
        fingerprint: fingerprint(&[b"OKP", b"Ed25519", &x]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roca_test_passes_ordinary_moduli() {
        // 2^2048 - 1 is not ROCA-shaped.
        assert!(!is_roca_modulus(&[0xff; 256]));
        // 65537 itself has the structure (it is a power of the generator modulo every prime).
        assert!(is_roca_modulus(&[0x01, 0x00, 0x01]));
    }

    #[test]
    fn document_level_errors() {
        assert_eq!(JwkSet::from_json(b"[]").unwrap_err(), JwksError::Malformed);
        assert_eq!(
            JwkSet::from_json(b"{}").unwrap_err(),
            JwksError::MissingKeys
        );
        assert_eq!(
            JwkSet::from_json(br#"{"keys":[],"keys":[]}"#).unwrap_err(),
            JwksError::Malformed
        );
        let big = vec![b' '; 2 * 1024 * 1024];
        assert!(matches!(
            JwkSet::from_json(&big),
            Err(JwksError::TooLarge { .. })
        ));
    }

    #[test]
    fn shared_secrets_need_length_and_hmac() {
        let mut set = JwkSet::new();
        assert!(matches!(
            set.insert_shared_secret(None, Algorithm::HS256, &[1; 31]),
            Err(JwksError::SecretTooShort { .. })
        ));
        assert_eq!(
            set.insert_shared_secret(None, Algorithm::RS256, &[1; 64]),
            Err(JwksError::NotHmac)
        );
        set.insert_shared_secret(Some("a"), Algorithm::HS256, &[1; 32])
            .unwrap();
        assert_eq!(
            set.insert_shared_secret(Some("a"), Algorithm::HS512, &[1; 64]),
            Err(JwksError::DuplicateKid)
        );
        assert!(!format!("{set:?}").contains("[1, 1"));
    }
}
