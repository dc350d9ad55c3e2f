//! KratosSessions against a Kratos test double whose every answer is checked against the
//! published Kratos v26.2.0 OpenAPI schema (vendored in iam-testkit), and against a real
//! Redis for the shared cache (`REDIS_URL`; those tests are `#[ignore]`d unless run by
//! `scripts/test`, which starts Redis).
use iam_client::kratos::{KratosSessions, RedisSessionStore};
use iam_core::authn::{AuthChain, Authenticator, RequestView, Requirement};
use iam_core::principal::{AssuranceLevel, PrincipalKind};
use iam_testkit::keys::{ed25519_key, ed_jwk, sign_raw, Signer};
use iam_testkit::schema::OpenApi;
use iam_testkit::services::redis_url;
use iam_testkit::{LoopbackServer, Reply};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// The double.

#[derive(Clone)]
struct FakeSession {
    id: String,
    identity: String,
    aal: &'static str,
    /// Kratos answers 403 session_aal2_required for this session.
    aal2_required: bool,
    active: bool,
    expires_in: i64,
    roles: Vec<&'static str>,
    /// The identity's address (`traits.email`) is verified.
    email_verified: bool,
}

#[derive(Default)]
struct State {
    /// credential (cookie value or session token) → session
    sessions: HashMap<String, FakeSession>,
    down: bool,
    /// Delay before answering whoami (to make concurrent requests overlap).
    delay_ms: u64,
    /// (path, cookie header, x-session-token header) of every request
    seen: Vec<(String, Option<String>, Option<String>)>,
    /// (status, body) of every answer, for the contract check
    sent: Vec<(u16, Value)>,
}

struct Kratos {
    url: String,
    state: Arc<Mutex<State>>,
    _server: LoopbackServer,
}

fn rfc3339(offset: i64) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + offset;
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn session_body(s: &FakeSession, tokenized: Option<String>) -> Value {
    let mut body = json!({
        "id": s.id,
        "active": s.active,
        "expires_at": rfc3339(s.expires_in),
        "authenticated_at": rfc3339(-30),
        "issued_at": rfc3339(-30),
        "authenticator_assurance_level": s.aal,
        "authentication_methods": [
            {"method": "password", "aal": "aal1", "completed_at": rfc3339(-30)}
        ],
        "devices": [{"id": "0b6a2c52-6f4c-4a43-9d0a-7f5e2c1d0e11", "ip_address": "192.0.2.1",
                     "user_agent": "test"}],
        "identity": {
            "id": s.identity,
            "schema_id": "default",
            "schema_url": "https://kratos.example/schemas/default",
            "state": "active",
            "traits": {"email": "ada@example.com", "name": {"first": "Ada", "last": "L"}},
            "metadata_public": {"roles": s.roles, "permissions": ["orders:read"], "tenant": "acme"},
            "verifiable_addresses": [{
                "id": "1b6a2c52-6f4c-4a43-9d0a-7f5e2c1d0e11", "value": "ada@example.com",
                "verified": s.email_verified, "via": "email",
                "status": if s.email_verified { "completed" } else { "sent" },
                "created_at": rfc3339(-100), "updated_at": rfc3339(-100)
            }],
            "created_at": rfc3339(-100),
            "updated_at": rfc3339(-100)
        }
    });
    if s.aal == "aal2" {
        body["authentication_methods"]
            .as_array_mut()
            .unwrap()
            .push(json!({"method": "totp", "aal": "aal2", "completed_at": rfc3339(-20)}));
    }
    if let Some(t) = tokenized {
        body["tokenized"] = t.into();
    }
    body
}

fn error_body(code: u16, id: &str, reason: &str) -> Value {
    let status = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        _ => "Internal Server Error",
    };
    json!({"error": {"code": code, "status": status, "id": id, "reason": reason,
                     "message": "the request was rejected"}})
}

