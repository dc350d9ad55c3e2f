//! The headless login of `hydra` mode, for first-party apps that only want tokens:
//! `POST /auth/login` *without* a `login_challenge` runs the authorization-code + PKCE flow
//! against Hydra server-side, as the IAM API's own confidential client
//! (`IAM_API_HYDRA_CLIENT_ID` / `IAM_API_HYDRA_CLIENT_SECRET`), and answers Hydra's tokens in
//! the shape of `self` mode. The app never sees a challenge, a cookie or a Hydra URL:
//!
//! 1. `GET {public}/oauth2/auth` (PKCE S256, `state`, `nonce`, scopes `openid offline_access`,
//!    audience `IAM_API_AUDIENCE`) with a cookie jar of this flow only → Hydra's login
//!    challenge;
//! 2. the password (and the limiter and lockout of `self` mode, through the same
//!    `Identity::login`); a refusal is rejected at Hydra (`access_denied`) and answered
//!    401 `invalid_credentials` (or 429 / 503 as in `self` mode);
//! 3. with MFA: `{mfa_required, mfa_token, methods, expires_in}`; the flow (challenge, PKCE
//!    verifier, cookies) waits under the MFA token (bounded, as long as the token lives,
//!    taken once) until `/auth/mfa/verify` with that token and a code;
//! 4. the login and the consent are accepted at Hydra (the consent with the user's `tenant`,
//!    `roles`, `permissions`, `acr`, `amr` in the access token's `ext` and the ID token), the
//!    code is exchanged with the verifier, and the ID token is checked (iam-client's
//!    `LoginClient`: signature on Hydra's JWKS, issuer, audience, nonce, `at_hash`).
//!
//! `/auth/refresh` and `/auth/logout` (with a `refresh_token`) go to Hydra's token and
//! revocation endpoints with the same client; Hydra's `invalid_grant` (a spent, reused,
//! revoked or expired refresh token) is 401 `{"error": "invalid_grant"}`. Hydra down, or an
//! answer out of protocol, is 503: never a token.
//!
//! The client is registered at Hydra (through the admin API) on first use when missing:
//! `authorization_code` + `refresh_token`, the redirect URI `IAM_API_HYDRA_REDIRECT_URI`
//! (never visited: the IAM API reads the code from Hydra's redirect), the audiences of
//! `IAM_API_AUDIENCE`, `skip_consent`.
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use iam_api::hydra_provider::HeadlessClientSettings;
//! let env = iam_service::Env::with_lookup("IAM_API_", |name| {
//!     (name == "IAM_API_HYDRA_CLIENT_SECRET").then(|| "a-long-random-client-secret".to_owned())
//! });
//! let client = HeadlessClientSettings::from_env(&env, "https://auth.example.com")?;
//! assert_eq!(client.client_id, "iam-api");
//! assert_eq!(client.issuer, "https://auth.example.com/");
//! # Ok(()) }
//! ```
//!
//! # Caveats
//! - Hydra's endpoints as its discovery document advertises them (from its issuer) must lie
//!   below `IAM_API_HYDRA_PUBLIC_URL`: the flow's cookies are only ever sent there, and an
//!   endpoint elsewhere is refused (503, logged).
//! - A flow waiting for MFA lives in this instance's memory (at most 10,000, as long as
//!   the MFA token): with several instances, `/auth/mfa/verify` must reach the instance
//!   that answered the password (sticky routing), or the MFA token is 401.
//! - Hydra's access tokens are JWTs that stay valid until they expire (default 1 hour at
//!   Hydra): logout revokes the refresh token (and Hydra revokes the access tokens it
//!   issued with it, for introspection), but a JWT already handed out validates until `exp`.
//! - An existing client with the configured id is used as it is (its redirect URIs,
//!   audiences and grant types are not changed).
use super::{HydraProvider, ProviderError};
use crate::auth::{LoginBody, LogoutBody, MfaRequiredResponse, MfaVerifyBody, RefreshBody};
use crate::errors::{problem, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use iam_axum::Auth;
use iam_client::login::{LoginError, TokenSet};
use iam_client::AccessToken;
use iam_core::Secret;
use iam_identity::{IdentityError, LoginOutcome, MfaProof};
use iam_service::{ConfigError, Env, Problem};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many headless logins may wait for their MFA step at once (per instance).
pub const MAX_PENDING_MFA: usize = 10_000;
/// The longest refresh token sent on to Hydra (Hydra's are about 90 characters).
const MAX_TOKEN_LEN: usize = 4096;

/// The IAM API's own confidential client at Hydra, for the headless login.
#[derive(Debug, Clone)]
pub struct HeadlessClientSettings {
    /// `IAM_API_HYDRA_CLIENT_ID` (default `iam-api`).
    pub client_id: String,
    /// `IAM_API_HYDRA_CLIENT_SECRET` (required in `hydra` mode; at least 16 characters).
    pub client_secret: Secret,
    /// `IAM_API_HYDRA_REDIRECT_URI` (default `http://127.0.0.1/iam-api/callback`): registered
    /// at Hydra, never visited.
    pub redirect_uri: String,
    /// `IAM_API_HYDRA_ISSUER` (default the public URL with a trailing slash, Hydra's own
    /// default): discovery and the `iss` of Hydra's tokens.
    pub issuer: String,
}

impl PartialEq for HeadlessClientSettings {
    fn eq(&self, other: &Self) -> bool {
        self.client_id == other.client_id
            && self.client_secret.secret() == other.client_secret.secret()
            && self.redirect_uri == other.redirect_uri
            && self.issuer == other.issuer
    }
}

impl Eq for HeadlessClientSettings {}

impl HeadlessClientSettings {
    /// Read the client's settings; `public_url` is Hydra's public URL (no trailing slash).
    pub fn from_env(env: &Env, public_url: &str) -> Result<Self, ConfigError> {
        let client_id = env
            .get("HYDRA_CLIENT_ID")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| "iam-api".into());
        if client_id.is_empty() || !client_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                env.name("HYDRA_CLIENT_ID"),
                "must be printable ASCII without spaces",
            ));
        }
        let client_secret = env.required("HYDRA_CLIENT_SECRET")?;
        if client_secret.chars().count() < 16 {
            return Err(ConfigError::invalid(
                env.name("HYDRA_CLIENT_SECRET"),
                "must be at least 16 characters",
            ));
        }
        let http_url = |name: &str, default: String| -> Result<String, ConfigError> {
            let value = env.get(name).map_or(default, |s| s.trim().to_owned());
            match url::Url::parse(&value) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.fragment().is_none() => {
                    Ok(value)
                }
                _ => Err(ConfigError::invalid(
                    env.name(name),
                    "must be an http(s) URL without a fragment",
                )),
            }
        };
        Ok(Self {
            client_id,
            client_secret: Secret::new(client_secret),
            redirect_uri: http_url(
                "HYDRA_REDIRECT_URI",
                "http://127.0.0.1/iam-api/callback".into(),
            )?,
            issuer: http_url("HYDRA_ISSUER", format!("{public_url}/"))?,
        })
    }
}

