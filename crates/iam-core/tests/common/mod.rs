//! Test keys, the signer and the vendored vectors come from iam-testkit; what remains here
//! needs iam-core itself (the key set, the wasm-style verdict).
#![allow(dead_code, unreachable_pub, unused_imports)]

use iam_core::clock::FixedClock;
use iam_core::jwks::JwkSet;
use iam_core::jwt::Validator;
pub use iam_testkit::data::vectors_dir;
pub use iam_testkit::keys::*;
pub use iam_testkit::verdicts::export_verdicts;
use serde_json::Value;
use std::sync::Arc;

/// The standard test set of iam-testkit as an iam-core key set (every key accepted).
pub fn key_set() -> JwkSet {
    let set = JwkSet::from_json(jwks_json().to_string().as_bytes()).unwrap();
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    set
}

/// A verdict as the wasm API reports it: `{ok}` or `{ok, status, error, description}`.
pub fn verdict<T>(result: &Result<T, iam_core::JwtError>) -> Value {
    match result {
        Ok(_) => serde_json::json!({"ok": true}),
        Err(e) => {
            let e = iam_core::AuthError::from(e.clone());
            serde_json::json!({"ok": false, "status": e.status().as_u16(),
                               "error": e.error_code(), "description": e.description()})
        }
    }
}

/// A validator for [`ISS`] and [`AUD`] on a clock fixed at [`NOW`].
pub fn validator() -> Validator {
    Validator::builder(ISS)
        .audience(AUD)
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .unwrap()
}
