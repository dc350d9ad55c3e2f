//! The authorization-code + PKCE flow the IAM API runs at Hydra on a first-party app's
//! behalf (the headless login of [`super::headless`]): the IAM API's client registered and
//! discovered on first use, Hydra's redirects followed with a cookie jar of the flow only,
//! the login and consent accepted through the admin API, the code exchanged, refresh tokens
//! revoked. Every failure here is [`ProviderError::Unavailable`] (503), logged with its step.
//!
//! # Caveats
//! - Hydra refuses a transaction that races another flow's ("unable to serialize access
//!   due to a concurrent update"; frequent with its in-memory store): each step is tried
//!   [`ATTEMPTS`] times on a new flow before the answer is 503, so with Hydra down the
//!   503 comes after about half a second.
use super::cookies::FlowCookies;
use super::headless::{HeadlessClientSettings, HeadlessTokens, MAX_PENDING_MFA};
use super::pending::{PendingFlow, PendingFlows};
use super::{HydraProvider, ProviderError};
use crate::AppState;
use iam_client::hydra::{
    AcceptLogin, HydraError, LoginSessions, OAuth2Client, RejectRequest, RequestState,
};
use iam_client::login::LoginClient;
use iam_client::{HttpClient, TrustedIssuer};
use iam_identity::{IdentityError, Session, SessionClaims};
use serde_json::json;
use std::time::{Duration, Instant};
/// How many times a flow is tried at Hydra before the answer is 503.
const ATTEMPTS: u32 = 5;

/// Wait a little longer after each failed try, with a jitter of up to 50 ms from the
/// clock's sub-second digits so that racing flows spread out.
async fn backoff(attempt: u32) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 50);
    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 50 + jitter)).await;
}

/// The discovered client: the relying party and the revocation endpoint.
pub(super) struct RelyingParty {
    pub(super) login: LoginClient,
    revocation: String,
}

/// The headless login's state in the provider.
pub(super) struct HeadlessLogin {
    settings: HeadlessClientSettings,
    public_prefix: String,
    http: HttpClient,
    relying: tokio::sync::OnceCell<RelyingParty>,
    pub(super) pending: PendingFlows,
}

impl std::fmt::Debug for HeadlessLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadlessLogin")
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

/// Log why Hydra failed the headless flow; the app gets 503.
fn unavailable(what: &'static str) -> impl Fn(HydraError) -> ProviderError {
    move |e| {
        tracing::error!(error = %e, step = what, "headless login: Hydra admin call failed");
        ProviderError::Unavailable
    }
}

