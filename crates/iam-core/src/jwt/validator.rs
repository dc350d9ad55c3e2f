//! The [`Validator`]: signature, header policy and claim checks, with the validated-token
//! cache in front.
use super::builder::Policy;
use super::cache::TokenCache;
use super::claim_mapping::build_principal;
use super::{jws, JwsHeader, JwtError, JwtErrorKind, VerifiedJws};
use crate::claims::{ClaimError, Claims};
use crate::clock::Clock;
use crate::json;
use crate::jwks::JwkSet;
use crate::principal::Principal;
use std::fmt;
use std::sync::Arc;

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
    pub(super) policy: Arc<Policy>,
    pub(super) cache: Option<Arc<TokenCache>>,
    pub(super) clock: Arc<dyn Clock>,
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

    pub(super) fn cached(&self, token: &str, now: i64, keys: &JwkSet) -> Option<ValidatedToken> {
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
    pub(super) fn accept(
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
