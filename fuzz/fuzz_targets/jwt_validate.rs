//! Any byte string as a token: never a panic, never accepted (nobody here holds the keys).
#![no_main]
use iam_core::jwks::JwkSet;
use iam_core::jwt::{Algorithm, Validator};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn setup() -> &'static (Validator, JwkSet) {
    static S: OnceLock<(Validator, JwkSet)> = OnceLock::new();
    S.get_or_init(|| {
        let doc = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"ec-1","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"}]}"#;
        let mut keys = JwkSet::from_json(doc).expect("fixed JWK set");
        keys.insert_shared_secret(Some("hs"), Algorithm::HS256, &[42; 32]).expect("secret");
        let v = Validator::builder("https://issuer.example")
            .audience("api")
            .clock(|| 1_800_000_000_i64)
            .build()
            .expect("validator");
        (v, keys)
    })
}

fuzz_target!(|data: &[u8]| {
    let (v, keys) = setup();
    if let Ok(token) = std::str::from_utf8(data) {
        assert!(v.validate(token, keys).is_err());
        let _ = v.verify_signature(token, keys);
        let _ = iam_core::jwt::unverified_kid(token);
        let _ = iam_core::jwt::unverified_issuer(token);
    }
});
