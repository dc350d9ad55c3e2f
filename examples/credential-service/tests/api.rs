//! Every endpoint of the credential service, on SQLite and on real PostgreSQL and MariaDB
//! (`IAM_TEST_POSTGRES_URL`, `IAM_TEST_MYSQL_URL`, started by `scripts/test-services`;
//! skipped loudly when unset, a failure under `IAM_REQUIRE_SERVICES=1`).
use credential_service::{router, AppState, RateLimit, Store};
use iam_core::credential::{Pepper, Peppers};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

const BOOT: &str = "bootstrap-admin-token-for-tests-0123456789";

fn peppers(versions: &[(u32, u8)]) -> Peppers {
    Peppers::new(
        versions
            .iter()
            .map(|(v, b)| Pepper::new(*v, &[*b; 32]).unwrap())
            .collect(),
    )
    .unwrap()
}

struct Service {
    base: String,
    store: Arc<Store>,
}

async fn start(url: &str, p: Peppers, limit: RateLimit) -> Service {
    let store = Arc::new(Store::connect(url, p).await.unwrap());
    let state = AppState::new(Arc::clone(&store), Some(BOOT.into()), None, limit);
    serve(state, store).await
}

/// Serve `state` on a loopback port (with the peer address the rate limit needs).
async fn serve(state: Arc<AppState>, store: Arc<Store>) -> Service {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Service { base, store }
}

