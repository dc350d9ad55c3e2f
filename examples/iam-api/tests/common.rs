//! The service under test: started on a loopback port with a test configuration.
// A test harness module: shared by the test files, each using part of it.
#![allow(dead_code, unreachable_pub, missing_docs)]
use iam_api::config::Config;
use iam_api::AppState;
use iam_identity::hashing::HashingConfig;
use iam_issuer::KeyEncryptionKey;
use iam_service::client_ip::TrustedProxies;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const PASSWORD: &str = "a long enough password";

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    pub _dir: iam_testkit::scratch::TempDir,
}

/// A configuration for tests: cheap hashing, SQLite in a temp dir unless `database_url`.
pub fn config(dir: &iam_testkit::scratch::TempDir, listen: SocketAddr) -> Config {
    Config {
        listen,
        metrics_listen: None,
        data_dir: dir.path().to_owned(),
        database_url: dir.sqlite_url("iam.db"),
        redis_url: None,
        issuer: format!("http://{listen}"),
        audience: vec!["iam-api".into()],
        // One key for every test: tests on PostgreSQL and MariaDB share the keys table.
        kek: KeyEncryptionKey::from_bytes([7; 32]),
        hashing: HashingConfig {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
            workers: 2,
            queue: 64,
            retry_after: Duration::from_secs(1),
        },
        access_ttl: Duration::from_secs(600),
        refresh_ttl: Duration::from_secs(30 * 86_400),
        refresh_grace: Duration::from_secs(10),
        min_password_chars: 12,
        ip_attempts_per_minute: 10_000,
        trusted_proxies: TrustedProxies::none(),
        platform_tenant: "default".into(),
        bootstrap: Some((
            ADMIN_EMAIL.into(),
            iam_core::Secret::new(ADMIN_PASSWORD.into()),
        )),
        token_backend: iam_api::config::TokenBackend::SelfIssued,
    }
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, tweak).await
}

/// The service on a listener bound before (its address known to a peer started first).
pub async fn start_on(listener: tokio::net::TcpListener, tweak: impl FnOnce(&mut Config)) -> Api {
    let dir = iam_testkit::scratch::TempDir::new();
    let addr = listener.local_addr().unwrap();
    let mut config = config(&dir, addr);
    tweak(&mut config);
    let state = AppState::start(&config).await.unwrap();
    let app = iam_api::router(state.clone()).merge(iam_api::health(&state).router());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Api {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        state,
        _dir: dir,
    }
}

pub async fn start() -> Api {
    start_with(|_| {}).await
}

impl Api {
    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body), bearer)
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn login(&self, tenant: &str, username: &str, password: &str) -> (u16, Value) {
        self.post(
            "/auth/login",
            json!({"tenant": tenant, "username": username, "password": password}),
            None,
        )
        .await
    }

    /// The bootstrap admin's access token.
    pub async fn admin_token(&self) -> String {
        let (s, body) = self.login("default", ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(s, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A new tenant with a user `alice` (password [`PASSWORD`]); returns (tenant, alice's id).
    pub async fn tenant_with_user(&self, admin: &str, tenant: &str) -> String {
        let (s, b) = self
            .post(
                "/admin/tenants",
                json!({"id": tenant, "display_name": tenant}),
                Some(admin),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        self.user(admin, tenant, "alice").await
    }

    pub async fn user(&self, admin: &str, tenant: &str, name: &str) -> String {
        let (s, b) = self
            .post(
                &format!("/admin/tenants/{tenant}/users"),
                json!({"username": name, "email": format!("{name}@{tenant}.example"), "password": PASSWORD}),
                Some(admin),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().unwrap().to_owned()
    }
}

/// The claims of a JWT (unverified: the tests check what the service put in).
pub fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The TOTP code of a base32 secret at `now + offset` seconds.
pub fn totp_code(secret: &str, offset: i64) -> String {
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
