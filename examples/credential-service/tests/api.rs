//! Every endpoint of the credential service, on SQLite and on real PostgreSQL and MariaDB
//! (`IAM_TEST_POSTGRES_URL`, `IAM_TEST_MYSQL_URL`): the tests that need a database server
//! or Redis are `#[ignore]`d unless run by `scripts/test`, which starts them.
use credential_service::{router, AppState, Bootstrap, RateLimit, Store};
use iam_core::credential::{Pepper, Peppers};
use iam_testkit::keys::{ed25519_key, ed_jwk, sign_raw, Signer};
use iam_testkit::scratch::{free_port, temp_sqlite, TempDir};
use iam_testkit::services::{mysql_url, postgres_url, redis_url};
use serde_json::{json, Value};
use std::sync::Arc;

const BOOT: &str = "bootstrap-admin-token-for-tests-0123456789";

fn boot() -> Bootstrap {
    Bootstrap::new(BOOT, std::time::Duration::from_secs(3600)).unwrap()
}

fn in_a_day() -> String {
    rfc3339_in(86_400)
}

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
    let state = AppState::new(Arc::clone(&store), Some(boot()), None, limit);
    serve(state, store).await
}

/// Serve `state` on a loopback port (with the peer address the rate limit needs).
async fn serve(state: Arc<AppState>, store: Arc<Store>) -> Service {
    let base = iam_testkit::app::serve(router(state)).await;
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
        "kind": "pat", "expires_at": in_a_day(), "name": "ci", "scopes": ["orders:read", "orders:write"], "owner": owner, "tenant": "acme"
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
        (
            json!({"kind": "pat", "name": "x", "owner": "o"}),
            "a PAT without expiry",
        ),
        (
            json!({"kind": "pat", "name": "x", "owner": "o", "expires_at": rfc3339_in(91 * 86_400)}),
            "a PAT beyond the maximum lifetime",
        ),
        (
            json!({"kind": "api_key", "name": "x", "owner": format!("{owner} ")}),
            "an owner with trailing white space",
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
        401
    );
    assert_eq!(
        call(&s, "GET", "/credentials", &pat_token, None).await.0,
        401,
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
        401
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
        Some(json!({"kind": "pat", "expires_at": in_a_day(), "name": "n", "owner": owner})),
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
        "/owners/{owner}/scopes",
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

#[tokio::test]
async fn api_on_sqlite() {
    let (_dir, url) = temp_sqlite();
    api(&url).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test"]
async fn api_on_postgres() {
    api(&postgres_url()).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: scripts/test"]
async fn api_on_mariadb() {
    api(&mysql_url()).await;
}

/// A protected service's view: the SDK's `RemoteCredentials` in an auth chain, and the
/// status a request with `token` gets (200 when it passes).
struct Sdk {
    chain: iam_core::authn::AuthChain,
}

impl Sdk {
    fn new(base: &str, svc_token: &str) -> Self {
        let remote = iam_client::RemoteCredentials::builder(base, svc_token)
            .build()
            .unwrap();
        Self {
            chain: iam_core::authn::AuthChain::new()
                .with(iam_core::credential::CredentialAuthenticator::new(remote)),
        }
    }
    async fn status(&self, token: &str) -> u16 {
        let req = http::Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        match self
            .chain
            .run(&iam_core::authn::RequestView::from_request(&req))
            .await
        {
            Ok(Some(_)) => 200,
            Ok(None) => 401,
            Err(e) => e.status().as_u16(),
        }
    }
}

/// A well-formed token no one issued (right prefix, shape and checksum).
fn random_token() -> String {
    iam_core::credential::generate(iam_core::credential::CredentialKind::PersonalAccessToken)
        .unwrap()
        .secret()
        .to_owned()
}

/// A service token, a live PAT and a revoked PAT on `s`.
async fn tokens(s: &Service) -> (String, String, String) {
    let (_, svc) = call(
        s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "service", "name": "g", "owner": "gw"})),
    )
    .await;
    let mut pats = Vec::new();
    for name in ["live", "revoked"] {
        let (st, pat) = call(
            s,
            "POST",
            "/credentials",
            BOOT,
            Some(json!({"kind": "pat", "name": name, "owner": "u", "expires_at": in_a_day()})),
        )
        .await;
        assert_eq!(st, 201, "{pat}");
        pats.push(pat);
    }
    let id = pats[1]["id"].as_str().unwrap();
    assert_eq!(
        call(s, "DELETE", &format!("/credentials/{id}"), BOOT, None)
            .await
            .0,
        204
    );
    let token = |v: &Value| v["token"].as_str().unwrap().to_owned();
    (token(&svc), token(&pats[0]), token(&pats[1]))
}

async fn validate_from(s: &Service, svc: &str, token: &str, client: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/validate", s.base))
        .header("authorization", format!("Bearer {svc}"))
        .header("content-type", "application/json")
        .body(json!({ "token": token }).to_string());
    if let Some(ip) = client {
        req = req.header("x-iam-client-ip", ip);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const TIGHT: RateLimit = RateLimit {
    threshold: 20,
    per_minute: 3,
    caller_threshold: 5,
};

#[tokio::test]
async fn random_tokens_relayed_through_the_sdk_never_lock_out_legitimate_tokens() {
    let (_dir, url) = temp_sqlite();
    let s = start(&url, peppers(&[(1, 7)]), TIGHT).await;
    let (svc, good, _) = tokens(&s).await;
    let sdk = Sdk::new(&s.base, &svc);
    // The reviewer's attack: far more random well-formed tokens than any budget, through
    // the protected service. Each is refused on its own (401), never a 503 ...
    for _ in 0..150 {
        assert_eq!(sdk.status(&random_token()).await, 401);
    }
    // ... and a legitimate PAT, never seen before, still passes, through the SDK and directly.
    assert_eq!(sdk.status(&good).await, 200);
    assert_eq!(validate_from(&s, &svc, &good, None).await.0, 200);
}

#[tokio::test]
async fn failures_against_one_token_limit_that_token_and_the_sdk_refuses_only_that_request() {
    let (_dir, url) = temp_sqlite();
    let s = start(&url, peppers(&[(1, 7)]), TIGHT).await;
    let (svc, good, revoked) = tokens(&s).await;
    for _ in 0..20 {
        assert_eq!(
            validate_from(&s, &svc, &revoked, Some("192.0.2.1")).await.0,
            401
        );
    }
    // That token's lookup id is limited now: 3 more answers this minute, then 429 ...
    for _ in 0..3 {
        assert_eq!(
            validate_from(&s, &svc, &revoked, Some("192.0.2.2")).await.0,
            401
        );
    }
    let (st, body) = validate_from(&s, &svc, &revoked, Some("192.0.2.3")).await;
    assert_eq!((st, body["error"].as_str()), (429, Some("rate_limited")));
    // ... which the SDK turns into a refusal of that request, not a 503 for everyone.
    let sdk = Sdk::new(&s.base, &svc);
    assert_eq!(sdk.status(&revoked).await, 401);
    assert_eq!(sdk.status(&good).await, 200);
}

#[tokio::test]
async fn an_end_client_forwarded_by_the_caller_pays_for_its_own_failures() {
    let (_dir, url) = temp_sqlite();
    let s = start(&url, peppers(&[(1, 7)]), TIGHT).await;
    let (svc, good, _) = tokens(&s).await;
    let attacker = Some("203.0.113.7");
    for _ in 0..20 {
        assert_eq!(
            validate_from(&s, &svc, &random_token(), attacker).await.0,
            401
        );
    }
    for _ in 0..3 {
        assert_eq!(
            validate_from(&s, &svc, &random_token(), attacker).await.0,
            401
        );
    }
    // Limited: that client, whatever it presents ...
    let (st, body) = validate_from(&s, &svc, &good, attacker).await;
    assert_eq!((st, body["error"].as_str()), (429, Some("rate_limited")));
    // ... and no one else: another client, the same IPv6 /64 is one client, and the caller.
    assert_eq!(
        validate_from(&s, &svc, &good, Some("203.0.113.8")).await.0,
        200
    );
    assert_eq!(validate_from(&s, &svc, &good, None).await.0, 200);
    for _ in 0..23 {
        validate_from(&s, &svc, &random_token(), Some("2001:db8:1:2::1")).await;
    }
    assert_eq!(
        validate_from(&s, &svc, &good, Some("2001:db8:1:2:ffff::9"))
            .await
            .0,
        429
    );
    // The SDK forwards the address it is given.
    let remote = iam_client::RemoteCredentials::builder(&s.base, &svc)
        .build()
        .unwrap();
    let parsed = iam_core::credential::parse(&good).unwrap();
    assert!(remote
        .verify_for_client(parsed, "203.0.113.7".parse().unwrap())
        .await
        .is_err());
    remote.clear();
    assert!(remote
        .verify_for_client(parsed, "203.0.113.9".parse().unwrap())
        .await
        .is_ok());
    // A forwarded address that is not one is a bad request, not a way around the limit.
    assert_eq!(
        validate_from(&s, &svc, &good, Some("not-an-ip")).await.0,
        400
    );
}

#[tokio::test]
async fn a_caller_has_its_own_far_higher_budget_for_failures_against_existing_tokens() {
    let (_dir, url) = temp_sqlite();
    let s = start(&url, peppers(&[(1, 7)]), TIGHT).await;
    let (svc, good, _) = tokens(&s).await;
    // Five different revoked tokens (each under its own id's budget), no client forwarded:
    // the caller's budget (5 here) is used up.
    for _ in 0..5 {
        let (_, _, revoked) = tokens(&s).await;
        assert_eq!(validate_from(&s, &svc, &revoked, None).await.0, 401);
    }
    for _ in 0..3 {
        assert_eq!(validate_from(&s, &svc, &good, None).await.0, 200);
    }
    assert_eq!(validate_from(&s, &svc, &good, None).await.0, 429);
    // Another caller is not affected.
    let (other, _, _) = tokens(&s).await;
    assert_eq!(validate_from(&s, &other, &good, None).await.0, 200);
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
    let (_dir, url) = temp_sqlite();
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
        Some(json!({"kind": "pat", "expires_at": in_a_day(), "name": "p", "owner": "u-1", "scopes": ["orders:read"]})),
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
    let (_dir, url) = temp_sqlite();
    let store = Arc::new(Store::connect(&url, peppers(&[(1, 7)])).await.unwrap());
    let routes =
        parse_route_scopes("# orders\nGET /orders/** orders:read\nPOST /orders orders:write\n")
            .unwrap();
    assert!(parse_route_scopes("GET orders x").is_err());
    let state = AppState::configure(
        Arc::clone(&store),
        Some(boot()),
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
        Some(json!({"kind": "pat", "expires_at": in_a_day(), "name": "p", "owner": "u", "scopes": ["orders:read"]})),
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
#[ignore = "needs Redis: scripts/test"]
async fn failed_validation_counts_are_shared_through_redis_and_never_lock_out_the_caller() {
    use credential_service::api::SharedLimit;
    let redis = redis_url();
    let (_dir, url) = temp_sqlite();
    let store = Arc::new(Store::connect(&url, peppers(&[(1, 7)])).await.unwrap());
    let mut instances = Vec::new();
    for _ in 0..2 {
        let state = AppState::configure(
            Arc::clone(&store),
            Some(boot()),
            None,
            TIGHT,
            None,
            Some(SharedLimit::new(&redis).unwrap()),
        );
        instances.push(serve(state, Arc::clone(&store)).await);
    }
    let (a, b) = (&instances[0], &instances[1]);
    // The fleet counts per wall-clock minute: do not start in its last quarter.
    while credential_service::store::now() % 60 > 45 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    // Another test run may have counted failures of this client this minute: start clean.
    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("iam:credentials:failures:client:198.51.100.*")
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
    let (svc, good, _) = tokens(a).await;
    // The reviewer's attack through the SDK on instance a: the fleet does not lock out the
    // caller either, on a or on b.
    let sdk_a = Sdk::new(&a.base, &svc);
    for _ in 0..150 {
        assert_eq!(sdk_a.status(&random_token()).await, 401);
    }
    assert_eq!(sdk_a.status(&good).await, 200);
    assert_eq!(Sdk::new(&b.base, &svc).status(&good).await, 200);
    // A forwarded client's failures on a count on b: 3 more there, then 429 for that client.
    let attacker = Some("198.51.100.23");
    for _ in 0..20 {
        assert_eq!(
            validate_from(a, &svc, &random_token(), attacker).await.0,
            401
        );
    }
    for _ in 0..3 {
        assert_eq!(
            validate_from(b, &svc, &random_token(), attacker).await.0,
            401
        );
    }
    assert_eq!(validate_from(b, &svc, &good, attacker).await.0, 429);
    assert_eq!(
        validate_from(b, &svc, &good, Some("198.51.100.24")).await.0,
        200
    );
    assert_eq!(validate_from(b, &svc, &good, None).await.0, 200);
}

#[tokio::test]
async fn users_manage_their_own_pats_through_the_middleware() {
    let issuer = Issuer::new();
    let jwt = |sub: &str, scope: &str, permissions: &[&str]| {
        issuer.jwt(json!({"sub": sub, "scope": scope, "permissions": permissions}))
    };
    let users = issuer.users();
    let (_dir, url) = temp_sqlite();
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
        Some(json!({"kind": "pat", "expires_at": in_a_day(), "name": "cli", "scopes": ["orders:read"]})),
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
            Some(
                json!({"kind": "pat", "expires_at": in_a_day(), "name": "x", "scopes": ["admin"]})
            )
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
            Some(json!({"kind": "pat", "expires_at": in_a_day(), "name": "x", "owner": "bob"}))
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
    let dir = TempDir::new();
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_credential-service"))
        .current_dir(dir.path())
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
                &format!("sqlite://{}/probe.db?mode=rwc", dir.path().display()),
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
        Some(json!({"kind": "pat", "expires_at": in_a_day(), "name": "p", "owner": "u"})),
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
        dir.path().join("credentials.pepper").exists(),
        "development pepper persisted"
    );
    let pepper_hex = std::fs::read_to_string(dir.path().join("credentials.pepper")).unwrap();
    let key: Vec<u8> = (0..pepper_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&pepper_hex[i..i + 2], 16).unwrap())
        .collect();
    let db = Store::connect(
        &format!("sqlite://{}/credentials.db", dir.path().display()),
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
    let (_dir, url) = temp_sqlite();
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

/// An issuer of user JWTs (audience `credentials`) and the chain that accepts them.
struct Issuer {
    pair: aws_lc_rs::signature::Ed25519KeyPair,
}

impl Issuer {
    fn new() -> Self {
        Self {
            pair: ed25519_key(),
        }
    }
    fn jwt(&self, mut claims: Value) -> String {
        claims["iss"] = "https://issuer.example".into();
        claims["aud"] = "credentials".into();
        claims["exp"] = 32503680000_i64.into();
        sign_raw(
            r#"{"alg":"EdDSA","kid":"k"}"#,
            &claims.to_string(),
            Signer::Ed(&self.pair),
        )
    }
    fn users(&self) -> iam_core::authn::AuthChain {
        use iam_core::authn::{AuthChain, JwtAuthenticator};
        use iam_core::jwks::{JwkSet, StaticKeys};
        use iam_core::jwt::Validator;
        let jwks = json!({"keys": [ed_jwk(&self.pair, "k")]});
        AuthChain::new().with(JwtAuthenticator::new(
            Validator::builder("https://issuer.example")
                .audience("credentials")
                .build()
                .unwrap(),
            StaticKeys::new(JwkSet::from_json(jwks.to_string().as_bytes()).unwrap()),
        ))
    }
}

async fn start_with_users(issuer: &Issuer) -> (TempDir, Service) {
    let (dir, url) = temp_sqlite();
    let store = Arc::new(Store::connect(&url, peppers(&[(1, 7)])).await.unwrap());
    let state = AppState::new(
        Arc::clone(&store),
        Some(boot()),
        Some(issuer.users()),
        RateLimit::default(),
    );
    (dir, serve(state, store).await)
}

#[tokio::test]
async fn an_oauth2_client_acting_for_itself_owns_no_pats_and_cannot_take_over_a_users() {
    let issuer = Issuer::new();
    let (_dir, s) = start_with_users(&issuer).await;
    let ada = issuer.jwt(json!({"sub": "ada", "scope": "orders:read"}));
    // A client-credentials token whose client id is ada's user id.
    let client = issuer.jwt(json!({"client_id": "ada", "scope": "orders:read"}));
    let (st, pat) = call(
        &s,
        "POST",
        "/credentials",
        &ada,
        Some(json!({"kind": "pat", "name": "cli", "scopes": ["orders:read"], "expires_at": in_a_day()})),
    )
    .await;
    assert_eq!(st, 201, "{pat}");
    let id = pat["id"].as_str().unwrap();
    for (method, path, body) in [
        ("GET", "/credentials".to_owned(), None),
        ("GET", format!("/credentials/{id}"), None),
        ("POST", format!("/credentials/{id}/regenerate"), None),
        ("DELETE", format!("/credentials/{id}"), None),
        (
            "POST",
            "/credentials".to_owned(),
            Some(json!({"kind": "pat", "name": "mine", "expires_at": in_a_day()})),
        ),
    ] {
        let (st, body) = call(&s, method, &path, &client, body).await;
        assert_eq!(st, 403, "{method} {path}: {body}");
        assert!(!body.to_string().contains("pat_"), "{body}");
    }
    // Ada's PAT is untouched and still hers.
    let (st, one) = call(&s, "GET", &format!("/credentials/{id}"), &ada, None).await;
    assert_eq!((st, one["revoked_at"].as_str()), (200, None));
    // An admin still creates service tokens for clients.
    let (st, _) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "service", "name": "client", "owner": "ada"})),
    )
    .await;
    assert_eq!(st, 201);
}

#[tokio::test]
async fn a_pat_holding_a_scope_its_owner_lost_is_revoked() {
    let issuer = Issuer::new();
    let (_dir, s) = start_with_users(&issuer).await;
    let (_, svc) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "service", "name": "g", "owner": "gw"})),
    )
    .await;
    let svc = svc["token"].as_str().unwrap().to_owned();
    let create = |who: String, scopes: Value| {
        let s = &s;
        async move {
            let (st, pat) = call(
                s,
                "POST",
                "/credentials",
                &who,
                Some(
                    json!({"kind": "pat", "name": "p", "scopes": scopes, "expires_at": in_a_day()}),
                ),
            )
            .await;
            assert_eq!(st, 201, "{pat}");
            pat["token"].as_str().unwrap().to_owned()
        }
    };
    let before = issuer.jwt(json!({"sub": "ada", "scope": "orders:read orders:write"}));
    let write = create(before.clone(), json!(["orders:write"])).await;
    let read = create(before, json!(["orders:read"])).await;
    // Ada loses orders:write: her next call revokes the PAT that holds it, not the other.
    let after = issuer.jwt(json!({"sub": "ada", "scope": "orders:read"}));
    assert_eq!(call(&s, "GET", "/credentials", &after, None).await.0, 200);
    assert_eq!(validate_from(&s, &svc, &write, None).await.0, 401);
    assert_eq!(validate_from(&s, &svc, &read, None).await.0, 200);
    // The identity system tells the service directly (admins): ada holds nothing now.
    let (st, body) = call(
        &s,
        "PUT",
        "/owners/ada/scopes",
        BOOT,
        Some(json!({"scopes": []})),
    )
    .await;
    assert_eq!(
        (st, body["revoked"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    assert_eq!(validate_from(&s, &svc, &read, None).await.0, 401);
    // Users cannot call it.
    let ada = issuer.jwt(json!({"sub": "ada", "scope": "orders:read"}));
    assert_eq!(
        call(
            &s,
            "PUT",
            "/owners/ada/scopes",
            &ada,
            Some(json!({"scopes": ["*"]}))
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn a_real_token_not_allowed_on_a_route_gets_the_same_answer_as_a_random_token() {
    let (_dir, url) = temp_sqlite();
    let s = start(&url, peppers(&[(1, 7)]), RateLimit::default()).await;
    let (svc, pat, _) = tokens(&s).await;
    let (_, key) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "api_key", "name": "k", "owner": "org"})),
    )
    .await;
    let key = key["token"].as_str().unwrap().to_owned();
    let random_svc =
        iam_core::credential::generate(iam_core::credential::CredentialKind::ServiceToken)
            .unwrap()
            .secret()
            .to_owned();
    for (method, path, body) in [
        ("GET", "/credentials", None),
        ("GET", "/credentials/cred_x", None),
        (
            "POST",
            "/credentials",
            Some(json!({"kind": "pat", "name": "x", "owner": "o", "expires_at": in_a_day()})),
        ),
        ("POST", "/validate", Some(json!({"token": "pat_x"}))),
    ] {
        let random = call(&s, method, path, &random_token(), body.clone()).await;
        assert_eq!(random.0, 401, "{method} {path}");
        assert_eq!(
            call(&s, method, path, &pat, body.clone()).await,
            random,
            "PAT on {method} {path}"
        );
        assert_eq!(
            call(&s, method, path, &key, body.clone()).await,
            random,
            "API key on {method} {path}"
        );
        if path != "/validate" {
            assert_eq!(
                call(&s, method, path, &svc, body.clone()).await,
                call(&s, method, path, &random_svc, body).await,
                "service token on {method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn owner_identifiers_compare_exactly_on_sqlite() {
    let (_dir, sqlite) = temp_sqlite();
    owner_identifiers_compare_exactly(vec![("sqlite", sqlite)]).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and MariaDB: scripts/test"]
async fn owner_identifiers_compare_exactly_on_every_database() {
    let (_dir, sqlite) = temp_sqlite();
    owner_identifiers_compare_exactly(vec![
        ("sqlite", sqlite),
        ("postgres", postgres_url()),
        ("mariadb", mysql_url()),
    ])
    .await;
}

async fn owner_identifiers_compare_exactly(urls: Vec<(&str, String)>) {
    use credential_service::store::NewCredential;
    use iam_core::credential::CredentialKind;
    let run = format!("{:x}", iam_core_time());
    let alice = format!("alice{run}");
    for (db, url) in urls {
        let store = Store::connect(&url, peppers(&[(1, 7)])).await.unwrap();
        let mut ids = Vec::new();
        for owner in [
            alice.clone(),
            format!("{alice} "),
            alice.to_uppercase(),
            format!("A{}", &alice[1..]),
        ] {
            let (record, _) = store
                .create(NewCredential {
                    kind: CredentialKind::ApiKey,
                    name: "k".into(),
                    owner: owner.clone(),
                    tenant: None,
                    scopes: Default::default(),
                    expires_at: None,
                })
                .await
                .unwrap();
            ids.push((owner, record.id));
        }
        for (owner, id) in &ids {
            let listed: Vec<String> = store
                .list(Some(owner))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
            assert_eq!(&listed, std::slice::from_ref(id), "{db}: owner {owner:?}");
        }
        // Ids too: another case or a trailing space is another id.
        let (_, id) = &ids[0];
        assert!(
            store.get(&format!("{id} ")).await.unwrap().is_none(),
            "{db}"
        );
        assert!(
            store.get(&id.to_uppercase()).await.unwrap().is_none(),
            "{db}"
        );
    }
}

#[tokio::test]
async fn a_short_bootstrap_token_stops_the_service_with_exit_2() {
    let dir = TempDir::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_credential-service"))
        .current_dir(dir.path())
        .env_clear()
        .env("CREDENTIALS_LISTEN", "127.0.0.1:0")
        .env("CREDENTIALS_PEPPER", "ab".repeat(32))
        .env("CREDENTIALS_BOOTSTRAP_TOKEN", "short-admin-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 32 bytes"), "{err}");
    assert!(!err.contains("short-admin-token"), "{err}");
}

#[tokio::test]
async fn a_plaintext_issuer_that_is_not_loopback_stops_the_service_unless_dangerously_allowed() {
    // A port already taken: with an accepted configuration the service gets as far as its
    // listener and fails there (not with exit 2), so the test never leaves a server running.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let start = |allow: Option<&str>| {
        let dir = TempDir::new();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_credential-service"));
        cmd.current_dir(dir.path())
            .env_clear()
            .env("CREDENTIALS_LISTEN", &listen)
            .env("CREDENTIALS_PEPPER", "ab".repeat(32))
            .env("IAM_ISSUER", "http://issuer.example.com/")
            .env("IAM_AUDIENCE", "credentials")
            .env("IAM_KRATOS_PUBLIC_URL", "http://kratos.example.com/");
        if let Some(v) = allow {
            cmd.env("IAM_DANGEROUS_ALLOW_HTTP", v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = start(None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("IAM_ISSUER") && err.contains("plain http"),
        "{err}"
    );
    // With the opt-in the configuration is accepted; the service then fails on the taken port.
    let (code, err) = start(Some("1"));
    assert_ne!(code, Some(2), "{err}");
    assert!(!err.contains("plain http"), "{err}");
}

#[tokio::test]
async fn metrics_can_be_served_only_on_an_internal_listener_and_audit_lines_name_the_actor() {
    let dir = TempDir::new();
    let (port, metrics_port) = (free_port(), free_port());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_credential-service"))
        .current_dir(dir.path())
        .env_clear()
        .env("CREDENTIALS_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "CREDENTIALS_METRICS_LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )
        .env("CREDENTIALS_BOOTSTRAP_TOKEN", BOOT)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && std::net::TcpStream::connect(("127.0.0.1", metrics_port)).is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let get = |p: u16, path: &str| {
        let url = format!("http://127.0.0.1:{p}{path}");
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(
        get(port, "/metrics").await,
        404,
        "not on the public listener"
    );
    assert_eq!(get(metrics_port, "/metrics").await, 200);
    assert_eq!(get(port, "/health/alive").await, 200);
    let s = Service {
        base: format!("http://127.0.0.1:{port}"),
        store: Arc::new(
            Store::connect(
                &format!("sqlite://{}/probe.db?mode=rwc", dir.path().display()),
                peppers(&[(1, 1)]),
            )
            .await
            .unwrap(),
        ),
    };
    // Every change: create, regenerate, revoke.
    let (st, key) = call(
        &s,
        "POST",
        "/credentials",
        BOOT,
        Some(json!({"kind": "api_key", "name": "k", "owner": "org"})),
    )
    .await;
    assert_eq!(st, 201);
    let id = key["id"].as_str().unwrap();
    let path = format!("/credentials/{id}/regenerate");
    assert_eq!(call(&s, "POST", &path, BOOT, None).await.0, 200);
    let path = format!("/credentials/{id}");
    assert_eq!(call(&s, "DELETE", &path, BOOT, None).await.0, 204);
    assert!(std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("audit=")).collect();
    for change in ["\"create\"", "\"regenerate\"", "\"revoke\""] {
        assert!(
            audit.iter().any(|l| l.contains(&format!("audit={change}"))),
            "{change} in {log}"
        );
    }
    for line in audit {
        assert!(
            line.contains("actor=bootstrap") && line.contains("actor_kind=\"bootstrap\""),
            "{line}"
        );
        assert!(!line.contains(BOOT));
    }
}
