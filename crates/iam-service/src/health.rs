//! `/health/alive` and `/health/ready`.
//!
//! Alive answers 200 as long as the process serves requests. Ready runs every readiness
//! check (concurrently, each bounded by a timeout) and answers 200 when all pass, else 503
//! with the failing checks and their reasons, so an operator sees *why* (a misconfigured
//! issuer, an unreachable database) without a log subscriber. Reasons are shown to whoever
//! can reach the endpoint: never put a secret in one.
//!
//! ```
//! use iam_service::health::Health;
//! let health = Health::new().check("database", || async { Ok::<(), String>(()) });
//! let router: axum::Router = health.router();
//! ```
use axum::routing::get;
use axum::{Json, Router};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

type CheckFn =
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync + 'static;

/// The health endpoints and their readiness checks.
#[derive(Clone, Default)]
pub struct Health {
    checks: Vec<(&'static str, Arc<CheckFn>)>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Health").field("checks", &names).finish()
    }
}

impl Health {
    /// No checks yet: ready as soon as the process serves.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a readiness check: `Ok(())` when ready, `Err(reason)` when not.
    pub fn check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(check()) as Pin<Box<_>>)));
        self
    }

    /// Each check's time limit (default 2 s); a check that takes longer is "not ready".
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Run every check: the failing ones with their reasons.
    pub async fn failures(&self) -> Vec<(&'static str, String)> {
        let timeout = self.timeout.unwrap_or(Duration::from_secs(2));
        // Each check on its own task, so they run concurrently and one slow check costs
        // one timeout, not the sum.
        let runs: Vec<_> = self
            .checks
            .iter()
            .map(|(name, check)| {
                let fut = check();
                (*name, tokio::spawn(tokio::time::timeout(timeout, fut)))
            })
            .collect();
        let mut out = Vec::new();
        for (name, run) in runs {
            match run.await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(reason))) => out.push((name, reason)),
                Ok(Err(_)) => {
                    out.push((name, format!("no answer within {} ms", timeout.as_millis())))
                }
                Err(_) => out.push((name, "the check panicked".to_owned())),
            }
        }
        out
    }

    /// The two routes.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let health = self.clone();
        Router::new()
            .route(
                "/health/alive",
                get(|| async { Json(serde_json::json!({"status": "ok"})) }),
            )
            .route(
                "/health/ready",
                get(move || {
                    let health = health.clone();
                    async move {
                        let failures = health.failures().await;
                        if failures.is_empty() {
                            (
                                http::StatusCode::OK,
                                Json(serde_json::json!({"status": "ok"})),
                            )
                        } else {
                            let errors: serde_json::Map<String, serde_json::Value> = failures
                                .into_iter()
                                .map(|(n, r)| (n.to_owned(), r.into()))
                                .collect();
                            (
                                http::StatusCode::SERVICE_UNAVAILABLE,
                                Json(
                                    serde_json::json!({"status": "unavailable", "errors": errors}),
                                ),
                            )
                        }
                    }
                }),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_lists_each_failing_check_with_its_reason() {
        let h = Health::new()
            .check("database", || async { Ok(()) })
            .check("issuer", || async {
                Err("issuer URL must end with a slash".to_owned())
            })
            .check("slow", || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .timeout(Duration::from_millis(50));
        let failures = h.failures().await;
        assert_eq!(failures.len(), 2);
        assert_eq!(
            failures[0],
            ("issuer", "issuer URL must end with a slash".to_owned())
        );
        assert_eq!(failures[1].0, "slow");
    }
}
