//! The Go-built peers (Ory Hydra, Kratos, Oathkeeper, OPA) as child processes of a test.
//!
//! `scripts/peers build` builds them from their Go modules into `~/.cache/iam-rs/bin`
//! (`scripts/test` does it first). A test that needs one is marked
//! `#[ignore = "needs hydra: scripts/test"]` (or kratos, oathkeeper, opa) and starts its own
//! instance with [`Peer::spawn`] on a free loopback port, with state in a [`TempDir`] that
//! goes away with it; a missing binary is a failure, never a skip.
//!
//! One file per peer holds its start configuration (`hydra.rs`, `kratos.rs`, …), each
//! returning a [`Peer`].
pub mod hydra;
pub mod kratos;
pub mod oathkeeper;
pub mod opa;

use crate::scratch::TempDir;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of a peer's binary: `$IAM_PEERS_BIN/NAME`, else `~/.cache/iam-rs/bin/NAME`.
/// Panics with the command that builds it when it is missing.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("IAM_PEERS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/iam-rs/bin")
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{name} is not built: {} is missing (run `scripts/peers build {name}`, which \
         `scripts/test` does)",
        path.display()
    );
    path
}

/// A running peer: killed, and its state directory removed, on drop.
#[derive(Debug)]
pub struct Peer {
    name: String,
    child: Child,
    dir: TempDir,
    log: PathBuf,
}

impl Peer {
    /// Start `name` (a binary from [`binary`]) with `args` and `env`, its working directory
    /// and log file in a fresh [`TempDir`]. `setup` may write config files into the
    /// directory first (it gets the directory's path).
    pub fn spawn(
        name: &str,
        args: &[&str],
        env: &[(&str, String)],
        setup: impl FnOnce(&std::path::Path),
    ) -> Self {
        let dir = TempDir::new();
        setup(dir.path());
        let log = dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(binary(name))
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child,
            dir,
            log,
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// What the peer printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `GET url` answers 200 (up to `timeout`), or panic with the peer's log.
    pub async fn wait_ready(&mut self, url: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited with {status} before it was ready:\n{}",
                    self.name,
                    self.log()
                );
            }
            if get_status(url).await == Some(200) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} was not ready at {url} within {timeout:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of a plain HTTP/1.1 `GET` on loopback, or `None` when nothing answers.
async fn get_status(url: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(authority),
    )
    .await
    .ok()?
    .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut head))
        .await
        .ok()?
        .ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
