//! Cache-key confusion: one rule's accepted answer must never satisfy another rule whose
//! authenticator is configured differently (the bug class where a cache keyed by the token
//! alone lets a token minted for one audience pass a rule for another).
use base64::Engine as _;
use iam_proxy::engine::{AccessEngine, Verdict};
use iam_proxy::forwarded::{ForwardedTrust, Listener};
use iam_proxy::pipeline::{HandlerConfigs, PipelineBuilder};
use iam_proxy::rules::{MatchingStrategy, RuleRepository, RuleSource};
use iam_testkit::keys::{claims_now, rs256, token, ISS};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn cache_key_confusion_between_rules_with_different_audiences_is_impossible() {
    let jwks = LoopbackServer::start(|_| Reply::json(200, &iam_testkit::keys::jwks_json())).await;
    let jwt = |aud: &str| json!({"handler": "jwt", "config": {"jwks_urls": [jwks.url("/jwks")], "trusted_issuers": [ISS], "target_audience": [aud]}});
    let rules = json!([
        {"id": "orders", "match": {"url": "http://h/orders", "methods": ["GET"]},
         "authenticators": [jwt("orders-api")], "authorizer": {"handler": "allow"}, "mutators": [{"handler": "noop"}]},
        {"id": "admin", "match": {"url": "http://h/admin", "methods": ["GET"]},
         "authenticators": [jwt("admin-api")], "authorizer": {"handler": "allow"}, "mutators": [{"handler": "noop"}]}
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
    let mut claims = claims_now();
    claims["aud"] = json!("orders-api");
    let orders_token = token("RS256", "rsa-1", &claims, rs256());
    let status = |path: &'static str| {
        let engine = engine.clone();
        let auth = format!("Bearer {orders_token}");
        async move {
            let req = http::Request::get(path)
                .header("host", "h")
                .header("authorization", auth)
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
                Verdict::Allow(_) => 200,
                Verdict::Deny(res) => res.status().as_u16(),
            }
        }
    };
    // Accepted (and cached) for the rule it was minted for, twice...
    assert_eq!(status("/orders").await, 200);
    assert_eq!(status("/orders").await, 200);
    // ...and never for the other rule, before or after.
    assert_eq!(status("/admin").await, 401);
    assert_eq!(status("/orders").await, 200);
    assert_eq!(status("/admin").await, 401);
}
