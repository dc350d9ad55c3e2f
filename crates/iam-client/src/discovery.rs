//! OIDC discovery and a registry of trusted issuers.
//!
//! ```no_run
//! use iam_client::{HttpClient, IssuerRegistry, TrustedIssuer};
//! use iam_core::authn::AuthChain;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let http = HttpClient::new()?;
//! // One issuer per tenant, each with its own JWKS cache and audience.
//! let acme = TrustedIssuer::discover("https://acme.auth.example.com/", "orders-api", &http).await?;
//! let globex = TrustedIssuer::discover("https://globex.auth.example.com/", "orders-api", &http).await?;
//! let chain = AuthChain::new().with(IssuerRegistry::new().with(acme).with(globex));
//! # let _ = chain; Ok(()) }
//! ```
//!
//! Discovery goes through the `openidconnect` crate: the provider's `issuer` must equal the
//! configured one exactly. The issuer URL and every endpoint of the discovery document
//! (`jwks_uri`, token, authorization, userinfo, introspection, revocation, end-session) must
//! meet the HTTP client's [`TransportPolicy`] (https, or http to loopback, unless
//! dangerously relaxed): a document that sends keys or secrets over plain http is refused. A token is checked against the issuer its `iss` names; an `iss`
//! that is not in the registry is refused (401) without any network call.
use crate::jwks::{RemoteJwks, RemoteJwksError};
use crate::transport::{HttpClient, HttpError, TransportPolicy, TransportPolicyError, UrlRole};
use iam_core::authn::{AuthError, Authenticator, BoxFuture, JwtAuthenticator, RequestView};
use iam_core::jwt::{ConfigError, Validator, ValidatorBuilder};
use iam_core::principal::Principal;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Discovery fields beyond the OIDC core set that iam-client uses.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExtraMetadata {
    /// RP-initiated logout (OIDC RP-Initiated Logout 1.0).
    pub end_session_endpoint: Option<String>,
    /// Token introspection (RFC 7662 / RFC 8414).
    pub introspection_endpoint: Option<String>,
    /// Token revocation (RFC 7009 / RFC 8414).
    pub revocation_endpoint: Option<String>,
    /// Whether the provider sends back-channel logout tokens.
    pub backchannel_logout_supported: Option<bool>,
}

impl openidconnect::AdditionalProviderMetadata for ExtraMetadata {}

