//! Hydra's token hook (`POST /hydra/token-hook`, issue 15): the claims the IAM API put into
//! Hydra's tokens follow the account at every refresh. Against the real Ory Hydra v2.3.0
//! (configured by environment as the README shows), and the hook's hostile inputs in process.
mod common;
mod hydra_stack;

use common::{claims, start_with, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD};
use hydra_stack::{
    form_safe, headless_client, hook_secret, hydra_and_api, query_param, redirect_of, stack,
    Browser, Stack, HOOK_SECRET, REDIRECT,
};
use iam_api::config::TokenBackend;
use iam_api::hydra_provider::token_hook::{HOOK_SECRET_HEADER, MAX_HOOK_BODY};
use iam_api::hydra_provider::HydraSettings;
use iam_client::hydra::{HydraAdmin, OAuth2Client};
use iam_client::HttpClient;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The suite's middleware pointed at Hydra by discovery, in a service that shows the
/// principal it sees.
async fn service_of(s: &Stack, audience: &str) -> String {
    let chain = iam_client::JwtConfig::new(s.hydra.issuer())
        .audience(audience)
        .chain()
        .unwrap();
    let service = axum::Router::new()
        .route(
            "/me",
            axum::routing::get(|iam_axum::Auth(p): iam_axum::Auth| async move {
                axum::Json(json!({
                    "tenant": p.tenant(),
                    "roles": p.roles(),
                    "may_read": p.permissions().grants("docs:read"),
                }))
            }),
        )
        .layer(iam_axum::IamLayer::required(chain));
    iam_testkit::app::serve(service).await
}

