//! The login and logout challenges: password, MFA, remembered logins, logout.
use super::{well_formed, HydraProvider, ProviderError, RedirectAnswer};
use crate::auth::{self, MfaRequiredResponse};
use crate::errors::{ClientIp, JsonBody};
use crate::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use iam_axum::Auth;
use iam_client::hydra::{AcceptLogin, LoginRequest, LoginSessions, RejectRequest, RequestState};
use iam_core::Secret;
use iam_identity::{LoginOutcome, MfaProof, Session};
use iam_service::Problem;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// `POST /auth/login` with a `login_challenge`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChallengeLoginBody {
    /// From Hydra's redirect to the login page.
    pub login_challenge: String,
    /// The tenant's id.
    pub tenant: String,
    /// Username or email.
    pub username: String,
    /// The password.
    pub password: String,
    /// Ask Hydra to remember the login (`IAM_API_HYDRA_REMEMBER_SECONDS`).
    #[serde(default)]
    pub remember: bool,
}

/// `POST /auth/mfa/verify` with a `login_challenge`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChallengeMfaBody {
    /// The login challenge the password was given for.
    pub login_challenge: String,
    /// From the login answer.
    pub mfa_token: String,
    /// A TOTP code.
    pub code: Option<String>,
    /// A recovery code.
    pub recovery_code: Option<String>,
    /// Ask Hydra to remember the login.
    #[serde(default)]
    pub remember: bool,
}

/// `POST /auth/logout` with a `logout_challenge`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChallengeLogoutBody {
    /// From Hydra's redirect to the logout page.
    pub logout_challenge: String,
}

/// What a login page shows for a challenge (`GET /auth/login`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginInfo {
    /// Hydra remembered the user: the login was accepted, follow `redirect_to`.
    pub skip: bool,
    /// Set when `skip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
    /// The client asking.
    pub client_id: Option<String>,
    /// Its display name.
    pub client_name: Option<String>,
    /// The scopes it asks for.
    pub requested_scope: Vec<String>,
}

fn provider(state: &AppState) -> Result<&HydraProvider, Problem> {
    state
        .hydra
        .as_deref()
        .ok_or_else(|| Problem::not_found("IAM_API_TOKEN_BACKEND is not hydra"))
}

fn answer<T: Serialize>(result: Result<T, Problem>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(p) => p.into_response(),
    }
}

/// A body with `field` goes to the challenge handler as `C`, any other to `self` mode as `S`.
fn split<C, S>(body: Value, field: &str) -> Result<Result<C, S>, Problem>
where
    C: serde::de::DeserializeOwned,
    S: serde::de::DeserializeOwned,
{
    let bad = |e: serde_json::Error| Problem::bad_request(format!("invalid body: {e}"));
    if body.get(field).is_some() {
        serde_json::from_value(body).map(Ok).map_err(bad)
    } else {
        serde_json::from_value(body).map(Err).map_err(bad)
    }
}

impl HydraProvider {
    /// The open login request of `challenge` (not answered here, known to Hydra).
    async fn open_login(&self, challenge: &str) -> Result<LoginRequest, ProviderError> {
        let challenge = well_formed(challenge)?;
        if self.used.is_used(challenge) {
            return Err(ProviderError::ChallengeUsed);
        }
        match self.admin.get_login_request(challenge).await? {
            RequestState::Open(r) => Ok(r),
            RequestState::AlreadyHandled(_) => Err(ProviderError::ChallengeUsed),
        }
    }

    /// Accept the login of an authenticated session. The refresh family iam-identity opened
    /// for it is revoked at once: Hydra's tokens replace it.
    async fn accept_session(
        &self,
        state: &AppState,
        challenge: &str,
        session: Session,
        remember: bool,
        ip: IpAddr,
    ) -> Result<RedirectAnswer, ProviderError> {
        if let Err(e) = state
            .identity
            .logout(session.refresh_token.secret(), Some(ip))
            .await
        {
            tracing::warn!(error = %e, "the unused refresh family of a Hydra login stays open");
        }
        self.used.claim(challenge)?;
        let c = session.claims;
        let mut accept = AcceptLogin::new(c.sub)
            .acr(c.acr)
            .amr(c.amr)
            .context(json!({ "tenant": c.tenant }));
        if remember {
            accept = accept.remember_for(self.remember_for);
        }
        let redirect = self.admin.accept_login_request(challenge, &accept).await?;
        metrics::counter!("iam_api_hydra_logins_total", "outcome" => "accepted").increment(1);
        self.redirect(redirect)
    }

    /// Continue a remembered login (`skip`): accept when the user is still active in
    /// `tenant`, else reject with `access_denied`.
    async fn continue_remembered(
        &self,
        state: &AppState,
        challenge: &str,
        tenant: &str,
        subject: &str,
    ) -> Result<RedirectAnswer, ProviderError> {
        let repos = state.identity.repositories();
        let active = match repos.tenants.tenant(tenant).await {
            Ok(Some(t)) if !t.suspended => repos
                .users
                .user(tenant, subject)
                .await
                .map_err(|e| ProviderError::Identity(e.into()))?
                .is_some_and(|u| !u.disabled),
            Ok(_) => false,
            Err(e) => return Err(ProviderError::Identity(e.into())),
        };
        self.used.claim(challenge)?;
        let redirect = if active {
            let accept = AcceptLogin::new(subject).context(json!({ "tenant": tenant }));
            self.admin.accept_login_request(challenge, &accept).await?
        } else {
            let reject = RejectRequest::access_denied("the account is not active");
            self.admin.reject_login_request(challenge, &reject).await?
        };
        self.redirect(redirect)
    }
}

