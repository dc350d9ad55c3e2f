//! The crypto backend: jsonwebtoken's verifier from the provider this build selected, called
//! explicitly (never through jsonwebtoken's process-wide default, which panics when a build
//! enables both backends), plus the key checks jsonwebtoken does not do at load time.
use crate::jwt::Algorithm;
use std::sync::Arc;

/// Name of the backend in use, for diagnostics.
pub(crate) const NAME: &str = if cfg!(feature = "aws-lc") {
    "aws-lc-rs"
} else if cfg!(feature = "rust-crypto") {
    "rust-crypto"
} else {
    "external"
};

/// A parsed verification key, in the form the backend verifies with.
#[cfg(feature = "aws-lc")]
pub(crate) type KeyMaterial = jsonwebtoken::DecodingKey;

#[cfg(feature = "aws-lc")]
pub(crate) fn rsa_key(n: &[u8], e: &[u8]) -> KeyMaterial {
    jsonwebtoken::DecodingKey::from_rsa_raw_components(n, e)
}
#[cfg(feature = "aws-lc")]
pub(crate) fn ec_key(_curve: Curve, sec1: &[u8]) -> KeyMaterial {
    jsonwebtoken::DecodingKey::from_ec_der(sec1)
}
#[cfg(feature = "aws-lc")]
pub(crate) fn ed25519_key(x: &[u8]) -> KeyMaterial {
    jsonwebtoken::DecodingKey::from_ed_der(x)
}
#[cfg(feature = "aws-lc")]
pub(crate) fn hmac_key(secret: &[u8]) -> KeyMaterial {
    jsonwebtoken::DecodingKey::from_secret(secret)
}

/// True when `signature` is a valid `alg` signature of `message` under `key`: jsonwebtoken's
/// aws-lc verifier, called explicitly (never through jsonwebtoken's process-wide default,
/// which panics when a build enables both backends).
#[cfg(feature = "aws-lc")]
pub(crate) fn verify(
    alg: Algorithm,
    key: &KeyMaterial,
    message: &[u8],
    signature: Vec<u8>,
) -> bool {
    let provider = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
    match (provider.verifier_factory)(&alg.to_jsonwebtoken(), key) {
        Ok(verifier) => verifier.verify(message, &signature).is_ok(),
        Err(_) => false,
    }
}

/// The key whose signature the caller must check, when the backend cannot: never, here.
#[cfg(feature = "aws-lc")]
pub(crate) fn external(_key: &KeyMaterial) -> Option<&Arc<crate::jwt::ExternalKey>> {
    None
}

/// Elliptic curves iam-core verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Curve {
    P256,
    P384,
}

/// True when `sec1` (an uncompressed `04 || x || y` point) lies on `curve`.
#[cfg(feature = "aws-lc")]
pub(crate) fn ec_point_is_valid(curve: Curve, sec1: &[u8]) -> bool {
    use aws_lc_rs::signature::{
        UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED,
    };
    let alg = match curve {
        Curve::P256 => &ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &ECDSA_P384_SHA384_FIXED,
    };
    UnparsedPublicKey::new(alg, sec1).parse().is_ok()
}

/// True when `x` is the encoding of a valid Ed25519 public key.
#[cfg(feature = "aws-lc")]
pub(crate) fn ed25519_key_is_valid(x: &[u8]) -> bool {
    use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
    x.len() == 32 && UnparsedPublicKey::new(&ED25519, x).parse().is_ok()
}

// ---------------------------------------------------------------------------------------------
// Without aws-lc: `rust-crypto` verifies everything with the RustCrypto crates, called directly
// with keys parsed once at load (jsonwebtoken's provider would link every signer in too, which
// the wasm32 build pays for). `external-crypto` alone leaves RSA and ECDSA signatures to the
// caller's platform crypto (WebCrypto in iam-wasm) through `Validator::begin` / `finish`.
// Ed25519, HMAC and the key checks at load are the same for both.

