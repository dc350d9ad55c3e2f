//! The handlers that lean on other iam-rs crates and real peers: the `id_token` mutator
//! (iam-issuer's key ring, tokens checked by iam-core), the `opa` authorizer (iam-policy, with
//! the real OPA and in-process Rego; closed when OPA is down) and the
//! `oauth2_client_credentials` authenticator (the real Hydra's token endpoint).
use base64::Engine as _;
use iam_core::jwt::{Algorithm, Validator};
use iam_core::JwkSet;
use iam_issuer::{Issuer, KeyAlgorithm, KeyEncryptionKey, KeyRing, MemoryKeyStore, RotationPolicy};
use iam_proxy::engine::{AccessEngine, Verdict};
use iam_proxy::forwarded::{ForwardedTrust, Listener};
use iam_proxy::pipeline::{HandlerConfigs, PipelineBuilder};
use iam_proxy::rules::{parse_rules, MatchingStrategy, RuleRepository, RuleSet, RuleSource};
use iam_testkit::peers::{hydra::Hydra, opa};
use serde_json::{json, Value};
use std::sync::Arc;

async fn key_ring() -> KeyRing {
    KeyRing::open(
        Arc::new(MemoryKeyStore::new()),
        KeyEncryptionKey::generate(),
        KeyAlgorithm::Es256,
        RotationPolicy::default(),
        iam_core::clock::SystemClock,
    )
    .await
    .unwrap()
}

fn engine(rules: Value, builder: PipelineBuilder) -> AccessEngine {
    let inline = format!(
        "inline://{}",
        base64::engine::general_purpose::STANDARD.encode(rules.to_string())
    );
    let repo = Arc::new(RuleRepository::new(
        vec![RuleSource::parse(&inline).unwrap()],
        MatchingStrategy::Regexp,
        move |set| builder.build(set),
    ));
    repo.reload().unwrap();
    AccessEngine::new(repo, ForwardedTrust::default())
}

