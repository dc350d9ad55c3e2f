//! The `iam-api` binary: starts with no setup, refuses production without a key.
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_binary_starts_with_no_setup_and_persists_a_0600_key() {
    let dir = iam_testkit::scratch::TempDir::new();
    let port = iam_testkit::scratch::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_iam-api"))
        .current_dir(dir.path())
        .env_clear()
        .env("IAM_API_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/health/ready");
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status() == 200 {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let discovery: serde_json::Value = reqwest::get(format!(
        "http://127.0.0.1:{port}/.well-known/openid-configuration"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    // SIGTERM: graceful shutdown.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(ready, "ready within 30 s");
    assert!(status.success(), "exits cleanly on SIGTERM: {status}");
    assert_eq!(discovery["issuer"], format!("http://127.0.0.1:{port}"));
    let kek = dir.path().join("iam-data/key-encryption-key");
    assert!(dir.path().join("iam-data/iam.db").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("IAM_API_KEY_ENCRYPTION_KEY is not set"),
        "{log}"
    );
    assert!(
        !log.contains(std::fs::read_to_string(&kek).unwrap().trim()),
        "the key is never logged"
    );
}

#[test]
fn production_without_a_key_encryption_key_exits_with_status_2() {
    let dir = iam_testkit::scratch::TempDir::new();
    let out = Command::new(env!("CARGO_BIN_EXE_iam-api"))
        .current_dir(dir.path())
        .env_clear()
        .env("IAM_API_ENV", "production")
        .env("IAM_API_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("IAM_API_KEY_ENCRYPTION_KEY"), "{stderr}");
    assert!(!dir.path().join("iam-data/key-encryption-key").exists());
    let bad = Command::new(env!("CARGO_BIN_EXE_iam-api"))
        .current_dir(dir.path())
        .env_clear()
        .env("IAM_API_KEY_ENCRYPTION_KEY", "not base64 at all!")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn signing_keys_survive_a_restart_so_earlier_tokens_still_validate() {
    use iam_api::AppState;
    let dir = iam_testkit::scratch::TempDir::new();
    let listen: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let kek = iam_issuer::KeyEncryptionKey::generate();
    let config = || {
        let mut c = common::config(&dir, listen);
        c.kek = kek.clone();
        c
    };
    let first = AppState::start(&config()).await.unwrap();
    let kid = first.issuer.key_ring().signing_kid();
    let jwks = first.issuer.jwks();
    first.database.close().await;
    let second = AppState::start(&config()).await.unwrap();
    assert_eq!(second.issuer.key_ring().signing_kid(), kid);
    assert_eq!(second.issuer.jwks(), jwks);
}
