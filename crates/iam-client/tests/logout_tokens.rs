//! Back-channel logout tokens: every rule of OIDC Back-Channel Logout 1.0 as a token that
//! must be refused, with a local key set and a fixed clock.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use iam_client::logout::{BackchannelLogout, LogoutTokenError as E, BACKCHANNEL_LOGOUT_EVENT};
use iam_core::clock::FixedClock;
use iam_core::jwks::{JwkSet, StaticKeys};
use iam_core::jwt::{JwtErrorKind, TokenType, Validator};
use serde_json::{json, Value};
use std::sync::Arc;

const ISS: &str = "https://op.example";
const NOW: i64 = 1_800_000_000;

fn setup() -> (BackchannelLogout<StaticKeys>, Ed25519KeyPair) {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let jwks = json!({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"op","x":URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}]});
    let keys = StaticKeys::new(JwkSet::from_json(jwks.to_string().as_bytes()).unwrap());
    let builder = Validator::builder(ISS)
        .audience("web-app")
        .token_type(TokenType::LogoutToken)
        .require_claim("iat")
        .require_claim("jti")
        .cache_capacity(0)
        .clock(Arc::new(FixedClock::new(NOW)));
    (
        BackchannelLogout::with_validator(builder, keys).unwrap(),
        pair,
    )
}

fn sign(pair: &Ed25519KeyPair, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes()).as_ref())
    )
}

fn good(jti: &str) -> Value {
    json!({"iss": ISS, "aud": "web-app", "iat": NOW - 5, "exp": NOW + 120, "jti": jti,
           "sub": "alice", "sid": "s-1", "events": {BACKCHANNEL_LOGOUT_EVENT: {}}})
}

fn with(mut v: Value, k: &str, x: Value) -> Value {
    v[k] = x;
    v
}

fn without(mut v: Value, k: &str) -> Value {
    v.as_object_mut().unwrap().remove(k);
    v
}

#[tokio::test]
async fn logout_token_rules() {
    let (logout, pair) = setup();
    let h = json!({"alg":"EdDSA","kid":"op","typ":"logout+jwt"});
    let ok = logout
        .validate(&sign(&pair, h.clone(), good("j-0")))
        .await
        .unwrap();
    assert_eq!(
        (ok.subject(), ok.session_id(), ok.token_id()),
        (Some("alice"), Some("s-1"), "j-0")
    );
    // typ absent is accepted; sid alone or sub alone is enough.
    logout
        .validate(&sign(&pair, json!({"alg":"EdDSA","kid":"op"}), good("j-1")))
        .await
        .unwrap();
    logout
        .validate(&sign(&pair, h.clone(), without(good("j-2"), "sub")))
        .await
        .unwrap();
    logout
        .validate(&sign(&pair, h.clone(), without(good("j-3"), "sid")))
        .await
        .unwrap();

    let jwt = |k: JwtErrorKind| E::Jwt(k.into());
    let cases: Vec<(&str, String, E)> = vec![
        (
            "replayed jti",
            sign(&pair, h.clone(), good("j-0")),
            E::Replayed,
        ),
        (
            "access token typ",
            sign(
                &pair,
                json!({"alg":"EdDSA","kid":"op","typ":"at+jwt"}),
                good("j-10"),
            ),
            jwt(JwtErrorKind::WrongType),
        ),
        (
            "JWT typ",
            sign(
                &pair,
                json!({"alg":"EdDSA","kid":"op","typ":"JWT"}),
                good("j-11"),
            ),
            jwt(JwtErrorKind::WrongType),
        ),
        (
            "no events",
            sign(&pair, h.clone(), without(good("j-12"), "events")),
            E::MissingEvent,
        ),
        (
            "other event",
            sign(
                &pair,
                h.clone(),
                with(good("j-13"), "events", json!({"urn:other": {}})),
            ),
            E::MissingEvent,
        ),
        (
            "event not an object",
            sign(
                &pair,
                h.clone(),
                with(
                    good("j-14"),
                    "events",
                    json!({BACKCHANNEL_LOGOUT_EVENT: true}),
                ),
            ),
            E::MissingEvent,
        ),
        (
            "nonce present",
            sign(&pair, h.clone(), with(good("j-15"), "nonce", json!("n"))),
            E::NoncePresent,
        ),
        (
            "neither sid nor sub",
            sign(
                &pair,
                h.clone(),
                without(without(good("j-16"), "sid"), "sub"),
            ),
            E::NoSubject,
        ),
        (
            "sub not a string",
            sign(&pair, h.clone(), with(good("j-17"), "sub", json!(1))),
            jwt(JwtErrorKind::InvalidClaim("sub")),
        ),
        (
            "sid not a string",
            sign(&pair, h.clone(), with(good("j-24"), "sid", json!(["s"]))),
            E::BadSubject,
        ),
        (
            "no jti",
            sign(&pair, h.clone(), without(good("x"), "jti")),
            jwt(JwtErrorKind::MissingClaim("jti".into())),
        ),
        (
            "no iat",
            sign(&pair, h.clone(), without(good("j-18"), "iat")),
            jwt(JwtErrorKind::MissingClaim("iat".into())),
        ),
        (
            "expired",
            sign(
                &pair,
                h.clone(),
                with(good("j-19"), "exp", json!(NOW - 600)),
            ),
            jwt(JwtErrorKind::Expired),
        ),
        (
            "other audience",
            sign(
                &pair,
                h.clone(),
                with(good("j-20"), "aud", json!("other-app")),
            ),
            jwt(JwtErrorKind::WrongAudience),
        ),
        (
            "other issuer",
            sign(
                &pair,
                h.clone(),
                with(good("j-21"), "iss", json!("https://evil.example")),
            ),
            jwt(JwtErrorKind::WrongIssuer),
        ),
        (
            "unknown key",
            sign(&pair, json!({"alg":"EdDSA","kid":"nope"}), good("j-22")),
            jwt(JwtErrorKind::UnknownKey),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
                URL_SAFE_NO_PAD.encode(good("j-23").to_string())
            ),
            jwt(JwtErrorKind::AlgorithmNone),
        ),
    ];
    let mut failures = Vec::new();
    for (name, token, want) in cases {
        let got = logout.validate(&token).await;
        if got.as_ref().err() != Some(&want) {
            failures.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
