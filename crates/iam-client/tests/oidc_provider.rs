//! iam-client and iam-core against a real OpenID provider: node's `oidc-provider` (OpenID
//! Certified), started on loopback from `tests/oidc-provider/`. Needs `node` and `npm ci`
//! in that folder, so every test here is `#[ignore]`d unless run by `scripts/test`, which
//! installs both; when run without them, a test fails.
use iam_client::RemoteJwks;
use iam_core::authn::{AuthChain, Authenticator, JwtAuthenticator, RequestView};
use iam_core::jwt::{JwtErrorKind, TokenType, Validator};
use iam_core::principal::PrincipalKind;
use iam_testkit::scratch::free_port;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CLIENT_ID: &str = "orders-service";
const CLIENT_SECRET: &str = "orders-service-secret-0123456789abcdef";
const RESOURCE: &str = "urn:iam-rs:orders-api";

struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// A provider on `port` (0: any), signing with a key named `kid`. Panics when the provider
/// is not installed (`scripts/test` installs it).
fn start(port: u16, kid: &str) -> Provider {
    start_with(port, kid, &[])
}

/// [`start`] with more environment for server.mjs (`BCL_URI`, ...).
fn start_with(port: u16, kid: &str, env: &[(&str, &str)]) -> Provider {
    assert!(
        provider_dir().join("node_modules/oidc-provider").is_dir(),
        "oidc-provider is not installed: run `scripts/test` (or `npm ci` in {})",
        provider_dir().display()
    );
    // Retry while the port is briefly taken (a previous provider's socket, or a concurrent
    // test's outgoing connection using it as its local port), or when node did not come up
    // within its time (seen once on a loaded CI machine: node alive, never listening).
    for _ in 0..20 {
        if let Some(p) = spawn_once(port, kid, env) {
            return p;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("oidc-provider could not start on port {port}");
}

fn spawn_once(port: u16, kid: &str, env: &[(&str, &str)]) -> Option<Provider> {
    let mut child = match Command::new("node")
        .arg("server.mjs")
        .current_dir(provider_dir())
        .env("PORT", port.to_string())
        .env("KID", kid)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("node cannot be started: {e}"),
    };
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(issuer) = line.strip_prefix("listening ") {
                let _ = tx.send(issuer.to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(issuer) => Some(Provider { child, issuer }),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

async fn discover(issuer: &str) -> serde_json::Value {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        doc["issuer"], issuer,
        "the provider's issuer matches exactly"
    );
    doc
}

async fn client_credentials_token(issuer: &str, scope: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope={scope}&resource={RESOURCE}"
        ))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "token endpoint answered {}",
        res.status()
    );
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn status(chain: &AuthChain, token: &str) -> Result<iam_core::Principal, u16> {
    let req = http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    match chain.authenticate(&RequestView::from_request(&req)).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(0),
        Err(e) => Err(e.status().as_u16()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the oidc-provider (node, npm ci): scripts/test"]
async fn client_credentials_access_tokens_validate_through_remote_jwks() {
    let op = start(0, "k-2026");
    let doc = discover(&op.issuer).await;
    let jwks_uri = doc["jwks_uri"].as_str().unwrap();
    let keys = RemoteJwks::builder(jwks_uri).build().unwrap();
    let validator = Validator::builder(op.issuer.clone())
        .audience("orders-api")
        .token_type(TokenType::AccessToken)
        .build()
        .unwrap();
    let chain = AuthChain::new().with(JwtAuthenticator::new(validator, keys.clone()));

    let token = client_credentials_token(&op.issuer, "orders:read").await;
    let p = status(&chain, &token)
        .await
        .expect("a real at+jwt from the provider validates");
    assert_eq!(p.kind(), PrincipalKind::Client);
    assert_eq!(p.subject(), CLIENT_ID);
    assert_eq!(p.client_id(), Some(CLIENT_ID));
    assert!(p.has_scope("orders:read") && !p.has_scope("orders:write"));
    assert_eq!(p.issuer(), Some(op.issuer.as_str()));

    for _ in 0..20 {
        status(
            &chain,
            &client_credentials_token(&op.issuer, "orders:write").await,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        keys.stats().fetches,
        1,
        "one JWKS fetch serves every token: {:?}",
        keys.stats()
    );

    // Tampered: payload of another token with this token's signature.
    let other = client_credentials_token(&op.issuer, "orders:write").await;
    let (head_payload, _) = other.rsplit_once('.').unwrap();
    let sig = token.rsplit('.').next().unwrap();
    assert_eq!(
        status(&chain, &format!("{head_payload}.{sig}"))
            .await
            .unwrap_err(),
        401
    );

    // The same token for a service with another audience is refused.
    let elsewhere = Validator::builder(op.issuer.clone())
        .audience("billing-api")
        .build()
        .unwrap();
    let set = iam_core::jwks::KeySource::keys(&keys).await.unwrap();
    assert_eq!(
        elsewhere.validate(&token, &set).unwrap_err().kind(),
        &JwtErrorKind::WrongAudience
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the oidc-provider (node, npm ci): scripts/test"]
async fn key_rotation_at_the_provider() {
    let port = free_port();
    let first = start(port, "key-a");
    let issuer = first.issuer.clone();
    let keys = RemoteJwks::builder(format!("{issuer}/jwks"))
        .cooldown(Duration::ZERO)
        .build()
        .unwrap();
    let validator = Validator::builder(issuer.clone())
        .audience("orders-api")
        .build()
        .unwrap();
    let chain = AuthChain::new().with(JwtAuthenticator::new(validator, keys.clone()));
    let old_token = client_credentials_token(&issuer, "orders:read").await;
    status(&chain, &old_token).await.expect("key-a token");
    status(&chain, &old_token)
        .await
        .expect("key-a token, cached");

    // The provider restarts with a new signing key and no longer publishes the old one.
    drop(first);
    let second = start(port, "key-b");
    assert_eq!(second.issuer, issuer);
    let new_token = client_credentials_token(&issuer, "orders:read").await;
    status(&chain, &new_token)
        .await
        .expect("the new key is picked up on its first token");
    assert_eq!(keys.stats().fetches, 2);
    assert_eq!(
        status(&chain, &old_token).await.unwrap_err(),
        401,
        "the retired key stops validating"
    );
}

const OPAQUE_ID: &str = "opaque-client";
const OPAQUE_SECRET: &str = "opaque-client-secret-0123456789abcdef";

async fn opaque_token(issuer: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(OPAQUE_ID, Some(OPAQUE_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=orders:read")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert!(!iam_core::authn::looks_like_jws(&token), "an opaque token");
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the oidc-provider (node, npm ci): scripts/test"]
async fn discovery_and_the_issuer_registry() {
    use iam_client::{HttpClient, IssuerRegistry, TrustedIssuer};
    let op = start(0, "k-disc");
    let http = HttpClient::new().unwrap();
    let trusted = TrustedIssuer::discover(&op.issuer, "orders-api", &http)
        .await
        .unwrap();
    let meta = trusted.metadata().unwrap();
    assert_eq!(
        meta.token_endpoint().unwrap().as_str(),
        format!("{}/token", op.issuer)
    );
    // The issuer must match the discovery document exactly: a trailing slash is another issuer.
    let err = TrustedIssuer::discover(&format!("{}/", op.issuer), "orders-api", &http)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unexpected issuer"), "{err}");

    let keys = trusted.keys().clone();
    let chain = AuthChain::new().with(IssuerRegistry::new().with(trusted));
    let token = client_credentials_token(&op.issuer, "orders:read").await;
    assert_eq!(status(&chain, &token).await.unwrap().subject(), CLIENT_ID);
    let fetches = keys.stats().fetches;
    // A token naming an issuer outside the registry: refused with no network call.
    let b64 = |v: serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let foreign = format!(
        "{}.{}.c2ln",
        b64(serde_json::json!({"alg":"RS256","kid":"k-disc"})),
        b64(
            serde_json::json!({"iss":"https://evil.example","aud":"orders-api","sub":"x","exp":4_000_000_000u64})
        )
    );
    assert_eq!(status(&chain, &foreign).await.unwrap_err(), 401);
    assert_eq!(keys.stats().fetches, fetches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the oidc-provider (node, npm ci): scripts/test"]
async fn client_credentials_are_cached_and_shared() {
    use iam_client::{ClientCredentials, ClientCredentialsError, HttpClient};
    let op = start(0, "k-cc");
    let http = HttpClient::new().unwrap();
    let cc = ClientCredentials::builder(format!("{}/token", op.issuer), CLIENT_ID, CLIENT_SECRET)
        .scope("orders:read")
        .param("resource", RESOURCE)
        .build(http.clone())
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cc = cc.clone();
            tokio::spawn(async move { cc.access_token().await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    assert!(
        tokens.windows(2).all(|w| w[0] == w[1]),
        "every caller got the same cached token"
    );
    assert_eq!(
        cc.token_requests(),
        1,
        "one request in flight for 20 callers"
    );
    assert!(
        !format!("{:?}", tokens[0]).contains(tokens[0].secret()),
        "Debug never shows the token"
    );

    // The token is a real access token for the orders API.
    let keys = RemoteJwks::builder(format!("{}/jwks", op.issuer))
        .build()
        .unwrap();
    let v = Validator::builder(op.issuer.clone())
        .audience("orders-api")
        .build()
        .unwrap();
    let chain = AuthChain::new().with(JwtAuthenticator::new(v, keys));
    assert!(status(&chain, tokens[0].secret())
        .await
        .unwrap()
        .has_scope("orders:read"));
    cc.invalidate();
    cc.access_token().await.unwrap();
    assert_eq!(cc.token_requests(), 2);

    let wrong =
        ClientCredentials::builder(format!("{}/token", op.issuer), CLIENT_ID, "wrong-secret")
            .build(http)
            .unwrap();
    let err = wrong.access_token().await.unwrap_err();
    assert!(matches!(err, ClientCredentialsError::Refused(_)), "{err:?}");
    assert!(!err.to_string().contains("wrong-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the oidc-provider (node, npm ci): scripts/test"]
async fn introspection_and_revocation_of_opaque_tokens() {
    use iam_client::{HttpClient, Introspection};
    let op = start(0, "k-intro");
    let http = HttpClient::new().unwrap();
    let intro = Introspection::builder(
        format!("{}/token/introspection", op.issuer),
        OPAQUE_ID,
        OPAQUE_SECRET,
    )
    .revocation_endpoint(format!("{}/token/revocation", op.issuer))
    .issuer(op.issuer.clone())
    // The provider's client-credentials tokens carry no audience (no resource indicator).
    .dangerous()
    .accept_any_audience()
    .build(http.clone())
    .unwrap();
    let chain = AuthChain::new().with(intro.clone());
    let token = opaque_token(&op.issuer).await;
    let p = status(&chain, &token).await.expect("active opaque token");
    assert_eq!(p.kind(), PrincipalKind::Client);
    assert_eq!(p.subject(), OPAQUE_ID);
    assert!(p.has_scope("orders:read"));
    assert_eq!(intro.cached(), 1);
    status(&chain, &token).await.unwrap();

    intro.revoke(&token, "access_token").await.unwrap();
    assert_eq!(
        status(&chain, &token).await.unwrap_err(),
        401,
        "revoked: inactive, cache purged"
    );
    assert_eq!(status(&chain, "junk-token-value").await.unwrap_err(), 401);

    // An issuer mismatch is not active for us.
    let other = Introspection::builder(
        format!("{}/token/introspection", op.issuer),
        OPAQUE_ID,
        OPAQUE_SECRET,
    )
    .issuer("https://someone-else.example")
    .dangerous()
    .accept_any_audience()
    .build(http.clone())
    .unwrap();
    assert!(other
        .introspect(&opaque_token(&op.issuer).await)
        .await
        .unwrap()
        .is_none());

    // The authorization server down: 503, never a pass.
    let down = Introspection::builder("http://127.0.0.1:9/introspect", OPAQUE_ID, OPAQUE_SECRET)
        .audience("orders-api")
        .build(http)
        .unwrap();
    let down_chain = AuthChain::new().with(down);
    assert_eq!(
        status(&down_chain, &opaque_token(&op.issuer).await)
            .await
            .unwrap_err(),
        503
    );
}

/// A minimal browser: keeps cookies, follows redirects, fills oidc-provider's development
/// login, consent and logout forms.
#[derive(Default)]
struct Browser {
    cookies: std::collections::BTreeMap<String, String>,
}

impl Browser {
    /// Go to `url` and click through until a redirect leaves the provider for `stop_path`.
    async fn navigate(&mut self, url: &str, user: &str, stop_path: &str) -> reqwest::Url {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut url = url.to_owned();
        let mut form: Option<(String, String)> = None;
        for _ in 0..12 {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let req = match form.take() {
                Some((action, body)) => {
                    url = action;
                    http.post(&url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body)
                }
                None => http.get(&url),
            };
            let res = req.header("cookie", cookie).send().await.unwrap();
            for c in res.headers().get_all("set-cookie") {
                let pair = c.to_str().unwrap().split(';').next().unwrap();
                if let Some((k, v)) = pair.split_once('=') {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
            if res.status().is_redirection() {
                let next = res.headers()["location"].to_str().unwrap().to_owned();
                let next = reqwest::Url::parse(&url).unwrap().join(&next).unwrap();
                if next.path() == stop_path {
                    return next;
                }
                url = next.to_string();
                continue;
            }
            let page = res.text().await.unwrap();
            let action = page
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
                .unwrap_or_else(|| url.clone());
            let body = if page.contains("name=\"login\"") {
                format!("prompt=login&login={user}&password=any")
            } else if let Some(xsrf) = page
                .split("name=\"xsrf\" value=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                format!("xsrf={xsrf}&logout=yes")
            } else {
                "prompt=consent".to_owned()
            };
            form = Some((action, body));
        }
        panic!("the browser never reached {stop_path}");
    }
}

async fn browser_login(start_url: &str, user: &str) -> reqwest::Url {
    Browser::default()
        .navigate(start_url, user, "/callback")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the oidc-provider (node, npm ci): scripts/test"]
async fn authorization_code_with_pkce_and_refresh_rotation() {
    use iam_client::login::{LoginClient, LoginError, PendingLogin, SessionTokens};
    use iam_client::{HttpClient, TrustedIssuer};
    let op = start(0, "k-login");
    let http = HttpClient::new().unwrap();
    let issuer = TrustedIssuer::discover(&op.issuer, "web-app", &http)
        .await
        .unwrap();
    let login = LoginClient::new(
        &issuer,
        "web-app",
        "web-app-secret-0123456789abcdef0123",
        "http://127.0.0.1:1/callback",
        http,
    )
    .unwrap();

    let (url, pending) = login.begin(&["openid", "offline_access"]);
    assert!(
        url.contains("code_challenge_method=S256")
            && url.contains("nonce=")
            && url.contains("state=")
    );
    assert!(!format!("{pending:?}").contains("code_verifier"));
    let callback = browser_login(&url, "alice").await;
    let q: std::collections::HashMap<_, _> = callback.query_pairs().into_owned().collect();
    assert!(
        q.contains_key("code"),
        "callback without a code: {callback}"
    );
    let outcome = login
        .complete(pending, &q["code"], &q["state"])
        .await
        .expect("login completes");
    assert_eq!(outcome.principal.subject(), "alice");
    assert_eq!(outcome.principal.kind(), PrincipalKind::UserSession);
    assert_eq!(outcome.principal.issuer(), Some(op.issuer.as_str()));
    let first_rt = outcome
        .tokens
        .refresh_token
        .clone()
        .expect("offline_access gives a refresh token");

    // A callback with another state is refused before any token request.
    let (url2, pending2) = login.begin(&["openid"]);
    let cb2 = browser_login(&url2, "alice").await;
    let q2: std::collections::HashMap<_, _> = cb2.query_pairs().into_owned().collect();
    assert!(matches!(
        login.complete(pending2, &q2["code"], "forged-state").await,
        Err(LoginError::StateMismatch)
    ));

    // The ID token's nonce must be the one this login sent; the PKCE verifier must match.
    let (url3, pending3) = login.begin(&["openid"]);
    let (_, other) = login.begin(&["openid"]);
    let (state3, _, verifier3) = pending3.secrets();
    let (_, other_nonce, other_verifier) = other.secrets();
    let cb3 = browser_login(&url3, "alice").await;
    let code3: String = cb3
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let wrong_nonce = PendingLogin::from_secrets(state3, other_nonce, verifier3);
    assert!(matches!(
        login.complete(wrong_nonce, &code3, state3).await,
        Err(LoginError::InvalidIdToken(_))
    ));
    let (url4, pending4) = login.begin(&["openid"]);
    let (state4, nonce4, _) = pending4.secrets();
    let cb4 = browser_login(&url4, "alice").await;
    let code4: String = cb4
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let wrong_verifier = PendingLogin::from_secrets(state4, nonce4, other_verifier);
    assert!(matches!(
        login.complete(wrong_verifier, &code4, state4).await,
        Err(LoginError::Refused(_))
    ));

    // Refresh rotates the refresh token atomically.
    let session = SessionTokens::new(outcome.tokens);
    session.refresh(&login).await.expect("first refresh");
    let rotated = session.current().await.refresh_token.unwrap();
    assert_ne!(
        rotated.secret(),
        first_rt.secret(),
        "the provider rotated the refresh token"
    );
    // Reusing the old refresh token is refused by the provider and reported as re-login.
    assert!(matches!(
        login.refresh(&first_rt).await,
        Err(LoginError::ReloginRequired)
    ));
    // oidc-provider revokes the whole family on reuse: the session must log in again too.
    assert!(matches!(
        session.refresh(&login).await,
        Err(LoginError::ReloginRequired)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the oidc-provider (node, npm ci): scripts/test"]
async fn rp_initiated_logout_sends_a_valid_backchannel_logout_token() {
    use iam_client::login::LoginClient;
    use iam_client::logout::BackchannelLogout;
    use iam_client::{HttpClient, TrustedIssuer};

    // The relying party's back-channel endpoint: captures the POSTed logout token.
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let tx = std::sync::Mutex::new(Some(tx));
    let bcl = iam_testkit::LoopbackServer::start(move |req| {
        if req.method == http::Method::POST {
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(String::from_utf8_lossy(&req.body).into_owned());
            }
        }
        iam_testkit::Reply::status(200)
    })
    .await;
    let bcl_uri = bcl.url("/bcl");

    let op = start_with(0, "gen-rs256", &[("BCL_URI", &bcl_uri)]);
    let issuer = op.issuer.clone();

    let http = HttpClient::new().unwrap();
    let trusted = TrustedIssuer::discover(&issuer, "web-app", &http)
        .await
        .unwrap();
    assert_eq!(
        trusted.end_session_endpoint(),
        Some(format!("{issuer}/session/end").as_str())
    );
    let login = LoginClient::new(
        &trusted,
        "web-app",
        "web-app-secret-0123456789abcdef0123",
        "http://127.0.0.1:1/callback",
        http,
    )
    .unwrap();
    let mut browser = Browser::default();
    let (url, pending) = login.begin(&["openid"]);
    let cb = browser.navigate(&url, "bob", "/callback").await;
    let q: std::collections::HashMap<_, _> = cb.query_pairs().into_owned().collect();
    let outcome = login
        .complete(pending, &q["code"], &q["state"])
        .await
        .unwrap();
    assert!(!format!("{:?}", outcome.id_token).contains(outcome.id_token.secret()));

    let logout_url = login
        .logout_url(
            &outcome.id_token,
            Some("http://127.0.0.1:1/logged-out"),
            Some("bye"),
        )
        .expect("the provider has an end_session_endpoint");
    let done = browser.navigate(&logout_url, "bob", "/logged-out").await;
    assert!(done.query_pairs().any(|(k, v)| k == "state" && v == "bye"));

    let body = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("a back-channel POST")
        .unwrap();
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("logout_token in the body");
    let validator = BackchannelLogout::new(&issuer, "web-app", trusted.keys().clone()).unwrap();
    let request = validator
        .validate(&token)
        .await
        .expect("the provider's logout token validates");
    assert_eq!(request.subject(), Some("bob"));
    assert!(request.session_id().is_some());
    assert!(matches!(
        validator.validate(&token).await,
        Err(iam_client::logout::LogoutTokenError::Replayed)
    ));
}