async fn call(
    s: &Service,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method.parse().unwrap(), format!("{}{path}", s.base))
        .header("authorization", format!("Bearer {bearer}"));
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The whole API on one database.
async fn api(url: &str) {
    let run = format!("{}", std::process::id()) + &format!("{:x}", iam_core_time());
    let s = start(url, peppers(&[(1, 7)]), RateLimit::default()).await;
    let owner = format!("user-{run}");

    // Create: a PAT for a user, an API key for an org, a service token (admin).
    let (st, pat) = call(&s, "POST", "/credentials", BOOT, Some(json!({
        "kind": "pat", "name": "ci", "scopes": ["orders:read", "orders:write"], "owner": owner, "tenant": "acme"
    }))).await;
    assert_eq!(st, 201, "{pat}");
    let pat_token = pat["token"].as_str().unwrap().to_owned();
    assert!(pat_token.starts_with("pat_"));
    assert_eq!(pat["scopes"], json!(["orders:read", "orders:write"]));
    assert_eq!(pat["last_used_at"], Value::Null);
    let (st, svc) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({
            "kind": "service", "name": "gateway", "scopes": [], "owner": format!("gateway-{run}")
        })),
    )
    .await;
    assert_eq!(st, 201);
    let svc_token = svc["token"].as_str().unwrap().to_owned();
    let (st, key) = call(&s, "POST", "/credentials", BOOT, Some(json!({
        "kind": "api_key", "name": "partner", "scopes": ["catalog:read"], "owner": format!("org-{run}"),
        "expires_at": "2999-01-01T00:00:00Z"
    }))).await;
    assert_eq!(st, 201);
    assert_eq!(key["expires_at"], "2999-01-01T00:00:00Z");
    let key_token = key["token"].as_str().unwrap().to_owned();

    // Bad requests.
    for (body, why) in [
        (json!({"kind": "root", "name": "x", "owner": "o"}), "kind"),
        (json!({"kind": "pat", "name": "", "owner": "o"}), "name"),
        (json!({"kind": "pat", "name": "x"}), "owner"),
        (
            json!({"kind": "pat", "name": "x", "owner": "o", "expires_at": "yesterday"}),
            "expires_at",
        ),
        (
            json!({"kind": "pat", "name": "x", "owner": "o", "expires_at": "2001-01-01T00:00:00Z"}),
            "past",
        ),
        (
            json!({"kind": "pat", "name": "x", "owner": "o", "admin": true}),
            "unknown field",
        ),
        (
            json!({"kind": "pat", "name": "x", "owner": "o", "scopes": ["a b"]}),
            "scope",
        ),
    ] {
        assert_eq!(
            call(&s, "POST", "/credentials", BOOT, Some(body)).await.0,
            400,
            "{why}"
        );
    }
    // Who may call what.
    assert_eq!(
        call(&s, "POST", "/credentials", "nope", Some(json!({})))
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/credentials",
            &svc_token,
            Some(json!({"kind": "pat", "name": "x", "owner": "o"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(&s, "GET", "/credentials", &pat_token, None).await.0,
        403,
        "a PAT cannot manage tokens"
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/validate",
            &pat_token,
            Some(json!({"token": key_token}))
        )
        .await
        .0,
        403
    );

    // List and get: metadata only, never a token or a hash.
    let (st, list) = call(
        &s,
        "GET",
        &format!("/credentials?owner={owner}"),
        BOOT,
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let text = list.to_string();
    assert!(!text.contains(&pat_token) && !text.contains("hash") && !text.contains("token"));
    let id = pat["id"].as_str().unwrap().to_owned();
    let (st, one) = call(&s, "GET", &format!("/credentials/{id}"), BOOT, None).await;
    assert_eq!((st, one["name"].as_str()), (200, Some("ci")));
    assert_eq!(
        call(&s, "GET", "/credentials/cred_nope", BOOT, None)
            .await
            .0,
        404
    );

    // Validate (as a service).
    let validate = |token: &str, scope: Option<&str>| {
        let mut b = json!({"token": token});
        if let Some(sc) = scope {
            b["required_scope"] = sc.into();
        }
        b
    };
    let (st, v) = call(
        &s,
        "POST",
        "/validate",
        &svc_token,
        Some(validate(&pat_token, Some("orders:read"))),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (
            v["valid"].as_bool(),
            v["kind"].as_str(),
            v["owner"].as_str()
        ),
        (Some(true), Some("pat"), Some(owner.as_str()))
    );
    assert_eq!(v["tenant"], "acme");
    let (st, v) = call(
        &s,
        "POST",
        "/validate",
        &svc_token,
        Some(validate(&pat_token, Some("admin"))),
    )
    .await;
    assert_eq!((st, v["error"].as_str()), (403, Some("insufficient_scope")));
    let mut typo = pat_token.clone();
    typo.replace_range(10..11, if &pat_token[10..11] == "a" { "b" } else { "a" });
    let (st, v) = call(
        &s,
        "POST",
        "/validate",
        &svc_token,
        Some(validate(&typo, None)),
    )
    .await;
    assert_eq!((st, v["error"].as_str()), (401, Some("invalid_token")));
    assert_eq!(
        call(
            &s,
            "POST",
            "/validate",
            &svc_token,
            Some(validate("eyJ.x.y", None))
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(&s, "POST", "/validate", &svc_token, Some(json!({"tok": 1})))
            .await
            .0,
        400
    );

    // Concurrent validation of one token.
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (base, svc, pat) = (s.base.clone(), svc_token.clone(), pat_token.clone());
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/validate"))
                .header("authorization", format!("Bearer {svc}"))
                .header("content-type", "application/json")
                .body(json!({"token": pat}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    // last_used_at: written by the batch flush, once.
    assert!(s.store.flush_last_used().await.unwrap() >= 1);
    let (_, one) = call(&s, "GET", &format!("/credentials/{id}"), BOOT, None).await;
    assert!(one["last_used_at"].is_string(), "{one}");

    // Regenerate: the old secret is dead at once, the new one works, metadata unchanged.
    let (st, re) = call(
        &s,
        "POST",
        &format!("/credentials/{id}/regenerate"),
        BOOT,
        None,
    )
    .await;
    assert_eq!(st, 200);
    let new_token = re["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, pat_token);
    assert_eq!(re["id"], pat["id"]);
    assert_eq!(
        call(
            &s,
            "POST",
            "/validate",
            &svc_token,
            Some(validate(&pat_token, None))
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/validate",
            &svc_token,
            Some(validate(&new_token, None))
        )
        .await
        .0,
        200
    );

    // Revoke: dead at once on this service; a revoked credential cannot be regenerated.
    assert_eq!(
        call(
            &s,
            "DELETE",
            &format!("/credentials/{id}"),
            BOOT,
            Some(json!({"reason": "leaked"}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/validate",
            &svc_token,
            Some(validate(&new_token, None))
        )
        .await
        .0,
        401
    );
    let (_, one) = call(&s, "GET", &format!("/credentials/{id}"), BOOT, None).await;
    assert_eq!(one["revoked_reason"], "leaked");
    assert_eq!(
        call(
            &s,
            "POST",
            &format!("/credentials/{id}/regenerate"),
            BOOT,
            None
        )
        .await
        .0,
        409
    );

    // Expiry: a token whose expiry passed answers token_expired.
    let (_, short) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({
            "kind": "pat", "name": "short", "owner": owner, "expires_at": rfc3339_in(2)
        })),
    )
    .await;
    let short_token = short["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(
            &s,
            "POST",
            "/validate",
            &svc_token,
            Some(validate(&short_token, None))
        )
        .await
        .0,
        200
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (st, v) = call(
        &s,
        "POST",
        "/validate",
        &svc_token,
        Some(validate(&short_token, None)),
    )
    .await;
    assert_eq!((st, v["error"].as_str()), (401, Some("token_expired")));

    // Pepper rotation: a service restarted with a new pepper (old one still listed) still
    // accepts the old tokens and hashes new ones with the new pepper.
    let rotated = start(url, peppers(&[(2, 9), (1, 7)]), RateLimit::default()).await;
    assert_eq!(
        call(
            &rotated,
            "POST",
            "/validate",
            &svc_token,
            Some(validate(&key_token, None))
        )
        .await
        .0,
        200
    );
    let (_, fresh) = call(
        &rotated,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "pat", "name": "n", "owner": owner})),
    )
    .await;
    let fresh_token = fresh["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(
            &rotated,
            "POST",
            "/validate",
            &svc_token,
            Some(validate(&fresh_token, None))
        )
        .await
        .0,
        200
    );
    // ... which the old configuration (without pepper 2) cannot verify.
    assert_eq!(
        call(
            &s,
            "POST",
            "/validate",
            &svc_token,
            Some(validate(&fresh_token, None))
        )
        .await
        .0,
        401
    );

    // OpenAPI and health.
    let (st, doc) = call(&s, "GET", "/openapi.json", "", None).await;
    assert_eq!((st, doc["openapi"].as_str()), (200, Some("3.0.3")));
    for path in [
        "/credentials",
        "/credentials/{id}",
        "/credentials/{id}/regenerate",
        "/validate",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert_eq!(call(&s, "GET", "/health/ready", "", None).await.0, 200);
}

fn iam_core_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn rfc3339_in(seconds: i64) -> String {
    let t = iam_core_time() as i64 / 1_000_000_000 + seconds;
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn sqlite_url() -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new();
    let url = format!("sqlite://{}/credentials.db?mode=rwc", dir.0.display());
    (dir, url)
}

/// A throw-away directory (removed on drop).
mod tempdir {
    pub(crate) struct Dir(pub(crate) std::path::PathBuf);
    impl Dir {
        pub(crate) fn new() -> Self {
            let p = std::env::temp_dir().join(format!(
                "credential-service-test-{}-{}",
                std::process::id(),
                super::iam_core_time()
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("IAM_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{var} is required (IAM_REQUIRE_SERVICES=1)")
        }
        _ => {
            eprintln!("SKIPPED: {var} is not set (scripts/test-services starts the database)");
            None
        }
    }
}

#[tokio::test]
async fn api_on_sqlite() {
    let (_dir, url) = sqlite_url();
    api(&url).await;
}

#[tokio::test]
async fn api_on_postgres() {
    if let Some(url) = service_url("IAM_TEST_POSTGRES_URL") {
        api(&url).await;
    }
}

#[tokio::test]
async fn api_on_mariadb() {
    if let Some(url) = service_url("IAM_TEST_MYSQL_URL") {
        api(&url).await;
    }
}

#[tokio::test]
async fn failed_validations_are_rate_limited_per_address() {
    let (_dir, url) = sqlite_url();
    let s = start(
        &url,
        peppers(&[(1, 7)]),
        RateLimit {
            threshold: 20,
            per_minute: 3,
        },
    )
    .await;
    let (_, svc) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "service", "name": "g", "owner": "gw"})),
    )
    .await;
    let svc_token = svc["token"].as_str().unwrap().to_owned();
    let (_, pat) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "pat", "name": "p", "owner": "u"})),
    )
    .await;
    let good = pat["token"].as_str().unwrap().to_owned();
    for _ in 0..20 {
        assert_eq!(
            call(
                &s,
                "POST",
                "/validate",
                &svc_token,
                Some(json!({"token": "pat_bad"}))
            )
            .await
            .0,
            401
        );
    }
    // Limited now: 3 more validations this minute, good or bad, then 429.
    for _ in 0..3 {
        assert_ne!(
            call(
                &s,
                "POST",
                "/validate",
                &svc_token,
                Some(json!({"token": good}))
            )
            .await
            .0,
            429
        );
    }
    let (st, body) = call(
        &s,
        "POST",
        "/validate",
        &svc_token,
        Some(json!({"token": good})),
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (429, Some("rate_limited")));
}

