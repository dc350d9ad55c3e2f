//! Validation of compact JWS tokens and their JWT claims.
//!
//! ```
//! use iam_core::jwt::{TokenType, Validator};
//! use std::time::Duration;
//!
//! let validator = Validator::builder("https://auth.example.com/")
//!     .audience("orders-api")
//!     .leeway(Duration::from_secs(30))
//!     .token_type(TokenType::AccessToken) // RFC 9068: typ must be at+jwt
//!     .require_claim("sub")
//!     .build()
//!     .expect("valid configuration");
//! # let _ = validator;
//! ```
//!
//! The policy, with no switch that turns a check off:
//! - compact serialization only, at most 16 KiB by default (checked before any decoding),
//!   each segment strict base64url without padding, header and payload JSON objects without
//!   duplicate members and at most 32 levels deep;
//! - `alg` must be one the chosen key is bound to (see [`crate::jwks`]); `none` never; HMAC
//!   only with a secret added by [`JwkSet::insert_shared_secret`];
//! - `crit`, `b64`, `zip`, `enc` and nested tokens (`cty: JWT`) are refused; `jwk`, `jku`,
//!   `x5u`, `x5c` are ignored: keys come only from the key set;
//! - `typ`: absent, `JWT`, `at+jwt` or `application/at+jwt` (case-insensitive) by default;
//!   [`TokenType::AccessToken`] requires `at+jwt`;
//! - `exp` required; `nbf` and `iat` checked when present; leeway 60 s by default; `iss`
//!   must equal the configured issuer byte for byte; `aud` must name a configured audience.
//!
//! ## Caveats
//! - The signature is checked before the payload is decoded, so a forged token is refused
//!   as `invalid signature` even when its claims are also wrong.
//! - Valid tokens are cached (see [`ValidatorBuilder::cache_capacity`]); a cached entry is
//!   tied to its key and is ignored as soon as a key set without that key is used.
mod cache;
mod error;
mod external;
mod jws;

pub use error::{ConfigError, JwtError, JwtErrorKind};
pub use external::{EcCurve, ExternalKey, PendingSignature, Step};

use crate::claims::{ClaimError, Claims};
use crate::clock::Clock;
use crate::json;
use crate::jwks::JwkSet;
use crate::principal::{AssuranceLevel, Principal, PrincipalKind};
use cache::TokenCache;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// JWS signature algorithms iam-core can verify.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
    /// HMAC SHA-256 (only with an explicitly configured shared secret).
    HS256,
    /// HMAC SHA-384 (only with an explicitly configured shared secret).
    HS384,
    /// HMAC SHA-512 (only with an explicitly configured shared secret).
    HS512,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 12] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
        Self::HS256,
        Self::HS384,
        Self::HS512,
    ];

    /// The JOSE name (`RS256`, `EdDSA`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// Parse a JOSE name; exact and case-sensitive, as RFC 7515 requires.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }

    #[cfg(feature = "aws-lc")]
    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Self::RS256 => J::RS256,
            Self::RS384 => J::RS384,
            Self::RS512 => J::RS512,
            Self::PS256 => J::PS256,
            Self::PS384 => J::PS384,
            Self::PS512 => J::PS512,
            Self::ES256 => J::ES256,
            Self::ES384 => J::ES384,
            Self::EdDSA => J::EdDSA,
            Self::HS256 => J::HS256,
            Self::HS384 => J::HS384,
            Self::HS512 => J::HS512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The protected header of a verified JWS.
#[derive(Debug, Clone)]
pub struct JwsHeader {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
    raw: Map<String, Value>,
}

impl JwsHeader {
    fn from_map(raw: Map<String, Value>) -> Result<Self, JwtErrorKind> {
        let alg = match raw.get("alg") {
            Some(Value::String(a)) => Algorithm::parse_header(a)?,
            Some(_) => return Err(JwtErrorKind::Malformed("alg is not a string")),
            None => return Err(JwtErrorKind::Malformed("missing alg")),
        };
        for name in raw.keys() {
            if let Some(refused) = jws::refused_header(name) {
                return Err(JwtErrorKind::UnsupportedHeader(refused));
            }
        }
        let kid = match raw.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(JwtErrorKind::Malformed("kid is not a string")),
        };
        let typ = match raw.get("typ") {
            None => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(_) => return Err(JwtErrorKind::Malformed("typ is not a string")),
        };
        match raw.get("cty") {
            None => {}
            Some(Value::String(c)) if !c.eq_ignore_ascii_case("JWT") => {}
            Some(Value::String(_)) => return Err(JwtErrorKind::UnsupportedHeader("cty")),
            Some(_) => return Err(JwtErrorKind::Malformed("cty is not a string")),
        }
        Ok(Self { alg, kid, typ, raw })
    }

    /// `alg`.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
    /// `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// `typ`.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }
    /// Every header parameter as sent.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }
}