async fn me(service: &str, token: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{service}/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn refresh(s: &Stack, token: &str) -> (u16, Value) {
    s.api
        .post("/auth/refresh", json!({"refresh_token": token}), None)
        .await
}

fn tokens(status: u16, body: &Value) -> (String, String) {
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// Hydra's introspection of `token` (admin API).
async fn introspect(s: &Stack, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/admin/oauth2/introspect", s.hydra.admin_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", form_safe(token)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The `reader` role's id in tenant `acme`.
async fn reader_role(s: &Stack, root: &str) -> String {
    let (status, roles) = s
        .api
        .send(Method::GET, "/admin/tenants/acme/roles", None, Some(root))
        .await;
    assert_eq!(status, 200, "{roles}");
    let list = roles.as_array().or(roles["items"].as_array()).unwrap();
    list.iter()
        .find(|r| r["name"] == "reader")
        .and_then(|r| r["id"].as_str())
        .unwrap()
        .to_owned()
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn a_removed_role_is_gone_at_the_next_headless_refresh_and_a_disabled_user_is_invalid_grant()
{
    let s = stack().await;
    let service = service_of(&s, "iam-api").await;
    let (status, body) = s.api.login("acme", "alice", PASSWORD).await;
    let (access, refresh_token) = tokens(status, &body);
    let before = claims(&access)["ext"].clone();
    assert_eq!(
        me(&service, &access).await,
        json!({"tenant": "acme", "roles": ["reader"], "may_read": true})
    );

    let root = s.api.admin_token().await;
    let role = reader_role(&s, &root).await;
    let path = format!("/admin/tenants/acme/users/{}/roles/{role}", s.alice);
    let (status, _) = s.api.send(Method::DELETE, &path, None, Some(&root)).await;
    assert_eq!(status, 204);

    let (status, body) = refresh(&s, &refresh_token).await;
    let (access, refresh_token) = tokens(status, &body);
    assert_eq!(
        me(&service, &access).await,
        json!({"tenant": "acme", "roles": [], "may_read": false})
    );
    // Every other claim of `ext` is kept as consent put it.
    let after = claims(&access)["ext"].clone();
    let mut expected = before.as_object().unwrap().clone();
    expected.insert("roles".into(), json!([]));
    expected.insert("permissions".into(), json!([]));
    assert_eq!(after, Value::Object(expected));

    // Disabled behind the admin API's back (another instance, a script): the refresh token
    // is still live at Hydra, and the hook refuses it.
    let users = &s.api.state.identity.repositories().users;
    assert!(users
        .set_user_disabled("acme", &s.alice, true)
        .await
        .unwrap());
    let (status, body) = refresh(&s, &refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_grant")),
        "{body}"
    );

    // Through the admin API: the user's sessions at Hydra end at once as well.
    assert!(users
        .set_user_disabled("acme", &s.alice, false)
        .await
        .unwrap());
    let (status, body) = s.api.login("acme", "alice", PASSWORD).await;
    let (access, refresh_token) = tokens(status, &body);
    assert_eq!(introspect(&s, &access).await["active"], true);
    let path = format!("/admin/tenants/acme/users/{}/disable", s.alice);
    let (status, _) = s.api.send(Method::POST, &path, None, Some(&root)).await;
    assert_eq!(status, 204);
    // The chain's access token is revoked at Hydra at once (introspection).
    assert_eq!(introspect(&s, &access).await["active"], false);
    let (status, body) = refresh(&s, &refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_grant")),
        "{body}"
    );
}

/// A browser-style login of the third-party client `shop`: its tokens.
async fn browser_login(s: &Stack) -> (String, String) {
    let shop = s.client("shop").await;
    let mut browser = Browser::new();
    let (challenge, pending) = s
        .authorize(&mut browser, &shop, &["openid", "offline_access"])
        .await;
    let (status, body) = s.password(&challenge, PASSWORD, false).await;
    let to_consent = browser.visit(&redirect_of(status, &body)).await;
    let consent = query_param(&to_consent, "consent_challenge").unwrap();
    let (status, body) = s
        .api
        .post(
            "/auth/consent",
            json!({"consent_challenge": consent, "approve": true}),
            None,
        )
        .await;
    let callback = browser.visit(&redirect_of(status, &body)).await;
    assert!(callback.starts_with(REDIRECT), "{callback}");
    let outcome = shop
        .complete(
            pending,
            &query_param(&callback, "code").unwrap(),
            &query_param(&callback, "state").unwrap(),
        )
        .await
        .unwrap();
    // The ID token's claims went through the hook too (acr, amr kept; roles current).
    let id = claims(outcome.id_token.secret());
    assert_eq!(
        (&id["acr"], &id["amr"], &id["roles"]),
        (&json!("pwd"), &json!(["pwd"]), &json!(["reader"]))
    );
    (
        outcome.tokens.access_token.secret().to_owned(),
        outcome.tokens.refresh_token.unwrap().secret().to_owned(),
    )
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn a_browser_client_refreshing_at_hydra_gets_current_claims_then_access_denied() {
    let s = stack().await;
    let (_, first) = browser_login(&s).await;
    let root = s.api.admin_token().await;
    let path = format!(
        "/admin/tenants/acme/roles/{}/permissions",
        reader_role(&s, &root).await
    );
    let (status, body) = s
        .api
        .send(
            Method::PUT,
            &path,
            Some(json!({"permissions": ["docs:list"]})),
            Some(&root),
        )
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        form_safe(&first)
    );
    let (status, rotated) = s.token_call(&form).await;
    assert_eq!(status, 200, "{rotated}");
    let at = claims(rotated["access_token"].as_str().unwrap());
    assert_eq!(at["ext"]["permissions"], json!(["docs:list"]));
    assert_eq!(at["ext"]["tenant"], "acme");

    // The tenant is suspended (no session is ended for that): Hydra's own answer to the
    // client is the hook's refusal.
    let (status, _) = s
        .api
        .send(
            Method::POST,
            "/admin/tenants/acme/suspend",
            None,
            Some(&root),
        )
        .await;
    assert!((200..300).contains(&status), "{status}");
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        form_safe(rotated["refresh_token"].as_str().unwrap())
    );
    let (status, refused) = s.token_call(&form).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("access_denied")),
        "{refused}"
    );
    assert!(refused.get("access_token").is_none());
}

async fn client_credentials(hydra: &iam_testkit::peers::hydra::Hydra) -> (u16, Value) {
    let admin = HydraAdmin::new(hydra.admin_url(), HttpClient::new().unwrap()).unwrap();
    admin
        .create_client(&OAuth2Client::service("batch", "reports").secret("batch-secret-0123456789"))
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/oauth2/token", hydra.public_url()))
        .basic_auth("batch", Some("batch-secret-0123456789"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=reports")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn a_client_credentials_token_still_issues_through_the_hook() {
    let s = stack().await;
    let (status, body) = client_credentials(&s.hydra).await;
    assert_eq!(status, 200, "{body}");
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], "batch");
    assert!(at["ext"].get("tenant").is_none(), "{at}");
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn with_a_wrong_hook_secret_at_hydra_no_token_is_issued() {
    let (hydra, api) = hydra_and_api("not-the-hook-secret-0123456789").await;
    let (status, body) = api.login("default", ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_ne!(status, 200, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    // Not even for a client the hook would leave alone: the hook is never skipped.
    let (status, body) = client_credentials(&hydra).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
}

/// The IAM API in `hydra` mode with Hydra away: the hook needs only the storage.
async fn api_without_hydra() -> common::Api {
    let port = iam_testkit::scratch::free_port();
    let settings = HydraSettings {
        admin_url: format!("http://127.0.0.1:{port}"),
        public_url: format!("http://127.0.0.1:{port}"),
        remember_for: Duration::from_secs(60),
        headless: headless_client(&format!("http://127.0.0.1:{port}/")),
        token_hook_secret: hook_secret(),
    };
    start_with(|c| c.token_backend = TokenBackend::Hydra(settings)).await
}

async fn hook(api: &common::Api, secret: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = api
        .http
        .post(format!("{}/hydra/token-hook", api.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = secret {
        req = req.header(HOOK_SECRET_HEADER, s);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn hook_body(tenant: &str, subject: &str) -> Value {
    json!({"session": {
        "id_token": {"id_token_claims": {"sub": subject, "acr": "pwd",
                                         "ext": {"tenant": tenant, "roles": ["stale"], "email": "a@b.example"}},
                     "subject": subject, "username": "", "headers": {"extra": {}}},
        "extra": {"tenant": tenant, "roles": ["stale"], "permissions": ["stale:x"], "acr": "pwd"},
        "client_id": "shop", "kid": "", "consent_challenge": "c"},
        "request": {"client_id": "shop", "requested_scopes": [], "granted_scopes": ["openid"],
                    "granted_audience": [], "grant_types": ["refresh_token"],
                    "payload": {"refresh_token": ["ory_rt_secret"]}}})
}

#[tokio::test]
async fn the_token_hook_answers_an_active_user_with_current_claims_and_refuses_the_rest() {
    let api = api_without_hydra().await;
    let users = &api.state.identity.repositories().users;
    let admin = users
        .user_by_login("default", ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let body = |t: &str, u: &str| hook_body(t, u).to_string().into_bytes();

    let (status, answer) = hook(&api, Some(HOOK_SECRET), body("default", &admin.id)).await;
    assert_eq!(status, 200, "{answer}");
    let access = &answer["session"]["access_token"];
    assert_eq!(access["tenant"], "default");
    assert_eq!(access["acr"], "pwd");
    assert_ne!(access["roles"], json!(["stale"]));
    assert!(access["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("iam:admin")));
    let id = &answer["session"]["id_token"];
    assert_eq!(id["email"], "a@b.example");
    assert_eq!(id["roles"], access["roles"]);

    // Unknown user, unknown tenant, disabled user: 403 (Hydra: access_denied).
    for b in [body("default", "nobody"), body("elsewhere", &admin.id)] {
        let (status, answer) = hook(&api, Some(HOOK_SECRET), b).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (403, Some("access_denied"))
        );
    }
    users
        .set_user_disabled("default", &admin.id, true)
        .await
        .unwrap();
    let (status, _) = hook(&api, Some(HOOK_SECRET), body("default", &admin.id)).await;
    assert_eq!(status, 403);

    // A session without this API's tenant (client_credentials, another provider): 204.
    let other = json!({"session": {"extra": {}, "id_token": null}, "request": {}});
    let (status, _) = hook(&api, Some(HOOK_SECRET), other.to_string().into_bytes()).await;
    assert_eq!(status, 204);

    // Storage down: 503 (Hydra refuses the token), never the session back.
    users
        .set_user_disabled("default", &admin.id, false)
        .await
        .unwrap();
    api.state.database.close().await;
    let (status, answer) = hook(&api, Some(HOOK_SECRET), body("default", &admin.id)).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer.get("session").is_none());
}

#[tokio::test]
async fn the_token_hook_never_answers_200_to_a_hostile_or_unauthenticated_call() {
    let api = api_without_hydra().await;
    let admin = api
        .state
        .identity
        .repositories()
        .users
        .user_by_login("default", ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let good = hook_body("default", &admin.id).to_string().into_bytes();
    // No secret, a wrong one, one that is a prefix or extension of the right one: 401.
    let longer = format!("{HOOK_SECRET}x");
    for secret in [None, Some("wrong"), Some(&HOOK_SECRET[..20]), Some(&longer)] {
        let (status, answer) = hook(&api, secret, good.clone()).await;
        assert_eq!(status, 401, "{secret:?}");
        assert!(answer.get("session").is_none());
    }
    // Oversized: 413 without reading it all.
    let mut big = good.clone();
    big.resize(MAX_HOOK_BODY + 1, b' ');
    let (status, _) = hook(&api, Some(HOOK_SECRET), big).await;
    assert_eq!(status, 413);
    // Malformed JSON and missing or mistyped fields: 400.
    for bad in [
        b"".to_vec(),
        b"{\"session\":".to_vec(),
        b"[1,2]".to_vec(),
        json!({"request": {}}).to_string().into_bytes(),
        json!({"session": {"extra": {"tenant": "default"}}})
            .to_string()
            .into_bytes(),
        json!({"session": {"extra": {"tenant": ["default"]}, "id_token": {"subject": admin.id}}})
            .to_string()
            .into_bytes(),
        json!({"session": {"extra": "tenant=default", "id_token": {"subject": admin.id}}})
            .to_string()
            .into_bytes(),
    ] {
        let (status, answer) = hook(&api, Some(HOOK_SECRET), bad.clone()).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(&bad));
        assert!(answer.get("session").is_none());
    }
}
