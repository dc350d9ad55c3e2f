//! Login, consent and logout requests, and the login and consent sessions behind them.
use super::clients::OAuth2Client;
use super::{escape, non_empty, to_body, HydraAdmin, HydraError};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// Where to send the browser next (`redirect_to` of Hydra's answer).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Redirect {
    /// The URL.
    pub redirect_to: String,
}

/// A login, consent or logout request: still open, or handled before (Hydra's `410 Gone`,
/// with where to send the browser now).
#[derive(Debug, Clone)]
pub enum RequestState<T> {
    /// The request waits for an answer.
    Open(T),
    /// The challenge was used already; send the browser here.
    AlreadyHandled(Redirect),
}

/// A `null` Hydra writes for an empty list or object, read as the empty value.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A login request (`GET /admin/oauth2/auth/requests/login`).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct LoginRequest {
    /// The login challenge.
    pub challenge: String,
    /// Hydra already authenticated this user (remembered login): accept with
    /// [`subject`](Self::subject) and show no form.
    #[serde(default)]
    pub skip: bool,
    /// The user, when `skip` is true (empty otherwise).
    #[serde(default)]
    pub subject: String,
    /// The client asking.
    #[serde(default)]
    pub client: Option<OAuth2Client>,
    /// The authorization URL the client sent the browser to.
    #[serde(default)]
    pub request_url: String,
    /// Scopes the client asks for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub requested_scope: Vec<String>,
    /// Audiences the client asks for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub requested_access_token_audience: Vec<String>,
    /// The login session (`sid` of the ID token).
    #[serde(default)]
    pub session_id: Option<String>,
    /// OIDC parameters (`acr_values`, `login_hint`, `ui_locales`, ...), as Hydra sent them.
    #[serde(default)]
    pub oidc_context: Option<Value>,
}

/// A consent request (`GET /admin/oauth2/auth/requests/consent`).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ConsentRequest {
    /// The consent challenge.
    pub challenge: String,
    /// The user granted these scopes to this client before (remembered consent): grant
    /// them again without asking.
    #[serde(default)]
    pub skip: bool,
    /// The user.
    #[serde(default)]
    pub subject: String,
    /// The client asking.
    #[serde(default)]
    pub client: Option<OAuth2Client>,
    /// Scopes the client asks for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub requested_scope: Vec<String>,
    /// Audiences the client asks for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub requested_access_token_audience: Vec<String>,
    /// `acr` given when the login was accepted.
    #[serde(default)]
    pub acr: Option<String>,
    /// `amr` given when the login was accepted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub amr: Vec<String>,
    /// `context` given when the login was accepted.
    #[serde(default)]
    pub context: Option<Value>,
    /// The login challenge this consent follows.
    #[serde(default)]
    pub login_challenge: Option<String>,
    /// The login session.
    #[serde(default)]
    pub login_session_id: Option<String>,
    /// The authorization URL.
    #[serde(default)]
    pub request_url: Option<String>,
    /// The consent request's id (for revoking the token chains it started).
    #[serde(default)]
    pub consent_request_id: Option<String>,
    /// OIDC parameters, as Hydra sent them.
    #[serde(default)]
    pub oidc_context: Option<Value>,
}

impl ConsentRequest {
    /// The client's `skip_consent` (a first-party client; Hydra only stores it).
    pub fn client_skips_consent(&self) -> bool {
        self.client
            .as_ref()
            .and_then(|c| c.skip_consent)
            .unwrap_or(false)
    }
    /// The client's id.
    pub fn client_id(&self) -> Option<&str> {
        self.client.as_ref().and_then(|c| c.client_id.as_deref())
    }
}

/// A logout request (`GET /admin/oauth2/auth/requests/logout`).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct LogoutRequest {
    /// The logout challenge.
    #[serde(default)]
    pub challenge: String,
    /// The user logging out.
    #[serde(default)]
    pub subject: String,
    /// The login session ending.
    #[serde(default)]
    pub sid: Option<String>,
    /// Started by a relying party (RP-initiated logout) rather than by Hydra's own page.
    #[serde(default)]
    pub rp_initiated: bool,
    /// The logout URL requested.
    #[serde(default)]
    pub request_url: Option<String>,
    /// The relying party, for RP-initiated logout.
    #[serde(default)]
    pub client: Option<OAuth2Client>,
}

