//! The hostile-token table: every rule of the validation policy, each as a token that must be
//! refused for the stated reason (and a few that must still be accepted).
mod common;

use common::*;
use iam_core::clock::FixedClock;
use iam_core::jwks::JwkSet;
use iam_core::jwt::{JwtErrorKind as K, TokenType, Validator};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn h(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "kid": kid})
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

type Expect = Result<(), K>;

/// Run a table; `test` and `options` (the validator's settings in iam-wasm's option names)
/// label the verdicts exported for the wasm build (see `common::export_verdicts`).
fn run(
    test: &str,
    options: Value,
    cases: Vec<(&str, String, Expect)>,
    v: &Validator,
    keys: &JwkSet,
) {
    let mut failures = Vec::new();
    let mut exported = Vec::new();
    for (name, token, expect) in &cases {
        v.clear_cache();
        let result = v.validate(token, keys);
        exported.push(json!({"name": name, "token": token, "verdict": verdict(&result)}));
        let got = result.map(|_| ()).map_err(|e| e.kind().clone());
        if &got != expect {
            failures.push(format!("{name}: expected {expect:?}, got {got:?}"));
        }
    }
    let mut options = options;
    options["issuer"] = json!(ISS);
    options["audience"] = json!(AUD);
    options["cacheSize"] = json!(0);
    export_verdicts(
        &format!("hostile-{test}"),
        &json!({"options": options, "now": NOW, "jwks": jwks_json(), "cases": exported}),
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn hostile_token_table() {
    let k = keys();
    let keys = key_set();
    let v = validator();
    let c = claims();
    let rsa_pub = aws_lc_rs::signature::RsaPublicKeyComponents::<Vec<u8>>::from(
        aws_lc_rs::signature::KeyPair::public_key(&k.rsa),
    );
    let rsa_der = aws_lc_rs::signature::KeyPair::public_key(&k.rsa)
        .as_ref()
        .to_vec();
    let rsa_pem = format!(
        "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &rsa_der)
    );
    let rsa_jwk_text = rsa_jwk(&k.rsa, "rsa-1", Some("RS256")).to_string();
    let hs = aws_lc_rs::hmac::HMAC_SHA256;
    let good = sign(&h("RS256", "rsa-1"), &c, rs256());
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let ps256 = &aws_lc_rs::signature::RSA_PSS_SHA256;
    let rs512 = &aws_lc_rs::signature::RSA_PKCS1_SHA512;

    let mut cases: Vec<(&str, String, Expect)> = vec![
        // Sanity: the good ones pass.
        ("valid RS256", good.clone(), Ok(())),
        (
            "valid ES256",
            sign(&h("ES256", "ec-1"), &c, es256()),
            Ok(()),
        ),
        (
            "valid EdDSA",
            sign(&h("EdDSA", "ed-1"), &c, eddsa()),
            Ok(()),
        ),
        (
            "valid PS256 on a key without alg",
            sign(&h("PS256", "rsa-any"), &c, Signer::Rsa(&k.rsa2, ps256)),
            Ok(()),
        ),
        (
            "valid ES256 without kid (one EC key)",
            sign(&json!({"alg":"ES256"}), &c, es256()),
            Ok(()),
        ),
        // alg none, in every spelling, with and without a signature.
        (
            "alg none",
            sign(&h("none", "rsa-1"), &c, Signer::Empty),
            Err(K::AlgorithmNone),
        ),
        (
            "alg None",
            sign(&h("None", "rsa-1"), &c, Signer::Empty),
            Err(K::AlgorithmNone),
        ),
        (
            "alg NONE",
            sign(&h("NONE", "rsa-1"), &c, Signer::Empty),
            Err(K::AlgorithmNone),
        ),
        (
            "alg nOnE",
            sign(&json!({"alg":"nOnE"}), &c, Signer::Empty),
            Err(K::AlgorithmNone),
        ),
        (
            "alg none with a signature",
            sign(&h("none", "rsa-1"), &c, Signer::Raw(b"sig")),
            Err(K::AlgorithmNone),
        ),
        (
            "alg none without separator",
            format!(
                "{}.{}",
                b64(br#"{"alg":"none"}"#),
                b64(c.to_string().as_bytes())
            ),
            Err(K::Malformed("expected three base64url segments")),
        ),
        // HMAC with the RSA public key as the secret (algorithm confusion).
        (
            "HS256 keyed with RSA PEM",
            sign(
                &h("HS256", "rsa-1"),
                &c,
                Signer::Hmac(rsa_pem.as_bytes(), hs),
            ),
            Err(K::AlgorithmNotAllowed),
        ),
        (
            "HS256 keyed with RSA modulus",
            sign(&h("HS256", "rsa-1"), &c, Signer::Hmac(&rsa_pub.n, hs)),
            Err(K::AlgorithmNotAllowed),
        ),
        (
            "HS256 keyed with RSA JWK JSON",
            sign(
                &h("HS256", "rsa-1"),
                &c,
                Signer::Hmac(rsa_jwk_text.as_bytes(), hs),
            ),
            Err(K::AlgorithmNotAllowed),
        ),
        (
            "HS256 keyed with RSA DER, no kid",
            sign(&json!({"alg":"HS256"}), &c, Signer::Hmac(&rsa_der, hs)),
            Err(K::NoMatchingKey),
        ),
        (
            "HS256 on the EC kid",
            sign(&h("HS256", "ec-1"), &c, Signer::Hmac(b"x", hs)),
            Err(K::AlgorithmNotAllowed),
        ),
        // kid tricks.
        (
            "kid path traversal",
            sign(&h("RS256", "../../../../dev/null"), &c, rs256()),
            Err(K::UnknownKey),
        ),
        (
            "kid traversal to a real kid",
            sign(&h("RS256", "rsa-1/../rsa-1"), &c, rs256()),
            Err(K::UnknownKey),
        ),
        (
            "kid SQL injection",
            sign(&h("RS256", "x' OR '1'='1"), &c, rs256()),
            Err(K::UnknownKey),
        ),
        (
            "kid with NUL",
            sign(&h("RS256", "rsa-1\u{0}"), &c, rs256()),
            Err(K::UnknownKey),
        ),
        (
            "kid case changed",
            sign(&h("RS256", "RSA-1"), &c, rs256()),
            Err(K::UnknownKey),
        ),
        (
            "kid not a string",
            sign(&json!({"alg":"RS256","kid":1}), &c, rs256()),
            Err(K::Malformed("kid is not a string")),
        ),
        (
            "unknown kid",
            sign(&h("RS256", "rsa-9"), &c, rs256()),
            Err(K::UnknownKey),
        ),
        (
            "no kid, two RSA keys",
            sign(&json!({"alg":"RS256"}), &c, rs256()),
            Err(K::AmbiguousKey),
        ),
        (
            "no kid, one key for PS256",
            sign(&json!({"alg":"PS256"}), &c, Signer::Rsa(&k.rsa2, ps256)),
            Ok(()),
        ),
        // Embedded keys are never key sources.
        (
            "embedded jwk, attacker kid",
            sign(
                &json!({"alg":"ES256","kid":"evil","jwk":ec_jwk(&k.ec_other,"evil")}),
                &c,
                Signer::Ec(&k.ec_other),
            ),
            Err(K::UnknownKey),
        ),
        (
            "embedded jwk, real kid",
            sign(
                &json!({"alg":"ES256","kid":"ec-1","jwk":ec_jwk(&k.ec_other,"ec-1")}),
                &c,
                Signer::Ec(&k.ec_other),
            ),
            Err(K::InvalidSignature),
        ),
        (
            "embedded jwk, no kid",
            sign(
                &json!({"alg":"ES256","jwk":ec_jwk(&k.ec_other,"x")}),
                &c,
                Signer::Ec(&k.ec_other),
            ),
            Err(K::InvalidSignature),
        ),
        (
            "jku pointing elsewhere",
            sign(
                &json!({"alg":"ES256","kid":"ec-1","jku":"https://evil.example/jwks"}),
                &c,
                Signer::Ec(&k.ec_other),
            ),
            Err(K::InvalidSignature),
        ),
        (
            "x5u pointing elsewhere",
            sign(
                &json!({"alg":"ES256","kid":"ec-1","x5u":"https://evil.example/cert"}),
                &c,
                Signer::Ec(&k.ec_other),
            ),
            Err(K::InvalidSignature),
        ),
        (
            "x5c chain",
            sign(
                &json!({"alg":"ES256","kid":"ec-1","x5c":["MIIB"]}),
                &c,
                Signer::Ec(&k.ec_other),
            ),
            Err(K::InvalidSignature),
        ),
        // Unsupported header parameters, even when validly signed.
        (
            "crit",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1}),
                &c,
                rs256(),
            ),
            Err(K::UnsupportedHeader("crit")),
        ),
        (
            "crit empty",
            sign(&json!({"alg":"RS256","kid":"rsa-1","crit":[]}), &c, rs256()),
            Err(K::UnsupportedHeader("crit")),
        ),
        (
            "b64 false",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","b64":false,"crit":["b64"]}),
                &c,
                rs256(),
            ),
            Err(K::UnsupportedHeader("b64")),
        ),
        (
            "b64 false without crit",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","b64":false}),
                &c,
                rs256(),
            ),
            Err(K::UnsupportedHeader("b64")),
        ),
        (
            "zip",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","zip":"DEF"}),
                &c,
                rs256(),
            ),
            Err(K::UnsupportedHeader("zip")),
        ),
        (
            "enc (JWE header)",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","enc":"A256GCM"}),
                &c,
                rs256(),
            ),
            Err(K::UnsupportedHeader("enc")),
        ),
        (
            "nested JWT",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","cty":"JWT"}),
                &c,
                rs256(),
            ),
            Err(K::UnsupportedHeader("cty")),
        ),
        // Duplicate members.
        (
            "duplicate alg in header",
            sign_raw(
                r#"{"alg":"RS256","alg":"none","kid":"rsa-1"}"#,
                &c.to_string(),
                rs256(),
            ),
            Err(K::DuplicateMember),
        ),
        (
            "duplicate kid in header",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa-9","kid":"rsa-1"}"#,
                &c.to_string(),
                rs256(),
            ),
            Err(K::DuplicateMember),
        ),
        (
            "duplicate sub in payload",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                &format!(
                    r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"sub":"user-1","sub":"admin"}}"#,
                    NOW + 60
                ),
                rs256(),
            ),
            Err(K::DuplicateMember),
        ),
        (
            "duplicate exp in payload",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                &format!(
                    r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"u","exp":{},"exp":{}}}"#,
                    NOW - 600,
                    NOW + 600
                ),
                rs256(),
            ),
            Err(K::DuplicateMember),
        ),
        (
            "duplicate nested member",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                &format!(
                    r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"u","exp":{},"ext":{{"roles":[],"roles":["admin"]}}}}"#,
                    NOW + 60
                ),
                rs256(),
            ),
            Err(K::DuplicateMember),
        ),
        // Time.
        (
            "expired beyond leeway",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", json!(NOW - 61)),
                rs256(),
            ),
            Err(K::Expired),
        ),
        (
            "expired within leeway",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", json!(NOW - 30)),
                rs256(),
            ),
            Ok(()),
        ),
        (
            "not yet valid",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "nbf", json!(NOW + 600)),
                rs256(),
            ),
            Err(K::NotYetValid),
        ),
        (
            "nbf within leeway",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "nbf", json!(NOW + 30)),
                rs256(),
            ),
            Ok(()),
        ),
        (
            "issued in the future",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "iat", json!(NOW + 600)),
                rs256(),
            ),
            Err(K::IssuedInFuture),
        ),
        (
            "missing exp",
            sign(&h("RS256", "rsa-1"), &without(c.clone(), "exp"), rs256()),
            Err(K::MissingClaim("exp".into())),
        ),
        (
            "string exp",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", json!((NOW + 300).to_string())),
                rs256(),
            ),
            Err(K::InvalidClaim("exp")),
        ),
        (
            "null exp",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", Value::Null),
                rs256(),
            ),
            Err(K::InvalidClaim("exp")),
        ),
        (
            "bool exp",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", json!(true)),
                rs256(),
            ),
            Err(K::InvalidClaim("exp")),
        ),
        (
            "float exp",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", json!(NOW as f64 + 300.5)),
                rs256(),
            ),
            Ok(()),
        ),
        (
            "exp overflowing i64",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", json!(u64::MAX)),
                rs256(),
            ),
            Err(K::InvalidClaim("exp")),
        ),
        (
            "exp i64::MAX",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", json!(i64::MAX)),
                rs256(),
            ),
            Err(K::InvalidClaim("exp")),
        ),
        (
            "exp 1e300",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", json!(1e300)),
                rs256(),
            ),
            Err(K::InvalidClaim("exp")),
        ),
        (
            "exp 1e400 (not representable)",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                &format!(r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"u","exp":1e400}}"#),
                rs256(),
            ),
            Err(K::Malformed("payload is not a JSON object")),
        ),
        (
            "negative exp",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "exp", json!(-1)),
                rs256(),
            ),
            Err(K::InvalidClaim("exp")),
        ),
        (
            "string nbf",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "nbf", json!("0")),
                rs256(),
            ),
            Err(K::InvalidClaim("nbf")),
        ),
        (
            "string iat",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "iat", json!("0")),
                rs256(),
            ),
            Err(K::InvalidClaim("iat")),
        ),
        // Audience.
        (
            "wrong audience",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "aud", json!("billing-api")),
                rs256(),
            ),
            Err(K::WrongAudience),
        ),
        (
            "missing audience",
            sign(&h("RS256", "rsa-1"), &without(c.clone(), "aud"), rs256()),
            Err(K::MissingClaim("aud".into())),
        ),
        (
            "audience case changed",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "aud", json!("Orders-API")),
                rs256(),
            ),
            Err(K::WrongAudience),
        ),
        (
            "audience with trailing space",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "aud", json!("orders-api ")),
                rs256(),
            ),
            Err(K::WrongAudience),
        ),
        (
            "audience array containing ours",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "aud", json!(["x", AUD])),
                rs256(),
            ),
            Ok(()),
        ),
        (
            "audience array without ours",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "aud", json!(["x", "y"])),
                rs256(),
            ),
            Err(K::WrongAudience),
        ),
        (
            "audience empty array",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "aud", json!([])),
                rs256(),
            ),
            Err(K::InvalidClaim("aud")),
        ),
        (
            "audience number",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "aud", json!(1)),
                rs256(),
            ),
            Err(K::InvalidClaim("aud")),
        ),
        // Issuer.
        (
            "issuer with trailing slash",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "iss", json!(format!("{ISS}/"))),
                rs256(),
            ),
            Err(K::WrongIssuer),
        ),
        (
            "issuer case changed",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "iss", json!(ISS.to_uppercase())),
                rs256(),
            ),
            Err(K::WrongIssuer),
        ),
        (
            "issuer missing",
            sign(&h("RS256", "rsa-1"), &without(c.clone(), "iss"), rs256()),
            Err(K::MissingClaim("iss".into())),
        ),
        (
            "issuer not a string",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "iss", json!([ISS])),
                rs256(),
            ),
            Err(K::InvalidClaim("iss")),
        ),
        // typ.
        (
            "typ JWT",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"JWT"}),
                &c,
                rs256(),
            ),
            Ok(()),
        ),
        (
            "typ at+jwt",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"at+jwt"}),
                &c,
                rs256(),
            ),
            Ok(()),
        ),
        (
            "typ application/at+jwt",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"application/at+jwt"}),
                &c,
                rs256(),
            ),
            Ok(()),
        ),
        (
            "typ logout+jwt",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"logout+jwt"}),
                &c,
                rs256(),
            ),
            Err(K::WrongType),
        ),
        (
            "typ dpop+jwt",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"dpop+jwt"}),
                &c,
                rs256(),
            ),
            Err(K::WrongType),
        ),
        (
            "typ secevent+jwt",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"secevent+jwt"}),
                &c,
                rs256(),
            ),
            Err(K::WrongType),
        ),
        (
            "typ not a string",
            sign(&json!({"alg":"RS256","kid":"rsa-1","typ":1}), &c, rs256()),
            Err(K::Malformed("typ is not a string")),
        ),
        // Signatures and algorithm binding.
        (
            "ECDSA r = s = 0",
            sign(&h("ES256", "ec-1"), &c, Signer::Raw(&[0; 64])),
            Err(K::InvalidSignature),
        ),
        (
            "ECDSA wrong length",
            sign(&h("ES256", "ec-1"), &c, Signer::Raw(&[1; 63])),
            Err(K::InvalidSignature),
        ),
        (
            "RS256 key used with PS256",
            sign(&h("PS256", "rsa-1"), &c, Signer::Rsa(&k.rsa, ps256)),
            Err(K::AlgorithmNotAllowed),
        ),
        (
            "RS256 key used with RS512",
            sign(&h("RS512", "rsa-1"), &c, Signer::Rsa(&k.rsa, rs512)),
            Err(K::AlgorithmNotAllowed),
        ),
        (
            "EC signature under an RSA kid",
            sign(&h("ES256", "rsa-1"), &c, es256()),
            Err(K::AlgorithmNotAllowed),
        ),
        (
            "EdDSA signature under the EC kid",
            sign(&h("EdDSA", "ec-1"), &c, eddsa()),
            Err(K::AlgorithmNotAllowed),
        ),
        (
            "RSA signature by another key",
            sign(
                &h("RS256", "rsa-1"),
                &c,
                Signer::Rsa(&k.rsa2, &aws_lc_rs::signature::RSA_PKCS1_SHA256),
            ),
            Err(K::InvalidSignature),
        ),
        (
            "signature of another token",
            {
                let t = sign(
                    &h("RS256", "rsa-1"),
                    &with(c.clone(), "sub", json!("admin")),
                    rs256(),
                );
                let sig = good.rsplit('.').next().unwrap();
                format!("{}.{sig}", t.rsplit_once('.').unwrap().0)
            },
            Err(K::InvalidSignature),
        ),
        (
            "unsupported alg ES512",
            sign(&h("ES512", "ec-1"), &c, es256()),
            Err(K::UnsupportedAlgorithm),
        ),
        (
            "alg in lower case",
            sign(&h("rs256", "rsa-1"), &c, rs256()),
            Err(K::UnsupportedAlgorithm),
        ),
        (
            "alg with a space",
            sign(&h("RS256 ", "rsa-1"), &c, rs256()),
            Err(K::UnsupportedAlgorithm),
        ),
        (
            "alg missing",
            sign(&json!({"kid":"rsa-1"}), &c, rs256()),
            Err(K::Malformed("missing alg")),
        ),
        (
            "alg not a string",
            sign(&json!({"alg":["RS256"],"kid":"rsa-1"}), &c, rs256()),
            Err(K::Malformed("alg is not a string")),
        ),
        // Structure.
        (
            "1 MB token",
            format!("{}.{}.{}", "a".repeat(500_000), "b".repeat(500_000), "c"),
            Err(K::TooLarge),
        ),
        (
            "5000-deep payload",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                &format!(
                    r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"u","exp":{},"x":{deep}}}"#,
                    NOW + 60
                ),
                rs256(),
            ),
            Err(K::TooDeep),
        ),
        (
            "5000-deep header",
            sign_raw(
                &format!(r#"{{"alg":"RS256","kid":"rsa-1","x":{deep}}}"#),
                &c.to_string(),
                rs256(),
            ),
            Err(K::TooDeep),
        ),
        (
            "two segments",
            "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9".into(),
            Err(K::Malformed("expected three base64url segments")),
        ),
        (
            "four segments",
            format!("{good}.x"),
            Err(K::Malformed("expected three base64url segments")),
        ),
        (
            "JWE (five segments)",
            "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d".into(),
            Err(K::Malformed("JWE is not supported")),
        ),
        (
            "JSON serialization",
            r#"{"payload":"e30","signatures":[]}"#.into(),
            Err(K::Malformed("JSON serialization is not supported")),
        ),
        (
            "empty token",
            String::new(),
            Err(K::Malformed("expected three base64url segments")),
        ),
        ("only dots", "..".into(), Err(K::Malformed("empty header"))),
        (
            "empty signature",
            {
                let (i, _) = good.rsplit_once('.').unwrap();
                format!("{i}.")
            },
            Err(K::Malformed("missing signature")),
        ),
        (
            "padding in header",
            {
                let (hd, rest) = good.split_once('.').unwrap();
                format!("{hd}=.{rest}")
            },
            Err(K::Malformed("invalid base64url")),
        ),
        (
            "standard base64 characters",
            good.replacen('-', "+", 1).replacen('_', "/", 1),
            if good.contains('-') || good.contains('_') {
                Err(K::Malformed("invalid base64url"))
            } else {
                Ok(())
            },
        ),
        (
            "space inside",
            format!("{} ", good),
            Err(K::Malformed("invalid base64url")),
        ),
        (
            "newline inside",
            good.replacen('.', ".\n", 1),
            Err(K::Malformed("invalid base64url")),
        ),
        (
            "non-ASCII",
            format!("{good}é"),
            Err(K::Malformed("invalid base64url")),
        ),
        (
            "header not JSON",
            sign_raw("not json", &c.to_string(), rs256()),
            Err(K::Malformed("header is not a JSON object")),
        ),
        (
            "header a JSON array",
            sign_raw(r#"["RS256"]"#, &c.to_string(), rs256()),
            Err(K::Malformed("header is not a JSON object")),
        ),
        (
            "payload not JSON",
            sign_raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, "hello", rs256()),
            Err(K::Malformed("payload is not a JSON object")),
        ),
        (
            "payload a JSON array",
            sign_raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, "[1]", rs256()),
            Err(K::Malformed("payload is not a JSON object")),
        ),
        (
            "payload with trailing garbage",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                &format!("{c} x"),
                rs256(),
            ),
            Err(K::Malformed("payload is not a JSON object")),
        ),
        // Claims feeding the principal.
        (
            "no sub and no client_id",
            sign(&h("RS256", "rsa-1"), &without(c.clone(), "sub"), rs256()),
            Err(K::MissingClaim("sub".into())),
        ),
        (
            "roles not strings",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "roles", json!([1])),
                rs256(),
            ),
            Err(K::InvalidClaim("roles")),
        ),
        (
            "scope an object",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "scope", json!({})),
                rs256(),
            ),
            Err(K::InvalidClaim("scope")),
        ),
    ];
    // A padded segment or a trailing-bits variation of the signature must not decode.
    let (input, sig) = good.rsplit_once('.').unwrap();
    cases.push((
        "signature with padding",
        format!("{input}.{sig}=="),
        Err(K::Malformed("invalid base64url")),
    ));
    run("table", json!({}), cases, &v, &keys);
}

