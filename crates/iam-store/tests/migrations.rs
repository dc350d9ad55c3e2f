//! Migrations on the three backends: namespaces, checksums, legacy adoption, concurrency.
use iam_store::{Backend, Database, Migration, StoreError};

const A: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: "CREATE TABLE a_items (id VARCHAR(64) PRIMARY KEY)",
        postgres: "CREATE TABLE a_items (id VARCHAR(64) PRIMARY KEY)",
        mysql: "CREATE TABLE a_items (id VARCHAR(64) PRIMARY KEY)",
    },
    Migration {
        version: 2,
        sqlite: "ALTER TABLE a_items ADD COLUMN name TEXT; CREATE INDEX a_items_name ON a_items (name)",
        postgres: "ALTER TABLE a_items ADD COLUMN name TEXT; CREATE INDEX a_items_name ON a_items (name)",
        mysql: "ALTER TABLE a_items ADD COLUMN name VARCHAR(64); CREATE INDEX a_items_name ON a_items (name)",
    },
];

const B: &[Migration] = &[Migration {
    version: 1,
    sqlite: "CREATE TABLE b_items (id VARCHAR(64) PRIMARY KEY)",
    postgres: "CREATE TABLE b_items (id VARCHAR(64) PRIMARY KEY)",
    mysql: "CREATE TABLE b_items (id VARCHAR(64) PRIMARY KEY)",
}];

async fn reset(db: &Database) {
    for t in [
        "a_items",
        "b_items",
        "iam_store_migrations",
        "legacy_migrations",
    ] {
        let _ = iam_store::sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
            .execute(db.pool())
            .await;
    }
}

async fn two_services_share_one_database(url: &str) {
    let db = Database::connect(url).await.unwrap();
    reset(&db).await;
    assert_eq!(db.migrate("svc-a", A).await.unwrap(), [1, 2]);
    // svc-b's version 1 is not svc-a's version 1.
    assert_eq!(db.migrate("svc-b", B).await.unwrap(), [1]);
    // Rerunning applies nothing.
    assert!(db.migrate("svc-a", A).await.unwrap().is_empty());
    iam_store::sqlx::query(&db.sql("INSERT INTO a_items (id, name) VALUES (?, ?)"))
        .bind("1")
        .bind("x")
        .execute(db.pool())
        .await
        .unwrap();
    // An edited migration is refused, not skipped.
    let mut edited = A.to_vec();
    edited[1].sqlite = "ALTER TABLE a_items ADD COLUMN other TEXT";
    edited[1].postgres = edited[1].sqlite;
    edited[1].mysql = "ALTER TABLE a_items ADD COLUMN other VARCHAR(3)";
    assert!(matches!(
        db.migrate("svc-a", &edited).await,
        Err(StoreError::MigrationChanged { version: 2, .. })
    ));
    // A database newer than the build (a downgrade) is refused.
    assert!(matches!(
        db.migrate("svc-a", &A[..1]).await,
        Err(StoreError::MigrationUnknown { version: 2, .. })
    ));
    reset(&db).await;
}

async fn concurrent_starts_apply_each_migration_once(url: &str) {
    let db = Database::connect(url).await.unwrap();
    reset(&db).await;
    let runs = (0..4).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { db.migrate("svc-a", A).await })
    });
    let mut total = 0;
    for r in runs {
        total += r.await.unwrap().unwrap().len();
    }
    assert_eq!(
        total, 2,
        "each migration applied by exactly one of the starts"
    );
    reset(&db).await;
}

async fn a_legacy_version_table_is_adopted(url: &str) {
    let db = Database::connect(url).await.unwrap();
    reset(&db).await;
    iam_store::sqlx::query(
        "CREATE TABLE legacy_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    iam_store::sqlx::query("INSERT INTO legacy_migrations (version, applied_at) VALUES (1, 0)")
        .execute(db.pool())
        .await
        .unwrap();
    iam_store::sqlx::query(A[0].sqlite)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(
        db.adopt_legacy_migrations("svc-a", "legacy_migrations")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.adopt_legacy_migrations("svc-a", "legacy_migrations")
            .await
            .unwrap(),
        0
    );
    assert_eq!(db.migrate("svc-a", A).await.unwrap(), [2]);
    assert_eq!(
        db.adopt_legacy_migrations("svc-a", "no_such_table")
            .await
            .unwrap(),
        0
    );
    reset(&db).await;
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}/nested/db.sqlite?mode=rwc",
        dir.path().display()
    )
}

#[tokio::test]
async fn sqlite_two_services_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    two_services_share_one_database(&url).await;
    assert_eq!(
        Database::connect(&url).await.unwrap().backend(),
        Backend::Sqlite
    );
}

#[tokio::test]
async fn sqlite_concurrent_starts_apply_each_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_starts_apply_each_migration_once(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn sqlite_a_legacy_version_table_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    a_legacy_version_table_is_adopted(&sqlite_url(&dir)).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test"]
async fn postgres_migrations() {
    let url = iam_testkit::services::postgres_url();
    two_services_share_one_database(&url).await;
    concurrent_starts_apply_each_migration_once(&url).await;
    a_legacy_version_table_is_adopted(&url).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: scripts/test"]
async fn mariadb_migrations() {
    let url = iam_testkit::services::mysql_url();
    two_services_share_one_database(&url).await;
    concurrent_starts_apply_each_migration_once(&url).await;
    a_legacy_version_table_is_adopted(&url).await;
}

#[tokio::test]
async fn an_unsupported_url_is_refused_without_echoing_it() {
    let e = Database::connect("redis://:hunter2@host/0")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::UnsupportedUrl));
    assert!(!e.to_string().contains("hunter2"));
}
