//! The peppered storage form: HMAC-SHA-256 of a token under a versioned server-side secret.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// A server-side secret the stored hashes are keyed with, and its version.
#[derive(Clone)]
pub struct Pepper {
    version: u32,
    /// HMAC keyed with the pepper, cloned for each use.
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pepper")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A pepper shorter than 32 bytes, or a version used twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("peppers must be at least 32 bytes, with distinct versions")]
pub struct PepperError;

impl Pepper {
    /// A pepper (at least 32 random bytes) and its version.
    pub fn new(version: u32, key: &[u8]) -> Result<Self, PepperError> {
        if key.len() < 32 {
            return Err(PepperError);
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| PepperError)?;
        Ok(Self { version, mac })
    }
    /// The version stored next to each hash.
    pub fn version(&self) -> u32 {
        self.version
    }
    fn mac(&self, token: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        mac
    }
}

/// The peppers in use: the newest hashes new tokens, every one verifies the rows that name it.
#[derive(Debug, Clone)]
pub struct Peppers {
    all: Vec<Pepper>,
}

impl Peppers {
    /// Peppers by version; the highest version is the current one.
    pub fn new(peppers: Vec<Pepper>) -> Result<Self, PepperError> {
        let mut all = peppers;
        all.sort_by_key(|p| p.version);
        if all.is_empty() || all.windows(2).any(|w| w[0].version == w[1].version) {
            return Err(PepperError);
        }
        Ok(Self { all })
    }
    /// The pepper new hashes use.
    pub fn current(&self) -> &Pepper {
        // `new` refuses an empty list.
        &self.all[self.all.len() - 1]
    }
    /// `(version, HMAC-SHA-256(pepper, token))` with the current pepper.
    pub fn hash(&self, token: &str) -> (u32, [u8; 32]) {
        let p = self.current();
        (p.version, p.mac(token).finalize().into_bytes().into())
    }
    /// True when `stored` is the hash of `token` under pepper `version`; constant time.
    pub fn verify(&self, token: &str, version: u32, stored: &[u8]) -> bool {
        match self.all.iter().find(|p| p.version == version) {
            Some(p) => p.mac(token).verify_slice(stored).is_ok(),
            None => false,
        }
    }
}