#[test]
fn hmac_needs_an_explicit_secret() {
    let secret = [7u8; 32];
    let c = claims();
    let token = sign(
        &h("HS256", "shared"),
        &c,
        Signer::Hmac(&secret, aws_lc_rs::hmac::HMAC_SHA256),
    );
    // An oct key in a JWK set is never used.
    let doc = json!({"keys":[{"kty":"oct","kid":"shared","alg":"HS256","k":b64(&secret)}]});
    let from_jwks = JwkSet::from_json(doc.to_string().as_bytes()).unwrap();
    assert!(from_jwks.is_empty());
    assert_eq!(
        validator().validate(&token, &from_jwks).unwrap_err().kind(),
        &K::UnknownKey
    );
    // Configured explicitly, it works, and only for its own algorithm.
    let mut explicit = JwkSet::new();
    explicit
        .insert_shared_secret(Some("shared"), iam_core::jwt::Algorithm::HS256, &secret)
        .unwrap();
    assert!(validator().validate(&token, &explicit).is_ok());
    let hs512 = sign(
        &h("HS512", "shared"),
        &c,
        Signer::Hmac(&secret, aws_lc_rs::hmac::HMAC_SHA512),
    );
    assert_eq!(
        validator().validate(&hs512, &explicit).unwrap_err().kind(),
        &K::AlgorithmNotAllowed
    );
    let forged = sign(
        &h("HS256", "shared"),
        &c,
        Signer::Hmac(&[8u8; 32], aws_lc_rs::hmac::HMAC_SHA256),
    );
    assert_eq!(
        validator().validate(&forged, &explicit).unwrap_err().kind(),
        &K::InvalidSignature
    );
}

