//! Rate-limit tiers: per client address, per authenticated subject, and a stricter one for
//! authentication endpoints, shared through Redis when configured.
//!
//! Configured in the `rate_limit` section of the config file (Oathkeeper has no such key;
//! it is not warned about), each setting overridable from the environment
//! (prefix `ACCESS_PROXY_`). No section and no variable: no limits (Oathkeeper has none).
//!
//! | file key | variable | meaning |
//! |---|---|---|
//! | `rate_limit.per_client_ip` | `RATE_LIMIT_PER_CLIENT_IP` | `COUNT/PERIOD` per client address, before matching |
//! | `rate_limit.per_subject` | `RATE_LIMIT_PER_SUBJECT` | per authenticated subject, after authentication |
//! | `rate_limit.auth_endpoints.limit` | `RATE_LIMIT_AUTH_ENDPOINTS` | per client address on the rules below |
//! | `rate_limit.auth_endpoints.rules` | `RATE_LIMIT_AUTH_RULES` | rule ids (comma-separated in the variable) |
//! | `rate_limit.auth_endpoints.urls` | `RATE_LIMIT_AUTH_URLS` | Oathkeeper `glob` patterns of the canonical URL |
//! | `rate_limit.redis_url` | `RATE_LIMIT_REDIS_URL` | share the counts between instances |
//! | `rate_limit.redis_prefix` | `RATE_LIMIT_REDIS_PREFIX` | key prefix in Redis (`access-proxy:rl:`) |
//! | `rate_limit.max_keys` | `RATE_LIMIT_MAX_KEYS` | in-process keys per tier (100 000) |
//!
//! `COUNT/PERIOD` is e.g. `600/1m`, `10/30s`, `5/s`, `1000/1h`: `COUNT` requests per
//! `PERIOD`, in bursts of up to `COUNT` (GCRA, iam-service's limiters).
//!
//! ```
//! use access_proxy::ratelimit::RateLimitConfig;
//! let doc = serde_json::json!({"rate_limit": {
//!     "per_client_ip": "600/1m", "per_subject": "1200/1m",
//!     "auth_endpoints": {"limit": "10/1m", "rules": ["login"], "urls": ["http://app.example/oauth2/<**>"]}}});
//! let config = RateLimitConfig::from_document(&doc, &iam_service::Env::new("ACCESS_PROXY_")).unwrap();
//! assert!(config.is_enabled());
//! ```
//!
//! # Caveats
//! - The client address is the canonical one: the TCP peer, or what a chain of trusted
//!   proxies (`ACCESS_PROXY_TRUSTED_PROXIES`) told. An IPv6 client is counted per `/64`, the
//!   smallest block a host is usually given, so rotating addresses inside it does not escape.
//! - Anonymous requests (`noop`, `anonymous`) fall under the client-address tier only; the
//!   subject tier counts requests whose authenticator produced a principal, keyed by a hash
//!   of the subject (a key never holds the subject itself, and has a fixed size).
//! - The auth-endpoint tier is checked after matching and before any authenticator runs,
//!   in addition to the client-address tier.
//! - Redis down or slower than 250 ms: each instance limits in process (limits then hold per
//!   instance, never switched off; `iam_ratelimit_store_errors_total` counts it). A limiter is
//!   not an authentication dependency, so this never answers 503.
//! - In process each tier holds at most `max_keys` keys; past that (a flood of distinct
//!   addresses) the newcomers share one overflow budget (see iam-service's `ratelimit`).
use iam_core::Secret;
use iam_proxy::admission::{Admission, AdmissionFuture, ClientFacts, Refusal, RuleFacts};
use iam_proxy::pipeline::Session;
use iam_proxy::rules::{CompiledPattern, MatchingStrategy};
use iam_service::ratelimit::{
    LocalRateLimiter, RateDecision, RateLimiter as _, RateQuota, RedisRateLimiter,
};
use iam_service::{ConfigError, Env};
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;

/// The `rate_limit` settings.
#[derive(Debug, Clone, Default)]
pub struct RateLimitConfig {
    /// Per client address, before matching.
    pub per_client_ip: Option<RateQuota>,
    /// Per authenticated subject, after authentication.
    pub per_subject: Option<RateQuota>,
    /// Per client address on authentication endpoints.
    pub auth_endpoints: Option<RateQuota>,
    /// Rule ids that are authentication endpoints.
    pub auth_rules: Vec<String>,
    /// `glob` patterns of authentication endpoints' canonical URLs.
    pub auth_urls: Vec<String>,
    /// Redis URL (may hold a password).
    pub redis_url: Option<Secret>,
    /// Key prefix in Redis.
    pub redis_prefix: String,
    /// In-process keys per tier.
    pub max_keys: usize,
}

