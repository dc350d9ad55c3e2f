//! Revocation through Kratos's admin API, cache purges, and session-to-JWT exchange.
use super::sessions::Credential;
use super::wire::url_escape;
use super::{KratosError, KratosSessions, PurgeEvent, SESSION_TOKEN_PREFIX};
use crate::transport::HttpClient;
use iam_core::authn::AuthError;

impl KratosSessions {
    /// Forget one session in both caches (after a logout you observed).
    /// With a shared store, every instance sharing it forgets it too (see the module docs).
    pub async fn purge_session(&self, session_id: &str) -> Result<(), KratosError> {
        self.inner.start_watch();
        self.inner
            .on_purge(PurgeEvent::Session(session_id.to_owned()));
        if let Some(store) = &self.inner.store {
            store.purge_session(session_id).await?;
        }
        Ok(())
    }

    /// Forget every session of an identity in both caches.
    /// With a shared store, every instance sharing it forgets them too.
    pub async fn purge_identity(&self, identity_id: &str) -> Result<(), KratosError> {
        self.inner.start_watch();
        self.inner
            .on_purge(PurgeEvent::Identity(identity_id.to_owned()));
        if let Some(store) = &self.inner.store {
            store.purge_identity(identity_id).await?;
        }
        Ok(())
    }

    /// "Log out everywhere": revoke every session of the identity through Kratos's admin
    /// API (`DELETE /admin/identities/{id}/sessions`), then purge both caches, on every
    /// instance sharing the store.
    pub async fn revoke_all_sessions(&self, identity_id: &str) -> Result<(), KratosError> {
        let admin = self.inner.admin.as_deref().ok_or(KratosError::NoAdmin)?;
        let mut req = http::Request::delete(format!(
            "{admin}/admin/identities/{}/sessions",
            url_escape(identity_id)
        ));
        if let Some(t) = &self.inner.admin_token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(Vec::new()).map_err(|_| KratosError::InvalidUrl)?;
        let res = self.inner.http.call(req).await?;
        // 204: revoked; 404: no such identity (nothing to revoke, purge anyway).
        match res.status().as_u16() {
            204 | 404 => {}
            other => return Err(KratosError::Status(other)),
        }
        self.purge_identity(identity_id).await
    }

    /// Exchange a session for a JWT signed by Kratos (`whoami?tokenize_as=template`, Kratos
    /// v1.2+). `session` is the cookie value, or a session token (`ory_st_...`). Validate the
    /// JWT elsewhere with [`session_jwt_authenticator`]: issuer = the Kratos public URL, keys =
    /// the public half of the template's key; its `sid` becomes the principal's session id.
    /// Kratos's 400 for an unknown template is a 400 `invalid_request` naming the template
    /// problem (a configuration error), not "session is not valid".
    pub async fn tokenize(&self, session: &str, template: &str) -> Result<String, AuthError> {
        let cred = if session.starts_with(SESSION_TOKEN_PREFIX) {
            Credential::Token(session)
        } else {
            Credential::Cookie(session)
        };
        match self.whoami(cred, Some(template)).await {
            (_, Ok((s, _, _))) => s
                .tokenized
                .ok_or_else(|| AuthError::unavailable("the session service returned no token")),
            (_, Err(e)) => Err(e),
        }
    }
}

/// Validate Kratos session JWTs (from [`KratosSessions::tokenize`]) locally, with no call to
/// Kratos: issuer = `kratos_public_url` (byte for byte, as Kratos writes it in `iss`), keys
/// from `jwks_url`, `sid` required (it becomes the principal's session id). `jwks_url` serves
/// the *public* half of the tokenize template's key: the template's `jwks_url` in Kratos's
/// configuration holds the private signing key, which is never served to validators. Kratos's session JWTs carry no audience unless the template's claims mapper adds one:
/// pass `audience` when yours does; with `None` any audience is accepted, which is only right
/// when every template of that Kratos is meant for the services that trust this key.
pub fn session_jwt_authenticator(
    kratos_public_url: &str,
    jwks_url: &str,
    audience: Option<&str>,
    http: &HttpClient,
) -> Result<iam_core::authn::JwtAuthenticator<crate::RemoteJwks>, crate::JwtConfigError> {
    let mut b = iam_core::jwt::Validator::builder(kratos_public_url).require_claim("sid");
    b = match audience {
        Some(a) => b.audience(a),
        None => b.dangerous().accept_any_audience(),
    };
    let keys = crate::RemoteJwks::builder(jwks_url)
        .http_client(http.clone())
        .build()?;
    Ok(iam_core::authn::JwtAuthenticator::new(b.build()?, keys))
}
