//! Fetching the set: conditional requests, retries with backoff, bounded bodies, lifetimes from the caching headers.
use super::{Fetched, Inner};
use http::header::{ACCEPT, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use http::StatusCode;
use iam_core::jwks::{JwkSet, JwksLimits};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

impl Inner {
    pub(super) async fn fetch_and_store(&self) {
        let span = tracing::info_span!("jwks_fetch", url = %self.url);
        let outcome = self.fetch_with_retries().instrument(span).await;
        let now = Instant::now();
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        s.last_attempt = Some(now);
        match outcome {
            Ok(fetched) => {
                let headers = match fetched {
                    Fetched::New(set, headers) => {
                        s.set = Some(Arc::new(*set));
                        s.etag = header_string(&headers, ETAG);
                        s.last_modified = header_string(&headers, LAST_MODIFIED);
                        headers
                    }
                    Fetched::NotModified(headers) => headers,
                };
                let c = &self.cfg;
                let ttl = crate::cache_control::effective_ttl(
                    &headers,
                    c.min_ttl,
                    c.max_ttl,
                    c.default_ttl,
                    self.clock.now_unix(),
                );
                let ahead = (ttl / 10).min(Duration::from_secs(60));
                s.fresh_until = Some(now + ttl);
                s.refresh_at = Some(now + ttl - ahead);
                s.stale_until = Some(now + ttl + c.stale_if_error);
                s.last_error = None;
            }
            Err(e) => {
                self.counters
                    .bump(&self.counters.failures, "iam_jwks_failures_total");
                tracing::warn!(url = %self.url, error = %e, "JWK set fetch failed");
                s.last_error = Some(e);
            }
        }
        drop(s);
        self.attempts.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) async fn fetch_with_retries(&self) -> Result<Fetched, String> {
        let mut delay = self.cfg.backoff;
        let mut attempt = 0;
        loop {
            match self.fetch_once().await {
                Ok(f) => return Ok(f),
                Err((e, retryable)) if retryable && attempt < self.cfg.retries => {
                    tracing::debug!(error = %e, attempt, "retrying JWK set fetch");
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// One HTTP request. The error says whether a retry may help.
    pub(super) async fn fetch_once(&self) -> Result<Fetched, (String, bool)> {
        let (etag, last_modified, have_set) = {
            let s = self.state.read().unwrap_or_else(|e| e.into_inner());
            (s.etag.clone(), s.last_modified.clone(), s.set.is_some())
        };
        let mut req = self
            .http
            .client()
            .get(self.url.clone())
            .timeout(self.cfg.timeout)
            .header(ACCEPT, "application/jwk-set+json, application/json");
        if have_set {
            if let Some(etag) = etag {
                req = req.header(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = last_modified {
                req = req.header(IF_MODIFIED_SINCE, lm);
            }
        }
        self.counters
            .bump(&self.counters.fetches, "iam_jwks_fetches_total");
        let mut res = req
            .send()
            .await
            .map_err(|e| (format!("request failed: {}", without_url(&e)), true))?;
        let status = res.status();
        if status == StatusCode::NOT_MODIFIED && have_set {
            self.counters
                .bump(&self.counters.not_modified, "iam_jwks_not_modified_total");
            return Ok(Fetched::NotModified(res.headers().clone()));
        }
        if !status.is_success() {
            let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            return Err((
                format!("issuer answered HTTP {}", status.as_u16()),
                retryable,
            ));
        }
        let max = self.cfg.max_bytes;
        if res.content_length().is_some_and(|len| len > max as u64) {
            return Err((format!("JWK set larger than {max} bytes"), false));
        }
        let headers = res.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| {
            (
                format!("reading the body failed: {}", without_url(&e)),
                true,
            )
        })? {
            if body.len() + chunk.len() > max {
                return Err((format!("JWK set larger than {max} bytes"), false));
            }
            body.extend_from_slice(&chunk);
        }
        let mut limits = JwksLimits::default();
        limits.max_document_bytes = max;
        limits.max_keys = self.cfg.max_keys;
        let set =
            JwkSet::from_json_with_limits(&body, limits).map_err(|e| (e.to_string(), false))?;
        for skipped in set.skipped() {
            tracing::warn!(url = %self.url, index = skipped.index, kid = ?skipped.kid, reason = %skipped.reason, "JWK skipped");
        }
        Ok(Fetched::New(Box::new(set), headers))
    }
}

fn header_string(headers: &http::HeaderMap, name: http::HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

/// reqwest errors print the URL; the URL is configuration, but keep errors short and uniform.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad body"
    } else {
        "http error"
    };
    kind.to_owned()
}
