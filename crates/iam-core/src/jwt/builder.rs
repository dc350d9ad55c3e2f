//! Configuring a [`Validator`]: the builder, its checks, and the policy it produces.
use super::cache::TokenCache;
use super::{Algorithm, ClaimNames, ConfigError, TokenType, Validator};
use crate::clock::Clock;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Policy {
    pub(super) issuer: String,
    pub(super) audiences: Vec<String>,
    pub(super) any_audience: bool,
    pub(super) leeway: i64,
    pub(super) token_type: TokenType,
    pub(super) required: Vec<String>,
    pub(super) max_age: Option<i64>,
    pub(super) max_token_len: usize,
    pub(super) max_depth: usize,
    pub(super) claim_names: ClaimNames,
    pub(super) algorithms: Vec<Algorithm>,
}

/// Builds a [`Validator`].
pub struct ValidatorBuilder {
    issuer: String,
    audiences: Vec<String>,
    any_audience: bool,
    leeway: Duration,
    token_type: TokenType,
    required: Vec<String>,
    max_age: Option<Duration>,
    max_token_len: usize,
    max_depth: usize,
    claim_names: ClaimNames,
    algorithms: Vec<Algorithm>,
    algorithms_set: bool,
    cache_capacity: usize,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for ValidatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl ValidatorBuilder {
    /// Accept tokens whose `aud` names this audience (call again for more; any one matches).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }
    /// Clock skew tolerated on `exp`, `nbf`, `iat` (default 60 s, at most 1 h).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
    /// Which `typ` values are accepted (default [`TokenType::Jwt`]).
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }
    /// Accept only these signing algorithms, on top of each key's own binding (a key is
    /// always used with the one algorithm its type and `alg` allow). By default every
    /// supported algorithm is accepted for a key that fits it. Calling this with an empty
    /// list is a configuration error.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self.algorithms_set = true;
        self
    }
    /// Refuse tokens without this claim (at the top level).
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.required.push(name.into());
        self
    }
    /// Refuse tokens whose `iat` is older than this (and tokens without `iat`).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }
    /// Longest token accepted, in bytes (default 16 KiB).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }
    /// Deepest JSON nesting in header and payload (default 32).
    pub fn max_json_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }
    /// Claim names that feed the principal.
    pub fn claim_names(mut self, names: ClaimNames) -> Self {
        self.claim_names = names;
        self
    }
    /// Entries in the validated-token cache (default 10 000; 0 turns the cache off).
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.cache_capacity = entries;
        self
    }
    /// The clock (default: the system clock; required on wasm32-unknown-unknown).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }
    /// Settings that weaken validation. Each one is a decision to make on purpose.
    pub fn dangerous(self) -> DangerousValidatorBuilder {
        DangerousValidatorBuilder(self)
    }

    /// Check the configuration and build.
    pub fn build(self) -> Result<Validator, ConfigError> {
        if self.issuer.is_empty() {
            return Err(ConfigError::EmptyIssuer);
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::EmptyAudience);
        }
        if self.audiences.is_empty() && !self.any_audience {
            return Err(ConfigError::NoAudience);
        }
        if self.leeway > Duration::from_secs(3600) {
            return Err(ConfigError::LeewayTooLarge);
        }
        if !(256..=1024 * 1024).contains(&self.max_token_len) {
            return Err(ConfigError::BadTokenLimit);
        }
        if !(2..=64).contains(&self.max_depth) {
            return Err(ConfigError::BadDepthLimit);
        }
        if self.algorithms_set && self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithm);
        }
        let clock = match self.clock {
            Some(c) => c,
            None => crate::clock::default_clock().ok_or(ConfigError::ClockRequired)?,
        };
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Ok(Validator {
            policy: Arc::new(Policy {
                issuer: self.issuer,
                audiences: self.audiences,
                any_audience: self.any_audience,
                leeway: secs(self.leeway),
                token_type: self.token_type,
                required: self.required,
                max_age: self.max_age.map(secs),
                max_token_len: self.max_token_len,
                max_depth: self.max_depth,
                claim_names: self.claim_names,
                algorithms: self.algorithms,
            }),
            cache: (self.cache_capacity > 0)
                .then(|| Arc::new(TokenCache::new(self.cache_capacity))),
            clock,
        })
    }
}

/// Settings that weaken validation; see [`ValidatorBuilder::dangerous`].
#[derive(Debug)]
pub struct DangerousValidatorBuilder(ValidatorBuilder);

impl DangerousValidatorBuilder {
    /// Accept tokens for any audience (or none). Only for tokens whose audience is checked
    /// elsewhere: a token minted for another service would otherwise be accepted here.
    pub fn accept_any_audience(mut self) -> ValidatorBuilder {
        self.0.any_audience = true;
        self.0
    }
}

impl Validator {
    /// Start configuring a validator for tokens from `issuer` (compared byte for byte).
    pub fn builder(issuer: impl Into<String>) -> ValidatorBuilder {
        ValidatorBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            any_audience: false,
            leeway: Duration::from_secs(60),
            token_type: TokenType::Jwt,
            required: Vec::new(),
            max_age: None,
            max_token_len: 16 * 1024,
            max_depth: 32,
            claim_names: ClaimNames::default(),
            algorithms: Vec::new(),
            algorithms_set: false,
            cache_capacity: 10_000,
            clock: None,
        }
    }
}
