//! The real Ory Kratos v1.3.1 (`scripts/peers path kratos`), in memory, on free loopback ports,
//! with an email + password identity schema; identities made through its admin API and
//! sessions through its login flows.
//!
//! ```no_run
//! # async fn run() {
//! use iam_testkit::peers::kratos::Kratos;
//! let kratos = Kratos::start().await;
//! let id = kratos.create_identity("ada@example.org", "correct horse battery 42").await;
//! let token = kratos.session_token("ada@example.org", "correct horse battery 42").await;
//! let cookie = kratos.session_cookie("ada@example.org", "correct horse battery 42").await;
//! // `X-Session-Token: {token}` or `Cookie: ory_kratos_session={cookie}` on
//! // `{public}/sessions/whoami` answers the session of `id`.
//! # let _ = (id, token, cookie, kratos.whoami_url()); }
//! ```
//!
//! Kratos runs as `kratos serve --dev` (cookies without `Secure`, so plain-HTTP loopback works)
//! with `dsn: memory`, a config and identity schema written to its temporary directory, and
//! readiness checked on the admin `/admin/health/ready`.
//!
//! # Caveats
//! - State lives in the process: identities and sessions go with it.
//! - No courier: verification and recovery mails go to a closed port (they are never sent).
//! - The helpers panic (with Kratos' answer) when Kratos refuses: they are for tests.
use super::Peer;
use crate::scratch::free_port;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::time::Duration;

/// How long Kratos may take to answer `/admin/health/ready` (it migrates its in-memory
/// database on start).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The cookie Kratos sets for a browser session.
pub const SESSION_COOKIE: &str = "ory_kratos_session";

/// The identity schema: one `email` trait, the password identifier.
const IDENTITY_SCHEMA: &str = r#"{
  "$id": "https://iam-rs.test/identity.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Person",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string",
          "format": "email",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
        }
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}"#;

/// A running Kratos; stopped on drop.
#[derive(Debug)]
pub struct Kratos {
    peer: Peer,
    public_url: String,
    admin_url: String,
}

/// An answer of Kratos: status, `Set-Cookie` values, JSON body (`Null` when not JSON).
struct Answer {
    status: u16,
    set_cookies: Vec<String>,
    body: Value,
}

impl Kratos {
    /// Start Kratos and wait until it is ready (panics with its log when it is not).
    pub async fn start() -> Self {
        let public_port = free_port();
        let admin_port = free_port();
        let public_url = format!("http://127.0.0.1:{public_port}");
        let admin_url = format!("http://127.0.0.1:{admin_port}");
        let config = json!({
            "dsn": "memory",
            "serve": {
                "public": {"base_url": format!("{public_url}/"), "host": "127.0.0.1", "port": public_port},
                "admin": {"base_url": format!("{admin_url}/"), "host": "127.0.0.1", "port": admin_port}
            },
            "selfservice": {
                "default_browser_return_url": format!("{public_url}/"),
                "allowed_return_urls": [format!("{public_url}/")],
                "methods": {"password": {"enabled": true}},
                "flows": {
                    "login": {"ui_url": "http://127.0.0.1:9/login"},
                    "registration": {"ui_url": "http://127.0.0.1:9/registration"},
                    "error": {"ui_url": "http://127.0.0.1:9/error"}
                }
            },
            "identity": {
                "default_schema_id": "default",
                "schemas": [{"id": "default", "url": "file://SCHEMA"}]
            },
            "courier": {"smtp": {"connection_uri": "smtp://127.0.0.1:9/"}},
            "secrets": {
                "cookie": ["iam-rs-test-cookie-secret-0123456789"],
                "cipher": ["0123456789abcdef0123456789abcdef"]
            },
            "log": {"level": "warning"}
        });
        let mut peer = Peer::spawn(
            "kratos",
            &["serve", "--dev", "--config", "kratos.yaml"],
            &[("SQA_OPT_OUT", "true".into())],
            |dir| {
                let schema = dir.join("identity.schema.json");
                std::fs::write(&schema, IDENTITY_SCHEMA).unwrap();
                // YAML is a superset of JSON.
                let text = config
                    .to_string()
                    .replace("file://SCHEMA", &format!("file://{}", schema.display()));
                std::fs::write(dir.join("kratos.yaml"), text).unwrap();
            },
        );
        peer.wait_ready(&format!("{admin_url}/admin/health/ready"), READY_TIMEOUT)
            .await;
        Self {
            peer,
            public_url,
            admin_url,
        }
    }

