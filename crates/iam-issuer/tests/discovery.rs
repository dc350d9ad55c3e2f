//! An OIDC client finds the issuer by discovery: iam-client's `TrustedIssuer` (openidconnect)
//! reads `Issuer::discovery` and `Issuer::jwks` from a loopback server and validates a minted
//! token with what it found.
use iam_client::{HttpClient, TrustedIssuer};
use iam_core::clock::SystemClock;
use iam_issuer::{Issuer, KeyAlgorithm, KeyEncryptionKey, KeyRing, MemoryKeyStore, RotationPolicy};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::{json, Map};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[tokio::test]
async fn an_oidc_client_discovers_the_issuer_and_validates_its_tokens() {
    for alg in KeyAlgorithm::ALL {
        let served: Arc<OnceLock<Issuer>> = Arc::new(OnceLock::new());
        let server = LoopbackServer::start({
            let served = served.clone();
            move |req| {
                let issuer = served.get().expect("issuer set before the first request");
                let base = issuer.issuer();
                match req.path() {
                    "/.well-known/openid-configuration" => {
                        let extra = json!({
                            "authorization_endpoint": format!("{base}/authorize"),
                            "token_endpoint": format!("{base}/auth/login"),
                        });
                        Reply::json(200, &issuer.discovery(extra.as_object().unwrap().clone()))
                    }
                    "/.well-known/jwks.json" => Reply::json(200, &issuer.jwks()),
                    _ => Reply::status(404),
                }
            }
        })
        .await;
        let issuer_url = server.url("");
        let issuer_url = issuer_url.trim_end_matches('/').to_owned();
        let ring = KeyRing::open(
            Arc::new(MemoryKeyStore::new()),
            KeyEncryptionKey::generate(),
            alg,
            RotationPolicy::default(),
            SystemClock,
        )
        .await
        .unwrap();
        let issuer = Issuer::new(issuer_url.clone(), ring);
        served.set(issuer.clone()).unwrap();

        let trusted =
            TrustedIssuer::discover(&issuer_url, "orders-api", &HttpClient::new().unwrap())
                .await
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("user-1"));
        claims.insert("aud".into(), json!("orders-api"));
        let minted = issuer.mint(claims, Duration::from_secs(300)).unwrap();
        let keys = trusted.keys().refresh().await.unwrap();
        let token = trusted
            .validator()
            .validate(minted.token.secret(), &keys)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(token.claims().subject(), Some("user-1"));
        assert_eq!(token.claims().issuer(), Some(issuer_url.as_str()));
    }
}
