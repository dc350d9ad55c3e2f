//! The sample app's contract, for both binaries: environment, health, `/me`, `/admin`, the
//! RFC 6750 answers, 503 while keys cannot be had, and request logs without tokens.
use iam_testkit::keys::{ec_jwk, es256, keys, sign};
use iam_testkit::scratch::free_port;
use iam_testkit::{LoopbackServer, Reply};
use serde_json::{json, Value};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ISS: &str = "https://issuer.example";
const AUD: &str = "sample-api";

/// The signing key of the tests (iam-testkit's P-256 key, published as `k1`).
struct Keys;

impl Keys {
    fn new() -> Self {
        Keys
    }
    fn jwks(&self) -> Value {
        json!({"keys": [ec_jwk(&keys().ec, "k1")]})
    }
    fn token(&self, extra: Value) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut c = json!({"iss": ISS, "aud": AUD, "sub": "user-7", "exp": now + 300, "tenant": "acme", "sid": "s-1", "roles": ["dev"]});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        sign(&json!({"alg":"ES256","kid":"k1"}), &c, es256())
    }
}

/// A JWKS endpoint on loopback (`/jwks.json`).
async fn serve_jwks(body: Value) -> LoopbackServer {
    LoopbackServer::fixed(Reply::json(200, &body)).await
}

/// A Kratos `whoami` on loopback: 200 with a session for `ory_kratos_session=good`, 401
/// otherwise (the full double, checked against Kratos's schema, is in iam-client's tests).
async fn serve_whoami() -> LoopbackServer {
    LoopbackServer::start(|req| {
        if req
            .header("cookie")
            .is_some_and(|c| c.eq_ignore_ascii_case("ory_kratos_session=good"))
        {
            Reply::json(
                200,
                &json!({"id": "sess-1", "active": true, "expires_at": "2999-01-01T00:00:00Z",
                "authenticator_assurance_level": "aal1",
                "identity": {"id": "ident-1", "schema_id": "default", "schema_url": "x",
                             "traits": {"email": "a@example.com"},
                             "metadata_public": {"tenant": "acme"}}}),
            )
        } else {
            Reply::json(
                401,
                &json!({"error": {"code": 401, "message": "no session"}}),
            )
        }
    })
    .await
}

/// A well-formed PAT the credential service double rate-limits (429).
fn limited_pat() -> &'static str {
    static PAT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAT.get_or_init(|| {
        iam_core::credential::generate(iam_core::credential::CredentialKind::PersonalAccessToken)
            .unwrap()
            .secret()
            .to_owned()
    })
}

/// A credential service `/validate` on loopback: valid for `GOOD_PAT`, 429 for
/// [`limited_pat`], 401 otherwise.
async fn serve_validate() -> LoopbackServer {
    LoopbackServer::start(|req| {
        let body = String::from_utf8_lossy(&req.body);
        let caller = req
            .header("authorization")
            .is_some_and(|a| a.contains(&format!("Bearer {SVC}")));
        if body.contains(limited_pat()) {
            Reply::json(429, &json!({"error": "rate_limited"}))
        } else if body.contains(GOOD_PAT) && caller {
            Reply::json(
                200,
                &json!({"valid": true, "kind": "pat", "id": "cred_1", "owner": "user-9",
                         "tenant": "acme", "scopes": ["orders:read"], "expires_at": null}),
            )
        } else {
            Reply::json(401, &json!({"valid": false, "error": "invalid_token"}))
        }
    })
    .await
}

/// Well-formed tokens (checksums included), generated once for these tests.
const GOOD_PAT: &str = "pat_g5jzj1MOIhECKO9f8G7P0yzrayiS5V7iFpmh12eMst";
const SVC: &str = "svc_0000000000000000000000000000000000000000";

struct App {
    child: Child,
    base: String,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &str, envs: &[(&str, String)]) -> (App, Duration) {
    // A port picked by binding port 0 can be picked by a parallel test too: when our app
    // could not bind it (it exits), try another port.
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("IAM_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut app = App {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        };
        let mut up = false;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                up = true;
                break;
            }
            if app.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let elapsed = started.elapsed();
        std::thread::sleep(Duration::from_millis(50));
        if up && app.child.try_wait().unwrap().is_none() {
            return (app, elapsed);
        }
    }
    panic!("{bin} did not start");
}

