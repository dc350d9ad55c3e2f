//! RSA and ECDSA signature checks through the runtime's WebCrypto (`crypto.subtle`): native
//! code in every edge runtime and in Node, several times faster than big-number arithmetic
//! compiled to wasm32. Imported keys are cached per key and algorithm (the import promise
//! itself, so concurrent first uses share one import); the set is dropped with the key set.
use iam_core::jwt::{Algorithm, EcCurve, ExternalKey, PendingSignature};
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `SubtleCrypto`, declared here so that no `web-sys` feature set is needed.
    type SubtleCrypto;
    #[wasm_bindgen(method, catch, js_name = importKey)]
    fn import_key(
        this: &SubtleCrypto,
        format: &str,
        key: &JsValue,
        algorithm: &Object,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn verify(
        this: &SubtleCrypto,
        algorithm: &Object,
        key: &JsValue,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

/// Imported keys by (key material, algorithm).
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: RefCell<HashMap<([u8; 32], Algorithm), Promise>>,
}

impl KeyCache {
    pub(crate) fn clear(&self) {
        self.keys.borrow_mut().clear();
    }
}

fn subtle() -> Option<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).ok()?;
    (!subtle.is_undefined() && !subtle.is_null()).then(|| subtle.unchecked_into())
}

fn object(members: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (name, value) in members {
        let _ = Reflect::set(&o, &(*name).into(), value);
    }
    o
}

fn hash_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => "SHA-384",
        Algorithm::RS512 | Algorithm::PS512 => "SHA-512",
        _ => "SHA-256",
    }
}

/// `(import parameters, verify parameters)` for a JWS algorithm.
fn parameters(alg: Algorithm, key: &ExternalKey) -> Option<(Object, Object)> {
    let hash: JsValue = hash_name(alg).into();
    match (alg, key) {
        (Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512, ExternalKey::Rsa { .. }) => {
            let name: JsValue = "RSASSA-PKCS1-v1_5".into();
            Some((
                object(&[("name", name.clone()), ("hash", hash)]),
                object(&[("name", name)]),
            ))
        }
        (Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512, ExternalKey::Rsa { .. }) => {
            // RFC 7518 section 3.5: the salt is as long as the hash.
            let salt = match alg {
                Algorithm::PS384 => 48,
                Algorithm::PS512 => 64,
                _ => 32,
            };
            let name: JsValue = "RSA-PSS".into();
            Some((
                object(&[("name", name.clone()), ("hash", hash)]),
                object(&[("name", name), ("saltLength", salt.into())]),
            ))
        }
        (
            Algorithm::ES256,
            ExternalKey::Ec {
                curve: EcCurve::P256,
                ..
            },
        )
        | (
            Algorithm::ES384,
            ExternalKey::Ec {
                curve: EcCurve::P384,
                ..
            },
        ) => {
            let ExternalKey::Ec { curve, .. } = key else {
                return None;
            };
            let name: JsValue = "ECDSA".into();
            Some((
                object(&[("name", name.clone()), ("namedCurve", curve.name().into())]),
                object(&[("name", name), ("hash", hash)]),
            ))
        }
        _ => None,
    }
}

fn b64url(bytes: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    URL_SAFE_NO_PAD.encode(bytes)
}

fn import(subtle: &SubtleCrypto, key: &ExternalKey, params: &Object) -> Result<Promise, JsValue> {
    let usages = Array::of1(&"verify".into());
    match key {
        ExternalKey::Rsa { n, e } => {
            let jwk = object(&[
                ("kty", "RSA".into()),
                ("n", b64url(n).into()),
                ("e", b64url(e).into()),
            ]);
            subtle.import_key("jwk", &jwk, params, false, &usages)
        }
        ExternalKey::Ec { sec1, .. } => {
            let raw = Uint8Array::from(sec1.as_slice());
            subtle.import_key("raw", &raw, params, false, &usages)
        }
        _ => Err(JsValue::NULL),
    }
}

/// Why a signature could not be checked at all (the token is refused either way).
pub(crate) enum Unchecked {
    /// The runtime has no `crypto.subtle`.
    NoWebCrypto,
}

/// Check a pending signature. `Ok(false)` for a wrong signature and for anything WebCrypto
/// refused (a key it would not import, a malformed signature): fail closed.
pub(crate) async fn check(cache: Rc<KeyCache>, p: &PendingSignature) -> Result<bool, Unchecked> {
    let subtle = subtle().ok_or(Unchecked::NoWebCrypto)?;
    let alg = p.algorithm();
    let Some((import_params, verify_params)) = parameters(alg, p.key()) else {
        return Ok(false);
    };
    let slot = (p.key_id(), alg);
    let imported = cache.keys.borrow().get(&slot).cloned();
    let imported = match imported {
        Some(promise) => promise,
        None => match import(&subtle, p.key(), &import_params) {
            Ok(promise) => {
                cache.keys.borrow_mut().insert(slot, promise.clone());
                promise
            }
            Err(_) => return Ok(false),
        },
    };
    let Ok(key) = JsFuture::from(imported).await else {
        return Ok(false);
    };
    let signature = Uint8Array::from(p.signature());
    let data = Uint8Array::from(p.message());
    let Ok(verdict) = subtle.verify(&verify_params, &key, &signature, &data) else {
        return Ok(false);
    };
    Ok(JsFuture::from(verdict).await.ok().and_then(|v| v.as_bool()) == Some(true))
}
