//! `IAM_API_TOKEN_BACKEND=hydra` against the real Ory Hydra v2.3.0 (started per test by
//! iam-testkit): the authorization-code + PKCE flow of an OAuth2 client driven over HTTP (a
//! plain client follows Hydra's redirects, no browser), the login page's calls going to the
//! IAM API; password only and password + TOTP; the claims in the ID and access tokens;
//! the suite's middleware mapping Hydra's `ext` into the principal; refresh and refresh reuse
//! at Hydra; hostile challenges; a locked account; a disabled account at consent; logout.
mod common;
mod hydra_stack;

use common::{claims, start_with, totp_code, PASSWORD};
use hydra_stack::{
    form_safe, headless_client, hook_secret, query_param, redirect_of, stack, Browser, REDIRECT,
};
use iam_api::config::TokenBackend;
use iam_api::hydra_provider::HydraSettings;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn a_third_party_client_gets_tokens_with_the_users_claims_after_password_and_consent() {
    let s = stack().await;
    let shop = s.client("shop").await;
    let mut browser = Browser::new();
    let (url, pending) = shop.begin(&["openid", "offline_access", "email"]);
    let to_login = browser.visit(&format!("{url}&audience=orders-api")).await;
    let challenge = query_param(&to_login, "login_challenge").unwrap();

    let (status, info) = s
        .get(&format!("/auth/login?login_challenge={challenge}"))
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["skip"], false);
    assert_eq!(info["client_id"], "shop");
    assert!(info["requested_scope"]
        .as_array()
        .unwrap()
        .contains(&json!("offline_access")));

    let (status, body) = s.password(&challenge, PASSWORD, false).await;
    let to_consent = browser.visit(&redirect_of(status, &body)).await;
    // The same challenge again: answered already.
    let (status, replay) = s.password(&challenge, PASSWORD, false).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (410, Some("challenge_used"))
    );

    let consent = query_param(&to_consent, "consent_challenge").unwrap();
    let (status, ask) = s
        .get(&format!("/auth/consent?consent_challenge={consent}"))
        .await;
    assert_eq!(status, 200, "{ask}");
    assert!(
        ask.get("redirect_to").is_none(),
        "a third party is asked: {ask}"
    );
    assert_eq!(ask["client_id"], "shop");
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
    let (status, replay) = s
        .api
        .post(
            "/auth/consent",
            json!({"consent_challenge": consent, "approve": true}),
            None,
        )
        .await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (410, Some("challenge_used"))
    );

    let outcome = shop
        .complete(
            pending,
            &query_param(&callback, "code").unwrap(),
            &query_param(&callback, "state").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.principal.subject(), s.alice);
    // LoginClient's principal carries the suite's top-level ID-token claims.
    assert_eq!(outcome.principal.tenant(), Some("acme"));
    assert_eq!(outcome.principal.roles(), ["reader".to_owned()]);
    assert!(outcome.principal.permissions().grants("docs:read"));
    let id = claims(outcome.id_token.secret());
    assert_eq!(id["tenant"], "acme");
    assert_eq!(id["roles"], json!(["reader"]));
    assert_eq!(id["permissions"], json!(["docs:read"]));
    assert_eq!(id["acr"], "pwd");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["email"], "alice@acme.example");
    assert_eq!(id["email_verified"], false);
    let access = claims(outcome.tokens.access_token.secret());
    assert_eq!(access["sub"], s.alice.as_str());
    assert_eq!(access["ext"]["tenant"], "acme");
    assert_eq!(access["ext"]["roles"], json!(["reader"]));
    assert_eq!(access["ext"]["permissions"], json!(["docs:read"]));
    // The suite's own middleware, pointed at Hydra by discovery, maps `ext` into the
    // principal a service sees.
    let chain = iam_client::JwtConfig::new(s.hydra.issuer())
        .audience("orders-api")
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
    let service = iam_testkit::app::serve(service).await;
    let me: Value = reqwest::Client::new()
        .get(format!("{service}/me"))
        .bearer_auth(outcome.tokens.access_token.secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me,
        json!({"sub": s.alice, "tenant": "acme", "roles": ["reader"], "may_read": true})
    );

    // Refresh goes to Hydra (the IAM API relays no token call): rotation, then reuse is
    // Hydra's own invalid_grant, seen by the client straight from Hydra.
    let first = outcome.tokens.refresh_token.unwrap();
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        form_safe(first.secret())
    );
    let (status, rotated) = s.token_call(&form).await;
    assert_eq!(status, 200, "{rotated}");
    let again = claims(rotated["access_token"].as_str().unwrap());
    assert_eq!(again["ext"]["permissions"], json!(["docs:read"]));
    let (status, reused) = s.token_call(&form).await;
    assert_eq!(status, 400, "{reused}");
    assert_eq!(reused["error"], "invalid_grant");
    // Reuse revoked the chain: the rotated token is dead too.
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        form_safe(rotated["refresh_token"].as_str().unwrap())
    );
    let (status, chain) = s.token_call(&form).await;
    assert_eq!(
        (status, chain["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // A spent authorization code is invalid_grant as well.
    let form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}",
        form_safe(&query_param(&callback, "code").unwrap()),
        "http%3A%2F%2F127.0.0.1%3A9%2Fcallback"
    );
    let (status, spent) = s.token_call(&form).await;
    assert_eq!(
        (status, spent["error"].as_str()),
        (400, Some("invalid_grant")),
        "{spent}"
    );
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn a_user_with_totp_logs_in_through_mfa_and_a_remembered_login_skips_the_form() {
    let s = stack().await;
    // Enrol TOTP with the IAM API's own token (the self-service routes take only those).
    let (_, own) = s.api.login("acme", "alice", PASSWORD).await;
    let bearer = own["access_token"].as_str().unwrap().to_owned();
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

    let console = s.client("console").await;
    let mut browser = Browser::new();
    let (challenge, pending) = s.authorize(&mut browser, &console, &["openid"]).await;
    let (status, m) = s.password(&challenge, PASSWORD, true).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["mfa_required"], true);
    let mfa_token = m["mfa_token"].as_str().unwrap();
    // A wrong code keeps the challenge open; the right one accepts the login.
    let (status, wrong) = s
        .api
        .post(
            "/auth/mfa/verify",
            json!({"login_challenge": challenge, "mfa_token": mfa_token, "code": "000000"}),
            None,
        )
        .await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (401, Some("invalid_code"))
    );
    let (status, body) = s
        .api
        .post(
            "/auth/mfa/verify",
            json!({"login_challenge": challenge, "mfa_token": mfa_token,
                   "code": totp_code(&secret, 30), "remember": true}),
            None,
        )
        .await;
    let to_consent = browser.visit(&redirect_of(status, &body)).await;
    let consent = query_param(&to_consent, "consent_challenge").unwrap();
    // A first-party client (`skip_consent`): decided without a page.
    let (status, decided) = s
        .get(&format!("/auth/consent?consent_challenge={consent}"))
        .await;
    let callback = browser.visit(&redirect_of(status, &decided)).await;
    let outcome = console
        .complete(
            pending,
            &query_param(&callback, "code").unwrap(),
            &query_param(&callback, "state").unwrap(),
        )
        .await
        .unwrap();
    let id = claims(outcome.id_token.secret());
    assert_eq!(id["acr"], "mfa");
    assert_eq!(id["amr"], json!(["pwd", "otp"]));
    assert_eq!(id["roles"], json!(["reader"]));
    assert!(id.get("email").is_none(), "no email scope asked: {id}");

    // Remembered: the next authorization continues without the form (the page names the
    // tenant), and without a tenant the page is told so.
    let (challenge, pending) = s.authorize(&mut browser, &console, &["openid"]).await;
    let (status, e) = s
        .get(&format!("/auth/login?login_challenge={challenge}"))
        .await;
    assert_eq!(status, 400, "{e}");
    let (status, skip) = s
        .get(&format!(
            "/auth/login?login_challenge={challenge}&tenant=acme"
        ))
        .await;
    assert_eq!(skip["skip"], true, "{skip}");
    let to_consent = browser.visit(&redirect_of(status, &skip)).await;
    let consent = query_param(&to_consent, "consent_challenge").unwrap();
    let (status, decided) = s
        .get(&format!("/auth/consent?consent_challenge={consent}"))
        .await;
    let callback = browser.visit(&redirect_of(status, &decided)).await;
    let again = console
        .complete(
            pending,
            &query_param(&callback, "code").unwrap(),
            &query_param(&callback, "state").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(again.principal.subject(), s.alice);

    // RP-initiated logout through the IAM API ends Hydra's session: the form comes back.
    let logout_url = console
        .logout_url(&again.id_token, Some("http://127.0.0.1:9/bye"), Some("st"))
        .unwrap();
    let to_logout = browser.visit(&logout_url).await;
    let logout = query_param(&to_logout, "logout_challenge").unwrap();
    let (status, body) = s
        .api
        .post("/auth/logout", json!({"logout_challenge": logout}), None)
        .await;
    let back = browser.visit(&redirect_of(status, &body)).await;
    assert!(back.starts_with("http://127.0.0.1:9/bye"), "{back}");
    let (status, replay) = s
        .api
        .post("/auth/logout", json!({"logout_challenge": logout}), None)
        .await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (410, Some("challenge_used"))
    );
    let (challenge, _) = s.authorize(&mut browser, &console, &["openid"]).await;
    let (_, info) = s
        .get(&format!(
            "/auth/login?login_challenge={challenge}&tenant=acme"
        ))
        .await;
    assert_eq!(info["skip"], false, "{info}");
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn forged_foreign_and_malformed_challenges_and_a_locked_account_get_a_clear_4xx() {
    let s = stack().await;
    let shop = s.client("shop").await;
    let mut browser = Browser::new();
    let (challenge, _) = s.authorize(&mut browser, &shop, &["openid"]).await;

    // Forged and malformed challenges.
    let forged = "Zm9yZ2VkLWNoYWxsZW5nZQ";
    for (path, status) in [
        (format!("/auth/login?login_challenge={forged}"), 404),
        (format!("/auth/consent?consent_challenge={forged}"), 404),
        ("/auth/login".to_owned(), 400),
        ("/auth/login?login_challenge=a%20b".to_owned(), 400),
        (
            format!("/auth/login?login_challenge={}", "a".repeat(9000)),
            400,
        ),
    ] {
        let (got, body) = s.get(&path).await;
        assert_eq!(got, status, "{path}: {body}");
    }
    let (status, body) = s.password(forged, PASSWORD, false).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("invalid_challenge"))
    );
    let (status, body) = s
        .api
        .post("/auth/logout", json!({"logout_challenge": forged}), None)
        .await;
    assert_eq!(status, 404, "{body}");
    // A login challenge is not a consent or logout challenge.
    let (status, body) = s
        .get(&format!("/auth/consent?consent_challenge={challenge}"))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = s
        .api
        .post("/auth/logout", json!({"logout_challenge": challenge}), None)
        .await;
    assert_eq!(status, 404, "{body}");

    // A wrong body shape is 400, not a 500.
    let (status, _) = s
        .api
        .post("/auth/login", json!({"login_challenge": 5}), None)
        .await;
    assert_eq!(status, 400);

    // Wrong passwords go through the account limiter: locked, even the right password waits.
    let mut locked = false;
    for _ in 0..12 {
        let (status, body) = s.password(&challenge, "a wrong password!", false).await;
        match status {
            401 => assert_eq!(body["error"], "invalid_credentials"),
            429 => {
                locked = true;
                break;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(locked, "the account was never locked");
    let (status, _) = s.password(&challenge, PASSWORD, false).await;
    assert_eq!(status, 429);
    // The login was never accepted: the challenge is still open at Hydra.
    let (status, info) = s
        .get(&format!("/auth/login?login_challenge={challenge}"))
        .await;
    assert_eq!((status, info["skip"].as_bool()), (200, Some(false)));

    // Consent for an account disabled since its login: refused at Hydra (access_denied).
    let root = s.api.admin_token().await;
    let bob = s.api.user(&root, "acme", "bob").await;
    let console = s.client("console").await;
    let mut other = Browser::new();
    let (challenge, _) = s.authorize(&mut other, &console, &["openid"]).await;
    let (status, body) = s
        .api
        .post(
            "/auth/login",
            json!({"login_challenge": challenge, "tenant": "acme", "username": "bob",
                   "password": PASSWORD}),
            None,
        )
        .await;
    let to_consent = other.visit(&redirect_of(status, &body)).await;
    // Disabled behind the admin API's back (the admin API also ends the user's sessions at
    // Hydra, after which Hydra answers the flow with its own generic error): the consent
    // decision itself refuses.
    assert!(s
        .api
        .state
        .identity
        .repositories()
        .users
        .set_user_disabled("acme", &bob, true)
        .await
        .unwrap());
    let consent = query_param(&to_consent, "consent_challenge").unwrap();
    let (status, decided) = s
        .get(&format!("/auth/consent?consent_challenge={consent}"))
        .await;
    let callback = other.visit(&redirect_of(status, &decided)).await;
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("access_denied"),
        "{callback}"
    );
}

#[tokio::test]
async fn with_hydra_down_a_challenge_and_the_headless_login_are_503_never_a_login() {
    let port = iam_testkit::scratch::free_port();
    let settings = HydraSettings {
        admin_url: format!("http://127.0.0.1:{port}"),
        public_url: format!("http://127.0.0.1:{port}"),
        remember_for: Duration::from_secs(60),
        headless: headless_client(&format!("http://127.0.0.1:{port}/")),
        token_hook_secret: hook_secret(),
    };
    let api = start_with(|c| c.token_backend = TokenBackend::Hydra(settings)).await;
    let (status, body) = api
        .send(Method::GET, "/auth/login?login_challenge=abc", None, None)
        .await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = api
        .post(
            "/auth/login",
            json!({"login_challenge": "abc", "tenant": "default",
                   "username": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.get("redirect_to").is_none());
    // Without a challenge (the headless login), refresh and logout: 503, never a token.
    let (status, body) = api
        .login("default", common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    let (status, body) = api
        .post("/auth/refresh", json!({"refresh_token": "ory_rt_x"}), None)
        .await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = api
        .post("/auth/logout", json!({"refresh_token": "ory_rt_x"}), None)
        .await;
    assert_eq!(status, 503, "{body}");
}
