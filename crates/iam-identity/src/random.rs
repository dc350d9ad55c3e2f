//! Randomness and token encoding.
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// `N` bytes from the operating system's generator.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS generator failing is not recoverable (no safe fallback exists).
    getrandom::getrandom(&mut b).expect("the operating system's random generator failed");
    b
}

/// A new opaque token: 32 random bytes, base64url.
pub(crate) fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// The stored form of an opaque token: SHA-256, hex. Tokens carry 256 bits, so a fast hash
/// is enough.
pub(crate) fn token_hash(token: &str) -> String {
    crate::model::hex(&Sha256::digest(token.as_bytes()))
}