    /// The public API, without a trailing slash (`http://127.0.0.1:PORT`).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The admin API, without a trailing slash.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// `{public}/sessions/whoami`: Oathkeeper's `check_session_url`.
    pub fn whoami_url(&self) -> String {
        format!("{}/sessions/whoami", self.public_url)
    }

    /// What Kratos printed so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }

    /// Create an identity with this email and password (`POST /admin/identities`); its id.
    pub async fn create_identity(&self, email: &str, password: &str) -> String {
        let body = json!({
            "schema_id": "default",
            "traits": {"email": email},
            "credentials": {"password": {"config": {"password": password}}}
        });
        let a = self
            .call(
                "POST",
                &format!("{}/admin/identities", self.admin_url),
                &[],
                Some(body),
            )
            .await;
        assert_eq!(a.status, 201, "create identity: {}", a.body);
        a.body["id"].as_str().expect("identity id").to_owned()
    }

    /// Log in through the API flow; the session token (`ory_st_...`).
    pub async fn session_token(&self, email: &str, password: &str) -> String {
        let flow = self
            .call(
                "GET",
                &format!("{}/self-service/login/api", self.public_url),
                &[],
                None,
            )
            .await;
        assert_eq!(flow.status, 200, "login flow: {}", flow.body);
        let id = flow.body["id"].as_str().expect("flow id");
        let done = self
            .call(
                "POST",
                &format!("{}/self-service/login?flow={id}", self.public_url),
                &[],
                Some(json!({"method": "password", "identifier": email, "password": password})),
            )
            .await;
        assert_eq!(done.status, 200, "login: {}", done.body);
        done.body["session_token"]
            .as_str()
            .expect("session token")
            .to_owned()
    }

    /// Log in through the browser flow (JSON, with its CSRF cookie and token); the value of
    /// the `ory_kratos_session` cookie.
    pub async fn session_cookie(&self, email: &str, password: &str) -> String {
        let flow = self
            .call(
                "GET",
                &format!("{}/self-service/login/browser", self.public_url),
                &[],
                None,
            )
            .await;
        assert_eq!(flow.status, 200, "browser login flow: {}", flow.body);
        let id = flow.body["id"].as_str().expect("flow id");
        let csrf = flow.body["ui"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["attributes"]["name"] == "csrf_token")
            .and_then(|n| n["attributes"]["value"].as_str())
            .expect("csrf_token node")
            .to_owned();
        let cookies: Vec<String> = flow
            .set_cookies
            .iter()
            .filter_map(|c| c.split(';').next().map(str::to_owned))
            .collect();
        let done = self
            .call(
                "POST",
                &format!("{}/self-service/login?flow={id}", self.public_url),
                &[("cookie", cookies.join("; "))],
                Some(json!({"method": "password", "identifier": email, "password": password, "csrf_token": csrf})),
            )
            .await;
        assert_eq!(done.status, 200, "browser login: {}", done.body);
        let prefix = format!("{SESSION_COOKIE}=");
        done.set_cookies
            .iter()
            .filter_map(|c| c.split(';').next())
            .find_map(|c| c.strip_prefix(&prefix))
            .expect("Kratos set its session cookie")
            .to_owned()
    }

    /// One JSON call (`Accept: application/json`) on a fresh connection.
    async fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Value>,
    ) -> Answer {
        let uri: http::Uri = url.parse().expect("a URL");
        let authority = uri.authority().expect("an authority").to_string();
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .unwrap_or_else(|e| panic!("kratos at {authority}: {e}"));
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header("host", &authority)
            .header("accept", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let bytes = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let res = tx
            .send_request(req.body(Full::new(bytes)).expect("a request"))
            .await
            .unwrap_or_else(|e| panic!("kratos {method} {url}: {e}\n{}", self.log()));
        let status = res.status().as_u16();
        let set_cookies = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let body = res.into_body().collect().await.expect("a body").to_bytes();
        Answer {
            status,
            set_cookies,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }
}