async fn get(app: &App, path: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", app.base));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let www = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, www, res.text().await.unwrap())
}

async fn contract(bin: &str) {
    let keys = Keys::new();
    let jwks = serve_jwks(keys.jwks()).await;
    let jwks_url = jwks.url("/jwks.json");
    let (app, startup) = start(
        bin,
        &[
            ("IAM_ISSUER", ISS.into()),
            ("IAM_AUDIENCE", AUD.into()),
            ("IAM_JWKS_URL", jwks_url),
        ],
    );
    eprintln!("{bin} accepted connections after {startup:?}");

    assert_eq!(get(&app, "/health/alive", None).await.0, 200);
    assert_eq!(get(&app, "/health/ready", None).await.0, 200);
    let (s, www, body) = get(&app, "/me", None).await;
    assert_eq!((s, www.as_deref()), (401, Some("Bearer")), "{body}");
    let bad = keys.token(json!({"aud": "other"}));
    let (s, www, body) = get(&app, "/me", Some(&bad)).await;
    assert_eq!(s, 401);
    assert!(www.unwrap().starts_with("Bearer error=\"invalid_token\""));
    assert!(
        !body.contains(&bad[..40]),
        "the body must not echo the token"
    );
    let user = keys.token(json!({"scope": "orders:read"}));
    let (s, _, body) = get(&app, "/me", Some(&user)).await;
    assert_eq!(s, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["subject"], "user-7");
    assert_eq!(me["kind"], "oauth2_token");
    assert_eq!(me["tenant"], "acme");
    assert_eq!(me["roles"], json!(["dev"]));
    assert_eq!(me["scopes"], json!(["orders:read"]));
    assert_eq!(me["permissions"], json!([]));
    assert_eq!(me["session_id"], "s-1");
    let (s, www, _) = get(&app, "/admin", Some(&user)).await;
    assert_eq!(s, 403);
    assert_eq!(www.unwrap(), "Bearer error=\"insufficient_scope\", error_description=\"the request requires higher privileges\", scope=\"admin:read\"");
    assert_eq!(
        get(
            &app,
            "/admin",
            Some(&keys.token(json!({"permissions": ["admin:read"]})))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        get(
            &app,
            "/admin",
            Some(&keys.token(json!({"scope": "admin:read"})))
        )
        .await
        .0,
        200
    );

    // One log line per request, with the subject, never the token.
    let mut app = app;
    let _ = app.child.kill();
    let mut logs = String::new();
    app.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        logs.contains("subject=user-7") && logs.contains("status=403"),
        "{logs}"
    );
    assert!(
        !logs.contains(&user[..40]) && !logs.contains(&bad[..40]),
        "a token reached the logs"
    );
}

async fn issuer_down(bin: &str) {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (app, _) = start(bin, &[("IAM_ISSUER", dead), ("IAM_AUDIENCE", AUD.into())]);
    assert_eq!(
        get(&app, "/health/alive", None).await.0,
        200,
        "alive while the issuer is down"
    );
    assert_eq!(get(&app, "/health/ready", None).await.0, 503);
    let keys = Keys::new();
    assert_eq!(
        get(&app, "/me", Some(&keys.token(json!({})))).await.0,
        503,
        "never a pass, never a 200"
    );
    assert_eq!(get(&app, "/me", None).await.0, 401);
}

