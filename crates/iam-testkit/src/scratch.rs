//! Throw-away local resources: a temporary directory, a SQLite database URL inside one, a
//! free loopback port (for a binary under test that must be told where to listen).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp folder, removed with everything in it on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create one (unique per process and call).
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "iam-test-{}-{nanos:x}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The URL of a SQLite database file `name` in it, created on first connect.
    pub fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite://{}/{name}?mode=rwc", self.path.display())
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A new, empty SQLite database: its directory (keep it alive while the database is used)
/// and its URL.
pub fn temp_sqlite() -> (TempDir, String) {
    let dir = TempDir::new();
    let url = dir.sqlite_url("test.db");
    (dir, url)
}

/// A loopback port free at the time of the call.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_temp_dir_is_removed_on_drop_and_ports_are_distinct_enough() {
        let (dir, url) = super::temp_sqlite();
        let path = dir.path().to_owned();
        assert!(path.is_dir() && url.starts_with("sqlite://") && url.ends_with("?mode=rwc"));
        drop(dir);
        assert!(!path.exists());
        assert_ne!(super::free_port(), 0);
    }
}
