//! `/auth/*`: login, MFA, refresh, logout, TOTP enrolment, password change.
use crate::errors::{problem, ClientIp, JsonBody};
use crate::state::{AppState, TokenResponse};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use iam_axum::Auth;
use iam_core::Secret;
use iam_identity::{LoginOutcome, LoginRequest, MfaProof, Session};
use iam_service::Problem;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// `POST /auth/login`.
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    /// The tenant's id (`default`).
    pub tenant: String,
    /// Username or email.
    pub username: String,
    /// The password.
    pub password: String,
}

/// The MFA answer of a login.
#[derive(Serialize, ToSchema)]
pub struct MfaRequiredResponse {
    /// Always `true`.
    pub mfa_required: bool,
    /// Send it to `/auth/mfa/verify` with a code.
    pub mfa_token: String,
    /// `totp`, `recovery_code`.
    pub methods: Vec<&'static str>,
    /// Seconds the MFA token lives.
    pub expires_in: u64,
}

/// `POST /auth/mfa/verify`: `code` (TOTP) or `recovery_code`.
#[derive(Deserialize, ToSchema)]
pub struct MfaVerifyBody {
    /// From the login answer.
    pub mfa_token: String,
    /// A TOTP code.
    pub code: Option<String>,
    /// A recovery code.
    pub recovery_code: Option<String>,
}

/// `POST /auth/refresh`.
#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    /// The refresh token.
    pub refresh_token: String,
}

/// `POST /auth/logout`: a refresh token, or `all` with a bearer access token.
#[derive(Deserialize, ToSchema)]
pub struct LogoutBody {
    /// Revoke this token's family.
    pub refresh_token: Option<String>,
    /// Revoke every family of the bearer's user.
    #[serde(default)]
    pub all: bool,
}

/// `POST /auth/mfa/totp/confirm`.
#[derive(Deserialize, ToSchema)]
pub struct TotpConfirmBody {
    /// A code from the authenticator app.
    pub code: String,
}

/// A started TOTP enrolment.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrollResponse {
    /// The shared secret, base32.
    pub secret: String,
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code, SVG.
    pub qr_svg: String,
}

/// Ten recovery codes, shown once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Each usable once.
    pub recovery_codes: Vec<String>,
}

/// `POST /auth/password/change`.
#[derive(Deserialize, ToSchema)]
pub struct PasswordChangeBody {
    /// The current password.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

fn session_answer(state: &AppState, session: &Session) -> Response {
    match state.tokens(session) {
        Ok(t) => Json(t).into_response(),
        Err(_) => Problem::unavailable("signing keys unavailable").into_response(),
    }
}

fn login_metric(outcome: &'static str) {
    metrics::counter!("iam_api_logins_total", "outcome" => outcome).increment(1);
}

/// Password login.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Tokens, or an MFA challenge", body = TokenResponse),
        (status = 400, description = "Malformed body or password too long"),
        (status = 401, description = "invalid_credentials (one answer for every case)"),
        (status = 429, description = "Limited: see Retry-After"),
        (status = 503, description = "Hashing pool full: see Retry-After")))]
pub async fn login(
    State(state): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<LoginBody>,
) -> Response {
    let password = Secret::new(body.password);
    let result = state
        .identity
        .login(LoginRequest {
            tenant: &body.tenant,
            login: &body.username,
            password: &password,
            client_ip: Some(ip),
        })
        .await;
    metrics::gauge!("iam_api_hash_queue_depth").set(state.identity.hasher().queue_depth() as f64);
    match result {
        Ok(LoginOutcome::Session(s)) => {
            login_metric("success");
            session_answer(&state, &s)
        }
        Ok(LoginOutcome::MfaRequired(m)) => {
            login_metric("mfa_required");
            Json(MfaRequiredResponse {
                mfa_required: true,
                mfa_token: m.mfa_token.secret().clone(),
                methods: m.methods,
                expires_in: m.expires_in,
            })
            .into_response()
        }
        Err(e) => {
            login_metric(match &e {
                iam_identity::IdentityError::InvalidCredentials => "invalid_credentials",
                iam_identity::IdentityError::RateLimited { .. } => "rate_limited",
                iam_identity::IdentityError::Overloaded { .. } => "overloaded",
                _ => "error",
            });
            problem(e).into_response()
        }
    }
}

/// Answer an MFA challenge.
#[utoipa::path(post, path = "/auth/mfa/verify", tag = "auth", request_body = MfaVerifyBody,
    responses((status = 200, body = TokenResponse), (status = 400), (status = 401)))]
pub async fn mfa_verify(
    State(state): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<MfaVerifyBody>,
) -> Response {
    let proof = match (&body.code, &body.recovery_code) {
        (Some(c), None) => MfaProof::Totp(c),
        (None, Some(c)) => MfaProof::RecoveryCode(c),
        _ => {
            return Problem::bad_request("give exactly one of code and recovery_code")
                .into_response()
        }
    };
    match state
        .identity
        .verify_mfa(&body.mfa_token, proof, Some(ip))
        .await
    {
        Ok(s) => {
            login_metric("mfa_success");
            session_answer(&state, &s)
        }
        Err(e) => problem(e).into_response(),
    }
}