/// The body of `PUT /admin/oauth2/auth/requests/login/accept`: every field Hydra takes.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct AcceptLogin {
    /// The user (required).
    pub subject: String,
    /// Remember the login in Hydra's session cookie (next logins come back with `skip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remember: Option<bool>,
    /// Seconds to remember it (0: as long as the browser session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remember_for: Option<i64>,
    /// Authentication context class (e.g. `aal2` after MFA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods (`pwd`, `otp`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Anything the consent step should see (comes back as [`ConsentRequest::context`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Extend the remembered session's lifetime (only when the request had `skip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extend_session_lifespan: Option<bool>,
    /// The identity provider's session id (e.g. Kratos's), linked to Hydra's session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider_session_id: Option<String>,
    /// A pairwise subject identifier to use instead of Hydra's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_subject_identifier: Option<String>,
}

impl AcceptLogin {
    /// Accept the login of `subject`, nothing else set.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            remember: None,
            remember_for: None,
            acr: None,
            amr: None,
            context: None,
            extend_session_lifespan: None,
            identity_provider_session_id: None,
            force_subject_identifier: None,
        }
    }
    /// Remember the login for `d` (sets `remember` and `remember_for`).
    pub fn remember_for(mut self, d: Duration) -> Self {
        self.remember = Some(true);
        self.remember_for = Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self
    }
    /// `acr`.
    pub fn acr(mut self, acr: impl Into<String>) -> Self {
        self.acr = Some(acr.into());
        self
    }
    /// `amr`.
    pub fn amr<I: IntoIterator<Item = S>, S: Into<String>>(mut self, methods: I) -> Self {
        self.amr = Some(methods.into_iter().map(Into::into).collect());
        self
    }
    /// `context`.
    pub fn context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }
    /// `extend_session_lifespan`.
    pub fn extend_session_lifespan(mut self, extend: bool) -> Self {
        self.extend_session_lifespan = Some(extend);
        self
    }
    /// `identity_provider_session_id`.
    pub fn identity_provider_session_id(mut self, id: impl Into<String>) -> Self {
        self.identity_provider_session_id = Some(id.into());
        self
    }
}

/// Claims Hydra puts into the tokens of a consent (`session` of the accept body).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[non_exhaustive]
pub struct ConsentSession {
    /// Into the access token (under `ext` unless `allowed_top_level_claims` lists them) and
    /// the introspection answer.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub access_token: Map<String, Value>,
    /// Into the ID token.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub id_token: Map<String, Value>,
}

/// The body of `PUT /admin/oauth2/auth/requests/consent/accept`: every field Hydra takes.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[non_exhaustive]
pub struct AcceptConsent {
    /// Scopes granted.
    pub grant_scope: Vec<String>,
    /// Audiences granted.
    pub grant_access_token_audience: Vec<String>,
    /// Remember the consent (next time the request comes with `skip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remember: Option<bool>,
    /// Seconds to remember it (0: forever).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remember_for: Option<i64>,
    /// Claims for the tokens.
    #[serde(skip_serializing_if = "ConsentSession::is_empty")]
    pub session: ConsentSession,
    /// Anything to store with the consent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
}

impl ConsentSession {
    fn is_empty(&self) -> bool {
        self.access_token.is_empty() && self.id_token.is_empty()
    }
}

impl AcceptConsent {
    /// Grant exactly what the request asks for (scopes and audiences).
    pub fn requested(request: &ConsentRequest) -> Self {
        Self {
            grant_scope: request.requested_scope.clone(),
            grant_access_token_audience: request.requested_access_token_audience.clone(),
            ..Self::default()
        }
    }
    /// Grant these scopes.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
        Self {
            grant_scope: scopes.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
    /// Remember the consent for `d` (sets `remember` and `remember_for`).
    pub fn remember_for(mut self, d: Duration) -> Self {
        self.remember = Some(true);
        self.remember_for = Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self
    }
    /// One claim for the access token.
    pub fn access_token_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.session.access_token.insert(name.into(), value.into());
        self
    }
    /// One claim for the ID token.
    pub fn id_token_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.session.id_token.insert(name.into(), value.into());
        self
    }
}

