//! A caching validator follows a rotation: iam-client's `RemoteJwks` fetches the issuer's
//! JWKS from a loopback server, and tokens signed before and after a rotation both validate,
//! without a refetch, because the new key was published before it signed and the old one is
//! kept after it stopped.
use iam_client::RemoteJwks;
use iam_core::authn::JwtAuthenticator;
use iam_core::clock::SystemClock;
use iam_core::jwt::{TokenType, Validator};
use iam_issuer::{Issuer, KeyAlgorithm, KeyEncryptionKey, KeyRing, MemoryKeyStore, RotationPolicy};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

fn claims(sub: &str) -> Map<String, Value> {
    json!({"sub": sub, "aud": "orders-api"})
        .as_object()
        .unwrap()
        .clone()
}

async fn serve(issuer: &Issuer) -> LoopbackServer {
    let served = issuer.clone();
    LoopbackServer::start(move |req| {
        if req.path() == "/.well-known/jwks.json" {
            let max_age = served.jwks_max_age().as_secs();
            Reply::json(200, &served.jwks())
                .header("cache-control", &format!("public, max-age={max_age}"))
        } else {
            Reply::status(404)
        }
    })
    .await
}

#[tokio::test]
async fn tokens_signed_before_and_after_a_rotation_validate_through_a_cached_remote_jwks() {
    for alg in KeyAlgorithm::ALL {
        let ring = KeyRing::open(
            Arc::new(MemoryKeyStore::new()),
            KeyEncryptionKey::generate(),
            alg,
            RotationPolicy::default(),
            SystemClock,
        )
        .await
        .unwrap();
        let issuer = Issuer::new("https://auth.example.com", ring.clone());
        let server = serve(&issuer).await;
        let keys = RemoteJwks::builder(server.url("/.well-known/jwks.json"))
            .build()
            .unwrap();
        let validator = Validator::builder("https://auth.example.com")
            .audience("orders-api")
            .token_type(TokenType::AccessToken)
            .build()
            .unwrap();
        let authn = JwtAuthenticator::new(validator, keys.clone());

        let before = issuer
            .mint(claims("before"), Duration::from_secs(600))
            .unwrap();
        let principal = authn
            .authenticate_token(before.token.secret())
            .await
            .unwrap();
        assert_eq!(principal.subject(), "before");
        assert_eq!(server.count(), 1, "{alg}: one fetch");

        let report = ring.rotate_now().await.unwrap();
        assert_eq!(report.retired.as_deref(), Some(before.kid.as_str()));
        let after = issuer
            .mint(claims("after"), Duration::from_secs(600))
            .unwrap();
        assert_ne!(after.kid, before.kid);
        // The new key was in the cached set already: no refetch, no unknown kid.
        for (token, sub) in [(&after, "after"), (&before, "before")] {
            let principal = authn
                .authenticate_token(token.token.secret())
                .await
                .unwrap_or_else(|e| panic!("{alg} {sub}: {e}"));
            assert_eq!(principal.subject(), sub);
        }
        assert_eq!(server.count(), 1, "{alg}: still one fetch");
        assert_eq!(keys.stats().unknown_kid_refusals, 0);

        // A refetch after the rotation still has the retired key.
        keys.refresh().await.unwrap();
        assert_eq!(server.count(), 2);
        for token in [&after, &before] {
            authn
                .authenticate_token(token.token.secret())
                .await
                .unwrap();
        }
    }
}