/// A JWS that verified, before any claim check: its header and payload bytes.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    /// The protected header.
    pub header: JwsHeader,
    /// The payload, decoded from base64url.
    pub payload: Vec<u8>,
}

/// Which `typ` header values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenType {
    /// Absent, `JWT`, `at+jwt` or `application/at+jwt`; anything else (`logout+jwt`,
    /// `dpop+jwt`, ...) is refused. The default.
    #[default]
    Jwt,
    /// RFC 9068 access tokens only: `at+jwt` or `application/at+jwt`.
    AccessToken,
    /// OIDC Back-Channel Logout tokens: `logout+jwt`, `application/logout+jwt`, or absent.
    LogoutToken,
}

impl TokenType {
    fn accepts(self, typ: Option<&str>) -> bool {
        let is_at = |t: &str| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        };
        match (self, typ) {
            (Self::Jwt, None) => true,
            (Self::Jwt, Some(t)) => t.eq_ignore_ascii_case("JWT") || is_at(t),
            (Self::AccessToken, Some(t)) => is_at(t),
            (Self::AccessToken, None) => false,
            (Self::LogoutToken, None) => true,
            (Self::LogoutToken, Some(t)) => {
                t.eq_ignore_ascii_case("logout+jwt")
                    || t.eq_ignore_ascii_case("application/logout+jwt")
            }
        }
    }
}

/// Names of the claims that feed a [`Principal`]. Each is looked up at the top level first,
/// then inside Hydra's `ext` object.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimNames {
    /// Tenant / organisation (default `tenant`).
    pub tenant: String,
    /// Roles: an array of strings or a space-separated string (default `roles`).
    pub roles: String,
    /// Permissions: same shapes (default `permissions`).
    pub permissions: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            tenant: "tenant".into(),
            roles: "roles".into(),
            permissions: "permissions".into(),
        }
    }
}

impl ClaimNames {
    /// Override the tenant claim name.
    pub fn tenant(mut self, name: impl Into<String>) -> Self {
        self.tenant = name.into();
        self
    }
    /// Override the roles claim name.
    pub fn roles(mut self, name: impl Into<String>) -> Self {
        self.roles = name.into();
        self
    }
    /// Override the permissions claim name.
    pub fn permissions(mut self, name: impl Into<String>) -> Self {
        self.permissions = name.into();
        self
    }
}