/// The tokens of a headless login or refresh: `self` mode's shape, plus the ID token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HeadlessTokens {
    /// Hydra's access token (a JWT; `tenant`, `roles`, `permissions` under `ext`).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Hydra's refresh token (rotated at every refresh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Hydra's ID token (at login; not at refresh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for HeadlessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadlessTokens(<redacted>)")
    }
}

impl HeadlessTokens {
    pub(super) fn new(tokens: &TokenSet, id_token: Option<&str>) -> Self {
        let now = Instant::now();
        Self {
            access_token: tokens.access_token.secret().to_owned(),
            token_type: "Bearer",
            expires_in: tokens
                .expires_at
                .map_or(0, |at| at.saturating_duration_since(now).as_secs()),
            refresh_token: tokens.refresh_token.as_ref().map(|t| t.secret().to_owned()),
            id_token: id_token.map(str::to_owned),
        }
    }
}

/// A refresh token as Hydra may have issued it: 1 to 4 KiB of printable ASCII.
fn well_formed_token(token: &str) -> Result<&str, Problem> {
    let ok = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(token)
        .ok_or_else(|| Problem::bad_request("the refresh token is malformed"))
}

fn invalid_grant() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
        "the refresh token is invalid, spent, revoked or expired",
    )
}

fn provider(state: &AppState) -> Result<&HydraProvider, Problem> {
    state
        .hydra
        .as_deref()
        .ok_or_else(|| Problem::not_found("IAM_API_TOKEN_BACKEND is not hydra"))
}

fn login_metric(outcome: &'static str) {
    metrics::counter!("iam_api_logins_total", "outcome" => outcome).increment(1);
}

