//! The signing algorithms: key generation (aws-lc-rs), the public JWK, and the signing key in
//! the form jsonwebtoken's aws-lc provider signs with.
//!
//! Private keys are kept (sealed) in the DER form jsonwebtoken loads: PKCS#8 for P-256 and
//! Ed25519, PKCS#1 `RSAPrivateKey` for RSA.
use crate::error::{IssuerError, IssuerErrorKind};
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use iam_core::Secret;
use jsonwebtoken::crypto::JwtSigner;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// The algorithm new keys are made for. Existing keys keep theirs: changing the algorithm
/// takes effect at the next rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (the default: small keys and signatures, fast).
    #[default]
    Es256,
    /// Ed25519 (fastest; not accepted by every OIDC library).
    EdDsa,
    /// RSA 2048 PKCS#1 v1.5 with SHA-256 (the widest support; slow to sign and to generate).
    Rs256,
}

impl KeyAlgorithm {
    /// Every algorithm, in order of preference.
    pub const ALL: [KeyAlgorithm; 3] = [Self::Es256, Self::EdDsa, Self::Rs256];

    /// The JOSE name (`ES256`, `EdDSA`, `RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = IssuerError;

    /// The JOSE name, case-insensitively (`ES256`, `EdDSA`, `RS256`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| IssuerErrorKind::UnknownAlgorithm.into())
    }
}

/// A freshly generated key: its private DER (to be sealed) and its public JWK.
pub(crate) struct GeneratedKey {
    pub(crate) private_der: Secret<Vec<u8>>,
    pub(crate) public_jwk: Map<String, Value>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new key pair of `algorithm`, its JWK carrying `kid`, `alg` and `use: sig`.
pub(crate) fn generate(algorithm: KeyAlgorithm, kid: &str) -> Result<GeneratedKey, IssuerError> {
    let failed = |_| IssuerError::from(IssuerErrorKind::KeyGeneration);
    let rng = SystemRandom::new();
    let (private_der, mut jwk) = match algorithm {
        KeyAlgorithm::Es256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(failed)?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|_| IssuerErrorKind::KeyGeneration)?;
            let point = pair.public_key().as_ref();
            // Uncompressed SEC1: 0x04 || x (32) || y (32).
            let jwk = json!({"kty": "EC", "crv": "P-256",
                             "x": b64(&point[1..33]), "y": b64(&point[33..65])});
            (doc.as_ref().to_vec(), jwk)
        }
        KeyAlgorithm::EdDsa => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?;
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
                .map_err(|_| IssuerErrorKind::KeyGeneration)?;
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
            (doc.as_ref().to_vec(), jwk)
        }
        KeyAlgorithm::Rs256 => {
            let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?;
            let pkcs8 = pair.as_der().map_err(failed)?;
            let pkcs1 = pkcs8_inner_key(pkcs8.as_ref())
                .ok_or(IssuerErrorKind::KeyGeneration)?
                .to_vec();
            let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            let jwk = json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)});
            (pkcs1, jwk)
        }
    };
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(algorithm.as_str());
    jwk["use"] = json!("sig");
    let Value::Object(public_jwk) = jwk else {
        unreachable!("json! of an object literal is an object")
    };
    Ok(GeneratedKey {
        private_der: Secret::new(private_der),
        public_jwk,
    })
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (RFC 5208):
/// `SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey, ... }`.
fn pkcs8_inner_key(der: &[u8]) -> Option<&[u8]> {
    let (tag, info, _) = der_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, _, rest) = der_tlv(info)?;
    if tag != 0x02 {
        return None;
    }
    let (tag, _, rest) = der_tlv(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, key, _) = der_tlv(rest)?;
    (tag == 0x04).then_some(key)
}

/// One DER tag-length-value: (tag, contents, the rest). Definite lengths of up to 4 bytes.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

