//! The `remote` and `remote_json` authorizers: a POST to `remote` with the client's
//! `Authorization` and the configured templated `headers`; `200` allows, `403` denies,
//! anything else fails closed. `remote` sends the request body with the client's
//! `Content-Type`; `remote_json` sends its `payload` template rendered (it must be JSON) as
//! `application/json`.
//!
//! Config (rule or global), as Oathkeeper v0.40.9 reads it: `remote` (required), `payload`
//! (`remote_json` only, required: a template over the session), `headers`
//! (name → template over `.Subject`, `.Extra`, `.MatchContext`; an empty result is not sent),
//! `forward_response_headers_to_upstream` (names copied from the remote's 200 answer onto the
//! request that goes upstream), `retry.give_up_after` (a Go duration, default `1s`: the whole
//! call must finish within it) and `retry.max_delay` (read and checked, see the caveats).
//!
//! The body is the one the proxy buffered for this rule (see the `proxy` module: rules with
//! this authorizer get their body read up to a limit before the pipeline runs, and the same
//! bytes go upstream).
//!
//! # Caveats
//! - No retries: one call, bounded by `give_up_after`. Oathkeeper retries connection errors
//!   and 5xx answers until then, with `max_delay` as the connection timeout.
//! - Remote unreachable or too slow is 503 (Oathkeeper: 500); an answer other than 200 or
//!   403 is 500 as in Oathkeeper. Never an allow.
//! - A header template that renders to a value HTTP cannot carry (CR, LF, NUL) is a 500.
use super::template::Template;
use super::{PipelineError, RequestFacts, Session};
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use std::time::Duration;

/// A compiled `remote` authorizer. Its `Debug` names the headers it sends, never their
/// templates (a rule may set a static credential there).
pub(crate) struct RemoteAuthorizer {
    url: url::Url,
    /// `remote_json`'s payload; `None` for `remote` (the request body is sent).
    payload: Option<Template>,
    headers: Vec<(HeaderName, Template)>,
    forward: Vec<HeaderName>,
    give_up_after: Duration,
    http: iam_client::HttpClient,
}

impl std::fmt::Debug for RemoteAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("RemoteAuthorizer")
            .field("host", &self.url.host_str())
            .field("path", &self.url.path())
            .field("json", &self.payload.is_some())
            .field("headers", &headers)
            .field("forward", &self.forward)
            .field("give_up_after", &self.give_up_after)
            .finish_non_exhaustive()
    }
}

/// A Go duration (`500ms`, `1s`, `1m30s`), as `time.ParseDuration` reads the common forms.
pub(crate) fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(number * scale).ok()?;
    }
    Some(total)
}

impl RemoteAuthorizer {
    /// `remote`: the request body is sent.
    pub(crate) fn compile(config: &Value, http: &iam_client::HttpClient) -> Result<Self, String> {
        Self::compile_with(config, http, None)
    }

    /// `remote_json`: the rendered `payload` is sent.
    pub(crate) fn compile_json(
        config: &Value,
        http: &iam_client::HttpClient,
    ) -> Result<Self, String> {
        let payload = config
            .get("payload")
            .and_then(Value::as_str)
            .ok_or("payload is missing")?;
        let payload = Template::parse(payload).map_err(|e| format!("payload: {e}"))?;
        Self::compile_with(config, http, Some(payload))
    }

