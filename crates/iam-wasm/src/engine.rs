//! Everything the JavaScript API does, without JavaScript types: it compiles and is tested
//! on native targets too, and the wasm32 bindings (`crate::bindings`) only convert values.
use iam_core::authn::{AuthError, RequestView};
use iam_core::clock::FixedClock;
use iam_core::jwks::JwkSet;
use iam_core::jwt::{Algorithm, PendingSignature, Step, TokenType, Validator};
use iam_core::Principal;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// The options of `new Validator({...})`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// Expected `iss`.
    pub issuer: String,
    /// One audience or several.
    pub audience: OneOrMany,
    /// Allowed algorithms by JOSE name (default: every supported one a key fits).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Clock skew tolerated, seconds (default 60).
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
    /// Require `typ: at+jwt` (RFC 9068).
    #[serde(default)]
    pub require_at_jwt: bool,
    /// Claims that must be present.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Refuse tokens whose `iat` is older than this.
    #[serde(default)]
    pub max_age_seconds: Option<u64>,
    /// Validated-token cache entries (default 1000; 0 disables the cache).
    #[serde(default)]
    pub cache_size: Option<usize>,
}

/// A string or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// A key of a JWK set that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Position in `keys`.
    pub index: usize,
    /// Its `kid`, when it had one.
    pub kid: Option<String>,
    /// Why.
    pub reason: String,
}

/// A refused token: the middleware's answer, and the `kid` when the refusal is "unknown key"
/// (fetch the key set again, at most once per cooldown, and retry).
#[derive(Debug)]
pub struct Refusal {
    /// The answer.
    pub error: AuthError,
    /// Set when no key of the set has the token's `kid`.
    pub unknown_kid: Option<String>,
}

impl From<AuthError> for Refusal {
    fn from(error: AuthError) -> Self {
        Self {
            error,
            unknown_kid: None,
        }
    }
}

/// The validator behind the JavaScript `Validator`.
pub struct Engine {
    validator: Validator,
    clock: Arc<FixedClock>,
    keys: Option<JwkSet>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("issuer", &self.validator.issuer())
            .field("keys", &self.keys.as_ref().map(JwkSet::len))
            .finish()
    }
}

impl Engine {
    /// Build from the options object (as JSON text). The error says what is wrong.
    pub fn new(options_json: &str) -> Result<Self, String> {
        let o: Options = serde_json::from_str(options_json).map_err(|e| {
            // serde's message names the field; it never contains a token (options hold none).
            format!("invalid options: {e}")
        })?;
        Self::from_options(o)
    }

