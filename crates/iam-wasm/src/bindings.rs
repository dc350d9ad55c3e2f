//! The wasm-bindgen surface: value conversion only; the logic is in [`crate::engine`].
use crate::engine::{
    finish, finish_signature, identity_headers_json, principal_json, refusal_json, Begun, Engine,
    Refusal,
};
use crate::webcrypto::{self, KeyCache, Unchecked};
use iam_core::jwt::PendingSignature;
use iam_core::AuthError;
use js_sys::{Array, Object, Promise, Reflect, JSON};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn js_error(message: impl AsRef<str>) -> JsValue {
    js_sys::TypeError::new(message.as_ref()).into()
}

/// JSON text → JS value. Our own serializer's output always parses.
fn to_js(value: &serde_json::Value) -> JsValue {
    JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}

/// A string stays as is; anything else goes through `JSON.stringify`.
fn json_text(value: &JsValue) -> Result<String, JsValue> {
    if let Some(s) = value.as_string() {
        return Ok(s);
    }
    JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| js_error("expected a JSON string or a plain object"))
}

fn now_or(now_seconds: Option<f64>) -> i64 {
    let now = now_seconds.unwrap_or_else(|| js_sys::Date::now() / 1000.0);
    if now.is_finite() {
        now.floor() as i64
    } else {
        0
    }
}

/// A JWT validator with the same rules as the Rust middleware.
#[wasm_bindgen]
pub struct Validator {
    engine: Engine,
    web_keys: Rc<KeyCache>,
}

type Finish<T> = fn(&iam_core::jwt::Validator, PendingSignature, bool) -> Result<T, Refusal>;

impl Validator {
    /// The answer as a promise: resolved at once when wasm could decide (a cached token, an
    /// Ed25519 or HMAC signature, any refusal before the signature); otherwise after
    /// WebCrypto's verdict on the RSA / ECDSA signature.
    fn settle<T: 'static>(
        &self,
        begun: Begun<T>,
        finish: Finish<T>,
        answer: fn(Result<T, Refusal>) -> JsValue,
    ) -> Promise {
        let pending = match begun {
            Begun::Ready(result) => return Promise::resolve(&answer(result)),
            Begun::Pending(p) => p,
        };
        let validator = self.engine.validator().clone();
        let keys = Rc::clone(&self.web_keys);
        wasm_bindgen_futures::future_to_promise(async move {
            let result = match webcrypto::check(keys, &pending).await {
                Ok(valid) => finish(&validator, pending, valid),
                Err(Unchecked::NoWebCrypto) => Err(AuthError::unavailable(
                    "this runtime has no WebCrypto (crypto.subtle) to verify RSA or ECDSA signatures",
                )
                .into()),
            };
            Ok(answer(result))
        })
    }
}

#[wasm_bindgen]
impl Validator {
    /// `new Validator({ issuer, audience, algorithms?, leewaySeconds?, requireAtJwt?,
    /// requiredClaims?, maxAgeSeconds?, cacheSize? })`. Throws a `TypeError` naming the
    /// problem.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Validator, JsValue> {
        let engine = Engine::new(&json_text(&options)?).map_err(js_error)?;
        Ok(Self {
            engine,
            web_keys: Rc::default(),
        })
    }

    /// Replace the key set (a JWKS as JSON text or object). Returns the keys that were left
    /// out, as `[{ index, kid, reason }]`. Throws when the document is not a JWK set (the
    /// previous set stays in use).
    #[wasm_bindgen(js_name = setJwks)]
    pub fn set_jwks(&mut self, jwks: JsValue) -> Result<Array, JsValue> {
        let refused = self
            .engine
            .set_jwks(json_text(&jwks)?.as_bytes())
            .map_err(js_error)?;
        self.web_keys.clear();
        let out = Array::new();
        for r in refused {
            let o = Object::new();
            let _ = Reflect::set(&o, &"index".into(), &(r.index as f64).into());
            let kid = r.kid.map_or(JsValue::NULL, |k| k.into());
            let _ = Reflect::set(&o, &"kid".into(), &kid);
            let _ = Reflect::set(&o, &"reason".into(), &r.reason.into());
            out.push(&o);
        }
        Ok(out)
    }

    /// Add an HMAC secret (`HS256` / `HS384` / `HS512`, at least as long as the hash). HMAC
    /// keys are never taken from a JWK set.
    #[wasm_bindgen(js_name = addSharedSecret)]
    pub fn add_shared_secret(
        &mut self,
        kid: Option<String>,
        alg: &str,
        secret: &[u8],
    ) -> Result<(), JsValue> {
        self.engine
            .add_shared_secret(kid.as_deref(), alg, secret)
            .map_err(js_error)
    }

    /// A promise of `{ ok: true, principal }` or `{ ok: false, status, error, description }`.
    /// `now` is Unix seconds (default: `Date.now()`). Never rejects.
    pub fn verify(&self, token: &str, now_seconds: Option<f64>) -> Promise {
        let begun = self.engine.verify(token, now_or(now_seconds));
        self.settle(begun, finish, principal_answer)
    }

    /// Like `verify`, from an `Authorization` header value (`null` when absent), with the
    /// middleware's extraction rules (scheme case, one bearer, RFC 6750 token characters).
    #[wasm_bindgen(js_name = verifyAuthorization)]
    pub fn verify_authorization(
        &self,
        authorization: Option<String>,
        now_seconds: Option<f64>,
    ) -> Promise {
        let begun = self
            .engine
            .verify_authorization(authorization.as_deref(), now_or(now_seconds));
        self.settle(begun, finish, principal_answer)
    }

    /// Check only the JWS layer (no claims): a promise of `{ ok: true, payload: Uint8Array }`
    /// or a refusal. For signed payloads that are not JWT claims.
    #[wasm_bindgen(js_name = verifySignature)]
    pub fn verify_signature(&self, token: &str) -> Promise {
        let begun = self.engine.verify_signature(token);
        self.settle(begun, finish_signature, payload_answer)
    }
}