#[test]
fn strict_access_token_type() {
    let v = Validator::builder(ISS)
        .audience(AUD)
        .token_type(TokenType::AccessToken)
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .unwrap();
    let keys = key_set();
    let c = claims();
    let cases = vec![
        (
            "at+jwt",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"at+jwt"}),
                &c,
                rs256(),
            ),
            Ok(()),
        ),
        (
            "AT+JWT",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"AT+JWT"}),
                &c,
                rs256(),
            ),
            Ok(()),
        ),
        (
            "application/at+jwt",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"application/at+jwt"}),
                &c,
                rs256(),
            ),
            Ok(()),
        ),
        (
            "JWT refused",
            sign(
                &json!({"alg":"RS256","kid":"rsa-1","typ":"JWT"}),
                &c,
                rs256(),
            ),
            Err(K::WrongType),
        ),
        (
            "absent refused",
            sign(&h("RS256", "rsa-1"), &c, rs256()),
            Err(K::WrongType),
        ),
    ];
    run(
        "access-token-type",
        json!({"requireAtJwt": true}),
        cases,
        &v,
        &keys,
    );
}

#[test]
fn algorithm_allowlist() {
    use iam_core::jwt::Algorithm;
    let v = Validator::builder(ISS)
        .audience(AUD)
        .algorithms([Algorithm::ES256, Algorithm::EdDSA])
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .unwrap();
    let keys = key_set();
    let c = claims();
    let cases = vec![
        (
            "ES256 listed",
            sign(&h("ES256", "ec-1"), &c, es256()),
            Ok(()),
        ),
        (
            "EdDSA listed",
            sign(&h("EdDSA", "ed-1"), &c, eddsa()),
            Ok(()),
        ),
        (
            "RS256 valid but not listed",
            sign(&h("RS256", "rsa-1"), &c, rs256()),
            Err(K::AlgorithmNotAllowed),
        ),
        (
            "PS256 under a key without alg, not listed",
            sign(
                &h("PS256", "rsa-any"),
                &c,
                Signer::Rsa(&common::keys().rsa2, &aws_lc_rs::signature::RSA_PSS_SHA256),
            ),
            Err(K::AlgorithmNotAllowed),
        ),
    ];
    run(
        "algorithm-allowlist",
        json!({"algorithms": ["ES256", "EdDSA"]}),
        cases,
        &v,
        &keys,
    );
    assert_eq!(
        Validator::builder(ISS)
            .audience(AUD)
            .algorithms([])
            .build()
            .unwrap_err(),
        iam_core::jwt::ConfigError::NoAlgorithm
    );
}

