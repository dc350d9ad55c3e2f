//! `cookie_session` and `bearer_token` through iam-client's cached `KratosSessions`, against a
//! Kratos double whose every session body is checked against the published Kratos OpenAPI
//! schema (vendored in iam-testkit).
use base64::Engine as _;
use iam_proxy::engine::{AccessEngine, Verdict};
use iam_proxy::forwarded::{ForwardedTrust, Listener};
use iam_proxy::pipeline::{HandlerConfigs, PipelineBuilder};
use iam_proxy::rules::{MatchingStrategy, RuleRepository, RuleSource};
use iam_testkit::schema::OpenApi;
use iam_testkit::{LoopbackServer, Reply};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn rfc3339(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn session() -> Value {
    json!({
        "id": "5f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f",
        "active": true,
        "expires_at": rfc3339(3600),
        "authenticated_at": rfc3339(-30),
        "issued_at": rfc3339(-30),
        "authenticator_assurance_level": "aal1",
        "authentication_methods": [{"method": "password", "aal": "aal1", "completed_at": rfc3339(-30)}],
        "identity": {
            "id": "9f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f",
            "schema_id": "default",
            "schema_url": "https://kratos.example/schemas/default",
            "state": "active",
            "traits": {"email": "ada@example.com"},
            "verifiable_addresses": [{
                "id": "1b6a2c52-6f4c-4a43-9d0a-7f5e2c1d0e11", "value": "ada@example.com",
                "verified": true, "via": "email", "status": "completed",
                "created_at": rfc3339(-100), "updated_at": rfc3339(-100)
            }],
            "created_at": rfc3339(-100),
            "updated_at": rfc3339(-100)
        }
    })
}

fn unauthorized() -> Value {
    json!({"error": {"code": 401, "status": "Unauthorized", "reason": "No valid session credentials found in the request.", "message": "The request could not be authorized"}})
}

async fn status_and_headers(
    engine: &AccessEngine,
    path: &str,
    header: (&str, &str),
) -> (u16, http::HeaderMap) {
    let req = http::Request::get(path)
        .header("host", "app.example")
        .header(header.0, header.1)
        .body(())
        .unwrap();
    match engine
        .decide(
            "127.0.0.1".parse().unwrap(),
            req.method(),
            req.uri(),
            req.headers(),
            Listener::Proxy,
        )
        .await
    {
        Verdict::Allow(a) => (200, a.session.headers),
        Verdict::Deny(res) => (res.status().as_u16(), http::HeaderMap::new()),
    }
}

#[tokio::test]
async fn kratos_sessions_authenticate_from_the_cache_and_fail_closed() {
    OpenApi::kratos().assert_valid("session", &session());
    let down = Arc::new(AtomicBool::new(false));
    let is_down = down.clone();
    let kratos = LoopbackServer::start(move |r| {
        if is_down.load(Ordering::SeqCst) {
            return Reply::status(500);
        }
        let cookie_ok = r.header("cookie") == Some("ory_kratos_session=good-cookie");
        let token_ok = r.header("x-session-token") == Some("good-token");
        if r.path() == "/sessions/whoami" && (cookie_ok || token_ok) {
            Reply::json(200, &session())
        } else {
            Reply::json(401, &unauthorized())
        }
    })
    .await;
    let whoami = kratos.url("/sessions/whoami");
    let mutator = json!({"handler": "header", "config": {"headers": {
        "X-User": "{{ print .Subject }}", "X-Email": "{{ print .Extra.identity.traits.email }}"}}});
    let rules = json!([
        {"id": "browser", "match": {"url": "http://app.example/app/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "cookie_session", "config": {"check_session_url": whoami, "preserve_path": true, "subject_from": "identity.id", "extra_from": "@this"}}],
         "authorizer": {"handler": "allow"}, "mutators": [mutator]},
        {"id": "native", "match": {"url": "http://app.example/api/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "bearer_token", "config": {"check_session_url": whoami, "preserve_path": true, "subject_from": "identity.id"}}],
         "authorizer": {"handler": "allow"}, "mutators": [mutator]}
    ]);
    let inline = format!(
        "inline://{}",
        base64::engine::general_purpose::STANDARD.encode(rules.to_string())
    );
    let builder = PipelineBuilder::new(HandlerConfigs::permissive());
    let repo = Arc::new(RuleRepository::new(
        vec![RuleSource::parse(&inline).unwrap()],
        MatchingStrategy::Regexp,
        move |set| builder.build(set),
    ));
    repo.reload().unwrap();
    let engine = AccessEngine::new(repo, ForwardedTrust::default());

    let (status, headers) = status_and_headers(
        &engine,
        "/app/x",
        ("cookie", "theme=dark; ory_kratos_session=good-cookie"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-user"], "9f1b3c0e-8b7a-4c1d-9e2f-3a4b5c6d7e8f");
    assert_eq!(headers["x-email"], "ada@example.com");
    // The second time from the cache: Kratos is asked once.
    assert_eq!(
        status_and_headers(
            &engine,
            "/app/y",
            ("cookie", "ory_kratos_session=good-cookie")
        )
        .await
        .0,
        200
    );
    assert_eq!(kratos.count_path("/sessions/whoami"), 1);
    assert_eq!(
        status_and_headers(&engine, "/app/x", ("cookie", "ory_kratos_session=stolen"))
            .await
            .0,
        401
    );
    assert_eq!(
        status_and_headers(&engine, "/app/x", ("cookie", "theme=dark"))
            .await
            .0,
        401
    );
    assert_eq!(
        status_and_headers(&engine, "/api/x", ("authorization", "Bearer good-token"))
            .await
            .0,
        200
    );
    assert_eq!(
        status_and_headers(&engine, "/api/x", ("authorization", "Bearer bad-token"))
            .await
            .0,
        401
    );
    // Kratos down: fail closed (503), never allow.
    down.store(true, Ordering::SeqCst);
    assert_eq!(
        status_and_headers(&engine, "/api/x", ("authorization", "Bearer other-token"))
            .await
            .0,
        503
    );
}
