//! The service's state: identity flows, the issuer, and how tokens are minted.
use crate::config::Config;
use iam_core::jwks::{BoxFuture, JwkSet, KeySource, KeySourceError};
use iam_core::Secret;
use iam_identity::audit::{AuditEvent, AuditKind, AuditSink, TracingAudit};
use iam_identity::hashing::PasswordHasher;
use iam_identity::limiter::{LimiterPolicy, LoginLimiter, MemoryLimiter};
use iam_identity::memory::MemoryChallenges;
use iam_identity::repository::{ChallengeStore, Repositories};
use iam_identity::{Identity, IdentityPolicy, PasswordPolicy, Session};
use iam_issuer::{Issuer, KeyAlgorithm, KeyRing, RotationPolicy};
use iam_service::client_ip::TrustedProxies;
use iam_store::identity::{RedisChallenges, RedisLimiter, SqlIdentityStore};
use iam_store::Database;
use iam_store::SqlKeyStore;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// One token answer, minted once by whoever gets there first.
type AnswerSlot = Arc<Mutex<Option<TokenResponse>>>;

/// What the handlers share.
pub struct AppState {
    /// The identity flows.
    pub identity: Arc<Identity>,
    /// Mints tokens and publishes keys.
    pub issuer: Issuer,
    /// The database (for readiness).
    pub database: Database,
    /// Audiences put into access tokens.
    pub audience: Vec<String>,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// The tenant whose admins administer every tenant.
    pub platform_tenant: String,
    /// Access tokens minted for a refresh in the grace window, by `jti` seed: concurrent
    /// refreshes with one token get the same access token (on this instance).
    recent: Mutex<HashMap<String, (AnswerSlot, Instant)>>,
    grace: Duration,
    /// The parsed JWKS, for this service's own bearer tokens.
    pub own_keys: Arc<OwnKeys>,
    /// Hydra's login and consent provider (`IAM_API_TOKEN_BACKEND=hydra`).
    pub hydra: Option<Arc<crate::hydra_provider::HydraProvider>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("issuer", &self.issuer.issuer())
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// The token answer (RFC 6749 §5.1 shape).
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The access token (a JWT, `typ: at+jwt`).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token (single use).
    pub refresh_token: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenResponse(<redacted>)")
    }
}

/// Minting failed (no signing key: the key store is down).
#[derive(Debug, thiserror::Error)]
#[error("cannot mint a token now")]
pub struct MintError;

/// Metrics and audit lines for identity events.
struct ServiceAudit;

impl AuditSink for ServiceAudit {
    fn record(&self, event: &AuditEvent) {
        TracingAudit.record(event);
        match event.kind {
            AuditKind::RefreshReuse => {
                metrics::counter!("iam_api_refresh_reuse_total").increment(1)
            }
            AuditKind::AdminChange => metrics::counter!("iam_api_admin_changes_total").increment(1),
            _ => {}
        }
    }
}