impl Kratos {
    async fn start() -> Kratos {
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        let server = LoopbackServer::start(move |req| {
            let cookie = req.header("cookie").map(str::to_owned);
            let token = req.header("x-session-token").map(str::to_owned);
            let path = req
                .uri
                .path_and_query()
                .map_or("", |p| p.as_str())
                .to_owned();
            let mut s = st.lock().unwrap();
            s.seen.push((path.clone(), cookie.clone(), token.clone()));
            let (status, body) = if s.down {
                (503, error_body(503, "", "down"))
            } else if req.method == http::Method::DELETE && path.starts_with("/admin/identities/") {
                let identity = path.split('/').nth(3).unwrap_or("").to_owned();
                for f in s.sessions.values_mut() {
                    if f.identity == identity {
                        f.active = false;
                    }
                }
                (204, Value::Null)
            } else if path.starts_with("/sessions/whoami") {
                let credential = cookie
                    .as_deref()
                    .and_then(|c| c.strip_prefix("ory_kratos_session="))
                    .map(str::to_owned)
                    .or(token.clone());
                match credential.and_then(|c| s.sessions.get(&c).cloned()) {
                    _ if path.contains("tokenize_as=unknown") => (
                        400,
                        error_body(400, "", "Unable to find tokenizer template \"unknown\"."),
                    ),
                    Some(f) if f.active && f.expires_in > 0 && f.aal2_required => (
                        403,
                        error_body(403, "session_aal2_required", "aal2 required"),
                    ),
                    Some(f) if f.active && f.expires_in > 0 || f_misbehaves(&f) => {
                        let tokenized = path
                            .contains("tokenize_as=")
                            .then(|| "header.payload.signature".to_owned());
                        (200, session_body(&f, tokenized))
                    }
                    _ => (
                        401,
                        error_body(401, "session_inactive", "no active session"),
                    ),
                }
            } else {
                (404, error_body(404, "", "not found"))
            };
            s.sent.push((status, body.clone()));
            let text = if body.is_null() {
                String::new()
            } else {
                body.to_string()
            };
            Reply::status(status)
                .header("content-type", "application/json")
                .header(
                    "cache-control",
                    "private, no-cache, no-store, must-revalidate",
                )
                .body(text)
                .delayed(Duration::from_millis(s.delay_ms))
        })
        .await;
        Kratos {
            url: server.url(""),
            state,
            _server: server,
        }
    }

    fn add(&self, credential: &str, f: FakeSession) {
        self.state
            .lock()
            .unwrap()
            .sessions
            .insert(credential.into(), f);
    }
    fn set(&self, credential: &str, change: impl FnOnce(&mut FakeSession)) {
        change(
            self.state
                .lock()
                .unwrap()
                .sessions
                .get_mut(credential)
                .unwrap(),
        );
    }
    fn calls(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.0.starts_with("/sessions/whoami"))
            .count()
    }
    fn down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }
    /// Every body the double sent must match the Kratos schema for its status.
    fn check_contract(&self) {
        let sent = self.state.lock().unwrap().sent.clone();
        for (status, body) in sent {
            if status == 204 || status == 404 {
                continue;
            }
            let schema = if status == 200 {
                "session"
            } else {
                "errorGeneric"
            };
            assert_valid(schema, &body);
        }
    }
}

/// A session the double answers 200 for even though it has expired (a misbehaving or
/// clock-skewed Kratos): the library must refuse it on its own.
fn f_misbehaves(f: &FakeSession) -> bool {
    f.id.starts_with("misbehaving")
}

fn fake(id: &str, aal: &'static str) -> FakeSession {
    FakeSession {
        id: format!("{id}-5f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f"),
        identity: "9f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f".into(),
        aal,
        aal2_required: false,
        active: true,
        expires_in: 3600,
        roles: vec!["admin"],
        email_verified: true,
    }
}

// ---------------------------------------------------------------------------------------
// The contract: the double's bodies against the published schema.

fn assert_valid(schema: &str, body: &Value) {
    OpenApi::kratos().assert_valid(schema, body);
}

#[test]
fn contract_catches_a_drifting_double() {
    // The check is real: a body missing a required field or with a wrong enum is refused.
    let mut bad = session_body(&fake("s", "aal1"), None);
    bad["identity"].as_object_mut().unwrap().remove("schema_id");
    let spec = OpenApi::kratos();
    assert!(!spec.errors("session", &bad).is_empty());
    let mut bad_aal = session_body(&fake("s", "aal1"), None);
    bad_aal["authenticator_assurance_level"] = json!("aal9");
    assert!(!spec.errors("session", &bad_aal).is_empty());
    assert!(spec
        .errors(
            "session",
            &session_body(&fake("s", "aal2"), Some("t".into()))
        )
        .is_empty());
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn sessions(k: &Kratos) -> KratosSessions {
    KratosSessions::builder(&k.url)
        .admin(&k.url, None)
        .build()
        .unwrap()
}

fn req(headers: &[(&str, &str)]) -> http::Request<()> {
    let mut b = http::Request::get("/");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).unwrap()
}

