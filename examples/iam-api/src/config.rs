//! Configuration from the environment (`IAM_API_*`).
use iam_identity::hashing::HashingConfig;
use iam_issuer::KeyEncryptionKey;
use iam_service::client_ip::TrustedProxies;
use iam_service::{ConfigError, Env};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every setting, read once at start.
pub struct Config {
    /// `IAM_API_LISTEN` (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `IAM_API_METRICS_LISTEN`: serve `/metrics` there only.
    pub metrics_listen: Option<SocketAddr>,
    /// `IAM_API_DATA_DIR` (default `./iam-data`): the SQLite file and the generated
    /// key-encryption key.
    pub data_dir: PathBuf,
    /// `IAM_API_DATABASE_URL` (default SQLite `{data_dir}/iam.db`).
    pub database_url: String,
    /// `IAM_API_REDIS_URL`: share the limiter and MFA challenges.
    pub redis_url: Option<String>,
    /// `IAM_API_ISSUER` (default `http://` + the listen address).
    pub issuer: String,
    /// `IAM_API_AUDIENCE` (comma-separated; default `iam-api`).
    pub audience: Vec<String>,
    /// The key-encryption key (`IAM_API_KEY_ENCRYPTION_KEY`, base64, or generated into
    /// `{data_dir}/key-encryption-key` outside production).
    pub kek: KeyEncryptionKey,
    /// argon2id and pool: `IAM_API_ARGON2_MEMORY_KIB`, `IAM_API_ARGON2_ITERATIONS`,
    /// `IAM_API_ARGON2_PARALLELISM`, `IAM_API_HASH_WORKERS`, `IAM_API_HASH_QUEUE`.
    pub hashing: HashingConfig,
    /// `IAM_API_ACCESS_TOKEN_TTL_SECONDS` (default 600).
    pub access_ttl: Duration,
    /// `IAM_API_REFRESH_TOKEN_TTL_SECONDS`: the family's absolute lifetime (default 30 days).
    pub refresh_ttl: Duration,
    /// `IAM_API_REFRESH_GRACE_SECONDS` (default 10).
    pub refresh_grace: Duration,
    /// `IAM_API_MIN_PASSWORD_LENGTH` (default 12).
    pub min_password_chars: usize,
    /// `IAM_API_IP_ATTEMPTS_PER_MINUTE` on `/auth/*` per client IP (default 10).
    pub ip_attempts_per_minute: u32,
    /// `IAM_API_TRUSTED_PROXIES`: CIDRs whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// `IAM_API_PLATFORM_TENANT` (default `default`): its `iam:admin` holders administer every
    /// tenant.
    pub platform_tenant: String,
    /// `IAM_API_BOOTSTRAP_ADMIN_EMAIL` + `IAM_API_BOOTSTRAP_ADMIN_PASSWORD`.
    pub bootstrap: Option<(String, iam_core::Secret)>,
    /// `IAM_API_TOKEN_BACKEND`: `self` (default) or `hydra`.
    pub token_backend: TokenBackend,
}

/// Who issues the OAuth2 tokens of the users' apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenBackend {
    /// The IAM API mints its own tokens (`IAM_API_TOKEN_BACKEND=self`, the default).
    SelfIssued,
    /// Ory Hydra issues them; the IAM API is its login and consent provider
    /// (`IAM_API_TOKEN_BACKEND=hydra`; see [`crate::hydra_provider`]).
    Hydra(crate::hydra_provider::HydraSettings),
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("data_dir", &self.data_dir)
            .field("hashing", &self.hashing)
            .finish_non_exhaustive()
    }
}

/// Where the key-encryption key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KekSource {
    /// `IAM_API_KEY_ENCRYPTION_KEY`.
    Environment,
    /// Generated now into the data directory.
    Generated,
    /// Read from the data directory (generated at an earlier start).
    File,
}

impl Config {
    /// Read `IAM_API_*` (and nothing else). Also returns where the KEK came from, so the
    /// binary can warn.
    pub fn from_env() -> Result<(Self, KekSource), ConfigError> {
        Self::from(&Env::new("IAM_API_"))
    }

