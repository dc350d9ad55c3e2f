//! The stack of the Hydra tests: Hydra, the IAM API as its login provider, a tenant with a
//! user and two OAuth2 clients, and the calls a login page makes.
// Shared by the Hydra test files, each using part of it.
#![allow(dead_code, unreachable_pub, missing_docs)]
use crate::common::{start_on, Api};
use iam_api::config::TokenBackend;
use iam_api::hydra_provider::token_hook::{TokenHookSecret, HOOK_SECRET_HEADER};
use iam_api::hydra_provider::{HeadlessClientSettings, HydraSettings};
use iam_client::hydra::{HydraAdmin, OAuth2Client};
use iam_client::login::{LoginClient, PendingLogin};
use iam_client::{HttpClient, TrustedIssuer};
use iam_testkit::peers::hydra::Hydra;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The IAM API's own client at Hydra (registered by the IAM API on first use).
pub fn headless_client(issuer: &str) -> HeadlessClientSettings {
    HeadlessClientSettings {
        client_id: "iam-api".into(),
        client_secret: iam_core::Secret::new("iam-api-secret-0123456789".into()),
        redirect_uri: "http://127.0.0.1:9/iam-api/callback".into(),
        issuer: issuer.to_owned(),
    }
}

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const SECRET: &str = "web-secret-0123456789";

pub use iam_testkit::agent::RedirectAgent as Browser;

pub fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Hydra, the IAM API as its login provider, a tenant `acme` with alice holding role
/// `reader` (`docs:read`), and a third-party (`shop`) and a first-party (`console`) client.
pub struct Stack {
    pub hydra: Hydra,
    pub api: Api,
    pub alice: String,
}

/// The token hook secret the IAM API expects.
pub const HOOK_SECRET: &str = "iam-api-token-hook-secret-0123";

pub fn hook_secret() -> TokenHookSecret {
    TokenHookSecret::new(HOOK_SECRET.into()).unwrap()
}

/// Hydra and the IAM API as its login provider, Hydra sending `sent` to the IAM API's
/// token hook (which expects [`HOOK_SECRET`]), configured by environment as the README shows.
pub async fn hydra_and_api(sent: &str) -> (Hydra, Api) {
    // The IAM API's address must be known before Hydra starts (its hook URL).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hydra/token-hook", listener.local_addr().unwrap());
    let hydra = Hydra::builder()
        .login_url("http://127.0.0.1:9/login")
        .consent_url("http://127.0.0.1:9/consent")
        .logout_url("http://127.0.0.1:9/logout")
        .env(
            "OAUTH2_TOKEN_HOOK",
            json!({"url": hook_url, "auth": {"type": "api_key",
                   "config": {"in": "header", "name": HOOK_SECRET_HEADER, "value": sent}}})
            .to_string(),
        )
        .start()
        .await;
    let settings = HydraSettings {
        admin_url: hydra.admin_url().to_owned(),
        public_url: hydra.public_url().to_owned(),
        remember_for: Duration::from_secs(3600),
        headless: headless_client(&hydra.issuer()),
        token_hook_secret: hook_secret(),
    };
    let api = start_on(listener, |c| {
        c.token_backend = TokenBackend::Hydra(settings)
    })
    .await;
    (hydra, api)
}

pub async fn stack() -> Stack {
    let (hydra, api) = hydra_and_api(HOOK_SECRET).await;
    // The IAM API's own login (no challenge) stays for its admin API.
    let root = api.admin_token().await;
    let alice = api.tenant_with_user(&root, "acme").await;
    let (_, role) = api
        .post(
            "/admin/tenants/acme/roles",
            json!({"name": "reader", "permissions": ["docs:read"]}),
            Some(&root),
        )
        .await;
    let path = format!(
        "/admin/tenants/acme/users/{alice}/roles/{}",
        role["id"].as_str().unwrap()
    );
    let (s, _) = api.send(Method::PUT, &path, None, Some(&root)).await;
    assert_eq!(s, 204);
    let admin = HydraAdmin::new(hydra.admin_url(), HttpClient::new().unwrap()).unwrap();
    for (id, first_party) in [("shop", false), ("console", true)] {
        let mut c = OAuth2Client::web(id, REDIRECT).secret(SECRET);
        c.scope = Some("openid offline_access email".into());
        c.audience = vec!["orders-api".into()];
        c.skip_consent = Some(first_party);
        c.post_logout_redirect_uris = vec!["http://127.0.0.1:9/bye".into()];
        admin.create_client(&c).await.unwrap();
    }
    Stack { hydra, api, alice }
}

impl Stack {
    pub async fn client(&self, id: &str) -> LoginClient {
        let http = HttpClient::new().unwrap();
        let issuer = TrustedIssuer::discover(&self.hydra.issuer(), id, &http)
            .await
            .unwrap();
        LoginClient::new(&issuer, id, SECRET, REDIRECT, http).unwrap()
    }

    /// The client sends the browser to Hydra; Hydra sends it to the login page.
    pub async fn authorize(
        &self,
        browser: &mut Browser,
        client: &LoginClient,
        scopes: &[&str],
    ) -> (String, PendingLogin) {
        let (url, pending) = client.begin(scopes);
        let to_login = browser.visit(&url).await;
        let challenge = query_param(&to_login, "login_challenge")
            .unwrap_or_else(|| panic!("not a login redirect: {to_login}"));
        (challenge, pending)
    }

    pub async fn get(&self, path_and_query: &str) -> (u16, Value) {
        self.api.send(Method::GET, path_and_query, None, None).await
    }

    pub async fn password(&self, challenge: &str, password: &str, remember: bool) -> (u16, Value) {
        self.api
            .post(
                "/auth/login",
                json!({"login_challenge": challenge, "tenant": "acme", "username": "alice",
                       "password": password, "remember": remember}),
                None,
            )
            .await
    }

    /// Hydra's token endpoint, as the client calls it (client_secret_basic).
    pub async fn token_call(&self, form: &str) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/oauth2/token", self.hydra.public_url()))
            .basic_auth("shop", Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

pub fn redirect_of(status: u16, body: &Value) -> String {
    assert_eq!(status, 200, "{body}");
    body["redirect_to"]
        .as_str()
        .unwrap_or_else(|| panic!("no redirect_to: {body}"))
        .to_owned()
}

/// A token from Hydra, checked to be form-safe (Hydra's are `ory_rt_…`).
pub fn form_safe(token: &str) -> &str {
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    token
}