/// The discovered provider metadata.
pub type IssuerMetadata = openidconnect::ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Discovery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer is not a valid URL.
    #[error("invalid issuer URL")]
    InvalidIssuer,
    /// The issuer URL or an endpoint of its discovery document is refused by the transport
    /// policy (names which one).
    #[error(transparent)]
    Insecure(#[from] TransportPolicyError),
    /// The discovery document could not be fetched, parsed, or named another issuer.
    #[error("OIDC discovery failed: {0}")]
    Discovery(String),
    /// The provider's `jwks_uri` is not acceptable.
    #[error("provider JWKS: {0}")]
    Jwks(#[from] RemoteJwksError),
    /// The validator configuration is invalid.
    #[error("validator: {0}")]
    Validator(#[from] ConfigError),
}

/// One trusted issuer: its metadata, its key source and its validator.
pub struct TrustedIssuer {
    issuer: String,
    metadata: Option<Arc<IssuerMetadata>>,
    authenticator: JwtAuthenticator<RemoteJwks>,
    keys: RemoteJwks,
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TrustedIssuer {
    /// Discover `issuer` (`/.well-known/openid-configuration`) and validate its tokens for
    /// `audience` with the default policy.
    pub async fn discover(
        issuer: &str,
        audience: &str,
        http: &HttpClient,
    ) -> Result<Self, DiscoveryError> {
        let audience = audience.to_owned();
        Self::discover_with(issuer, http, move |b| b.audience(audience)).await
    }

    /// Discover `issuer`, with the validator configured by `configure` (audience, leeway,
    /// token type, ...; the issuer is already set).
    pub async fn discover_with(
        issuer: &str,
        http: &HttpClient,
        configure: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder,
    ) -> Result<Self, DiscoveryError> {
        let url = openidconnect::IssuerUrl::new(issuer.to_owned())
            .map_err(|_| DiscoveryError::InvalidIssuer)?;
        http.policy().check_url(url.url(), UrlRole::Issuer)?;
        let metadata = IssuerMetadata::discover_async(url, http)
            .await
            .map_err(|e| match jwks_refused(&e) {
                Some(refused) => DiscoveryError::Insecure(refused),
                None => DiscoveryError::Discovery(discovery_reason(&e)),
            })?;
        check_discovered(&metadata, http.policy())?;
        let keys = RemoteJwks::builder(metadata.jwks_uri().url().as_str())
            .http_client(http.clone())
            .build()?;
        let validator = configure(Validator::builder(issuer)).build()?;
        let mut trusted = Self::new(validator, keys);
        trusted.metadata = Some(Arc::new(metadata));
        Ok(trusted)
    }

    /// A trusted issuer from a validator and a key source you built yourself.
    pub fn new(validator: Validator, keys: RemoteJwks) -> Self {
        Self {
            issuer: validator.issuer().to_owned(),
            metadata: None,
            authenticator: JwtAuthenticator::new(validator, keys.clone()),
            keys,
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The discovered provider metadata (token, authorization, introspection endpoints...).
    pub fn metadata(&self) -> Option<&IssuerMetadata> {
        self.metadata.as_deref()
    }
    /// The RP-initiated logout endpoint, when the provider has one.
    pub fn end_session_endpoint(&self) -> Option<&str> {
        self.metadata()?
            .additional_metadata()
            .end_session_endpoint
            .as_deref()
    }
    /// The introspection endpoint, when the provider has one.
    pub fn introspection_endpoint(&self) -> Option<&str> {
        self.metadata()?
            .additional_metadata()
            .introspection_endpoint
            .as_deref()
    }
    /// The revocation endpoint, when the provider has one.
    pub fn revocation_endpoint(&self) -> Option<&str> {
        self.metadata()?
            .additional_metadata()
            .revocation_endpoint
            .as_deref()
    }
    /// The issuer's key source.
    pub fn keys(&self) -> &RemoteJwks {
        &self.keys
    }
    /// The issuer's validator.
    pub fn validator(&self) -> &Validator {
        self.authenticator.validator()
    }
}

/// Check every endpoint of a discovery document against `policy`: the keys and the token,
/// introspection and revocation endpoints are fetched or receive secrets, and the browser is
/// sent to the authorization and end-session endpoints.
pub(crate) fn check_discovered(
    metadata: &IssuerMetadata,
    policy: &TransportPolicy,
) -> Result<(), TransportPolicyError> {
    policy.check_url(metadata.jwks_uri().url(), UrlRole::Jwks)?;
    policy.check_url(
        metadata.authorization_endpoint().url(),
        UrlRole::AuthorizationEndpoint,
    )?;
    if let Some(u) = metadata.token_endpoint() {
        policy.check_url(u.url(), UrlRole::TokenEndpoint)?;
    }
    if let Some(u) = metadata.userinfo_endpoint() {
        policy.check_url(u.url(), UrlRole::UserinfoEndpoint)?;
    }
    let extra = metadata.additional_metadata();
    for (url, role) in [
        (
            &extra.introspection_endpoint,
            UrlRole::IntrospectionEndpoint,
        ),
        (&extra.revocation_endpoint, UrlRole::RevocationEndpoint),
        (&extra.end_session_endpoint, UrlRole::EndSessionEndpoint),
    ] {
        if let Some(u) = url {
            policy.check(u, role)?;
        }
    }
    Ok(())
}

/// `openidconnect` fetches the document's `jwks_uri` as part of discovery, through our
/// [`HttpClient`]; the issuer URL was checked before, so a URL the client's policy refuses
/// during discovery is the `jwks_uri` (and it was not fetched).
fn jwks_refused(e: &openidconnect::DiscoveryError<HttpError>) -> Option<TransportPolicyError> {
    match e {
        openidconnect::DiscoveryError::Request(HttpError::Insecure(refused)) => {
            Some(refused.clone().in_role(UrlRole::Jwks))
        }
        _ => None,
    }
}

pub(crate) fn discovery_reason(e: &openidconnect::DiscoveryError<HttpError>) -> String {
    if let Some(refused) = jwks_refused(e) {
        return refused.to_string();
    }
    match e {
        openidconnect::DiscoveryError::Request(inner) => inner.to_string(),
        openidconnect::DiscoveryError::Response(status, _, msg) => {
            format!("HTTP {}: {msg}", status.as_u16())
        }
        openidconnect::DiscoveryError::Parse(_) => {
            "the discovery document does not parse".to_owned()
        }
        openidconnect::DiscoveryError::Validation(msg) => msg.clone(),
        other => other.to_string(),
    }
}

/// Several trusted issuers; a JWT is checked against the one its `iss` names.
#[derive(Debug, Default, Clone)]
pub struct IssuerRegistry {
    issuers: HashMap<String, Arc<TrustedIssuer>>,
}

impl IssuerRegistry {
    /// An empty registry (it refuses every token).
    pub fn new() -> Self {
        Self::default()
    }
    /// Trust one more issuer (replacing an entry with the same issuer identifier).
    pub fn with(mut self, issuer: TrustedIssuer) -> Self {
        self.issuers.insert(issuer.issuer.clone(), Arc::new(issuer));
        self
    }
    /// The entry for an issuer identifier.
    pub fn get(&self, issuer: &str) -> Option<&TrustedIssuer> {
        self.issuers.get(issuer).map(|a| &**a)
    }
    /// Number of trusted issuers.
    pub fn len(&self) -> usize {
        self.issuers.len()
    }
    /// True when no issuer is trusted.
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    async fn run(&self, token: &str) -> Result<Principal, AuthError> {
        let entry = iam_core::jwt::unverified_issuer(token)
            .and_then(|iss| self.issuers.get(&iss).cloned())
            .ok_or_else(|| AuthError::invalid_credential("issuer not accepted"))?;
        entry.authenticator.authenticate_token(token).await
    }
}

impl Authenticator for IssuerRegistry {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            match request.jwt_bearer()? {
                Some(token) => self.run(token).await.map(Some),
                None => Ok(None),
            }
        })
    }
}
