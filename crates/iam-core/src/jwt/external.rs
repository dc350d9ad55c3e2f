//! Validation in two steps, for runtimes whose signature primitives are asynchronous or live
//! outside Rust (WebCrypto in a browser or an edge runtime).
//!
//! [`Validator::begin`] does everything [`Validator::validate`] does before the signature
//! check — size limit, cache lookup, JWS structure, header policy, key choice — and either
//! finishes in process ([`Step::Done`]: a cache hit, or a key this build verifies itself) or
//! returns a [`PendingSignature`]: the algorithm, the key, the signing input and the
//! signature. The caller checks that signature with its platform crypto and hands the verdict
//! to [`Validator::finish`], which does the claim checks and fills the cache.
//!
//! Only builds with the `external-crypto` backend alone ever return a pending signature (for
//! RSA and ECDSA keys); with `aws-lc` or `rust-crypto`, `begin` always finishes in process.
use super::Algorithm;
use super::{
    jws, JwsHeader, JwtError, JwtErrorKind, Policy, ValidatedToken, Validator, VerifiedJws,
};
use crate::jwks::{Fingerprint, JwkSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A public key whose signatures the caller checks.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExternalKey {
    /// RSA: modulus and public exponent, big-endian without leading zeros (2048 to 8192
    /// bits; exponent odd and at least 3; ROCA-weak moduli already refused).
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// ECDSA: the uncompressed SEC 1 point `04 || x || y`, already checked to lie on the curve
    /// (what WebCrypto's `raw` import format takes).
    Ec {
        /// The curve.
        curve: EcCurve,
        /// The point.
        sec1: Vec<u8>,
    },
}

impl fmt::Debug for ExternalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { n, .. } => write!(f, "ExternalKey::Rsa({} bits)", n.len() * 8),
            Self::Ec { curve, .. } => write!(f, "ExternalKey::Ec({curve:?})"),
        }
    }
}

/// The curves of [`ExternalKey::Ec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EcCurve {
    /// NIST P-256 (`ES256`).
    P256,
    /// NIST P-384 (`ES384`).
    P384,
}

impl EcCurve {
    /// The JWK / WebCrypto name: `P-256` or `P-384`.
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
        }
    }
}

/// What [`Validator::begin`] decided.
///
/// `begin` does everything [`Validator::validate`] does before the signature check — size
/// limit, cache lookup, JWS structure, header policy, key choice, signature length — and
/// either finishes in process (`Done`: a cache hit, or a key this build verifies itself) or
/// returns a [`PendingSignature`]: the algorithm, the key, the signing input and the
/// signature. The caller checks that signature with its platform crypto and hands the verdict
/// to [`Validator::finish`], which does the claim checks and fills the cache. Only the
/// `external-crypto` backend on its own leaves signatures pending (RSA and ECDSA keys); with
/// `aws-lc` or `rust-crypto`, `begin` always finishes in process.
#[derive(Debug)]
pub enum Step<T> {
    /// Finished in process: `T` is the result.
    Done(T),
    /// The caller must check the signature and call [`Validator::finish`] (or
    /// [`Validator::finish_jws`]).
    Pending(PendingSignature),
}

/// A token whose header passed the policy and whose key was chosen, waiting for its signature
/// check. Owns what it needs, so the key set may change meanwhile.
///
/// It remembers the validator that made it (and whether by `begin` or `begin_jws`): only
/// that validator, or a clone of it, finishes it, through the matching `finish` /
/// `finish_jws` (otherwise [`JwtErrorKind::ForeignPendingSignature`]), so the header policy
/// checked and the claim policy applied are always the same validator's.
pub struct PendingSignature(Box<Pending>);

struct Pending {
    token: String,
    signing_input: usize,
    payload: Range<usize>,
    header: JwsHeader,
    signature: Vec<u8>,
    key: Arc<ExternalKey>,
    fingerprint: Fingerprint,
    now: i64,
    /// The policy of the validator that made it: its identity (clones share it; holding it
    /// keeps the address from being reused while the pending value lives).
    made_by: Arc<Policy>,
    /// Made by `begin` (a full validation), not `begin_jws` (the signature only).
    full: bool,
}

impl fmt::Debug for PendingSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token: it is a bearer credential.
        f.debug_struct("PendingSignature")
            .field("alg", &self.0.header.alg())
            .field("key", &self.0.key)
            .finish_non_exhaustive()
    }
}

impl PendingSignature {
    /// The JWS algorithm (the key allows it). For RSA-PSS the salt length is the hash length
    /// (RFC 7518 section 3.5); ECDSA signatures are `r || s` (what WebCrypto verifies).
    pub fn algorithm(&self) -> Algorithm {
        self.0.header.alg()
    }
    /// The key to verify with.
    pub fn key(&self) -> &ExternalKey {
        &self.0.key
    }
    /// A stable identifier of the key's material (SHA-256 over it): cache imported platform
    /// keys by it and the algorithm.
    pub fn key_id(&self) -> [u8; 32] {
        self.0.fingerprint.bytes()
    }
    /// The signed bytes: `BASE64URL(header) || '.' || BASE64URL(payload)`.
    pub fn message(&self) -> &[u8] {
        &self.0.token.as_bytes()[..self.0.signing_input]
    }
    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.0.signature
    }
}

