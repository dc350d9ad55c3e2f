//! Identity headers handed to upstream services, and the stripping of any such header a
//! client sent itself.
//!
//! A service behind a proxy trusts `X-User-ID` and friends only because the proxy set them,
//! so the proxy must first remove every copy the client sent, in any case, repeated or empty.
//!
//! ```
//! use http::HeaderMap;
//! use iam_core::headers::strip_identity_headers;
//! let mut h = HeaderMap::new();
//! h.append("x-user-id", "admin".parse().unwrap());
//! h.append("X-USER-ID", "root".parse().unwrap());
//! h.insert("x-user-anything", "1".parse().unwrap());
//! h.insert("accept", "*/*".parse().unwrap());
//! assert_eq!(strip_identity_headers(&mut h), 3);
//! assert_eq!(h.len(), 1);
//! ```
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

/// True when a header of this name (any case) is an identity header that clients must not
/// send: for frameworks whose header types are not the `http` crate's.
pub fn is_identity_header_name(name: &str) -> bool {
    // Every identity header and reserved prefix starts with `x-` (a test checks it): most
    // request headers (host, accept, authorization, ...) are out after two bytes.
    if name.len() < 2 || !name.as_bytes()[..2].eq_ignore_ascii_case(b"x-") {
        return false;
    }
    let starts = |p: &str| {
        name.len() >= p.len() && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    IDENTITY_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
        || RESERVED_PREFIXES.iter().any(|p| starts(p))
}

/// Remove every identity header (all values of each) and return how many values went.
pub fn strip_identity_headers(headers: &mut HeaderMap) -> usize {
    // The common case (nothing to strip) allocates nothing.
    if !headers.keys().any(is_identity_header) {
        return 0;
    }
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_identity_header(n))
        .cloned()
        .collect();
    let mut removed = 0;
    for name in names {
        removed += headers.get_all(&name).iter().count();
        headers.remove(&name);
    }
    removed
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
