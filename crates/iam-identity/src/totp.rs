//! TOTP (RFC 6238) through `totp-rs`: secrets, `otpauth://` URIs, and code checks that tell
//! which time step matched (so a code is accepted once: replay protection).
//!
//! ```
//! use iam_identity::totp::{TotpSettings, TotpAlgorithm};
//! let settings = TotpSettings { algorithm: TotpAlgorithm::Sha1, digits: 8, ..TotpSettings::default() };
//! // RFC 6238 Appendix B, T = 59 s.
//! let secret = b"12345678901234567890";
//! assert_eq!(settings.code_at(secret, 59).unwrap(), "94287082");
//! assert_eq!(settings.matching_step(secret, "94287082", 59), Some(1));
//! ```
//!
//! # Caveats
//! - A code is checked against the current step and `skew` steps either side (default 1),
//!   so it stays valid for up to 90 s; the caller records the matched step and refuses a
//!   step at or before the last accepted one.
//! - Secrets are 160 random bits (RFC 4226's recommendation for SHA-1).
use crate::error::IdentityError;
use crate::model::SecretText;
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, Secret as TotpSecret, TOTP};

/// The HMAC of the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1 (what authenticator apps expect).
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

/// How codes are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpSettings {
    /// The `issuer` shown by authenticator apps (no `:`).
    pub issuer: String,
    /// The HMAC (default SHA-1).
    pub algorithm: TotpAlgorithm,
    /// Digits per code (default 6).
    pub digits: usize,
    /// Seconds per step (default 30).
    pub step: u64,
    /// Steps accepted either side of the current one (default 1).
    pub skew: u8,
}

impl Default for TotpSettings {
    fn default() -> Self {
        Self {
            issuer: "iam-rs".into(),
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            step: 30,
            skew: 1,
        }
    }
}

impl TotpSettings {
    fn totp(&self, secret: &[u8], account: &str) -> Result<TOTP, IdentityError> {
        let algorithm = match self.algorithm {
            TotpAlgorithm::Sha1 => Algorithm::SHA1,
            TotpAlgorithm::Sha256 => Algorithm::SHA256,
            TotpAlgorithm::Sha512 => Algorithm::SHA512,
        };
        TOTP::new(
            algorithm,
            self.digits,
            self.skew,
            self.step,
            secret.to_vec(),
            Some(self.issuer.replace(':', "")),
            account.replace(':', ""),
        )
        .map_err(|_| IdentityError::InvalidInput("totp settings"))
    }

    /// The code at Unix time `at`.
    pub fn code_at(&self, secret: &[u8], at: u64) -> Result<String, IdentityError> {
        Ok(self.totp(secret, "")?.generate(at))
    }

    /// The time step (`at / step`) whose code equals `code`, within the skew; constant-time
    /// comparison.
    pub fn matching_step(&self, secret: &[u8], code: &str, at: u64) -> Option<i64> {
        let code = code.trim();
        if code.len() != self.digits || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp(secret, "").ok()?;
        let mut found = None;
        let skew = i64::from(self.skew);
        for offset in -skew..=skew {
            let t = at as i64 + offset * self.step as i64;
            if t < 0 {
                continue;
            }
            let candidate = totp.generate(t as u64);
            if bool::from(candidate.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
                found = Some(t / self.step as i64);
            }
        }
        found
    }

    /// The `otpauth://totp/…` URI for an authenticator app.
    pub fn otpauth_uri(&self, secret: &SecretText, account: &str) -> Result<String, IdentityError> {
        Ok(self.totp(&decode(secret)?, account)?.get_url())
    }
}

/// A new random secret (160 bits), base32.
pub fn generate_secret() -> SecretText {
    let raw = crate::random::bytes::<20>().to_vec();
    SecretText::new(TotpSecret::Raw(raw).to_encoded().to_string())
}

/// The base32 form (no padding) of a raw secret.
pub fn encode(raw: &[u8]) -> SecretText {
    SecretText::new(TotpSecret::Raw(raw.to_vec()).to_encoded().to_string())
}

/// The raw bytes of a base32 secret (what an authenticator app computes codes from).
pub fn decode(secret: &SecretText) -> Result<Vec<u8>, IdentityError> {
    TotpSecret::Encoded(secret.secret().to_owned())
        .to_bytes()
        .map_err(|_| IdentityError::InvalidInput("totp secret"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6238_vectors_pass_for_every_algorithm() {
        let v = iam_testkit::data::vector_json("rfc6238-totp.json");
        let digits = v["digits"].as_u64().unwrap() as usize;
        let mut checked = 0;
        for (name, algorithm) in [
            ("SHA1", TotpAlgorithm::Sha1),
            ("SHA256", TotpAlgorithm::Sha256),
            ("SHA512", TotpAlgorithm::Sha512),
        ] {
            let seed = v["seeds_ascii"][name].as_str().unwrap().as_bytes();
            let s = TotpSettings {
                algorithm,
                digits,
                ..TotpSettings::default()
            };
            for case in v["cases"].as_array().unwrap() {
                let t = case["time"].as_u64().unwrap();
                let want = case[name].as_str().unwrap();
                assert_eq!(s.code_at(seed, t).unwrap(), want, "{name} at {t}");
                assert_eq!(s.matching_step(seed, want, t), Some((t / 30) as i64));
                checked += 1;
            }
        }
        assert_eq!(checked, 18);
    }

    #[test]
    fn codes_of_neighbouring_steps_match_and_others_do_not() {
        let s = TotpSettings::default();
        let secret = decode(&generate_secret()).unwrap();
        let now = 1_700_000_000;
        let prev = s.code_at(&secret, now - 30).unwrap();
        assert_eq!(
            s.matching_step(&secret, &prev, now),
            Some((now as i64 - 30) / 30)
        );
        let old = s.code_at(&secret, now - 90).unwrap();
        if old != s.code_at(&secret, now).unwrap() {
            assert_eq!(s.matching_step(&secret, &old, now), None);
        }
        for hostile in ["", "12345", "1234567", "abcdef", "１２３４５６", " "] {
            assert_eq!(s.matching_step(&secret, hostile, now), None, "{hostile:?}");
        }
    }

    #[test]
    fn the_uri_names_issuer_and_account_and_carries_the_secret() {
        let s = TotpSettings {
            issuer: "Acme".into(),
            ..TotpSettings::default()
        };
        let secret = generate_secret();
        let uri = s.otpauth_uri(&secret, "alice@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Acme:alice%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={}", secret.secret())));
        assert_eq!(decode(&secret).unwrap().len(), 20);
    }
}
