//! access-proxy end to end: an upstream echo server, a JWT issuer's key set, the proxy port
//! and Traefik- and nginx-style `/decisions` calls.
mod common;

use common::{raw, rules_dir, start};
use iam_service::Env;
use iam_testkit::keys::{claims_now, rs256, token, AUD, ISS};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::json;

fn no_env(_: &str) -> Option<String> {
    None
}

fn trust_loopback(name: &str) -> Option<String> {
    (name == "ACCESS_PROXY_TRUSTED_PROXIES").then(|| "127.0.0.1/32".into())
}

fn nginx_style(name: &str) -> Option<String> {
    (name == "ACCESS_PROXY_DECISIONS_STYLE").then(|| "nginx".into())
}

struct Fixture {
    upstream: LoopbackServer,
    _jwks: LoopbackServer,
    _rules: iam_testkit::scratch::TempDir,
    doc: serde_json::Value,
}

async fn fixture() -> Fixture {
    let upstream = LoopbackServer::start(|_| Reply::text(200, "from upstream")).await;
    let jwks = LoopbackServer::start(|_| Reply::json(200, &iam_testkit::keys::jwks_json())).await;
    let rules = json!([
        {
            "id": "orders",
            "match": {"url": "http://app.example/api/orders<(/.*)?>", "methods": ["GET", "POST"]},
            "authenticators": [{"handler": "jwt"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "header", "config": {"headers": {
                "X-User": "{{ print .Subject }}", "X-Tenant": "{{ print .Extra.tenant }}"}}}],
            "upstream": {"url": upstream.url("/backend"), "strip_path": "/api"}
        },
        {
            "id": "public",
            "match": {"url": "http://app.example/public/<.*>", "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}],
            "upstream": {"url": upstream.url("/")}
        },
        {
            "id": "login-required",
            "match": {"url": "http://app.example/account", "methods": ["GET"]},
            "authenticators": [{"handler": "unauthorized"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}],
            "errors": [{"handler": "redirect", "config": {"to": "http://login.example/ui"}}],
            "upstream": {"url": upstream.url("/")}
        }
    ]);
    let (dir, loc) = rules_dir(&rules);
    let doc = json!({
        "serve": {"proxy": {"port": 0}},
        "access_rules": {"repositories": [loc]},
        "authenticators": {
            "jwt": {"enabled": true, "config": {"jwks_urls": [jwks.url("/jwks")], "trusted_issuers": [ISS], "target_audience": [AUD]}},
            "anonymous": {"enabled": true},
            "unauthorized": {"enabled": true}
        },
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"header": {"enabled": true}, "noop": {"enabled": true}},
        "errors": {"handlers": {"json": {"enabled": true}, "redirect": {"enabled": true}}},
        "log": {"level": "debug"}
    });
    Fixture {
        upstream,
        _jwks: jwks,
        _rules: dir,
        doc,
    }
}

#[tokio::test]
async fn a_jwt_request_reaches_the_upstream_with_the_mutator_headers_and_without_smuggled_ones() {
    let f = fixture().await;
    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    assert!(p.app.engine.is_ready());
    let jwt = token("RS256", "rsa-1", &claims_now(), rs256());
    let res = raw(
        p.proxy,
        &format!(
            "GET /api/orders/7?x=1 HTTP/1.1\nHost: app.example\nAuthorization: Bearer {jwt}\nX_User: admin\nX.Tenant: evil\nConnection: X-Tenant"
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body, "from upstream");
    let seen = &f.upstream.requests()[0];
    assert_eq!(seen.uri.to_string(), "/backend/orders/7?x=1");
    assert_eq!(seen.header("x-user"), Some("user-1"));
    assert_eq!(seen.header("x-tenant"), Some("acme"));
    assert!(
        seen.headers
            .keys()
            .all(|k| k.as_str() != "x_user" && k.as_str() != "x.tenant"),
        "{:?}",
        seen.headers
    );
    assert_eq!(seen.header("x-forwarded-host"), Some("app.example"));
    assert_eq!(
        seen.header("host"),
        Some(f.upstream.addr().to_string().as_str())
    );
}

#[tokio::test]
async fn refusals_come_with_oathkeeper_answers() {
    let f = fixture().await;
    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    // No token: the jwt authenticator is not responsible, none other is: 401.
    let res = raw(p.proxy, "GET /api/orders HTTP/1.1\nHost: app.example").await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("\"code\":401"), "{}", res.body);
    // A forged token: 401.
    let mut claims = claims_now();
    claims["iss"] = json!("https://evil.example");
    let forged = token("RS256", "rsa-1", &claims, rs256());
    let res = raw(
        p.proxy,
        &format!("GET /api/orders HTTP/1.1\nHost: app.example\nAuthorization: Bearer {forged}"),
    )
    .await;
    assert_eq!(res.status, 401);
    // No rule: 404; the error handler of the rule: a redirect.
    assert_eq!(
        raw(p.proxy, "GET /nothing HTTP/1.1\nHost: app.example")
            .await
            .status,
        404
    );
    let res = raw(p.proxy, "GET /account HTTP/1.1\nHost: app.example").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.header("location"), Some("http://login.example/ui"));
    assert_eq!(f.upstream.count(), 0);
}