/// Distinguishes every [`SigningKey`] loaded in this process (for the per-thread signers).
static NEXT_SIGNING_KEY_ID: AtomicU64 = AtomicU64::new(1);

/// How many parsed signers a thread keeps (the current key, the one before it, another ring's).
const SIGNERS_PER_THREAD: usize = 8;

thread_local! {
    /// jsonwebtoken's signers, parsed once per key and thread: parsing a key costs as much as a
    /// signature (aws-lc checks that the public key matches the private one), and a parsed
    /// signer is neither `Send` nor `Sync`, so it cannot live in the shared [`SigningKey`].
    static SIGNERS: RefCell<Vec<(u64, Box<dyn JwtSigner>)>> = const { RefCell::new(Vec::new()) };
}

/// A key that can sign: jsonwebtoken's encoding key and the token header prefix.
pub(crate) struct SigningKey {
    id: u64,
    pub(crate) kid: String,
    pub(crate) algorithm: KeyAlgorithm,
    encoding: jsonwebtoken::EncodingKey,
    /// RS256 signs with this parsed key instead: jsonwebtoken 11's aws-lc RSA signer parses
    /// the DER key again on every signature, which triples the cost of an RS256 token
    /// (measured by `benches/mint.rs`).
    rsa: Option<RsaKeyPair>,
    /// base64url of the JOSE header, per token type.
    header_at_jwt: String,
    header_jwt: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Load a private key (the DER [`generate`] made) and check it signs.
    pub(crate) fn load(
        kid: &str,
        algorithm: KeyAlgorithm,
        private_der: &[u8],
    ) -> Result<Self, IssuerError> {
        let encoding = match algorithm {
            KeyAlgorithm::Es256 => jsonwebtoken::EncodingKey::from_ec_der(private_der),
            KeyAlgorithm::EdDsa => jsonwebtoken::EncodingKey::from_ed_der(private_der),
            KeyAlgorithm::Rs256 => jsonwebtoken::EncodingKey::from_rsa_der(private_der),
        };
        let header = |typ: &str| {
            let h = json!({"alg": algorithm.as_str(), "typ": typ, "kid": kid});
            b64(h.to_string().as_bytes())
        };
        let rsa = match algorithm {
            KeyAlgorithm::Rs256 => {
                Some(RsaKeyPair::from_der(private_der).map_err(|_| IssuerErrorKind::UnusableKey)?)
            }
            _ => None,
        };
        let key = Self {
            id: NEXT_SIGNING_KEY_ID.fetch_add(1, Ordering::Relaxed),
            kid: kid.to_owned(),
            algorithm,
            encoding,
            rsa,
            header_at_jwt: header("at+jwt"),
            header_jwt: header("JWT"),
        };
        key.sign(b"iam-issuer key check")
            .map_err(|_| IssuerErrorKind::UnusableKey)?;
        Ok(key)
    }

    /// The base64url header for a token type.
    pub(crate) fn header(&self, access_token: bool) -> &str {
        if access_token {
            &self.header_at_jwt
        } else {
            &self.header_jwt
        }
    }

