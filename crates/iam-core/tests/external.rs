//! Two-step validation (`Validator::begin` / `finish`) for platform crypto. With the
//! `external-crypto` backend alone (`cargo test -p iam-core --no-default-features --features
//! external-crypto --test external`, run by .ci/run), RSA and ECDSA signatures come back
//! pending and aws-lc-rs plays the platform here; with the other backends `begin` always
//! finishes in process.
mod common;

use common::*;
use iam_core::jwt::{Step, Validator};
use serde_json::json;

fn validator() -> Validator {
    Validator::builder(ISS)
        .audience(AUD)
        .clock(iam_core::FixedClock::new(NOW))
        .build()
        .unwrap()
}

#[test]
fn eddsa_and_policy_refusals_never_wait_for_the_platform() {
    let (v, keys) = (validator(), key_set());
    let ed = sign(&json!({"alg": "EdDSA", "kid": "ed-1"}), &claims(), eddsa());
    assert!(matches!(v.begin(&ed, &keys).unwrap(), Step::Done(_)));
    for (token, why) in [
        (
            sign(&json!({"alg": "none", "kid": "rsa-1"}), &claims(), rs256()),
            "unsigned tokens (alg none) are not accepted",
        ),
        (
            sign(&json!({"alg": "RS256", "kid": "nope"}), &claims(), rs256()),
            "unknown signing key",
        ),
        (
            sign(&json!({"alg": "ES256", "kid": "rsa-1"}), &claims(), es256()),
            "signing algorithm not allowed for this key or validator",
        ),
        (
            "a.b".to_owned(),
            "malformed token: expected three base64url segments",
        ),
    ] {
        assert_eq!(v.begin(&token, &keys).unwrap_err().to_string(), why);
    }
}

#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
mod external_only {
    use super::*;
    use aws_lc_rs::signature::{self as sig, RsaPublicKeyComponents, UnparsedPublicKey};
    use iam_core::jwt::{Algorithm, ExternalKey, JwtErrorKind, PendingSignature};

