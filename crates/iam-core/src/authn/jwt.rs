//! The JWT bearer authenticator.
use super::{AuthError, Authenticator, BoxFuture, RequestView};
use crate::jwks::KeySource;
use crate::jwt::Validator;
use crate::principal::Principal;

/// Validates `Authorization: Bearer <JWT>` against a [`KeySource`]. A bearer that is not
/// shaped like a compact JWS (three dot-separated segments) is left to other authenticators.
#[derive(Debug)]
pub struct JwtAuthenticator<K> {
    validator: Validator,
    keys: K,
}

impl<K: KeySource> JwtAuthenticator<K> {
    /// An authenticator validating with `validator` against `keys`.
    pub fn new(validator: Validator, keys: K) -> Self {
        Self { validator, keys }
    }

    /// The validator.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// Validate one bearer token (already extracted) into a principal: the key set comes from
    /// the key source, with one refresh when the token names an unknown key.
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal, AuthError> {
        let set = match self.keys.cached_keys() {
            Some(set) => set,
            None => self
                .keys
                .keys()
                .await
                .map_err(|_| AuthError::unavailable("signing keys are unavailable"))?,
        };
        match self.validator.validate(token, &set) {
            Ok(v) => Ok(v.principal().clone()),
            Err(e) if e.is_unknown_key() => {
                let Some(kid) = crate::jwt::unverified_kid(token) else {
                    return Err(e.into());
                };
                match self.keys.keys_after_unknown_kid(&kid).await {
                    Ok(Some(newer)) => {
                        Ok(self.validator.validate(token, &newer)?.principal().clone())
                    }
                    _ => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// True when `token` has the shape of a compact JWS: exactly two dots. The chain uses the
/// shape to decide which authenticator a bearer belongs to.
pub fn looks_like_jws(token: &str) -> bool {
    // Counted per 128-byte chunk in a `u8` (it cannot overflow there), which the compiler
    // turns into wide byte compares: this runs on every bearer request.
    let mut dots = 0usize;
    for chunk in token.as_bytes().chunks(128) {
        dots += usize::from(chunk.iter().fold(0u8, |n, &b| n + u8::from(b == b'.')));
        if dots > 2 {
            return false;
        }
    }
    dots == 2
}

impl<K: KeySource> Authenticator for JwtAuthenticator<K> {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            match request.jwt_bearer()? {
                Some(token) => self.authenticate_token(token).await.map(Some),
                None => Ok(None),
            }
        })
    }

    /// Answers whenever the key set is cached, except for an unknown `kid` (which may need a
    /// refetch of the key set).
    fn authenticate_now(
        &self,
        request: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthError>> {
        // A token validated before is answered from the cache by its exact bytes, before the
        // header checks: it passed them then (only fully valid tokens are cached).
        let raw = request.raw_bearer();
        let set = raw.and_then(|_| self.keys.cached_keys());
        if let (Some(raw), Some(set)) = (raw, &set) {
            if let Some(hit) = self.validator.cached_bytes(raw, set) {
                return Some(Ok(Some(hit.principal().clone())));
            }
        }
        let token = match request.jwt_bearer() {
            Ok(Some(token)) => token,
            other => return Some(other.map(|_| None)),
        };
        let set = match set {
            Some(set) => set,
            None => self.keys.cached_keys()?,
        };
        match self.validator.validate(token, &set) {
            Ok(v) => Some(Ok(Some(v.principal().clone()))),
            Err(e) if e.is_unknown_key() => None,
            Err(e) => Some(Err(e.into())),
        }
    }
}
