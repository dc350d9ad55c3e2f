//! 2,000 concurrent logins against a two-worker pool at the production argon2id cost: every
//! answer is a 200 or a 503 with `Retry-After`, nothing hangs, and memory stays bounded.
mod common;

use axum::body::Body;
use common::{start_with, ADMIN_EMAIL, ADMIN_PASSWORD};
use http::Request;
use iam_identity::hashing::HashingConfig;
use std::time::Duration;
use tower::ServiceExt as _;

fn rss_high_water_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_logins_end_as_200s_and_503s_with_bounded_memory() {
    let api = start_with(|c| {
        c.hashing = HashingConfig {
            workers: 2,
            queue: 8,
            ..HashingConfig::default()
        };
    })
    .await;
    let app = iam_api::router(api.state.clone());
    let body = serde_json::json!({"tenant": "default", "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    let before = rss_high_water_kib();
    let tasks: Vec<_> = (0..2000)
        .map(|_| {
            let (app, body) = (app.clone(), body.clone());
            tokio::spawn(async move {
                let req = Request::post("/auth/login")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap();
                let res = app.oneshot(req).await.unwrap();
                let retry = res.headers().get("retry-after").is_some();
                (res.status().as_u16(), retry)
            })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(120), async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
    .await
    .expect("every login answered within two minutes");
    let ok = all.iter().filter(|(s, _)| *s == 200).count();
    let busy = all.iter().filter(|(s, r)| *s == 503 && *r).count();
    assert_eq!(
        ok + busy,
        2000,
        "only 200s and 503s with Retry-After: {:?}",
        all.iter().find(|(s, _)| *s != 200 && *s != 503)
    );
    assert!(ok >= 10, "at least the pool and queue are served: {ok}");
    assert!(busy > 1000, "the rest is refused at once: {busy}");
    assert_eq!(api.state.identity.hasher().admitted(), 0);
    // Bounded, not proportional to the burst: 2,000 requests in flight in an unoptimised
    // build. The release figures (README, "Speed") are the ones to compare with the target.
    let grown_mib = rss_high_water_kib().saturating_sub(before) / 1024;
    eprintln!("burst: {ok} × 200, {busy} × 503, peak RSS +{grown_mib} MiB");
    assert!(grown_mib < 256, "peak RSS grew by {grown_mib} MiB");
}
