//! Ory Hydra's admin API, typed by hand (no generated code): the login, consent and logout
//! requests of a login provider, login and consent sessions, OAuth2 clients, JSON Web Key
//! sets, and introspection through [`crate::Introspection`].
//!
//! ```no_run
//! use iam_client::hydra::{AcceptLogin, ConsentDecision, ConsentStep, HydraAdmin, RequestState};
//! use iam_client::HttpClient;
//! use std::time::Duration;
//!
//! # async fn run(login_challenge: &str, consent_challenge: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let hydra = HydraAdmin::new("http://127.0.0.1:4445", HttpClient::new()?)?;
//!
//! // The login page: Hydra sent the browser here with `?login_challenge=...`.
//! let redirect = match hydra.get_login_request(login_challenge).await? {
//!     // A challenge used before (back button, double submit): go where Hydra says.
//!     RequestState::AlreadyHandled(redirect) => redirect,
//!     // Hydra already knows the user (`skip`): accept without showing a form.
//!     RequestState::Open(login) if login.skip => {
//!         hydra.accept_login_request(login_challenge, &AcceptLogin::new(&login.subject)).await?
//!     }
//!     RequestState::Open(_) => {
//!         // ... check the password and MFA, then:
//!         let accept = AcceptLogin::new("user-42")
//!             .remember_for(Duration::from_secs(3600))
//!             .acr("aal2")
//!             .amr(["pwd", "otp"]);
//!         hydra.accept_login_request(login_challenge, &accept).await?
//!     }
//! };
//! // 303 the browser to `redirect.redirect_to`.
//!
//! // The consent page: write only the policy; `skip` and first-party clients
//! // (`skip_consent`) are accepted without asking the user.
//! let step = hydra
//!     .decide_consent(consent_challenge, |request: &iam_client::hydra::ConsentRequest| {
//!         ConsentDecision::grant_requested(request)
//!             .access_token_claim("tenant", "acme")
//!             .access_token_claim("roles", serde_json::json!(["admin"]))
//!     })
//!     .await?;
//! match step {
//!     ConsentStep::Redirect(redirect) => { /* 303 to redirect.redirect_to */ let _ = redirect; }
//!     ConsentStep::AskUser(request) => { /* show a page listing request.requested_scope */ let _ = request; }
//! }
//! # Ok(()) }
//! ```
//!
//! Every call answers `Result<_, HydraError>`; a refusal keeps Hydra's `error`,
//! `error_description`, `error_hint` and status ([`HydraApiError`]). Hydra answers a login,
//! consent or logout challenge that was already handled with `410 Gone` and the URL to send
//! the browser to: that is [`RequestState::AlreadyHandled`], not an error.
//!
//! Settings Hydra needs for a login provider (environment names in brackets): `urls.login`
//! (`URLS_LOGIN`), `urls.consent` (`URLS_CONSENT`), `urls.logout` (`URLS_LOGOUT`) pointing at
//! your pages, and `strategies.access_token: jwt` (`STRATEGIES_ACCESS_TOKEN=jwt`) for
//! access tokens a service validates locally (opaque ones need [`HydraAdmin::introspection`]).
//!
//! ## Caveats
//! - Hydra's admin API has no authentication of its own: keep it on a private network, or
//!   put it behind a gateway and give its credential with [`HydraAdmin::with_bearer_token`].
//!   The admin URL follows the HTTP client's [`TransportPolicy`](crate::TransportPolicy)
//!   (`https`, or plain `http` to loopback unless relaxed on purpose).
//! - Hydra v2 writes `typ: JWT` in the header of its JWT access tokens, not `at+jwt`: keep
//!   [`JwtConfig::token_type`](crate::JwtConfig::token_type) at its default
//!   ([`TokenType::Jwt`](iam_core::jwt::TokenType::Jwt)) for Hydra; strict `at+jwt` refuses
//!   every Hydra token.
//! - Claims added at consent (`session.access_token`) land under `ext` in the access token
//!   unless Hydra's `oauth2.allowed_top_level_claims` lists them; iam-core's claim mapping
//!   reads `ext` too.
//! - `skip_consent` on a client is only stored by Hydra, never acted on: the consent helper
//!   here is what honours it (and anything else your policy calls first-party).
//! - A key set created or rotated here comes back with its private keys (Hydra returns
//!   them once): [`JsonWebKey`]'s `Debug` never shows them; do not log the JSON.
mod clients;
mod consent;
mod error;
mod flows;
mod keys;