/// A parsed verification key (pure-Rust backends).
#[cfg(not(feature = "aws-lc"))]
pub(crate) enum KeyMaterial {
    #[cfg(feature = "rust-crypto")]
    Rsa(rsa::RsaPublicKey),
    #[cfg(feature = "rust-crypto")]
    P256(p256::ecdsa::VerifyingKey),
    #[cfg(feature = "rust-crypto")]
    P384(p384::ecdsa::VerifyingKey),
    /// RSA or ECDSA, checked by the caller.
    #[cfg(not(feature = "rust-crypto"))]
    External(Arc<crate::jwt::ExternalKey>),
    Ed25519(ed25519_dalek::VerifyingKey),
    /// An HMAC shared secret: redacted, zeroed on drop.
    Hmac(crate::secret::Secret<Vec<u8>>),
    /// Passed the JWK checks but refused by the crypto library: verifies nothing.
    Unusable,
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
pub(crate) fn rsa_key(n: &[u8], e: &[u8]) -> KeyMaterial {
    use rsa::BigUint;
    // Sizes are checked by the JWK parser (2048..=8192 bits); rsa's default cap is 4096.
    rsa::RsaPublicKey::new_with_max_size(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e), 8192)
        .map_or(KeyMaterial::Unusable, KeyMaterial::Rsa)
}
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
pub(crate) fn ec_key(curve: Curve, sec1: &[u8]) -> KeyMaterial {
    let key = match curve {
        Curve::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map(KeyMaterial::P256),
        Curve::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map(KeyMaterial::P384),
    };
    key.unwrap_or(KeyMaterial::Unusable)
}

#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
pub(crate) fn rsa_key(n: &[u8], e: &[u8]) -> KeyMaterial {
    KeyMaterial::External(Arc::new(crate::jwt::ExternalKey::Rsa {
        n: n.to_vec(),
        e: e.to_vec(),
    }))
}
#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
pub(crate) fn ec_key(curve: Curve, sec1: &[u8]) -> KeyMaterial {
    let curve = match curve {
        Curve::P256 => crate::jwt::EcCurve::P256,
        Curve::P384 => crate::jwt::EcCurve::P384,
    };
    let sec1 = sec1.to_vec();
    KeyMaterial::External(Arc::new(crate::jwt::ExternalKey::Ec { curve, sec1 }))
}

#[cfg(not(feature = "aws-lc"))]
pub(crate) fn ed25519_key(x: &[u8]) -> KeyMaterial {
    <&[u8; 32]>::try_from(x)
        .ok()
        .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(b).ok())
        .map_or(KeyMaterial::Unusable, KeyMaterial::Ed25519)
}
#[cfg(not(feature = "aws-lc"))]
pub(crate) fn hmac_key(secret: &[u8]) -> KeyMaterial {
    KeyMaterial::Hmac(crate::secret::Secret::new(secret.to_vec()))
}

/// The key whose signature the caller must check, when the backend cannot.
#[cfg(not(feature = "aws-lc"))]
pub(crate) fn external(key: &KeyMaterial) -> Option<&Arc<crate::jwt::ExternalKey>> {
    match key {
        #[cfg(not(feature = "rust-crypto"))]
        KeyMaterial::External(k) => Some(k),
        _ => None,
    }
}