    /// What WebCrypto does in iam-wasm, done by aws-lc-rs.
    fn platform(p: &PendingSignature) -> bool {
        let (msg, s) = (p.message(), p.signature());
        match (p.key(), p.algorithm()) {
            (ExternalKey::Rsa { n, e }, alg) => {
                let params: &sig::RsaParameters = match alg {
                    Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                    other => panic!("{other:?}"),
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, msg, s)
                    .is_ok()
            }
            (ExternalKey::Ec { sec1, .. }, Algorithm::ES256) => {
                UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, sec1)
                    .verify(msg, s)
                    .is_ok()
            }
            other => panic!("{other:?}"),
        }
    }

    fn pending(v: &Validator, token: &str) -> PendingSignature {
        match v.begin(token, &key_set()).unwrap() {
            Step::Pending(p) => p,
            Step::Done(_) => panic!("expected a pending signature"),
        }
    }

    #[test]
    fn rsa_and_ecdsa_are_left_to_the_platform_then_cached() {
        let v = validator();
        for (header, signer) in [
            (json!({"alg": "RS256", "kid": "rsa-1"}), rs256()),
            (
                json!({"alg": "PS256", "kid": "rsa-any"}),
                Signer::Rsa(&keys().rsa2, &sig::RSA_PSS_SHA256),
            ),
            (json!({"alg": "ES256", "kid": "ec-1"}), es256()),
        ] {
            let token = sign(&header, &claims(), signer);
            let p = pending(&v, &token);
            assert_eq!(p.algorithm().as_str(), header["alg"]);
            assert!(token.as_bytes().starts_with(p.message()));
            assert_eq!(p.message().len(), token.rfind('.').unwrap());
            let debug = format!("{p:?}");
            assert!(!debug.contains(&token[..20]), "{debug}");
            assert!(platform(&p));
            let done = v.finish(p, true).unwrap();
            assert_eq!(done.principal().subject(), "user-1");
            // The same token again: a cache hit, no platform call.
            assert!(matches!(
                v.begin(&token, &key_set()).unwrap(),
                Step::Done(_)
            ));
        }
    }

    #[test]
    fn the_platform_verdict_decides_and_claims_are_checked_after_it() {
        let v = validator();
        let token = sign(&json!({"alg": "RS256", "kid": "rsa-1"}), &claims(), rs256());
        let (h, rest) = token.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let mut other = claims();
        other["sub"] = json!("admin");
        let swapped = format!("{h}.{}.{s}", b64(other.to_string().as_bytes()));
        let p = pending(&v, &swapped);
        assert!(!platform(&p));
        assert_eq!(
            *v.finish(p, false).unwrap_err().kind(),
            JwtErrorKind::InvalidSignature
        );
        // Nothing was cached for the refused token.
        assert!(matches!(
            v.begin(&swapped, &key_set()).unwrap(),
            Step::Pending(_)
        ));

        let mut expired = claims();
        expired["exp"] = json!(NOW - 3600);
        let token = sign(&json!({"alg": "ES256", "kid": "ec-1"}), &expired, es256());
        let p = pending(&v, &token);
        assert!(platform(&p));
        assert_eq!(
            *v.finish(p, true).unwrap_err().kind(),
            JwtErrorKind::Expired
        );
    }

    #[test]
    fn a_pending_signature_is_finished_only_by_the_validator_that_made_it() {
        let token = sign(&json!({"alg": "ES256", "kid": "ec-1"}), &claims(), es256());
        let maker = validator();
        // Another validator (another policy: its own audience) must not finish what `maker`'s
        // policy chose the key for, nor the other way round.
        let other = Validator::builder(ISS)
            .audience("billing")
            .clock(iam_core::FixedClock::new(NOW))
            .build()
            .unwrap();
        for (made, finisher) in [(&maker, &other), (&other, &maker)] {
            let p = pending(made, &token);
            assert!(platform(&p));
            let e = finisher.finish(p, true).unwrap_err();
            assert_eq!(*e.kind(), JwtErrorKind::ForeignPendingSignature);
            let p = match made.begin_jws(&token, &key_set()).unwrap() {
                Step::Pending(p) => p,
                Step::Done(_) => panic!("expected pending"),
            };
            let e = finisher.finish_jws(p, true).unwrap_err();
            assert_eq!(*e.kind(), JwtErrorKind::ForeignPendingSignature);
        }
        // Nothing was cached by the refused finish: the token is still pending for `other`.
        assert!(matches!(
            other.begin(&token, &key_set()).unwrap(),
            Step::Pending(_)
        ));
        // The steps are not interchangeable: `begin_jws` skipped the claim policy's size limit.
        let p = match maker.begin_jws(&token, &key_set()).unwrap() {
            Step::Pending(p) => p,
            Step::Done(_) => panic!("expected pending"),
        };
        let e = maker.finish(p, true).unwrap_err();
        assert_eq!(*e.kind(), JwtErrorKind::ForeignPendingSignature);
        let e = maker.finish_jws(pending(&maker, &token), true).unwrap_err();
        assert_eq!(*e.kind(), JwtErrorKind::ForeignPendingSignature);
        // A clone is the same validator (it shares the policy and the cache).
        let p = pending(&maker, &token);
        let done = maker.clone().finish(p, true).unwrap();
        assert_eq!(done.principal().subject(), "user-1");
    }

    #[test]
    fn wrong_signature_lengths_are_refused_before_the_platform() {
        let v = validator();
        for (header, len) in [
            (json!({"alg": "RS256", "kid": "rsa-1"}), 255),
            (json!({"alg": "RS256", "kid": "rsa-1"}), 257),
            (json!({"alg": "ES256", "kid": "ec-1"}), 63),
            (json!({"alg": "ES256", "kid": "ec-1"}), 72),
        ] {
            let bytes = vec![1u8; len];
            let token = sign(&header, &claims(), Signer::Raw(&bytes));
            let e = v.begin(&token, &key_set()).unwrap_err();
            assert_eq!(*e.kind(), JwtErrorKind::InvalidSignature, "{header} {len}");
        }
    }

    #[test]
    fn jws_only_and_the_synchronous_path_fails_closed() {
        let v = validator();
        let token = sign(&json!({"alg": "ES256", "kid": "ec-1"}), &claims(), es256());
        let p = match v.begin_jws(&token, &key_set()).unwrap() {
            Step::Pending(p) => p,
            Step::Done(_) => panic!("expected pending"),
        };
        let ok = platform(&p);
        let jws = v.finish_jws(p, ok).unwrap();
        assert_eq!(jws.payload, claims().to_string().into_bytes());
        // `validate` cannot wait for the platform: it refuses rather than accept unchecked.
        let e = v.validate(&token, &key_set()).unwrap_err();
        assert_eq!(*e.kind(), JwtErrorKind::InvalidSignature);
    }
}

#[cfg(any(feature = "aws-lc", feature = "rust-crypto"))]
#[test]
fn in_process_backends_never_leave_a_signature_pending() {
    let (v, keys) = (validator(), key_set());
    for (alg, kid, signer) in [("RS256", "rsa-1", rs256()), ("ES256", "ec-1", es256())] {
        let token = sign(&json!({"alg": alg, "kid": kid}), &claims(), signer);
        match v.begin(&token, &keys).unwrap() {
            Step::Done(t) => assert_eq!(t.principal().subject(), "user-1"),
            Step::Pending(p) => panic!("pending with an in-process backend: {p:?}"),
        }
        assert!(matches!(v.begin_jws(&token, &keys).unwrap(), Step::Done(_)));
    }
}