/// `POST /auth/login` without a challenge in `hydra` mode: Hydra's tokens, or an MFA step.
pub(super) async fn login(state: Arc<AppState>, ip: std::net::IpAddr, body: LoginBody) -> Response {
    let result: Result<Response, Problem> = async {
        let hydra = provider(&state)?;
        let flow = hydra.headless.start(hydra, &state.audience).await?;
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
        match outcome {
            Ok(LoginOutcome::Session(s)) => {
                let tokens = hydra.headless.finish(hydra, &state, flow, s).await?;
                login_metric("success");
                Ok(Json(tokens).into_response())
            }
            Ok(LoginOutcome::MfaRequired(m)) => {
                let mut flow = flow;
                flow.expires = Instant::now() + Duration::from_secs(m.expires_in);
                if hydra
                    .headless
                    .pending
                    .put(m.mfa_token.secret(), flow)
                    .is_err()
                {
                    tracing::error!("headless login: too many logins wait for MFA");
                    return Err(Problem::unavailable("too busy; retry later")
                        .retry_after(Duration::from_secs(1)));
                }
                login_metric("mfa_required");
                Ok(Json(MfaRequiredResponse {
                    mfa_required: true,
                    mfa_token: m.mfa_token.secret().clone(),
                    methods: m.methods,
                    expires_in: m.expires_in,
                })
                .into_response())
            }
            Err(e) => {
                hydra.headless.reject(hydra, &flow).await;
                login_metric(match &e {
                    IdentityError::InvalidCredentials => "invalid_credentials",
                    IdentityError::RateLimited { .. } => "rate_limited",
                    IdentityError::Overloaded { .. } => "overloaded",
                    _ => "error",
                });
                Err(problem(e))
            }
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /auth/mfa/verify` without a challenge in `hydra` mode: finish the waiting flow.
pub(super) async fn mfa_verify(
    state: Arc<AppState>,
    ip: std::net::IpAddr,
    body: MfaVerifyBody,
) -> Response {
    let result: Result<Response, Problem> = async {
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
        let Some(flow) = hydra.headless.pending.take(&body.mfa_token) else {
            return Err(problem(IdentityError::InvalidMfaChallenge));
        };
        match state
            .identity
            .verify_mfa(&body.mfa_token, proof, Some(ip))
            .await
        {
            Ok(session) => {
                let tokens = hydra.headless.finish(hydra, &state, flow, session).await?;
                login_metric("mfa_success");
                Ok(Json(tokens).into_response())
            }
            Err(IdentityError::InvalidMfaChallenge) => {
                hydra.headless.reject(hydra, &flow).await;
                Err(problem(IdentityError::InvalidMfaChallenge))
            }
            Err(e) => {
                // A wrong code (or a limiter answer): the MFA token lives on, so does the flow.
                let token = body.mfa_token.clone();
                if hydra.headless.pending.put(&token, flow).is_err() {
                    tracing::warn!("headless login: a waiting flow was dropped (record full)");
                }
                Err(problem(e))
            }
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /auth/refresh` in `hydra` mode: Hydra's refresh grant with the IAM API's client
/// (200 [`HeadlessTokens`]; 400 malformed; 401 `invalid_grant`; 503 Hydra unavailable).
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Response {
    let result: Result<HeadlessTokens, Problem> = async {
        let hydra = provider(&state)?;
        let token = well_formed_token(&body.refresh_token)?;
        let rp = hydra.headless.relying(hydra, &state.audience).await?;
        match rp.login.refresh(&AccessToken::from_secret(token)).await {
            Ok(tokens) => {
                metrics::counter!("iam_api_refreshes_total", "outcome" => "success").increment(1);
                Ok(HeadlessTokens::new(&tokens, None))
            }
            Err(e) if session_over(&e) => {
                metrics::counter!("iam_api_refreshes_total", "outcome" => "refused").increment(1);
                Err(invalid_grant())
            }
            Err(e) => {
                tracing::error!(error = %e, "headless refresh: Hydra's token endpoint failed");
                Err(ProviderError::Unavailable.into())
            }
        }
    }
    .await;
    match result {
        Ok(t) => Json(t).into_response(),
        Err(p) => p.into_response(),
    }
}

/// Whether a refresh failure means "log in again": `invalid_grant` (expired, revoked,
/// reused), or `access_denied`, the token hook's refusal of an account that is no longer
/// active (disabled, deleted, tenant suspended).
fn session_over(e: &LoginError) -> bool {
    match e {
        LoginError::ReloginRequired => true,
        LoginError::Refused(code) => code == "access_denied",
        _ => false,
    }
}

/// `POST /auth/logout` without a challenge in `hydra` mode: revoke the refresh token at
/// Hydra, or with `all` and a bearer token every consent and login session of the user.
pub(super) async fn logout(state: Arc<AppState>, auth: Option<Auth>, body: LogoutBody) -> Response {
    let result: Result<(), Problem> = async {
        let hydra = provider(&state)?;
        if body.all {
            let Some(Auth(p)) = auth else {
                return Err(Problem::unauthorized(
                    "a bearer access token is required for all: true",
                ));
            };
            hydra.end_sessions(p.subject()).await?;
            return Ok(());
        }
        let Some(token) = &body.refresh_token else {
            return Err(Problem::bad_request("refresh_token is required"));
        };
        let token = well_formed_token(token)?;
        let rp = hydra.headless.relying(hydra, &state.audience).await?;
        hydra.headless.revoke(rp, token).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(p) => p.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invalid_grant_and_the_hooks_access_denied_end_the_session() {
        assert!(session_over(&LoginError::ReloginRequired));
        assert!(session_over(&LoginError::Refused("access_denied".into())));
        for other in [
            LoginError::Refused("invalid_client".into()),
            LoginError::Refused("server_error".into()),
            LoginError::Unavailable("down".into()),
        ] {
            assert!(!session_over(&other), "{other:?}");
        }
    }

    fn settings(lookup: fn(&str) -> Option<String>) -> Result<HeadlessClientSettings, ConfigError> {
        HeadlessClientSettings::from_env(&Env::with_lookup("IAM_API_", lookup), "http://h:4444")
    }

    #[test]
    fn the_client_secret_is_required_long_and_never_shown() {
        let e = settings(|_| None).unwrap_err();
        assert!(e.to_string().contains("IAM_API_HYDRA_CLIENT_SECRET"), "{e}");
        let e =
            settings(|n| (n == "IAM_API_HYDRA_CLIENT_SECRET").then(|| "short".into())).unwrap_err();
        assert!(e.to_string().contains("16"), "{e}");
        let s = settings(|n| {
            (n == "IAM_API_HYDRA_CLIENT_SECRET").then(|| "a-long-random-client-secret".into())
        })
        .unwrap();
        assert_eq!(s.client_id, "iam-api");
        assert_eq!(s.issuer, "http://h:4444/");
        assert_eq!(s.redirect_uri, "http://127.0.0.1/iam-api/callback");
        assert!(!format!("{s:?}").contains("a-long-random"), "{s:?}");
    }

    #[test]
    fn hostile_client_settings_are_refused() {
        let lookups: [fn(&str) -> Option<String>; 3] = [
            |n| match n {
                "IAM_API_HYDRA_CLIENT_SECRET" => Some("a-long-random-client-secret".into()),
                "IAM_API_HYDRA_CLIENT_ID" => Some("a b".into()),
                _ => None,
            },
            |n| match n {
                "IAM_API_HYDRA_CLIENT_SECRET" => Some("a-long-random-client-secret".into()),
                "IAM_API_HYDRA_REDIRECT_URI" => Some("javascript:alert(1)".into()),
                _ => None,
            },
            |n| match n {
                "IAM_API_HYDRA_CLIENT_SECRET" => Some("a-long-random-client-secret".into()),
                "IAM_API_HYDRA_ISSUER" => Some("not a url".into()),
                _ => None,
            },
        ];
        for lookup in lookups {
            assert!(settings(lookup).is_err());
        }
    }

    #[test]
    fn hostile_refresh_tokens_are_refused_before_any_call() {
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        for bad in ["", "a b", "a\nb", "é", long.as_str()] {
            assert_eq!(well_formed_token(bad).unwrap_err().status().as_u16(), 400);
        }
        assert!(well_formed_token("ory_rt_abc.DEF-123").is_ok());
    }

    #[test]
    fn the_token_answer_never_shows_a_token_in_debug() {
        let t = HeadlessTokens {
            access_token: "eyJsecret".into(),
            token_type: "Bearer",
            expires_in: 1,
            refresh_token: Some("ory_rt_secret".into()),
            id_token: None,
        };
        assert!(!format!("{t:?}").contains("secret"));
    }
}
