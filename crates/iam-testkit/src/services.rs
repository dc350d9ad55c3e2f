//! Backing services for tests marked `#[ignore = "needs …"]`.
//!
//! `scripts/test` starts Redis, PostgreSQL and MariaDB on loopback and exports their URLs,
//! then runs the ignored tests too. A test that needs a server is ignored in a plain
//! `cargo test` (so it shows as ignored, never as a silent `ok`); when it runs, a missing
//! server is a failure, not a skip.

/// The value of `var`, or a panic that says how to start the service. Call it from a test
/// marked `#[ignore = "needs …: scripts/test"]`.
pub fn require(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => {
            panic!("{what} is not configured: {var} is unset (run `scripts/test`, which starts it)")
        }
    }
}

/// Redis (`REDIS_URL`).
pub fn redis_url() -> String {
    require("REDIS_URL", "Redis")
}

/// PostgreSQL (`IAM_TEST_POSTGRES_URL`).
pub fn postgres_url() -> String {
    require("IAM_TEST_POSTGRES_URL", "PostgreSQL")
}

/// MariaDB or MySQL (`IAM_TEST_MYSQL_URL`).
pub fn mysql_url() -> String {
    require("IAM_TEST_MYSQL_URL", "MariaDB")
}