/// The status and the headers the pipeline sends upstream.
async fn decide(
    engine: &AccessEngine,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap) {
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "app.example");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(()).unwrap();
    match engine
        .decide(
            "192.0.2.7".parse().unwrap(),
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

fn rule(id: &str, path: &str, authn: Value, authz: Value, mutator: Value) -> Value {
    json!({"id": id, "match": {"url": format!("http://app.example{path}"), "methods": ["GET", "POST"]},
           "authenticators": [authn], "authorizer": authz, "mutators": [mutator]})
}

#[tokio::test]
async fn id_tokens_are_signed_by_the_key_ring_and_verify_with_its_published_jwks() {
    let ring = key_ring().await;
    let mutator = json!({"handler": "id_token", "config": {
        "issuer_url": "https://proxy.example", "jwks_url": "file:///not/read.json", "ttl": "1m",
        "claims": "{\"aud\": [\"orders\"], \"email\": \"{{ print .Subject }}@example.org\", \"path\": \"{{ print .MatchContext.URL.Path }}\"}"}});
    let engine = engine(
        json!([rule(
            "r",
            "/orders/<.*>",
            json!({"handler": "anonymous", "config": {"subject": "ada"}}),
            json!({"handler": "allow"}),
            mutator
        )]),
        PipelineBuilder::new(HandlerConfigs::permissive()).id_token_keys(ring.clone()),
    );
    let (status, headers) = decide(&engine, "GET", "/orders/7", &[]).await;
    assert_eq!(status, 200);
    let bearer = headers["authorization"].to_str().unwrap();
    let token = bearer.strip_prefix("Bearer ").unwrap();

    let published = Issuer::new("", ring).jwks();
    let keys = JwkSet::from_json(published.to_string().as_bytes()).unwrap();
    let validator = Validator::builder("https://proxy.example")
        .audience("orders")
        .algorithms(vec![Algorithm::from_name("ES256").unwrap()])
        .build()
        .unwrap();
    let validated = validator.validate(token, &keys).unwrap();
    let claims = validated.claims().raw();
    assert_eq!(claims["sub"], "ada");
    assert_eq!(claims["email"], "ada@example.org");
    assert_eq!(claims["path"], "/orders/7");
    let exp = claims["exp"].as_i64().unwrap();
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(exp - iat, 60);

    // A token meant for another audience does not pass for this one.
    let other = Validator::builder("https://proxy.example")
        .audience("billing")
        .algorithms(vec![Algorithm::from_name("ES256").unwrap()])
        .build()
        .unwrap();
    assert!(other.validate(token, &keys).is_err());
}

#[test]
fn id_token_without_a_key_ring_or_with_a_bad_ttl_or_claims_is_refused_at_load() {
    let compile = |config: Value| {
        let rules = parse_rules(
            &json!([rule(
                "r",
                "/x",
                json!({"handler": "noop"}),
                json!({"handler": "allow"}),
                json!({"handler": "id_token", "config": config})
            )])
            .to_string(),
            "r.json",
        )
        .unwrap();
        let set = RuleSet::compile(rules, MatchingStrategy::Regexp).unwrap();
        PipelineBuilder::new(HandlerConfigs::permissive())
            .build(set)
            .unwrap_err()
            .to_string()
    };
    let e = compile(json!({"issuer_url": "https://p", "jwks_url": "file:///k.json"}));
    assert!(e.contains("key ring"), "{e}");
}

#[tokio::test]
async fn id_token_ttl_past_the_rings_longest_lifetime_and_template_actions_are_refused() {
    let ring = key_ring().await;
    for (config, expected) in [
        (json!({"issuer_url": "https://p", "ttl": "2h"}), "ttl"),
        (json!({"issuer_url": "https://p", "ttl": "1d"}), "unit"),
        (json!({"ttl": "1m"}), "issuer_url"),
        (
            json!({"issuer_url": "https://p", "claims": "{{ if .Subject }}{}{{ end }}"}),
            "claims",
        ),
    ] {
        let rules = parse_rules(
            &json!([rule(
                "r",
                "/x",
                json!({"handler": "noop"}),
                json!({"handler": "allow"}),
                json!({"handler": "id_token", "config": config})
            )])
            .to_string(),
            "r.json",
        )
        .unwrap();
        let set = RuleSet::compile(rules, MatchingStrategy::Regexp).unwrap();
        let e = PipelineBuilder::new(HandlerConfigs::permissive())
            .id_token_keys(ring.clone())
            .build(set)
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{config}: {e}");
    }
}

#[tokio::test]
async fn id_token_claims_that_do_not_render_a_json_object_are_a_500_not_a_token() {
    let ring = key_ring().await;
    let engine = engine(
        json!([rule(
            "r",
            "/x",
            json!({"handler": "anonymous", "config": {"subject": "a\"b"}}),
            json!({"handler": "allow"}),
            json!({"handler": "id_token", "config": {"issuer_url": "https://p", "claims": "{\"name\": \"{{ print .Subject }}\"}"}})
        )]),
        PipelineBuilder::new(HandlerConfigs::permissive()).id_token_keys(ring),
    );
    // The subject's quote breaks the JSON the template renders: no token is minted.
    let (status, headers) = decide(&engine, "GET", "/x", &[]).await;
    assert_eq!(status, 500);
    assert!(headers.get("authorization").is_none());
}

const POLICY: &str = r#"
package proxy.authz
default allow := false
allow if {
    input.subject.id == "ada"
    input.action == "GET"
    input.resource.id == "/orders/7"
    input.context.ip == "192.0.2.7"
}
decision := {"allow": allow, "reasons": [r | not allow; r := "not_allowed"]}
"#;

fn opa_rules(authz: Value) -> Value {
    json!([
        rule(
            "ada",
            "/orders/<.*>",
            json!({"handler": "anonymous", "config": {"subject": "ada"}}),
            authz.clone(),
            json!({"handler": "noop"})
        ),
        rule(
            "bob",
            "/bob/orders/<.*>",
            json!({"handler": "anonymous", "config": {"subject": "bob"}}),
            authz,
            json!({"handler": "noop"})
        )
    ])
}

#[tokio::test]
#[ignore = "needs opa: scripts/test"]
async fn the_opa_authorizer_asks_the_real_opa_and_fails_closed_when_it_is_down() {
    let server = opa::start(&[("proxy/authz.rego", POLICY)]).await;
    let engine = engine(
        opa_rules(
            json!({"handler": "opa", "config": {"url": server.url, "path": "proxy/authz/decision"}}),
        ),
        PipelineBuilder::new(HandlerConfigs::permissive()),
    );
    assert_eq!(decide(&engine, "GET", "/orders/7", &[]).await.0, 200);
    assert_eq!(decide(&engine, "POST", "/orders/7", &[]).await.0, 403);
    assert_eq!(decide(&engine, "GET", "/orders/8", &[]).await.0, 403);
    assert_eq!(decide(&engine, "GET", "/bob/orders/7", &[]).await.0, 403);

    // A path OPA does not define is not an allow.
    let undefined = self::engine(
        opa_rules(
            json!({"handler": "opa", "config": {"url": server.url, "path": "proxy/authz/nothing"}}),
        ),
        PipelineBuilder::new(HandlerConfigs::permissive()),
    );
    assert_eq!(decide(&undefined, "GET", "/orders/7", &[]).await.0, 503);

    // OPA stops: 503, never the cached allow of another input, never an allow.
    drop(server);
    assert_eq!(decide(&engine, "GET", "/bob/orders/8", &[]).await.0, 503);
    let nobody = self::engine(
        opa_rules(
            json!({"handler": "opa", "config": {"url": format!("http://127.0.0.1:{}", iam_testkit::scratch::free_port()), "path": "proxy/authz/decision", "timeout_ms": 200}}),
        ),
        PipelineBuilder::new(HandlerConfigs::permissive()),
    );
    assert_eq!(decide(&nobody, "GET", "/orders/7", &[]).await.0, 503);
}

#[tokio::test]
async fn the_opa_authorizer_runs_the_same_rego_in_process() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("authz.rego"), POLICY).unwrap();
    let engine = engine(
        opa_rules(
            json!({"handler": "opa", "config": {"rego_dir": dir.path(), "entrypoint": "data.proxy.authz.decision"}}),
        ),
        PipelineBuilder::new(HandlerConfigs::permissive()),
    );
    assert_eq!(decide(&engine, "GET", "/orders/7", &[]).await.0, 200);
    assert_eq!(decide(&engine, "POST", "/orders/7", &[]).await.0, 403);
    assert_eq!(decide(&engine, "GET", "/bob/orders/7", &[]).await.0, 403);
}

