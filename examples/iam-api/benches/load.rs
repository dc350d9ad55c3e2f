//! The load driver behind the README's figures (`cargo bench -p iam-api --bench load`):
//! logins/s per hashing worker against the bare hash measured in the same run, token
//! issuance p50/p99, refreshes/s (PostgreSQL when `IAM_TEST_POSTGRES_URL` is set, else
//! SQLite), start-up time to ready and RSS idle and under a 2,000-login burst (the release
//! binary).
use iam_api::AppState;
use iam_core::Secret;
use iam_identity::hashing::{HashingConfig, PasswordHasher};
use iam_identity::{Session, SessionClaims};
use serde_json::json;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";

fn config(
    dir: &std::path::Path,
    listen: SocketAddr,
    db: String,
    workers: usize,
) -> iam_api::config::Config {
    iam_api::config::Config {
        listen,
        metrics_listen: None,
        data_dir: dir.to_owned(),
        database_url: db,
        redis_url: None,
        issuer: format!("http://{listen}"),
        audience: vec!["iam-api".into()],
        kek: iam_issuer::KeyEncryptionKey::from_bytes([9; 32]),
        hashing: HashingConfig {
            workers,
            queue: 64,
            ..HashingConfig::default()
        },
        access_ttl: Duration::from_secs(600),
        refresh_ttl: Duration::from_secs(86_400),
        refresh_grace: Duration::from_secs(10),
        min_password_chars: 12,
        ip_attempts_per_minute: u32::MAX,
        trusted_proxies: iam_service::client_ip::TrustedProxies::none(),
        platform_tenant: "default".into(),
        bootstrap: Some(("admin@example.com".into(), Secret::new(PASSWORD.into()))),
        token_backend: iam_api::config::TokenBackend::SelfIssued,
    }
}

