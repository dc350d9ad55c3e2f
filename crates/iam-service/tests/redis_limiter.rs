//! The Redis-shared limiter against a real Redis (started by `scripts/test`).
use iam_service::ratelimit::{RateDecision, RateLimiter, RateQuota, RedisRateLimiter};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("iam-test:ratelimit:{nanos}:")
}

#[tokio::test]
#[ignore = "needs Redis: scripts/test"]
async fn two_instances_share_one_budget_through_redis() {
    let url = iam_testkit::services::redis_url();
    let prefix = unique_prefix();
    let a = RedisRateLimiter::new(&url, &prefix, RateQuota::per_minute(4)).unwrap();
    let b = RedisRateLimiter::new(&url, &prefix, RateQuota::per_minute(4)).unwrap();
    let mut allowed = 0;
    for i in 0..8 {
        let l = if i % 2 == 0 { &a } else { &b };
        if l.check("ip:203.0.113.7").await.is_allowed() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 4, "the fleet shares one budget of 4 a minute");
    match a.check("ip:203.0.113.7").await {
        RateDecision::Limited { retry_after } => assert!(retry_after <= Duration::from_secs(15)),
        RateDecision::Allowed => panic!("over the shared budget"),
    }
    assert!(
        b.check("ip:198.51.100.1").await.is_allowed(),
        "other keys are untouched"
    );
}

#[tokio::test]
async fn redis_down_limits_in_process_instead_of_switching_limits_off() {
    // Nothing listens on port 1: every check falls back to the in-process limiter.
    let l = RedisRateLimiter::new("redis://127.0.0.1:1/0", "x:", RateQuota::per_minute(2))
        .unwrap()
        .timeout(Duration::from_millis(100));
    assert!(l.check("k").await.is_allowed());
    assert!(l.check("k").await.is_allowed());
    assert!(!l.check("k").await.is_allowed());
}

/// A "Redis" on loopback that accepts connections and never answers (a hung server, or a
/// network that drops packets), counting the connections it is asked for.
async fn hung_redis() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}/0", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn a_hung_redis_costs_one_timeout_per_back_off_not_one_per_request() {
    let (url, accepted) = hung_redis().await;
    let l = Arc::new(
        RedisRateLimiter::new(&url, "x:", RateQuota::per_minute(5))
            .unwrap()
            .timeout(Duration::from_millis(100))
            .backoff(Duration::from_secs(60)),
    );
    // A burst at once while the first request is still waiting for Redis: only one of them
    // connects, the others decide in process.
    let burst: Vec<_> = (0..20)
        .map(|i| {
            let l = Arc::clone(&l);
            tokio::spawn(async move { l.check(&format!("burst{i}")).await })
        })
        .collect();
    for b in burst {
        assert!(b.await.unwrap().is_allowed());
    }
    let mut allowed = 0;
    for _ in 0..100 {
        if l.check("k").await.is_allowed() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5, "the quota holds in process");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "Redis is left alone during the back-off"
    );
}

#[tokio::test]
async fn after_the_back_off_redis_is_asked_again() {
    let (url, accepted) = hung_redis().await;
    let l = RedisRateLimiter::new(&url, "x:", RateQuota::per_minute(5))
        .unwrap()
        .timeout(Duration::from_millis(50))
        .backoff(Duration::from_millis(50));
    assert!(l.check("k").await.is_allowed());
    assert!(l.check("k").await.is_allowed());
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(l.check("k").await.is_allowed());
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "asked again once");
}

#[test]
fn a_redis_url_error_does_not_echo_the_url() {
    let e = RedisRateLimiter::new(
        "not a url with password hunter2",
        "x:",
        RateQuota::per_minute(1),
    )
    .unwrap_err();
    assert!(!e.to_string().contains("hunter2"));
}
