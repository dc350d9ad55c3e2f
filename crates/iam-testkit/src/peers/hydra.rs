//! The real Ory Hydra v2.3.0 (`scripts/peers path hydra`), in memory, on free loopback ports.
//!
//! ```no_run
//! # async fn run() {
//! use iam_testkit::peers::hydra::Hydra;
//! let hydra = Hydra::builder()
//!     .login_url("http://127.0.0.1:9/login")
//!     .consent_url("http://127.0.0.1:9/consent")
//!     .start()
//!     .await;
//! let discovery = format!("{}.well-known/openid-configuration", hydra.issuer());
//! # let _ = discovery; }
//! ```
//!
//! Hydra runs as `hydra serve all --dev` with `DSN=memory` (no database; its state goes with
//! the process), a fixed system secret, `URLS_SELF_ISSUER` = its public URL with a trailing
//! slash, JWT access tokens unless [`HydraBuilder::opaque_access_tokens`], and readiness
//! checked on the admin `/health/ready`, then on the public JWKS (Hydra generates its
//! signing keys on the first request for them).
use super::Peer;
use crate::scratch::free_port;
use std::time::Duration;

/// How long Hydra may take to answer `/health/ready` (it migrates its in-memory database and
/// generates its signing keys on start).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings for one Hydra process; see [`Hydra::builder`].
#[derive(Debug, Clone)]
pub struct HydraBuilder {
    strategy: &'static str,
    login: String,
    consent: String,
    logout: String,
    env: Vec<(String, String)>,
}

impl HydraBuilder {
    /// Opaque access tokens (`STRATEGIES_ACCESS_TOKEN=opaque`) instead of JWTs.
    pub fn opaque_access_tokens(mut self) -> Self {
        self.strategy = "opaque";
        self
    }

    /// `URLS_LOGIN`: where Hydra sends the browser with a `login_challenge`.
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login = url.into();
        self
    }

    /// `URLS_CONSENT`: where Hydra sends the browser with a `consent_challenge`.
    pub fn consent_url(mut self, url: impl Into<String>) -> Self {
        self.consent = url.into();
        self
    }

    /// `URLS_LOGOUT`: where Hydra sends the browser with a `logout_challenge`.
    pub fn logout_url(mut self, url: impl Into<String>) -> Self {
        self.logout = url.into();
        self
    }

    /// Any other setting, as Hydra's environment variable (`TTL_ACCESS_TOKEN=10m`, ...).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Start Hydra and wait until it is ready (panics with its log when it is not).
    pub async fn start(self) -> Hydra {
        let public_port = free_port();
        let admin_port = free_port();
        let public_url = format!("http://127.0.0.1:{public_port}");
        let admin_url = format!("http://127.0.0.1:{admin_port}");
        let mut env: Vec<(&str, String)> = vec![
            ("DSN", "memory".into()),
            (
                "SECRETS_SYSTEM",
                "iam-rs-test-system-secret-0123456789".into(),
            ),
            ("URLS_SELF_ISSUER", format!("{public_url}/")),
            ("URLS_LOGIN", self.login),
            ("URLS_CONSENT", self.consent),
            ("URLS_LOGOUT", self.logout),
            ("SERVE_PUBLIC_PORT", public_port.to_string()),
            ("SERVE_PUBLIC_HOST", "127.0.0.1".into()),
            ("SERVE_ADMIN_PORT", admin_port.to_string()),
            ("SERVE_ADMIN_HOST", "127.0.0.1".into()),
            ("STRATEGIES_ACCESS_TOKEN", self.strategy.into()),
            ("LOG_LEVEL", "info".into()),
            ("SQA_OPT_OUT", "true".into()),
        ];
        for (k, v) in &self.env {
            env.push((k.as_str(), v.clone()));
        }
        let mut peer = Peer::spawn("hydra", &["serve", "all", "--dev"], &env, |_| {});
        peer.wait_ready(&format!("{admin_url}/health/ready"), READY_TIMEOUT)
            .await;
        // Hydra generates its RSA signing keys on first use, which takes seconds on a busy
        // machine: have it done before a test's first discovery (10 s client timeout).
        let jwks = format!("127.0.0.1:{public_port}");
        let mut attempt = 0;
        while let Err(e) = first_jwks(&jwks).await {
            // A closed connection while the public server starts: ask again (a timeout is
            // not retried, that would start another key generation).
            attempt += 1;
            if attempt == 5 || e.starts_with("no answer") {
                panic!("hydra did not serve its JWKS: {e}\n{}", peer.log());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Hydra {
            peer,
            public_url,
            admin_url,
        }
    }
}

/// One `GET /.well-known/jwks.json`, waiting as long as key generation takes (one request:
/// a retry would start another generation).
async fn first_jwks(authority: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!(
            "GET /.well-known/jwks.json HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = [0u8; 12];
        stream
            .read_exact(&mut head)
            .await
            .map_err(|e| e.to_string())?;
        match &head[9..12] {
            b"200" => Ok(()),
            other => Err(format!("status {}", String::from_utf8_lossy(other))),
        }
    };
    tokio::time::timeout(READY_TIMEOUT, fetch)
        .await
        .map_err(|_| format!("no answer within {READY_TIMEOUT:?}"))?
}

/// A running Hydra; stopped on drop.
#[derive(Debug)]
pub struct Hydra {
    peer: Peer,
    public_url: String,
    admin_url: String,
}

impl Hydra {
    /// JWT access tokens; login, consent and logout URLs that nothing serves (set them with
    /// the builder when a test drives the browser flow).
    pub fn builder() -> HydraBuilder {
        HydraBuilder {
            strategy: "jwt",
            login: "http://127.0.0.1:9/login".into(),
            consent: "http://127.0.0.1:9/consent".into(),
            logout: "http://127.0.0.1:9/logout".into(),
            env: Vec::new(),
        }
    }

    /// [`builder`](Self::builder) with its defaults, started.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// The public API, without a trailing slash (`http://127.0.0.1:PORT`).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The admin API, without a trailing slash.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The issuer (`iss` of its tokens): the public URL with a trailing slash.
    pub fn issuer(&self) -> String {
        format!("{}/", self.public_url)
    }

    /// What Hydra printed so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }
}
