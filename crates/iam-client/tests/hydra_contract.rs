//! The `hydra` module against a double of Hydra's admin API whose every answer is checked
//! against Hydra's published OpenAPI (v26.2.0, vendored in iam-testkit) before it is served,
//! and whose every request body the module sent is checked against the same document. The
//! same calls run against the real Hydra in `hydra_real.rs`. Hostile answers: never a panic,
//! never a success.
use iam_client::hydra::{
    AcceptConsent, AcceptLogin, ConsentDecision, ConsentStep, HydraAdmin, HydraError, ListClients,
    LoginSessions, OAuth2Client, RejectRequest, RequestState,
};
use iam_client::{HttpClient, HttpError};
use iam_testkit::schema::OpenApi;
use iam_testkit::{LoopbackServer, RecordedRequest, Reply};
use serde_json::{json, Value};
use std::time::Duration;

const REDIRECT: &str = "http://127.0.0.1:4444/oauth2/auth?client_id=web&login_verifier=v";

fn client_body(id: &str, skip_consent: bool) -> Value {
    json!({"client_id": id, "client_name": "", "grant_types": ["authorization_code"],
           "redirect_uris": ["http://127.0.0.1:9/cb"], "scope": "openid offline_access",
           "skip_consent": skip_consent, "token_endpoint_auth_method": "client_secret_basic",
           "created_at": "2026-12-02T01:00:00Z", "metadata": {}})
}

fn login_request(challenge: &str, skip: bool) -> Value {
    json!({"challenge": challenge, "skip": skip, "subject": if skip { "user-1" } else { "" },
           "client": client_body("web", false), "request_url": "http://127.0.0.1:4444/oauth2/auth",
           "requested_scope": ["openid", "orders:read"], "requested_access_token_audience": ["orders-api"],
           "session_id": "sid-1", "oidc_context": {}})
}

fn consent_request(challenge: &str, skip: bool, first_party: bool) -> Value {
    json!({"challenge": challenge, "skip": skip, "subject": "user-1",
           "client": client_body(if first_party { "first" } else { "third" }, first_party),
           "requested_scope": ["openid", "orders:read", "orders:write"],
           "requested_access_token_audience": ["orders-api"], "acr": "aal2", "amr": ["pwd", "otp"],
           "context": {"tenant": "acme"}, "login_challenge": "l1", "login_session_id": "sid-1"})
}

fn error(status: u16, code: &str) -> Value {
    json!({"error": code, "error_description": format!("{code} described"),
           "error_hint": "a hint", "status_code": status})
}