#[tokio::test]
async fn hostile_paths_never_reach_a_rule_they_were_not_matched_against() {
    let f = fixture().await;
    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    for (path, status) in [
        ("/public/..;/api/orders", 400),
        ("/public/%2e%2e/api/orders", 401), // resolved to /api/orders: the jwt rule, no token
        ("/public/..%2fapi/orders", 400),
        ("/public/a%00", 400),
        ("/public/%252e%252e/api/orders", 400),
        ("/public/..\\api/orders", 400),
        ("/public/ok", 200),
    ] {
        let res = raw(p.proxy, &format!("GET {path} HTTP/1.1\nHost: app.example")).await;
        assert_eq!(res.status, status, "{path}: {}", res.body);
    }
    assert_eq!(f.upstream.requests().len(), 1);
    assert_eq!(f.upstream.requests()[0].path(), "/public/ok");
}

#[tokio::test]
async fn traefik_style_decisions_from_a_trusted_proxy_answer_200_with_the_headers() {
    let f = fixture().await;
    let p = start(
        f.doc.clone(),
        Env::with_lookup("ACCESS_PROXY_", trust_loopback),
    )
    .await;
    let jwt = token("RS256", "rsa-1", &claims_now(), rs256());
    let res = raw(
        p.api,
        &format!(
            "GET /decisions HTTP/1.1\nHost: auth.internal\nX-Forwarded-Method: GET\nX-Forwarded-Proto: http\nX-Forwarded-Host: app.example\nX-Forwarded-Uri: /api/orders/1\nAuthorization: Bearer {jwt}"
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("x-user"), Some("user-1"));
    assert_eq!(f.upstream.count(), 0, "decisions never forward");
    // The same headers from an untrusted peer are ignored: /decisions is then read as the
    // request itself (host auth.internal: no rule).
    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let res = raw(p.api, "GET /decisions HTTP/1.1\nHost: auth.internal\nX-Forwarded-Host: app.example\nX-Forwarded-Uri: /public/x").await;
    assert_eq!(res.status, 404);
    // Envoy / nginx without forwarding headers: the path after /decisions and the Host.
    let res = raw(p.api, "GET /decisions/public/x HTTP/1.1\nHost: app.example").await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn nginx_style_decisions_answer_only_401_or_403() {
    let f = fixture().await;
    let p = start(
        f.doc.clone(),
        Env::with_lookup("ACCESS_PROXY_", nginx_style),
    )
    .await;
    let res = raw(p.api, "GET /decisions/account HTTP/1.1\nHost: app.example").await;
    assert_eq!(res.status, 401, "a redirect becomes 401");
    assert_eq!(res.header("location"), Some("http://login.example/ui"));
    assert_eq!(
        raw(p.api, "GET /decisions/nothing HTTP/1.1\nHost: app.example")
            .await
            .status,
        403
    );
    assert_eq!(
        raw(
            p.api,
            "GET /decisions/public/..;/x HTTP/1.1\nHost: app.example"
        )
        .await
        .status,
        403
    );
    assert_eq!(
        raw(
            p.api,
            "GET /decisions/api/orders HTTP/1.1\nHost: app.example"
        )
        .await
        .status,
        401
    );
    assert_eq!(
        raw(p.api, "GET /health/ready HTTP/1.1\nHost: x")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn not_ready_until_rules_load_and_a_broken_reload_keeps_the_previous_rules() {
    let f = fixture().await;
    let mut doc = f.doc.clone();
    doc["access_rules"]["repositories"] = json!(["file:///nonexistent/rules.json"]);
    let p = start(doc, Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    assert_eq!(
        raw(p.api, "GET /health/ready HTTP/1.1\nHost: x")
            .await
            .status,
        503
    );
    assert_eq!(
        raw(p.proxy, "GET /public/x HTTP/1.1\nHost: app.example")
            .await
            .status,
        503
    );
    assert_eq!(
        raw(p.api, "GET /health/alive HTTP/1.1\nHost: x")
            .await
            .status,
        200
    );

    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let dir = f.doc["access_rules"]["repositories"][0]
        .as_str()
        .unwrap()
        .trim_start_matches("file://")
        .to_owned();
    std::fs::write(format!("{dir}/broken.yaml"), "- id: [").unwrap();
    assert!(p.app.repository.reload().is_err());
    assert_eq!(
        raw(p.proxy, "GET /public/x HTTP/1.1\nHost: app.example")
            .await
            .status,
        200
    );
    assert_eq!(
        raw(p.api, "GET /health/ready HTTP/1.1\nHost: x")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_id_token_reaches_the_upstream_and_verifies_with_the_jwks_on_the_api_port() {
    let upstream = LoopbackServer::start(|_| Reply::text(200, "from upstream")).await;
    let rules = json!([{
        "id": "signed",
        "match": {"url": "http://app.example/signed/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "id_token", "config": {"claims": "{\"aud\": [\"orders\"]}"}}],
        "upstream": {"url": upstream.url("/")}
    }]);
    let (_dir, loc) = rules_dir(&rules);
    let doc = json!({
        "access_rules": {"repositories": [loc]},
        "authenticators": {"anonymous": {"enabled": true, "config": {"subject": "guest"}}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"id_token": {"enabled": true, "config": {
            "issuer_url": "https://proxy.example", "jwks_url": "file:///unused.json", "ttl": "5m"}}},
        "errors": {"handlers": {"json": {"enabled": true}}}
    });
    let p = start(doc, Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    assert!(
        p.app.engine.is_ready(),
        "{:?}",
        p.app.repository.last_error()
    );
    let res = raw(p.proxy, "GET /signed/a HTTP/1.1\nHost: app.example").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let seen = &upstream.requests()[0];
    let token = seen
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("a bearer token upstream")
        .to_owned();

    let jwks = raw(p.api, "GET /.well-known/jwks.json HTTP/1.1\nHost: proxy").await;
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    assert!(jwks
        .header("cache-control")
        .is_some_and(|c| c.contains("max-age")));
    let keys = iam_core::JwkSet::from_json(jwks.body.as_bytes()).unwrap();
    let validator = iam_core::jwt::Validator::builder("https://proxy.example")
        .audience("orders")
        .algorithms(vec![iam_core::jwt::Algorithm::from_name("ES256").unwrap()])
        .build()
        .unwrap();
    let validated = validator.validate(&token, &keys).unwrap();
    assert_eq!(validated.principal().subject(), "guest");
    // The public half only.
    assert!(!jwks.body.contains("\"d\""), "{}", jwks.body);
}

#[tokio::test]
async fn cors_preflights_are_answered_without_a_rule_and_only_allowed_origins_get_cors_headers() {
    let f = fixture().await;
    let mut doc = f.doc.clone();
    doc["serve"]["proxy"]["cors"] = json!({
        "enabled": true, "allowed_origins": ["https://*.shop.example"],
        "allowed_methods": ["GET", "POST"], "allowed_headers": ["Authorization"],
        "allow_credentials": true, "max_age": 600
    });
    let p = start(doc, Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let preflight = |origin: &str| {
        format!("OPTIONS /api/orders HTTP/1.1\nHost: app.example\nOrigin: {origin}\nAccess-Control-Request-Method: POST\nAccess-Control-Request-Headers: authorization")
    };
    let ok = raw(p.proxy, &preflight("https://www.shop.example")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://www.shop.example")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(ok.header("access-control-max-age"), Some("600"));
    // A foreign origin, and one that only looks like an allowed one, get no CORS grant.
    for origin in [
        "https://evil.example",
        "https://x.shop.example.evil.example",
    ] {
        let no = raw(p.proxy, &preflight(origin)).await;
        assert!(
            no.header("access-control-allow-origin").is_none(),
            "{origin}"
        );
    }
    assert!(
        f.upstream.requests().is_empty(),
        "a preflight reached upstream"
    );

    // The real request still goes through the rules: 401 without a token, with the grant.
    let res = raw(
        p.proxy,
        "GET /api/orders HTTP/1.1\nHost: app.example\nOrigin: https://www.shop.example",
    )
    .await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://www.shop.example")
    );
    assert!(f.upstream.requests().is_empty());
}