    /// Read the settings through `env` (tests pass a lookup function).
    pub fn from(env: &Env) -> Result<(Self, KekSource), ConfigError> {
        let listen = env.socket_addr("LISTEN", "127.0.0.1:8080")?;
        let data_dir = PathBuf::from(env.get("DATA_DIR").unwrap_or_else(|| "./iam-data".into()));
        let database_url = env
            .get("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}/iam.db?mode=rwc", data_dir.display()));
        let production = env.get("ENV").as_deref() == Some("production");
        let (kek, source) = match env.get("KEY_ENCRYPTION_KEY") {
            Some(text) => (
                KeyEncryptionKey::from_base64(text.trim()).map_err(|_| {
                    ConfigError::invalid(env.name("KEY_ENCRYPTION_KEY"), "must be 32 bytes, base64")
                })?,
                KekSource::Environment,
            ),
            None if production => {
                return Err(ConfigError::invalid(
                    env.name("KEY_ENCRYPTION_KEY"),
                    "required when IAM_API_ENV=production",
                ))
            }
            None => load_or_create_kek(&data_dir.join("key-encryption-key"))
                .map_err(|e| ConfigError::invalid(env.name("KEY_ENCRYPTION_KEY"), e))?,
        };
        let defaults = HashingConfig::default();
        let workers = env.parse_or("HASH_WORKERS", defaults.workers)?;
        let hashing = HashingConfig {
            memory_kib: env.parse_or("ARGON2_MEMORY_KIB", defaults.memory_kib)?,
            iterations: env.parse_or("ARGON2_ITERATIONS", defaults.iterations)?,
            parallelism: env.parse_or("ARGON2_PARALLELISM", defaults.parallelism)?,
            workers,
            queue: env.parse_or("HASH_QUEUE", workers * 16)?,
            retry_after: Duration::from_secs(1),
        };
        if hashing.workers == 0 {
            return Err(ConfigError::invalid(
                env.name("HASH_WORKERS"),
                "must be at least 1",
            ));
        }
        let audience = match env.list("AUDIENCE") {
            a if a.is_empty() => vec!["iam-api".to_owned()],
            a => a,
        };
        let bootstrap = match (
            env.get("BOOTSTRAP_ADMIN_EMAIL"),
            env.get("BOOTSTRAP_ADMIN_PASSWORD"),
        ) {
            (Some(e), Some(p)) => Some((e, iam_core::Secret::new(p))),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    var: env.name("BOOTSTRAP_ADMIN_PASSWORD"),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    var: env.name("BOOTSTRAP_ADMIN_EMAIL"),
                })
            }
        };
        let trusted_proxies =
            TrustedProxies::parse(&env.get("TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| ConfigError::invalid(env.name("TRUSTED_PROXIES"), e.to_string()))?;
        let issuer = env
            .get("ISSUER")
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(ConfigError::invalid(
                env.name("ISSUER"),
                "must be an http(s) URL",
            ));
        }
        Ok((
            Self {
                listen,
                metrics_listen: env.socket_addr_opt("METRICS_LISTEN")?,
                data_dir,
                database_url,
                redis_url: env.get("REDIS_URL"),
                issuer: issuer.trim_end_matches('/').to_owned(),
                audience,
                kek,
                hashing,
                access_ttl: env.seconds("ACCESS_TOKEN_TTL_SECONDS", Duration::from_secs(600))?,
                refresh_ttl: env.seconds(
                    "REFRESH_TOKEN_TTL_SECONDS",
                    Duration::from_secs(30 * 86_400),
                )?,
                refresh_grace: env.seconds("REFRESH_GRACE_SECONDS", Duration::from_secs(10))?,
                min_password_chars: env.parse_or("MIN_PASSWORD_LENGTH", 12)?,
                ip_attempts_per_minute: env.parse_or("IP_ATTEMPTS_PER_MINUTE", 10)?,
                trusted_proxies,
                platform_tenant: env
                    .get("PLATFORM_TENANT")
                    .unwrap_or_else(|| "default".into()),
                bootstrap,
                token_backend: crate::hydra_provider::HydraSettings::from_env(env)?,
            },
            source,
        ))
    }
}

/// Read the KEK file, or create it (mode 0600, never overwritten).
fn load_or_create_kek(path: &Path) -> Result<(KeyEncryptionKey, KekSource), String> {
    match std::fs::read_to_string(path) {
        Ok(text) => KeyEncryptionKey::from_base64(text.trim())
            .map(|k| (k, KekSource::File))
            .map_err(|_| format!("{} does not hold a base64 32-byte key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let kek = KeyEncryptionKey::generate();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            std::io::Write::write_all(&mut file, kek.to_base64().secret().as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok((kek, KekSource::Generated))
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_persisted_with_mode_0600_and_read_back() {
        let dir = iam_testkit::scratch::TempDir::new();
        let path = dir.path().join("sub/kek");
        let (a, src) = load_or_create_kek(&path).unwrap();
        assert_eq!(src, KekSource::Generated);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (b, src) = load_or_create_kek(&path).unwrap();
        assert_eq!(src, KekSource::File);
        assert_eq!(a.id(), b.id());
        std::fs::write(&path, "garbage").unwrap();
        assert!(load_or_create_kek(&path).is_err());
    }
}