/// The double's answer to one request: (status, body, schema of the body, extra header).
fn answer(req: &RecordedRequest) -> (u16, Value, &'static str, Option<(&'static str, String)>) {
    let q = req.query().unwrap_or("");
    let redirect = json!({"redirect_to": REDIRECT});
    let p = req.path();
    match (req.method.as_str(), p) {
        ("GET", "/admin/oauth2/auth/requests/login") if q.contains("used") => {
            (410, redirect, "oAuth2RedirectTo", None)
        }
        ("GET", "/admin/oauth2/auth/requests/login") if q.contains("unknown") => {
            (404, error(404, "not_found"), "errorOAuth2", None)
        }
        ("GET", "/admin/oauth2/auth/requests/login") => {
            (200, login_request("open", q.contains("skip")), "oAuth2LoginRequest", None)
        }
        ("GET", "/admin/oauth2/auth/requests/consent") if q.contains("used") => {
            (410, redirect, "oAuth2RedirectTo", None)
        }
        ("GET", "/admin/oauth2/auth/requests/consent") => (
            200,
            consent_request("c", q.contains("skip"), q.contains("first")),
            "oAuth2ConsentRequest",
            None,
        ),
        ("GET", "/admin/oauth2/auth/requests/logout") => (
            200,
            json!({"challenge": "lo", "subject": "user-1", "sid": "sid-1", "rp_initiated": true,
                   "request_url": "http://127.0.0.1:4444/oauth2/sessions/logout"}),
            "oAuth2LogoutRequest",
            None,
        ),
        ("PUT", "/admin/oauth2/auth/requests/login/accept") if q.contains("used") => {
            (410, redirect, "oAuth2RedirectTo", None)
        }
        ("PUT", "/admin/oauth2/auth/requests/logout/reject") => (204, Value::Null, "", None),
        ("PUT", path) if path.starts_with("/admin/oauth2/auth/requests/") => {
            (200, redirect, "oAuth2RedirectTo", None)
        }
        ("DELETE", path) if path.starts_with("/admin/oauth2/auth/sessions/") => {
            (204, Value::Null, "", None)
        }
        ("POST", "/admin/clients") => {
            let mut c = client_body("svc", false);
            c["client_secret"] = "generated-secret-value".into();
            (201, c, "oAuth2Client", None)
        }
        ("GET", "/admin/clients") if q.contains("page_token=p2") => {
            (200, json!([client_body("c", false)]), "", None)
        }
        ("GET", "/admin/clients") => (
            200,
            json!([client_body("a", false), client_body("b", true)]),
            "",
            Some((
                "link",
                "</admin/clients?page_size=2&page_token=p2>; rel=\"next\", </admin/clients?page_size=2&page_token=>; rel=\"first\"".into(),
            )),
        ),
        ("GET", "/admin/clients/missing") => (404, error(404, "Not Found"), "errorOAuth2", None),
        ("GET" | "PUT", path) if path.starts_with("/admin/clients/") => {
            (200, client_body("svc", false), "oAuth2Client", None)
        }
        ("DELETE", path) if path.starts_with("/admin/clients/") => (204, Value::Null, "", None),
        ("POST" | "GET", path) if path.starts_with("/admin/keys/") => (
            if req.method == http::Method::POST { 201 } else { 200 },
            json!({"keys": [{"kid": "k2", "kty": "EC", "alg": "ES256", "use": "sig", "crv": "P-256",
                             "x": "O2PYiCwEd9P1EZ7foY-5hBKRIIpJ4H_DhITwuggkosc",
                             "y": "sYkECB0BZ8xXRuqv1vllva7mVFGP3eBHp6N3eQGxbWI",
                             "d": "private-scalar-never-shown"}]}),
            "jsonWebKeySet",
            None,
        ),
        _ => (404, error(404, "not_found"), "errorOAuth2", None),
    }
}

/// The request body schema of each call the module makes.
fn request_schema(req: &RecordedRequest) -> Option<&'static str> {
    let p = req.path();
    Some(match req.method.as_str() {
        "PUT" if p.ends_with("/login/accept") => "acceptOAuth2LoginRequest",
        "PUT" if p.ends_with("/consent/accept") => "acceptOAuth2ConsentRequest",
        "PUT" if p.ends_with("/login/reject") || p.ends_with("/consent/reject") => {
            "rejectOAuth2Request"
        }
        "POST" if p == "/admin/clients" => "oAuth2Client",
        "PUT" if p.starts_with("/admin/clients/") => "oAuth2Client",
        "POST" if p.starts_with("/admin/keys/") => "createJsonWebKeySet",
        _ => return None,
    })
}

async fn hydra() -> (LoopbackServer, HydraAdmin) {
    let server = LoopbackServer::start(|req| {
        let (status, body, schema, header) = answer(req);
        if !schema.is_empty() {
            OpenApi::hydra().assert_valid(schema, &body);
        } else if let Value::Array(items) = &body {
            for item in items {
                OpenApi::hydra().assert_valid("oAuth2Client", item);
            }
        }
        let mut reply = if body.is_null() {
            Reply::status(status)
        } else {
            Reply::json(status, &body)
        };
        if let Some((name, value)) = header {
            reply = reply.header(name, &value);
        }
        reply
    })
    .await;
    let admin = HydraAdmin::new(&server.url(""), HttpClient::new().unwrap()).unwrap();
    (server, admin)
}