impl Validator {
    /// [`validate`](Self::validate) up to the signature check; see [`Step`] for the
    /// protocol. `Done` carries the same result `validate` returns.
    pub fn begin(&self, token: &str, keys: &JwkSet) -> Result<Step<ValidatedToken>, JwtError> {
        if token.len() > self.policy.max_token_len {
            return Err(JwtErrorKind::TooLarge.into());
        }
        let now = self.clock.now_unix();
        if let Some(hit) = self.cached(token, now, keys) {
            return Ok(Step::Done(hit));
        }
        match self.select(token, keys, now, true)? {
            Step::Done(verified) => Ok(Step::Done(self.accept(verified, now, token)?)),
            Step::Pending(p) => Ok(Step::Pending(p)),
        }
    }

    /// Finish what [`begin`](Self::begin) left pending, with the caller's verdict on the
    /// signature (`false`, or an error of the platform crypto: refused as an invalid
    /// signature). A pending signature made by another validator, or by
    /// [`begin_jws`](Self::begin_jws), is refused
    /// ([`JwtErrorKind::ForeignPendingSignature`]).
    pub fn finish(
        &self,
        pending: PendingSignature,
        signature_valid: bool,
    ) -> Result<ValidatedToken, JwtError> {
        self.check_maker(&pending, true)?;
        if !signature_valid {
            return Err(JwtErrorKind::InvalidSignature.into());
        }
        let verified = pending_verified(&pending);
        Ok(self.accept(verified, pending.0.now, &pending.0.token)?)
    }

    /// [`verify_signature`](Self::verify_signature) up to the signature check.
    pub fn begin_jws(&self, token: &str, keys: &JwkSet) -> Result<Step<VerifiedJws>, JwtError> {
        let now = self.clock.now_unix();
        match self.select(token, keys, now, false)? {
            Step::Done(verified) => Ok(Step::Done(VerifiedJws {
                payload: jws::decode_payload(verified.payload_b64)?,
                header: verified.header,
            })),
            Step::Pending(p) => Ok(Step::Pending(p)),
        }
    }

    /// Finish what [`begin_jws`](Self::begin_jws) left pending (refused, like
    /// [`finish`](Self::finish), when another validator or `begin` made it).
    pub fn finish_jws(
        &self,
        pending: PendingSignature,
        signature_valid: bool,
    ) -> Result<VerifiedJws, JwtError> {
        self.check_maker(&pending, false)?;
        if !signature_valid {
            return Err(JwtErrorKind::InvalidSignature.into());
        }
        let verified = pending_verified(&pending);
        Ok(VerifiedJws {
            payload: jws::decode_payload(verified.payload_b64)?,
            header: verified.header,
        })
    }

    /// Refuse a pending signature this validator (or a clone) did not make with the step
    /// that `full` names.
    fn check_maker(&self, pending: &PendingSignature, full: bool) -> Result<(), JwtError> {
        if Arc::ptr_eq(&pending.0.made_by, &self.policy) && pending.0.full == full {
            Ok(())
        } else {
            Err(JwtErrorKind::ForeignPendingSignature.into())
        }
    }

    /// Header policy and key choice; the signature checked in process when the backend can.
    fn select<'t>(
        &self,
        token: &'t str,
        keys: &JwkSet,
        now: i64,
        full: bool,
    ) -> Result<Step<jws::Verified<'t>>, JwtErrorKind> {
        let s = jws::select(token, keys, &self.policy)?;
        let Some(external) = crate::backend::external(s.key.decoding_key()) else {
            return Ok(Step::Done(jws::verify_selected(s)?));
        };
        // The encoded length is part of the algorithm (RFC 7518 sections 3.3 and 3.4): checked
        // here so that every platform gives the same answer to a truncated signature.
        let expected = match &**external {
            ExternalKey::Rsa { n, .. } => n.len(),
            ExternalKey::Ec { curve, .. } => match curve {
                EcCurve::P256 => 64,
                EcCurve::P384 => 96,
            },
        };
        if s.signature.len() != expected {
            return Err(JwtErrorKind::InvalidSignature);
        }
        let payload_start = s.signing_input.len() - s.payload_b64.len();
        Ok(Step::Pending(PendingSignature(Box::new(Pending {
            token: token.to_owned(),
            signing_input: s.signing_input.len(),
            payload: payload_start..s.signing_input.len(),
            header: s.header,
            signature: s.signature,
            key: Arc::clone(external),
            fingerprint: s.key.fingerprint(),
            now,
            made_by: Arc::clone(&self.policy),
            full,
        }))))
    }
}

fn pending_verified(PendingSignature(p): &PendingSignature) -> jws::Verified<'_> {
    jws::Verified {
        header: p.header.clone(),
        payload_b64: &p.token[p.payload.clone()],
        fingerprint: p.fingerprint,
    }
}