async fn answer(
    a: &impl Authenticator,
    headers: &[(&str, &str)],
) -> Result<iam_core::Principal, (u16, String)> {
    let r = req(headers);
    match a.authenticate(&RequestView::from_request(&r)).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err((0, "none".into())),
        Err(e) => Err((e.status().as_u16(), e.error_code().to_owned())),
    }
}

const COOKIE: &str = "ory_kratos_session=MTY5OTk5OTk5OXxjb29raWUtMQ";

// ---------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn valid_cookie_gives_the_session_principal_and_only_that_cookie_reaches_kratos() {
    let k = Kratos::start().await;
    k.add("MTY5OTk5OTk5OXxjb29raWUtMQ", fake("s1", "aal2"));
    let s = sessions(&k);
    let other = format!("theme=dark; {COOKIE}; csrf_token=abc; _ga=GA1.2");
    let p = answer(&s, &[("cookie", &other)]).await.unwrap();
    assert_eq!(p.subject(), "9f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f");
    assert_eq!(p.kind(), PrincipalKind::UserSession);
    assert_eq!(
        p.session_id(),
        Some("s1-5f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f")
    );
    assert_eq!(p.assurance_level(), Some(AssuranceLevel::Aal2));
    assert_eq!(p.amr(), ["password", "totp"]);
    assert_eq!(p.roles(), ["admin"]);
    assert_eq!(p.tenant(), Some("acme"));
    assert!(p.has_permission("orders:read"));
    assert_eq!(p.claims()["email"], "ada@example.com");
    assert_eq!(p.claims()["email_verified"], true);
    assert!(p.auth_time().is_some() && p.expires_at().is_some());
    let seen = k.state.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].1.as_deref(),
        Some(COOKIE),
        "only the session cookie is forwarded"
    );
    k.check_contract();
}

#[tokio::test]
async fn session_token_by_header_or_bearer_and_jwts_left_alone() {
    let k = Kratos::start().await;
    k.add("ory_st_abcdefghijklmnop", fake("s2", "aal1"));
    let s = sessions(&k);
    let p = answer(&s, &[("x-session-token", "ory_st_abcdefghijklmnop")])
        .await
        .unwrap();
    assert_eq!(
        p.session_id(),
        Some("s2-5f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f")
    );
    let p = answer(&s, &[("authorization", "Bearer ory_st_abcdefghijklmnop")])
        .await
        .unwrap();
    assert_eq!(p.kind(), PrincipalKind::UserSession);
    // A JWT-shaped bearer or another opaque bearer is not ours: no call.
    let before = k.calls();
    assert_eq!(
        answer(&s, &[("authorization", "Bearer a.b.c")])
            .await
            .unwrap_err()
            .0,
        0
    );
    assert_eq!(
        answer(&s, &[("authorization", "Bearer pat_xyz")])
            .await
            .unwrap_err()
            .0,
        0
    );
    assert_eq!(k.calls(), before);
    // In a chain, an unrecognised opaque bearer is a 401, not anonymous.
    let chain = AuthChain::new().with(s.clone());
    let r = req(&[("authorization", "Bearer pat_xyz")]);
    assert_eq!(
        chain
            .run(&RequestView::from_request(&r))
            .await
            .unwrap_err()
            .status(),
        401
    );
    let seen = k.state.lock().unwrap().seen.clone();
    assert!(
        seen.iter().all(|s| s.1.is_none()),
        "no cookie sent with a token"
    );
    k.check_contract();
}

#[tokio::test]
async fn expired_inactive_and_unknown_are_401_and_cached_briefly() {
    let k = Kratos::start().await;
    let mut gone = fake("s3", "aal1");
    gone.expires_in = -10;
    k.add("expired", gone);
    let mut misbehaving = fake("misbehaving-s4", "aal1");
    misbehaving.expires_in = -10;
    k.add("misbehaving", misbehaving);
    let s = sessions(&k);
    for c in ["expired", "unknown", "misbehaving"] {
        let cookie = format!("ory_kratos_session={c}");
        assert_eq!(
            answer(&s, &[("cookie", &cookie)]).await.unwrap_err(),
            (401, "invalid_token".into()),
            "{c}"
        );
    }
    // The same bad cookies again within 5 s: answered from the negative cache.
    let before = k.calls();
    for _ in 0..20 {
        let _ = answer(&s, &[("cookie", "ory_kratos_session=unknown")]).await;
    }
    assert_eq!(k.calls(), before);
    k.check_contract();
}

