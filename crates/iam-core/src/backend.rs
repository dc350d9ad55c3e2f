//! The crypto backend: jsonwebtoken's verifier from the provider this build selected, called
//! explicitly (never through jsonwebtoken's process-wide default, which panics when a build
//! enables both backends), plus the key checks jsonwebtoken does not do at load time.
use crate::jwt::Algorithm;

/// Name of the backend in use, for diagnostics.
pub(crate) const NAME: &str = if cfg!(feature = "aws-lc") {
    "aws-lc-rs"
} else {
    "rust-crypto"
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

/// A parsed verification key (pure-Rust backend). Parsed once when the key set is loaded,
/// not on every verification; and only verification code is linked in, which keeps the
/// wasm32 build small (jsonwebtoken's provider would also pull in every signer).
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
pub(crate) enum KeyMaterial {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Hmac(Vec<u8>),
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
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
pub(crate) fn ed25519_key(x: &[u8]) -> KeyMaterial {
    <&[u8; 32]>::try_from(x)
        .ok()
        .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(b).ok())
        .map_or(KeyMaterial::Unusable, KeyMaterial::Ed25519)
}
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
pub(crate) fn hmac_key(secret: &[u8]) -> KeyMaterial {
    KeyMaterial::Hmac(secret.to_vec())
}

/// True when `signature` is a valid `alg` signature of `message` under `key`.
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
pub(crate) fn verify(
    alg: Algorithm,
    key: &KeyMaterial,
    message: &[u8],
    signature: Vec<u8>,
) -> bool {
    use hmac::Mac;
    use rsa::{Pkcs1v15Sign, Pss};
    use sha2::{Digest, Sha256, Sha384, Sha512};
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
    match (alg, key) {
        (Algorithm::RS256, KeyMaterial::Rsa(k)) => k
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(message),
                &signature,
            )
            .is_ok(),
        (Algorithm::RS384, KeyMaterial::Rsa(k)) => k
            .verify(
                Pkcs1v15Sign::new::<Sha384>(),
                &Sha384::digest(message),
                &signature,
            )
            .is_ok(),
        (Algorithm::RS512, KeyMaterial::Rsa(k)) => k
            .verify(
                Pkcs1v15Sign::new::<Sha512>(),
                &Sha512::digest(message),
                &signature,
            )
            .is_ok(),
        (Algorithm::PS256, KeyMaterial::Rsa(k)) => k
            .verify(Pss::new::<Sha256>(), &Sha256::digest(message), &signature)
            .is_ok(),
        (Algorithm::PS384, KeyMaterial::Rsa(k)) => k
            .verify(Pss::new::<Sha384>(), &Sha384::digest(message), &signature)
            .is_ok(),
        (Algorithm::PS512, KeyMaterial::Rsa(k)) => k
            .verify(Pss::new::<Sha512>(), &Sha512::digest(message), &signature)
            .is_ok(),
        (Algorithm::ES256, KeyMaterial::P256(k)) => p256::ecdsa::Signature::from_slice(&signature)
            .is_ok_and(|s| k.verify(message, &s).is_ok()),
        (Algorithm::ES384, KeyMaterial::P384(k)) => p384::ecdsa::Signature::from_slice(&signature)
            .is_ok_and(|s| k.verify(message, &s).is_ok()),
        (Algorithm::EdDSA, KeyMaterial::Ed25519(k)) => {
            ed25519_dalek::Signature::from_slice(&signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok())
        }
        (Algorithm::HS256, KeyMaterial::Hmac(s)) => {
            hmac_ok::<hmac::Hmac<Sha256>>(s, message, &signature)
        }
        (Algorithm::HS384, KeyMaterial::Hmac(s)) => {
            hmac_ok::<hmac::Hmac<Sha384>>(s, message, &signature)
        }
        (Algorithm::HS512, KeyMaterial::Hmac(s)) => {
            hmac_ok::<hmac::Hmac<Sha512>>(s, message, &signature)
        }
        _ => false,
    }
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

/// True when `sec1` (an uncompressed `04 || x || y` point) lies on `curve`.
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
pub(crate) fn ec_point_is_valid(curve: Curve, sec1: &[u8]) -> bool {
    match curve {
        Curve::P256 => p256::PublicKey::from_sec1_bytes(sec1).is_ok(),
        Curve::P384 => p384::PublicKey::from_sec1_bytes(sec1).is_ok(),
    }
}

/// True when `x` is the encoding of a valid Ed25519 public key.
#[cfg(feature = "aws-lc")]
pub(crate) fn ed25519_key_is_valid(x: &[u8]) -> bool {
    use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
    x.len() == 32 && UnparsedPublicKey::new(&ED25519, x).parse().is_ok()
}

/// True when `x` is the encoding of a valid Ed25519 public key.
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
pub(crate) fn ed25519_key_is_valid(x: &[u8]) -> bool {
    match <&[u8; 32]>::try_from(x) {
        Ok(bytes) => ed25519_dalek::VerifyingKey::from_bytes(bytes).is_ok(),
        Err(_) => false,
    }
}
