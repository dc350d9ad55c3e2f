//! `IAM_API_TOKEN_BACKEND=hydra`: the IAM API as Ory Hydra's headless login and consent
//! provider. Hydra issues every OAuth2/OIDC token; the IAM API checks passwords, MFA, the
//! tenant and the account state, and answers Hydra's login, consent and logout challenges.
//! An app's own login page (Hydra's `urls.login`, `urls.consent`, `urls.logout`) calls these
//! JSON endpoints and sends the browser to the `redirect_to` it gets back:
//!
//! | call | body / query | answer |
//! |---|---|---|
//! | `GET /auth/login` | `?login_challenge=…&tenant=…` | `{client_id, client_name, requested_scope, skip}`; with `skip` (a remembered login) the login is accepted at once: `{skip: true, redirect_to}` |
//! | `POST /auth/login` | `{login_challenge, tenant, username, password, remember}` | `{redirect_to}` or `{mfa_required, mfa_token, methods, expires_in}` |
//! | `POST /auth/mfa/verify` | `{login_challenge, mfa_token, code \| recovery_code, remember}` | `{redirect_to}` |
//! | `GET /auth/consent` | `?consent_challenge=…` | `{redirect_to}` when decided without the user (Hydra's `skip`, a first-party client with `skip_consent`), else `{client_id, client_name, requested_scope, requested_audience}` |
//! | `POST /auth/consent` | `{consent_challenge, approve, grant_scope, remember}` | `{redirect_to}` |
//! | `POST /auth/logout` | `{logout_challenge}` | `{redirect_to}`; every login session of the user at Hydra is revoked |
//! | `POST /auth/login`, `/auth/mfa/verify`, `/auth/refresh`, `/auth/logout` | without a challenge | the headless login: Hydra's tokens (see [`headless`]) |
//! | `POST /hydra/token-hook` | Hydra's token hook call (secret header) | the session's claims recomputed, or 403 for an inactive account (see [`token_hook`]) |
//!
//! The login is accepted at Hydra with the user id as `subject`, `acr` (`pwd` or `mfa`),
//! `amr` (`pwd`, `otp`, `recovery_code`), `remember` when asked, and the tenant in the
//! login `context`. Consent puts `tenant`, `roles` and `permissions` into
//! `session.access_token` (Hydra writes them under `ext`, which the suite's middleware
//! reads) and `session.id_token`, computed afresh at every consent and, through Hydra's
//! token hook, at every token Hydra issues (refreshes included).
//!
//! Failed passwords go through the same limiter and lockout as `self` mode (the same
//! `Identity::login`). A malformed challenge is 400; one Hydra does not know, that expired,
//! or that belongs to another flow is 404 `invalid_challenge`; one answered before is 410
//! `challenge_used`; Hydra down is 503 (never an accepted login).
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use iam_api::config::{Config, TokenBackend};
//! fn lookup(name: &str) -> Option<String> {
//!     let value = match name {
//!         "IAM_API_TOKEN_BACKEND" => "hydra",
//!         "IAM_API_HYDRA_ADMIN_URL" => "http://127.0.0.1:4445",
//!         "IAM_API_HYDRA_PUBLIC_URL" => "http://127.0.0.1:4444",
//!         "IAM_API_HYDRA_CLIENT_SECRET" => "a-long-random-client-secret",
//!         "IAM_API_HYDRA_TOKEN_HOOK_SECRET" => "a-long-random-hook-secret",
//!         "IAM_API_KEY_ENCRYPTION_KEY" => "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
//!         _ => return None,
//!     };
//!     Some(value.to_owned())
//! }
//! let (config, _) = Config::from(&iam_service::Env::with_lookup("IAM_API_", lookup))?;
//! assert!(matches!(config.token_backend, TokenBackend::Hydra(_)));
//! # Ok(()) }
//! ```
//!
//! # Caveats
//! - Without a challenge, `POST /auth/login`, `/auth/mfa/verify`, `/auth/refresh` and
//!   `/auth/logout` are the headless login of first-party apps ([`headless`]): Hydra issues
//!   those tokens too, and the admin API and the self-service routes (`/auth/mfa/totp/*`,
//!   `/auth/password/change`) take them (by `iss`; the IAM API's own tokens still validate
//!   until they expire). Apps of the challenge way get their tokens from Hydra's
//!   `/oauth2/token`; Hydra's own `invalid_grant` reaches them straight from Hydra.
//! - Hydra v2.3 keeps a flow's state inside its challenge, so it cannot tell a challenge it
//!   already accepted from a fresh one. The IAM API remembers the challenges it answered
//!   (their SHA-256, for an hour, at most 100,000; beyond that it refuses with 503) in the
//!   process: with several instances a replay that reaches another instance is not caught
//!   here, but Hydra still refuses the second use of the verifier it hands out.
//! - A remembered login (`skip`) is continued only when the page passes the `tenant`
//!   (Hydra keeps the subject, not the tenant); a user that is disabled or deleted since is
//!   rejected at Hydra with `access_denied`. Its `acr`/`amr` are not repeated.
//! - The account model has no e-mail verification yet: with the `email` scope the ID token
//!   gets `email` with `email_verified: false`, never `true`.
//! - The MFA token is not bound to the login challenge: it already proves the password of
//!   one user, and whoever holds it with a valid code may finish any open login challenge
//!   as that user.
mod bearer;
pub mod consent;
mod cookies;
pub mod headless;
pub mod login;
mod pending;
mod server_flow;
pub mod token_hook;
mod used;