#[test]
fn an_opa_authorizer_without_a_decision_point_is_refused_at_load() {
    for config in [
        json!({}),
        json!({"url": "http://127.0.0.1:8181"}),
        json!({"url": "http://127.0.0.1:8181", "path": "a/../b"}),
        json!({"url": "http://o", "path": "p", "rego_dir": "/tmp"}),
        json!({"url": "http://o", "path": "p", "timeout_ms": 0}),
    ] {
        let rules = parse_rules(
            &json!([rule(
                "r",
                "/x",
                json!({"handler": "noop"}),
                json!({"handler": "opa", "config": config}),
                json!({"handler": "noop"})
            )])
            .to_string(),
            "r.json",
        )
        .unwrap();
        let set = RuleSet::compile(rules, MatchingStrategy::Regexp).unwrap();
        assert!(
            PipelineBuilder::new(HandlerConfigs::permissive())
                .build(set)
                .is_err(),
            "{config}"
        );
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn client_credentials_are_checked_at_the_real_hydra_token_endpoint() {
    let hydra = Hydra::start().await;
    let created: Value = reqwest::Client::new()
        .post(format!("{}/admin/clients", hydra.admin_url()))
        .json(
            &json!({"grant_types": ["client_credentials"], "scope": "orders:read",
            "token_endpoint_auth_method": "client_secret_basic"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let token_url = format!("{}/oauth2/token", hydra.public_url());
    let authn = |scope: &str| {
        json!({"handler": "oauth2_client_credentials", "config": {
        "token_url": token_url, "required_scope": [scope], "cache": {"enabled": true, "ttl": "30s"}}})
    };
    let engine = engine(
        json!([
            rule(
                "orders",
                "/orders",
                authn("orders:read"),
                json!({"handler": "allow"}),
                json!({"handler": "header", "config": {"headers": {"X-Client": "{{ print .Subject }}"}}})
            ),
            rule(
                "billing",
                "/billing",
                authn("billing:read"),
                json!({"handler": "allow"}),
                json!({"handler": "noop"})
            )
        ]),
        PipelineBuilder::new(HandlerConfigs::permissive()),
    );
    let good = basic(&id, &secret);
    let (status, headers) = decide(&engine, "GET", "/orders", &[("authorization", &good)]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-client"], id.as_str());
    // Cached: still allowed; the cache is per config, so a scope the client lacks is refused.
    assert_eq!(
        decide(&engine, "GET", "/orders", &[("authorization", &good)])
            .await
            .0,
        200
    );
    assert_eq!(
        decide(&engine, "GET", "/billing", &[("authorization", &good)])
            .await
            .0,
        401
    );
    // A wrong secret, a foreign scheme, garbage Basic, none at all.
    let wrong = basic(&id, "not-the-secret");
    assert_eq!(
        decide(&engine, "GET", "/orders", &[("authorization", &wrong)])
            .await
            .0,
        401
    );
    assert_eq!(
        decide(&engine, "GET", "/orders", &[("authorization", "Basic !!!")])
            .await
            .0,
        401
    );
    assert_eq!(
        decide(&engine, "GET", "/orders", &[("authorization", "Bearer x")])
            .await
            .0,
        401
    );
    assert_eq!(decide(&engine, "GET", "/orders", &[]).await.0, 401);

    // Hydra stops: a credential not in the cache is 503, never an allow.
    drop(hydra);
    let other = basic(&id, "another-secret");
    assert_eq!(
        decide(&engine, "GET", "/orders", &[("authorization", &other)])
            .await
            .0,
        503
    );
}
