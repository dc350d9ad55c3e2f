//! iam-api over HTTP on SQLite (and, marked ignored, PostgreSQL, MariaDB and Redis).
mod common;

use common::{claims, start, start_with, totp_code, Api, ADMIN_EMAIL, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn the_invalid_credential_cases_get_the_same_status_and_body() {
    let api = start().await;
    let admin = api.admin_token().await;
    api.tenant_with_user(&admin, "acme").await;
    let bob = api.user(&admin, "acme", "bob").await;
    let (s, _) = api
        .post(
            &format!("/admin/tenants/acme/users/{bob}/disable"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(s, 204);
    api.tenant_with_user(&admin, "frozen").await;
    let (s, _) = api
        .post("/admin/tenants/frozen/suspend", json!({}), Some(&admin))
        .await;
    assert_eq!(s, 204);
    let cases = [
        ("no-such-tenant", "alice", PASSWORD),
        ("acme", "nobody", PASSWORD),
        ("acme", "alice", "the wrong password"),
        ("acme", "bob", PASSWORD),
        ("frozen", "alice", PASSWORD),
    ];
    let hasher = api.state.identity.hasher();
    let mut answers = Vec::new();
    for (t, u, p) in cases {
        let before = hasher.verifications();
        answers.push(api.login(t, u, p).await);
        assert_eq!(
            hasher.verifications() - before,
            1,
            "{t}/{u}: exactly one argon2id verification"
        );
    }
    for a in &answers {
        assert_eq!(a, &answers[0]);
    }
    assert_eq!(answers[0].0, 401);
    assert_eq!(answers[0].1["error"], "invalid_credentials");
    // And the right password works, by username or email in any case.
    assert_eq!(
        api.login("acme", "ALICE@acme.EXAMPLE", PASSWORD).await.0,
        200
    );
}

#[tokio::test]
async fn hostile_bodies_are_400_and_never_reach_the_hash() {
    let api = start().await;
    let url = format!("{}/auth/login", api.base);
    let huge = "x".repeat(1 << 20);
    let bodies: Vec<(String, &str)> = vec![
        ("{".into(), "application/json"),
        ("[]".into(), "application/json"),
        (
            r#"{"tenant":1,"username":"a","password":"b"}"#.into(),
            "application/json",
        ),
        (r#"{"tenant":"default"}"#.into(), "application/json"),
        ("tenant=default".into(), "application/x-www-form-urlencoded"),
        (
            json!({"tenant": "default", "username": "a", "password": huge}).to_string(),
            "application/json",
        ),
        (
            json!({"tenant": "default", "username": "a", "password": "p".repeat(2000)}).to_string(),
            "application/json",
        ),
        (
            json!({"tenant": "default", "username": "", "password": "p".repeat(20)}).to_string(),
            "application/json",
        ),
        ("\u{0}\u{1}garbage".into(), "application/json"),
    ];
    for (body, ct) in bodies {
        let res = api
            .http
            .post(&url)
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{}", &body[..body.len().min(80)]);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request");
    }
    assert_eq!(api.state.identity.hasher().admitted(), 0);
    for path in ["/auth/refresh", "/auth/mfa/verify", "/auth/logout"] {
        let res = api
            .http
            .post(format!("{}{path}", api.base))
            .header("content-type", "application/json")
            .body("{oops")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
    }
}

/// Login → TOTP enrolment → login with MFA (replay refused) → refresh → logout.
async fn mfa_refresh_logout_flow(api: &Api) {
    let admin = api.admin_token().await;
    let tenant = format!("t{}", &iam_identity::model::new_id()[..10]);
    let alice = api.tenant_with_user(&admin, &tenant).await;
    let (s, b) = api.login(&tenant, "alice", PASSWORD).await;
    assert_eq!(s, 200, "{b}");
    let first = b["access_token"].as_str().unwrap().to_owned();
    let c = claims(&first);
    assert_eq!(
        (c["sub"].as_str(), c["tenant"].as_str(), c["acr"].as_str()),
        (Some(alice.as_str()), Some(tenant.as_str()), Some("pwd"))
    );
    assert_eq!(c["aud"], "iam-api");
    assert!(c["sid"].is_string() && c["jti"].is_string());
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 600);
    // Enrol.
    let (s, e) = api
        .post("/auth/mfa/totp/enroll", json!({}), Some(&first))
        .await;
    assert_eq!(s, 200, "{e}");
    let secret = e["secret"].as_str().unwrap().to_owned();
    assert!(e["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));
    let (s, r) = api
        .post(
            "/auth/mfa/totp/confirm",
            json!({"code": totp_code(&secret, 0)}),
            Some(&first),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let codes: Vec<String> = r["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    // DELETE needs acr mfa.
    assert_eq!(
        api.send(Method::DELETE, "/auth/mfa/totp", None, Some(&first))
            .await
            .0,
        403
    );
    // Login now asks for MFA.
    let (s, m) = api.login(&tenant, "alice", PASSWORD).await;
    assert_eq!(s, 200);
    assert_eq!(m["mfa_required"], true);
    assert_eq!(m["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(m["expires_in"], 300);
    assert!(m.get("access_token").is_none());
    let mfa_token = m["mfa_token"].as_str().unwrap();
    let next = totp_code(&secret, 30);
    let (s, t) = api
        .post(
            "/auth/mfa/verify",
            json!({"mfa_token": mfa_token, "code": next}),
            None,
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let c = claims(t["access_token"].as_str().unwrap());
    assert_eq!(c["acr"], "mfa");
    assert_eq!(c["amr"], json!(["pwd", "otp"]));
    // The MFA token is single use; the code cannot be replayed with a new one.
    assert_eq!(
        api.post(
            "/auth/mfa/verify",
            json!({"mfa_token": mfa_token, "code": next}),
            None
        )
        .await
        .0,
        401
    );
    let (_, m2) = api.login(&tenant, "alice", PASSWORD).await;
    let (s, body) = api
        .post(
            "/auth/mfa/verify",
            json!({"mfa_token": m2["mfa_token"], "code": next}),
            None,
        )
        .await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_code")));
    // A recovery code works once.
    let (_, m3) = api.login(&tenant, "alice", PASSWORD).await;
    let (s, rc) = api
        .post(
            "/auth/mfa/verify",
            json!({"mfa_token": m3["mfa_token"], "recovery_code": codes[0]}),
            None,
        )
        .await;
    assert_eq!(s, 200, "{rc}");
    assert_eq!(
        claims(rc["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "recovery_code"])
    );
    // Refresh keeps acr mfa; the old refresh token is spent.
    let refresh = t["refresh_token"].as_str().unwrap();
    let (s, r2) = api
        .post("/auth/refresh", json!({"refresh_token": refresh}), None)
        .await;
    assert_eq!(s, 200, "{r2}");
    assert_ne!(r2["refresh_token"], t["refresh_token"]);
    let c2 = claims(r2["access_token"].as_str().unwrap());
    assert_eq!(
        (c2["acr"].as_str(), c2["sid"].as_str()),
        (Some("mfa"), c["sid"].as_str())
    );
    // With acr mfa, TOTP may be deleted.
    let mfa_access = r2["access_token"].as_str().unwrap();
    assert_eq!(
        api.send(Method::DELETE, "/auth/mfa/totp", None, Some(mfa_access))
            .await
            .0,
        204
    );
    // Logout revokes the family.
    assert_eq!(
        api.post(
            "/auth/logout",
            json!({"refresh_token": r2["refresh_token"]}),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.post(
            "/auth/refresh",
            json!({"refresh_token": r2["refresh_token"]}),
            None
        )
        .await
        .0,
        401
    );
    // Logout of every family with a bearer.
    let (_, a) = api.login(&tenant, "alice", PASSWORD).await;
    let (_, b2) = api.login(&tenant, "alice", PASSWORD).await;
    assert_eq!(
        api.post("/auth/logout", json!({"all": true}), None).await.0,
        401
    );
    assert_eq!(
        api.post(
            "/auth/logout",
            json!({"all": true}),
            a["access_token"].as_str()
        )
        .await
        .0,
        204
    );
    for s in [a, b2] {
        assert_eq!(
            api.post(
                "/auth/refresh",
                json!({"refresh_token": s["refresh_token"]}),
                None
            )
            .await
            .0,
            401
        );
    }
    // Password change: the old one stops working.
    let (_, a) = api.login(&tenant, "alice", PASSWORD).await;
    let bearer = a["access_token"].as_str();
    assert_eq!(
        api.post(
            "/auth/password/change",
            json!({"current_password": "not it at all", "new_password": "a brand new password"}),
            bearer
        )
        .await
        .0,
        401
    );
    assert_eq!(
        api.post(
            "/auth/password/change",
            json!({"current_password": PASSWORD, "new_password": "short"}),
            bearer
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.post(
            "/auth/password/change",
            json!({"current_password": PASSWORD, "new_password": "a brand new password"}),
            bearer
        )
        .await
        .0,
        204
    );
    assert_eq!(api.login(&tenant, "alice", PASSWORD).await.0, 401);
    assert_eq!(
        api.login(&tenant, "alice", "a brand new password").await.0,
        200
    );
}

#[tokio::test]
async fn login_mfa_refresh_and_logout_work_end_to_end_on_sqlite() {
    mfa_refresh_logout_flow(&start().await).await;
}

#[tokio::test]
#[ignore = "needs postgres: scripts/test"]
async fn login_mfa_refresh_and_logout_work_end_to_end_on_postgres() {
    let url = iam_testkit::services::postgres_url();
    mfa_refresh_logout_flow(&start_with(|c| c.database_url = url).await).await;
}

#[tokio::test]
#[ignore = "needs mariadb: scripts/test"]
async fn login_mfa_refresh_and_logout_work_end_to_end_on_mariadb() {
    let url = iam_testkit::services::mysql_url();
    mfa_refresh_logout_flow(&start_with(|c| c.database_url = url).await).await;
}

#[tokio::test]
#[ignore = "needs postgres and redis: scripts/test"]
async fn login_mfa_refresh_and_logout_work_end_to_end_on_postgres_with_redis() {
    let (url, redis) = (
        iam_testkit::services::postgres_url(),
        iam_testkit::services::redis_url(),
    );
    mfa_refresh_logout_flow(
        &start_with(|c| {
            c.database_url = url;
            c.redis_url = Some(redis)
        })
        .await,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs mariadb and redis: scripts/test"]
async fn login_mfa_refresh_and_logout_work_end_to_end_on_mariadb_with_redis() {
    let (url, redis) = (
        iam_testkit::services::mysql_url(),
        iam_testkit::services::redis_url(),
    );
    mfa_refresh_logout_flow(
        &start_with(|c| {
            c.database_url = url;
            c.redis_url = Some(redis)
        })
        .await,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs redis: scripts/test"]
async fn login_mfa_refresh_and_logout_work_end_to_end_on_sqlite_with_redis() {
    let redis = iam_testkit::services::redis_url();
    mfa_refresh_logout_flow(&start_with(|c| c.redis_url = Some(redis)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_refreshes_get_the_same_pair_and_a_later_reuse_revokes_the_family() {
    let api = start_with(|c| c.refresh_grace = std::time::Duration::from_secs(1)).await;
    let admin = api.admin_token().await;
    api.tenant_with_user(&admin, "acme").await;
    let (_, s) = api.login("acme", "alice", PASSWORD).await;
    let body = json!({"refresh_token": s["refresh_token"]});
    let (a, b) = tokio::join!(
        api.post("/auth/refresh", body.clone(), None),
        api.post("/auth/refresh", body.clone(), None)
    );
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    assert_eq!(a.1, b.1, "the same pair");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s3, e) = api.post("/auth/refresh", body, None).await;
    assert_eq!((s3, e["error"].as_str()), (401, Some("invalid_grant")));
    // The child is revoked too.
    assert_eq!(
        api.post(
            "/auth/refresh",
            json!({"refresh_token": a.1["refresh_token"]}),
            None
        )
        .await
        .0,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_redeemed_twice_at_once_succeeds_once() {
    let api = start().await;
    let admin = api.admin_token().await;
    api.tenant_with_user(&admin, "acme").await;
    let (_, s) = api.login("acme", "alice", PASSWORD).await;
    let bearer = s["access_token"].as_str();
    let (_, e) = api.post("/auth/mfa/totp/enroll", json!({}), bearer).await;
    let (_, r) = api
        .post(
            "/auth/mfa/totp/confirm",
            json!({"code": totp_code(e["secret"].as_str().unwrap(), 0)}),
            bearer,
        )
        .await;
    let code = r["recovery_codes"][3].clone();
    let (_, m1) = api.login("acme", "alice", PASSWORD).await;
    let (_, m2) = api.login("acme", "alice", PASSWORD).await;
    let (a, b) = tokio::join!(
        api.post(
            "/auth/mfa/verify",
            json!({"mfa_token": m1["mfa_token"], "recovery_code": code}),
            None
        ),
        api.post(
            "/auth/mfa/verify",
            json!({"mfa_token": m2["mfa_token"], "recovery_code": code}),
            None
        )
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 401]);
}

#[tokio::test]
async fn the_ip_limiter_answers_429_and_believes_x_forwarded_for_only_from_trusted_proxies() {
    let api = start_with(|c| c.ip_attempts_per_minute = 3).await;
    for _ in 0..3 {
        assert_eq!(api.login("default", "x", "some password here").await.0, 401);
    }
    let res = api
        .http
        .post(format!("{}/auth/login", api.base))
        .json(&json!({"tenant": "default", "username": "x", "password": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    // A spoofed X-Forwarded-For from an untrusted peer changes nothing.
    let res = api
        .http
        .post(format!("{}/auth/refresh", api.base))
        .header("x-forwarded-for", "10.9.9.9")
        .json(&json!({"refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);

    let trusted = start_with(|c| {
        c.ip_attempts_per_minute = 1;
        c.trusted_proxies = iam_service::client_ip::TrustedProxies::parse("127.0.0.1/32").unwrap();
    })
    .await;
    for ip in ["10.0.0.1", "10.0.0.2"] {
        let res = trusted
            .http
            .post(format!("{}/auth/refresh", trusted.base))
            .header("x-forwarded-for", ip)
            .json(&json!({"refresh_token": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{ip} has its own budget");
    }
    let res = trusted
        .http
        .post(format!("{}/auth/refresh", trusted.base))
        .header("x-forwarded-for", "10.0.0.1")
        .json(&json!({"refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_with_429() {
    let api = start().await;
    let admin = api.admin_token().await;
    api.tenant_with_user(&admin, "acme").await;
    for _ in 0..6 {
        assert_eq!(api.login("acme", "alice", "wrong wrong wrong").await.0, 401);
    }
    let res = api
        .http
        .post(format!("{}/auth/login", api.base))
        .json(&json!({"tenant": "acme", "username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn discovery_jwks_openapi_and_health_are_served() {
    let api = start().await;
    let (s, d) = api
        .send(Method::GET, "/.well-known/openid-configuration", None, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(d["issuer"], api.base.as_str());
    assert_eq!(d["jwks_uri"], format!("{}/.well-known/jwks.json", api.base));
    let res = api
        .http
        .get(format!("{}/.well-known/jwks.json", api.base))
        .send()
        .await
        .unwrap();
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    let jwks: Value = res.json().await.unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none()),
        "no private part"
    );
    let (s, o) = api.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, 200);
    for p in [
        "/auth/login",
        "/auth/mfa/verify",
        "/auth/refresh",
        "/auth/logout",
        "/admin/tenants/{tenant}/users",
    ] {
        assert!(o["paths"].get(p).is_some(), "{p}");
    }
    assert_eq!(
        api.send(Method::GET, "/health/ready", None, None).await.0,
        200
    );
    assert_eq!(
        api.send(Method::GET, "/health/alive", None, None).await.0,
        200
    );
}

#[tokio::test]
async fn admin_routes_refuse_missing_foreign_and_non_admin_tokens() {
    let api = start().await;
    let admin = api.admin_token().await;
    api.tenant_with_user(&admin, "acme").await;
    assert_eq!(
        api.send(Method::GET, "/admin/tenants/acme/users", None, None)
            .await
            .0,
        401
    );
    assert_eq!(
        api.send(
            Method::GET,
            "/admin/tenants/acme/users",
            None,
            Some("not.a.token")
        )
        .await
        .0,
        401
    );
    let (_, alice) = api.login("acme", "alice", PASSWORD).await;
    assert_eq!(
        api.send(
            Method::GET,
            "/admin/tenants/acme/users",
            None,
            alice["access_token"].as_str()
        )
        .await
        .0,
        403
    );
    // Pagination with a cursor.
    for i in 0..4 {
        api.user(&admin, "acme", &format!("user{i}")).await;
    }
    let (_, p1) = api
        .send(
            Method::GET,
            "/admin/tenants/acme/users?limit=3",
            None,
            Some(&admin),
        )
        .await;
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = api
        .send(
            Method::GET,
            &format!("/admin/tenants/acme/users?limit=3&cursor={cursor}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(
        p1["users"].as_array().unwrap().len() + p2["users"].as_array().unwrap().len(),
        5
    );
    assert!(p2["next_cursor"].is_null());
}

/// Every admin route, as a tenant admin of `other` against `acme` (403), and with acme's ids
/// under its own tenant path (404): a tenant admin never sees or changes another tenant.
#[tokio::test]
async fn a_tenant_admin_never_sees_or_changes_another_tenants_data_on_any_admin_route() {
    let api = start().await;
    let root = api.admin_token().await;
    let alice = api.tenant_with_user(&root, "acme").await;
    let (_, g) = api
        .post(
            "/admin/tenants/acme/groups",
            json!({"name": "staff"}),
            Some(&root),
        )
        .await;
    let (_, r) = api
        .post(
            "/admin/tenants/acme/roles",
            json!({"name": "reader", "permissions": ["docs:read"]}),
            Some(&root),
        )
        .await;
    let (group, role) = (
        g["id"].as_str().unwrap().to_owned(),
        r["id"].as_str().unwrap().to_owned(),
    );
    // A tenant admin of `other`.
    let carol = api.tenant_with_user(&root, "other").await;
    let (_, ar) = api
        .post(
            "/admin/tenants/other/roles",
            json!({"name": "admin", "permissions": ["iam:admin"]}),
            Some(&root),
        )
        .await;
    let (s, _) = api
        .send(
            Method::PUT,
            &format!(
                "/admin/tenants/other/users/{carol}/roles/{}",
                ar["id"].as_str().unwrap()
            ),
            None,
            Some(&root),
        )
        .await;
    assert_eq!(s, 204);
    let (_, c) = api.login("other", "alice", PASSWORD).await;
    let other_admin = c["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&other_admin)["permissions"], json!(["iam:admin"]));
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/admin/tenants/{t}".into(), None),
        (
            Method::POST,
            "/admin/tenants/{t}/suspend".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/admin/tenants/{t}/resume".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/admin/tenants/{t}/users".into(),
            Some(json!({"username": "mallory", "password": PASSWORD})),
        ),
        (Method::GET, "/admin/tenants/{t}/users".into(), None),
        (
            Method::GET,
            format!("/admin/tenants/{{t}}/users/{alice}"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/tenants/{{t}}/users/{alice}/disable"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/tenants/{{t}}/users/{alice}/enable"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/tenants/{{t}}/users/{alice}/mfa/reset"),
            Some(json!({})),
        ),
        (
            Method::PUT,
            format!("/admin/tenants/{{t}}/users/{alice}/password"),
            Some(json!({"password": "owned by mallory!"})),
        ),
        (
            Method::GET,
            format!("/admin/tenants/{{t}}/users/{alice}/permissions"),
            None,
        ),
        (
            Method::PUT,
            format!("/admin/tenants/{{t}}/users/{alice}/roles/{role}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/admin/tenants/{{t}}/users/{alice}/roles/{role}"),
            None,
        ),
        (
            Method::POST,
            "/admin/tenants/{t}/groups".into(),
            Some(json!({"name": "evil"})),
        ),
        (Method::GET, "/admin/tenants/{t}/groups".into(), None),
        (
            Method::GET,
            format!("/admin/tenants/{{t}}/groups/{group}/members"),
            None,
        ),
        (
            Method::PUT,
            format!("/admin/tenants/{{t}}/groups/{group}/members/{alice}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/admin/tenants/{{t}}/groups/{group}/members/{alice}"),
            None,
        ),
        (
            Method::PUT,
            format!("/admin/tenants/{{t}}/groups/{group}/roles/{role}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/admin/tenants/{{t}}/groups/{group}/roles/{role}"),
            None,
        ),
        (
            Method::POST,
            "/admin/tenants/{t}/roles".into(),
            Some(json!({"name": "evil", "permissions": []})),
        ),
        (Method::GET, "/admin/tenants/{t}/roles".into(), None),
        (
            Method::GET,
            format!("/admin/tenants/{{t}}/roles/{role}"),
            None,
        ),
        (
            Method::PUT,
            format!("/admin/tenants/{{t}}/roles/{role}/permissions"),
            Some(json!({"permissions": ["*"]})),
        ),
        (
            Method::DELETE,
            format!("/admin/tenants/{{t}}/roles/{role}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/admin/tenants/{{t}}/groups/{group}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/admin/tenants/{{t}}/users/{alice}"),
            None,
        ),
    ];
    for (method, path, body) in &routes {
        let (s, b) = api
            .send(
                method.clone(),
                &path.replace("{t}", "acme"),
                body.clone(),
                Some(&other_admin),
            )
            .await;
        assert_eq!(s, 403, "{method} {path}: {b}");
    }
    // acme's ids under the admin's own tenant: nothing is found (routes naming an acme id),
    // and nothing of acme changed.
    for (method, path, body) in &routes {
        if !(path.contains(&alice) || path.contains(&group) || path.contains(&role)) {
            continue;
        }
        let (s, b) = api
            .send(
                method.clone(),
                &path.replace("{t}", "other"),
                body.clone(),
                Some(&other_admin),
            )
            .await;
        assert_eq!(s, 404, "{method} {path}: {b}");
    }
    // Platform-only routes.
    assert_eq!(
        api.post(
            "/admin/tenants",
            json!({"id": "x", "display_name": "x"}),
            Some(&other_admin)
        )
        .await
        .0,
        403
    );
    assert_eq!(
        api.send(Method::GET, "/admin/tenants", None, Some(&other_admin))
            .await
            .0,
        403
    );
    let (s, _) = api
        .send(
            Method::POST,
            "/admin/tenants/other/suspend",
            Some(json!({})),
            Some(&other_admin),
        )
        .await;
    assert_eq!(s, 403, "a tenant admin cannot suspend even its own tenant");
    // acme is intact: alice still logs in with her password and her data is there.
    assert_eq!(api.login("acme", "alice", PASSWORD).await.0, 200);
    let (s, roles) = api
        .send(Method::GET, "/admin/tenants/acme/roles", None, Some(&root))
        .await;
    assert_eq!((s, roles.as_array().unwrap().len()), (200, 1));
    assert_eq!(roles[0]["permissions"], json!(["docs:read"]));
    // The admin of `other` manages its own tenant.
    assert_eq!(
        api.send(
            Method::GET,
            "/admin/tenants/other/users",
            None,
            Some(&other_admin)
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn effective_permissions_come_from_user_and_group_roles_and_reach_the_token() {
    let api = start().await;
    let root = api.admin_token().await;
    let alice = api.tenant_with_user(&root, "acme").await;
    let (_, g) = api
        .post(
            "/admin/tenants/acme/groups",
            json!({"name": "editors"}),
            Some(&root),
        )
        .await;
    let (_, r1) = api
        .post(
            "/admin/tenants/acme/roles",
            json!({"name": "reader", "permissions": ["docs:read"]}),
            Some(&root),
        )
        .await;
    let (_, r2) = api
        .post(
            "/admin/tenants/acme/roles",
            json!({"name": "writer", "permissions": ["docs:write", "docs:read"]}),
            Some(&root),
        )
        .await;
    let (g, r1, r2) = (
        g["id"].as_str().unwrap(),
        r1["id"].as_str().unwrap(),
        r2["id"].as_str().unwrap(),
    );
    assert_eq!(
        api.send(
            Method::PUT,
            &format!("/admin/tenants/acme/users/{alice}/roles/{r1}"),
            None,
            Some(&root)
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.send(
            Method::PUT,
            &format!("/admin/tenants/acme/groups/{g}/members/{alice}"),
            None,
            Some(&root)
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.send(
            Method::PUT,
            &format!("/admin/tenants/acme/groups/{g}/roles/{r2}"),
            None,
            Some(&root)
        )
        .await
        .0,
        204
    );
    let (_, p) = api
        .send(
            Method::GET,
            &format!("/admin/tenants/acme/users/{alice}/permissions"),
            None,
            Some(&root),
        )
        .await;
    assert_eq!(
        p,
        json!({"roles": ["reader", "writer"], "permissions": ["docs:read", "docs:write"]})
    );
    let (_, s) = api.login("acme", "alice", PASSWORD).await;
    let c = claims(s["access_token"].as_str().unwrap());
    assert_eq!(
        (c["roles"].clone(), c["permissions"].clone()),
        (
            json!(["reader", "writer"]),
            json!(["docs:read", "docs:write"])
        )
    );
    // Bootstrap is idempotent: the admin has iam:admin once.
    assert_eq!(claims(&root)["permissions"], json!(["iam:admin"]));
    assert_eq!(claims(&root)["tenant"], "default");
    iam_api::bootstrap::admin(
        &api.state,
        ADMIN_EMAIL,
        &iam_core::Secret::new("ignored for an existing user".into()),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        api.login("default", ADMIN_EMAIL, common::ADMIN_PASSWORD)
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_iam_api_is_accepted_by_the_sample_app_through_discovery() {
    use axum::routing::get;
    use iam_axum::{Auth, IamLayer};
    let api = start().await;
    let root = api.admin_token().await;
    api.tenant_with_user(&root, "acme").await;
    let (_, r) = api
        .post(
            "/admin/tenants/acme/roles",
            json!({"name": "viewer", "permissions": ["orders:read"]}),
            Some(&root),
        )
        .await;
    let alice = api
        .state
        .identity
        .repositories()
        .users
        .user_by_login("acme", "alice")
        .await
        .unwrap()
        .unwrap();
    api.send(
        Method::PUT,
        &format!(
            "/admin/tenants/acme/users/{}/roles/{}",
            alice.id,
            r["id"].as_str().unwrap()
        ),
        None,
        Some(&root),
    )
    .await;
    // The sample app, configured as IAM_ISSUER=<iam-api> IAM_AUDIENCE=iam-api would be.
    let config = sample_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: None,
        jwt: Some(iam_client::JwtConfig::new(api.base.clone()).audience("iam-api")),
        kratos_public_url: None,
        credentials: None,
        transport: iam_client::TransportPolicy::new(),
        trusted_proxies: Default::default(),
    };
    let (chain, _keys) = config.chain().unwrap();
    let app = axum::Router::new()
        .route(
            "/me",
            get(|Auth(p): Auth| async move {
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    sample_app::me_body(&p),
                )
            }),
        )
        .layer(IamLayer::required(chain));
    let sample = iam_testkit::app::serve(app).await;
    let (_, s) = api.login("acme", "alice", PASSWORD).await;
    let token = s["access_token"].as_str().unwrap();
    let res = api
        .http
        .get(format!("{sample}/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["subject"], alice.id.as_str());
    assert_eq!(me["tenant"], "acme");
    assert_eq!(me["roles"], json!(["viewer"]));
    assert_eq!(me["permissions"], json!(["orders:read"]));
    // After a key rotation (the next key, published ahead, starts signing) both the token
    // signed before and the one signed after validate.
    let before = api.state.issuer.key_ring().signing_kid();
    api.state.issuer.key_ring().rotate_now().await.unwrap();
    assert_ne!(api.state.issuer.key_ring().signing_kid(), before);
    let (_, s2) = api.login("acme", "alice", PASSWORD).await;
    let after = s2["access_token"].as_str().unwrap();
    for (name, t) in [("before", token), ("after", after)] {
        let res = api
            .http
            .get(format!("{sample}/me"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "token signed {name} the rotation");
    }
    // A tampered token is refused.
    let mut bad = token.to_owned();
    bad.pop();
    let res = api
        .http
        .get(format!("{sample}/me"))
        .bearer_auth(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
