//! The route-scope fixture of the hostile path and header tests: one accepted credential with
//! scope `orders:read` (not `admin`), under route scopes `/admin/**` → `admin`, `/**` →
//! `orders:read`.
use iam_core::authn::{AuthChain, BoxFuture};
use iam_core::credential::{
    CredentialAuthenticator, CredentialError, CredentialVerifier, ParsedToken, RouteScopes,
    VerifiedCredential,
};
use iam_core::scope::ScopeSet;

/// Accepts one token, with scope `orders:read` (not `admin`).
pub struct OneToken(pub String);

impl CredentialVerifier for OneToken {
    fn verify<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<VerifiedCredential, CredentialError>> {
        let answer = if token.secret() == self.0 {
            Ok(VerifiedCredential {
                kind: token.kind(),
                id: "cred-1".into(),
                owner: "user-1".into(),
                tenant: None,
                scopes: ScopeSet::from_space_separated("orders:read"),
                expires_at: None,
            })
        } else {
            Err(CredentialError::Invalid)
        };
        Box::pin(std::future::ready(answer))
    }
}

/// The chain of the app under test: [`OneToken`] for `token`, with the route scopes above.
pub fn chain(token: &str) -> AuthChain {
    let routes = RouteScopes::new()
        .route("*", "/admin/**", "admin")
        .and_then(|r| r.route("*", "/**", "orders:read"))
        .unwrap();
    AuthChain::new()
        .with(CredentialAuthenticator::new(OneToken(token.to_owned())).route_scopes(routes))
}

/// A fresh, well-formed personal access token.
pub fn pat() -> String {
    iam_core::credential::generate(iam_core::credential::CredentialKind::PersonalAccessToken)
        .unwrap()
        .secret()
        .to_owned()
}

/// Spellings of `/admin/panel` (encoded, dot segments, parameters, NUL): each needs the
/// `admin` scope of the route it decodes to, or is refused.
pub const ENCODED_ADMIN_PATHS: &[&str] = &[
    "/admin/panel",
    "/%61dmin/panel",
    "/%61%64%6d%69%6e/panel",
    "/orders/%2e%2e/admin/panel",
    "/orders/%2E./admin/panel",
    "/orders%2f..%2fadmin/panel",
    "/orders/..%5cadmin/panel",
    "/orders;x=1/../admin/panel",
    "/orders/%00",
];

/// Identity headers in spellings a proxy might normalise, next to headers that must survive.
pub const SPOOFED_HEADERS: &[(&str, &str)] = &[
    ("X_User_Id", "admin"),
    ("x.user.id", "admin"),
    ("X-User_Roles", "root"),
    ("x_token_scopes", "admin"),
    ("x.iam.anything", "1"),
    ("connection", "X-User-ID, x_token_scopes, keep-alive"),
    ("x_request_id", "kept"),
];

/// The headers a handler saw, one `name=value` a line, sorted: what the echo route answers.
pub fn headers_seen<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut names: Vec<String> = headers
        .map(|(n, v)| format!("{n}={}", std::str::from_utf8(v).unwrap_or("?")))
        .collect();
    names.sort();
    names.join("\n")
}

/// Panic if an identity header in any spelling reached the handler (`seen` from
/// [`headers_seen`]), or if the headers that must survive were dropped.
pub fn assert_no_identity_header(seen: &str) {
    for line in seen.lines() {
        let name = line.split('=').next().unwrap();
        assert!(
            !iam_core::headers::is_identity_header_name(name),
            "{name} reached the handler"
        );
    }
    assert!(seen.contains("x_request_id=kept"), "{seen}");
    assert!(seen.contains("connection=keep-alive"), "{seen}");
}
