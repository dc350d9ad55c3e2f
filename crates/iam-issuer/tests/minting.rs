//! Minted tokens, the JWKS and the discovery document, checked the way a resource server
//! checks them: iam-core's validator with the published JWK set.
use iam_core::clock::FixedClock;
use iam_core::jwt::{TokenType, Validator};
use iam_core::{JwkSet, JwtErrorKind};
use iam_issuer::{
    Issuer, IssuerErrorKind, KeyAlgorithm, KeyEncryptionKey, KeyRing, MemoryKeyStore,
    RotationPolicy, TokenType as MintType,
};
use iam_testkit::keys::NOW;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

const ISS: &str = "https://auth.example.com";

async fn issuer(alg: KeyAlgorithm, clock: Arc<FixedClock>) -> Issuer {
    let ring = KeyRing::open(
        Arc::new(MemoryKeyStore::new()),
        KeyEncryptionKey::generate(),
        alg,
        RotationPolicy::default(),
        clock,
    )
    .await
    .unwrap();
    Issuer::new(ISS, ring)
}

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn validator(clock: Arc<FixedClock>) -> Validator {
    Validator::builder(ISS)
        .audience("orders-api")
        .token_type(TokenType::AccessToken)
        .require_claim("jti")
        .clock(clock)
        .build()
        .unwrap()
}

fn jwks(issuer: &Issuer) -> JwkSet {
    let set = JwkSet::from_json(issuer.jwks().to_string().as_bytes()).unwrap();
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    set
}

