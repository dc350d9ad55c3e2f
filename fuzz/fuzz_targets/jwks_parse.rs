//! Any byte string as a JWK set document: never a panic; every kept key is usable.
#![no_main]
use iam_core::jwks::JwkSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = JwkSet::from_json(data) {
        for key in set.keys() {
            assert!(key.algorithms().count() > 0);
        }
        assert!(set.len() + set.skipped().len() <= 100_000);
    }
});
