//! The proxy port's transport settings that Oathkeeper's config file has no key for, read
//! from the environment (prefix `ACCESS_PROXY_`):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `REQUEST_BODY_LIMIT` | 1048576 | bytes of a request body read for a rule that needs it (`remote` authorizer); more is 413 |
//! | `REQUEST_BODY_TIMEOUT` | 10 s | wait for such a body; longer is 408 |
//! | `UPSTREAM_CA_FILE` | none | PEM file of CA certificates trusted for `https://` upstreams, besides the system roots |
//!
//! ```
//! let env = iam_service::Env::with_lookup("ACCESS_PROXY_", |name| {
//!     (name == "ACCESS_PROXY_REQUEST_BODY_LIMIT").then(|| "4096".to_owned())
//! });
//! let settings = access_proxy::transport::TransportSettings::from_env(&env).unwrap();
//! assert_eq!(settings.body_limits.max_bytes, 4096);
//! ```
//!
//! # Caveats
//! - Bodies of requests whose rule does not read them are streamed upstream unread and
//!   unbounded here (bound them in front, or upstream).
//! - Upstreams are spoken to in HTTP/1.1, over TLS for `https://` (no client certificates).
use iam_proxy::proxy::{BodyLimits, UpstreamTls};
use iam_service::{ConfigError, Env};

/// Transport settings of the proxy and decisions ports.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// Limits on bodies read for rules that need them.
    pub body_limits: BodyLimits,
    /// The roots `https://` upstreams are checked against.
    pub upstream_tls: UpstreamTls,
}

impl TransportSettings {
    /// Read the settings from the environment.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = BodyLimits::default();
        let max_bytes = env.parse_or("REQUEST_BODY_LIMIT", defaults.max_bytes)?;
        if max_bytes == 0 {
            return Err(ConfigError::invalid(
                env.name("REQUEST_BODY_LIMIT"),
                "must be at least 1 byte",
            ));
        }
        let invalid_tls = |e: iam_proxy::proxy::UpstreamTlsError| {
            ConfigError::invalid(env.name("UPSTREAM_CA_FILE"), e.to_string())
        };
        let mut upstream_tls = UpstreamTls::system_roots().map_err(invalid_tls)?;
        if let Some(path) = env.get("UPSTREAM_CA_FILE") {
            let pem = std::fs::read(&path).map_err(|e| {
                ConfigError::invalid(env.name("UPSTREAM_CA_FILE"), format!("{path}: {e}"))
            })?;
            upstream_tls = upstream_tls.with_extra_ca_pem(&pem).map_err(invalid_tls)?;
        }
        Ok(Self {
            body_limits: BodyLimits {
                max_bytes,
                timeout: env.seconds("REQUEST_BODY_TIMEOUT", defaults.timeout)?,
            },
            upstream_tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_pem(name: &str) -> Option<String> {
        (name == "ACCESS_PROXY_UPSTREAM_CA_FILE").then(|| "Cargo.toml".to_owned())
    }

    fn missing(name: &str) -> Option<String> {
        (name == "ACCESS_PROXY_UPSTREAM_CA_FILE").then(|| "/nonexistent/ca.pem".to_owned())
    }

    fn zero_limit(name: &str) -> Option<String> {
        (name == "ACCESS_PROXY_REQUEST_BODY_LIMIT").then(|| "0".to_owned())
    }

    #[test]
    fn a_ca_file_without_certificates_or_missing_is_a_config_error_naming_the_variable() {
        for lookup in [not_pem as fn(&str) -> Option<String>, missing] {
            let e = TransportSettings::from_env(&Env::with_lookup("ACCESS_PROXY_", lookup))
                .unwrap_err();
            assert_eq!(e.var(), "ACCESS_PROXY_UPSTREAM_CA_FILE", "{e}");
        }
    }

    #[test]
    fn a_zero_body_limit_is_refused() {
        let e = TransportSettings::from_env(&Env::with_lookup("ACCESS_PROXY_", zero_limit))
            .unwrap_err();
        assert_eq!(e.var(), "ACCESS_PROXY_REQUEST_BODY_LIMIT");
    }
}
