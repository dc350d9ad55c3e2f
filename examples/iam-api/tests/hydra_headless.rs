//! The headless login of `IAM_API_TOKEN_BACKEND=hydra` against the real Ory Hydra v2.3.0:
//! `POST /auth/login` without a challenge runs the authorization-code + PKCE flow at Hydra
//! server-side and answers Hydra's tokens; the MFA step; refresh and logout through Hydra's
//! token and revocation endpoints; the limiter; concurrent logins; Hydra going away.
mod common;
mod hydra_stack;

use common::{claims, totp_code, PASSWORD};
use hydra_stack::{stack, Stack};
use reqwest::Method;
use serde_json::{json, Value};

/// The suite's middleware pointed at Hydra by discovery, in a service that shows the
/// principal it sees.
async fn service_of(s: &Stack) -> String {
    let chain = iam_client::JwtConfig::new(s.hydra.issuer())
        .audience("iam-api")
        .chain()
        .unwrap();
    let service = axum::Router::new()
        .route(
            "/me",
            axum::routing::get(|iam_axum::Auth(p): iam_axum::Auth| async move {
                axum::Json(json!({
                    "sub": p.subject(),
                    "tenant": p.tenant(),
                    "roles": p.roles(),
                    "may_read": p.permissions().grants("docs:read"),
                }))
            }),
        )
        .layer(iam_axum::IamLayer::required(chain));
    iam_testkit::app::serve(service).await
}