#[tokio::test]
async fn a_flood_of_distinct_bad_cookies_costs_one_call_each_at_most() {
    let k = Kratos::start().await;
    let s = sessions(&k);
    for round in 0..3 {
        for i in 0..200 {
            let cookie = format!("ory_kratos_session=bad-{i}");
            assert_eq!(
                answer(&s, &[("cookie", &cookie)]).await.unwrap_err().0,
                401,
                "round {round}"
            );
        }
    }
    assert_eq!(
        k.calls(),
        200,
        "each distinct cookie reached Kratos once in the negative TTL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_new_cookie_make_one_call() {
    let k = Kratos::start().await;
    k.add("c-many", fake("s-many", "aal1"));
    k.state.lock().unwrap().delay_ms = 100;
    let s = sessions(&k);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        // Half a valid cookie, half an unknown one: one call each, not fifty.
        let cookie = if i % 2 == 0 {
            "ory_kratos_session=c-many"
        } else {
            "ory_kratos_session=nope"
        };
        tasks.push(tokio::spawn(async move {
            answer(&s, &[("cookie", cookie)]).await.map(|_| ())
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        assert_eq!(r.is_ok(), i % 2 == 0);
    }
    assert_eq!(k.calls(), 2);
}

#[tokio::test]
async fn cached_then_revoked_mid_cache_and_purged() {
    let k = Kratos::start().await;
    k.add("c5", fake("s5", "aal1"));
    let s = sessions(&k);
    let cookie = "ory_kratos_session=c5";
    answer(&s, &[("cookie", cookie)]).await.unwrap();
    answer(&s, &[("cookie", cookie)]).await.unwrap();
    assert_eq!(k.calls(), 1, "the second check is a cache hit");
    assert_eq!(s.stats().cache_hits, 1);
    // Revoked in Kratos: still cached (until the TTL) ...
    k.set("c5", |f| f.active = false);
    assert!(answer(&s, &[("cookie", cookie)]).await.is_ok());
    // ... until purged.
    s.purge_session("s5-5f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f")
        .await
        .unwrap();
    assert_eq!(answer(&s, &[("cookie", cookie)]).await.unwrap_err().0, 401);
}

#[tokio::test]
async fn log_out_everywhere_revokes_in_kratos_and_purges() {
    let k = Kratos::start().await;
    k.add("c6a", fake("s6a", "aal1"));
    k.add("c6b", fake("s6b", "aal1"));
    let s = sessions(&k);
    for c in ["c6a", "c6b"] {
        answer(&s, &[("cookie", &format!("ory_kratos_session={c}"))])
            .await
            .unwrap();
    }
    s.revoke_all_sessions("9f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f")
        .await
        .unwrap();
    for c in ["c6a", "c6b"] {
        let cookie = format!("ory_kratos_session={c}");
        assert_eq!(answer(&s, &[("cookie", &cookie)]).await.unwrap_err().0, 401);
    }
    let seen = k.state.lock().unwrap().seen.clone();
    assert!(seen
        .iter()
        .any(|s| s.0 == "/admin/identities/9f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f/sessions"));
}

#[tokio::test]
async fn assurance_levels() {
    let k = Kratos::start().await;
    k.add("aal1", fake("s7", "aal1"));
    let mut needs = fake("s8", "aal1");
    needs.aal2_required = true;
    k.add("needs-aal2", needs);
    k.add("aal2", fake("s9", "aal2"));
    let s = sessions(&k);
    let admin = Requirement::assurance(AssuranceLevel::Aal2);
    // An aal1 session on an aal2 route.
    let p = answer(&s, &[("cookie", "ory_kratos_session=aal1")])
        .await
        .unwrap();
    let e = admin.check(Some(&p)).unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.error_code()),
        (403, "insufficient_user_authentication")
    );
    assert!(e
        .www_authenticate()
        .unwrap()
        .to_str()
        .unwrap()
        .contains("acr_values=\"aal2\""));
    assert_eq!(e.to_json()["required_aal"], "aal2");
    // Kratos's own 403 session_aal2_required maps to the same answer.
    assert_eq!(
        answer(&s, &[("cookie", "ory_kratos_session=needs-aal2")])
            .await
            .unwrap_err(),
        (403, "insufficient_user_authentication".into())
    );
    let p = answer(&s, &[("cookie", "ory_kratos_session=aal2")])
        .await
        .unwrap();
    assert!(admin.check(Some(&p)).is_ok());
    k.check_contract();
}

#[tokio::test]
async fn kratos_down_cold_is_503_and_warm_cache_keeps_working() {
    let k = Kratos::start().await;
    k.add("c10", fake("s10", "aal1"));
    let s = KratosSessions::builder(&k.url)
        .ttl(Duration::from_millis(300))
        .build()
        .unwrap();
    let cookie = "ory_kratos_session=c10";
    k.down(true);
    assert_eq!(
        answer(&s, &[("cookie", cookie)]).await.unwrap_err(),
        (503, "temporarily_unavailable".into())
    );
    k.down(false);
    answer(&s, &[("cookie", cookie)]).await.unwrap();
    k.down(true);
    assert!(
        answer(&s, &[("cookie", cookie)]).await.is_ok(),
        "warm cache while Kratos is down"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        answer(&s, &[("cookie", cookie)]).await.unwrap_err().0,
        503,
        "never past the TTL"
    );
    assert!(s.stats().kratos_errors >= 2);
    // Nothing listening at all.
    let dead = KratosSessions::builder("http://127.0.0.1:9")
        .build()
        .unwrap();
    assert_eq!(
        answer(&dead, &[("cookie", cookie)]).await.unwrap_err().0,
        503
    );
    k.check_contract();
}

#[tokio::test]
async fn hostile_cookies_get_clean_4xx() {
    let k = Kratos::start().await;
    let s = sessions(&k);
    let huge = format!("ory_kratos_session={}", "A".repeat(5000));
    assert_eq!(
        answer(&s, &[("cookie", &huge)]).await.unwrap_err(),
        (400, "invalid_request".into())
    );
    let many: String =
        (0..500).map(|i| format!("c{i}=v{i}; ")).collect::<String>() + "ory_kratos_session=zz";
    assert_eq!(answer(&s, &[("cookie", &many)]).await.unwrap_err().0, 401);
    let twice = "ory_kratos_session=a; ory_kratos_session=b";
    assert_eq!(
        answer(&s, &[("cookie", twice)]).await.unwrap_err(),
        (400, "invalid_request".into())
    );
    let none = "theme=dark";
    assert_eq!(answer(&s, &[("cookie", none)]).await.unwrap_err().0, 0);
    assert_eq!(
        k.calls(),
        1,
        "only the one well-formed cookie was sent to Kratos"
    );
    let seen = k.state.lock().unwrap().seen.clone();
    assert_eq!(seen[0].1.as_deref(), Some("ory_kratos_session=zz"));
}

#[tokio::test]
async fn tokenize_returns_kratos_jwt() {
    let k = Kratos::start().await;
    k.add("ory_st_tok", fake("s11", "aal1"));
    let s = sessions(&k);
    assert_eq!(
        s.tokenize("ory_st_tok", "api").await.unwrap(),
        "header.payload.signature"
    );
    let seen = k.state.lock().unwrap().seen.clone();
    assert_eq!(seen[0].0, "/sessions/whoami?tokenize_as=api");
    assert_eq!(
        s.tokenize("ory_st_nope", "api").await.unwrap_err().status(),
        401
    );
    // An unknown template is a configuration error, not "session is not valid".
    let e = s.tokenize("ory_st_tok", "unknown").await.unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.description().contains("tokenize template"), "{e:?}");
    assert!(
        e.description()
            .contains("Unable to find tokenizer template"),
        "{e:?}"
    );
}

