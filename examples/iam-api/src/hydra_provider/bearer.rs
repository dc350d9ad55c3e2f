//! Bearer tokens in `hydra` mode: the admin API and the self-service routes take the tokens
//! of the headless login (Hydra's, by `iss`), and still the IAM API's own.
use super::HydraProvider;
use iam_client::{HttpClient, IssuerKeys, JwtConfig};
use iam_core::authn::{AuthError, Authenticator, BoxFuture, JwtAuthenticator, RequestView};
use iam_core::jwks::KeySource;
use iam_core::Principal;
use std::sync::Arc;

/// Hydra's access tokens (`iss` = `IAM_API_HYDRA_ISSUER`, an audience of
/// `IAM_API_AUDIENCE`, keys from Hydra's public JWKS) or else the IAM API's own.
pub(super) struct OwnOrHydraTokens<K> {
    own: JwtAuthenticator<K>,
    hydra_issuer: String,
    hydra: JwtAuthenticator<Arc<IssuerKeys>>,
}

impl<K> std::fmt::Debug for OwnOrHydraTokens<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnOrHydraTokens")
            .field("hydra_issuer", &self.hydra_issuer)
            .finish_non_exhaustive()
    }
}

impl<K: KeySource> OwnOrHydraTokens<K> {
    fn pick(&self, request: &RequestView<'_>) -> Result<bool, AuthError> {
        Ok(request.jwt_bearer()?.is_some_and(|token| {
            iam_core::jwt::unverified_issuer(token).as_deref() == Some(self.hydra_issuer.as_str())
        }))
    }
}

impl<K: KeySource + 'static> Authenticator for OwnOrHydraTokens<K> {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        match self.pick(request) {
            Ok(true) => self.hydra.authenticate(request),
            Ok(false) => self.own.authenticate(request),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn authenticate_now(
        &self,
        request: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthError>> {
        match self.pick(request) {
            Ok(true) => self.hydra.authenticate_now(request),
            Ok(false) => self.own.authenticate_now(request),
            Err(e) => Some(Err(e)),
        }
    }
}

impl HydraProvider {
    /// The bearer authenticator of `hydra` mode around `own` (the IAM API's own tokens).
    pub fn bearer_tokens<K: KeySource + 'static>(
        &self,
        own: JwtAuthenticator<K>,
        audience: &[String],
    ) -> Result<impl Authenticator + 'static, iam_client::JwtConfigError> {
        let issuer = &self.settings.headless.issuer;
        let mut config = JwtConfig::new(issuer.clone()).jwks_url(format!(
            "{}/.well-known/jwks.json",
            self.settings.public_url
        ));
        for a in audience {
            config = config.audience(a.clone());
        }
        let http = HttpClient::new()?;
        let (hydra, _) = config.authenticator_with(&http)?;
        Ok(OwnOrHydraTokens {
            own,
            hydra_issuer: issuer.clone(),
            hydra,
        })
    }
}
