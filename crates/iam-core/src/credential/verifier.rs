//! What a verified credential grants, why one is refused, and the [`CredentialVerifier`]
//! trait that checks a token against storage.
use super::{CredentialKind, FormatError, ParsedToken};
use crate::authn::{AuthError, BoxFuture};
use crate::principal::Principal;
use crate::scope::ScopeSet;

/// A credential that passed verification: what the request may do and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCredential {
    /// The kind.
    pub kind: CredentialKind,
    /// The credential's id.
    pub id: String,
    /// User id (PAT), organisation id (API key) or service name (service token).
    pub owner: String,
    /// Tenant, if any.
    pub tenant: Option<String>,
    /// Scopes granted.
    pub scopes: ScopeSet,
    /// Expiry (Unix seconds), if any.
    pub expires_at: Option<i64>,
}

impl VerifiedCredential {
    /// The principal for a request carrying this credential.
    pub fn principal(&self) -> Principal {
        let mut b = Principal::builder(self.owner.clone(), self.kind.principal_kind())
            .token_id(self.id.clone())
            .scopes(self.scopes.iter());
        if let Some(t) = &self.tenant {
            b = b.tenant(t.clone());
        }
        if let Some(e) = self.expires_at {
            b = b.expires_at(e);
        }
        b.build()
    }
}

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Not a well-formed token (see [`FormatError`]).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Unknown, revoked, or a wrong secret: indistinguishable on purpose.
    #[error("invalid token")]
    Invalid,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
    /// The store or the credential service cannot be reached.
    #[error("credential store unavailable")]
    Unavailable,
}

impl From<CredentialError> for AuthError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Unavailable => {
                AuthError::unavailable("the credential store is unavailable")
            }
            CredentialError::Expired => AuthError::invalid_credential("token expired"),
            CredentialError::Format(_) | CredentialError::Invalid => {
                AuthError::invalid_credential("invalid token")
            }
        }
    }
}

/// Checks a parsed token against storage (in-process: a store; remote: the credential
/// service's `POST /validate`).
pub trait CredentialVerifier: Send + Sync {
    /// Verify a token whose format and checksum already passed.
    fn verify<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<VerifiedCredential, CredentialError>>;

    /// [`verify`](Self::verify)'s answer when it needs no waiting (a cached answer), else
    /// `None`; see [`Authenticator::authenticate_now`](crate::authn::Authenticator::authenticate_now). The default never answers.
    fn verify_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<VerifiedCredential, CredentialError>> {
        let _ = token;
        None
    }

    /// [`verify`](Self::verify), as the request's principal. Override it when the principal
    /// can be kept (a cache): the default builds it from the verified credential each time.
    fn verify_principal<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<Principal, CredentialError>> {
        Box::pin(async move { self.verify(token).await.map(|v| v.principal()) })
    }

    /// [`verify_now`](Self::verify_now), as the request's principal.
    fn verify_principal_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<Principal, CredentialError>> {
        self.verify_now(token).map(|r| r.map(|v| v.principal()))
    }

    /// [`verify_principal`](Self::verify_principal) for a token presented by the end client
    /// at `client` (when a trusted layer established it, see
    /// [`ClientAddr`](crate::authn::ClientAddr)). A remote verifier forwards the address so
    /// that failures are charged to that client rather than to this service; the default
    /// ignores it.
    fn verify_principal_from<'a>(
        &'a self,
        token: ParsedToken<'a>,
        client: Option<std::net::IpAddr>,
    ) -> BoxFuture<'a, Result<Principal, CredentialError>> {
        let _ = client;
        self.verify_principal(token)
    }
}

impl<V: CredentialVerifier + ?Sized> CredentialVerifier for std::sync::Arc<V> {
    fn verify<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<VerifiedCredential, CredentialError>> {
        (**self).verify(token)
    }
    fn verify_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<VerifiedCredential, CredentialError>> {
        (**self).verify_now(token)
    }
    fn verify_principal<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<Principal, CredentialError>> {
        (**self).verify_principal(token)
    }
    fn verify_principal_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<Principal, CredentialError>> {
        (**self).verify_principal_now(token)
    }
    fn verify_principal_from<'a>(
        &'a self,
        token: ParsedToken<'a>,
        client: Option<std::net::IpAddr>,
    ) -> BoxFuture<'a, Result<Principal, CredentialError>> {
        (**self).verify_principal_from(token, client)
    }
}