pub use consent::{consent_request, submit_consent, ConsentBody, ConsentInfo};
pub use headless::{HeadlessClientSettings, HeadlessTokens};
pub use login::{
    login, login_request, logout, mfa_verify, ChallengeLoginBody, ChallengeLogoutBody,
    ChallengeMfaBody, LoginInfo,
};

use crate::config::TokenBackend;
use iam_client::hydra::{HydraAdmin, HydraError, Redirect};
use iam_client::{HttpClient, TransportPolicy, UrlRole};
use iam_identity::IdentityError;
use iam_service::{ConfigError, Env, Problem};
use serde::Serialize;
use std::time::Duration;
use used::UsedChallenges;

/// The `/auth/*` routes of `hydra` mode without a bearer token (`optional`: the layer that
/// reads one when present, for the `self` mode logout of every session).
pub fn routes(optional: iam_axum::IamLayer) -> axum::Router<std::sync::Arc<crate::AppState>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/auth/login", get(login_request).post(login))
        .route("/auth/mfa/verify", post(mfa_verify))
        .route("/auth/consent", get(consent_request).post(submit_consent))
        .route("/auth/logout", post(logout).layer(optional))
        .route("/auth/refresh", post(headless::refresh))
}

/// The longest challenge accepted (Hydra v2.3's are encrypted flows of about 1 KiB).
pub const MAX_CHALLENGE_LEN: usize = 8 * 1024;

/// The Hydra settings of `IAM_API_TOKEN_BACKEND=hydra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HydraSettings {
    /// `IAM_API_HYDRA_ADMIN_URL`: https, or http to loopback.
    pub admin_url: String,
    /// `IAM_API_HYDRA_PUBLIC_URL` (without a trailing slash): every `redirect_to` handed to a
    /// page must point below it.
    pub public_url: String,
    /// `IAM_API_HYDRA_REMEMBER_SECONDS`: how long Hydra remembers a login or consent the user
    /// asked it to remember (default 30 days).
    pub remember_for: Duration,
    /// The IAM API's own confidential client, for the headless login (no challenge).
    pub headless: HeadlessClientSettings,
    /// `IAM_API_HYDRA_TOKEN_HOOK_SECRET` (required, at least 16 characters): what Hydra sends
    /// to `POST /hydra/token-hook` (see [`token_hook`]).
    pub token_hook_secret: token_hook::TokenHookSecret,
}

impl HydraSettings {
    /// Read `TOKEN_BACKEND` and, for `hydra`, the Hydra settings.
    pub(crate) fn from_env(env: &Env) -> Result<TokenBackend, ConfigError> {
        match env.get("TOKEN_BACKEND").as_deref().map(str::trim) {
            None | Some("self") => return Ok(TokenBackend::SelfIssued),
            Some("hydra") => {}
            Some(_) => {
                return Err(ConfigError::invalid(
                    env.name("TOKEN_BACKEND"),
                    "must be self or hydra",
                ))
            }
        }
        let checked = |name: &str| -> Result<String, ConfigError> {
            let url = env.required(name)?.trim().trim_end_matches('/').to_owned();
            if url.contains(['?', '#']) {
                return Err(ConfigError::invalid(
                    env.name(name),
                    "must have no query or fragment",
                ));
            }
            TransportPolicy::new()
                .check(&url, UrlRole::HydraAdmin)
                .map_err(|_| {
                    ConfigError::invalid(
                        env.name(name),
                        "must be an https URL, or http to loopback",
                    )
                })?;
            Ok(url)
        };
        let public_url = checked("HYDRA_PUBLIC_URL")?;
        Ok(TokenBackend::Hydra(Self {
            admin_url: checked("HYDRA_ADMIN_URL")?,
            headless: HeadlessClientSettings::from_env(env, &public_url)?,
            public_url,
            remember_for: env
                .seconds("HYDRA_REMEMBER_SECONDS", Duration::from_secs(30 * 86_400))?,
            token_hook_secret: env.required("HYDRA_TOKEN_HOOK_SECRET").and_then(|s| {
                token_hook::TokenHookSecret::new(s).ok_or_else(|| {
                    ConfigError::invalid(
                        env.name("HYDRA_TOKEN_HOOK_SECRET"),
                        "must be at least 16 characters",
                    )
                })
            })?,
        }))
    }
}