/// Every body the module sent matches Hydra's request schemas.
fn assert_requests_match_the_spec(server: &LoopbackServer) {
    let mut checked = 0;
    for req in server.requests() {
        if let Some(schema) = request_schema(&req) {
            OpenApi::hydra().assert_valid(schema, &req.json());
            checked += 1;
        } else {
            assert!(
                req.body.is_empty(),
                "{} {} has a body",
                req.method,
                req.path()
            );
        }
    }
    assert!(checked > 0);
}

#[test]
fn the_schema_check_is_real() {
    let errors = OpenApi::hydra().errors("acceptOAuth2LoginRequest", &json!({"remember": "yes"}));
    assert!(
        !errors.is_empty(),
        "a body without subject and with a string flag is refused"
    );
}

#[tokio::test]
async fn login_consent_and_logout_calls_send_and_read_what_the_spec_says() {
    let (server, admin) = hydra().await;
    let RequestState::Open(login) = admin.get_login_request("open").await.unwrap() else {
        panic!("open")
    };
    assert_eq!(login.requested_scope, ["openid", "orders:read"]);
    assert_eq!(login.client.unwrap().client_id.as_deref(), Some("web"));
    let accept = AcceptLogin::new("user-1")
        .remember_for(Duration::from_secs(3600))
        .acr("aal2")
        .amr(["pwd", "otp"])
        .context(json!({"tenant": "acme"}))
        .extend_session_lifespan(false)
        .identity_provider_session_id("kratos-1");
    let r = admin.accept_login_request("open", &accept).await.unwrap();
    assert_eq!(r.redirect_to, REDIRECT);
    let sent = server.requests().last().unwrap().json();
    for field in [
        "subject",
        "remember",
        "remember_for",
        "acr",
        "amr",
        "context",
        "extend_session_lifespan",
        "identity_provider_session_id",
    ] {
        assert!(sent.get(field).is_some(), "{field} is sent: {sent}");
    }
    admin
        .reject_login_request(
            "open",
            &RejectRequest::access_denied("no")
                .hint("h")
                .status_code(403),
        )
        .await
        .unwrap();

    let RequestState::Open(consent) = admin.get_consent_request("ask").await.unwrap() else {
        panic!("open")
    };
    assert_eq!(consent.amr, ["pwd", "otp"]);
    let grant = AcceptConsent::requested(&consent)
        .remember_for(Duration::from_secs(60))
        .access_token_claim("tenant", "acme")
        .id_token_claim("email", "u@example.com");
    admin.accept_consent_request("ask", &grant).await.unwrap();
    let sent = server.requests().last().unwrap().json();
    assert_eq!(sent["grant_access_token_audience"], json!(["orders-api"]));
    assert_eq!(sent["session"]["access_token"]["tenant"], "acme");
    assert_eq!(sent["session"]["id_token"]["email"], "u@example.com");
    admin
        .reject_consent_request("ask", &RejectRequest::access_denied("no"))
        .await
        .unwrap();

    let RequestState::Open(logout) = admin.get_logout_request("lo").await.unwrap() else {
        panic!("open")
    };
    assert!(logout.rp_initiated);
    assert_eq!(logout.sid.as_deref(), Some("sid-1"));
    admin.accept_logout_request("lo").await.unwrap();
    admin.reject_logout_request("lo").await.unwrap();
    admin
        .revoke_login_sessions(LoginSessions::Session("sid-1"))
        .await
        .unwrap();
    admin.revoke_consent_sessions("user-1", None).await.unwrap();
    let queries: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.method == http::Method::DELETE)
        .map(|r| r.query().unwrap().to_owned())
        .collect();
    assert_eq!(queries, ["sid=sid-1", "subject=user-1&all=true"]);
    assert_requests_match_the_spec(&server);
}