/// Parse `COUNT/PERIOD` (`600/1m`, `10/30s`, `5/s`, `1000/1h`).
pub fn parse_quota(text: &str) -> Option<RateQuota> {
    let (count, period) = text.trim().split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
    let period = period.trim();
    let unit_at = period.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = period.split_at(unit_at);
    let n: u64 = if n.is_empty() { 1 } else { n.parse().ok()? };
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3_600)?,
        _ => return None,
    };
    (secs > 0).then(|| RateQuota::new(count, Duration::from_secs(secs)))
}

/// A list from the environment (comma-separated) or the document (an array of strings).
fn list(env: &Env, var: &str, doc: Option<&Value>) -> Result<Vec<String>, ConfigError> {
    if let Some(v) = env.get(var) {
        return Ok(v
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect());
    }
    match doc {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ConfigError::invalid(env.name(var), "a list of strings"))
            })
            .collect(),
        Some(_) => Err(ConfigError::invalid(env.name(var), "a list of strings")),
    }
}

impl RateLimitConfig {
    /// Read the `rate_limit` section of `doc` and the environment overrides.
    pub fn from_document(doc: &Value, env: &Env) -> Result<Self, ConfigError> {
        let section = doc.get("rate_limit").unwrap_or(&Value::Null);
        if !(section.is_null() || section.is_object()) {
            return Err(ConfigError::invalid("rate_limit", "must be a map"));
        }
        let text = |var: &str, ptr: &str| -> Result<Option<String>, ConfigError> {
            if let Some(v) = env.get(var) {
                return Ok(Some(v));
            }
            match section.pointer(ptr) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(ConfigError::invalid(env.name(var), "must be a string")),
            }
        };
        let quota = |var: &str, ptr: &str| -> Result<Option<RateQuota>, ConfigError> {
            text(var, ptr)?
                .map(|t| {
                    parse_quota(&t).ok_or_else(|| {
                        ConfigError::invalid(env.name(var), "COUNT/PERIOD, e.g. 600/1m or 10/30s")
                    })
                })
                .transpose()
        };
        let auth_urls = list(
            env,
            "RATE_LIMIT_AUTH_URLS",
            section.pointer("/auth_endpoints/urls"),
        )?;
        for url in &auth_urls {
            CompiledPattern::compile(url, MatchingStrategy::Glob).map_err(|e| {
                ConfigError::invalid(env.name("RATE_LIMIT_AUTH_URLS"), e.to_string())
            })?;
        }
        let max_keys = match text("RATE_LIMIT_MAX_KEYS", "/max_keys")? {
            None => 100_000,
            Some(n) => n
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ConfigError::invalid(env.name("RATE_LIMIT_MAX_KEYS"), "a positive number")
                })?,
        };
        let redis_url = text("RATE_LIMIT_REDIS_URL", "/redis_url")?.map(Secret::new);
        if let Some(url) = &redis_url {
            redis_url_check(url.secret()).map_err(|_| {
                ConfigError::invalid(env.name("RATE_LIMIT_REDIS_URL"), "not a Redis URL")
            })?;
        }
        Ok(Self {
            per_client_ip: quota("RATE_LIMIT_PER_CLIENT_IP", "/per_client_ip")?,
            per_subject: quota("RATE_LIMIT_PER_SUBJECT", "/per_subject")?,
            auth_endpoints: quota("RATE_LIMIT_AUTH_ENDPOINTS", "/auth_endpoints/limit")?,
            auth_rules: list(
                env,
                "RATE_LIMIT_AUTH_RULES",
                section.pointer("/auth_endpoints/rules"),
            )?,
            auth_urls,
            redis_url,
            redis_prefix: text("RATE_LIMIT_REDIS_PREFIX", "/redis_prefix")?
                .unwrap_or_else(|| "access-proxy:rl:".to_owned()),
            max_keys,
        })
    }

    /// Whether any tier is set.
    pub fn is_enabled(&self) -> bool {
        self.per_client_ip.is_some() || self.per_subject.is_some() || self.auth_endpoints.is_some()
    }
}

