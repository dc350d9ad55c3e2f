//! Rate-limit tiers end to end: per client address before matching, per subject after
//! authentication, stricter on authentication endpoints, on the proxy port and on
//! `/decisions`, shared through Redis between two instances, in process when Redis is down.
mod common;

use common::{raw, rules_dir, start, RawResponse};
use iam_service::Env;
use iam_testkit::keys::{claims_now, rs256, token, AUD, ISS};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::{json, Value};

fn no_env(_: &str) -> Option<String> {
    None
}

fn trust_loopback(name: &str) -> Option<String> {
    (name == "ACCESS_PROXY_TRUSTED_PROXIES").then(|| "127.0.0.1/32".into())
}

fn nginx_style(name: &str) -> Option<String> {
    (name == "ACCESS_PROXY_DECISIONS_STYLE").then(|| "nginx".into())
}

struct Fixture {
    _upstream: LoopbackServer,
    _jwks: LoopbackServer,
    _rules: iam_testkit::scratch::TempDir,
    doc: Value,
}

/// Rules `orders` (jwt), `public` (anonymous), `login` and `token` (anonymous; the
/// authentication endpoints), with `rate_limit` as given.
async fn fixture(rate_limit: Value) -> Fixture {
    let upstream = LoopbackServer::start(|_| Reply::text(200, "from upstream")).await;
    let jwks = LoopbackServer::start(|_| Reply::json(200, &iam_testkit::keys::jwks_json())).await;
    let anonymous = |id: &str, url: &str| {
        json!({
            "id": id,
            "match": {"url": url, "methods": ["GET", "POST"]},
            "authenticators": [{"handler": "anonymous"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}],
            "upstream": {"url": upstream.url("/")}
        })
    };
    let rules = json!([
        {
            "id": "orders",
            "match": {"url": "http://app.example/api/orders<(/.*)?>", "methods": ["GET"]},
            "authenticators": [{"handler": "jwt"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}],
            "upstream": {"url": upstream.url("/")}
        },
        anonymous("public", "http://app.example/public/<.*>"),
        anonymous("login", "http://app.example/login"),
        anonymous("token", "http://app.example/oauth2/token"),
    ]);
    let (dir, loc) = rules_dir(&rules);
    let doc = json!({
        "access_rules": {"repositories": [loc]},
        "authenticators": {
            "jwt": {"enabled": true, "config": {"jwks_urls": [jwks.url("/jwks")], "trusted_issuers": [ISS], "target_audience": [AUD]}},
            "anonymous": {"enabled": true}
        },
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"noop": {"enabled": true}},
        "errors": {"handlers": {"json": {"enabled": true}}},
        "rate_limit": rate_limit
    });
    Fixture {
        _upstream: upstream,
        _jwks: jwks,
        _rules: dir,
        doc,
    }
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\nHost: app.example\n{extra}")
}

fn jwt_for(subject: &str) -> String {
    let mut claims = claims_now();
    claims["sub"] = subject.into();
    format!(
        "Authorization: Bearer {}",
        token("RS256", "rsa-1", &claims, rs256())
    )
}

fn assert_limited(res: &RawResponse) {
    assert_eq!(res.status, 429, "{}", res.body);
    let secs: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "Retry-After: {secs}");
    assert!(res.body.contains("\"code\":429"), "{}", res.body);
}