    /// Build from parsed options.
    pub fn from_options(o: Options) -> Result<Self, String> {
        let clock = Arc::new(FixedClock::new(0));
        let mut b = Validator::builder(o.issuer)
            .clock(Arc::clone(&clock))
            .cache_capacity(o.cache_size.unwrap_or(1000));
        for a in match o.audience {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(v) => v,
        } {
            b = b.audience(a);
        }
        if let Some(names) = o.algorithms {
            let algs = names
                .iter()
                .map(|n| {
                    Algorithm::from_name(n)
                        .ok_or_else(|| format!("invalid options: unknown algorithm {n:?}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            b = b.algorithms(algs);
        }
        if let Some(l) = o.leeway_seconds {
            b = b.leeway(Duration::from_secs(l));
        }
        if o.require_at_jwt {
            b = b.token_type(TokenType::AccessToken);
        }
        for c in o.required_claims {
            b = b.require_claim(c);
        }
        if let Some(m) = o.max_age_seconds {
            b = b.max_age(Duration::from_secs(m));
        }
        let validator = b.build().map_err(|e| format!("invalid options: {e}"))?;
        Ok(Self {
            validator,
            clock,
            keys: None,
        })
    }

    /// Replace the key set with a JWK set document. Returns the keys that were left out; a
    /// document that is not a JWK set at all is an error (and the old set stays).
    pub fn set_jwks(&mut self, document: &[u8]) -> Result<Vec<Refused>, String> {
        let set = JwkSet::from_json(document).map_err(|e| e.to_string())?;
        let refused = set
            .skipped()
            .iter()
            .map(|s| Refused {
                index: s.index,
                kid: s.kid.clone(),
                reason: s.reason.to_string(),
            })
            .collect();
        self.keys = Some(set);
        self.validator.clear_cache();
        Ok(refused)
    }

    /// Add an HMAC secret (HS256/384/512), the only way an HMAC key is accepted.
    pub fn add_shared_secret(
        &mut self,
        kid: Option<&str>,
        alg: &str,
        secret: &[u8],
    ) -> Result<(), String> {
        let alg = Algorithm::from_name(alg).ok_or("unknown algorithm")?;
        self.keys
            .get_or_insert_with(JwkSet::new)
            .insert_shared_secret(kid, alg, secret)
            .map_err(|e| e.to_string())
    }

    fn keys(&self) -> Result<&JwkSet, AuthError> {
        self.keys
            .as_ref()
            .ok_or_else(|| AuthError::unavailable("signing keys are unavailable"))
    }

    /// The validator, to [`finish`] what a `verify*` call left pending (cheap to clone).
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// Validate a token (already extracted) at `now` (Unix seconds): exactly iam-core's
    /// `Validator::validate` (an empty string is a malformed token, not a missing one; use
    /// [`verify_authorization`](Self::verify_authorization) for the request-level answers).
    /// RSA and ECDSA signatures come back pending: check them with the platform's crypto and
    /// call [`finish`].
    pub fn verify(&self, token: &str, now: i64) -> Begun<Principal> {
        let keys = match self.keys() {
            Ok(k) => k,
            Err(e) => return Begun::Ready(Err(e.into())),
        };
        self.clock.set(now);
        match self.validator.begin(token, keys) {
            Ok(Step::Done(v)) => Begun::Ready(Ok(v.principal().clone())),
            Ok(Step::Pending(p)) => Begun::Pending(p),
            Err(e) => Begun::Ready(Err(refusal(e, token))),
        }
    }

    /// Validate the credential of an `Authorization` header value with the middleware's
    /// extraction rules (`None`: no header).
    pub fn verify_authorization(&self, authorization: Option<&str>, now: i64) -> Begun<Principal> {
        let mut headers = http::HeaderMap::new();
        if let Some(v) = authorization {
            match http::HeaderValue::from_str(v) {
                Ok(v) => headers.insert(http::header::AUTHORIZATION, v),
                Err(_) => {
                    let e = AuthError::invalid_request("credential header is not visible ASCII");
                    return Begun::Ready(Err(e.into()));
                }
            };
        }
        let (method, uri) = (http::Method::GET, http::Uri::from_static("/"));
        let view = RequestView::new(&method, &uri, &headers);
        let refused = |e: AuthError| Begun::Ready(Err(e.into()));
        match view.bearer_token() {
            Ok(Some(t)) if iam_core::authn::looks_like_jws(t) => self.verify(t, now),
            Ok(Some(_)) => refused(AuthError::invalid_credential("bearer token not recognised")),
            Ok(None) => refused(AuthError::missing_credential()),
            Err(e) => refused(e),
        }
    }

    /// Verify only the JWS layer (structure, header, key, signature) and return the payload.
    pub fn verify_signature(&self, token: &str) -> Begun<Vec<u8>> {
        let keys = match self.keys() {
            Ok(k) => k,
            Err(e) => return Begun::Ready(Err(e.into())),
        };
        match self.validator.begin_jws(token, keys) {
            Ok(Step::Done(v)) => Begun::Ready(Ok(v.payload)),
            Ok(Step::Pending(p)) => Begun::Pending(p),
            Err(e) => Begun::Ready(Err(refusal(e, token))),
        }
    }
}

/// What a `verify*` call decided: an answer, or a signature for the platform's crypto.
#[derive(Debug)]
pub enum Begun<T> {
    /// The answer.
    Ready(Result<T, Refusal>),
    /// Check this signature, then call [`finish`] / [`finish_signature`].
    Pending(PendingSignature),
}

/// Finish a pending [`Engine::verify`] / [`Engine::verify_authorization`] with the platform's
/// verdict on the signature (`false` also for any error the platform raised).
pub fn finish(
    validator: &Validator,
    pending: PendingSignature,
    signature_valid: bool,
) -> Result<Principal, Refusal> {
    match validator.finish(pending, signature_valid) {
        Ok(v) => Ok(v.principal().clone()),
        Err(e) => Err(AuthError::from(e).into()),
    }
}

/// Finish a pending [`Engine::verify_signature`].
pub fn finish_signature(
    validator: &Validator,
    pending: PendingSignature,
    signature_valid: bool,
) -> Result<Vec<u8>, Refusal> {
    match validator.finish_jws(pending, signature_valid) {
        Ok(v) => Ok(v.payload),
        Err(e) => Err(AuthError::from(e).into()),
    }
}

fn refusal(e: iam_core::JwtError, token: &str) -> Refusal {
    Refusal {
        unknown_kid: e
            .is_unknown_key()
            .then(|| iam_core::jwt::unverified_kid(token))
            .flatten(),
        error: e.into(),
    }
}

/// `{ok: false, status, error, description, wwwAuthenticate, body}` for a refusal (`body`:
/// the JSON the middleware answers with), plus `unknownKid` when the key set should be
/// fetched again.
pub fn refusal_json(r: &Refusal) -> Value {
    let e = &r.error;
    let mut v = json!({
        "ok": false,
        "status": e.status().as_u16(),
        "error": e.error_code(),
        "description": e.description(),
        "wwwAuthenticate": e.www_authenticate().and_then(|h| h.to_str().ok().map(str::to_owned)),
        "body": e.to_json(),
    });
    if let Some(kid) = &r.unknown_kid {
        v["unknownKid"] = kid.as_str().into();
    }
    v
}

/// The identity headers for the upstream (`X-User-ID`, `X-Token-Scopes`, ...), as an object.
pub fn identity_headers_json(p: &Principal) -> Value {
    let headers = iam_core::headers::identity_headers(p);
    let mut m = Map::new();
    for (name, value) in &headers {
        if let Ok(v) = value.to_str() {
            m.insert(name.as_str().to_owned(), v.into());
        }
    }
    Value::Object(m)
}

/// The principal as a plain JSON object (what `principal.toJSON()` returns in JavaScript).
pub fn principal_json(p: &Principal) -> Value {
    let mut m = Map::new();
    m.insert("subject".into(), p.subject().into());
    m.insert("kind".into(), p.kind().as_str().into());
    let opt = |v: Option<&str>| v.map_or(Value::Null, Value::from);
    m.insert("issuer".into(), opt(p.issuer()));
    m.insert("tenant".into(), opt(p.tenant()));
    m.insert("roles".into(), json!(p.roles()));
    m.insert("permissions".into(), json!(p.permissions()));
    m.insert("scopes".into(), json!(p.scopes()));
    m.insert("sessionId".into(), opt(p.session_id()));
    m.insert("clientId".into(), opt(p.client_id()));
    m.insert("tokenId".into(), opt(p.token_id()));
    m.insert(
        "expiresAt".into(),
        p.expires_at().map_or(Value::Null, Value::from),
    );
    m.insert(
        "authTime".into(),
        p.auth_time().map_or(Value::Null, Value::from),
    );
    m.insert("claims".into(), Value::Object(p.claims().clone()));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        for (json, expect) in [
            (
                r#"{"issuer":"i"}"#,
                "invalid options: missing field `audience`",
            ),
            (
                r#"{"issuer":"i","audience":"a","alg":["RS256"]}"#,
                "invalid options: unknown field `alg`",
            ),
            (
                r#"{"issuer":"i","audience":"a","algorithms":["none"]}"#,
                "invalid options: unknown algorithm \"none\"",
            ),
            (
                r#"{"issuer":"i","audience":"a","algorithms":[]}"#,
                "invalid options: the algorithm allowlist must not be empty",
            ),
            (
                r#"{"issuer":"","audience":"a"}"#,
                "invalid options: issuer must not be empty",
            ),
            (
                r#"{"issuer":"i","audience":"a","leewaySeconds":7200}"#,
                "invalid options: leeway must be at most 3600 seconds",
            ),
        ] {
            let got = Engine::new(json).unwrap_err();
            assert!(got.starts_with(expect), "{json}: {got}");
        }
        Engine::new(
            r#"{"issuer":"i","audience":["a","b"],"algorithms":["ES256"],"requireAtJwt":true}"#,
        )
        .unwrap();
    }

    #[test]
    fn no_keys_is_503_and_no_token_is_401() {
        let e = Engine::new(r#"{"issuer":"i","audience":"a"}"#).unwrap();
        let status = |b: Begun<Principal>| match b {
            Begun::Ready(Err(r)) => r.error.status().as_u16(),
            other => panic!("{other:?}"),
        };
        assert_eq!(status(e.verify("a.b.c", 0)), 503);
        assert_eq!(status(e.verify("", 0)), 503);
        let answer = |h: Option<&str>| match e.verify_authorization(h, 0) {
            Begun::Ready(Err(r)) => (r.error.status().as_u16(), r.error.error_code()),
            other => panic!("{other:?}"),
        };
        assert_eq!(answer(None), (401, "unauthorized"));
        assert_eq!(answer(Some("Basic dTpw")), (401, "unauthorized"));
        assert_eq!(answer(Some("Bearer opaque")), (401, "invalid_token"));
        assert_eq!(answer(Some("Bearer a b")), (401, "invalid_token"));
        assert_eq!(answer(Some("Bearer \u{e9}")), (400, "invalid_request"));
        assert_eq!(
            answer(Some("Bearer a.b.c")),
            (503, "temporarily_unavailable")
        );
    }

    #[test]
    fn jwks_refusals_are_listed_and_garbage_keeps_the_old_set() {
        let mut e = Engine::new(r#"{"issuer":"i","audience":"a"}"#).unwrap();
        let refused = e
            .set_jwks(br#"{"keys":[{"kty":"oct","kid":"h","k":"AAAA"},{"kty":"RSA","kid":"r"}]}"#)
            .unwrap();
        assert_eq!(refused.len(), 2);
        assert_eq!(refused[0].kid.as_deref(), Some("h"));
        assert!(e.set_jwks(b"not json").is_err());
        assert!(e.keys.is_some());
    }
}