/// Start-up failure.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database cannot be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] iam_store::StoreError),
    /// The hashing settings are out of range.
    #[error("{0}")]
    Hashing(#[from] iam_identity::hashing::HashingConfigError),
    /// The key ring cannot be opened.
    #[error("signing keys: {0}")]
    Keys(#[from] iam_issuer::IssuerError),
    /// A Redis URL that does not parse.
    #[error("IAM_API_REDIS_URL: invalid Redis URL")]
    Redis,
    /// The Hydra admin client cannot be built.
    #[error("hydra: {0}")]
    Hydra(#[from] iam_client::hydra::HydraError),
    /// The bootstrap admin cannot be created.
    #[error("bootstrap admin: {0}")]
    Bootstrap(#[from] iam_identity::IdentityError),
}

impl AppState {
    /// Open the database (migrating it), Redis when configured, the key ring, and run the
    /// bootstrap.
    pub async fn start(config: &Config) -> Result<Arc<Self>, StartError> {
        let database = Database::connect(&config.database_url).await?;
        let store = Arc::new(SqlIdentityStore::open(database.clone()).await?);
        let limiter_policy = LimiterPolicy {
            ip_attempts_per_minute: config.ip_attempts_per_minute,
            ..LimiterPolicy::default()
        };
        let (challenges, limiter): (Arc<dyn ChallengeStore>, Arc<dyn LoginLimiter>) =
            match &config.redis_url {
                Some(url) => (
                    Arc::new(RedisChallenges::new(url, "iam-api:").map_err(|_| StartError::Redis)?),
                    Arc::new(
                        RedisLimiter::new(url, "iam-api:", limiter_policy)
                            .map_err(|_| StartError::Redis)?,
                    ),
                ),
                None => (
                    Arc::new(MemoryChallenges::default()),
                    Arc::new(MemoryLimiter::new(limiter_policy)),
                ),
            };
        let hasher = Arc::new(PasswordHasher::new(config.hashing)?);
        let passwords = PasswordPolicy {
            min_chars: config.min_password_chars,
            ..PasswordPolicy::default()
        };
        // A new database: the bootstrap admin's password is hashed while the key ring opens.
        let bootstrap_hash = match &config.bootstrap {
            Some((email, password)) => {
                crate::bootstrap::start_hashing(
                    &*store,
                    &hasher,
                    &passwords,
                    &config.platform_tenant,
                    email,
                    password,
                )
                .await?
            }
            None => None,
        };
        let policy = IdentityPolicy {
            passwords,
            totp: iam_identity::totp::TotpSettings {
                issuer: "iam-api".into(),
                ..Default::default()
            },
            refresh_lifetime: config.refresh_ttl,
            refresh_grace: config.refresh_grace,
            ..IdentityPolicy::default()
        };
        let identity = Identity::new(
            Repositories::from_store(store, challenges),
            hasher,
            limiter,
            policy,
        )
        .audit(Arc::new(ServiceAudit))
        .totp_sealing(iam_identity::sealing::TotpSecretSealing::new(
            config.kek.clone(),
        ))
        .refresh_secret(refresh_secret(config))?;
        let rotation = RotationPolicy::new(
            Duration::from_secs(30 * 86_400),
            config.access_ttl.max(Duration::from_secs(3600)),
            Duration::from_secs(300),
        );
        let keys = Arc::new(SqlKeyStore::open(database.clone()).await?);
        let ring = KeyRing::open(
            keys,
            config.kek.clone(),
            KeyAlgorithm::Es256,
            rotation,
            iam_core::clock::SystemClock,
        )
        .await?;
        let issuer = Issuer::new(config.issuer.clone(), ring);
        let own_keys = Arc::new(OwnKeys::new(issuer.clone()));
        let state = Arc::new(Self {
            identity: Arc::new(identity),
            issuer,
            database,
            audience: config.audience.clone(),
            access_ttl: config.access_ttl,
            trusted_proxies: config.trusted_proxies.clone(),
            platform_tenant: config.platform_tenant.clone(),
            recent: Mutex::new(HashMap::new()),
            grace: config.refresh_grace,
            own_keys,
            hydra: match &config.token_backend {
                crate::config::TokenBackend::Hydra(settings) => Some(Arc::new(
                    crate::hydra_provider::HydraProvider::new(settings)?,
                )),
                crate::config::TokenBackend::SelfIssued => None,
            },
        });
        if let Some((email, password)) = &config.bootstrap {
            crate::bootstrap::admin(&state, email, password, bootstrap_hash).await?;
        }
        Ok(state)
    }

    /// The access token and refresh token of a session. Sessions with one `token_id` (one
    /// refresh token presented concurrently within the grace window) get one answer: the
    /// first request mints, the others wait for it and reuse it.
    pub fn tokens(&self, session: &Session) -> Result<TokenResponse, MintError> {
        let now = Instant::now();
        let slot = {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() >= 10_000 {
                recent.retain(|_, (_, at)| now.duration_since(*at) <= self.grace);
            }
            match recent.get(&session.token_id) {
                Some((slot, at)) if now.duration_since(*at) <= self.grace => Arc::clone(slot),
                _ => {
                    let slot = Arc::new(Mutex::new(None));
                    if recent.len() < 10_000 {
                        recent.insert(session.token_id.clone(), (Arc::clone(&slot), now));
                    }
                    slot
                }
            }
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(answer) = &*slot {
            return Ok(answer.clone());
        }
        let answer = self.mint(session)?;
        *slot = Some(answer.clone());
        Ok(answer)
    }

    fn mint(&self, session: &Session) -> Result<TokenResponse, MintError> {
        let c = &session.claims;
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(c.sub));
        claims.insert(
            "aud".into(),
            if self.audience.len() == 1 {
                json!(self.audience[0])
            } else {
                json!(self.audience)
            },
        );
        claims.insert("tenant".into(), json!(c.tenant));
        claims.insert("roles".into(), json!(c.roles));
        claims.insert("permissions".into(), json!(c.permissions));
        claims.insert("acr".into(), json!(c.acr));
        claims.insert("amr".into(), json!(c.amr));
        claims.insert("sid".into(), json!(c.sid));
        let started = Instant::now();
        let minted = self.issuer.mint(claims, self.access_ttl).map_err(|e| {
            tracing::error!(error = %e, "minting failed");
            MintError
        })?;
        metrics::histogram!("iam_api_token_issuance_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(TokenResponse {
            access_token: minted.token.secret().clone(),
            token_type: "Bearer",
            expires_in: self.access_ttl.as_secs(),
            refresh_token: session.refresh_token.secret().clone(),
        })
    }
}

/// The refresh-successor key: HMAC of the key-encryption key, so every instance of a
/// deployment derives the same one.
fn refresh_secret(config: &Config) -> Secret<Vec<u8>> {
    use hmac::{Hmac, Mac as _};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(config.kek.to_base64().secret().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(b"iam-api refresh successor v1");
    Secret::new(mac.finalize().into_bytes().to_vec())
}

/// The issuer's own JWKS as a key source for this service's bearer tokens, re-read from the
/// ring every few seconds and on an unknown `kid`.
pub struct OwnKeys {
    issuer: Issuer,
    cached: RwLock<(Instant, Arc<JwkSet>)>,
}

impl std::fmt::Debug for OwnKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnKeys").finish_non_exhaustive()
    }
}

impl OwnKeys {
    fn new(issuer: Issuer) -> Self {
        let set = Self::read(&issuer).unwrap_or_else(|| Arc::new(JwkSet::new()));
        Self {
            issuer,
            cached: RwLock::new((Instant::now(), set)),
        }
    }

    fn read(issuer: &Issuer) -> Option<Arc<JwkSet>> {
        JwkSet::from_json(issuer.jwks().to_string().as_bytes())
            .ok()
            .map(Arc::new)
    }

    fn refresh(&self) -> Option<Arc<JwkSet>> {
        let set = Self::read(&self.issuer)?;
        *self.cached.write().unwrap_or_else(|p| p.into_inner()) = (Instant::now(), set.clone());
        Some(set)
    }
}

impl KeySource for OwnKeys {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        let set = self
            .refresh()
            .ok_or_else(|| KeySourceError::new("the issuer's key set does not parse"));
        Box::pin(std::future::ready(set))
    }

    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        let (at, set) = &*self.cached.read().unwrap_or_else(|p| p.into_inner());
        (at.elapsed() < Duration::from_secs(5)).then(|| set.clone())
    }

    fn keys_after_unknown_kid<'a>(
        &'a self,
        _kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        Box::pin(std::future::ready(Ok(self.refresh())))
    }
}

/// The OpenID discovery document's extra fields.
pub fn discovery_extra(issuer: &str) -> Map<String, Value> {
    let mut m = Map::new();
    // OIDC client libraries (openidconnect, which iam-client's discovery uses) require an
    // authorization endpoint: the headless login endpoint stands in (JSON, no redirects).
    m.insert(
        "authorization_endpoint".into(),
        json!(format!("{issuer}/auth/login")),
    );
    m.insert(
        "token_endpoint".into(),
        json!(format!("{issuer}/auth/refresh")),
    );
    m.insert(
        "grant_types_supported".into(),
        json!(["password", "refresh_token"]),
    );
    m.insert("acr_values_supported".into(), json!(["pwd", "mfa"]));
    m.insert(
        "claims_supported".into(),
        json!([
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "tenant",
            "roles",
            "permissions",
            "acr",
            "amr",
            "sid"
        ]),
    );
    m
}
