//! Identity headers handed to upstream services, and the stripping of any such header a
//! client sent itself.
//!
//! A service behind a proxy trusts `X-User-ID` and friends only because the proxy set them,
//! so the proxy must first remove every copy the client sent, in any case, repeated or empty,
//! and in every spelling an upstream may fold into the same name (`X_User_Id`, `x.user.id`:
//! CGI, WSGI and PHP read both as `X-User-Id`); and it must take identity-header names out of
//! `Connection`, where a client lists them to get the proxy's own copies dropped downstream.
//!
//! ```
//! use http::HeaderMap;
//! use iam_core::headers::strip_identity_headers;
//! let mut h = HeaderMap::new();
//! h.append("x-user-id", "admin".parse().unwrap());
//! h.append("X-USER-ID", "root".parse().unwrap());
//! h.insert("x_user_id", "root".parse().unwrap());
//! h.insert("x-user-anything", "1".parse().unwrap());
//! h.insert("accept", "*/*".parse().unwrap());
//! assert_eq!(strip_identity_headers(&mut h), 4);
//! assert_eq!(h.len(), 1);
//! ```
//!
//! # Caveats
//! Names listed in `Connection` other than identity headers (`upgrade`, `keep-alive`) are
//! left to the framework: an in-process middleware must not break websocket upgrades. A
//! proxy that forwards drops every hop-by-hop header itself (the edge worker does).
use crate::principal::{Principal, PrincipalKind};
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// `X-User-ID`: the principal's subject.
pub const X_USER_ID: &str = "x-user-id";
/// `X-User-Email`: the `email` claim, sent only when the principal's `email_verified` claim
/// is `true` (Kratos sets it from the identity's verified addresses; OIDC providers send it).
/// Upstreams use it as a verified address; an unverified one is never sent.
pub const X_USER_EMAIL: &str = "x-user-email";
/// `X-User-Roles`: comma-separated.
pub const X_USER_ROLES: &str = "x-user-roles";
/// `X-User-Permissions`: space-separated.
pub const X_USER_PERMISSIONS: &str = "x-user-permissions";
/// `X-Session-ID`.
pub const X_SESSION_ID: &str = "x-session-id";
/// `X-Auth-Time`: Unix seconds.
pub const X_AUTH_TIME: &str = "x-auth-time";
/// `X-Auth-Kind`: the principal kind.
pub const X_AUTH_KIND: &str = "x-auth-kind";
/// `X-Token-ID`.
pub const X_TOKEN_ID: &str = "x-token-id";
/// `X-Token-Scopes`: space-separated.
pub const X_TOKEN_SCOPES: &str = "x-token-scopes";
/// `X-Client-ID`.
pub const X_CLIENT_ID: &str = "x-client-id";
/// `X-Org-ID`: the tenant.
pub const X_ORG_ID: &str = "x-org-id";
/// `X-Tenant-ID`: the tenant (alias some services expect).
pub const X_TENANT_ID: &str = "x-tenant-id";
/// `X-Key-ID`: credential id of an API key.
pub const X_KEY_ID: &str = "x-key-id";
/// `X-Service-Name`: the service a service token belongs to.
pub const X_SERVICE_NAME: &str = "x-service-name";
/// Scopes of an API key.
pub const X_KEY_SCOPES: &str = "x-key-scopes";
/// Scopes of a service token.
pub const X_SERVICE_SCOPES: &str = "x-service-scopes";

/// Every identity header iam-rs sets.
pub const IDENTITY_HEADERS: [&str; 16] = [
    X_USER_ID,
    X_USER_EMAIL,
    X_USER_ROLES,
    X_USER_PERMISSIONS,
    X_SESSION_ID,
    X_AUTH_TIME,
    X_AUTH_KIND,
    X_TOKEN_ID,
    X_TOKEN_SCOPES,
    X_CLIENT_ID,
    X_ORG_ID,
    X_TENANT_ID,
    X_KEY_ID,
    X_SERVICE_NAME,
    X_KEY_SCOPES,
    X_SERVICE_SCOPES,
];

/// Prefixes reserved for identity headers: anything starting with them is stripped too.
pub const RESERVED_PREFIXES: [&str; 2] = ["x-user-", "x-iam-"];

fn is_identity_header(name: &HeaderName) -> bool {
    is_identity_header_name(name.as_str()) // always lowercase in the http crate
}

/// One byte of a header name as upstreams that fold names read it: ASCII case ignored, and
/// every character that is not a letter or a digit (`_`, `.`, ...) read as `-`. CGI, WSGI,
/// PHP and others turn `X_User_Id` and `X.User.Id` into the same variable as `X-User-Id`.
fn folded(b: u8) -> u8 {
    if b.is_ascii_alphanumeric() {
        b.to_ascii_lowercase()
    } else {
        b'-'
    }
}

