//! The credential [`Authenticator`]: finds a token in the request, verifies it, and checks
//! its route scope.
use super::{parse, CredentialError, CredentialKind, CredentialVerifier, RouteScopes};
use crate::authn::{AuthError, Authenticator, BoxFuture, RequestView};
use crate::principal::Principal;
use std::fmt;

/// The credential authenticator: `Authorization: Bearer pat_…|key_…|svc_…` or `X-API-Key`.
/// With [`RouteScopes`], a token must also hold the scope its route needs (403
/// `insufficient_scope` otherwise, and for routes no entry lists).
pub struct CredentialAuthenticator<V> {
    verifier: V,
    routes: Option<RouteScopes>,
}

impl<V> fmt::Debug for CredentialAuthenticator<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialAuthenticator")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl<V: CredentialVerifier> CredentialAuthenticator<V> {
    /// Verify tokens with `verifier`.
    pub fn new(verifier: V) -> Self {
        Self {
            verifier,
            routes: None,
        }
    }
    /// Require route scopes (deny by default).
    pub fn route_scopes(mut self, routes: RouteScopes) -> Self {
        self.routes = Some(routes);
        self
    }

    fn token<'r>(request: &RequestView<'r>) -> Result<Option<&'r str>, AuthError> {
        if let Some(t) = request.opaque_bearer()? {
            if CredentialKind::ALL
                .iter()
                .any(|k| t.starts_with(k.prefix()))
            {
                return Ok(Some(t));
            }
        }
        request.header_credential(&http::HeaderName::from_static("x-api-key"))
    }
}

impl<V: CredentialVerifier> Authenticator for CredentialAuthenticator<V> {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            let Some(raw) = Self::token(request)? else {
                return Ok(None);
            };
            let parsed = parse(raw).map_err(CredentialError::from)?;
            // A cached answer needs no second future.
            let principal = match self.verifier.verify_principal_now(&parsed) {
                Some(answer) => answer?,
                None => {
                    self.verifier
                        .verify_principal_from(parsed, request.client_addr())
                        .await?
                }
            };
            self.admit(request, principal).map(Some)
        })
    }

    fn authenticate_now(
        &self,
        request: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthError>> {
        let raw = match Self::token(request) {
            Ok(Some(raw)) => raw,
            other => return Some(other.map(|_| None)),
        };
        let parsed = match parse(raw) {
            Ok(p) => p,
            Err(e) => return Some(Err(CredentialError::from(e).into())),
        };
        let verified = self.verifier.verify_principal_now(&parsed)?;
        Some(
            verified
                .map_err(AuthError::from)
                .and_then(|p| self.admit(request, p).map(Some)),
        )
    }
}

impl<V: CredentialVerifier> CredentialAuthenticator<V> {
    /// The principal of a verified token, if the route table lets it reach this route.
    fn admit(
        &self,
        request: &RequestView<'_>,
        principal: Principal,
    ) -> Result<Principal, AuthError> {
        if let Some(routes) = &self.routes {
            let path = request.uri().path();
            match routes.scope_for(request.method(), path) {
                Some(scope) if principal.has_scope(scope) => {}
                Some(scope) => return Err(AuthError::insufficient_scope(scope)),
                None => {
                    return Err(AuthError::forbidden(
                        "this route cannot be reached with a token",
                    ))
                }
            }
        }
        Ok(principal)
    }
}