fn out_of_protocol(what: &'static str) -> ProviderError {
    tracing::error!(
        step = what,
        "headless login: Hydra answered out of protocol"
    );
    ProviderError::Unavailable
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl HeadlessLogin {
    pub(super) fn new(settings: &super::HydraSettings, http: HttpClient) -> Self {
        Self {
            settings: settings.headless.clone(),
            public_prefix: format!("{}/", settings.public_url),
            http,
            relying: tokio::sync::OnceCell::new(),
            pending: PendingFlows::new(MAX_PENDING_MFA),
        }
    }

    /// The relying party, set up on first use (and retried after a failure): the client
    /// registered at Hydra when missing, Hydra's discovery document read.
    pub(super) async fn relying(
        &self,
        hydra: &HydraProvider,
        audience: &[String],
    ) -> Result<&RelyingParty, ProviderError> {
        self.relying
            .get_or_try_init(|| async {
                self.register(hydra, audience).await?;
                let s = &self.settings;
                let issuer = TrustedIssuer::discover(&s.issuer, &s.client_id, &self.http)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "headless login: Hydra's discovery failed");
                        ProviderError::Unavailable
                    })?;
                let login = LoginClient::new(
                    &issuer,
                    &s.client_id,
                    s.client_secret.secret(),
                    &s.redirect_uri,
                    self.http.clone(),
                )
                .map_err(|e| {
                    tracing::error!(error = %e, "headless login: the client cannot be built");
                    ProviderError::Unavailable
                })?;
                let revocation = issuer.revocation_endpoint().map_or_else(
                    || format!("{}oauth2/revoke", self.public_prefix),
                    str::to_owned,
                );
                Ok(RelyingParty { login, revocation })
            })
            .await
    }

    /// Create the IAM API's client at Hydra unless it exists.
    async fn register(
        &self,
        hydra: &HydraProvider,
        audience: &[String],
    ) -> Result<(), ProviderError> {
        let s = &self.settings;
        match hydra.admin.get_client(&s.client_id).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(unavailable("get client")(e)),
        }
        let mut client =
            OAuth2Client::web(&s.client_id, &s.redirect_uri).secret(s.client_secret.secret());
        client.client_name = Some("iam-api headless login".into());
        client.audience = audience.to_vec();
        client.skip_consent = Some(true);
        match hydra.admin.create_client(&client).await {
            Ok(_) => {
                tracing::info!(client_id = %s.client_id, "registered the headless login client at Hydra");
                Ok(())
            }
            // Another instance registered it meanwhile.
            Err(e) if e.status() == Some(409) => Ok(()),
            Err(e) => Err(unavailable("create client")(e)),
        }
    }

    /// GET `url` (below Hydra's public URL) with the flow's cookies; the redirect's target.
    async fn visit(&self, url: &str, cookies: &mut FlowCookies) -> Result<String, ProviderError> {
        if !url.starts_with(&self.public_prefix) {
            return Err(out_of_protocol(
                "a URL outside IAM_API_HYDRA_PUBLIC_URL (check IAM_API_HYDRA_ISSUER)",
            ));
        }
        let mut request = http::Request::get(url);
        if let Some(cookie) = cookies.header() {
            request = request.header(http::header::COOKIE, cookie);
        }
        let request = request
            .body(Vec::new())
            .map_err(|_| out_of_protocol("an unsendable URL"))?;
        let response = self.http.call(request).await.map_err(|e| {
            tracing::error!(error = %e, "headless login: Hydra's public API failed");
            ProviderError::Unavailable
        })?;
        cookies.keep(response.headers()).map_err(|e| {
            tracing::error!(error = %e, "headless login");
            ProviderError::Unavailable
        })?;
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok());
        match location {
            Some(l) if response.status().is_redirection() => url::Url::parse(url)
                .and_then(|base| base.join(l))
                .map(String::from)
                .map_err(|_| out_of_protocol("a redirect that does not parse")),
            _ => {
                tracing::error!(
                    status = response.status().as_u16(),
                    "headless login: Hydra did not redirect"
                );
                Err(ProviderError::Unavailable)
            }
        }
    }

    /// Start the authorization at Hydra: Hydra's login challenge and what to keep. Tried
    /// [`ATTEMPTS`] times: Hydra refuses a request that races another flow's transaction
    /// ("unable to serialize access due to a concurrent update"), which a new try passes.
    pub(super) async fn start(
        &self,
        hydra: &HydraProvider,
        audience: &[String],
    ) -> Result<PendingFlow, ProviderError> {
        let mut attempt = 1;
        loop {
            match self.start_once(hydra, audience).await {
                Err(ProviderError::Unavailable) if attempt < ATTEMPTS => backoff(attempt).await,
                done => return done,
            }
            attempt += 1;
        }
    }

    async fn start_once(
        &self,
        hydra: &HydraProvider,
        audience: &[String],
    ) -> Result<PendingFlow, ProviderError> {
        let rp = self.relying(hydra, audience).await?;
        let (url, login) = rp.login.begin(&["openid", "offline_access"]);
        let mut url = url::Url::parse(&url).map_err(|_| out_of_protocol("authorization URL"))?;
        url.query_pairs_mut()
            .append_pair("audience", &audience.join(" "));
        let mut cookies = FlowCookies::default();
        let to_login = self.visit(url.as_str(), &mut cookies).await?;
        let Some(challenge) = param(&to_login, "login_challenge") else {
            tracing::error!(
                error = param(&to_login, "error").as_deref(),
                "headless login: Hydra refused the authorization request"
            );
            return Err(ProviderError::Unavailable);
        };
        Ok(PendingFlow {
            challenge,
            login,
            cookies,
            expires: Instant::now() + Duration::from_secs(300),
        })
    }

    /// Reject the flow's login at Hydra (`access_denied`); a failure is only logged (the
    /// challenge expires at Hydra anyway).
    pub(super) async fn reject(&self, hydra: &HydraProvider, flow: &PendingFlow) {
        let reject = RejectRequest::access_denied("the login was refused");
        if let Err(e) = hydra
            .admin
            .reject_login_request(&flow.challenge, &reject)
            .await
        {
            tracing::warn!(error = %e, "headless login: the refused login was not rejected at Hydra");
        }
    }

    /// Accept the login and the consent at Hydra and exchange the code. A try that Hydra
    /// fails (a transaction raced by another flow) is repeated on a new flow, up to
    /// [`ATTEMPTS`] in all: the password (and MFA) were checked once, for this user.
    pub(super) async fn finish(
        &self,
        hydra: &HydraProvider,
        state: &AppState,
        flow: PendingFlow,
        session: Session,
    ) -> Result<HeadlessTokens, ProviderError> {
        // Hydra's tokens replace the refresh family iam-identity opened for this login.
        if let Err(e) = state
            .identity
            .logout(session.refresh_token.secret(), None)
            .await
        {
            tracing::warn!(error = %e, "the unused refresh family of a Hydra login stays open");
        }
        let mut flow = flow;
        let mut attempt = 1;
        loop {
            match self
                .finish_once(hydra, state, flow, session.claims.clone())
                .await
            {
                Err(ProviderError::Unavailable) if attempt < ATTEMPTS => {
                    backoff(attempt).await;
                    attempt += 1;
                    flow = self.start_once(hydra, &state.audience).await?;
                }
                done => return done,
            }
        }
    }

    async fn finish_once(
        &self,
        hydra: &HydraProvider,
        state: &AppState,
        mut flow: PendingFlow,
        c: SessionClaims,
    ) -> Result<HeadlessTokens, ProviderError> {
        let rp = self.relying(hydra, &state.audience).await?;
        let accept = AcceptLogin::new(c.sub.clone())
            .acr(c.acr.clone())
            .amr(c.amr.clone())
            .context(json!({ "tenant": c.tenant }));
        let accepted = hydra
            .admin
            .accept_login_request(&flow.challenge, &accept)
            .await
            .map_err(unavailable("accept login"))?;
        let to_consent = self.visit(&accepted.redirect_to, &mut flow.cookies).await?;
        let Some(consent) = param(&to_consent, "consent_challenge") else {
            tracing::error!(
                error = param(&to_consent, "error").as_deref(),
                description = param(&to_consent, "error_description").as_deref(),
                "headless login: Hydra answered no consent challenge"
            );
            return Err(ProviderError::Unavailable);
        };
        let request = match hydra
            .admin
            .get_consent_request(&consent)
            .await
            .map_err(unavailable("get consent"))?
        {
            RequestState::Open(r) => r,
            RequestState::AlreadyHandled(_) => return Err(out_of_protocol("consent handled")),
        };
        if request.subject != c.sub || request.client_id() != Some(self.settings.client_id.as_str())
        {
            return Err(out_of_protocol("a consent of another flow"));
        }
        let Some(grant) = hydra.grant(state, &request).await? else {
            // Disabled or deleted between the password and now.
            let _ = hydra.refuse(&consent).await;
            return Err(IdentityError::InvalidCredentials.into());
        };
        let scopes = request.requested_scope.clone();
        let decided = hydra
            .admin
            .finish_consent(&consent, Some(&scopes), |r| {
                grant
                    .decide(r, None)
                    .access_token_claim("acr", c.acr)
                    .access_token_claim("amr", c.amr)
            })
            .await
            .map_err(unavailable("accept consent"))?;
        let callback = self.visit(&decided.redirect_to, &mut flow.cookies).await?;
        if !callback.starts_with(&self.settings.redirect_uri) {
            return Err(out_of_protocol("a callback to another redirect URI"));
        }
        let (Some(code), Some(returned_state)) =
            (param(&callback, "code"), param(&callback, "state"))
        else {
            tracing::error!(
                error = param(&callback, "error").as_deref(),
                description = param(&callback, "error_description").as_deref(),
                "headless login: Hydra answered no code"
            );
            return Err(ProviderError::Unavailable);
        };
        let outcome = rp
            .login
            .complete(flow.login, &code, &returned_state)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "headless login: the code exchange failed");
                ProviderError::Unavailable
            })?;
        metrics::counter!("iam_api_hydra_logins_total", "outcome" => "headless").increment(1);
        Ok(HeadlessTokens::new(
            &outcome.tokens,
            Some(outcome.id_token.secret()),
        ))
    }

    /// Revoke a refresh token at Hydra (RFC 7009, client_secret_basic).
    pub(super) async fn revoke(&self, rp: &RelyingParty, token: &str) -> Result<(), ProviderError> {
        use base64::Engine as _;
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let s = &self.settings;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(&s.client_id),
            enc(s.client_secret.secret())
        ));
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "refresh_token")
            .finish();
        let request = http::Request::post(rp.revocation.as_str())
            .header(http::header::AUTHORIZATION, format!("Basic {basic}"))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.into_bytes())
            .map_err(|_| out_of_protocol("revocation URL"))?;
        let response = self.http.call(request).await.map_err(|e| {
            tracing::error!(error = %e, "headless logout: Hydra's revocation endpoint failed");
            ProviderError::Unavailable
        })?;
        match response.status().as_u16() {
            200 | 204 => Ok(()),
            status => {
                tracing::error!(status, "headless logout: Hydra refused the revocation");
                Err(ProviderError::Unavailable)
            }
        }
    }
}

impl HydraProvider {
    /// End every session of `subject` at Hydra: its consent sessions with every client
    /// (and the token chains they issued) and its login sessions. Hydra down: 503.
    pub(crate) async fn end_sessions(&self, subject: &str) -> Result<(), ProviderError> {
        self.admin
            .revoke_consent_sessions(subject, None)
            .await
            .map_err(unavailable("revoke consent sessions"))?;
        self.admin
            .revoke_login_sessions(LoginSessions::Subject(subject))
            .await
            .map_err(unavailable("revoke login sessions"))
    }
}
