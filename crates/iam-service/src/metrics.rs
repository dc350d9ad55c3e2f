//! Prometheus metrics through the `metrics` facade.
//!
//! Code records with `metrics::counter!` / `gauge!` / `histogram!` anywhere (the library
//! crates already do: `iam_jwks_*`, `iam_kratos_*`); the service renders the text format at
//! `/metrics`. The recorder is process-global, so [`Metrics::global`] installs it once.
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// A handle on the process's Prometheus recorder.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The process's recorder, installed on first use. If another recorder was installed
    /// first (by the application), this one still renders what is recorded through it.
    pub fn global() -> Self {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        let handle = HANDLE.get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows only what this exporter sees");
            }
            // Upkeep (histogram buckets) runs on render.
            handle
        });
        Self {
            handle: handle.clone(),
        }
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// `GET /metrics` (text/plain; version=0.0.4).
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let handle = self.handle.clone();
        Router::new().route(
            "/metrics",
            get(move || {
                let body = handle.render();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        body,
                    )
                }
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_facade_records_is_rendered() {
        let m = Metrics::global();
        metrics::counter!("iam_service_test_total", "outcome" => "ok").increment(3);
        let text = m.render();
        assert!(
            text.contains("iam_service_test_total{outcome=\"ok\"} 3"),
            "{text}"
        );
    }
}
