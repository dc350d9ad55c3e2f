//! Both binaries of the sample app against the real Ory Hydra v2.3.0 (started per test by
//! iam-testkit; `#[ignore]`d unless run by `scripts/test`): client-credentials JWTs validated
//! by the middleware with `scp` and `client_id` in the principal, a rotation of
//! `hydra.jwt.access-token` through the admin API picked up without a restart, and opaque
//! tokens accepted through `IAM_INTROSPECTION_URL`.
use iam_client::hydra::{HydraAdmin, OAuth2Client};
use iam_client::{ClientCredentials, HttpClient};
use iam_testkit::peers::hydra::Hydra;
use iam_testkit::scratch::free_port;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AUD: &str = "sample-api";
const SECRET: &str = "orders-service-secret-0123456789";
const BINS: [&str; 2] = [
    env!("CARGO_BIN_EXE_sample-app-axum"),
    env!("CARGO_BIN_EXE_sample-app-actix"),
];

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

fn start(bin: &str, envs: &[(&str, String)]) -> App {
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("IAM_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut app = App {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return app;
            }
            if app.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    panic!("{bin} did not start");
}

/// `GET /me` with the bearer token: status and body.
async fn me(app: &App, token: &str) -> (u16, String) {
    let res = reqwest::Client::new()
        .get(format!("{}/me", app.base))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn service_client(hydra: &Hydra) {
    let admin = HydraAdmin::new(hydra.admin_url(), HttpClient::new().unwrap()).unwrap();
    let mut client = OAuth2Client::service("orders-svc", "orders:read orders:write").secret(SECRET);
    client.audience = vec![AUD.into(), "billing-api".into()];
    admin.create_client(&client).await.unwrap();
}

/// A fresh client-credentials token for `audience` (none: Hydra's `aud` is empty).
async fn token(hydra: &Hydra, audience: Option<&str>) -> String {
    let mut b = ClientCredentials::builder(
        format!("{}/oauth2/token", hydra.public_url()),
        "orders-svc",
        SECRET,
    )
    .scope("orders:read");
    if let Some(a) = audience {
        b = b.param("audience", a);
    }
    let cc = b.build(HttpClient::new().unwrap()).unwrap();
    cc.access_token().await.unwrap().secret().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs hydra: scripts/test"]
async fn client_credentials_jwts_are_accepted_and_a_key_rotation_needs_no_restart() {
    let hydra = Hydra::start().await;
    service_client(&hydra).await;
    let env = [
        ("IAM_ISSUER", hydra.issuer()),
        ("IAM_AUDIENCE", AUD.to_owned()),
    ];
    let apps: Vec<App> = BINS.iter().map(|b| start(b, &env)).collect();
    let first = token(&hydra, Some(AUD)).await;
    let header = iam_core::jwt::unverified_kid(&first).expect("a JWT access token");
    for app in &apps {
        let (status, body) = me(app, &first).await;
        assert_eq!(status, 200, "{body}");
        let me: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(me["kind"], "client");
        assert_eq!(me["subject"], "orders-svc");
        assert_eq!(me["client_id"], "orders-svc");
        assert!(
            body.contains("orders:read") && !body.contains("orders:write"),
            "{body}"
        );
        // A token of the same issuer for another audience is refused.
        let other = token(&hydra, Some("billing-api")).await;
        assert_eq!(me_status(app, &other).await, 401);
    }

    // Rotate the access-token key set through the admin API: Hydra signs with the new key.
    // A long timeout: Hydra generates a 4096-bit RSA key.
    let http = HttpClient::new()
        .unwrap()
        .with_timeout(Duration::from_secs(90));
    let admin = HydraAdmin::new(hydra.admin_url(), http).unwrap();
    let rotated = admin
        .rotate_key_set("hydra.jwt.access-token", "RS256")
        .await
        .unwrap();
    let new_kid = rotated.kids()[0].to_owned();
    let second = token(&hydra, Some(AUD)).await;
    assert_eq!(
        iam_core::jwt::unverified_kid(&second).as_deref(),
        Some(new_kid.as_str())
    );
    assert_ne!(header, new_kid);
    // The apps refetch the key set for the unknown kid (at most once per 30 s cooldown
    // after their last fetch), without a restart.
    let deadline = Instant::now() + Duration::from_secs(50);
    for app in &apps {
        loop {
            match me_status(app, &second).await {
                200 => break,
                401 if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_secs(2)).await
                }
                other => panic!("the rotated key was not picked up: {other}"),
            }
        }
        assert_eq!(
            me_status(app, &first).await,
            200,
            "tokens of the old key stay valid"
        );
    }
}

async fn me_status(app: &App, token: &str) -> u16 {
    me(app, token).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs hydra: scripts/test"]
async fn opaque_hydra_tokens_are_accepted_through_introspection() {
    let hydra = Hydra::builder().opaque_access_tokens().start().await;
    service_client(&hydra).await;
    let env = [
        ("IAM_ISSUER", hydra.issuer()),
        ("IAM_AUDIENCE", AUD.to_owned()),
        (
            "IAM_INTROSPECTION_URL",
            format!("{}/admin/oauth2/introspect", hydra.admin_url()),
        ),
    ];
    let opaque = token(&hydra, Some(AUD)).await;
    assert!(opaque.starts_with("ory_at_"), "an opaque token");
    let other = token(&hydra, Some("billing-api")).await;
    for bin in BINS {
        let app = start(bin, &env);
        let (status, body) = me(&app, &opaque).await;
        assert_eq!(status, 200, "{body}");
        let me: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(me["client_id"], "orders-svc");
        assert!(body.contains("orders:read"), "{body}");
        // Another audience: refused, and the answer says why.
        let res = reqwest::Client::new()
            .get(format!("{}/me", app.base))
            .header("authorization", format!("Bearer {other}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401);
        let www = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(www.contains("not meant for this audience"), "{www}");
        assert_eq!(me_status(&app, "ory_at_not-a-token").await, 401);
    }
}