/// True when `name`, folded (see [`is_identity_header_name`]), starts with `prefix` (lower
/// case, `-` for separators).
fn folded_starts_with(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(n, p)| folded(n) == p)
}

/// True when a header of this name is an identity header that clients must not send: for
/// frameworks whose header types are not the `http` crate's.
///
/// Every spelling an upstream may read as an identity header counts: any case, and any
/// non-alphanumeric character in place of `-` (`X_User_Id`, `x.user.id`, `X-User_ID`),
/// because CGI-style upstreams fold `_` and `.` into the name they read.
pub fn is_identity_header_name(name: &str) -> bool {
    // Every identity header and reserved prefix starts with `x-` (a test checks it): most
    // request headers (host, accept, authorization, ...) are out after two bytes.
    if !folded_starts_with(name, "x-") {
        return false;
    }
    IDENTITY_HEADERS
        .iter()
        .any(|h| h.len() == name.len() && folded_starts_with(name, h))
        || RESERVED_PREFIXES
            .iter()
            .any(|p| folded_starts_with(name, p))
}

/// The value of a `Connection` header with every identity-header name taken out of its list,
/// or `None` when it names none (keep it as it is). An empty result means: remove the header.
///
/// A client that lists `X-User-ID` in `Connection` asks the next hop to drop that header as
/// hop-by-hop, which would remove the identity header a proxy adds before forwarding. Other
/// names (`upgrade`, `keep-alive`) are kept, so websocket upgrades still work.
pub fn connection_without_identity_names(value: &str) -> Option<String> {
    let names = value.split(',').map(str::trim).filter(|n| !n.is_empty());
    if !names.clone().any(is_identity_header_name) {
        return None;
    }
    let kept: Vec<&str> = names.filter(|n| !is_identity_header_name(n)).collect();
    Some(kept.join(", "))
}

/// Remove every identity header (all values of each), in every spelling
/// ([`is_identity_header_name`]), and every identity-header name listed in `Connection`
/// ([`connection_without_identity_names`]); return how many values went (a rewritten
/// `Connection` header counts as one). A `Connection` value that is not visible ASCII is
/// removed whole.
pub fn strip_identity_headers(headers: &mut HeaderMap) -> usize {
    let mut removed = strip_connection_names(headers);
    // The common case (nothing to strip) allocates nothing.
    if !headers.keys().any(is_identity_header) {
        return removed;
    }
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_identity_header(n))
        .cloned()
        .collect();
    for name in names {
        removed += headers.get_all(&name).iter().count();
        headers.remove(&name);
    }
    removed
}

/// The `Connection` part of [`strip_identity_headers`].
fn strip_connection_names(headers: &mut HeaderMap) -> usize {
    let connection = http::header::CONNECTION;
    let mut changed = false;
    let mut values = Vec::new();
    for v in headers.get_all(&connection) {
        match v.to_str() {
            Ok(text) => match connection_without_identity_names(text) {
                Some(kept) => {
                    changed = true;
                    if !kept.is_empty() {
                        values.extend(HeaderValue::from_str(&kept).ok());
                    }
                }
                None => values.push(v.clone()),
            },
            Err(_) => changed = true,
        }
    }
    if !changed {
        return 0;
    }
    headers.remove(&connection);
    for v in values {
        headers.append(&connection, v);
    }
    1
}