fn decode_part(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn tokens_of_every_algorithm_validate_with_the_published_jwks() {
    for alg in KeyAlgorithm::ALL {
        let clock = Arc::new(FixedClock::new(NOW));
        let issuer = issuer(alg, clock.clone()).await;
        let minted = issuer
            .mint(
                claims(json!({"sub": "user-1", "aud": "orders-api", "tenant": "acme"})),
                Duration::from_secs(600),
            )
            .unwrap();
        let token = validator(clock.clone())
            .validate(minted.token.secret(), &jwks(&issuer))
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(token.claims().subject(), Some("user-1"));
        assert_eq!(token.claims().get("tenant"), Some(&json!("acme")));
        assert_eq!(token.claims().token_id(), Some(minted.jti.as_str()));
        assert_eq!(token.claims().expires_at(), NOW + 600);
        assert_eq!(minted.expires_at, NOW + 600);
        assert_eq!(Some(minted.kid.clone()), issuer.key_ring().signing_kid());

        let header = decode_part(minted.token.secret(), 0);
        assert_eq!(
            header,
            json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": minted.kid})
        );

        // Past its lifetime the same token is refused.
        clock.advance(601 + 60);
        let err = validator(clock)
            .validate(minted.token.secret(), &jwks(&issuer))
            .unwrap_err();
        assert_eq!(err.kind(), &JwtErrorKind::Expired, "{alg}");
    }
}

#[tokio::test]
async fn the_issuer_sets_iss_iat_exp_and_a_fresh_128_bit_jti_over_the_callers_values() {
    let clock = Arc::new(FixedClock::new(NOW));
    let issuer = issuer(KeyAlgorithm::Es256, clock).await;
    let forged = claims(
        json!({"iss": "https://evil.example", "iat": 1, "exp": i64::MAX,
                               "jti": "chosen", "nbf": NOW - 5, "aud": "orders-api"}),
    );
    let a = issuer
        .mint(forged.clone(), Duration::from_secs(60))
        .unwrap();
    let b = issuer.mint(forged, Duration::from_secs(60)).unwrap();
    let payload = decode_part(a.token.secret(), 1);
    assert_eq!(payload["iss"], ISS);
    assert_eq!(payload["iat"], NOW);
    assert_eq!(payload["exp"], NOW + 60);
    assert_eq!(payload["nbf"], NOW - 5, "nbf is the caller's");
    assert_eq!(payload["jti"], a.jti.as_str());
    assert_ne!(a.jti, b.jti);
    // 16 random bytes, base64url without padding.
    assert_eq!(a.jti.len(), 22);
    assert!(a
        .jti
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
}

#[tokio::test]
async fn a_plain_jwt_type_is_available_for_tokens_that_are_not_access_tokens() {
    let clock = Arc::new(FixedClock::new(NOW));
    let issuer = issuer(KeyAlgorithm::EdDsa, clock.clone()).await;
    let minted = issuer
        .mint_as(
            MintType::Jwt,
            claims(json!({"sub": "svc", "aud": "orders-api"})),
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(decode_part(minted.token.secret(), 0)["typ"], "JWT");
    // An access-token validator refuses it; a plain JWT validator accepts it.
    let err = validator(clock.clone())
        .validate(minted.token.secret(), &jwks(&issuer))
        .unwrap_err();
    assert_eq!(err.kind(), &JwtErrorKind::WrongType);
    Validator::builder(ISS)
        .audience("orders-api")
        .clock(clock)
        .build()
        .unwrap()
        .validate(minted.token.secret(), &jwks(&issuer))
        .unwrap();
}

#[tokio::test]
async fn lifetimes_of_zero_or_beyond_the_policys_maximum_are_refused() {
    let issuer = issuer(KeyAlgorithm::Es256, Arc::new(FixedClock::new(NOW))).await;
    let max = issuer.key_ring().policy().max_token_lifetime;
    issuer.mint(Map::new(), max).unwrap();
    for lifetime in [
        Duration::ZERO,
        Duration::from_millis(999),
        max + Duration::from_secs(1),
        Duration::MAX,
    ] {
        let err = issuer.mint(Map::new(), lifetime).unwrap_err();
        assert_eq!(
            err.kind(),
            &IssuerErrorKind::InvalidLifetime,
            "{lifetime:?}"
        );
    }
}

#[tokio::test]
async fn the_jwks_publishes_current_and_next_public_keys_only() {
    for alg in KeyAlgorithm::ALL {
        let issuer = issuer(alg, Arc::new(FixedClock::new(NOW))).await;
        let jwks = issuer.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "{alg}: current and next");
        assert_eq!(
            keys[0]["kid"].as_str(),
            issuer.key_ring().signing_kid().as_deref()
        );
        for key in keys {
            assert_eq!(key["alg"], alg.as_str());
            assert_eq!(key["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "{alg}: {private} published");
            }
        }
    }
}

#[tokio::test]
async fn discovery_names_the_issuer_the_jwks_and_the_algorithms_and_takes_extra_fields() {
    let issuer = issuer(KeyAlgorithm::Es256, Arc::new(FixedClock::new(NOW))).await;
    let extra = claims(json!({
        "token_endpoint": "https://auth.example.com/auth/login",
        "issuer": "https://evil.example",
        "grant_types_supported": ["password", "refresh_token"],
    }));
    let doc = issuer.discovery(extra);
    assert_eq!(doc["issuer"], ISS, "extra cannot replace the issuer");
    assert_eq!(
        doc["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    assert_eq!(doc["token_endpoint"], "https://auth.example.com/auth/login");
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["grant_types_supported"],
        json!(["password", "refresh_token"])
    );
    let with_slash = Issuer::new("https://a.example/", issuer.key_ring().clone());
    assert_eq!(
        with_slash.discovery(Map::new())["jwks_uri"],
        "https://a.example/.well-known/jwks.json"
    );
    assert_eq!(issuer.jwks_max_age(), Duration::from_secs(86_400));
}

#[tokio::test]
async fn debug_of_every_public_type_redacts_tokens_and_keys() {
    let kek = KeyEncryptionKey::generate();
    let kek_text = kek.to_base64();
    let store = Arc::new(MemoryKeyStore::new());
    let ring = KeyRing::open(
        store.clone(),
        kek,
        KeyAlgorithm::Es256,
        RotationPolicy::default(),
        Arc::new(FixedClock::new(NOW)),
    )
    .await
    .unwrap();
    let issuer = Issuer::new(ISS, ring.clone());
    let minted = issuer.mint(Map::new(), Duration::from_secs(60)).unwrap();
    let stored = iam_issuer::KeyStore::load(&*store).await.unwrap();
    let shown = format!(
        "{issuer:?} {ring:?} {minted:?} {minted:#?} {store:?} {stored:?} {:?}",
        ring.keys()
    );
    let token = minted.token.secret();
    let signature = token.rsplit('.').next().unwrap();
    for secret in [token.as_str(), signature, kek_text.secret().as_str()] {
        assert!(!shown.contains(secret), "leaked in {shown}");
    }
    for key in &stored {
        let sealed = format!("{:?}", key.sealed_private_key);
        assert!(!shown.contains(&sealed[1..sealed.len() - 1]));
    }
    assert!(shown.contains("Secret(<redacted>)"));
    assert!(shown.contains("KeyEncryptionKey(<redacted>)"));
}
