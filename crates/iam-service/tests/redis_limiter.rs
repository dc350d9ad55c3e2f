//! The Redis-shared limiter against a real Redis (started by `scripts/test`).
use iam_service::ratelimit::{RateDecision, RateLimiter, RateQuota, RedisRateLimiter};
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
