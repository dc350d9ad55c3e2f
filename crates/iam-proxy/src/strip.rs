//! Removing identity headers a client sent, before a rule's mutators add the real ones.
//!
//! Oathkeeper's `header` mutator overwrites the headers it sets, but a client's `X_User` or
//! `x.user` reaches the upstream untouched (CGI, WSGI and PHP read them as `X-User`), and a
//! client can list a header in `Connection` to have the next hop drop the proxy's copy. Here
//! every header name any rule's mutator sets, and every name iam-core treats as an identity
//! header, is removed in every spelling (case, `_`, `.`) and taken out of `Connection` before
//! the pipeline runs; the hop-by-hop headers are removed before forwarding.
//!
//! ```
//! use iam_proxy::strip::IdentityHeaderNames;
//! let names = IdentityHeaderNames::new(["X-User"]);
//! let mut h = http::HeaderMap::new();
//! h.insert("x_user", "admin".parse().unwrap());
//! h.insert("x-user-id", "admin".parse().unwrap());
//! h.insert("connection", "X-User, keep-alive".parse().unwrap());
//! h.insert("accept", "*/*".parse().unwrap());
//! names.strip(&mut h);
//! assert_eq!(h.len(), 2);
//! assert_eq!(h["connection"], "keep-alive");
//! ```
//!
//! # Caveats
//! Cookies a `cookie` mutator sets are not taken out of the client's `Cookie` header; the
//! mutator replaces a cookie of the same name.
use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION};
use std::collections::HashSet;

/// A header name as CGI-style upstreams read it: lowercase, every non-alphanumeric byte `-`.
pub fn fold(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                b.to_ascii_lowercase() as char
            } else {
                '-'
            }
        })
        .collect()
}

/// The header names that only the proxy may set.
#[derive(Debug, Clone, Default)]
pub struct IdentityHeaderNames {
    folded: HashSet<String>,
}

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

impl IdentityHeaderNames {
    /// These names (any spelling) plus iam-core's identity headers.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            folded: names.into_iter().map(fold).collect(),
        }
    }

    /// Whether a header of this name must not come from a client.
    pub fn is_reserved(&self, name: &str) -> bool {
        iam_core::headers::is_identity_header_name(name) || self.folded.contains(&fold(name))
    }

    /// Remove every reserved header and take reserved names out of `Connection`; returns how
    /// many values went.
    pub fn strip(&self, headers: &mut HeaderMap) -> usize {
        let mut removed = iam_core::headers::strip_identity_headers(headers);
        if self.folded.is_empty() {
            return removed;
        }
        let names: Vec<HeaderName> = headers
            .keys()
            .filter(|n| self.folded.contains(&fold(n.as_str())))
            .cloned()
            .collect();
        for n in names {
            removed += headers.get_all(&n).iter().count();
            headers.remove(&n);
        }
        let values: Vec<HeaderValue> = headers.get_all(CONNECTION).iter().cloned().collect();
        if values.is_empty() {
            return removed;
        }
        let mut kept = Vec::new();
        let mut changed = false;
        for v in &values {
            let Ok(text) = v.to_str() else {
                changed = true;
                continue;
            };
            let names: Vec<&str> = text
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            let keep: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| !self.is_reserved(n))
                .collect();
            if keep.len() != names.len() {
                changed = true;
            }
            if !keep.is_empty() {
                kept.extend(HeaderValue::from_str(&keep.join(", ")).ok());
            }
        }
        if changed {
            headers.remove(CONNECTION);
            for v in kept {
                headers.append(CONNECTION, v);
            }
            removed += 1;
        }
        removed
    }
}

/// Remove the hop-by-hop headers and every header named in `Connection` (keeping `Upgrade`
/// when `keep_upgrade`, for a WebSocket handshake).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    for name in listed {
        if keep_upgrade && name == "upgrade" {
            continue;
        }
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
            headers.remove(n);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if !keep_upgrade {
        headers.remove(http::header::UPGRADE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_header_smuggled_as_underscore_or_dot_spelling_is_stripped() {
        let names = IdentityHeaderNames::new(["X-User", "X-Tenant"]);
        let mut h = HeaderMap::new();
        for n in [
            "x-user",
            "X_User",
            "x.user",
            "X-TENANT",
            "x_tenant",
            "x-user-id",
        ] {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_static("admin"),
            );
        }
        h.append("x-username", HeaderValue::from_static("kept"));
        assert_eq!(names.strip(&mut h), 6);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-username"));
    }

    #[test]
    fn identity_header_listed_in_connection_is_taken_out_of_it() {
        let names = IdentityHeaderNames::new(["X-User"]);
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("x_user, Upgrade"));
        h.append(CONNECTION, HeaderValue::from_static("X-User-Id"));
        names.strip(&mut h);
        let v: Vec<_> = h.get_all(CONNECTION).iter().collect();
        assert_eq!(v, ["Upgrade"]);
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("x-secret, upgrade"));
        h.append("x-secret", HeaderValue::from_static("1"));
        h.append("upgrade", HeaderValue::from_static("websocket"));
        h.append("te", HeaderValue::from_static("trailers"));
        h.append("accept", HeaderValue::from_static("*/*"));
        let mut ws = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        strip_hop_by_hop(&mut ws, true);
        assert!(ws.contains_key("upgrade") && !ws.contains_key("x-secret"));
    }
}