fn payload_answer(result: Result<Vec<u8>, Refusal>) -> JsValue {
    match result {
        Ok(payload) => {
            let o = Object::new();
            let _ = Reflect::set(&o, &"ok".into(), &true.into());
            let bytes = js_sys::Uint8Array::from(payload.as_slice());
            let _ = Reflect::set(&o, &"payload".into(), &bytes);
            o.into()
        }
        Err(e) => to_js(&refusal_json(&e)),
    }
}

fn principal_answer(result: Result<iam_core::Principal, Refusal>) -> JsValue {
    match result {
        Ok(p) => {
            let o = Object::new();
            let _ = Reflect::set(&o, &"ok".into(), &true.into());
            let _ = Reflect::set(&o, &"principal".into(), &Principal { inner: p }.into());
            o.into()
        }
        Err(e) => to_js(&refusal_json(&e)),
    }
}

/// A verified identity.
#[wasm_bindgen]
pub struct Principal {
    inner: iam_core::Principal,
}

#[wasm_bindgen]
impl Principal {
    /// `sub`.
    #[wasm_bindgen(getter)]
    pub fn subject(&self) -> String {
        self.inner.subject().to_owned()
    }
    /// `user`, `client`, ...
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.inner.kind().as_str().to_owned()
    }
    /// Tenant / organisation, if any.
    #[wasm_bindgen(getter)]
    pub fn tenant(&self) -> Option<String> {
        self.inner.tenant().map(str::to_owned)
    }
    /// Roles.
    #[wasm_bindgen(getter)]
    pub fn roles(&self) -> Vec<String> {
        self.inner.roles().to_vec()
    }
    /// Permissions.
    #[wasm_bindgen(getter)]
    pub fn permissions(&self) -> Vec<String> {
        self.inner.permissions().iter().map(str::to_owned).collect()
    }
    /// OAuth2 scopes.
    #[wasm_bindgen(getter)]
    pub fn scopes(&self) -> Vec<String> {
        self.inner.scopes().iter().map(str::to_owned).collect()
    }
    /// `sid`, if any.
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.inner.session_id().map(str::to_owned)
    }
    /// True when a scope grants `required` (`read:*` grants `read:orders`).
    #[wasm_bindgen(js_name = hasScope)]
    pub fn has_scope(&self, required: &str) -> bool {
        self.inner.has_scope(required)
    }
    /// True when a permission, or else a scope, grants `required`.
    #[wasm_bindgen(js_name = hasPermission)]
    pub fn has_permission(&self, required: &str) -> bool {
        self.inner.has_permission(required)
    }
    /// True when the principal has this role.
    #[wasm_bindgen(js_name = hasRole)]
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.has_role(role)
    }
    /// The identity headers an access proxy sends upstream (`x-user-id`, `x-token-scopes`,
    /// ...), as a `{ name: value }` object.
    #[wasm_bindgen(js_name = identityHeaders)]
    pub fn identity_headers(&self) -> JsValue {
        to_js(&identity_headers_json(&self.inner))
    }
    /// Every field, claims included, as a plain object (also what `JSON.stringify` uses).
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        to_js(&principal_json(&self.inner))
    }
}

/// True when the granted scope `granted` satisfies `required` (iam-core's matcher).
#[wasm_bindgen(js_name = scopeGrants)]
pub fn scope_grants(granted: &str, required: &str) -> bool {
    iam_core::scope::scope_grants(granted, required)
}

/// True for a header name an access proxy must strip from incoming requests (`X-User-ID`,
/// `X-User-*`, `X-Iam-*`, ... in any case): iam-core's list.
#[wasm_bindgen(js_name = isIdentityHeader)]
pub fn is_identity_header(name: &str) -> bool {
    iam_core::headers::is_identity_header_name(name)
}