#[tokio::test]
async fn kratos_session_jwts_validate_locally() {
    let pair = ed25519_key();
    let jwks = LoopbackServer::fixed(Reply::json(
        200,
        &json!({"keys": [ed_jwk(&pair, "kratos-1")]}),
    ))
    .await;
    let jwks_url = jwks.url("/jwks.json");
    let kratos = "https://auth.example.com/.ory/kratos/public";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The claims Kratos v26 puts in a tokenized session.
    let sign = |claims: Value| {
        sign_raw(
            r#"{"alg":"EdDSA","kid":"kratos-1","typ":"JWT"}"#,
            &claims.to_string(),
            Signer::Ed(&pair),
        )
    };
    let claims = json!({"jti": "j-1", "iss": kratos, "sub": "ident-1", "sid": "sess-1",
                        "iat": now, "nbf": now, "exp": now + 600});
    let http = iam_client::HttpClient::new().unwrap();
    let a = iam_client::kratos::session_jwt_authenticator(kratos, &jwks_url, None, &http).unwrap();
    let p = a.authenticate_token(&sign(claims.clone())).await.unwrap();
    assert_eq!((p.subject(), p.session_id()), ("ident-1", Some("sess-1")));
    let mut no_sid = claims.clone();
    no_sid.as_object_mut().unwrap().remove("sid");
    assert_eq!(
        a.authenticate_token(&sign(no_sid))
            .await
            .unwrap_err()
            .status(),
        401
    );
    let mut other_iss = claims.clone();
    other_iss["iss"] = json!("https://evil.example");
    assert_eq!(
        a.authenticate_token(&sign(other_iss))
            .await
            .unwrap_err()
            .status(),
        401
    );
    // With an audience configured, a token without it is refused.
    let strict =
        iam_client::kratos::session_jwt_authenticator(kratos, &jwks_url, Some("api"), &http)
            .unwrap();
    assert_eq!(
        strict
            .authenticate_token(&sign(claims))
            .await
            .unwrap_err()
            .status(),
        401
    );
}