/// With `IAM_KRATOS_PUBLIC_URL`, `/me` accepts a Kratos session cookie.
async fn sessions(bin: &str) {
    let keys = Keys::new();
    let (jwks, whoami) = (serve_jwks(keys.jwks()).await, serve_whoami().await);
    let (app, _) = start(
        bin,
        &[
            ("IAM_ISSUER", ISS.into()),
            ("IAM_AUDIENCE", AUD.into()),
            ("IAM_JWKS_URL", jwks.url("/jwks.json")),
            ("IAM_KRATOS_PUBLIC_URL", whoami.url("")),
        ],
    );
    let with_cookie = |cookie: &'static str| {
        reqwest::Client::new()
            .get(format!("{}/me", app.base))
            .header("cookie", cookie)
            .send()
    };
    let res = with_cookie("theme=dark; ory_kratos_session=good")
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let me: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(me["kind"], "user_session");
    assert_eq!(me["subject"], "ident-1");
    assert_eq!(me["session_id"], "sess-1");
    assert_eq!(me["tenant"], "acme");
    let res = with_cookie("ory_kratos_session=bad").await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    // JWTs still work next to sessions.
    assert_eq!(get(&app, "/me", Some(&keys.token(json!({})))).await.0, 200);
}

/// With `IAM_KRATOS_PUBLIC_URL` and no `IAM_ISSUER`, the app takes Kratos sessions only:
/// it starts, is ready, and refuses bearer JWTs (no issuer is trusted).
async fn kratos_sessions_only(bin: &str) {
    let keys = Keys::new();
    let whoami = serve_whoami().await;
    let (app, _) = start(bin, &[("IAM_KRATOS_PUBLIC_URL", whoami.url(""))]);
    assert_eq!(get(&app, "/health/ready", None).await.0, 200);
    let res = reqwest::Client::new()
        .get(format!("{}/me", app.base))
        .header("cookie", "ory_kratos_session=good")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(get(&app, "/me", Some(&keys.token(json!({})))).await.0, 401);
}

/// With `IAM_CREDENTIALS_URL` + `IAM_CREDENTIALS_TOKEN`, `/me` accepts PATs.
async fn pats(bin: &str) {
    let keys = Keys::new();
    let (jwks, validate) = (serve_jwks(keys.jwks()).await, serve_validate().await);
    let (app, _) = start(
        bin,
        &[
            ("IAM_ISSUER", ISS.into()),
            ("IAM_AUDIENCE", AUD.into()),
            ("IAM_JWKS_URL", jwks.url("/jwks.json")),
            ("IAM_CREDENTIALS_URL", validate.url("")),
            ("IAM_CREDENTIALS_TOKEN", SVC.into()),
        ],
    );
    let (s, _, body) = get(&app, "/me", Some(GOOD_PAT)).await;
    assert_eq!(s, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (me["kind"].as_str(), me["subject"].as_str()),
        (Some("personal_access_token"), Some("user-9"))
    );
    assert_eq!(me["scopes"], json!(["orders:read"]));
    let mut typo = GOOD_PAT.to_owned();
    typo.replace_range(6..7, "Z");
    assert_eq!(
        get(&app, "/me", Some(&typo)).await.0,
        401,
        "a typo never reaches the service"
    );
    // A token the credential service rate-limits is refused alone (401), never a 503 that
    // would hit every PAT; the good one still passes.
    let (s, _, body) = get(&app, "/me", Some(limited_pat())).await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(get(&app, "/me", Some(GOOD_PAT)).await.0, 200);
}

/// The end client's address reaches the credential service (`x-iam-client-ip`): the peer,
/// or what a proxy in `IAM_TRUSTED_PROXIES` wrote in `X-Forwarded-For`; a forwarded header
/// from a peer that is not trusted changes nothing.
async fn client_addr(bin: &str) {
    let keys = Keys::new();
    let (jwks, validate) = (serve_jwks(keys.jwks()).await, serve_validate().await);
    let env = |proxies: &str| {
        vec![
            ("IAM_ISSUER", ISS.into()),
            ("IAM_AUDIENCE", AUD.into()),
            ("IAM_JWKS_URL", jwks.url("/jwks.json")),
            ("IAM_CREDENTIALS_URL", validate.url("")),
            ("IAM_CREDENTIALS_TOKEN", SVC.into()),
            ("IAM_TRUSTED_PROXIES", proxies.to_owned()),
        ]
    };
    for (proxies, expected) in [
        ("127.0.0.1/32", "203.0.113.7"),
        ("", "127.0.0.1"),
        ("10.0.0.0/8", "127.0.0.1"),
    ] {
        let (app, _) = start(bin, &env(proxies));
        validate.clear();
        // A well-formed PAT the service does not know: each one is a fresh validation.
        let pat = iam_core::credential::generate(
            iam_core::credential::CredentialKind::PersonalAccessToken,
        )
        .unwrap();
        let res = reqwest::Client::new()
            .get(format!("{}/me", app.base))
            .header("authorization", format!("Bearer {}", pat.secret()))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401);
        let seen: Vec<Option<String>> = validate
            .requests()
            .iter()
            .map(|r| r.header("x-iam-client-ip").map(str::to_owned))
            .collect();
        assert_eq!(
            seen,
            vec![Some(expected.to_owned())],
            "IAM_TRUSTED_PROXIES={proxies:?}"
        );
    }
}

