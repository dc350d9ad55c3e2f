//! One verification key: its type, the algorithms it is bound to, and the checks a JWK must
//! pass to become one (or the [`SkipReason`] it is left out for).
use crate::backend::{self, Curve};
use crate::jwt::Algorithm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

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
    /// More keys than [`JwksLimits::max_keys`](super::JwksLimits::max_keys).
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
    pub(super) kid: Option<String>,
    pub(super) key_type: KeyType,
    pub(super) algorithms: u16,
    pub(super) decoding: backend::KeyMaterial,
    pub(super) fingerprint: Fingerprint,
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

pub(super) fn fingerprint(parts: &[&[u8]]) -> Fingerprint {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    Fingerprint(h.finalize().into())
}

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

pub(super) fn parse_key(entry: &Value) -> Result<VerifyingKey, SkipReason> {
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
}
