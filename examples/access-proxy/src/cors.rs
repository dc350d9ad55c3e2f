//! CORS on the proxy port from Oathkeeper's `serve.proxy.cors`, as a tower-http `CorsLayer`
//! in front of the rules: preflights are answered without a rule (as Oathkeeper's CORS
//! middleware does), and every other answer carries the CORS headers for an allowed origin.
//!
//! ```
//! let cors = access_proxy::cors::from_config(&serde_json::json!({
//!     "enabled": true, "allowed_origins": ["https://*.example.com"], "allow_credentials": true,
//! })).unwrap();
//! assert!(cors.is_some());
//! // "*" with credentials would let every site read answers with the user's cookies:
//! assert!(access_proxy::cors::from_config(&serde_json::json!({
//!     "enabled": true, "allowed_origins": ["*"], "allow_credentials": true,
//! })).is_err());
//! ```
//!
//! Oathkeeper's defaults: origins `*`, methods GET POST PUT PATCH DELETE, headers
//! Authorization and Content-Type, exposed Content-Type, no credentials, no max-age. An origin
//! may hold one `*` (`https://*.example.com`), which matches one or more characters other than
//! `/`, `:`, `@`, `?` and `#` (so it stays inside the host).
//!
//! # Caveats
//! - `*` origins, methods or headers together with `allow_credentials: true` are refused at
//!   start (Oathkeeper's library then reflects any origin, credentials included).
//! - A preflight is answered 200 (Oathkeeper: 204); browsers accept both.
//! - `debug` and `options_passthrough` are ignored; `serve.api.cors` is not read.
use http::{HeaderName, HeaderValue, Method};
use serde_json::Value;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// A `serve.proxy.cors` section that cannot be honoured.
#[derive(Debug, thiserror::Error)]
#[error("serve.proxy.cors: {0}")]
pub struct CorsConfigError(String);

fn list(section: &Value, key: &str, default: &[&str]) -> Result<Vec<String>, CorsConfigError> {
    match section.get(key) {
        None | Some(Value::Null) => Ok(default.iter().map(|s| (*s).to_owned()).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| CorsConfigError(format!("{key} holds a non-string")))
            })
            .collect(),
        Some(_) => Err(CorsConfigError(format!("{key} is not a list"))),
    }
}

/// An allowed origin with at most one `*`.
#[derive(Debug, Clone)]
struct OriginPattern {
    prefix: String,
    suffix: Option<String>,
}

impl OriginPattern {
    fn parse(text: &str) -> Result<Self, CorsConfigError> {
        let lower = text.to_ascii_lowercase();
        match lower.split_once('*') {
            None => Ok(Self {
                prefix: lower,
                suffix: None,
            }),
            Some((prefix, suffix)) if !suffix.contains('*') && !prefix.is_empty() => Ok(Self {
                prefix: prefix.to_owned(),
                suffix: Some(suffix.to_owned()),
            }),
            _ => Err(CorsConfigError(format!(
                "allowed origin {text:?}: one * inside an origin, or * alone"
            ))),
        }
    }

    fn matches(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        match &self.suffix {
            None => origin == self.prefix,
            Some(suffix) => {
                origin.len() > self.prefix.len() + suffix.len()
                    && origin.starts_with(&self.prefix)
                    && origin.ends_with(suffix.as_str())
                    && !origin[self.prefix.len()..origin.len() - suffix.len()]
                        .contains(['/', ':', '@', '?', '#'])
            }
        }
    }
}

/// The layer for a `serve.proxy.cors` section; `None` when it is absent or not enabled.
pub fn from_config(section: &Value) -> Result<Option<CorsLayer>, CorsConfigError> {
    if section.get("enabled") != Some(&Value::Bool(true)) {
        return Ok(None);
    }
    let credentials = section.get("allow_credentials") == Some(&Value::Bool(true));
    let star = |items: &[String], what: &str| -> Result<bool, CorsConfigError> {
        let any = items.iter().any(|i| i == "*");
        if any && credentials {
            return Err(CorsConfigError(format!(
                "{what} \"*\" with allow_credentials: true would open every answer to every site"
            )));
        }
        Ok(any)
    };
    let origins = list(section, "allowed_origins", &["*"])?;
    let methods = list(
        section,
        "allowed_methods",
        &["GET", "POST", "PUT", "PATCH", "DELETE"],
    )?;
    let headers = list(
        section,
        "allowed_headers",
        &["Authorization", "Content-Type"],
    )?;
    let exposed = list(section, "exposed_headers", &["Content-Type"])?;
    let mut layer = CorsLayer::new().allow_credentials(credentials);
    layer = if star(&origins, "allowed_origins")? {
        layer.allow_origin(AllowOrigin::any())
    } else {
        let patterns = origins
            .iter()
            .map(|o| OriginPattern::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        layer.allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, _: &http::request::Parts| {
                origin
                    .to_str()
                    .is_ok_and(|o| patterns.iter().any(|p| p.matches(o)))
            },
        ))
    };
    let methods = methods
        .iter()
        .map(|m| {
            m.parse::<Method>()
                .map_err(|_| CorsConfigError(format!("allowed method {m:?} is not a method")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    layer = layer.allow_methods(methods);
    let names = |items: &[String], what: &str| {
        items
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| CorsConfigError(format!("{what} {h:?} is not a header name")))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    layer = if star(&headers, "allowed_headers")? {
        layer.allow_headers(tower_http::cors::Any)
    } else {
        layer.allow_headers(names(&headers, "allowed header")?)
    };
    layer = if star(&exposed, "exposed_headers")? {
        layer.expose_headers(tower_http::cors::Any)
    } else {
        layer.expose_headers(names(&exposed, "exposed header")?)
    };
    if let Some(age) = section.get("max_age") {
        let secs = age
            .as_u64()
            .ok_or_else(|| CorsConfigError("max_age is not a number of seconds".into()))?;
        if secs > 0 {
            layer = layer.max_age(Duration::from_secs(secs));
        }
    }
    Ok(Some(layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_origin_matches_one_host_part_and_nothing_that_escapes_it() {
        let p = OriginPattern::parse("https://*.example.com").unwrap();
        assert!(p.matches("https://app.example.com"));
        assert!(p.matches("https://a.b.example.com"));
        assert!(p.matches("HTTPS://APP.EXAMPLE.COM"));
        for hostile in [
            "https://.example.com",
            "https://example.com",
            "https://evil.com/.example.com",
            "https://evil.com:1@x.example.com",
            "http://app.example.com",
            "https://app.example.com.evil.com",
        ] {
            assert!(!p.matches(hostile), "{hostile}");
        }
        assert!(OriginPattern::parse("https://*.*.example.com").is_err());
        assert!(OriginPattern::parse("*.example.com").is_err());
    }

    #[test]
    fn bad_sections_are_refused_and_disabled_ones_are_none() {
        assert!(from_config(&serde_json::json!({})).unwrap().is_none());
        assert!(from_config(&serde_json::json!({"enabled": false}))
            .unwrap()
            .is_none());
        for bad in [
            serde_json::json!({"enabled": true, "allowed_origins": "https://a"}),
            serde_json::json!({"enabled": true, "allowed_methods": ["G ET"]}),
            serde_json::json!({"enabled": true, "allowed_headers": ["bad header"]}),
            serde_json::json!({"enabled": true, "max_age": "1h"}),
            serde_json::json!({"enabled": true, "allowed_origins": ["https://a"], "allowed_headers": ["*"], "allow_credentials": true}),
        ] {
            assert!(from_config(&bad).is_err(), "{bad}");
        }
    }
}
