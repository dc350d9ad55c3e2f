//! The login page in a real browser: Debian's Chromium driven by `playwright-core`
//! (`tests/browser.mjs`, `npm ci` in `tests/`), against the real Hydra and the IAM API as its
//! login provider. An OAuth2 client runs the authorization-code + PKCE flow; the browser
//! fills the page; the code at the client's redirect URI is exchanged for tokens that carry
//! the user's tenant, roles and permissions; a wrong password shows an error and does not
//! navigate; the used login page shows an error afterwards; the sample app's `/me` shows the
//! user's tenant, roles and permissions from the access token; a remembered login comes back
//! without the form until an RP-initiated logout (`id_token_hint`) through the page and the
//! IAM API ends Hydra's session. Fails (never skips) when node, Chromium or playwright-core
//! is missing.
use iam_api::config::{Config, TokenBackend};
use iam_api::hydra_provider::HydraSettings;
use iam_client::hydra::{HydraAdmin, OAuth2Client};
use iam_client::login::LoginClient;
use iam_client::{HttpClient, TrustedIssuer};
use iam_identity::hashing::HashingConfig;
use iam_testkit::peers::hydra::Hydra;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// What Hydra sends the IAM API's token hook (`IAM_API_HYDRA_TOKEN_HOOK_SECRET`).
const TOKEN_HOOK_SECRET: &str = "iam-api-token-hook-secret-0123";
const SECRET: &str = "web-secret-0123456789";
const ADMIN_EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "a long enough password";

async fn serve(listener: tokio::net::TcpListener, app: axum::Router) {
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}

fn iam_config(dir: &iam_testkit::scratch::TempDir, listen: SocketAddr, hydra: &Hydra) -> Config {
    // The defaults of an empty environment (with a fixed key), then the test's settings.
    let (mut config, _) = Config::from(&iam_service::Env::with_lookup("IAM_API_", |name| {
        (name == "IAM_API_KEY_ENCRYPTION_KEY")
            .then(|| "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".to_owned())
    }))
    .unwrap();
    config.listen = listen;
    config.data_dir = dir.path().to_owned();
    config.database_url = dir.sqlite_url("iam.db");
    config.issuer = format!("http://{listen}");
    config.hashing = HashingConfig {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
        workers: 2,
        queue: 64,
        retry_after: Duration::from_secs(1),
    };
    config.ip_attempts_per_minute = 10_000;
    config.bootstrap = Some((ADMIN_EMAIL.into(), iam_core::Secret::new(PASSWORD.into())));
    config.token_backend = TokenBackend::Hydra(HydraSettings {
        admin_url: hydra.admin_url().to_owned(),
        public_url: hydra.public_url().to_owned(),
        remember_for: Duration::from_secs(3600),
        headless: iam_api::hydra_provider::HeadlessClientSettings {
            client_id: "iam-api".into(),
            client_secret: iam_core::Secret::new("iam-api-secret-0123456789".into()),
            redirect_uri: "http://127.0.0.1:9/iam-api/callback".into(),
            issuer: hydra.issuer(),
        },
        token_hook_secret: iam_api::hydra_provider::token_hook::TokenHookSecret::new(
            TOKEN_HOOK_SECRET.into(),
        )
        .unwrap(),
    });
    config
}

