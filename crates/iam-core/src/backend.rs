//! The crypto backend: jsonwebtoken's verifier from the provider this build selected, called
//! explicitly (never through jsonwebtoken's process-wide default, which panics when a build
//! enables both backends), plus the key checks jsonwebtoken does not do at load time.
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, DecodingKey};

#[cfg(feature = "aws-lc")]
fn provider() -> &'static CryptoProvider {
    &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
fn provider() -> &'static CryptoProvider {
    &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
}

/// Name of the backend in use, for diagnostics.
pub(crate) const NAME: &str = if cfg!(feature = "aws-lc") {
    "aws-lc-rs"
} else {
    "rust-crypto"
};

/// True when `signature` is a valid `alg` signature of `message` under `key`.
pub(crate) fn verify(
    alg: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: Vec<u8>,
) -> bool {
    match (provider().verifier_factory)(&alg, key) {
        Ok(verifier) => verifier.verify(message, &signature).is_ok(),
        Err(_) => false,
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
