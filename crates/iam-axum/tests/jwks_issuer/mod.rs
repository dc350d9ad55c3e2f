//! A loopback JWKS issuer whose fetches are counted, and the key-rotation sequence of issue 12
//! that both frameworks' middleware must pass (shared with iam-actix's tests by `#[path]`).
//!
//! Run it under Tokio's paused clock: the 30 s cooldown and the 50 s of the sequence are
//! virtual time, and the number of fetches the issuer saw is what is asserted.
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use iam_client::RemoteJwks;
use iam_core::authn::{AuthChain, JwtAuthenticator};
use iam_core::jwt::Validator;
use serde_json::json;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const ISS: &str = "https://issuer.example";
pub(crate) const AUD: &str = "api";
pub(crate) const COOLDOWN: Duration = Duration::from_secs(30);

/// A JWKS endpoint on 127.0.0.1 that serves whatever set it was last given.
pub(crate) struct Issuer {
    pub(crate) url: String,
    body: Arc<Mutex<String>>,
    requests: Arc<AtomicUsize>,
}

impl Issuer {
    pub(crate) async fn start(keys: &[&Key]) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new(jwks(keys)));
        let requests = Arc::new(AtomicUsize::new(0));
        let (b, n) = (Arc::clone(&body), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (b, n) = (Arc::clone(&b), Arc::clone(&n));
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 2048];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => req.extend_from_slice(&buf[..k]),
                        }
                    }
                    n.fetch_add(1, Ordering::SeqCst);
                    let body = b.lock().unwrap().clone();
                    let res = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=3600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(res.as_bytes()).await;
                });
            }
        });
        Issuer {
            url,
            body,
            requests,
        }
    }

    /// Publish this set from now on.
    pub(crate) fn publish(&self, keys: &[&Key]) {
        *self.body.lock().unwrap() = jwks(keys);
    }

    /// JWKS requests received so far.
    pub(crate) fn fetches(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

pub(crate) struct Key {
    pair: Ed25519KeyPair,
    kid: String,
}

impl Key {
    pub(crate) fn new(kid: &str) -> Key {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Key {
            pair: Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap(),
            kid: kid.into(),
        }
    }

    fn jwk(&self) -> serde_json::Value {
        json!({"kty":"OKP","crv":"Ed25519","kid":self.kid,"x":URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())})
    }

    /// A token signed by this key whose header names `kid`.
    pub(crate) fn token_with_kid(&self, kid: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let h = URL_SAFE_NO_PAD.encode(json!({"alg":"EdDSA","kid":kid}).to_string());
        let p = URL_SAFE_NO_PAD
            .encode(json!({"iss":ISS,"aud":AUD,"sub":"u","exp":now+600}).to_string());
        let input = format!("{h}.{p}");
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(self.pair.sign(input.as_bytes()).as_ref())
        )
    }

    pub(crate) fn token(&self) -> String {
        self.token_with_kid(&self.kid)
    }
}

fn jwks(keys: &[&Key]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

/// The chain a service would build: a JWT authenticator over the issuer's remote set, with
/// the default 30 s cooldown. Timeouts are far beyond the virtual time the sequence spends.
pub(crate) fn chain(issuer: &Issuer) -> AuthChain {
    let keys = RemoteJwks::builder(&issuer.url)
        .retries(0, Duration::from_millis(10))
        .timeout(Duration::from_secs(3600))
        .connect_timeout(Duration::from_secs(3600))
        .cooldown(COOLDOWN)
        .build()
        .unwrap();
    let validator = Validator::builder(ISS).audience(AUD).build().unwrap();
    AuthChain::new().with(JwtAuthenticator::new(validator, keys))
}

/// The reviewer's sequence through a framework: `send` sends `GET` with this bearer token
/// through the middleware and returns the status.
///
/// 1. A token with the current key is accepted (the first fetch).
/// 2. The issuer rotates a new key in; a token with it arrives every 2 s for 50 s. Until the
///    cooldown of the first fetch ends it is refused, from then on accepted: one more fetch.
/// 3. A flood of random kids (ten a second for five minutes) costs at most one fetch per
///    cooldown, and both keys keep working.
pub(crate) async fn key_rotation_sequence<F, Fut>(framework: &str, issuer: &Issuer, mut send: F)
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = u16>,
{
    let (old, new) = (Key::new("old"), Key::new("new"));
    issuer.publish(&[&old]);
    assert_eq!(send(old.token()).await, 200, "{framework}: the current key");
    assert_eq!(issuer.fetches(), 1, "{framework}: one fetch at the start");

    issuer.publish(&[&old, &new]);
    let started = tokio::time::Instant::now();
    let mut answers = Vec::new();
    for _ in 0..25 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        answers.push((started.elapsed().as_secs(), send(new.token()).await));
    }
    for (at, status) in &answers {
        let ok = match at {
            0..30 => *status == 401,
            30 => *status == 401 || *status == 200,
            _ => *status == 200,
        };
        assert!(
            ok,
            "{framework}: the new key at t = {at} s answered {status}: {answers:?}"
        );
    }
    assert_eq!(
        issuer.fetches(),
        2,
        "{framework}: one refetch when the cooldown ended"
    );

    let started = tokio::time::Instant::now();
    let before = issuer.fetches();
    for i in 0..3000u32 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let junk = format!("junk-{i}-{}", i.wrapping_mul(2_654_435_761));
        assert_eq!(send(new.token_with_kid(&junk)).await, 401, "{framework}");
        if i % 300 == 0 {
            assert_eq!(send(new.token()).await, 200, "{framework}: new key");
            assert_eq!(send(old.token()).await, 200, "{framework}: old key");
        }
    }
    let cooldowns = (started.elapsed().as_secs() / COOLDOWN.as_secs()) as usize;
    let spent = issuer.fetches() - before;
    assert!(
        spent <= cooldowns + 1,
        "{framework}: {spent} fetches for random kids in {cooldowns} cooldowns"
    );
}
