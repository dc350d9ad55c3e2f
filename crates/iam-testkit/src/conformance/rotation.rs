//! A loopback JWKS issuer whose fetches are counted, and the key-rotation sequence of issue 12
//! that every framework adapter must pass.
//!
//! Run it under Tokio's paused clock: the 30 s cooldown and the 50 s of the sequence are
//! virtual time, and the number of fetches the issuer saw is what is asserted.
use crate::keys::{kid_jwks, unix_now, KidKey};
use crate::server::{LoopbackServer, Reply};
use iam_client::RemoteJwks;
use iam_core::authn::{AuthChain, JwtAuthenticator};
use iam_core::jwt::Validator;
use serde_json::json;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The issuer the tokens name.
pub const ISS: &str = "https://issuer.example";
/// The audience the chain accepts.
pub const AUD: &str = "api";
/// The JWKS refetch cooldown of the chain.
pub const COOLDOWN: Duration = Duration::from_secs(30);

/// A JWKS endpoint on 127.0.0.1 that serves whatever set it was last given.
pub struct Issuer {
    /// The JWKS URL.
    pub url: String,
    body: Arc<Mutex<String>>,
    server: LoopbackServer,
}

impl Issuer {
    /// Start serving `keys`.
    pub async fn start(keys: &[&Key]) -> Issuer {
        let body = Arc::new(Mutex::new(jwks(keys)));
        let served = Arc::clone(&body);
        let server = LoopbackServer::start(move |_| {
            Reply::status(200)
                .header("content-type", "application/json")
                .header("cache-control", "max-age=3600")
                .body(served.lock().unwrap().clone())
        })
        .await;
        Issuer {
            url: server.url("/jwks.json"),
            body,
            server,
        }
    }

    /// Publish this set from now on.
    pub fn publish(&self, keys: &[&Key]) {
        *self.body.lock().unwrap() = jwks(keys);
    }

    /// JWKS requests received so far.
    pub fn fetches(&self) -> usize {
        self.server.count()
    }
}

/// A signing key of the issuer under a kid.
pub struct Key(KidKey);

impl Key {
    /// A fresh key.
    pub fn new(kid: &str) -> Key {
        Key(KidKey::new(kid))
    }

    /// A token signed by this key whose header names `kid`.
    pub fn token_with_kid(&self, kid: &str) -> String {
        let claims = json!({"iss": ISS, "aud": AUD, "sub": "u", "exp": unix_now() + 600});
        self.0.sign_with_kid(kid, &claims)
    }

    /// A token signed by this key under its own kid.
    pub fn token(&self) -> String {
        self.token_with_kid(&self.0.kid)
    }
}

fn jwks(keys: &[&Key]) -> String {
    kid_jwks(&keys.iter().map(|k| &k.0).collect::<Vec<_>>())
}

/// The chain a service would build: a JWT authenticator over the issuer's remote set, with
/// the default 30 s cooldown. Timeouts are far beyond the virtual time the sequence spends.
pub fn chain(issuer: &Issuer) -> AuthChain {
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
pub async fn key_rotation_sequence<F, Fut>(framework: &str, issuer: &Issuer, mut send: F)
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