#[tokio::test]
async fn unreachable_database_fails_closed() {
    let err = Store::connect("postgres://postgres@127.0.0.1:9/none", peppers(&[(1, 7)])).await;
    assert!(err.is_err());
    assert!(Store::connect("redis://x", peppers(&[(1, 7)]))
        .await
        .is_err());
}

#[tokio::test]
async fn remote_verifier_caches_and_sees_revocation_within_its_ttl() {
    use iam_client::RemoteCredentials;
    use iam_core::authn::{AuthChain, RequestView};
    use iam_core::credential::CredentialAuthenticator;
    use iam_core::principal::PrincipalKind;
    let (_dir, url) = sqlite_url();
    let s = start(&url, peppers(&[(1, 7)]), RateLimit::default()).await;
    let (_, svc) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "service", "name": "g", "owner": "gw"})),
    )
    .await;
    let svc_token = svc["token"].as_str().unwrap().to_owned();
    let (_, pat) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "pat", "name": "p", "owner": "u-1", "scopes": ["orders:read"]})),
    )
    .await;
    let pat_token = pat["token"].as_str().unwrap().to_owned();
    let remote = RemoteCredentials::builder(&s.base, &svc_token)
        .ttl(std::time::Duration::from_millis(800))
        .build()
        .unwrap();
    let chain = AuthChain::new().with(CredentialAuthenticator::new(remote));
    let ask = |t: String| {
        let chain = &chain;
        async move {
            let req = http::Request::get("/")
                .header("authorization", format!("Bearer {t}"))
                .body(())
                .unwrap();
            chain
                .run(&RequestView::from_request(&req))
                .await
                .map(|p| p.unwrap())
        }
    };
    // The middleware's no-waiting path: nothing cached yet, so no answer (and no call) ...
    let now = |t: &str| {
        let req = http::Request::get("/")
            .header("authorization", format!("Bearer {t}"))
            .body(())
            .unwrap();
        chain
            .run_now(&RequestView::from_request(&req))
            .map(|r| r.map(|p| p.map(|p| p.subject().to_owned())))
    };
    assert!(now(&pat_token).is_none());
    let p = ask(pat_token.clone()).await.unwrap();
    assert_eq!(
        (p.kind(), p.subject()),
        (PrincipalKind::PersonalAccessToken, "u-1")
    );
    assert!(p.has_scope("orders:read"));
    // ... then answered from the cache, with the same principal.
    assert_eq!(now(&pat_token).unwrap().unwrap(), Some("u-1".to_owned()));
    // Revoked on the service: the remote cache keeps it for at most its TTL ...
    let id = pat["id"].as_str().unwrap();
    assert_eq!(
        call(&s, "DELETE", &format!("/credentials/{id}"), BOOT, None)
            .await
            .0,
        204
    );
    assert!(ask(pat_token.clone()).await.is_ok(), "cached");
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    let e = ask(pat_token.clone()).await.unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.description()),
        (401, "invalid token")
    );
    // Service down → 503; a caller token that is not a service token is refused up front.
    let down = RemoteCredentials::builder("http://127.0.0.1:9", &svc_token)
        .build()
        .unwrap();
    let chain = AuthChain::new().with(CredentialAuthenticator::new(down));
    let req = http::Request::get("/")
        .header("x-api-key", pat_token.as_str())
        .body(())
        .unwrap();
    assert_eq!(
        chain
            .run(&RequestView::from_request(&req))
            .await
            .unwrap_err()
            .status()
            .as_u16(),
        503
    );
    assert!(RemoteCredentials::builder(&s.base, &pat_token)
        .build()
        .is_err());
    assert!(!format!(
        "{:?}",
        RemoteCredentials::builder(&s.base, &svc_token)
            .build()
            .unwrap()
    )
    .contains(&svc_token));
}