async fn post(base: &str, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn totp_code(secret: &str, offset: i64) -> String {
    let bytes =
        iam_identity::totp::decode(&iam_identity::model::SecretText::new(secret.into())).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    iam_identity::totp::TotpSettings::default()
        .code_at(&bytes, (now + offset) as u64)
        .unwrap()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `tests/browser.mjs` running: its JSON lines are read one by one, and it may be told the
/// next step on its stdin.
struct BrowserRun {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl BrowserRun {
    /// Start `tests/browser.mjs` with `env`.
    fn start(env: &[(&str, String)]) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        assert!(
            dir.join("node_modules/playwright-core").is_dir(),
            "playwright-core is missing: run `npm ci` in {}",
            dir.display()
        );
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            Path::new(&chromium).is_file(),
            "{chromium} is missing: apt-get install -y chromium"
        );
        let mut child = std::process::Command::new("node")
            .arg("browser.mjs")
            .current_dir(&dir)
            .env("CHROMIUM", &chromium)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node (install nodejs): {e}"));
        let stdout = child.stdout.take().unwrap();
        Self {
            child,
            lines: std::io::BufRead::lines(std::io::BufReader::new(stdout)),
        }
    }

    /// The next JSON line the script prints (it fails the test when the script ends first).
    fn next(&mut self) -> Value {
        for line in self.lines.by_ref() {
            if let Ok(v) = serde_json::from_str::<Value>(&line.unwrap()) {
                return v;
            }
        }
        let status = self.child.wait().unwrap();
        panic!("browser.mjs ended ({status}) without its answer: see its stderr above");
    }

    /// Tell the script its next step.
    fn send(&mut self, step: &Value) {
        use std::io::Write as _;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{step}").unwrap();
        stdin.flush().unwrap();
    }

    /// Wait for the script to end well.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "browser.mjs failed: {status}");
    }
}