fn redis_url_check(url: &str) -> Result<(), iam_service::ratelimit::RedisUrlError> {
    RedisRateLimiter::new(url, "", RateQuota::per_second(1)).map(|_| ())
}

/// Where a tier counts.
enum Store {
    Local(LocalRateLimiter),
    Shared(Box<RedisRateLimiter>),
}

/// One tier: its limiter and name.
struct Tier {
    name: &'static str,
    store: Store,
}

impl Tier {
    fn new(name: &'static str, quota: RateQuota, config: &RateLimitConfig) -> Self {
        let local = || Store::Local(LocalRateLimiter::with_max_keys(quota, config.max_keys));
        let store = match &config.redis_url {
            Some(url) => match RedisRateLimiter::new(
                url.secret(),
                &format!("{}{name}:", config.redis_prefix),
                quota,
            ) {
                Ok(r) => Store::Shared(Box::new(r)),
                // Checked when the configuration was read; should it still fail, limit in
                // process rather than not at all.
                Err(_) => local(),
            },
            None => local(),
        };
        Self { name, store }
    }

    async fn check(&self, key: &str) -> Result<(), Refusal> {
        let decision = match &self.store {
            Store::Local(l) => l.check_now(key),
            Store::Shared(r) => r.check(key).await,
        };
        match decision {
            RateDecision::Allowed => Ok(()),
            RateDecision::Limited { retry_after } => {
                metrics::counter!("access_proxy_rate_limited_total", "tier" => self.name)
                    .increment(1);
                Err(Refusal::new(self.name, retry_after))
            }
        }
    }

    fn keys_held(&self) -> usize {
        match &self.store {
            Store::Local(l) => l.len(),
            Store::Shared(_) => 0,
        }
    }
}

/// The tiers as an [`Admission`] for the engine.
pub struct RateLimitTiers {
    client_ip: Option<Tier>,
    subject: Option<Tier>,
    auth: Option<Tier>,
    auth_rules: Vec<String>,
    auth_urls: Vec<CompiledPattern>,
}

impl std::fmt::Debug for RateLimitTiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitTiers")
            .field("client_ip", &self.client_ip.is_some())
            .field("subject", &self.subject.is_some())
            .field("auth_endpoints", &self.auth.is_some())
            .field("auth_rules", &self.auth_rules)
            .finish_non_exhaustive()
    }
}

/// The key of a client address: IPv4 as is, IPv6 by its `/64`.
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The key of a subject: a fixed-size hash of it.
fn subject_key(subject: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(subject.as_bytes());
    let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sub:{hex}")
}

impl RateLimitTiers {
    /// The tiers `config` sets (`None` when it sets none).
    pub fn from_config(config: &RateLimitConfig) -> Option<Self> {
        if !config.is_enabled() {
            return None;
        }
        let auth_urls = config
            .auth_urls
            .iter()
            .filter_map(|u| CompiledPattern::compile(u, MatchingStrategy::Glob).ok())
            .collect();
        Some(Self {
            client_ip: config
                .per_client_ip
                .map(|q| Tier::new("client_ip", q, config)),
            subject: config.per_subject.map(|q| Tier::new("subject", q, config)),
            auth: config
                .auth_endpoints
                .map(|q| Tier::new("auth_endpoint", q, config)),
            auth_rules: config.auth_rules.clone(),
            auth_urls,
        })
    }

    /// Keys the in-process tiers hold now (Redis-shared tiers count none here).
    pub fn keys_held(&self) -> usize {
        [&self.client_ip, &self.subject, &self.auth]
            .into_iter()
            .flatten()
            .map(Tier::keys_held)
            .sum()
    }

    /// Whether a matched rule is an authentication endpoint.
    fn is_auth_endpoint(&self, rule: &RuleFacts<'_>) -> bool {
        self.auth_rules.iter().any(|r| r == rule.rule_id)
            || self
                .auth_urls
                .iter()
                .any(|p| p.is_match(rule.url).unwrap_or(true))
    }
}

impl Admission for RateLimitTiers {
    fn before_matching<'a>(&'a self, client: &'a ClientFacts) -> AdmissionFuture<'a> {
        Box::pin(async move {
            match &self.client_ip {
                Some(tier) => tier.check(&client_key(client.client_ip)).await,
                None => Ok(()),
            }
        })
    }

