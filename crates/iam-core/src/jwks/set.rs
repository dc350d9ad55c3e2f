//! A JWK set: parsing a document with its limits, the keys kept and the ones skipped, and
//! choosing the key for a token.
use super::key::{fingerprint, parse_key, Fingerprint, KeyType, SkipReason, VerifyingKey};
use crate::backend;
use crate::json;
use crate::jwt::Algorithm;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

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

#[cfg(test)]
mod tests {
    use super::*;

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