#[tokio::test]
async fn the_client_address_tier_answers_429_with_retry_after_before_any_rule_matches() {
    let f = fixture(json!({"per_client_ip": "2/1m"})).await;
    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let first = raw(p.proxy, &get("/public/a", "")).await;
    assert_eq!(first.status, 200, "{:?}", p.app.repository.last_error());
    assert_eq!(raw(p.proxy, &get("/no-rule", "")).await.status, 404);
    // The third request is refused before matching: no rule is needed to be limited.
    assert_limited(&raw(p.proxy, &get("/no-rule", "")).await);
    assert_limited(&raw(p.proxy, &get("/public/a", "")).await);
    // `/decisions` counts against the same client budget.
    assert_limited(&raw(p.api, &get("/decisions/public/a", "")).await);
    let metrics = raw(p.api, "GET /metrics HTTP/1.1\nHost: x").await;
    assert!(
        metrics
            .body
            .contains("access_proxy_rate_limited_total{tier=\"client_ip\"}"),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_does_not_escape_the_address_tier() {
    let f = fixture(json!({"per_client_ip": "2/1m"})).await;
    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let spoof = format!("X-Forwarded-For: 198.51.100.{i}\nForwarded: for=198.51.100.{i}");
        statuses.push(raw(p.proxy, &get("/public/a", &spoof)).await.status);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let spoof = "X-Forwarded-For: 198.51.100.77";
    assert_eq!(
        raw(p.api, &get("/decisions/public/a", spoof)).await.status,
        429
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let f = fixture(json!({"per_client_ip": "1/1m"})).await;
    let p = start(
        f.doc.clone(),
        Env::with_lookup("ACCESS_PROXY_", trust_loopback),
    )
    .await;
    let from = |ip: &str| format!("X-Forwarded-For: {ip}");
    assert_eq!(
        raw(p.proxy, &get("/public/a", &from("203.0.113.1")))
            .await
            .status,
        200
    );
    assert_eq!(
        raw(p.proxy, &get("/public/a", &from("203.0.113.2")))
            .await
            .status,
        200
    );
    assert_limited(&raw(p.proxy, &get("/public/a", &from("203.0.113.1"))).await);
    // A client that prepends an address of its own is still the hop the proxy appended.
    assert_limited(&raw(p.proxy, &get("/public/a", &from("6.6.6.6, 203.0.113.2"))).await);
}

#[tokio::test]
async fn the_subject_tier_follows_a_user_across_addresses_and_leaves_anonymous_requests_alone() {
    let f = fixture(json!({"per_subject": "2/1m"})).await;
    let p = start(
        f.doc.clone(),
        Env::with_lookup("ACCESS_PROXY_", trust_loopback),
    )
    .await;
    let alice = jwt_for("alice");
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let h = format!("{alice}\nX-Forwarded-For: {ip}");
        assert_eq!(raw(p.proxy, &get("/api/orders", &h)).await.status, 200);
    }
    let h = format!("{alice}\nX-Forwarded-For: 203.0.113.3");
    assert_limited(&raw(p.proxy, &get("/api/orders", &h)).await);
    assert_limited(&raw(p.api, &get("/decisions/api/orders", &alice)).await);
    // Another user from the same address is not affected.
    let bob = jwt_for("bob");
    assert_eq!(raw(p.proxy, &get("/api/orders", &bob)).await.status, 200);
    // Anonymous requests have no subject budget (only the address tier, unset here).
    for _ in 0..5 {
        assert_eq!(raw(p.proxy, &get("/public/a", "")).await.status, 200);
    }
    // An invalid token is refused by authentication (401), not counted as a subject.
    let h = "Authorization: Bearer not.a.token";
    assert_eq!(raw(p.proxy, &get("/api/orders", h)).await.status, 401);
}

#[tokio::test]
async fn auth_endpoints_get_the_stricter_tier_by_rule_id_and_by_url_glob() {
    let f = fixture(json!({
        "per_client_ip": "100/1m",
        "auth_endpoints": {"limit": "2/1m", "rules": ["login"], "urls": ["http://app.example/oauth2/<**>"]}
    }))
    .await;
    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    assert_eq!(raw(p.proxy, &get("/login", "")).await.status, 200);
    assert_eq!(raw(p.proxy, &get("/oauth2/token", "")).await.status, 200);
    // One budget for every authentication endpoint of a client.
    assert_limited(&raw(p.proxy, &get("/login", "")).await);
    assert_limited(&raw(p.proxy, &get("/oauth2/token", "")).await);
    // Other rules keep the address tier's budget.
    for _ in 0..5 {
        assert_eq!(raw(p.proxy, &get("/public/a", "")).await.status, 200);
    }
}

#[tokio::test]
async fn nginx_style_decisions_answer_a_limited_request_403_keeping_retry_after() {
    // nginx `auth_request` turns any status but 2xx, 401 and 403 into a 500: a limited
    // request is answered 403, with `Retry-After` for `auth_request_set`.
    let f = fixture(json!({"per_client_ip": "1/1m"})).await;
    let p = start(
        f.doc.clone(),
        Env::with_lookup("ACCESS_PROXY_", nginx_style),
    )
    .await;
    assert_eq!(
        raw(p.api, &get("/decisions/public/a", "")).await.status,
        200
    );
    let res = raw(p.api, &get("/decisions/public/a", "")).await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(res.header("retry-after").is_some(), "{:?}", res.headers);
    assert!(res.body.contains("\"code\":429"), "{}", res.body);
}

#[tokio::test]
async fn with_redis_down_the_tiers_limit_in_process_and_nothing_is_answered_503() {
    let closed = iam_testkit::scratch::free_port();
    let f = fixture(json!({
        "per_client_ip": "2/1m",
        "redis_url": format!("redis://127.0.0.1:{closed}/0")
    }))
    .await;
    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    assert_eq!(raw(p.proxy, &get("/public/a", "")).await.status, 200);
    assert_eq!(raw(p.proxy, &get("/public/a", "")).await.status, 200);
    assert_limited(&raw(p.proxy, &get("/public/a", "")).await);
}

#[tokio::test]
#[ignore = "needs redis: scripts/test"]
async fn two_instances_share_their_budgets_through_redis() {
    let prefix = format!(
        "access-proxy-test:{}:{}:",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let f = fixture(json!({
        "per_client_ip": "3/1m",
        "redis_url": iam_testkit::services::redis_url(),
        "redis_prefix": prefix
    }))
    .await;
    let a = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let b = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    assert_eq!(raw(a.proxy, &get("/public/a", "")).await.status, 200);
    assert_eq!(raw(b.proxy, &get("/public/a", "")).await.status, 200);
    assert_eq!(
        raw(a.api, &get("/decisions/public/a", "")).await.status,
        200
    );
    assert_limited(&raw(b.proxy, &get("/public/a", "")).await);
    assert_limited(&raw(a.proxy, &get("/public/a", "")).await);
    // Nothing was kept in process: the counts live in Redis.
    let tiers = access_proxy::ratelimit::RateLimitTiers::from_config(
        &access_proxy::Config::from_document(&f.doc, &Env::with_lookup("ACCESS_PROXY_", no_env))
            .unwrap()
            .rate_limit,
    )
    .unwrap();
    assert_eq!(tiers.keys_held(), 0);
}
