//! RemoteJwks against a local JWKS server whose answers the tests control: caching, single
//! flight, unknown-kid floods, rotation, stale-if-error, cold start with the issuer down,
//! conditional GET, size limits, background refresh.
use iam_client::{RemoteJwks, RemoteJwksError};
use iam_core::authn::{AuthChain, JwtAuthenticator};
use iam_core::jwks::KeySource;
use iam_core::jwt::Validator;
use iam_testkit::keys::{kid_jwks, unix_now, KidKey};
use iam_testkit::requests::bearer_status as status_of;
use iam_testkit::LoopbackServer;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ISS: &str = "https://issuer.example";
const AUD: &str = "api";

/// What the JWKS endpoint answers next.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    max_age: Option<u64>,
    etag: Option<String>,
    delay: Duration,
    /// Answer 503 to this many requests first.
    fail_first: usize,
}

struct Server {
    url: String,
    reply: Arc<Mutex<Reply>>,
    server: LoopbackServer,
}

impl Server {
    async fn start(body: String) -> Server {
        let reply = Arc::new(Mutex::new(Reply {
            status: 200,
            body,
            max_age: Some(3600),
            etag: None,
            delay: Duration::ZERO,
            fail_first: 0,
        }));
        let r = Arc::clone(&reply);
        let server = LoopbackServer::start(move |req| {
            let mut reply = {
                let mut shared = r.lock().unwrap();
                let snapshot = shared.clone();
                if shared.fail_first > 0 {
                    shared.fail_first -= 1;
                }
                snapshot
            };
            if reply.fail_first > 0 {
                reply.status = 503;
            }
            let not_modified = reply.status == 200
                && reply.etag.as_ref().is_some_and(|e| {
                    req.header("if-none-match")
                        .is_some_and(|sent| sent.eq_ignore_ascii_case(e))
                });
            let mut answer = if not_modified {
                iam_testkit::Reply::status(304)
            } else {
                iam_testkit::Reply::status(reply.status)
                    .header("content-type", "application/json")
                    .body(reply.body)
            };
            if let Some(m) = reply.max_age {
                answer = answer.header("cache-control", &format!("max-age={m}"));
            }
            if let Some(e) = &reply.etag {
                answer = answer.header("etag", e);
            }
            answer.delayed(reply.delay)
        })
        .await;
        Server {
            url: server.url("/.well-known/jwks.json"),
            reply,
            server,
        }
    }
    fn set(&self, f: impl FnOnce(&mut Reply)) {
        f(&mut self.reply.lock().unwrap());
    }
    fn requests(&self) -> usize {
        self.server.count()
    }
}

struct Key(KidKey);

impl Key {
    fn new(kid: &str) -> Key {
        Key(KidKey::new(kid))
    }
    fn token_with_kid(&self, kid: &str) -> String {
        let claims = json!({"iss": ISS, "aud": AUD, "sub": "u", "exp": unix_now() + 300});
        self.0.sign_with_kid(kid, &claims)
    }
    fn token(&self) -> String {
        self.token_with_kid(&self.0.kid)
    }
}

fn jwks(keys: &[&Key]) -> String {
    kid_jwks(&keys.iter().map(|k| &k.0).collect::<Vec<_>>())
}

fn chain(remote: &RemoteJwks) -> AuthChain {
    let v = Validator::builder(ISS).audience(AUD).build().unwrap();
    AuthChain::new().with(JwtAuthenticator::new(v, remote.clone()))
}