// ---------------------------------------------------------------------------------------
// Redis.

#[tokio::test]
#[ignore = "needs Redis: scripts/test"]
async fn shared_cache_in_redis_serves_a_fleet_and_purges() {
    let url = redis_url();
    let k = Kratos::start().await;
    k.add("c12", fake("s12", "aal1"));
    let prefix = format!("iam-test-{}:", std::process::id());
    let store = || RedisSessionStore::new(&url).unwrap().prefix(prefix.clone());
    let a = KratosSessions::builder(&k.url)
        .store(store())
        .build()
        .unwrap();
    let b = KratosSessions::builder(&k.url)
        .store(store())
        .build()
        .unwrap();
    let cookie = "ory_kratos_session=c12";
    answer(&a, &[("cookie", cookie)]).await.unwrap();
    let p = answer(&b, &[("cookie", cookie)]).await.unwrap();
    assert_eq!(
        p.session_id(),
        Some("s12-5f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f")
    );
    assert_eq!(k.calls(), 1, "instance b was served by Redis");
    assert_eq!(b.stats().store_hits, 1);
    // Revocation through a: gone from Redis, so a fresh instance asks Kratos again.
    k.set("c12", |f| f.active = false);
    a.purge_identity("9f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f")
        .await
        .unwrap();
    let c = KratosSessions::builder(&k.url)
        .store(store())
        .build()
        .unwrap();
    assert_eq!(answer(&c, &[("cookie", cookie)]).await.unwrap_err().0, 401);
    assert_eq!(answer(&a, &[("cookie", cookie)]).await.unwrap_err().0, 401);
}

#[tokio::test]
async fn redis_down_falls_back_to_kratos_and_says_so() {
    // Redis is "down" here by construction: nothing listens on this port.
    let k = Kratos::start().await;
    k.add("c13", fake("s13", "aal1"));
    let store = RedisSessionStore::new("redis://127.0.0.1:9/0").unwrap();
    let s = KratosSessions::builder(&k.url)
        .store(store)
        .build()
        .unwrap();
    answer(&s, &[("cookie", "ory_kratos_session=c13")])
        .await
        .unwrap();
    let st = s.stats();
    assert!(st.store_errors >= 1, "{st:?}");
    assert_eq!(st.whoami_calls, 1);
}