/// True when `signature` is a valid `alg` signature of `message` under `key`. With
/// `external-crypto` alone, RSA and ECDSA keys verify nothing here (fail closed): their
/// signatures go through `Validator::begin` / `finish`.
#[cfg(not(feature = "aws-lc"))]
pub(crate) fn verify(
    alg: Algorithm,
    key: &KeyMaterial,
    message: &[u8],
    signature: Vec<u8>,
) -> bool {
    use hmac::Mac;
    use sha2::{Sha256, Sha384, Sha512};
    use signature::Verifier;
    fn hmac_ok<M: Mac + hmac::digest::KeyInit>(secret: &[u8], message: &[u8], tag: &[u8]) -> bool {
        match <M as hmac::digest::KeyInit>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(message);
                mac.verify_slice(tag).is_ok() // constant time
            }
            Err(_) => false,
        }
    }
    #[cfg(feature = "rust-crypto")]
    if let Some(verdict) = rust_crypto_verify(alg, key, message, &signature) {
        return verdict;
    }
    match (alg, key) {
        (Algorithm::EdDSA, KeyMaterial::Ed25519(k)) => {
            ed25519_dalek::Signature::from_slice(&signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok())
        }
        (Algorithm::HS256, KeyMaterial::Hmac(s)) => {
            hmac_ok::<hmac::Hmac<Sha256>>(s.secret(), message, &signature)
        }
        (Algorithm::HS384, KeyMaterial::Hmac(s)) => {
            hmac_ok::<hmac::Hmac<Sha384>>(s.secret(), message, &signature)
        }
        (Algorithm::HS512, KeyMaterial::Hmac(s)) => {
            hmac_ok::<hmac::Hmac<Sha512>>(s.secret(), message, &signature)
        }
        _ => false,
    }
}

/// RSA and ECDSA with the RustCrypto crates; `None` for other keys.
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
fn rust_crypto_verify(
    alg: Algorithm,
    key: &KeyMaterial,
    message: &[u8],
    signature: &[u8],
) -> Option<bool> {
    use rsa::{Pkcs1v15Sign, Pss};
    use sha2::{Digest, Sha256, Sha384, Sha512};
    use signature::Verifier;
    let verdict = match (alg, key) {
        (Algorithm::RS256, KeyMaterial::Rsa(k)) => k
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(message),
                signature,
            )
            .is_ok(),
        (Algorithm::RS384, KeyMaterial::Rsa(k)) => k
            .verify(
                Pkcs1v15Sign::new::<Sha384>(),
                &Sha384::digest(message),
                signature,
            )
            .is_ok(),
        (Algorithm::RS512, KeyMaterial::Rsa(k)) => k
            .verify(
                Pkcs1v15Sign::new::<Sha512>(),
                &Sha512::digest(message),
                signature,
            )
            .is_ok(),
        (Algorithm::PS256, KeyMaterial::Rsa(k)) => k
            .verify(Pss::new::<Sha256>(), &Sha256::digest(message), signature)
            .is_ok(),
        (Algorithm::PS384, KeyMaterial::Rsa(k)) => k
            .verify(Pss::new::<Sha384>(), &Sha384::digest(message), signature)
            .is_ok(),
        (Algorithm::PS512, KeyMaterial::Rsa(k)) => k
            .verify(Pss::new::<Sha512>(), &Sha512::digest(message), signature)
            .is_ok(),
        (Algorithm::ES256, KeyMaterial::P256(k)) => p256::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|s| k.verify(message, &s).is_ok()),
        (Algorithm::ES384, KeyMaterial::P384(k)) => p384::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|s| k.verify(message, &s).is_ok()),
        (_, KeyMaterial::Rsa(_) | KeyMaterial::P256(_) | KeyMaterial::P384(_)) => false,
        _ => return None,
    };
    Some(verdict)
}

/// True when `sec1` (an uncompressed `04 || x || y` point) lies on `curve`.
#[cfg(not(feature = "aws-lc"))]
pub(crate) fn ec_point_is_valid(curve: Curve, sec1: &[u8]) -> bool {
    match curve {
        Curve::P256 => p256::PublicKey::from_sec1_bytes(sec1).is_ok(),
        Curve::P384 => p384::PublicKey::from_sec1_bytes(sec1).is_ok(),
    }
}

/// True when `x` is the encoding of a valid Ed25519 public key.
#[cfg(not(feature = "aws-lc"))]
pub(crate) fn ed25519_key_is_valid(x: &[u8]) -> bool {
    match <&[u8; 32]>::try_from(x) {
        Ok(bytes) => ed25519_dalek::VerifyingKey::from_bytes(bytes).is_ok(),
        Err(_) => false,
    }
}