pub use clients::{ClientPage, ListClients, OAuth2Client};
pub use consent::{ConsentDecision, ConsentStep};
pub use error::{HydraApiError, HydraError};
pub use flows::{
    AcceptConsent, AcceptLogin, ConsentRequest, ConsentSession, LoginRequest, LoginSessions,
    LogoutRequest, Redirect, RejectRequest, RequestState,
};
pub use keys::{JsonWebKey, JsonWebKeySet};

use crate::transport::{HttpClient, UrlRole};
use iam_core::Secret;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;

/// A client of one Hydra's admin API. Cheap to clone.
#[derive(Clone)]
pub struct HydraAdmin {
    inner: Arc<Inner>,
}

struct Inner {
    /// Without a trailing slash.
    admin: String,
    http: HttpClient,
    bearer: Option<Secret>,
}

impl fmt::Debug for HydraAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HydraAdmin")
            .field("admin_url", &self.inner.admin)
            .field("bearer", &self.inner.bearer.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// One answer of the admin API: status, `Link` header, body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) link: Option<String>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as `T`, or Hydra's refusal when the status is not `ok`.
    pub(crate) fn json<T: DeserializeOwned>(self, ok: &[u16]) -> Result<T, HydraError> {
        if !ok.contains(&self.status) {
            return Err(self.refusal());
        }
        serde_json::from_slice(&self.body)
            .map_err(|_| HydraError::InvalidResponse("the body does not match Hydra's schema"))
    }

    /// Nothing to read; an error unless the status is in `ok`.
    pub(crate) fn empty(self, ok: &[u16]) -> Result<(), HydraError> {
        if ok.contains(&self.status) {
            Ok(())
        } else {
            Err(self.refusal())
        }
    }

    pub(crate) fn refusal(&self) -> HydraError {
        HydraError::Api(HydraApiError::from_answer(self.status, &self.body))
    }
}

impl HydraAdmin {
    /// The admin API at `admin_url` (e.g. `http://hydra:4445`), over `http`. The URL must
    /// meet `http`'s transport policy.
    pub fn new(admin_url: &str, http: HttpClient) -> Result<Self, HydraError> {
        let parsed = url::Url::parse(admin_url).map_err(|_| HydraError::InvalidUrl)?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(HydraError::InvalidUrl);
        }
        http.policy().check_url(&parsed, UrlRole::HydraAdmin)?;
        Ok(Self {
            inner: Arc::new(Inner {
                admin: admin_url.trim_end_matches('/').to_owned(),
                http,
                bearer: None,
            }),
        })
    }

    /// Send `Authorization: Bearer <token>` on every call (an admin API behind a gateway).
    pub fn with_bearer_token(self, token: impl Into<String>) -> Self {
        let inner = Inner {
            admin: self.inner.admin.clone(),
            http: self.inner.http.clone(),
            bearer: Some(Secret::new(token.into())),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The admin URL, without a trailing slash.
    pub fn admin_url(&self) -> &str {
        &self.inner.admin
    }

    /// An introspection authenticator on Hydra's admin endpoint
    /// (`/admin/oauth2/introspect`, which takes no client credentials): set the audience
    /// (and issuer) on the builder, then [`build`](crate::introspection::IntrospectionBuilder::build).
    /// For opaque access tokens (`strategies.access_token: opaque`); add client credentials
    /// and `.revocation_endpoint("{public}/oauth2/revoke")` to revoke tokens too.
    #[cfg(feature = "introspection")]
    pub fn introspection(&self) -> crate::introspection::IntrospectionBuilder {
        crate::Introspection::builder_without_client_auth(format!(
            "{}/admin/oauth2/introspect",
            self.inner.admin
        ))
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
    }

    /// One call: `path` (with its query) below the admin URL, an optional JSON body.
    pub(crate) async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, HydraError> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.inner.admin))
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let Some(t) = &self.inner.bearer {
            req = req.header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", t.secret()),
            );
        }
        let req = req
            .body(body.unwrap_or_default())
            .map_err(|_| HydraError::InvalidArgument("the request cannot be built"))?;
        let res = self.inner.http.call(req).await?;
        let link = res
            .headers()
            .get(http::header::LINK)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Answer {
            status: res.status().as_u16(),
            link,
            body: res.into_body(),
        })
    }
}

/// Percent-encode one query value or path segment.
pub(crate) fn escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A non-empty argument, or [`HydraError::InvalidArgument`].
pub(crate) fn non_empty<'a>(value: &'a str, what: &'static str) -> Result<&'a str, HydraError> {
    if value.is_empty() {
        Err(HydraError::InvalidArgument(what))
    } else {
        Ok(value)
    }
}

/// Serialize a request body (never fails for these types; mapped for completeness).
pub(crate) fn to_body<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, HydraError> {
    serde_json::to_vec(value).map_err(|_| HydraError::InvalidArgument("the body cannot be encoded"))
}
