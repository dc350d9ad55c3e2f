//! The validated-token cache: hits skip the signature check, and an entry never outlives its
//! token's expiry or its key.
mod common;

use common::*;
use iam_core::clock::FixedClock;
use iam_core::jwks::JwkSet;
use iam_core::jwt::{JwtErrorKind, Validator};
use serde_json::json;
use std::sync::Arc;

fn setup() -> (Validator, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(NOW));
    let v = Validator::builder(ISS)
        .audience(AUD)
        .cache_capacity(100)
        .clock(Arc::clone(&clock))
        .build()
        .unwrap();
    (v, clock)
}

#[test]
fn repeated_token_is_served_from_the_cache() {
    let (v, _) = setup();
    let keys = key_set();
    let token = sign(&json!({"alg":"ES256","kid":"ec-1"}), &claims(), es256());
    let first = v.validate(&token, &keys).unwrap();
    let second = v.validate(&token, &keys).unwrap();
    // The same allocation comes back: nothing was re-verified or re-parsed.
    assert!(std::ptr::eq(first.principal(), second.principal()));
    assert_eq!(v.cached_tokens(), 1);
}

#[test]
fn cache_entry_dies_with_the_token() {
    let (v, clock) = setup();
    let keys = key_set();
    let token = sign(&json!({"alg":"ES256","kid":"ec-1"}), &claims(), es256());
    v.validate(&token, &keys).unwrap();
    clock.set(NOW + 300 + 60); // exp + leeway
    assert_eq!(
        v.validate(&token, &keys).unwrap_err().kind(),
        &JwtErrorKind::Expired
    );
}

#[test]
fn cache_entry_dies_with_its_key() {
    let (v, _) = setup();
    let full = key_set();
    let token = sign(&json!({"alg":"ES256","kid":"ec-1"}), &claims(), es256());
    v.validate(&token, &full).unwrap();
    // The same kid now names another key: the cached entry must not count.
    let k = keys();
    let rotated = JwkSet::from_json(
        json!({"keys":[ec_jwk(&k.ec_other, "ec-1")]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        v.validate(&token, &rotated).unwrap_err().kind(),
        &JwtErrorKind::InvalidSignature
    );
    // The key is gone altogether.
    let without = JwkSet::from_json(
        json!({"keys":[ed_jwk(&k.ed, "ed-1")]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        v.validate(&token, &without).unwrap_err().kind(),
        &JwtErrorKind::UnknownKey
    );
}

#[test]
fn invalid_tokens_are_not_cached_and_the_cache_is_bounded() {
    let (v, _) = setup();
    let keys = key_set();
    let bad = sign(
        &json!({"alg":"ES256","kid":"ec-1"}),
        &json!({"exp": NOW + 60}),
        es256(),
    );
    assert!(v.validate(&bad, &keys).is_err());
    assert_eq!(v.cached_tokens(), 0);
    for i in 0..300 {
        let t = sign(
            &json!({"alg":"EdDSA","kid":"ed-1"}),
            &json!({"iss":ISS,"aud":AUD,"sub":format!("u{i}"),"exp":NOW+60}),
            eddsa(),
        );
        v.validate(&t, &keys).unwrap();
    }
    assert!(v.cached_tokens() <= 100, "{}", v.cached_tokens());
}

#[test]
fn big_tokens_take_more_of_the_cache() {
    // Entries weigh 1 + 1 per 2 KiB of token: a cache of N entries keeps about 2·N KiB of
    // tokens at most, however large the tokens are (up to the 16 KiB limit).
    let (v, _) = setup();
    let keys = key_set();
    for i in 0..100 {
        let t = sign(
            &json!({"alg":"EdDSA","kid":"ed-1"}),
            &json!({"iss":ISS,"aud":AUD,"sub":format!("u{i}"),"exp":NOW+60,"pad":"x".repeat(8000)}),
            eddsa(),
        );
        assert!(t.len() > 10_000);
        v.validate(&t, &keys).unwrap();
    }
    assert!(v.cached_tokens() <= 100 / 5, "{}", v.cached_tokens());
    assert!(v.cached_tokens() > 0);
}

#[test]
fn a_token_differing_in_one_byte_is_not_a_hit() {
    let (v, _) = setup();
    let keys = key_set();
    let token = sign(&json!({"alg":"ES256","kid":"ec-1"}), &claims(), es256());
    v.validate(&token, &keys).unwrap();
    // Same length, last signature character changed: looked up, not found, verified, refused.
    let mut other = token.clone().into_bytes();
    let last = other.len() - 2;
    other[last] = if other[last] == b'A' { b'B' } else { b'A' };
    let other = String::from_utf8(other).unwrap();
    assert_eq!(
        v.validate(&other, &keys).unwrap_err().kind(),
        &JwtErrorKind::InvalidSignature
    );
    assert_eq!(v.cached_tokens(), 1);
}