async fn serve(dir: &std::path::Path, db: String, workers: usize) -> (String, Arc<AppState>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::start(&config(dir, addr, db, workers))
        .await
        .unwrap();
    let app = iam_api::router(state.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (format!("http://{addr}"), state)
}

async fn login(http: &reqwest::Client, base: &str) -> serde_json::Value {
    let res = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"tenant": "default", "username": "admin@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The release binary, started in `dir` on `port` with `env`, and the time from spawn to its
/// first `200` from `/health/ready` (polled every 2 ms).
async fn start_binary(
    http: &reqwest::Client,
    dir: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
) -> (std::process::Child, Duration) {
    let t = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_iam-api"))
        .current_dir(dir)
        .env("IAM_API_LISTEN", format!("127.0.0.1:{port}"))
        .env("IAM_API_IP_ATTEMPTS_PER_MINUTE", "1000000")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    loop {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (child, t.elapsed())
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    child.wait().unwrap();
}

/// The CPU time (user + system) a process has used so far, from `/proc/{pid}/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) end with `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on every Linux the project targets (sysconf(_SC_CLK_TCK)).
    Duration::from_millis(ticks * 10)
}

const BOOTSTRAP: [(&str, &str); 2] = [
    ("IAM_API_BOOTSTRAP_ADMIN_EMAIL", "admin@example.com"),
    ("IAM_API_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = iam_testkit::scratch::TempDir::new();
    let http = reqwest::Client::new();

    // 1–2. The bare hash on a one-worker pool, default cost, against logins through the
    // service (SQLite) with one hashing worker and four clients, in alternating rounds so
    // that a change of machine load hits both alike.
    // The service's own pool settings (`config` below), so only the service differs.
    let hasher = PasswordHasher::new(HashingConfig {
        workers: 1,
        queue: 64,
        ..HashingConfig::default()
    })
    .unwrap();
    let pw = Secret::new(PASSWORD.to_owned());
    let hash = hasher.hash(&pw).await.unwrap();
    let (base, state) = serve(dir.path(), dir.sqlite_url("bench.db"), 1).await;
    login(&http, &base).await;
    let (rounds, n) = (5, 20);
    let (mut bare_time, mut login_time) = (Duration::ZERO, Duration::ZERO);
    let mut bare_cpu = Duration::ZERO;
    for _ in 0..rounds {
        let t = Instant::now();
        // Nothing else of this process runs meanwhile: its CPU time is the hashes'.
        let cpu = cpu_time(std::process::id());
        for _ in 0..n {
            assert!(hasher.verify(&pw, Some(&hash)).await.unwrap());
        }
        bare_cpu += cpu_time(std::process::id()) - cpu;
        bare_time += t.elapsed();
        let t = Instant::now();
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (http, base) = (http.clone(), base.clone());
                tokio::spawn(async move {
                    for _ in 0..n / 4 {
                        login(&http, &base).await;
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        login_time += t.elapsed();
    }
    let total = f64::from(rounds * n);
    let bare = total / bare_time.as_secs_f64();
    let logins = total / login_time.as_secs_f64();
    println!("argon2id m=19456 t=2 p=1, one worker, {rounds} alternating rounds of {n}: bare hash {bare:.1}/s, login over HTTP on SQLite {logins:.1}/s, ratio {:.3}x (service overhead {:.1} %)", logins / bare, (1.0 - logins / bare) * 100.0);

    // 3. Token issuance inside the service.
    let mut times = Vec::with_capacity(20_000);
    for i in 0..20_000 {
        let session = Session {
            claims: SessionClaims {
                sub: "user".into(),
                tenant: "default".into(),
                roles: vec!["admin".into()],
                permissions: vec!["iam:admin".into()],
                acr: "pwd".into(),
                amr: vec!["pwd".into()],
                sid: "family".into(),
            },
            refresh_token: Secret::new("r".into()),
            refresh_expires_in: 1,
            issued_at: 0,
            token_id: format!("bench-{i}"),
        };
        let t = Instant::now();
        state.tokens(&session).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "token issuance (ES256, AppState::tokens): p50 {:?}, p99 {:?}",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );

    // 4. Refreshes per second (4 chains in parallel) against the release binary, whose own
    // CPU time (user + system, from /proc) is counted apart from the load generator's and
    // the database's: refreshes per CPU-second of the service is "per core".
    let (db_name, db) = match std::env::var("IAM_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => ("PostgreSQL", url),
        _ => (
            "SQLite",
            "sqlite://./iam-data/refresh.db?mode=rwc".to_owned(),
        ),
    };
    let rdir = iam_testkit::scratch::TempDir::new();
    let rport = iam_testkit::scratch::free_port();
    let mut renv = BOOTSTRAP.to_vec();
    renv.push(("IAM_API_DATABASE_URL", &db));
    let (rchild, _) = start_binary(&http, rdir.path(), rport, &renv).await;
    let rbase = format!("http://127.0.0.1:{rport}");
    let duration = Duration::from_secs(5);
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(
            login(&http, &rbase).await["refresh_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let cpu_before = cpu_time(rchild.id());
    let t = Instant::now();
    let chains: Vec<_> = tokens
        .into_iter()
        .map(|mut token| {
            let (http, base) = (http.clone(), rbase.clone());
            tokio::spawn(async move {
                let start = Instant::now();
                let mut count = 0u64;
                while start.elapsed() < duration {
                    let res = http
                        .post(format!("{base}/auth/refresh"))
                        .json(&json!({"refresh_token": token}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                    let v: serde_json::Value = res.json().await.unwrap();
                    token = v["refresh_token"].as_str().unwrap().to_owned();
                    count += 1;
                }
                count
            })
        })
        .collect();
    let mut total = 0;
    for c in chains {
        total += c.await.unwrap();
    }
    let (elapsed, service_cpu) = (t.elapsed(), cpu_time(rchild.id()) - cpu_before);
    println!(
        "refreshes over HTTP on {db_name} (release binary), 4 clients, service + database + clients on the 2 cores: {:.0}/s; the service used {:.2} s of CPU for {total}: {:.0} refreshes per CPU-second of the service",
        total as f64 / elapsed.as_secs_f64(),
        service_cpu.as_secs_f64(),
        total as f64 / service_cpu.as_secs_f64().max(0.01)
    );
    let (t, cpu_before) = (Instant::now(), cpu_time(rchild.id()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (http, base) = (http.clone(), rbase.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    login(&http, &base).await;
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let login_cpu = (cpu_time(rchild.id()) - cpu_before) / 40;
    let hash_cpu = bare_cpu / (rounds * n);
    println!(
        "logins over HTTP on {db_name} (release binary), hashing workers = CPUs, 4 clients: {:.1}/s; CPU per login in the service {login_cpu:?} against {hash_cpu:?} per bare hash: {:.1} logins per CPU-second of the service, {:.3}x the bare hash's {:.1} per CPU-second",
        40.0 / t.elapsed().as_secs_f64(),
        1.0 / login_cpu.as_secs_f64(),
        hash_cpu.as_secs_f64() / login_cpu.as_secs_f64(),
        1.0 / hash_cpu.as_secs_f64()
    );
    stop(rchild);

    // 5. The release binary: start-up to ready on SQLite, on a new and on an existing
    // database, with and without the bootstrap admin (whose password is hashed on the
    // first start only); then RSS idle and under a 2,000-login burst.
    let mut startups = Vec::new();
    for (label, env) in [
        ("with the bootstrap admin", &BOOTSTRAP[..]),
        ("without", &[][..]),
    ] {
        let sdir = iam_testkit::scratch::TempDir::new();
        let port = iam_testkit::scratch::free_port();
        let (child, fresh) = start_binary(&http, sdir.path(), port, env).await;
        stop(child);
        let (child, existing) = start_binary(&http, sdir.path(), port, env).await;
        stop(child);
        startups.push(format!(
            "{label}: new database {fresh:?}, existing {existing:?}"
        ));
    }
    println!(
        "start-up to ready on SQLite (release binary, spawn to the first 200 from /health/ready): {}",
        startups.join("; ")
    );
    let bdir = iam_testkit::scratch::TempDir::new();
    let port = iam_testkit::scratch::free_port();
    let (child, _) = start_binary(&http, bdir.path(), port, &BOOTSTRAP).await;
    let base = format!("http://127.0.0.1:{port}");
    login(&http, &base).await;
    let idle = status_kib(child.id(), "VmRSS:");
    let burst_client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    println!("RSS idle {} MiB", idle / 1024);
    // The peak (VmHWM) only grows: the smaller burst first.
    for burst in [1000, 2000] {
        let tasks: Vec<_> = (0..burst)
            .map(|_| {
                let (http, base) = (burst_client.clone(), base.clone());
                tokio::spawn(async move {
                    http.post(format!("{base}/auth/login"))
                        .json(&json!({"tenant": "default", "username": "admin@example.com", "password": PASSWORD}))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        let (mut ok, mut busy, mut other) = (0, 0, 0);
        for t in tasks {
            match t.await.unwrap() {
                200 => ok += 1,
                503 => busy += 1,
                _ => other += 1,
            }
        }
        let peak = status_kib(child.id(), "VmHWM:");
        println!("{burst} concurrent logins: {ok} × 200, {busy} × 503, {other} other; peak RSS so far {} MiB, now {} MiB", peak / 1024, status_kib(child.id(), "VmRSS:") / 1024);
    }
    stop(child);
}
