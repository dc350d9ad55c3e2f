//! `JwtConfig` end to end against a local issuer that serves a discovery document and a JWK
//! set: lazy discovery, one discovery for many concurrent first requests, 503 while the
//! issuer is down and recovery without a restart, the algorithm allowlist and `typ`
//! strictness from configuration.
use iam_client::config::DISCOVERY_RETRY;
use iam_client::JwtConfig;
use iam_core::authn::AuthChain;
use iam_core::jwt::{Algorithm, TokenType};
use iam_testkit::keys::{ed25519_key, ed_jwk, sign, Signer};
use iam_testkit::requests::bearer_status as status_of;
use iam_testkit::{LoopbackServer, Reply};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const AUD: &str = "api";

struct Issuer {
    url: String,
    up: Arc<AtomicBool>,
    discoveries: Arc<AtomicUsize>,
    _server: LoopbackServer,
    key: aws_lc_rs::signature::Ed25519KeyPair,
}

impl Issuer {
    async fn start() -> Issuer {
        let key = ed25519_key();
        let jwks = json!({"keys": [ed_jwk(&key, "k1")]});
        let up = Arc::new(AtomicBool::new(true));
        let discoveries = Arc::new(AtomicUsize::new(0));
        let (u, d) = (Arc::clone(&up), Arc::clone(&discoveries));
        let server = LoopbackServer::start(move |req| {
            let url = format!("http://{}", req.header("host").unwrap_or_default());
            let reply = if !u.load(Ordering::SeqCst) {
                Reply::status(503)
            } else if req.path() == "/.well-known/openid-configuration" {
                let discovery = json!({
                    "issuer": url,
                    "authorization_endpoint": format!("{url}/auth"),
                    "jwks_uri": format!("{url}/jwks"),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["EdDSA"],
                });
                d.fetch_add(1, Ordering::SeqCst);
                // Slow enough that concurrent first requests overlap.
                Reply::json(200, &discovery).delayed(std::time::Duration::from_millis(50))
            } else if req.path() == "/jwks" {
                Reply::json(200, &jwks)
            } else {
                Reply::status(404)
            };
            reply.header("cache-control", "max-age=300")
        })
        .await;
        Issuer {
            url: server.url(""),
            up,
            discoveries,
            _server: server,
            key,
        }
    }

    fn token(&self, header: serde_json::Value) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({"iss": self.url, "aud": AUD, "sub": "u", "exp": now + 300});
        sign(&header, &claims, Signer::Ed(&self.key))
    }
}

#[tokio::test]
async fn discovery_is_lazy_and_single_flight() {
    let issuer = Issuer::start().await;
    let chain = Arc::new(JwtConfig::new(&issuer.url).audience(AUD).chain().unwrap());
    assert_eq!(
        issuer.discoveries.load(Ordering::SeqCst),
        0,
        "nothing fetched at build"
    );
    let token = issuer.token(json!({"alg": "EdDSA", "kid": "k1"}));
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let (chain, token) = (Arc::clone(&chain), token.clone());
        tasks.push(tokio::spawn(async move { status_of(&chain, &token).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(issuer.discoveries.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn issuer_down_is_503_then_recovers_without_restart() {
    let issuer = Issuer::start().await;
    issuer.up.store(false, Ordering::SeqCst);
    let (jwt, keys) = JwtConfig::new(&issuer.url)
        .audience(AUD)
        .authenticator()
        .unwrap();
    let chain = AuthChain::new().with(jwt);
    let token = issuer.token(json!({"alg": "EdDSA", "kid": "k1"}));
    assert_eq!(status_of(&chain, &token).await, 503);
    assert!(!keys.ready().await);
    issuer.up.store(true, Ordering::SeqCst);
    // Within the retry interval the failure is remembered: still 503, no new request.
    assert_eq!(status_of(&chain, &token).await, 503);
    tokio::time::sleep(DISCOVERY_RETRY + std::time::Duration::from_millis(200)).await;
    assert_eq!(status_of(&chain, &token).await, 200);
    assert!(keys.ready().await);
}

#[tokio::test]
async fn allowlist_and_type_from_config() {
    let issuer = Issuer::start().await;
    let eddsa = issuer.token(json!({"alg": "EdDSA", "kid": "k1"}));
    let at = issuer.token(json!({"alg": "EdDSA", "kid": "k1", "typ": "at+jwt"}));
    let only_es256 = JwtConfig::new(&issuer.url)
        .audience(AUD)
        .algorithms([Algorithm::ES256])
        .chain()
        .unwrap();
    assert_eq!(status_of(&only_es256, &eddsa).await, 401);
    let strict = JwtConfig::new(&issuer.url)
        .audience(AUD)
        .token_type(TokenType::AccessToken)
        .chain()
        .unwrap();
    assert_eq!(status_of(&strict, &eddsa).await, 401, "typ absent");
    assert_eq!(status_of(&strict, &at).await, 200);
    // A JWKS URL skips discovery altogether.
    let direct = JwtConfig::new(&issuer.url)
        .audience(AUD)
        .jwks_url(format!("{}/jwks", issuer.url))
        .chain()
        .unwrap();
    let before = issuer.discoveries.load(Ordering::SeqCst);
    assert_eq!(status_of(&direct, &eddsa).await, 200);
    assert_eq!(issuer.discoveries.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_misconfigured_issuer_says_why_in_readiness() {
    // The issuer calls itself `http://127.0.0.1:PORT`; configured with a trailing slash, the
    // exact-match rule refuses its document. Readiness must name the issuer and the mismatch,
    // not only "unavailable".
    let issuer = Issuer::start().await;
    let (_jwt, keys) = JwtConfig::new(format!("{}/", issuer.url))
        .audience(AUD)
        .authenticator()
        .unwrap();
    let reason = keys.readiness().await.unwrap_err();
    assert!(
        reason.contains("OIDC discovery of") && reason.contains(&issuer.url),
        "{reason}"
    );
    assert!(reason.to_ascii_lowercase().contains("issuer"), "{reason}");
    assert!(!keys.ready().await);
    // A working issuer is ready with no reason.
    let (_jwt, keys) = JwtConfig::new(&issuer.url)
        .audience(AUD)
        .authenticator()
        .unwrap();
    assert_eq!(keys.readiness().await, Ok(()));
}