fn fast(url: &str) -> iam_client::RemoteJwksBuilder {
    RemoteJwks::builder(url)
        .retries(0, Duration::from_millis(10))
        .timeout(Duration::from_secs(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_is_one_fetch_then_cache_hits() {
    let k = Key::new("k1");
    let server = Server::start(jwks(&[&k])).await;
    server.set(|r| r.delay = Duration::from_millis(200));
    let remote = fast(&server.url).build().unwrap();
    assert!(!remote.is_ready());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let r = remote.clone();
            tokio::spawn(async move { r.keys().await.map(|s| s.len()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 1);
    }
    assert_eq!(server.requests(), 1, "concurrent callers share one fetch");
    for _ in 0..100 {
        remote.keys().await.unwrap();
    }
    assert_eq!(server.requests(), 1);
    assert!(remote.stats().cache_hits >= 100);
    assert!(remote.is_ready());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch() {
    let k = Key::new("k1");
    let server = Server::start(jwks(&[&k])).await;
    let remote = fast(&server.url)
        .cooldown(Duration::from_secs(30))
        .build()
        .unwrap();
    let chain = Arc::new(chain(&remote));
    assert_eq!(status_of(&chain, &k.token()).await, 200);
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let (c, t) = (
                Arc::clone(&chain),
                k.token_with_kid(&format!("junk-{}", i % 150)),
            );
            tokio::spawn(async move { status_of(&c, &t).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    assert!(server.requests() <= 2, "{} fetches", server.requests());
    assert!(
        remote.stats().unknown_kid_refusals >= 298,
        "{:?}",
        remote.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_picks_up_the_new_key_and_drops_the_old() {
    let (old, new) = (Key::new("old"), Key::new("new"));
    let server = Server::start(jwks(&[&old])).await;
    let remote = fast(&server.url).cooldown(Duration::ZERO).build().unwrap();
    let chain = chain(&remote);
    let old_token = old.token();
    assert_eq!(status_of(&chain, &old_token).await, 200);
    assert_eq!(status_of(&chain, &old_token).await, 200); // now cached as valid
    server.set(|r| r.body = jwks(&[&new]));
    assert_eq!(
        status_of(&chain, &new.token()).await,
        200,
        "unknown kid refreshes the set"
    );
    assert_eq!(server.requests(), 2);
    assert_eq!(
        status_of(&chain, &old_token).await,
        401,
        "the retired key stops validating, cached or not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_keys_are_served_while_the_issuer_is_down() {
    let k = Key::new("k1");
    let server = Server::start(jwks(&[&k])).await;
    server.set(|r| r.max_age = Some(1));
    let remote = fast(&server.url)
        .min_ttl(Duration::from_secs(1))
        .cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    let chain = chain(&remote);
    assert_eq!(status_of(&chain, &k.token()).await, 200);
    server.set(|r| r.status = 503);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for _ in 0..20 {
        assert_eq!(status_of(&chain, &k.token()).await, 200);
    }
    let stats = remote.stats();
    assert!(stats.stale_served >= 20 && stats.failures >= 1, "{stats:?}");
    assert!(
        server.requests() <= 3,
        "failed refreshes respect the cooldown: {}",
        server.requests()
    );
    // Past stale-if-error, nothing is served.
    let strict = fast(&server.url)
        .min_ttl(Duration::from_secs(1))
        .stale_if_error(Duration::ZERO)
        .build()
        .unwrap();
    server.set(|r| r.status = 200);
    strict.refresh().await.unwrap();
    server.set(|r| r.status = 500);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(strict.keys().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_with_the_issuer_down_is_503_then_recovers() {
    let k = Key::new("k1");
    let server = Server::start(jwks(&[&k])).await;
    server.set(|r| r.status = 500);
    let remote = fast(&server.url)
        .cooldown(Duration::from_millis(300))
        .build()
        .unwrap();
    let chain = chain(&remote);
    for _ in 0..10 {
        assert_eq!(status_of(&chain, &k.token()).await, 503);
    }
    assert_eq!(
        server.requests(),
        1,
        "requests during the cooldown do not hammer the issuer"
    );
    server.set(|r| r.status = 200);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        status_of(&chain, &k.token()).await,
        200,
        "recovers without a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_set_costs_a_304() {
    let k = Key::new("k1");
    let server = Server::start(jwks(&[&k])).await;
    server.set(|r| {
        r.max_age = Some(1);
        r.etag = Some("\"v1\"".into());
    });
    let remote = fast(&server.url)
        .min_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    let first = remote.keys().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = remote.keys().await.unwrap();
    assert!(Arc::ptr_eq(&first, &second), "a 304 keeps the same set");
    assert_eq!(remote.stats().not_modified, 1);
    assert_eq!(server.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_in_the_background_before_expiry() {
    let k = Key::new("k1");
    let server = Server::start(jwks(&[&k])).await;
    server.set(|r| r.max_age = Some(2));
    let remote = fast(&server.url)
        .min_ttl(Duration::from_secs(2))
        .build()
        .unwrap();
    remote.keys().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1850)).await; // inside the last tenth of the lifetime
    let before = std::time::Instant::now();
    remote.keys().await.unwrap();
    assert!(
        before.elapsed() < Duration::from_millis(50),
        "the request did not wait"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.requests(), 2, "a background refresh happened");
    remote.keys().await.unwrap();
    assert_eq!(server.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_responses_are_refused() {
    let k = Key::new("k1");
    let server = Server::start(format!(
        "{{\"keys\":[],\"pad\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    ))
    .await;
    let remote = fast(&server.url).build().unwrap();
    let err = remote.refresh().await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    server.set(|r| r.body = "{\"keys\":[],\"keys\":[]}".into());
    let remote = fast(&server.url).cooldown(Duration::ZERO).build().unwrap();
    assert!(remote.refresh().await.is_err());
    server.set(|r| r.body = "<html>".into());
    assert!(remote.refresh().await.is_err());
    // A closed port: refused fast, no panic.
    let dead = fast("http://127.0.0.1:9/jwks").build().unwrap();
    assert!(dead.refresh().await.is_err());
    let _ = k;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_with_backoff() {
    let k = Key::new("k1");
    let server = Server::start(jwks(&[&k])).await;
    server.set(|r| r.fail_first = 2);
    let remote = RemoteJwks::builder(&server.url)
        .retries(2, Duration::from_millis(20))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(remote.refresh().await.unwrap().len(), 1);
    assert_eq!(server.requests(), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "backoff 20 ms then 40 ms"
    );
    // A 4xx is not retried.
    server.set(|r| r.status = 404);
    let once = RemoteJwks::builder(&server.url)
        .retries(2, Duration::from_millis(20))
        .build()
        .unwrap();
    assert!(once.refresh().await.is_err());
    assert_eq!(server.requests(), 4);
}

/// A client for Tokio's paused clock: no retries, and timeouts far beyond any virtual time a
/// test spends, so that only the cooldown decides when the set is fetched.
fn paused(url: &str) -> RemoteJwks {
    RemoteJwks::builder(url)
        .retries(0, Duration::from_millis(10))
        .timeout(Duration::from_secs(3600))
        .connect_timeout(Duration::from_secs(3600))
        .cooldown(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The reviewer's sequence: the issuer rotates a new key in right after the last fetch, and a
/// client presents a token signed with it every 2 s for 50 s. Before the fix every attempt
/// re-armed the "recently unknown" memory, so the key stayed unusable until the set expired
/// (401 fifty seconds long, zero fetches).
#[tokio::test(start_paused = true)]
async fn a_key_rotated_in_at_the_issuer_is_usable_once_the_cooldown_ends_despite_retries() {
    let (old, new) = (Key::new("old"), Key::new("new"));
    let server = Server::start(jwks(&[&old])).await;
    let remote = paused(&server.url);
    let chain = chain(&remote);
    assert_eq!(status_of(&chain, &old.token()).await, 200);
    assert_eq!(server.requests(), 1);
    server.set(|r| r.body = jwks(&[&old, &new]));
    let started = tokio::time::Instant::now();
    let mut answers = Vec::new();
    for _ in 0..25 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let at = started.elapsed().as_secs();
        answers.push((at, status_of(&chain, &new.token()).await));
    }
    for (at, status) in &answers {
        let want = if *at < 30 { 401 } else { 200 };
        assert_eq!(
            *status, want,
            "token with the new kid at t = {at} s: {answers:?}"
        );
    }
    assert_eq!(
        server.requests(),
        2,
        "one fetch at start, one when the cooldown ended"
    );
    assert_eq!(status_of(&chain, &old.token()).await, 200);
}

/// A kid refused only because the cooldown was running is looked up as soon as the cooldown
/// ends, even if no request comes then: the next token with it is accepted without waiting.
#[tokio::test(start_paused = true)]
async fn a_kid_refused_during_the_cooldown_is_refetched_when_it_ends() {
    let (old, new) = (Key::new("old"), Key::new("new"));
    let server = Server::start(jwks(&[&old])).await;
    let remote = paused(&server.url);
    let chain = chain(&remote);
    assert_eq!(status_of(&chain, &old.token()).await, 200);
    server.set(|r| r.body = jwks(&[&old, &new]));
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Several refused kids, one refetch for all of them.
    assert_eq!(status_of(&chain, &new.token()).await, 401);
    assert_eq!(status_of(&chain, &new.token_with_kid("other")).await, 401);
    assert_eq!(status_of(&chain, &new.token()).await, 401);
    assert_eq!(server.requests(), 1, "no fetch during the cooldown");
    tokio::time::sleep(Duration::from_secs(26)).await;
    assert_eq!(
        server.requests(),
        2,
        "one refetch when the cooldown ended, with no request needed"
    );
    assert!(remote.cached_keys().unwrap().get("new").is_some());
    assert_eq!(status_of(&chain, &new.token()).await, 200);
    assert_eq!(server.requests(), 2);
}

/// Only a fetch that confirmed a kid absent makes it "recently unknown", and only for one
/// cooldown from that fetch: retrying a kid the issuer publishes later is not locked out.
#[tokio::test(start_paused = true)]
async fn a_kid_confirmed_unknown_is_remembered_for_one_cooldown_from_that_fetch_only() {
    let (old, new) = (Key::new("old"), Key::new("new"));
    let server = Server::start(jwks(&[&old])).await;
    let remote = paused(&server.url);
    let chain = chain(&remote);
    assert_eq!(status_of(&chain, &old.token()).await, 200);
    tokio::time::sleep(Duration::from_secs(31)).await;
    // Fetched for, absent: remembered from this fetch.
    assert_eq!(status_of(&chain, &new.token()).await, 401);
    assert_eq!(server.requests(), 2);
    server.set(|r| r.body = jwks(&[&old, &new]));
    for _ in 0..14 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(status_of(&chain, &new.token()).await, 401);
    }
    assert_eq!(server.requests(), 2, "remembered: no fetch for it");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status_of(&chain, &new.token()).await,
        200,
        "the refusals did not extend the memory"
    );
    assert_eq!(server.requests(), 3);
}

/// Random kids, ten a second for ten minutes: at most one fetch per cooldown, and the real key
/// keeps working throughout.
#[tokio::test(start_paused = true)]
async fn a_flood_of_random_kids_costs_at_most_one_fetch_per_cooldown() {
    let k = Key::new("k1");
    let server = Server::start(jwks(&[&k])).await;
    let remote = paused(&server.url);
    let chain = chain(&remote);
    assert_eq!(status_of(&chain, &k.token()).await, 200);
    let started = tokio::time::Instant::now();
    for i in 0..6000u32 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let junk = format!("junk-{i}-{}", i.wrapping_mul(2_654_435_761));
        assert_eq!(status_of(&chain, &k.token_with_kid(&junk)).await, 401);
        if i % 500 == 0 {
            assert_eq!(status_of(&chain, &k.token()).await, 200);
        }
    }
    let cooldowns = started.elapsed().as_secs() / 30;
    assert!(
        server.requests() as u64 <= 1 + cooldowns + 1,
        "{} fetches in {cooldowns} cooldowns",
        server.requests()
    );
    assert!(remote.stats().unknown_kid_refusals >= 5000);
}

#[test]
fn https_only() {
    assert!(matches!(
        RemoteJwks::builder("http://issuer.example/jwks").build(),
        Err(RemoteJwksError::InsecureUrl)
    ));
    assert!(matches!(
        RemoteJwks::builder("ftp://issuer.example/jwks").build(),
        Err(RemoteJwksError::InvalidUrl)
    ));
    assert!(matches!(
        RemoteJwks::builder("not a url").build(),
        Err(RemoteJwksError::InvalidUrl)
    ));
    assert!(RemoteJwks::builder("https://issuer.example/jwks")
        .build()
        .is_ok());
    assert!(RemoteJwks::builder("http://127.0.0.1:4444/jwks")
        .build()
        .is_ok());
    assert!(RemoteJwks::builder("http://[::1]:4444/jwks")
        .build()
        .is_ok());
    assert!(RemoteJwks::builder("http://localhost:4444/jwks")
        .build()
        .is_ok());
    assert!(RemoteJwks::builder("http://issuer.example/jwks")
        .dangerous_allow_http()
        .build()
        .is_ok());
}