    fn compile_with(
        config: &Value,
        http: &iam_client::HttpClient,
        payload: Option<Template>,
    ) -> Result<Self, String> {
        let remote = config
            .get("remote")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("remote is missing")?;
        let url = url::Url::parse(remote)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| format!("remote {remote:?} is not an http(s) URL"))?;
        let mut headers = Vec::new();
        if let Some(map) = config.get("headers").and_then(Value::as_object) {
            for (name, template) in map {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("headers: {name:?} is not a header name"))?;
                let template = template
                    .as_str()
                    .ok_or_else(|| format!("headers.{name}: not a string"))?;
                let template =
                    Template::parse(template).map_err(|e| format!("headers.{name}: {e}"))?;
                headers.push((name, template));
            }
        }
        let forward = match config.get("forward_response_headers_to_upstream") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .and_then(|s| HeaderName::from_bytes(s.as_bytes()).ok())
                        .ok_or_else(|| {
                            format!(
                                "forward_response_headers_to_upstream: {n} is not a header name"
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("forward_response_headers_to_upstream must be a list".into()),
        };
        let retry = |key: &str, default: Duration| match config
            .pointer(&format!("/retry/{key}"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            None => Ok(default),
            Some(text) => go_duration(text)
                .filter(|d| !d.is_zero() && *d <= Duration::from_secs(60))
                .ok_or_else(|| format!("retry.{key}: {text:?} is not a duration up to 60s")),
        };
        retry("max_delay", Duration::from_millis(500))?;
        let give_up_after = retry("give_up_after", Duration::from_secs(1))?;
        Ok(Self {
            url,
            payload,
            headers,
            forward,
            give_up_after,
            http: http.clone().with_timeout(give_up_after),
        })
    }

    /// Whether the request body is sent (`remote`), so the caller must buffer it.
    pub(crate) fn needs_body(&self) -> bool {
        self.payload.is_none()
    }

    /// The names copied from the remote's answer (reserved: no client may send them).
    pub(crate) fn header_names(&self) -> Vec<String> {
        self.forward.iter().map(|n| n.as_str().to_owned()).collect()
    }

    pub(crate) async fn authorize(
        &self,
        facts: &RequestFacts<'_>,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        let (body, content_type) = match &self.payload {
            None => (
                facts.body.map(<[u8]>::to_vec).unwrap_or_default(),
                facts
                    .headers
                    .get(CONTENT_TYPE)
                    .cloned()
                    .unwrap_or(HeaderValue::from_static("")),
            ),
            Some(payload) => {
                let body = payload.render(&session.template_data(facts));
                if serde_json::from_str::<Value>(&body).is_err() {
                    return Err(PipelineError::internal("remote_json payload is not JSON"));
                }
                (
                    body.into_bytes(),
                    HeaderValue::from_static("application/json"),
                )
            }
        };
        let mut req = http::Request::post(self.url.as_str())
            .body(body)
            .map_err(|_| PipelineError::internal("remote: invalid remote URL"))?;
        let out = req.headers_mut();
        out.insert(CONTENT_TYPE, content_type);
        if let Some(a) = facts.headers.get(AUTHORIZATION) {
            out.insert(AUTHORIZATION, a.clone());
        }
        if !self.headers.is_empty() {
            let data = session.template_data(facts);
            for (name, template) in &self.headers {
                let value = template.render(&data);
                if value.is_empty() {
                    continue;
                }
                let value = HeaderValue::from_str(&value).map_err(|_| {
                    PipelineError::internal("remote: a header template rendered an invalid value")
                })?;
                out.insert(name.clone(), value);
            }
        }
        let answer = tokio::time::timeout(self.give_up_after, self.http.call(req)).await;
        let res = match answer {
            Ok(Ok(res)) => res,
            _ => {
                return Err(PipelineError::unavailable(
                    "the remote authorizer is unavailable",
                ))
            }
        };
        match res.status().as_u16() {
            200 => {
                for name in &self.forward {
                    // Oathkeeper sets the header even when the remote did not send it.
                    let value = res
                        .headers()
                        .get(name)
                        .cloned()
                        .unwrap_or(HeaderValue::from_static(""));
                    session.headers.insert(name.clone(), value);
                }
                Ok(())
            }
            403 => Err(PipelineError::forbidden()),
            _ => Err(PipelineError::internal(
                "the remote authorizer answered with an unexpected status",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_in_the_forms_oathkeeper_configs_use_are_read() {
        assert_eq!(go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go_duration(""), None);
        assert_eq!(go_duration("5"), None);
        assert_eq!(go_duration("5 parsecs"), None);
    }

    #[test]
    fn a_remote_authorizer_without_remote_or_with_a_bad_header_template_is_refused_at_load() {
        let http = iam_client::HttpClient::new().unwrap();
        assert!(RemoteAuthorizer::compile(&serde_json::json!({}), &http).is_err());
        assert!(
            RemoteAuthorizer::compile(&serde_json::json!({"remote": "ftp://x/"}), &http).is_err()
        );
        let bad = serde_json::json!({"remote": "http://h/", "headers": {"X": "{{ if .Subject }}{{ end }}"}});
        assert!(RemoteAuthorizer::compile(&bad, &http).is_err());
        let slow = serde_json::json!({"remote": "http://h/", "retry": {"give_up_after": "2h"}});
        assert!(RemoteAuthorizer::compile(&slow, &http).is_err());
        let ok = serde_json::json!({"remote": "http://h/", "headers": {"X-Subject": "{{ print .Subject }}"},
            "forward_response_headers_to_upstream": ["X-Decision"], "retry": {"give_up_after": "2s"}});
        let a = RemoteAuthorizer::compile(&ok, &http).unwrap();
        assert_eq!(a.give_up_after, Duration::from_secs(2));
        assert_eq!(a.forward, vec![HeaderName::from_static("x-decision")]);
    }

    #[test]
    fn debug_never_shows_a_header_template_or_the_urls_credentials() {
        let http = iam_client::HttpClient::new().unwrap();
        let config = serde_json::json!({"remote": "https://svc:url-pass-1@authz.example/check?key=query-secret",
            "headers": {"Authorization": "Bearer static-token-2"}});
        let shown = format!("{:?}", RemoteAuthorizer::compile(&config, &http).unwrap());
        for secret in ["url-pass-1", "static-token-2", "query-secret", "svc"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("authorization") && shown.contains("authz.example"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_header_template_rendering_a_line_break_from_a_claim_is_a_500_and_no_call() {
        // Nothing listens on port 9 of loopback: were a call made, it would be a 503.
        let http = iam_client::HttpClient::new().unwrap().with_policy(
            iam_client::TransportPolicy::new()
                .dangerous()
                .allow_plaintext_http(),
        );
        let config = serde_json::json!({"remote": "http://127.0.0.1:9/",
            "headers": {"X-Tenant": "{{ print .Extra.tenant }}"}});
        let a = RemoteAuthorizer::compile(&config, &http).unwrap();
        let canonical =
            crate::canonical::CanonicalRequest::new(&http::Method::POST, "http", "h", "/").unwrap();
        let headers = http::HeaderMap::new();
        let facts = RequestFacts {
            canonical: &canonical,
            headers: &headers,
            client_ip: [127, 0, 0, 1].into(),
            captures: &[],
            body: Some(b"{}"),
        };
        let mut session = Session::default();
        session
            .extra
            .insert("tenant".into(), "acme\r\nX-Admin: yes".into());
        let e = a.authorize(&facts, &mut session).await.unwrap_err();
        assert_eq!(e.status(), http::StatusCode::INTERNAL_SERVER_ERROR, "{e}");
    }
}
