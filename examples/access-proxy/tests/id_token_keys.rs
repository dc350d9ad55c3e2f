//! The `id_token` keys in a database shared by two instances, and the token cache end to end.
mod common;

use common::{raw, rules_dir, start, Running};
use iam_service::Env;
use iam_testkit::{LoopbackServer, Reply};
use serde_json::{json, Value};

fn no_env(_: &str) -> Option<String> {
    None
}

struct Fixture {
    upstream: LoopbackServer,
    _rules: iam_testkit::scratch::TempDir,
    doc: Value,
}

/// One `id_token` rule behind `anonymous` (subject `guest`); `keys` is the `id_token_keys`
/// section.
async fn fixture(keys: Value) -> Fixture {
    let upstream = LoopbackServer::start(|_| Reply::text(200, "from upstream")).await;
    let rules = json!([{
        "id": "signed",
        "match": {"url": "http://app.example/signed/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "id_token", "config": {"claims": "{\"aud\": [\"orders\"]}"}}],
        "upstream": {"url": upstream.url("/")}
    }]);
    let (dir, loc) = rules_dir(&rules);
    let doc = json!({
        "access_rules": {"repositories": [loc]},
        "authenticators": {"anonymous": {"enabled": true, "config": {"subject": "guest"}}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"id_token": {"enabled": true, "config": {
            "issuer_url": "https://proxy.example", "ttl": "5m"}}},
        "errors": {"handlers": {"json": {"enabled": true}}},
        "id_token_keys": keys
    });
    Fixture {
        upstream,
        _rules: dir,
        doc,
    }
}

/// The token the upstream received on the `n`th request.
fn upstream_token(f: &Fixture, n: usize) -> String {
    f.upstream.requests()[n]
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("a bearer token upstream")
        .to_owned()
}

async fn jwks(p: &Running) -> iam_core::JwkSet {
    let res = raw(p.api, "GET /.well-known/jwks.json HTTP/1.1\nHost: proxy").await;
    assert_eq!(res.status, 200, "{}", res.body);
    iam_core::JwkSet::from_json(res.body.as_bytes()).unwrap()
}

fn validate(token: &str, keys: &iam_core::JwkSet) -> bool {
    let validator = iam_core::jwt::Validator::builder("https://proxy.example")
        .audience("orders")
        .algorithms(vec![iam_core::jwt::Algorithm::from_name("ES256").unwrap()])
        .build()
        .unwrap();
    validator.validate(token, keys).is_ok()
}

/// A database of this test's own next to the test database, emptied: the key table is the
/// one iam-api uses too (`iam_issuer_keys`), and the iam-api tests running on the test
/// database must never find keys sealed under this test's key-encryption key, nor this test
/// theirs.
async fn own_postgres_database() -> String {
    let url = iam_testkit::services::postgres_url();
    let (server, test_db) = url.rsplit_once('/').expect("a database in the URL");
    let name = format!("{test_db}_proxy_keys");
    assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    let admin = iam_store::Database::connect(&url).await.unwrap();
    let exists = iam_store::sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name.clone())
        .fetch_optional(admin.pool())
        .await
        .unwrap()
        .is_some();
    if !exists {
        iam_store::sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.pool())
            .await
            .unwrap();
    }
    let own = format!("{server}/{name}");
    let db = iam_store::Database::connect(&own).await.unwrap();
    // Absent on the first run: nothing to empty.
    let _ = iam_store::sqlx::query("DELETE FROM iam_issuer_keys")
        .execute(db.pool())
        .await;
    own
}

async fn two_instances_share_one_key_ring(database_url: String) {
    let kek = iam_issuer::KeyEncryptionKey::generate().to_base64();
    let f =
        fixture(json!({"database_url": database_url, "key_encryption_key": kek.secret()})).await;
    let a = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let b = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    assert_eq!(
        a.app.id_token_keys.signing_kid(),
        b.app.id_token_keys.signing_kid()
    );
    assert!(a.app.id_token_keys.signing_kid().is_some());
    let request = "GET /signed/a HTTP/1.1\nHost: app.example";
    assert_eq!(raw(a.proxy, request).await.status, 200);
    assert_eq!(raw(b.proxy, request).await.status, 200);
    let (from_a, from_b) = (upstream_token(&f, 0), upstream_token(&f, 1));
    // Each instance's token verifies against the other's JWKS.
    assert!(validate(&from_a, &jwks(&b).await));
    assert!(validate(&from_b, &jwks(&a).await));
}

#[tokio::test]
async fn two_instances_on_one_sqlite_key_store_sign_with_one_key_and_publish_one_jwks() {
    let (_dir, url) = iam_testkit::scratch::temp_sqlite();
    two_instances_share_one_key_ring(url).await;
}

#[tokio::test]
#[ignore = "needs postgres: scripts/test"]
async fn two_instances_on_one_postgres_key_store_sign_with_one_key_and_publish_one_jwks() {
    two_instances_share_one_key_ring(own_postgres_database().await).await;
}

#[tokio::test]
async fn without_a_key_database_each_instance_publishes_its_own_keys() {
    let f = fixture(Value::Null).await;
    let a = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let b = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    assert_ne!(
        a.app.id_token_keys.signing_kid(),
        b.app.id_token_keys.signing_kid()
    );
    let request = "GET /signed/a HTTP/1.1\nHost: app.example";
    assert_eq!(raw(a.proxy, request).await.status, 200);
    assert!(!validate(&upstream_token(&f, 0), &jwks(&b).await));
}

#[tokio::test]
async fn repeated_requests_of_one_subject_get_the_cached_token_until_a_rotation() {
    let f = fixture(Value::Null).await;
    let p = start(f.doc.clone(), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let request = "GET /signed/a HTTP/1.1\nHost: app.example";
    for _ in 0..3 {
        assert_eq!(raw(p.proxy, request).await.status, 200);
    }
    let first = upstream_token(&f, 0);
    assert_eq!(upstream_token(&f, 1), first);
    assert_eq!(upstream_token(&f, 2), first);
    p.app.id_token_keys.rotate_now().await.unwrap();
    assert_eq!(raw(p.proxy, request).await.status, 200);
    let after = upstream_token(&f, 3);
    assert_ne!(after, first, "a rotation mints a token of the new key");
    assert!(validate(&after, &jwks(&p).await));
}

#[test]
fn a_bad_key_encryption_key_is_refused_and_never_echoed() {
    let doc = json!({"id_token_keys": {"database_url": "sqlite://x.db", "key_encryption_key": "c2VjcmV0LXRvby1zaG9ydA"}});
    let e = access_proxy::Config::from_document(&doc, &Env::with_lookup("ACCESS_PROXY_", no_env))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ACCESS_PROXY_ID_TOKEN_KEY_ENCRYPTION_KEY"),
        "{e}"
    );
    assert!(!e.contains("c2VjcmV0"), "{e}");
}
