//! The invalid-credential paths of a login cost what a wrong password costs, as ratios to the
//! wrong-password path measured in the same run.
//!
//! `cargo bench -p iam-store --features identity --bench login_paths` logs in on SQLite (on
//! PostgreSQL when `IAM_TEST_POSTGRES_URL` is set) at the default argon2id cost (OWASP:
//! m = 19 MiB, t = 2, p = 1) with one hashing worker, through each of the five refused paths
//! (unknown tenant, unknown user, wrong password, disabled user, suspended tenant) and the
//! accepted one, then prints each path's median and its ratio to the wrong-password median.
//! The structural proof (one verification per attempt, same answer) is the conformance
//! scenario `invalid_credentials_are_indistinguishable`; this shows the clock agrees.
use criterion::{BenchmarkId, Criterion};
use iam_core::Secret;
use iam_identity::hashing::{HashingConfig, PasswordHasher};
use iam_identity::limiter::{LimiterPolicy, MemoryLimiter};
use iam_identity::memory::MemoryChallenges;
use iam_identity::repository::Repositories;
use iam_identity::{Identity, IdentityError, IdentityPolicy, LoginRequest};
use iam_store::identity::SqlIdentityStore;
use iam_store::Database;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";

const PATHS: [(&str, &str, &str, &str); 6] = [
    ("wrong_password", "acme", "alice", "the wrong password!"),
    ("unknown_tenant", "no-such-tenant", "alice", PASSWORD),
    ("unknown_user", "acme", "nobody", PASSWORD),
    ("disabled_user", "acme", "bob", PASSWORD),
    ("suspended_tenant", "frozen", "alice", PASSWORD),
    ("success", "acme", "alice", PASSWORD),
];

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

async fn identity(url: &str) -> (Identity, String) {
    let db = Database::connect(url).await.expect("database");
    let store = Arc::new(SqlIdentityStore::open(db).await.expect("schema"));
    let hasher = PasswordHasher::new(HashingConfig {
        workers: 1,
        ..HashingConfig::default()
    })
    .expect("hasher");
    // No lock-out: the bench repeats failures on purpose.
    let limiter = MemoryLimiter::new(LimiterPolicy {
        free_failures: u32::MAX,
        ..LimiterPolicy::default()
    });
    let id = Identity::new(
        Repositories::from_store(store, Arc::new(MemoryChallenges::default())),
        Arc::new(hasher),
        Arc::new(limiter),
        IdentityPolicy::default(),
    );
    let pw = Secret::new(PASSWORD.to_owned());
    let suffix = &iam_identity::model::new_id()[..8];
    for tenant in ["acme", "frozen"] {
        let tenant = format!("{tenant}-{suffix}");
        id.create_tenant(&tenant, "Bench").await.expect("tenant");
        id.create_user(&tenant, "alice", None, Some(&pw))
            .await
            .expect("alice");
    }
    let bob = id
        .create_user(&format!("acme-{suffix}"), "bob", None, Some(&pw))
        .await
        .expect("bob");
    id.set_user_disabled(&format!("acme-{suffix}"), &bob.id, true)
        .await
        .expect("disable");
    id.set_tenant_suspended(&format!("frozen-{suffix}"), true)
        .await
        .expect("suspend");
    (id, suffix.to_owned())
}

fn median_ns(path: &str) -> Option<f64> {
    let file = out_dir()
        .join("login_paths")
        .join(path)
        .join("new/estimates.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (backend, url) = match std::env::var("IAM_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => ("PostgreSQL", url),
        _ => (
            "SQLite",
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
        ),
    };
    let (id, suffix) = runtime.block_on(identity(&url));
    let mut c = Criterion::default()
        .output_directory(&out_dir())
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut group = c.benchmark_group("login_paths");
    for (name, tenant, login, password) in PATHS {
        let tenant = if tenant == "no-such-tenant" {
            tenant.to_owned()
        } else {
            format!("{tenant}-{suffix}")
        };
        let password = Secret::new(password.to_owned());
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let outcome = runtime.block_on(id.login(LoginRequest {
                    tenant: &tenant,
                    login,
                    password: &password,
                    client_ip: None,
                }));
                match (name, outcome) {
                    ("success", Ok(_)) | (_, Err(IdentityError::InvalidCredentials)) => {}
                    (name, other) => panic!("{name}: {other:?}"),
                }
            })
        });
    }
    group.finish();
    c.final_summary();
    println!("\n{backend}, argon2id m=19456 t=2 p=1, one worker:");
    println!("| path | median | ratio to wrong password |");
    println!("|---|---|---|");
    let Some(base) = median_ns("wrong_password") else {
        return;
    };
    for (name, ..) in PATHS {
        if let Some(m) = median_ns(name) {
            println!("| {name} | {:.2} ms | {:.3}x |", m / 1e6, m / base);
        }
    }
}