    fn before_pipeline<'a>(&'a self, rule: &'a RuleFacts<'a>) -> AdmissionFuture<'a> {
        Box::pin(async move {
            match &self.auth {
                Some(tier) if self.is_auth_endpoint(rule) => {
                    tier.check(&client_key(rule.client_ip)).await
                }
                _ => Ok(()),
            }
        })
    }

    fn after_authentication<'a>(
        &'a self,
        _rule: &'a RuleFacts<'a>,
        session: &'a Session,
    ) -> AdmissionFuture<'a> {
        Box::pin(async move {
            match &self.subject {
                Some(tier) if session.principal.is_some() => {
                    tier.check(&subject_key(&session.subject)).await
                }
                _ => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::with_lookup("ACCESS_PROXY_", |_| None)
    }

    #[test]
    fn quotas_parse_and_nonsense_is_refused() {
        assert_eq!(parse_quota("600/1m"), Some(RateQuota::per_minute(600)));
        assert_eq!(parse_quota("5/s"), Some(RateQuota::per_second(5)));
        assert_eq!(
            parse_quota("10/30s"),
            Some(RateQuota::new(10, Duration::from_secs(30)))
        );
        assert_eq!(
            parse_quota(" 1000 / 1h "),
            Some(RateQuota::new(1000, Duration::from_secs(3600)))
        );
        for bad in [
            "",
            "600",
            "0/1m",
            "-1/1m",
            "10/0s",
            "10/1d",
            "10/m1",
            "x/1m",
            "10/99999999999999999999h",
        ] {
            assert_eq!(parse_quota(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn no_section_means_no_limits_and_a_bad_setting_names_its_variable() {
        let none = RateLimitConfig::from_document(&serde_json::json!({}), &env()).unwrap();
        assert!(!none.is_enabled());
        assert!(RateLimitTiers::from_config(&none).is_none());
        let bad = serde_json::json!({"rate_limit": {"per_subject": "lots"}});
        let e = RateLimitConfig::from_document(&bad, &env()).unwrap_err();
        assert!(
            e.to_string()
                .contains("ACCESS_PROXY_RATE_LIMIT_PER_SUBJECT"),
            "{e}"
        );
        let bad = serde_json::json!({"rate_limit": {"auth_endpoints": {"urls": ["http://a/<[>"]}}});
        assert!(RateLimitConfig::from_document(&bad, &env()).is_err());
        let bad = serde_json::json!({"rate_limit": {"redis_url": "not a url"}});
        let e = RateLimitConfig::from_document(&bad, &env()).unwrap_err();
        assert!(
            !e.to_string().contains("not a url"),
            "the URL is not echoed: {e}"
        );
    }

    #[test]
    fn a_redis_password_never_shows_in_debug() {
        let doc = serde_json::json!({"rate_limit": {"per_client_ip": "1/s",
            "redis_url": "redis://:hunter2@127.0.0.1:6379/5"}});
        let config = RateLimitConfig::from_document(&doc, &env()).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64_and_mapped_ipv4_is_ipv4() {
        let a = client_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = client_key("2001:db8:1:2:ffff:1:2:3".parse().unwrap());
        let c = client_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            client_key("::ffff:203.0.113.9".parse().unwrap()),
            client_key("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn subject_keys_have_a_fixed_size_whatever_the_subject() {
        assert_eq!(
            subject_key(&"x".repeat(100_000)).len(),
            subject_key("a").len()
        );
        assert_ne!(subject_key("alice"), subject_key("bob"));
    }

    #[test]
    fn the_in_process_key_space_stays_bounded_under_a_flood_of_addresses() {
        let config = RateLimitConfig {
            per_client_ip: Some(RateQuota::per_minute(5)),
            max_keys: 1_000,
            ..RateLimitConfig::default()
        };
        let tiers = RateLimitTiers::from_config(&config).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut allowed = 0;
        rt.block_on(async {
            for i in 0..20_000u32 {
                let client = ClientFacts {
                    client_ip: IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i)),
                };
                if tiers.before_matching(&client).await.is_ok() {
                    allowed += 1;
                }
            }
        });
        assert!(tiers.keys_held() <= 1_001, "{} keys", tiers.keys_held());
        // Past the cap the newcomers share one budget (100 × 5 a minute): still limited.
        assert!(
            allowed < 2_000,
            "{allowed} of 20 000 distinct addresses passed"
        );
    }
}
