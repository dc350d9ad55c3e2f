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
        let answer = if token.expose() == self.0 {
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