#[tokio::test]
async fn an_already_handled_challenge_is_a_redirect_not_an_error() {
    let (_server, admin) = hydra().await;
    match admin.get_login_request("used").await.unwrap() {
        RequestState::AlreadyHandled(r) => assert_eq!(r.redirect_to, REDIRECT),
        RequestState::Open(_) => panic!("410 is handled"),
    }
    let r = admin
        .accept_login_request("used", &AcceptLogin::new("u"))
        .await
        .unwrap();
    assert_eq!(r.redirect_to, REDIRECT);
    assert!(matches!(
        admin.get_consent_request("used").await.unwrap(),
        RequestState::AlreadyHandled(_)
    ));
    match admin
        .decide_consent("used", |_| panic!("no policy for a handled consent"))
        .await
        .unwrap()
    {
        ConsentStep::Redirect(r) => assert_eq!(r.redirect_to, REDIRECT),
        ConsentStep::AskUser(_) => panic!("handled"),
    }
}

#[tokio::test]
async fn the_consent_helper_asks_the_user_only_when_it_must() {
    let (server, admin) = hydra().await;
    let policy = |r: &iam_client::hydra::ConsentRequest| {
        ConsentDecision::grant_requested(r).access_token_claim("tenant", "acme")
    };
    // A third-party client, nothing remembered: the page is needed, nothing is sent.
    let before = server.count();
    let step = admin.decide_consent("ask", policy).await.unwrap();
    assert!(matches!(step, ConsentStep::AskUser(ref r) if r.requested_scope.len() == 3));
    assert_eq!(server.count(), before + 1, "only the GET");
    // Remembered (`skip`) or first-party (`skip_consent`): the policy decides at once.
    for challenge in ["skip", "first"] {
        let step = admin.decide_consent(challenge, policy).await.unwrap();
        assert!(matches!(step, ConsentStep::Redirect(_)), "{challenge}");
        let sent = server.requests().last().unwrap().clone();
        assert!(sent.path().ends_with("/consent/accept"), "{challenge}");
        assert_eq!(sent.json()["session"]["access_token"]["tenant"], "acme");
    }
    // The user approved part of the scopes: the grant is cut to them.
    let approved = vec!["openid".to_owned(), "orders:read".to_owned()];
    admin
        .finish_consent("ask", Some(&approved), policy)
        .await
        .unwrap();
    let sent = server.requests().last().unwrap().json();
    assert_eq!(sent["grant_scope"], json!(["openid", "orders:read"]));
    // The user refused, or the policy denies: rejected with access_denied.
    admin.finish_consent("ask", None, policy).await.unwrap();
    let sent = server.requests().last().unwrap().clone();
    assert!(sent.path().ends_with("/consent/reject"));
    assert_eq!(sent.json()["error"], "access_denied");
    admin
        .decide_consent("first", |_| ConsentDecision::deny("tenant suspended"))
        .await
        .unwrap();
    let sent = server.requests().last().unwrap().json();
    assert_eq!(sent["error_description"], "tenant suspended");
    assert_requests_match_the_spec(&server);
}

#[tokio::test]
async fn clients_and_key_sets_send_and_read_what_the_spec_says() {
    let (server, admin) = hydra().await;
    let created = admin
        .create_client(&OAuth2Client::service("svc", "orders:read"))
        .await
        .unwrap();
    assert!(created.client_secret.is_some());
    assert!(!format!("{created:?}").contains("generated-secret-value"));
    let page = admin
        .list_clients(&ListClients::page_size(2))
        .await
        .unwrap();
    assert_eq!(page.clients.len(), 2);
    assert_eq!(page.next_page_token.as_deref(), Some("p2"));
    let last = admin
        .list_clients(&ListClients::page_size(2).after("p2"))
        .await
        .unwrap();
    assert_eq!(last.next_page_token, None);
    let mut c = admin.get_client("svc").await.unwrap();
    c.scope = Some("orders:write".into());
    admin.update_client(&c).await.unwrap();
    admin.delete_client("svc").await.unwrap();
    let missing = admin.get_client("missing").await.unwrap_err();
    assert!(missing.is_not_found());
    assert_eq!(missing.api().unwrap().hint(), Some("a hint"));

    let set = admin.create_key("s", "ES256", "k2", "sig").await.unwrap();
    assert!(set.keys[0].is_private());
    assert!(!format!("{set:?}").contains("private-scalar"));
    assert!(!serde_json::to_string(&set.public())
        .unwrap()
        .contains("private-scalar"));
    admin.rotate_key_set("s", "ES256").await.unwrap();
    assert_eq!(admin.get_key_set("s").await.unwrap().kids(), ["k2"]);
    assert_requests_match_the_spec(&server);
}