/// The body of a rejection (login or consent): an OAuth2 error the client receives.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct RejectRequest {
    /// The OAuth2 error code (`access_denied`, `login_required`, ...).
    pub error: String,
    /// What happened, for the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_hint: Option<String>,
    /// Debug detail (Hydra logs it; shown to clients only in its dev mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_debug: Option<String>,
    /// HTTP status for the client (default 400 at Hydra).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
}

impl RejectRequest {
    /// `error` with no description.
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            error_description: None,
            error_hint: None,
            error_debug: None,
            status_code: None,
        }
    }
    /// `access_denied` with a description (a refused login or consent).
    pub fn access_denied(description: impl Into<String>) -> Self {
        Self::new("access_denied").description(description)
    }
    /// `error_description`.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.error_description = Some(d.into());
        self
    }
    /// `error_hint`.
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.error_hint = Some(h.into());
        self
    }
    /// `status_code`.
    pub fn status_code(mut self, status: u16) -> Self {
        self.status_code = Some(i64::from(status));
        self
    }
}

/// Which login sessions to revoke.
#[derive(Debug, Clone, Copy)]
pub enum LoginSessions<'a> {
    /// Every login session of this user (no front- or back-channel logout).
    Subject(&'a str),
    /// One login session (`sid`), with back-channel logout.
    Session(&'a str),
}

/// The three challenge flows of a login provider: where their requests live and the name of
/// their challenge parameter.
#[derive(Debug, Clone, Copy)]
enum Flow {
    Login,
    Consent,
    Logout,
}

impl Flow {
    fn base(self) -> &'static str {
        match self {
            Self::Login => "/admin/oauth2/auth/requests/login",
            Self::Consent => "/admin/oauth2/auth/requests/consent",
            Self::Logout => "/admin/oauth2/auth/requests/logout",
        }
    }

    fn param(self) -> &'static str {
        match self {
            Self::Login => "login_challenge",
            Self::Consent => "consent_challenge",
            Self::Logout => "logout_challenge",
        }
    }

    /// `{base}{verb}?{param}={challenge}` (`verb` is `""`, `"/accept"` or `"/reject"`).
    fn path(self, verb: &str, challenge: &str) -> Result<String, HydraError> {
        let challenge = non_empty(challenge, "empty challenge")?;
        Ok(format!(
            "{}{verb}?{}={}",
            self.base(),
            self.param(),
            escape(challenge)
        ))
    }
}

impl HydraAdmin {
    async fn get_request<T: serde::de::DeserializeOwned>(
        &self,
        flow: Flow,
        challenge: &str,
    ) -> Result<RequestState<T>, HydraError> {
        let path = flow.path("", challenge)?;
        let answer = self.send(http::Method::GET, &path, None).await?;
        if answer.status == 410 {
            return Ok(RequestState::AlreadyHandled(answer.json(&[410])?));
        }
        Ok(RequestState::Open(answer.json(&[200])?))
    }

    /// The one shape of every accept and reject: `PUT {flow}/{verb}?challenge` with an
    /// optional body, answered by where to send the browser.
    async fn answer_request<B: serde::Serialize>(
        &self,
        flow: Flow,
        verb: &str,
        challenge: &str,
        body: Option<&B>,
    ) -> Result<Redirect, HydraError> {
        let path = flow.path(verb, challenge)?;
        let body = body.map(to_body).transpose()?;
        let answer = self.send(http::Method::PUT, &path, body).await?;
        // 410: the challenge was handled before; Hydra still says where to go.
        answer.json(&[200, 410])
    }

    /// The login request of `login_challenge`.
    pub async fn get_login_request(
        &self,
        login_challenge: &str,
    ) -> Result<RequestState<LoginRequest>, HydraError> {
        self.get_request(Flow::Login, login_challenge).await
    }