/// Run `tests/browser.mjs` with `env`; its callback URL.
fn run_browser(env: &[(&str, String)]) -> String {
    let mut run = BrowserRun::start(env);
    let line = run.next();
    run.finish();
    line["callback"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium: scripts/test"]
async fn a_browser_signs_in_on_the_page_with_and_without_totp_and_the_client_gets_tokens() {
    // The client's redirect URI (on a port Chromium does not refuse as unsafe: not 9).
    let client_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!("http://{}/callback", client_listener.local_addr().unwrap());
    let redirect = redirect.as_str();
    let callback_page = axum::Router::new()
        .route(
            "/callback",
            axum::routing::get(|| async { "callback reached" }),
        )
        .route("/bye", axum::routing::get(|| async { "signed out" }));
    serve(client_listener, callback_page).await;
    // The login page first: Hydra must know its URL.
    let ui_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ui = format!("http://{}", ui_listener.local_addr().unwrap());
    // The IAM API's address too: Hydra calls its token hook before every token.
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api_listener.local_addr().unwrap();
    let hydra = Hydra::builder()
        .login_url(format!("{ui}/login"))
        .consent_url(format!("{ui}/consent"))
        .logout_url(format!("{ui}/logout"))
        .env(
            "OAUTH2_TOKEN_HOOK",
            json!({"url": format!("http://{api_addr}/hydra/token-hook"),
                   "auth": {"type": "api_key", "config": {"in": "header",
                   "name": iam_api::hydra_provider::token_hook::HOOK_SECRET_HEADER,
                   "value": TOKEN_HOOK_SECRET}}})
            .to_string(),
        )
        .start()
        .await;
    let dir = iam_testkit::scratch::TempDir::new();
    let state = iam_api::AppState::start(&iam_config(&dir, api_addr, &hydra))
        .await
        .unwrap();
    serve(api_listener, iam_api::router(state)).await;
    let api = format!("http://{api_addr}");
    let ui_config = login_ui::Config {
        listen: ui_listener.local_addr().unwrap(),
        iam_api_url: api.clone(),
        tenant: "acme".into(),
    };
    serve(ui_listener, login_ui::router(&ui_config).unwrap()).await;

    // A tenant, a user with a role, a third-party client at Hydra.
    let (_, own) = post(
        &api,
        "/auth/login",
        json!({"tenant": "default", "username": ADMIN_EMAIL, "password": PASSWORD}),
        None,
    )
    .await;
    let root = own["access_token"].as_str().unwrap().to_owned();
    let (s, _) = post(
        &api,
        "/admin/tenants",
        json!({"id": "acme", "display_name": "Acme"}),
        Some(&root),
    )
    .await;
    assert_eq!(s, 201);
    let mut ids = Vec::new();
    for name in ["alice", "bob"] {
        let (s, u) = post(
            &api,
            "/admin/tenants/acme/users",
            json!({"username": name, "email": format!("{name}@acme.example"), "password": PASSWORD}),
            Some(&root),
        )
        .await;
        assert_eq!(s, 201, "{u}");
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    let (_, role) = post(
        &api,
        "/admin/tenants/acme/roles",
        json!({"name": "reader", "permissions": ["docs:read"]}),
        Some(&root),
    )
    .await;
    let res = reqwest::Client::new()
        .put(format!(
            "{api}/admin/tenants/acme/users/{}/roles/{}",
            ids[0],
            role["id"].as_str().unwrap()
        ))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let admin = HydraAdmin::new(hydra.admin_url(), HttpClient::new().unwrap()).unwrap();
    let bye = redirect.replace("/callback", "/bye");
    let mut c = OAuth2Client::web("shop", redirect).secret(SECRET);
    c.skip_consent = Some(false);
    c.audience = vec![AUDIENCE.into()];
    c.post_logout_redirect_uris = vec![bye.clone()];
    admin.create_client(&c).await.unwrap();
    let http = HttpClient::new().unwrap();
    let issuer = TrustedIssuer::discover(&hydra.issuer(), "shop", &http)
        .await
        .unwrap();
    let shop = LoginClient::new(&issuer, "shop", SECRET, redirect, http).unwrap();

    let callback_prefix = redirect.to_owned();
    // Password only (after a wrong one), with the consent page.
    let (url, pending) = shop.begin(&["openid", "offline_access"]);
    let prefix = callback_prefix.clone();
    let callback = tokio::task::spawn_blocking(move || {
        run_browser(&[
            ("AUTH_URL", url),
            ("CALLBACK_PREFIX", prefix),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
            ("WRONG_PASSWORD", "not the password!".into()),
            ("CHECK_REPLAY", "1".into()),
            ("EXPECT_CONSENT", "1".into()),
        ])
    })
    .await
    .unwrap();
    let outcome = shop
        .complete(
            pending,
            &query_param(&callback, "code").unwrap(),
            &query_param(&callback, "state").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.principal.subject(), ids[0]);
    let access = claims(outcome.tokens.access_token.secret());
    assert_eq!(access["ext"]["tenant"], "acme");
    assert_eq!(access["ext"]["roles"], json!(["reader"]));
    assert_eq!(access["ext"]["permissions"], json!(["docs:read"]));
    assert_eq!(claims(outcome.id_token.secret())["acr"], "pwd");

    // Bob with TOTP (enrolled through the IAM API's own token).
    let (_, own) = post(
        &api,
        "/auth/login",
        json!({"tenant": "acme", "username": "bob", "password": PASSWORD}),
        None,
    )
    .await;
    let bearer = own["access_token"].as_str().unwrap().to_owned();
    let (_, e) = post(&api, "/auth/mfa/totp/enroll", json!({}), Some(&bearer)).await;
    let secret = e["secret"].as_str().unwrap().to_owned();
    let (s, _) = post(
        &api,
        "/auth/mfa/totp/confirm",
        json!({"code": totp_code(&secret, 0)}),
        Some(&bearer),
    )
    .await;
    assert_eq!(s, 200);
    let (url, pending) = shop.begin(&["openid"]);
    let code = totp_code(&secret, 30);
    let prefix = callback_prefix.clone();
    let callback = tokio::task::spawn_blocking(move || {
        run_browser(&[
            ("AUTH_URL", url),
            ("CALLBACK_PREFIX", prefix),
            ("USERNAME", "bob".into()),
            ("PASSWORD", PASSWORD.into()),
            ("TOTP_CODE", code),
            ("EXPECT_CONSENT", "1".into()),
        ])
    })
    .await
    .unwrap();
    let outcome = shop
        .complete(
            pending,
            &query_param(&callback, "code").unwrap(),
            &query_param(&callback, "state").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.principal.subject(), ids[1]);
    let id = claims(outcome.id_token.secret());
    assert_eq!(id["acr"], "mfa");
    assert_eq!(id["amr"], json!(["pwd", "otp"]));
    assert_eq!(id["tenant"], "acme");

    // Alice again, remembering the login and the consent, for an API audience: the sample
    // app's `/me` (its middleware on Hydra's issuer) shows her tenant, roles and permissions;
    // then RP-initiated logout ends Hydra's session.
    let sample = sample_app_me(&hydra).await;
    let with_audience = |url: String| format!("{url}&audience={AUDIENCE}");
    let (url, pending) = shop.begin(&["openid", "offline_access"]);
    let prefix = callback_prefix.clone();
    let mut run = tokio::task::spawn_blocking(move || {
        BrowserRun::start(&[
            ("AUTH_URL", with_audience(url)),
            ("CALLBACK_PREFIX", prefix),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
            ("EXPECT_CONSENT", "1".into()),
            ("REMEMBER", "1".into()),
            ("LOGOUT", "1".into()),
        ])
    })
    .await
    .unwrap();
    let (line, mut run) = tokio::task::spawn_blocking(move || (run.next(), run))
        .await
        .unwrap();
    let callback = line["callback"].as_str().unwrap();
    let outcome = shop
        .complete(
            pending,
            &query_param(callback, "code").unwrap(),
            &query_param(callback, "state").unwrap(),
        )
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .get(format!("{sample}/me"))
        .bearer_auth(outcome.tokens.access_token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["subject"], ids[0].as_str());
    assert_eq!(me["tenant"], "acme");
    assert_eq!(me["roles"], json!(["reader"]));
    assert_eq!(me["permissions"], json!(["docs:read"]));
    assert_eq!(me["client_id"], "shop");

    let logout_url = shop
        .logout_url(&outcome.id_token, Some(&bye), Some("bye-state"))
        .unwrap();
    assert!(logout_url.contains("id_token_hint="), "{logout_url}");
    // (Without offline_access: LoginClient asks `prompt=consent` for it, which never skips.)
    let (again_url, _) = shop.begin(&["openid"]);
    let (after_url, _) = shop.begin(&["openid"]);
    let step = json!({
        "again_url": with_audience(again_url),
        "logout_url": logout_url,
        "logged_out_prefix": bye,
        "after_url": after_url,
    });
    let done = tokio::task::spawn_blocking(move || {
        run.send(&step);
        let done = run.next();
        run.finish();
        done
    })
    .await
    .unwrap();
    let again = done["again"].as_str().unwrap();
    assert!(query_param(again, "code").is_some(), "{again}");
    assert_eq!(done["form_again"], true);
}

/// The audience of the API the shop calls.
const AUDIENCE: &str = "orders-api";

/// The sample app's `/me` (`sample-app-axum`'s handler and middleware from its library,
/// configured as `IAM_ISSUER` = Hydra's issuer, `IAM_AUDIENCE` = [`AUDIENCE`]), served on a
/// loopback port.
async fn sample_app_me(hydra: &Hydra) -> String {
    let config = sample_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: None,
        jwt: Some(iam_client::JwtConfig::new(hydra.issuer()).audience(AUDIENCE)),
        kratos_public_url: None,
        credentials: None,
        transport: iam_client::TransportPolicy::new(),
        trusted_proxies: Default::default(),
    };
    let (chain, _keys) = config.chain().unwrap();
    let app = axum::Router::new()
        .route(
            "/me",
            axum::routing::get(|iam_axum::Auth(p): iam_axum::Auth| async move {
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    sample_app::me_body(&p),
                )
            }),
        )
        .layer(iam_axum::IamLayer::required(chain));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    serve(listener, app).await;
    base
}