#[tokio::test]
async fn validate_with_route_scopes_denies_unlisted_routes() {
    use credential_service::api::parse_route_scopes;
    let (_dir, url) = sqlite_url();
    let store = Arc::new(Store::connect(&url, peppers(&[(1, 7)])).await.unwrap());
    let routes =
        parse_route_scopes("# orders\nGET /orders/** orders:read\nPOST /orders orders:write\n")
            .unwrap();
    assert!(parse_route_scopes("GET orders x").is_err());
    let state = AppState::configure(
        Arc::clone(&store),
        Some(BOOT.into()),
        None,
        RateLimit::default(),
        Some(routes),
        None,
    );
    let s = serve(state, store).await;
    let (_, pat) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "pat", "name": "p", "owner": "u", "scopes": ["orders:read"]})),
    )
    .await;
    let token = pat["token"].as_str().unwrap();
    let v = |m: &str, p: &str| json!({"token": token, "method": m, "path": p});
    assert_eq!(
        call(&s, "POST", "/validate", BOOT, Some(v("GET", "/orders/7")))
            .await
            .0,
        200
    );
    let (st, body) = call(&s, "POST", "/validate", BOOT, Some(v("POST", "/orders"))).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    assert_eq!(
        call(&s, "POST", "/validate", BOOT, Some(v("GET", "/admin")))
            .await
            .0,
        403,
        "unlisted"
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/validate",
            BOOT,
            Some(v("GET", "/orders/../admin"))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/validate",
            BOOT,
            Some(json!({"token": token, "method": "GET"}))
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn failed_validation_counts_are_shared_through_redis() {
    use credential_service::api::SharedLimit;
    let Some(redis) = service_url("REDIS_URL") else {
        return;
    };
    let (_dir, url) = sqlite_url();
    let store = Arc::new(Store::connect(&url, peppers(&[(1, 7)])).await.unwrap());
    let limit = RateLimit {
        threshold: 10,
        per_minute: 2,
    };
    let mut instances = Vec::new();
    for _ in 0..2 {
        let state = AppState::configure(
            Arc::clone(&store),
            Some(BOOT.into()),
            None,
            limit,
            None,
            Some(SharedLimit::new(&redis).unwrap()),
        );
        instances.push(serve(state, Arc::clone(&store)).await);
    }
    let (a, b) = (&instances[0], &instances[1]);
    // Another test run may have counted failures for 127.0.0.1 this minute: start clean.
    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("iam:credentials:failures:127.0.0.1:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    for k in keys {
        let _: () = redis::cmd("DEL")
            .arg(k)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    for _ in 0..10 {
        assert_eq!(
            call(
                a,
                "POST",
                "/validate",
                BOOT,
                Some(json!({"token": "pat_bad"}))
            )
            .await
            .0,
            401
        );
    }
    // Instance b never saw a failure itself, but the fleet did: 2 more, then 429.
    for _ in 0..2 {
        assert_ne!(
            call(
                b,
                "POST",
                "/validate",
                BOOT,
                Some(json!({"token": "pat_bad"}))
            )
            .await
            .0,
            429
        );
    }
    assert_eq!(
        call(
            b,
            "POST",
            "/validate",
            BOOT,
            Some(json!({"token": "pat_bad"}))
        )
        .await
        .0,
        429
    );
}

#[tokio::test]
async fn users_manage_their_own_pats_through_the_middleware() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use iam_core::authn::{AuthChain, JwtAuthenticator};
    use iam_core::jwks::{JwkSet, StaticKeys};
    use iam_core::jwt::Validator;
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}]});
    let jwt = |sub: &str, scope: &str, permissions: &[&str]| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"k"}"#),
            URL_SAFE_NO_PAD.encode(
                json!({"iss": "https://issuer.example", "aud": "credentials",
                "sub": sub, "exp": 32503680000_i64, "scope": scope, "permissions": permissions})
                .to_string()
            )
        );
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes()))
        )
    };
    let users = AuthChain::new().with(JwtAuthenticator::new(
        Validator::builder("https://issuer.example")
            .audience("credentials")
            .build()
            .unwrap(),
        StaticKeys::new(JwkSet::from_json(jwks.to_string().as_bytes()).unwrap()),
    ));
    let (_dir, url) = sqlite_url();
    let store = Arc::new(Store::connect(&url, peppers(&[(1, 7)])).await.unwrap());
    let state = AppState::new(Arc::clone(&store), None, Some(users), RateLimit::default());
    let s = serve(state, store).await;
    let ada = jwt("ada", "orders:read orders:write", &[]);
    let bob = jwt("bob", "orders:read", &[]);
    let admin = jwt("root", "", &["credentials:admin"]);
    // A PAT for herself, with scopes she holds.
    let (st, pat) = call(
        &s,
        "POST",
        "/credentials",
        &ada,
        Some(json!({"kind": "pat", "name": "cli", "scopes": ["orders:read"]})),
    )
    .await;
    assert_eq!((st, pat["owner"].as_str()), (201, Some("ada")));
    // Not a scope she holds, not for someone else, not another kind.
    assert_eq!(
        call(
            &s,
            "POST",
            "/credentials",
            &ada,
            Some(json!({"kind": "pat", "name": "x", "scopes": ["admin"]}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/credentials",
            &ada,
            Some(json!({"kind": "pat", "name": "x", "owner": "bob"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/credentials",
            &ada,
            Some(json!({"kind": "api_key", "name": "x"}))
        )
        .await
        .0,
        403
    );
    // Lists and reads: her own only.
    let id = pat["id"].as_str().unwrap();
    assert_eq!(
        call(&s, "GET", "/credentials", &bob, None).await.1["items"],
        json!([])
    );
    assert_eq!(
        call(&s, "GET", &format!("/credentials/{id}"), &bob, None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(&s, "DELETE", &format!("/credentials/{id}"), &bob, None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(&s, "GET", &format!("/credentials/{id}"), &ada, None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&s, "POST", "/validate", &ada, Some(json!({"token": "x"})))
            .await
            .0,
        403,
        "users do not validate"
    );
    // An admin (permission credentials:admin) manages everything.
    assert_eq!(
        call(&s, "GET", "/credentials", &admin, None).await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/credentials",
            &admin,
            Some(json!({"kind": "api_key", "name": "k", "owner": "org-1"}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(&s, "DELETE", &format!("/credentials/{id}"), &ada, None)
            .await
            .0,
        204
    );
    assert_eq!(
        call(&s, "GET", "/credentials", "garbage", None).await.0,
        401
    );
}

#[tokio::test]
async fn the_binary_flushes_last_used_at_on_graceful_shutdown() {
    let dir = tempdir::Dir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_credential-service"))
        .current_dir(&dir.0)
        .env_clear()
        .env("CREDENTIALS_LISTEN", format!("127.0.0.1:{port}"))
        .env("CREDENTIALS_BOOTSTRAP_TOKEN", BOOT)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let s = Service {
        base: format!("http://127.0.0.1:{port}"),
        store: Arc::new(
            Store::connect(
                &format!("sqlite://{}/probe.db?mode=rwc", dir.0.display()),
                peppers(&[(1, 1)]),
            )
            .await
            .unwrap(),
        ),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, pat) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "pat", "name": "p", "owner": "u"})),
    )
    .await;
    let token = pat["token"].as_str().unwrap();
    assert_eq!(
        call(&s, "POST", "/validate", BOOT, Some(json!({"token": token})))
            .await
            .0,
        200
    );
    // SIGTERM: the pending last_used_at must reach the database before exit.
    assert!(std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success());
    assert!(
        dir.0.join("credentials.pepper").exists(),
        "development pepper persisted"
    );
    let pepper_hex = std::fs::read_to_string(dir.0.join("credentials.pepper")).unwrap();
    let key: Vec<u8> = (0..pepper_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&pepper_hex[i..i + 2], 16).unwrap())
        .collect();
    let db = Store::connect(
        &format!("sqlite://{}/credentials.db", dir.0.display()),
        Peppers::new(vec![Pepper::new(1, &key).unwrap()]).unwrap(),
    )
    .await
    .unwrap();
    let id = pat["id"].as_str().unwrap();
    assert!(
        db.get(id).await.unwrap().unwrap().last_used_at.is_some(),
        "flushed at shutdown"
    );
}

#[tokio::test]
async fn hostile_requests_get_clean_4xx() {
    let (_dir, url) = sqlite_url();
    let s = start(&url, peppers(&[(1, 7)]), RateLimit::default()).await;
    // A body over the 64 KiB limit, a huge token, a wrong content type, not JSON at all.
    let huge = json!({"kind": "pat", "name": "x".repeat(100_000), "owner": "o"});
    assert_eq!(
        call(&s, "POST", "/credentials", BOOT, Some(huge)).await.0,
        413
    );
    let long = format!("pat_{}", "A".repeat(20_000));
    let (st, v) = call(&s, "POST", "/validate", BOOT, Some(json!({"token": long}))).await;
    assert_eq!((st, v["error"].as_str()), (401, Some("invalid_token")));
    let raw = reqwest::Client::new()
        .post(format!("{}/validate", s.base))
        .header("authorization", format!("Bearer {BOOT}"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    // Odd ids and a bearer with control characters.
    assert_eq!(
        call(&s, "GET", "/credentials/..%2F..%2Fetc", BOOT, None)
            .await
            .0,
        404
    );
    let bad = reqwest::Client::new()
        .get(format!("{}/credentials", s.base))
        .header("authorization", "Bearer a\tb")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    // The bootstrap token compared as a whole: a prefix of it is not an admin.
    assert_eq!(
        call(&s, "GET", "/credentials", &BOOT[..BOOT.len() - 1], None)
            .await
            .0,
        401
    );
}