    /// The signature of `message`: ES256 and EdDSA through jsonwebtoken's aws-lc provider
    /// (its signer for this key, parsed once per thread); RS256 with the aws-lc-rs key parsed
    /// at load (the same PKCS#1 v1.5 SHA-256 signature jsonwebtoken makes).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, IssuerError> {
        if let Some(rsa) = &self.rsa {
            let mut signature = vec![0; rsa.public_modulus_len()];
            rsa.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| IssuerErrorKind::Signing)?;
            return Ok(signature);
        }
        SIGNERS.with(|signers| {
            let mut signers = signers.borrow_mut();
            let index = match signers.iter().position(|(id, _)| *id == self.id) {
                Some(index) => index,
                None => {
                    let provider = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
                    let signer = (provider.signer_factory)(&self.algorithm.jwt(), &self.encoding)
                        .map_err(|_| IssuerErrorKind::Signing)?;
                    if signers.len() >= SIGNERS_PER_THREAD {
                        signers.remove(0);
                    }
                    signers.push((self.id, signer));
                    signers.len() - 1
                }
            };
            signers[index]
                .1
                .try_sign(message)
                .map_err(|_| IssuerErrorKind::Signing.into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_algorithm_generates_a_key_that_signs_and_names_itself_in_its_jwk() {
        for alg in KeyAlgorithm::ALL {
            let key = generate(alg, "k1").unwrap();
            assert_eq!(key.public_jwk["kid"], "k1");
            assert_eq!(key.public_jwk["alg"], alg.as_str());
            assert_eq!(key.public_jwk["use"], "sig");
            assert!(!key.public_jwk.contains_key("d"), "{alg}: no private part");
            let signer = SigningKey::load("k1", alg, key.private_der.secret()).unwrap();
            assert!(!signer.sign(b"x").unwrap().is_empty());
        }
    }

    #[test]
    fn per_thread_signers_stay_bound_to_their_key_past_the_cache_size_and_across_threads() {
        use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
        let keys: Vec<(Arc<SigningKey>, Vec<u8>)> = (0..SIGNERS_PER_THREAD + 3)
            .map(|i| {
                let kid = format!("k{i}");
                let key = generate(KeyAlgorithm::EdDsa, &kid).unwrap();
                let x = URL_SAFE_NO_PAD
                    .decode(key.public_jwk["x"].as_str().unwrap())
                    .unwrap();
                let signer = SigningKey::load(&kid, KeyAlgorithm::EdDsa, key.private_der.secret());
                (Arc::new(signer.unwrap()), x)
            })
            .collect();
        let check = |keys: &[(Arc<SigningKey>, Vec<u8>)]| {
            for round in 0..3 {
                for (signer, public) in keys.iter().rev().chain(keys.iter()) {
                    let message = format!("{} {round}", signer.kid);
                    let signature = signer.sign(message.as_bytes()).unwrap();
                    UnparsedPublicKey::new(&ED25519, public)
                        .verify(message.as_bytes(), &signature)
                        .unwrap();
                }
            }
        };
        check(&keys);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| check(&keys));
            }
        });
    }

    #[test]
    fn algorithm_names_parse_case_insensitively_and_unknown_ones_are_refused() {
        assert_eq!(
            "es256".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Es256
        );
        assert_eq!(
            "EDDSA".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::EdDsa
        );
        assert_eq!(
            "RS256".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Rs256
        );
        for bad in ["HS256", "none", "", "ES256 "] {
            assert_eq!(
                bad.parse::<KeyAlgorithm>().unwrap_err().kind(),
                &IssuerErrorKind::UnknownAlgorithm
            );
        }
    }

    #[test]
    fn garbage_private_key_bytes_are_an_unusable_key_not_a_panic() {
        for alg in KeyAlgorithm::ALL {
            for der in [&b""[..], b"\x30\x03\x02\x01\x00", &[0xff; 64]] {
                let err = SigningKey::load("k", alg, der).unwrap_err();
                assert_eq!(err.kind(), &IssuerErrorKind::UnusableKey);
            }
        }
    }

    #[test]
    fn der_walker_refuses_truncated_and_oversized_lengths() {
        assert_eq!(der_tlv(b""), None);
        assert_eq!(der_tlv(b"\x04"), None);
        assert_eq!(der_tlv(b"\x04\x05ab"), None);
        assert_eq!(der_tlv(b"\x04\x85\x01\x01\x01\x01\x01"), None);
        assert_eq!(der_tlv(b"\x04\x80"), None);
        assert_eq!(
            der_tlv(b"\x04\x81\x02abc"),
            Some((4, &b"ab"[..], &b"c"[..]))
        );
        assert_eq!(pkcs8_inner_key(b"\x30\x00"), None);
    }
}