/// With `IAM_METRICS_LISTEN`, `/metrics` is served there, and not on `IAM_LISTEN`.
async fn metrics_listener(bin: &str) {
    let keys = Keys::new();
    let port = free_port();
    let jwks = serve_jwks(keys.jwks()).await;
    let (app, _) = start(
        bin,
        &[
            ("IAM_ISSUER", ISS.into()),
            ("IAM_AUDIENCE", AUD.into()),
            ("IAM_JWKS_URL", jwks.url("/jwks.json")),
            ("IAM_METRICS_LISTEN", format!("127.0.0.1:{port}")),
        ],
    );
    assert_eq!(get(&app, "/me", None).await.0, 401);
    let (s, _, body) = get(&app, "/metrics", None).await;
    assert!(
        s != 200 && !body.contains("sample_app_requests_total"),
        "{s} {body}"
    );
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(up, "metrics listener");
    let res = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("sample_app_requests_total{status=\"4xx\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_binary_meets_the_contract() {
    contract(env!("CARGO_BIN_EXE_sample-app-axum")).await;
    issuer_down(env!("CARGO_BIN_EXE_sample-app-axum")).await;
    sessions(env!("CARGO_BIN_EXE_sample-app-axum")).await;
    kratos_sessions_only(env!("CARGO_BIN_EXE_sample-app-axum")).await;
    pats(env!("CARGO_BIN_EXE_sample-app-axum")).await;
    client_addr(env!("CARGO_BIN_EXE_sample-app-axum")).await;
    metrics_listener(env!("CARGO_BIN_EXE_sample-app-axum")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_binary_meets_the_contract() {
    contract(env!("CARGO_BIN_EXE_sample-app-actix")).await;
    issuer_down(env!("CARGO_BIN_EXE_sample-app-actix")).await;
    sessions(env!("CARGO_BIN_EXE_sample-app-actix")).await;
    kratos_sessions_only(env!("CARGO_BIN_EXE_sample-app-actix")).await;
    pats(env!("CARGO_BIN_EXE_sample-app-actix")).await;
    client_addr(env!("CARGO_BIN_EXE_sample-app-actix")).await;
    metrics_listener(env!("CARGO_BIN_EXE_sample-app-actix")).await;
}

#[test]
fn missing_configuration_exits_2() {
    for bin in [
        env!("CARGO_BIN_EXE_sample-app-axum"),
        env!("CARGO_BIN_EXE_sample-app-actix"),
    ] {
        let out = Command::new(bin)
            .env_clear()
            .env("IAM_AUDIENCE", AUD)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bin}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("IAM_ISSUER"));
        let out = Command::new(bin)
            .env_clear()
            .env("IAM_ISSUER", ISS)
            .env("IAM_AUDIENCE", AUD)
            .env("IAM_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.0/33")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bin}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("IAM_TRUSTED_PROXIES"));
    }
}

#[test]
fn config_debug_never_shows_the_credentials_token() {
    std::env::set_var("IAM_ISSUER", ISS);
    std::env::set_var("IAM_AUDIENCE", AUD);
    std::env::set_var("IAM_CREDENTIALS_URL", "http://127.0.0.1:4000");
    std::env::set_var("IAM_CREDENTIALS_TOKEN", SVC);
    let c = sample_app::Config::from_env().unwrap();
    let shown = format!("{c:?}");
    assert!(
        shown.contains("127.0.0.1:4000") && !shown.contains(SVC),
        "{shown}"
    );
}