/// The login provider's state: the admin client and the challenges answered.
#[derive(Debug)]
pub struct HydraProvider {
    admin: HydraAdmin,
    public_prefix: String,
    remember_for: Duration,
    used: UsedChallenges,
    headless: server_flow::HeadlessLogin,
    settings: HydraSettings,
}

impl HydraProvider {
    /// What Hydra must send to the token hook.
    pub(crate) fn token_hook_secret(&self) -> &token_hook::TokenHookSecret {
        &self.settings.token_hook_secret
    }
}

impl HydraProvider {
    /// A provider for `settings` (the admin URL is checked against the transport policy).
    pub fn new(settings: &HydraSettings) -> Result<Self, HydraError> {
        let http = HttpClient::new()?.with_timeout(Duration::from_secs(10));
        // The bearer authenticator built later from these must not fail.
        iam_client::JwtConfig::new(settings.headless.issuer.clone())
            .jwks_url(format!("{}/.well-known/jwks.json", settings.public_url))
            .audience("check")
            .authenticator_with(&http)
            .map_err(|_| HydraError::InvalidUrl)?;
        Ok(Self {
            admin: HydraAdmin::new(&settings.admin_url, http.clone())?,
            public_prefix: format!("{}/", settings.public_url),
            remember_for: settings.remember_for,
            used: UsedChallenges::new(Duration::from_secs(3600), 100_000),
            headless: server_flow::HeadlessLogin::new(settings, http.clone()),
            settings: settings.clone(),
        })
    }

    /// The admin client.
    pub fn admin(&self) -> &HydraAdmin {
        &self.admin
    }

    /// A `redirect_to` from Hydra, checked to point at Hydra's public URL.
    fn redirect(&self, r: Redirect) -> Result<RedirectAnswer, ProviderError> {
        if r.redirect_to.starts_with(&self.public_prefix) {
            Ok(RedirectAnswer {
                redirect_to: r.redirect_to,
            })
        } else {
            tracing::error!("Hydra answered a redirect outside IAM_API_HYDRA_PUBLIC_URL");
            Err(ProviderError::Unavailable)
        }
    }
}

/// `{"redirect_to": …}`: where the page sends the browser next.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RedirectAnswer {
    /// A URL at Hydra's public API.
    pub redirect_to: String,
}

/// Why a challenge call failed; each is one HTTP answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    /// Empty, too long, or not printable ASCII.
    #[error("malformed challenge")]
    MalformedChallenge,
    /// Hydra does not know it (forged, expired, another flow's).
    #[error("unknown challenge")]
    InvalidChallenge,
    /// Answered before.
    #[error("challenge used")]
    ChallengeUsed,
    /// Hydra cannot be reached or answered nonsense; or the replay record is full.
    #[error("hydra unavailable")]
    Unavailable,
    /// The identity flow refused.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl From<HydraError> for ProviderError {
    fn from(e: HydraError) -> Self {
        match &e {
            HydraError::Api(a) if (400..500).contains(&a.status()) => {
                tracing::info!(
                    status = a.status(),
                    error = a.error(),
                    "Hydra refused a challenge"
                );
                Self::InvalidChallenge
            }
            HydraError::InvalidArgument(_) => Self::MalformedChallenge,
            _ => {
                tracing::error!(error = %e, "Hydra admin call failed");
                Self::Unavailable
            }
        }
    }
}

impl From<ProviderError> for Problem {
    fn from(e: ProviderError) -> Self {
        use http::StatusCode;
        match e {
            ProviderError::MalformedChallenge => {
                Problem::bad_request("the challenge is missing or malformed")
            }
            ProviderError::InvalidChallenge => Problem::new(
                StatusCode::NOT_FOUND,
                "invalid_challenge",
                "the challenge is unknown, expired, or belongs to another flow",
            ),
            ProviderError::ChallengeUsed => Problem::new(
                StatusCode::GONE,
                "challenge_used",
                "the challenge was answered already; start the authorization again",
            ),
            ProviderError::Unavailable => {
                Problem::unavailable("the authorization server is unavailable")
                    .retry_after(Duration::from_secs(1))
            }
            ProviderError::Identity(e) => crate::errors::problem(e),
        }
    }
}