/// What to show for a login challenge; a remembered login is accepted at once.
#[utoipa::path(get, path = "/auth/login", tag = "hydra",
    params(("login_challenge" = String, Query, description = "From Hydra's redirect"),
           ("tenant" = Option<String>, Query, description = "Needed to continue a remembered login")),
    responses((status = 200, body = LoginInfo), (status = 400), (status = 404), (status = 410), (status = 503)))]
pub async fn login_request(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    answer(
        async {
            let hydra = provider(&state)?;
            let challenge = query.get("login_challenge").map_or("", String::as_str);
            let request = hydra.open_login(challenge).await?;
            if !request.skip {
                let client = request.client.as_ref();
                return Ok(LoginInfo {
                    skip: false,
                    redirect_to: None,
                    client_id: client.and_then(|c| c.client_id.clone()),
                    client_name: client.and_then(|c| c.client_name.clone()),
                    requested_scope: request.requested_scope,
                });
            }
            let Some(tenant) = query.get("tenant") else {
                return Err(Problem::bad_request(
                    "tenant is required to continue a remembered login",
                ));
            };
            let r = hydra
                .continue_remembered(&state, challenge, tenant, &request.subject)
                .await?;
            Ok(LoginInfo {
                skip: true,
                redirect_to: Some(r.redirect_to),
                client_id: None,
                client_name: None,
                requested_scope: request.requested_scope,
            })
        }
        .await,
    )
}

/// `POST /auth/login`: with `login_challenge`, the password step of a Hydra login
/// (`{redirect_to}` or an MFA challenge); without, the headless login (Hydra's tokens,
/// see [`super::headless`]).
pub async fn login(
    State(state): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<Value>,
) -> Response {
    let body = match split::<ChallengeLoginBody, auth::LoginBody>(body, "login_challenge") {
        Ok(Ok(b)) => b,
        Ok(Err(own)) => return super::headless::login(state, ip, own).await,
        Err(p) => return p.into_response(),
    };
    let result: Result<Response, Problem> = async {
        let hydra = provider(&state)?;
        hydra.open_login(&body.login_challenge).await?;
        let password = Secret::new(body.password);
        let outcome = state
            .identity
            .login(iam_identity::LoginRequest {
                tenant: &body.tenant,
                login: &body.username,
                password: &password,
                client_ip: Some(ip),
            })
            .await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                metrics::counter!("iam_api_hydra_logins_total", "outcome" => "refused")
                    .increment(1);
                return Err(crate::errors::problem(e));
            }
        };
        match outcome {
            LoginOutcome::Session(s) => {
                let r = hydra
                    .accept_session(&state, &body.login_challenge, s, body.remember, ip)
                    .await?;
                Ok(Json(r).into_response())
            }
            LoginOutcome::MfaRequired(m) => Ok(Json(MfaRequiredResponse {
                mfa_required: true,
                mfa_token: m.mfa_token.secret().clone(),
                methods: m.methods,
                expires_in: m.expires_in,
            })
            .into_response()),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /auth/mfa/verify`: with `login_challenge`, the MFA step of a Hydra login
/// (`{redirect_to}`); without, the MFA step of the headless login.
pub async fn mfa_verify(
    State(state): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<Value>,
) -> Response {
    let body = match split::<ChallengeMfaBody, auth::MfaVerifyBody>(body, "login_challenge") {
        Ok(Ok(b)) => b,
        Ok(Err(own)) => return super::headless::mfa_verify(state, ip, own).await,
        Err(p) => return p.into_response(),
    };
    answer(
        async {
            let hydra = provider(&state)?;
            let proof = match (&body.code, &body.recovery_code) {
                (Some(c), None) => MfaProof::Totp(c),
                (None, Some(c)) => MfaProof::RecoveryCode(c),
                _ => {
                    return Err(Problem::bad_request(
                        "give exactly one of code and recovery_code",
                    ))
                }
            };
            hydra.open_login(&body.login_challenge).await?;
            let session = state
                .identity
                .verify_mfa(&body.mfa_token, proof, Some(ip))
                .await
                .map_err(crate::errors::problem)?;
            Ok(hydra
                .accept_session(&state, &body.login_challenge, session, body.remember, ip)
                .await?)
        }
        .await,
    )
}

/// `POST /auth/logout`: with `logout_challenge`, accept Hydra's logout and revoke every
/// login session of the user at Hydra; without, the headless logout (Hydra's revocation).
pub async fn logout(
    State(state): State<Arc<AppState>>,
    auth: Option<Auth>,
    JsonBody(body): JsonBody<Value>,
) -> Response {
    let body = match split::<ChallengeLogoutBody, auth::LogoutBody>(body, "logout_challenge") {
        Ok(Ok(b)) => b,
        Ok(Err(own)) => return super::headless::logout(state, auth, own).await,
        Err(p) => return p.into_response(),
    };
    answer(
        async {
            let hydra = provider(&state)?;
            let challenge = well_formed(&body.logout_challenge)?;
            if hydra.used.is_used(challenge) {
                return Err(ProviderError::ChallengeUsed.into());
            }
            let request = match hydra.admin.get_logout_request(challenge).await {
                Ok(RequestState::Open(r)) => r,
                Ok(RequestState::AlreadyHandled(_)) => {
                    return Err(ProviderError::ChallengeUsed.into())
                }
                Err(e) => return Err(ProviderError::from(e).into()),
            };
            hydra.used.claim(challenge)?;
            let redirect = hydra
                .admin
                .accept_logout_request(challenge)
                .await
                .map_err(ProviderError::from)?;
            if !request.subject.is_empty() {
                hydra
                    .admin
                    .revoke_login_sessions(LoginSessions::Subject(&request.subject))
                    .await
                    .map_err(ProviderError::from)?;
            }
            Ok(hydra.redirect(redirect)?)
        }
        .await,
    )
}
