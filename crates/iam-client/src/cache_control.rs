//! How long a response may be cached, from `Cache-Control` and `Expires`.
use http::header::{HeaderMap, CACHE_CONTROL, DATE, EXPIRES};
use std::time::{Duration, UNIX_EPOCH};

/// The lifetime the server asked for, if it said anything: `Some(ZERO)` for `no-store` /
/// `no-cache`, `max-age` first, then `Expires` (relative to `Date` when present, else to
/// `now_unix`).
pub(crate) fn server_ttl(headers: &HeaderMap, now_unix: i64) -> Option<Duration> {
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let d = directive.trim().to_ascii_lowercase();
            if d == "no-store" || d == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = d.strip_prefix("max-age=") {
                if let Ok(secs) = secs.trim_matches('"').parse::<u64>() {
                    return Some(Duration::from_secs(secs));
                }
            }
        }
    }
    let expires = headers.get(EXPIRES)?.to_str().ok()?;
    let Ok(expires) = httpdate::parse_http_date(expires) else {
        return Some(Duration::ZERO); // an invalid Expires means "already expired" (RFC 9111)
    };
    let now = headers
        .get(DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or_else(|| UNIX_EPOCH + Duration::from_secs(u64::try_from(now_unix).unwrap_or(0)));
    Some(expires.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The lifetime to use: the server's, clamped to `[min, max]`, or `default` when it said nothing.
pub(crate) fn effective_ttl(
    headers: &HeaderMap,
    min: Duration,
    max: Duration,
    default: Duration,
    now_unix: i64,
) -> Duration {
    server_ttl(headers, now_unix)
        .unwrap_or(default)
        .clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn lifetimes() {
        let (min, max, def) = (
            Duration::from_secs(300),
            Duration::from_secs(86400),
            Duration::from_secs(900),
        );
        let ttl = |p: &[(&'static str, &str)]| effective_ttl(&h(p), min, max, def, 0).as_secs();
        assert_eq!(ttl(&[]), 900);
        assert_eq!(ttl(&[("cache-control", "public, max-age=3600")]), 3600);
        assert_eq!(ttl(&[("cache-control", "max-age=1")]), 300);
        assert_eq!(ttl(&[("cache-control", "max-age=999999999")]), 86400);
        assert_eq!(ttl(&[("cache-control", "no-store")]), 300);
        assert_eq!(ttl(&[("cache-control", "max-age=abc")]), 900);
        assert_eq!(
            ttl(&[
                ("date", "Mon, 23 Nov 2026 10:00:00 GMT"),
                ("expires", "Mon, 23 Nov 2026 12:00:00 GMT")
            ]),
            7200
        );
        assert_eq!(ttl(&[("expires", "0")]), 300);
    }
}