/// A challenge as Hydra may have issued it: 1 to [`MAX_CHALLENGE_LEN`] printable ASCII.
fn well_formed(challenge: &str) -> Result<&str, ProviderError> {
    let ok = !challenge.is_empty()
        && challenge.len() <= MAX_CHALLENGE_LEN
        && challenge.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(challenge)
        .ok_or(ProviderError::MalformedChallenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(lookup: fn(&str) -> Option<String>) -> Result<TokenBackend, ConfigError> {
        HydraSettings::from_env(&Env::with_lookup("IAM_API_", lookup))
    }

    fn hydra_with(name: &str, admin: &str, public: Option<&str>) -> Option<String> {
        match name {
            "IAM_API_TOKEN_BACKEND" => Some("hydra".into()),
            "IAM_API_HYDRA_ADMIN_URL" => Some(admin.into()),
            "IAM_API_HYDRA_PUBLIC_URL" => public.map(Into::into),
            "IAM_API_HYDRA_CLIENT_SECRET" => Some("a-long-random-client-secret".into()),
            "IAM_API_HYDRA_TOKEN_HOOK_SECRET" => Some("a-long-random-hook-secret".into()),
            _ => None,
        }
    }

    #[test]
    fn the_backend_defaults_to_self_and_hydra_needs_both_urls() {
        assert_eq!(backend(|_| None).unwrap(), TokenBackend::SelfIssued);
        let hydra = backend(|n| {
            hydra_with(
                n,
                "http://127.0.0.1:4445/",
                Some("https://auth.example.com"),
            )
        })
        .unwrap();
        let TokenBackend::Hydra(s) = hydra else {
            panic!("hydra")
        };
        assert_eq!(s.admin_url, "http://127.0.0.1:4445");
        assert_eq!(s.public_url, "https://auth.example.com");
        assert_eq!(s.remember_for, Duration::from_secs(30 * 86_400));
        let e = backend(|n| hydra_with(n, "http://127.0.0.1:4445", None)).unwrap_err();
        assert!(e.to_string().contains("IAM_API_HYDRA_PUBLIC_URL"), "{e}");
        let e = backend(|n| (n == "IAM_API_TOKEN_BACKEND").then(|| "keycloak".into())).unwrap_err();
        assert!(e.to_string().contains("IAM_API_TOKEN_BACKEND"), "{e}");
    }

    #[test]
    fn hydra_mode_refuses_to_start_without_a_long_enough_token_hook_secret() {
        let lookups: [fn(&str) -> Option<String>; 2] = [
            |n| {
                (n != "IAM_API_HYDRA_TOKEN_HOOK_SECRET")
                    .then(|| hydra_with(n, "http://127.0.0.1:4445", Some("https://a.example")))
                    .flatten()
            },
            |n| match n {
                "IAM_API_HYDRA_TOKEN_HOOK_SECRET" => Some("fifteen-chars..".into()),
                _ => hydra_with(n, "http://127.0.0.1:4445", Some("https://a.example")),
            },
        ];
        for lookup in lookups {
            let e = backend(lookup).unwrap_err();
            assert!(
                e.to_string().contains("IAM_API_HYDRA_TOKEN_HOOK_SECRET"),
                "{e}"
            );
            assert!(!e.to_string().contains("fifteen"), "{e}");
        }
    }

    #[test]
    fn a_plain_http_admin_url_off_loopback_is_refused() {
        let lookups: [fn(&str) -> Option<String>; 4] = [
            |n| hydra_with(n, "http://hydra.internal:4445", Some("https://a.example")),
            |n| hydra_with(n, "ftp://127.0.0.1", Some("https://a.example")),
            |n| hydra_with(n, "not a url", Some("https://a.example")),
            |n| hydra_with(n, "http://127.0.0.1:4445/?x=1", Some("https://a.example")),
        ];
        for lookup in lookups {
            let e = backend(lookup).unwrap_err();
            assert!(e.to_string().contains("IAM_API_HYDRA_ADMIN_URL"), "{e}");
        }
    }

    #[test]
    fn hostile_challenges_are_refused_before_any_call() {
        let long = "a".repeat(MAX_CHALLENGE_LEN + 1);
        for bad in ["", "a b", "a\nb", "é", long.as_str()] {
            assert!(matches!(
                well_formed(bad),
                Err(ProviderError::MalformedChallenge)
            ));
        }
        assert!(well_formed("abc-DEF_123.~").is_ok());
    }

    #[test]
    fn every_failure_is_a_4xx_or_503_never_a_500() {
        for e in [
            ProviderError::MalformedChallenge,
            ProviderError::InvalidChallenge,
            ProviderError::ChallengeUsed,
            ProviderError::Unavailable,
        ] {
            let status = Problem::from(e).status().as_u16();
            assert!((400..500).contains(&status) || status == 503, "{status}");
        }
    }
}