#[tokio::test]
async fn the_middleware_fast_path_answers_from_the_cache_only() {
    let k = Kratos::start().await;
    k.add("c9", fake("s9", "aal1"));
    let s = sessions(&k);
    let now = |headers: &[(&str, &str)]| {
        let r = req(headers);
        s.authenticate_now(&RequestView::from_request(&r)).map(|a| {
            a.map(|p| p.map(|p| p.subject().to_owned()))
                .map_err(|e| e.status().as_u16())
        })
    };
    let cookie = "ory_kratos_session=c9";
    // Nothing cached: it would have to ask Kratos, so it does not answer (and asks nothing).
    assert_eq!(now(&[("cookie", cookie)]), None);
    assert_eq!(k.calls(), 0);
    // No session credential at all: answered.
    assert_eq!(now(&[]), Some(Ok(None)));
    // Cached by a real check: answered, still one call.
    answer(&s, &[("cookie", cookie)]).await.unwrap();
    assert_eq!(
        now(&[("cookie", cookie)]),
        Some(Ok(Some("9f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f".to_owned())))
    );
    assert_eq!(k.calls(), 1);
    // Refusals are cached too (5 s), and answered the same way.
    let unknown = "ory_kratos_session=nobody";
    assert_eq!(answer(&s, &[("cookie", unknown)]).await.unwrap_err().0, 401);
    assert_eq!(now(&[("cookie", unknown)]), Some(Err(401)));
    // Purged: back to waiting for Kratos.
    s.purge_session("s9-5f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f")
        .await
        .unwrap();
    assert_eq!(now(&[("cookie", cookie)]), None);
}

// ---------------------------------------------------------------------------------------
// Issue 12: verified addresses only, store lifetime carried over, purges broadcast.

#[tokio::test]
async fn an_unverified_email_address_never_reaches_upstreams_as_x_user_email() {
    use iam_core::headers::{identity_headers, X_USER_EMAIL};
    let k = Kratos::start().await;
    k.add("verified", fake("s20", "aal1"));
    let mut unverified = fake("s21", "aal1");
    unverified.email_verified = false;
    k.add("unverified", unverified);
    let s = sessions(&k);

    let p = answer(&s, &[("cookie", "ory_kratos_session=verified")])
        .await
        .unwrap();
    assert_eq!(p.claims()["email_verified"], true);
    assert_eq!(
        identity_headers(&p).get(X_USER_EMAIL).unwrap(),
        "ada@example.com"
    );

    // Anyone can sign up with someone else's address: until it is verified, no header.
    let p = answer(&s, &[("cookie", "ory_kratos_session=unverified")])
        .await
        .unwrap();
    assert_eq!(p.claims()["email"], "ada@example.com");
    assert_eq!(p.claims()["email_verified"], false);
    let h = identity_headers(&p);
    assert!(h.get(X_USER_EMAIL).is_none(), "{h:?}");
    assert!(h.get("x-user-id").is_some(), "the rest is still sent");

    // Any principal: an `email` claim without `email_verified: true` is not sent either.
    for verified in [None, Some(json!("true")), Some(json!(false))] {
        let mut claims = serde_json::Map::new();
        claims.insert("email".into(), json!("eve@example.com"));
        if let Some(v) = verified.clone() {
            claims.insert("email_verified".into(), v);
        }
        let p = iam_core::Principal::builder("eve", PrincipalKind::OAuth2Token)
            .claims(claims)
            .build();
        assert!(
            identity_headers(&p).get(X_USER_EMAIL).is_none(),
            "{verified:?}"
        );
    }
    k.check_contract();
}

