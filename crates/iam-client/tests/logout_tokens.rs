//! Back-channel logout tokens: every rule of OIDC Back-Channel Logout 1.0 as a token that
//! must be refused, with a local key set and a fixed clock.
use aws_lc_rs::signature::Ed25519KeyPair;
use iam_client::logout::{BackchannelLogout, LogoutTokenError as E, BACKCHANNEL_LOGOUT_EVENT};
use iam_core::clock::FixedClock;
use iam_core::jwks::{JwkSet, StaticKeys};
use iam_core::jwt::{JwtErrorKind, TokenType, Validator};
use iam_testkit::keys::{ed25519_key, ed_jwk, Signer};
use serde_json::{json, Value};
use std::sync::Arc;

const ISS: &str = "https://op.example";
const NOW: i64 = 1_800_000_000;

fn setup() -> (BackchannelLogout<StaticKeys>, Ed25519KeyPair) {
    setup_with_clock(Arc::new(FixedClock::new(NOW)))
}

fn setup_with_clock(clock: Arc<FixedClock>) -> (BackchannelLogout<StaticKeys>, Ed25519KeyPair) {
    let pair = ed25519_key();
    let jwks = json!({"keys": [ed_jwk(&pair, "op")]});
    let keys = StaticKeys::new(JwkSet::from_json(jwks.to_string().as_bytes()).unwrap());
    let builder = Validator::builder(ISS)
        .audience("web-app")
        .token_type(TokenType::LogoutToken)
        .require_claim("iat")
        .require_claim("jti")
        .cache_capacity(0)
        .clock(clock);
    (
        BackchannelLogout::with_validator(builder, keys).unwrap(),
        pair,
    )
}

fn sign(pair: &Ed25519KeyPair, header: Value, claims: Value) -> String {
    iam_testkit::keys::sign(&header, &claims, Signer::Ed(pair))
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
                iam_testkit::b64(r#"{"alg":"none"}"#.as_bytes()),
                iam_testkit::b64(good("j-23").to_string().as_bytes())
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

/// A flood of distinct logout tokens: the replay memory never grows past its bound; while it
/// is full of tokens that are still valid, a new token is refused (fail closed) instead of an
/// unexpired `jti` being forgotten, and every remembered `jti` is still refused as a replay;
/// once they have expired the memory makes room by itself.
#[tokio::test]
async fn the_logout_replay_memory_is_bounded_and_fails_closed_when_full() {
    let clock = Arc::new(FixedClock::new(NOW));
    let (logout, pair) = setup_with_clock(Arc::clone(&clock));
    let logout = logout.max_remembered(200);
    let h = json!({"alg":"EdDSA","kid":"op","typ":"logout+jwt"});
    let token_at = |now: i64, jti: &str| {
        let claims = with(
            with(good(jti), "iat", json!(now - 5)),
            "exp",
            json!(now + 120),
        );
        sign(&pair, h.clone(), claims)
    };
    for i in 0..200 {
        logout
            .validate(&token_at(NOW, &format!("flood-{i}")))
            .await
            .unwrap();
    }
    assert_eq!(logout.remembered(), 200);
    for i in 0..50 {
        assert_eq!(
            logout
                .validate(&token_at(NOW, &format!("more-{i}")))
                .await
                .unwrap_err(),
            E::ReplayMemoryFull
        );
    }
    assert_eq!(logout.remembered(), 200);
    for i in [0, 1, 100, 199] {
        assert_eq!(
            logout
                .validate(&token_at(NOW, &format!("flood-{i}")))
                .await
                .unwrap_err(),
            E::Replayed,
            "flood-{i} is still remembered"
        );
    }
    // Later waves: the earlier ones have expired (past any leeway) and make room.
    let mut now = NOW;
    for wave in 0..10 {
        now += 3 * 3600;
        clock.set(now);
        for i in 0..150 {
            logout
                .validate(&token_at(now, &format!("wave-{wave}-{i}")))
                .await
                .unwrap();
            assert!(logout.remembered() <= 200);
        }
        assert_eq!(
            logout
                .validate(&token_at(now, &format!("wave-{wave}-0")))
                .await
                .unwrap_err(),
            E::Replayed
        );
    }
    // A long jti is remembered as a fixed-size digest, and still refused when replayed.
    let long = "j".repeat(8000);
    logout.validate(&token_at(now, &long)).await.unwrap();
    assert_eq!(
        logout.validate(&token_at(now, &long)).await.unwrap_err(),
        E::Replayed
    );
    assert!(logout.remembered() <= 200);
}