/// Exchange a refresh token for a new pair.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenResponse), (status = 400), (status = 401)))]
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Response {
    match state.identity.refresh(&body.refresh_token, Some(ip)).await {
        Ok(s) => {
            metrics::counter!("iam_api_refreshes_total", "outcome" => "success").increment(1);
            session_answer(&state, &s)
        }
        Err(e) => {
            metrics::counter!("iam_api_refreshes_total", "outcome" => "refused").increment(1);
            problem(e).into_response()
        }
    }
}

/// Revoke a refresh family, or every family of the bearer's user.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = LogoutBody,
    responses((status = 204), (status = 400), (status = 401)))]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    auth: Option<Auth>,
    JsonBody(body): JsonBody<LogoutBody>,
) -> Response {
    let result = if body.all {
        let Some(Auth(p)) = auth else {
            return Problem::unauthorized("a bearer access token is required for all: true")
                .into_response();
        };
        let tenant = p.tenant().unwrap_or_default();
        state
            .identity
            .logout_all(tenant, p.subject(), Some(ip))
            .await
            .map(drop)
    } else {
        match &body.refresh_token {
            Some(t) => state.identity.logout(t, Some(ip)).await,
            None => return Problem::bad_request("refresh_token is required").into_response(),
        }
    };
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => problem(e).into_response(),
    }
}

fn tenant_of(p: &iam_core::Principal) -> Result<&str, Problem> {
    p.tenant()
        .ok_or_else(|| Problem::unauthorized("the token has no tenant"))
}

/// Start a TOTP enrolment (bearer).
#[utoipa::path(post, path = "/auth/mfa/totp/enroll", tag = "mfa",
    responses((status = 200, body = TotpEnrollResponse), (status = 401), (status = 409)),
    security(("bearer" = [])))]
pub async fn totp_enroll(State(state): State<Arc<AppState>>, Auth(p): Auth) -> Response {
    let tenant = match tenant_of(&p) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    match state.identity.enroll_totp(tenant, p.subject()).await {
        Ok(e) => {
            let uri = e.otpauth_uri.secret().clone();
            let qr_svg = match qrcode::QrCode::new(uri.as_bytes()) {
                Ok(code) => code
                    .render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(200, 200)
                    .build(),
                Err(_) => String::new(),
            };
            Json(TotpEnrollResponse {
                secret: e.secret_base32.secret().clone(),
                otpauth_uri: uri,
                qr_svg,
            })
            .into_response()
        }
        Err(e) => problem(e).into_response(),
    }
}

/// Confirm the enrolment with a code; returns ten recovery codes (bearer).
#[utoipa::path(post, path = "/auth/mfa/totp/confirm", tag = "mfa", request_body = TotpConfirmBody,
    responses((status = 200, body = RecoveryCodesResponse), (status = 401), (status = 409)),
    security(("bearer" = [])))]
pub async fn totp_confirm(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    JsonBody(body): JsonBody<TotpConfirmBody>,
) -> Response {
    let tenant = match tenant_of(&p) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    match state
        .identity
        .confirm_totp(tenant, p.subject(), &body.code)
        .await
    {
        Ok(codes) => Json(RecoveryCodesResponse {
            recovery_codes: codes.iter().map(|c| c.secret().clone()).collect(),
        })
        .into_response(),
        Err(e) => problem(e).into_response(),
    }
}

/// Remove TOTP and recovery codes (bearer with `acr: mfa`).
#[utoipa::path(delete, path = "/auth/mfa/totp", tag = "mfa",
    responses((status = 204), (status = 401), (status = 403)), security(("bearer" = [])))]
pub async fn totp_delete(State(state): State<Arc<AppState>>, Auth(p): Auth) -> Response {
    // Hydra's access tokens (`hydra` mode) carry it under `ext`, from the IAM API's consent.
    let ext_acr = || {
        p.claims()
            .get("ext")
            .and_then(|ext| ext.get("acr"))
            .and_then(serde_json::Value::as_str)
    };
    if p.acr().or_else(ext_acr) != Some("mfa") {
        return Problem::forbidden("a token from an MFA login (acr mfa) is required")
            .into_response();
    }
    let tenant = match tenant_of(&p) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    match state.identity.remove_mfa(tenant, p.subject()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => problem(e).into_response(),
    }
}

/// Change one's password (bearer); every session of the user is revoked.
#[utoipa::path(post, path = "/auth/password/change", tag = "auth", request_body = PasswordChangeBody,
    responses((status = 204), (status = 400), (status = 401)), security(("bearer" = [])))]
pub async fn password_change(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    JsonBody(body): JsonBody<PasswordChangeBody>,
) -> Response {
    let tenant = match tenant_of(&p) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let (current, new) = (
        Secret::new(body.current_password),
        Secret::new(body.new_password),
    );
    match state
        .identity
        .change_password(tenant, p.subject(), &current, &new)
        .await
    {
        Ok(()) => match &state.hydra {
            // `hydra` mode: the user's token chains and login sessions at Hydra end too.
            Some(hydra) => match hydra.end_sessions(p.subject()).await {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(e) => Problem::from(e).into_response(),
            },
            None => StatusCode::NO_CONTENT.into_response(),
        },
        Err(e) => problem(e).into_response(),
    }
}