#[tokio::test]
async fn hostile_arguments_are_escaped_or_refused_without_a_call() {
    let (server, admin) = hydra().await;
    for empty in [
        admin.get_login_request("").await.unwrap_err(),
        admin.get_client("").await.unwrap_err(),
    ] {
        assert!(matches!(empty, HydraError::InvalidArgument(_)), "{empty}");
    }
    assert!(matches!(
        admin
            .accept_login_request("open", &AcceptLogin::new(""))
            .await,
        Err(HydraError::InvalidArgument(_))
    ));
    assert_eq!(server.count(), 0, "nothing was sent");
    // A challenge cannot add a query parameter, an id cannot leave its path segment.
    let _ = admin.get_login_request("x&login_challenge=used").await;
    let _ = admin.get_client("../keys/hydra.openid.id-token").await;
    let reqs = server.requests();
    assert_eq!(
        reqs[0].query(),
        Some("login_challenge=x%26login_challenge%3Dused")
    );
    assert_eq!(
        reqs[1].path(),
        "/admin/clients/..%2Fkeys%2Fhydra.openid.id-token"
    );
}

#[tokio::test]
async fn hostile_answers_are_errors_never_a_success_or_a_panic() {
    let cases: Vec<(&str, Reply)> = vec![
        ("not JSON", Reply::text(200, "<html>")),
        ("wrong shape", Reply::json(200, &json!({"challenge": 7}))),
        (
            "410 without redirect_to",
            Reply::json(410, &json!({"error": "gone"})),
        ),
        (
            "HTML error page",
            Reply::text(502, "<html>bad gateway</html>"),
        ),
        ("too large", Reply::text(200, "x".repeat(2 * 1024 * 1024))),
    ];
    for (name, reply) in cases {
        let server = LoopbackServer::fixed(reply).await;
        let admin = HydraAdmin::new(&server.url(""), HttpClient::new().unwrap()).unwrap();
        let e = admin.get_login_request("c").await.unwrap_err();
        match name {
            "HTML error page" => assert_eq!(e.status(), Some(502), "{name}: {e}"),
            "too large" => assert!(
                matches!(e, HydraError::Unavailable(HttpError::TooLarge(_))),
                "{name}: {e}"
            ),
            _ => assert!(matches!(e, HydraError::InvalidResponse(_)), "{name}: {e}"),
        }
    }
    // Nobody listening: unavailable, not a pass.
    let port = iam_testkit::scratch::free_port();
    let admin = HydraAdmin::new(
        &format!("http://127.0.0.1:{port}"),
        HttpClient::new().unwrap(),
    )
    .unwrap();
    assert!(matches!(
        admin.get_client("x").await.unwrap_err(),
        HydraError::Unavailable(_)
    ));
}

#[test]
fn the_admin_url_follows_the_transport_policy_and_the_bearer_is_never_shown() {
    let http = HttpClient::new().unwrap();
    assert!(matches!(
        HydraAdmin::new("http://hydra.example:4445", http.clone()),
        Err(HydraError::Insecure(_))
    ));
    assert!(matches!(
        HydraAdmin::new("not a url", http.clone()),
        Err(HydraError::InvalidUrl)
    ));
    let admin = HydraAdmin::new("https://hydra.example/", http)
        .unwrap()
        .with_bearer_token("gateway-token-value");
    assert_eq!(admin.admin_url(), "https://hydra.example");
    assert!(!format!("{admin:?}").contains("gateway-token-value"));
}