struct Policy {
    issuer: String,
    audiences: Vec<String>,
    any_audience: bool,
    leeway: i64,
    token_type: TokenType,
    required: Vec<String>,
    max_age: Option<i64>,
    max_token_len: usize,
    max_depth: usize,
    claim_names: ClaimNames,
    algorithms: Vec<Algorithm>,
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

/// A token that passed every check, with its principal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ValidatedToken(Arc<ValidatedInner>);

#[derive(Debug)]
struct ValidatedInner {
    header: JwsHeader,
    claims: Claims,
    principal: Principal,
}

impl ValidatedToken {
    /// The protected header.
    pub fn header(&self) -> &JwsHeader {
        &self.0.header
    }
    /// The claims.
    pub fn claims(&self) -> &Claims {
        &self.0.claims
    }
    /// The principal built from the claims.
    pub fn principal(&self) -> &Principal {
        &self.0.principal
    }
}

/// Validates tokens against a key set. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Validator {
    policy: Arc<Policy>,
    cache: Option<Arc<TokenCache>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("issuer", &self.policy.issuer)
            .field("audiences", &self.policy.audiences)
            .field("backend", &crate::backend::NAME)
            .finish_non_exhaustive()
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

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.policy.issuer
    }

    /// Validate a compact JWT: signature, header policy and claims. Returns the cached result
    /// when the same token was validated before with a key still in `keys`.
    pub fn validate(&self, token: &str, keys: &JwkSet) -> Result<ValidatedToken, JwtError> {
        let p = &*self.policy;
        if token.len() > p.max_token_len {
            return Err(JwtErrorKind::TooLarge.into());
        }
        let now = self.clock.now_unix();
        if let Some(hit) = self.cached(token, now, keys) {
            return Ok(hit);
        }
        let verified = jws::verify(token, keys, p)?;
        Ok(self.accept(verified, now, token)?)
    }

    fn cached(&self, token: &str, now: i64, keys: &JwkSet) -> Option<ValidatedToken> {
        self.cache.as_ref()?.get(token.as_bytes(), now, keys)
    }

    /// The cached validation of exactly these bytes, if any (and still good with `keys`).
    /// Only tokens that passed every check are cached, so a hit needs none of the checks
    /// again: not even the character checks of the `Authorization` header.
    pub(crate) fn cached_bytes(&self, token: &[u8], keys: &JwkSet) -> Option<ValidatedToken> {
        if token.len() > self.policy.max_token_len {
            return None;
        }
        self.cache.as_ref()?.get(token, self.clock.now_unix(), keys)
    }

    /// After the signature: the claim checks, the principal, and the cache.
    fn accept(
        &self,
        verified: jws::Verified<'_>,
        now: i64,
        token: &str,
    ) -> Result<ValidatedToken, JwtErrorKind> {
        let (verified, claims, valid_until) = self.check_verified(verified, now)?;
        let principal = build_principal(&claims, &self.policy.claim_names)?;
        let token_out = ValidatedToken(Arc::new(ValidatedInner {
            header: verified.header,
            claims,
            principal,
        }));
        if let Some(cache) = &self.cache {
            if valid_until > now {
                cache.insert(token, token_out.clone(), valid_until, verified.fingerprint);
            }
        }
        Ok(token_out)
    }

    /// Every check of [`validate`](Self::validate) (signature, header policy, claims) but no
    /// principal and no cache: for JWTs that are not access tokens, such as back-channel
    /// logout tokens, whose subject rules differ.
    pub fn validate_claims(
        &self,
        token: &str,
        keys: &JwkSet,
    ) -> Result<(JwsHeader, Claims), JwtError> {
        if token.len() > self.policy.max_token_len {
            return Err(JwtErrorKind::TooLarge.into());
        }
        let (verified, claims, _) = self.verify_and_check(token, keys, self.clock.now_unix())?;
        Ok((verified.header, claims))
    }

    fn verify_and_check<'t>(
        &self,
        token: &'t str,
        keys: &JwkSet,
        now: i64,
    ) -> Result<(jws::Verified<'t>, Claims, i64), JwtErrorKind> {
        let verified = jws::verify(token, keys, &self.policy)?;
        self.check_verified(verified, now)
    }

    /// The checks after the signature: `typ`, then the payload and its claims.
    fn check_verified<'t>(
        &self,
        verified: jws::Verified<'t>,
        now: i64,
    ) -> Result<(jws::Verified<'t>, Claims, i64), JwtErrorKind> {
        let p = &*self.policy;
        if !p.token_type.accepts(verified.header.typ()) {
            return Err(JwtErrorKind::WrongType);
        }
        let payload = jws::decode_payload(verified.payload_b64)?;
        let map = json::parse_object(&payload, p.max_depth)
            .map_err(|e| jws::json_error(e, "payload is not a JSON object"))?;
        let claims = Claims::from_map(map).map_err(|e| match e {
            ClaimError::Missing(c) => JwtErrorKind::MissingClaim(c.to_owned()),
            ClaimError::Invalid(c) => JwtErrorKind::InvalidClaim(c),
        })?;
        let valid_until = self.check_claims(&claims, now)?;
        Ok((verified, claims, valid_until))
    }

    /// Verify only the JWS layer (structure, header policy, key choice, signature), with no
    /// claim checks and no cache: for payloads that are not JWT claims.
    pub fn verify_signature(&self, token: &str, keys: &JwkSet) -> Result<VerifiedJws, JwtError> {
        let p = &*self.policy;
        let verified = jws::verify(token, keys, p)?;
        let payload = jws::decode_payload(verified.payload_b64)?;
        Ok(VerifiedJws {
            header: verified.header,
            payload,
        })
    }

    /// Number of tokens in the validated-token cache.
    pub fn cached_tokens(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// Forget every cached validation.
    pub fn clear_cache(&self) {
        if let Some(c) = &self.cache {
            c.clear();
        }
    }

    /// Returns the time until which the token may be served from the cache.
    fn check_claims(&self, c: &Claims, now: i64) -> Result<i64, JwtErrorKind> {
        let p = &*self.policy;
        let leeway = p.leeway;
        if now >= c.expires_at().saturating_add(leeway) {
            return Err(JwtErrorKind::Expired);
        }
        if let Some(nbf) = c.not_before() {
            if nbf > now.saturating_add(leeway) {
                return Err(JwtErrorKind::NotYetValid);
            }
        }
        if let Some(iat) = c.issued_at() {
            if iat > now.saturating_add(leeway) {
                return Err(JwtErrorKind::IssuedInFuture);
            }
        }
        let mut valid_until = c.expires_at();
        if let Some(max_age) = p.max_age {
            let iat = c
                .issued_at()
                .ok_or_else(|| JwtErrorKind::MissingClaim("iat".into()))?;
            let limit = iat.saturating_add(max_age).saturating_add(leeway);
            if now >= limit {
                return Err(JwtErrorKind::TooOld);
            }
            valid_until = valid_until.min(limit);
        }
        match c.issuer() {
            Some(iss) if iss == p.issuer => {}
            Some(_) => return Err(JwtErrorKind::WrongIssuer),
            None => return Err(JwtErrorKind::MissingClaim("iss".into())),
        }
        if !p.any_audience {
            if c.audience().is_empty() {
                return Err(JwtErrorKind::MissingClaim("aud".into()));
            }
            if !c.audience().iter().any(|a| p.audiences.contains(a)) {
                return Err(JwtErrorKind::WrongAudience);
            }
        }
        for name in &p.required {
            if c.get(name).is_none() {
                return Err(JwtErrorKind::MissingClaim(name.clone()));
            }
        }
        Ok(valid_until)
    }
}