/// The identity headers describing `principal`. Values that cannot be a header value (control
/// characters) are left out rather than mangled.
pub fn identity_headers(principal: &Principal) -> HeaderMap {
    let mut out = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if value.is_empty() {
            return;
        }
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.insert(HeaderName::from_static(name), v);
        }
    };
    put(X_AUTH_KIND, principal.kind().as_str().to_owned());
    // Credentials: the owner and the scopes under the names of their kind.
    let scopes = principal.scopes().to_space_separated();
    let id = principal.token_id().unwrap_or_default().to_owned();
    match principal.kind() {
        PrincipalKind::ApiKey => {
            put(X_ORG_ID, principal.subject().to_owned());
            put(X_KEY_ID, id);
            put(X_KEY_SCOPES, scopes);
            return out;
        }
        PrincipalKind::ServiceToken => {
            put(X_SERVICE_NAME, principal.subject().to_owned());
            put(X_SERVICE_SCOPES, scopes);
            return out;
        }
        _ => {}
    }
    put(X_USER_ID, principal.subject().to_owned());
    // Only a verified address: anyone can type any address into a sign-up form.
    let verified = principal.claims().get("email_verified") == Some(&true.into());
    if let Some(email) = principal.claims().get("email").and_then(|v| v.as_str()) {
        if verified {
            put(X_USER_EMAIL, email.to_owned());
        }
    }
    put(X_USER_ROLES, principal.roles().join(","));
    put(
        X_USER_PERMISSIONS,
        principal.permissions().to_space_separated(),
    );
    put(X_TOKEN_SCOPES, principal.scopes().to_space_separated());
    if let Some(v) = principal.session_id() {
        put(X_SESSION_ID, v.to_owned());
    }
    if let Some(v) = principal.auth_time() {
        put(X_AUTH_TIME, v.to_string());
    }
    if let Some(v) = principal.token_id() {
        put(X_TOKEN_ID, v.to_owned());
    }
    if let Some(v) = principal.client_id() {
        put(X_CLIENT_ID, v.to_owned());
    }
    if let Some(v) = principal.tenant() {
        put(X_ORG_ID, v.to_owned());
        put(X_TENANT_ID, v.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::PrincipalKind;

    #[test]
    fn every_identity_name_has_the_x_prefix_the_fast_path_relies_on() {
        for name in IDENTITY_HEADERS.iter().chain(&RESERVED_PREFIXES) {
            assert!(name.to_ascii_lowercase().starts_with("x-"), "{name}");
            assert!(
                is_identity_header_name(&name.to_ascii_uppercase()),
                "{name}"
            );
        }
        for name in [
            "",
            "x",
            "X-",
            "host",
            "authorization",
            "x-request-id",
            "xuser-id",
        ] {
            assert!(!is_identity_header_name(name), "{name}");
        }
    }

    #[test]
    fn strips_every_spelling_and_repeat() {
        let mut h = HeaderMap::new();
        for name in [
            "X-User-ID",
            "x-user-id",
            "X-Session-Id",
            "x-token-scopes",
            "X-Org-ID",
            "x-iam-x",
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static(""),
            );
        }
        h.append(
            "x-session-token",
            HeaderValue::from_static("kept: it is a credential"),
        );
        h.append("authorization", HeaderValue::from_static("Bearer x"));
        assert_eq!(strip_identity_headers(&mut h), 6);
        assert!(h.contains_key("x-session-token"));
        assert!(h.contains_key("authorization"));
    }

    #[test]
    fn underscore_dot_and_mixed_spellings_of_identity_headers_are_stripped() {
        let mut h = HeaderMap::new();
        for name in [
            "X_User_Id",
            "x_user_id",
            "x.user.id",
            "X-User_ID",
            "x_token_scopes",
            "X.Org.Id",
            "x_iam_anything",
            "x_user_whatever",
        ] {
            assert!(is_identity_header_name(name), "{name}");
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("admin"),
            );
        }
        h.append("x_request_id", HeaderValue::from_static("kept"));
        assert_eq!(strip_identity_headers(&mut h), 8);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x_request_id"));
    }

    #[test]
    fn identity_names_listed_in_connection_are_taken_out_of_it() {
        let mut h = HeaderMap::new();
        h.append(
            "connection",
            HeaderValue::from_static("keep-alive, X-User-ID, upgrade"),
        );
        h.append("connection", HeaderValue::from_static("x_token_scopes"));
        h.append("upgrade", HeaderValue::from_static("websocket"));
        assert_eq!(strip_identity_headers(&mut h), 1);
        let kept: Vec<_> = h.get_all("connection").iter().collect();
        assert_eq!(kept, ["keep-alive, upgrade"]);
        assert!(h.contains_key("upgrade"));

        // Nothing to take out: the header is left as it was.
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("Upgrade"));
        assert_eq!(strip_identity_headers(&mut h), 0);
        assert_eq!(h["connection"], "Upgrade");
        // A value that cannot be read is not passed on.
        let mut h = HeaderMap::new();
        h.append(
            "connection",
            HeaderValue::from_bytes(b"x-user-id\xff").unwrap(),
        );
        assert_eq!(strip_identity_headers(&mut h), 1);
        assert!(!h.contains_key("connection"));
    }

    #[test]
    fn builds_headers_and_drops_unsafe_values() {
        let p = Principal::builder("user\r\nX-Evil: 1", PrincipalKind::OAuth2Token)
            .tenant("acme")
            .roles(["admin", "dev"])
            .scopes(["a", "b"])
            .build();
        let h = identity_headers(&p);
        assert!(h.get(X_USER_ID).is_none());
        assert_eq!(h.get(X_ORG_ID).unwrap(), "acme");
        assert_eq!(h.get(X_USER_ROLES).unwrap(), "admin,dev");
        assert_eq!(h.get(X_TOKEN_SCOPES).unwrap(), "a b");
    }
}