    /// Accept a login; send the browser to the answer.
    pub async fn accept_login_request(
        &self,
        login_challenge: &str,
        accept: &AcceptLogin,
    ) -> Result<Redirect, HydraError> {
        non_empty(&accept.subject, "empty subject")?;
        self.answer_request(Flow::Login, "/accept", login_challenge, Some(accept))
            .await
    }

    /// Reject a login (the client gets the OAuth2 error); send the browser to the answer.
    pub async fn reject_login_request(
        &self,
        login_challenge: &str,
        reject: &RejectRequest,
    ) -> Result<Redirect, HydraError> {
        self.answer_request(Flow::Login, "/reject", login_challenge, Some(reject))
            .await
    }

    /// The consent request of `consent_challenge`.
    pub async fn get_consent_request(
        &self,
        consent_challenge: &str,
    ) -> Result<RequestState<ConsentRequest>, HydraError> {
        self.get_request(Flow::Consent, consent_challenge).await
    }

    /// Accept a consent; send the browser to the answer.
    pub async fn accept_consent_request(
        &self,
        consent_challenge: &str,
        accept: &AcceptConsent,
    ) -> Result<Redirect, HydraError> {
        self.answer_request(Flow::Consent, "/accept", consent_challenge, Some(accept))
            .await
    }

    /// Reject a consent; send the browser to the answer.
    pub async fn reject_consent_request(
        &self,
        consent_challenge: &str,
        reject: &RejectRequest,
    ) -> Result<Redirect, HydraError> {
        self.answer_request(Flow::Consent, "/reject", consent_challenge, Some(reject))
            .await
    }

    /// The logout request of `logout_challenge`.
    pub async fn get_logout_request(
        &self,
        logout_challenge: &str,
    ) -> Result<RequestState<LogoutRequest>, HydraError> {
        self.get_request(Flow::Logout, logout_challenge).await
    }

    /// Accept a logout (Hydra ends the login session); send the browser to the answer.
    pub async fn accept_logout_request(
        &self,
        logout_challenge: &str,
    ) -> Result<Redirect, HydraError> {
        self.answer_request::<()>(Flow::Logout, "/accept", logout_challenge, None)
            .await
    }

    /// Reject a logout (the user stays logged in).
    pub async fn reject_logout_request(&self, logout_challenge: &str) -> Result<(), HydraError> {
        let path = Flow::Logout.path("/reject", logout_challenge)?;
        self.send(http::Method::PUT, &path, None)
            .await?
            .empty(&[200, 204])
    }

    /// Revoke login sessions: the user must log in again at the next authorization request.
    /// Tokens already issued stay valid (revoke consent sessions for that).
    pub async fn revoke_login_sessions(&self, which: LoginSessions<'_>) -> Result<(), HydraError> {
        let query = match which {
            LoginSessions::Subject(s) => {
                format!("subject={}", escape(non_empty(s, "empty subject")?))
            }
            LoginSessions::Session(sid) => format!("sid={}", escape(non_empty(sid, "empty sid")?)),
        };
        self.send(
            http::Method::DELETE,
            &format!("/admin/oauth2/auth/sessions/login?{query}"),
            None,
        )
        .await?
        .empty(&[204])
    }

    /// Revoke a user's consent sessions, for one client or (with `None`) all of them, and
    /// every access and refresh token they issued.
    pub async fn revoke_consent_sessions(
        &self,
        subject: &str,
        client_id: Option<&str>,
    ) -> Result<(), HydraError> {
        let mut query = format!("subject={}", escape(non_empty(subject, "empty subject")?));
        match client_id {
            Some(c) => query.push_str(&format!(
                "&client={}",
                escape(non_empty(c, "empty client id")?)
            )),
            None => query.push_str("&all=true"),
        }
        self.send(
            http::Method::DELETE,
            &format!("/admin/oauth2/auth/sessions/consent?{query}"),
            None,
        )
        .await?
        .empty(&[204])
    }
}
