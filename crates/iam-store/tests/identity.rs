//! iam-identity's storage conformance scenarios on SQLite, PostgreSQL and MariaDB, with the
//! in-process limiter and challenges and with the Redis ones.
use iam_identity::conformance;
use iam_identity::limiter::{LimitDecision, LimiterPolicy, LoginLimiter};
use iam_identity::memory::MemoryChallenges;
use iam_identity::repository::{ChallengeStore, Repositories};
use iam_store::identity::{RedisChallenges, RedisLimiter, SqlIdentityStore};
use iam_store::Database;
use std::sync::Arc;

fn prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("iam-test-{}-{nanos}:", std::process::id())
}

async fn store(url: &str) -> Arc<SqlIdentityStore> {
    let db = Database::connect(url).await.unwrap();
    let store = SqlIdentityStore::open(db.clone()).await.unwrap();
    // Opening again applies nothing (the migration is recorded).
    assert!(db
        .migrate(
            iam_store::identity::schema::NAMESPACE,
            iam_store::identity::schema::MIGRATIONS
        )
        .await
        .unwrap()
        .is_empty());
    Arc::new(store)
}

async fn run(url: &str, redis: Option<String>) {
    let store = store(url).await;
    let shared = redis.map(|url| {
        let p = prefix();
        (
            Arc::new(RedisChallenges::new(&url, &p).unwrap()) as Arc<dyn ChallengeStore>,
            Arc::new(RedisLimiter::new(&url, &p, LimiterPolicy::default()).unwrap())
                as Arc<dyn LoginLimiter>,
        )
    });
    conformance::run_all(|| match &shared {
        Some((challenges, limiter)) => (
            Repositories::from_store(store.clone(), challenges.clone()),
            limiter.clone(),
        ),
        None => (
            Repositories::from_store(store.clone(), Arc::new(MemoryChallenges::default())),
            conformance::memory_limiter(),
        ),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_identity_scenario_passes_on_sqlite() {
    let (_dir, url) = iam_testkit::scratch::temp_sqlite();
    run(&url, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis: scripts/test"]
async fn every_identity_scenario_passes_on_sqlite_with_redis() {
    let (_dir, url) = iam_testkit::scratch::temp_sqlite();
    run(&url, Some(iam_testkit::services::redis_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: scripts/test"]
async fn every_identity_scenario_passes_on_postgres() {
    run(&iam_testkit::services::postgres_url(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres and redis: scripts/test"]
async fn every_identity_scenario_passes_on_postgres_with_redis() {
    run(
        &iam_testkit::services::postgres_url(),
        Some(iam_testkit::services::redis_url()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mariadb: scripts/test"]
async fn every_identity_scenario_passes_on_mariadb() {
    run(&iam_testkit::services::mysql_url(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mariadb and redis: scripts/test"]
async fn every_identity_scenario_passes_on_mariadb_with_redis() {
    run(
        &iam_testkit::services::mysql_url(),
        Some(iam_testkit::services::redis_url()),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs redis: scripts/test"]
async fn two_instances_share_the_redis_limiter_and_challenges() {
    let url = iam_testkit::services::redis_url();
    let p = prefix();
    let policy = LimiterPolicy {
        free_failures: 1,
        ip_attempts_per_minute: 3,
        ..LimiterPolicy::default()
    };
    let (a, b) = (
        RedisLimiter::new(&url, &p, policy).unwrap(),
        RedisLimiter::new(&url, &p, policy).unwrap(),
    );
    a.record_failure("t", "alice", 1000).await.unwrap();
    b.record_failure("t", "alice", 1000).await.unwrap();
    assert!(matches!(
        a.check_account("t", "alice", 1000).await.unwrap(),
        LimitDecision::Limited { .. }
    ));
    assert_eq!(
        b.check_account("t", "bob", 1000).await.unwrap(),
        LimitDecision::Allowed
    );
    b.record_success("t", "alice").await.unwrap();
    assert_eq!(
        a.check_account("t", "alice", 1000).await.unwrap(),
        LimitDecision::Allowed
    );
    for l in [&a, &b, &a] {
        assert_eq!(
            l.hit_ip("10.1.1.1", 1200).await.unwrap(),
            LimitDecision::Allowed
        );
    }
    assert!(matches!(
        b.hit_ip("10.1.1.1", 1201).await.unwrap(),
        LimitDecision::Limited { .. }
    ));

    let (ca, cb) = (
        RedisChallenges::new(&url, &p).unwrap(),
        RedisChallenges::new(&url, &p).unwrap(),
    );
    let c = iam_identity::model::MfaChallenge {
        tenant: "t".into(),
        user_id: "u".into(),
        expires_at: 2000,
        failures: 0,
    };
    ca.put("h1", &c, 1000).await.unwrap();
    assert_eq!(cb.take("h1", 1000).await.unwrap(), Some(c.clone()));
    assert_eq!(
        ca.take("h1", 1000).await.unwrap(),
        None,
        "single use across instances"
    );
    ca.put("h2", &c, 1000).await.unwrap();
    assert_eq!(
        cb.take("h2", 2000).await.unwrap(),
        None,
        "expired by the caller's clock"
    );
}

#[tokio::test]
async fn an_unreachable_redis_still_limits_in_process_and_fails_challenges_closed() {
    let port = iam_testkit::scratch::free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let l = RedisLimiter::new(
        &url,
        "x:",
        LimiterPolicy {
            free_failures: 0,
            ..LimiterPolicy::default()
        },
    )
    .unwrap();
    l.record_failure("t", "alice", 1000).await.unwrap();
    assert!(matches!(
        l.check_account("t", "alice", 1000).await.unwrap(),
        LimitDecision::Limited { .. }
    ));
    let c = RedisChallenges::new(&url, "x:").unwrap();
    assert!(c.take("h", 0).await.is_err());
}

/// The `secret` column of `iam_totp` holds the sealed form, never the base32 secret; a row
/// written in plain text (before sealing) is re-sealed by the login that reads it.
async fn totp_column_never_holds_the_secret(url: &str) {
    use iam_identity::{LoginOutcome, LoginRequest, MfaProof};
    let store = store(url).await;
    let repos = Repositories::from_store(store.clone(), Arc::new(MemoryChallenges::default()));
    let (id, clock, _) = conformance::identity(repos, conformance::memory_limiter());
    let tenant = format!("t{}", &iam_identity::model::new_id()[..12]);
    id.create_tenant(&tenant, "Test").await.unwrap();
    let password = iam_core::Secret::new("correct horse battery staple".to_string());
    let user = id
        .create_user(&tenant, "alice", None, Some(&password))
        .await
        .unwrap();
    let enrolment = id.enroll_totp(&tenant, &user.id).await.unwrap();
    let base32 = enrolment.secret_base32.secret().clone();
    let raw =
        iam_identity::totp::decode(&iam_identity::model::SecretText::new(base32.clone())).unwrap();
    let totp = id.policy().totp.clone();
    let code = totp.code_at(&raw, id.now() as u64).unwrap();
    id.confirm_totp(&tenant, &user.id, &code).await.unwrap();

    let db = store.database();
    let column = || async {
        let row = sqlx::query(&db.sql("SELECT secret FROM iam_totp WHERE user_id = ?"))
            .bind(&user.id)
            .fetch_one(db.pool())
            .await
            .unwrap();
        sqlx::Row::get::<String, _>(&row, "secret")
    };
    let sealed = column().await;
    assert!(sealed.starts_with("$kek1$"), "{sealed}");
    assert!(!sealed.to_uppercase().contains(&base32));

    // A row from before sealing: plain base32 in the column.
    sqlx::query(&db.sql("UPDATE iam_totp SET secret = ? WHERE user_id = ?"))
        .bind(&base32)
        .bind(&user.id)
        .execute(db.pool())
        .await
        .unwrap();
    clock.advance(30);
    let request = LoginRequest {
        tenant: &tenant,
        login: "alice",
        password: &password,
        client_ip: None,
    };
    let LoginOutcome::MfaRequired(challenge) = id.login(request).await.unwrap() else {
        panic!("MFA expected");
    };
    let code = totp.code_at(&raw, id.now() as u64).unwrap();
    id.verify_mfa(challenge.mfa_token.secret(), MfaProof::Totp(&code), None)
        .await
        .unwrap();
    let resealed = column().await;
    assert!(resealed.starts_with("$kek1$"), "{resealed}");
    assert!(!resealed.to_uppercase().contains(&base32));
    assert_ne!(resealed, sealed, "a fresh nonce");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_totp_column_never_holds_the_secret_on_sqlite() {
    let (_dir, url) = iam_testkit::scratch::temp_sqlite();
    totp_column_never_holds_the_secret(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: scripts/test"]
async fn the_totp_column_never_holds_the_secret_on_postgres() {
    totp_column_never_holds_the_secret(&iam_testkit::services::postgres_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mariadb: scripts/test"]
async fn the_totp_column_never_holds_the_secret_on_mariadb() {
    totp_column_never_holds_the_secret(&iam_testkit::services::mysql_url()).await;
}