async fn me(service: &str, token: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .get(format!("{service}/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A token answer in `self` mode's shape, from Hydra, without a trace of Hydra in clear.
fn tokens_of(s: &Stack, status: u16, body: &Value) -> (String, String) {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0, "{body}");
    assert!(body.get("redirect_to").is_none(), "{body}");
    assert!(!body.to_string().contains(s.hydra.public_url()), "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&access)["iss"], s.hydra.issuer());
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh.starts_with("ory_rt_"), "a Hydra refresh token");
    (access, refresh)
}

async fn refresh(s: &Stack, token: &str) -> (u16, Value) {
    s.api
        .post("/auth/refresh", json!({"refresh_token": token}), None)
        .await
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn a_password_login_without_a_challenge_gets_hydra_tokens_and_refresh_and_logout_go_to_hydra()
{
    let s = stack().await;
    let (status, body) = s.api.login("acme", "alice", PASSWORD).await;
    let (access, first) = tokens_of(&s, status, &body);
    let at = claims(&access);
    assert_eq!(at["sub"], s.alice.as_str());
    assert_eq!(at["aud"], json!(["iam-api"]));
    assert_eq!(at["client_id"], "iam-api");
    assert_eq!(at["ext"]["tenant"], "acme");
    assert_eq!(at["ext"]["roles"], json!(["reader"]));
    assert_eq!(at["ext"]["permissions"], json!(["docs:read"]));
    assert_eq!(at["ext"]["acr"], "pwd");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], s.alice.as_str());
    assert_eq!(id["tenant"], "acme");
    assert_eq!(id["acr"], "pwd");
    assert_eq!(id["amr"], json!(["pwd"]));

    // The suite's middleware (iam-core + RemoteJwks on Hydra's JWKS) maps `ext`.
    let service = service_of(&s).await;
    let (status, shown) = me(&service, &access).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown,
        json!({"sub": s.alice, "tenant": "acme", "roles": ["reader"], "may_read": true})
    );
    // And so do the IAM API's own bearer routes: a TOTP enrolment starts with it.
    let (status, e) = s
        .api
        .post("/auth/mfa/totp/enroll", json!({}), Some(&access))
        .await;
    assert_eq!(status, 200, "{e}");

    // Refresh through the IAM API: a rotated pair from Hydra with the same claims.
    let (status, body) = refresh(&s, &first).await;
    let (again, second) = tokens_of(&s, status, &body);
    assert_ne!(first, second);
    assert_eq!(claims(&again)["ext"]["permissions"], json!(["docs:read"]));
    assert_eq!(me(&service, &again).await.0, 200);
    // A spent refresh token is Hydra's invalid_grant as 401, and Hydra's reuse detection
    // revokes the rotated one too.
    let (status, e) = refresh(&s, &first).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_grant")));
    let (status, e) = refresh(&s, &second).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_grant")));
    // Garbage is refused before Hydra is asked.
    let (status, _) = refresh(&s, "a b").await;
    assert_eq!(status, 400);
    let (status, e) = refresh(&s, "ory_rt_forged").await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_grant")));

    // Logout revokes at Hydra: a later refresh is invalid_grant.
    let (status, body) = s.api.login("acme", "alice", PASSWORD).await;
    let (_, third) = tokens_of(&s, status, &body);
    let (status, e) = s
        .api
        .post("/auth/logout", json!({"refresh_token": third}), None)
        .await;
    assert_eq!(status, 204, "{e}");
    let (status, e) = refresh(&s, &third).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_grant")));
    // Logout everywhere with a bearer token: every token chain of the user at Hydra ends.
    let (status, body) = s.api.login("acme", "alice", PASSWORD).await;
    let (bearer, fourth) = tokens_of(&s, status, &body);
    let (status, e) = s.api.post("/auth/logout", json!({"all": true}), None).await;
    assert_eq!(status, 401, "{e}");
    let (status, e) = s
        .api
        .post("/auth/logout", json!({"all": true}), Some(&bearer))
        .await;
    assert_eq!(status, 204, "{e}");
    let (status, e) = refresh(&s, &fourth).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_grant")));

    // A password change ends the user's token chains at Hydra too.
    let (status, body) = s.api.login("acme", "alice", PASSWORD).await;
    let (bearer, fifth) = tokens_of(&s, status, &body);
    let new_password = "another long enough password";
    let (status, e) = s
        .api
        .post(
            "/auth/password/change",
            json!({"current_password": PASSWORD, "new_password": new_password}),
            Some(&bearer),
        )
        .await;
    assert_eq!(status, 204, "{e}");
    let (status, e) = refresh(&s, &fifth).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_grant")));
    let (status, body) = s.api.login("acme", "alice", new_password).await;
    tokens_of(&s, status, &body);

    // Hydra goes away: 503, never a token.
    let Stack { hydra, api, .. } = s;
    drop(hydra);
    let (status, body) = api.login("acme", "alice", PASSWORD).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.get("access_token").is_none());
    let (status, body) = api
        .post("/auth/refresh", json!({"refresh_token": fourth}), None)
        .await;
    assert_eq!(status, 503, "{body}");
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn with_totp_the_mfa_token_finishes_the_flow_once_and_a_forged_one_gets_nothing() {
    let s = stack().await;
    let (status, body) = s.api.login("acme", "alice", PASSWORD).await;
    let (bearer, _) = tokens_of(&s, status, &body);
    let (_, e) = s
        .api
        .post("/auth/mfa/totp/enroll", json!({}), Some(&bearer))
        .await;
    let secret = e["secret"].as_str().unwrap().to_owned();
    let (status, _) = s
        .api
        .post(
            "/auth/mfa/totp/confirm",
            json!({"code": totp_code(&secret, 0)}),
            Some(&bearer),
        )
        .await;
    assert_eq!(status, 200);

    let (status, m) = s.api.login("acme", "alice", PASSWORD).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["mfa_required"], true);
    assert_eq!(m["methods"], json!(["totp", "recovery_code"]));
    assert!(m.get("access_token").is_none());
    let mfa_token = m["mfa_token"].as_str().unwrap();
    let api = &s.api;
    let verify = |token: &str, code: String| {
        let body = json!({"mfa_token": token, "code": code});
        async move { api.post("/auth/mfa/verify", body, None).await }
    };
    // Forged: nothing waits under it.
    let (status, e) = verify("forged-mfa-token", totp_code(&secret, 30)).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_mfa_token"))
    );
    // A wrong code keeps the flow; the right one finishes it with Hydra's tokens.
    let (status, e) = verify(mfa_token, "000000".into()).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_code")));
    let (status, body) = verify(mfa_token, totp_code(&secret, 30)).await;
    let (access, _) = tokens_of(&s, status, &body);
    assert_eq!(claims(&access)["ext"]["acr"], "mfa");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], "mfa");
    assert_eq!(id["amr"], json!(["pwd", "otp"]));
    // Replayed: the flow is gone (and the MFA token spent).
    let (status, e) = verify(mfa_token, totp_code(&secret, 60)).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_mfa_token"))
    );
    // Malformed: 400.
    let (status, _) = s
        .api
        .post("/auth/mfa/verify", json!({"mfa_token": mfa_token}), None)
        .await;
    assert_eq!(status, 400);

    // Removing TOTP takes a token of an MFA login (Hydra's carries `acr` under `ext`).
    let (status, _) = s
        .api
        .send(Method::DELETE, "/auth/mfa/totp", None, Some(&bearer))
        .await;
    assert_eq!(status, 403);
    let (status, e) = s
        .api
        .send(Method::DELETE, "/auth/mfa/totp", None, Some(&access))
        .await;
    assert_eq!(status, 204, "{e}");
    let (status, body) = s.api.login("acme", "alice", PASSWORD).await;
    tokens_of(&s, status, &body);
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn wrong_passwords_get_invalid_credentials_and_lock_the_account_as_in_self_mode() {
    let s = stack().await;
    let (status, e) = s.api.login("nowhere", "alice", PASSWORD).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let mut locked = false;
    for _ in 0..12 {
        let (status, e) = s.api.login("acme", "alice", "a wrong password!").await;
        match status {
            401 => assert_eq!(e["error"], "invalid_credentials"),
            429 => {
                locked = true;
                break;
            }
            other => panic!("{other}: {e}"),
        }
    }
    assert!(locked, "the account was never locked");
    let (status, e) = s.api.login("acme", "alice", PASSWORD).await;
    assert_eq!(status, 429, "{e}");
    assert!(e.get("access_token").is_none());
    // A malformed body is 400, not a 500.
    let (status, _) = s.api.post("/auth/login", json!({"tenant": 5}), None).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs hydra: scripts/test"]
async fn concurrent_headless_logins_of_different_users_each_get_their_own_tokens() {
    let s = stack().await;
    let root = s.api.admin_token().await;
    let mut users = vec![("alice".to_owned(), s.alice.clone())];
    for name in ["bob", "carol", "dave"] {
        users.push((name.to_owned(), s.api.user(&root, "acme", name).await));
    }
    // Rounds of one login per user at once (Hydra's in-memory store refuses transactions
    // that race each other; the IAM API retries those, but a dozen at once exceed it).
    for _round in 0..3 {
        let mut logins = tokio::task::JoinSet::new();
        for (name, id) in users.iter().cloned() {
            let (http, base) = (s.api.http.clone(), s.api.base.clone());
            logins.spawn(async move {
                let res = http
                    .post(format!("{base}/auth/login"))
                    .json(&json!({"tenant": "acme", "username": name, "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                (id, status, res.json::<Value>().await.unwrap())
            });
        }
        while let Some(answer) = logins.join_next().await {
            let (id, status, body) = answer.unwrap();
            let (access, _) = tokens_of(&s, status, &body);
            assert_eq!(claims(&access)["sub"], id.as_str());
            assert_eq!(
                claims(body["id_token"].as_str().unwrap())["sub"],
                id.as_str()
            );
        }
    }
}