#[test]
fn required_claims_and_max_age() {
    let v = Validator::builder(ISS)
        .audience(AUD)
        .require_claim("sid")
        .max_age(Duration::from_secs(600))
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .unwrap();
    let keys = key_set();
    let c = with(claims(), "sid", json!("s-1"));
    let cases = vec![
        (
            "has sid, fresh",
            sign(&h("RS256", "rsa-1"), &c, rs256()),
            Ok(()),
        ),
        (
            "no sid",
            sign(&h("RS256", "rsa-1"), &without(c.clone(), "sid"), rs256()),
            Err(K::MissingClaim("sid".into())),
        ),
        (
            "too old",
            sign(
                &h("RS256", "rsa-1"),
                &with(c.clone(), "iat", json!(NOW - 3600)),
                rs256(),
            ),
            Err(K::TooOld),
        ),
        (
            "no iat with max age",
            sign(&h("RS256", "rsa-1"), &without(c.clone(), "iat"), rs256()),
            Err(K::MissingClaim("iat".into())),
        ),
    ];
    run(
        "required-claims-max-age",
        json!({"requiredClaims": ["sid"], "maxAgeSeconds": 600}),
        cases,
        &v,
        &keys,
    );
}

#[test]
fn configuration_errors() {
    use iam_core::jwt::ConfigError;
    assert_eq!(
        Validator::builder(ISS).build().unwrap_err(),
        ConfigError::NoAudience
    );
    assert_eq!(
        Validator::builder("").audience("a").build().unwrap_err(),
        ConfigError::EmptyIssuer
    );
    assert_eq!(
        Validator::builder(ISS).audience("").build().unwrap_err(),
        ConfigError::EmptyAudience
    );
    assert_eq!(
        Validator::builder(ISS)
            .audience("a")
            .leeway(Duration::from_secs(7200))
            .build()
            .unwrap_err(),
        ConfigError::LeewayTooLarge
    );
    // Opting out of the audience check is possible, but only through dangerous().
    let v = Validator::builder(ISS)
        .dangerous()
        .accept_any_audience()
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .unwrap();
    let token = sign(&h("RS256", "rsa-1"), &without(claims(), "aud"), rs256());
    assert!(v.validate(&token, &key_set()).is_ok());
}

#[test]
fn error_messages_never_echo_the_token() {
    let v = validator();
    let keys = key_set();
    let secret_sub = "very-secret-marker";
    let token = sign(
        &h("RS256", "rsa-1"),
        &with(
            with(claims(), "sub", json!(secret_sub)),
            "exp",
            json!(NOW - 1000),
        ),
        rs256(),
    );
    let err = v.validate(&token, &keys).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(secret_sub) && !text.contains(&token[..20]),
        "{text}"
    );
    let kid_token = sign(&h("RS256", "kid-marker-123"), &claims(), rs256());
    let err = v.validate(&kid_token, &keys).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("kid-marker-123"));
}