fn string_list(value: Option<&Value>, name: &'static str) -> Result<Vec<String>, JwtErrorKind> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(JwtErrorKind::InvalidClaim(name)),
        Some(_) => Err(JwtErrorKind::InvalidClaim(name)),
    }
}

fn opt_str<'a>(
    value: Option<&'a Value>,
    name: &'static str,
) -> Result<Option<&'a str>, JwtErrorKind> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtErrorKind::InvalidClaim(name)),
    }
}

fn build_principal(c: &Claims, names: &ClaimNames) -> Result<Principal, JwtErrorKind> {
    let client_id = opt_str(c.get("client_id"), "client_id")?;
    let subject = match (c.subject(), client_id) {
        (Some(s), _) => s,
        (None, Some(cid)) => cid,
        (None, None) => return Err(JwtErrorKind::MissingClaim("sub".into())),
    };
    if subject.is_empty() {
        return Err(JwtErrorKind::InvalidClaim("sub"));
    }
    let kind = if client_id == Some(subject) {
        PrincipalKind::Client
    } else {
        PrincipalKind::OAuth2Token
    };
    let scopes = match c.get("scope") {
        Some(v) => string_list(Some(v), "scope")?,
        None => string_list(c.get("scp"), "scp")?,
    };
    let mut b = Principal::builder(subject, kind)
        .scopes(scopes)
        .roles(string_list(c.get_with_ext(&names.roles), "roles")?)
        .permissions(string_list(
            c.get_with_ext(&names.permissions),
            "permissions",
        )?)
        .amr(string_list(c.get("amr"), "amr")?)
        .expires_at(c.expires_at())
        .claims(c.shared_raw());
    if let Some(iss) = c.issuer() {
        b = b.issuer(iss);
    }
    if let Some(t) = opt_str(c.get_with_ext(&names.tenant), "tenant")? {
        b = b.tenant(t);
    }
    if let Some(acr) = opt_str(c.get("acr"), "acr")? {
        if let Some(level) = AssuranceLevel::from_name(acr) {
            b = b.assurance_level(level);
        }
        b = b.acr(acr);
    }
    if let Some(v) = c.get("auth_time") {
        let t = crate::claims::numeric_date(v, crate::claims::Round::Down)
            .ok_or(JwtErrorKind::InvalidClaim("auth_time"))?;
        b = b.auth_time(t);
    }
    if let Some(sid) = opt_str(c.get("sid"), "sid")? {
        b = b.session_id(sid);
    }
    if let Some(cid) = client_id {
        b = b.client_id(cid);
    }
    if let Some(jti) = c.token_id() {
        b = b.token_id(jti);
    }
    Ok(b.build())
}

/// The `kid` of a token's header, WITHOUT verifying anything: only for choosing which keys to
/// fetch. `None` for anything malformed.
pub fn unverified_kid(token: &str) -> Option<String> {
    use base64::Engine as _;
    if token.len() > 1024 * 1024 {
        return None;
    }
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let map = json::parse_object(&bytes, 8).ok()?;
    map.get("kid")?.as_str().map(str::to_owned)
}

/// The `iss` of a token's payload, WITHOUT verifying anything: only for choosing which
/// trusted issuer's keys to verify it with. `None` for anything malformed or over 64 KiB.
pub fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    if token.len() > 64 * 1024 {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let map = json::parse_object(&bytes, 32).ok()?;
    map.get("iss")?.as_str().map(str::to_owned)
}