/// Ask `s` until `done` says yes (every 20 ms, at most `bound`); whether it did.
async fn eventually(
    s: &KratosSessions,
    cookie: &str,
    bound: Duration,
    done: impl Fn(&Result<iam_core::Principal, (u16, String)>, &KratosSessions) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + bound;
    while tokio::time::Instant::now() < deadline {
        let a = answer(s, &[("cookie", cookie)]).await;
        if done(&a, s) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Until `s` serves `cookie` from its in-process cache: its purge watch is connected.
async fn until_served_in_process(s: &KratosSessions, cookie: &str) {
    let before = s.stats().cache_hits;
    assert!(
        eventually(s, cookie, Duration::from_secs(10), |a, s| a.is_ok()
            && s.stats().cache_hits > before)
        .await,
        "never served from the in-process cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: scripts/test"]
async fn a_revocation_on_one_instance_evicts_the_session_on_every_instance() {
    let url = redis_url();
    let k = Kratos::start().await;
    k.add("c30", fake("s30", "aal1"));
    let prefix = format!("iam-test-{}-broadcast:", std::process::id());
    let store = || RedisSessionStore::new(&url).unwrap().prefix(prefix.clone());
    let instance = || {
        KratosSessions::builder(&k.url)
            .admin(&k.url, None)
            .store(store())
            .build()
            .unwrap()
    };
    let (a, b) = (instance(), instance());
    let cookie = "ory_kratos_session=c30";
    answer(&a, &[("cookie", cookie)]).await.unwrap();
    // b holds the session in process (for its 60 s TTL, were nothing said).
    until_served_in_process(&b, cookie).await;
    let calls = k.calls();

    // "Log out everywhere" on a: Kratos revokes, and b stops accepting the session at once.
    a.revoke_all_sessions("9f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f")
        .await
        .unwrap();
    assert!(
        eventually(&b, cookie, Duration::from_secs(5), |a, _| a
            .as_ref()
            .is_err_and(|e| e.0 == 401))
        .await,
        "b still accepts a session revoked through a"
    );
    assert!(k.calls() > calls, "b asked Kratos again");

    // A session purge (not the whole identity) reaches b too.
    k.add("c31", fake("s31", "aal1"));
    let cookie = "ory_kratos_session=c31";
    answer(&a, &[("cookie", cookie)]).await.unwrap();
    until_served_in_process(&b, cookie).await;
    k.set("c31", |f| f.active = false);
    a.purge_session("s31-5f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f")
        .await
        .unwrap();
    assert!(
        eventually(&b, cookie, Duration::from_secs(5), |a, _| a
            .as_ref()
            .is_err_and(|e| e.0 == 401))
        .await,
        "b still accepts a session purged through a"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: scripts/test"]
async fn a_session_read_from_the_shared_store_is_cached_no_longer_than_the_store_keeps_it() {
    let url = redis_url();
    let k = Kratos::start().await;
    k.add("c32", fake("s32", "aal1"));
    k.add("c33", fake("s33", "aal1"));
    let prefix = format!("iam-test-{}-lifetime:", std::process::id());
    let store = || RedisSessionStore::new(&url).unwrap().prefix(prefix.clone());
    // a writes entries that live 2 s in Redis; b would keep its own for 60 s.
    let a = KratosSessions::builder(&k.url)
        .ttl(Duration::from_secs(2))
        .store(store())
        .build()
        .unwrap();
    let b = KratosSessions::builder(&k.url)
        .ttl(Duration::from_secs(60))
        .store(store())
        .build()
        .unwrap();
    // b's purge watch is connected (so b serves from its in-process cache at all).
    answer(&a, &[("cookie", "ory_kratos_session=c32")])
        .await
        .unwrap();
    until_served_in_process(&b, "ory_kratos_session=c32").await;

    let cookie = "ory_kratos_session=c33";
    answer(&a, &[("cookie", cookie)]).await.unwrap();
    let hits = b.stats().store_hits;
    answer(&b, &[("cookie", cookie)]).await.unwrap();
    assert_eq!(
        b.stats().store_hits,
        hits + 1,
        "b read the entry from Redis"
    );
    // Revoked at Kratos, nobody purges: the entry must end with Redis's (2 s), not b's 60 s.
    k.set("c33", |f| f.active = false);
    assert!(
        eventually(&b, cookie, Duration::from_secs(15), |a, _| a
            .as_ref()
            .is_err_and(|e| e.0 == 401))
        .await,
        "b kept the store's entry past the store's own expiry"
    );
}

#[tokio::test]
async fn while_the_purge_watch_is_down_no_session_is_served_from_the_in_process_cache() {
    // Redis unreachable: purges from other instances could not be heard, so every request
    // is checked again (fail closed) instead of trusting what this instance cached.
    let k = Kratos::start().await;
    k.add("c34", fake("s34", "aal1"));
    let s = KratosSessions::builder(&k.url)
        .store(RedisSessionStore::new("redis://127.0.0.1:9/0").unwrap())
        .build()
        .unwrap();
    let cookie = "ory_kratos_session=c34";
    answer(&s, &[("cookie", cookie)]).await.unwrap();
    answer(&s, &[("cookie", cookie)]).await.unwrap();
    assert_eq!(s.stats().cache_hits, 0);
    assert_eq!(k.calls(), 2);
    // Refusals are still cached (they need no purge).
    let unknown = "ory_kratos_session=nobody";
    answer(&s, &[("cookie", unknown)]).await.unwrap_err();
    answer(&s, &[("cookie", unknown)]).await.unwrap_err();
    assert_eq!(k.calls(), 3);
}
