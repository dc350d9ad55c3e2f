//! Test keys and a signer that can produce any header and payload, hostile ones included.
#![allow(dead_code, unreachable_pub)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use iam_core::jwks::JwkSet;
use serde_json::{json, Value};
use std::sync::OnceLock;

pub const ISS: &str = "https://issuer.example";
pub const AUD: &str = "orders-api";
pub const NOW: i64 = 1_800_000_000;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub struct Keys {
    pub rsa: RsaKeyPair,
    pub rsa2: RsaKeyPair,
    pub ec: EcdsaKeyPair,
    pub ec_other: EcdsaKeyPair,
    pub ed: Ed25519KeyPair,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rng = SystemRandom::new();
        let ec = |_: ()| {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap()
        };
        let ed_doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Keys {
            rsa: RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
            rsa2: RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
            ec: ec(()),
            ec_other: ec(()),
            ed: Ed25519KeyPair::from_pkcs8(ed_doc.as_ref()).unwrap(),
        }
    })
}

pub fn rsa_jwk(pair: &RsaKeyPair, kid: &str, alg: Option<&str>) -> Value {
    let c = aws_lc_rs::signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let mut v = json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&c.n), "e": b64(&c.e)});
    if let Some(alg) = alg {
        v["alg"] = json!(alg);
    }
    v
}

pub fn ec_jwk(pair: &EcdsaKeyPair, kid: &str) -> Value {
    let p = pair.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&p[1..33]), "y": b64(&p[33..65])})
}

pub fn ed_jwk(pair: &Ed25519KeyPair, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pair.public_key().as_ref())})
}

/// The standard test set: rsa-1 (RS256 only), rsa-any (no alg: RS*/PS*), ec-1, ed-1.
pub fn jwks_json() -> Value {
    let k = keys();
    json!({"keys": [
        rsa_jwk(&k.rsa, "rsa-1", Some("RS256")),
        rsa_jwk(&k.rsa2, "rsa-any", None),
        ec_jwk(&k.ec, "ec-1"),
        ed_jwk(&k.ed, "ed-1"),
    ]})
}

pub fn key_set() -> JwkSet {
    let set = JwkSet::from_json(jwks_json().to_string().as_bytes()).unwrap();
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    set
}

#[derive(Clone, Copy, Debug)]
pub enum Signer<'a> {
    Rsa(
        &'a RsaKeyPair,
        &'static dyn aws_lc_rs::signature::RsaEncoding,
    ),
    Ec(&'a EcdsaKeyPair),
    Ed(&'a Ed25519KeyPair),
    Hmac(&'a [u8], aws_lc_rs::hmac::Algorithm),
    /// A fixed signature, whatever the input.
    Raw(&'a [u8]),
    /// An empty signature segment.
    Empty,
}

pub fn sign_raw(header: &str, payload: &str, signer: Signer<'_>) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let rng = SystemRandom::new();
    let sig = match signer {
        Signer::Rsa(pair, enc) => {
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(enc, &rng, input.as_bytes(), &mut sig).unwrap();
            sig
        }
        Signer::Ec(pair) => pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
        Signer::Ed(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        Signer::Hmac(secret, alg) => {
            let key = aws_lc_rs::hmac::Key::new(alg, secret);
            aws_lc_rs::hmac::sign(&key, input.as_bytes())
                .as_ref()
                .to_vec()
        }
        Signer::Raw(bytes) => bytes.to_vec(),
        Signer::Empty => Vec::new(),
    };
    format!("{input}.{}", b64(&sig))
}

pub fn sign(header: &Value, payload: &Value, signer: Signer<'_>) -> String {
    sign_raw(&header.to_string(), &payload.to_string(), signer)
}

pub fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "user-1", "iat": NOW - 10, "exp": NOW + 300,
           "scope": "read:orders write:orders", "tenant": "acme", "roles": ["admin"],
           "jti": "t-1"})
}

pub fn rs256() -> Signer<'static> {
    Signer::Rsa(&keys().rsa, &aws_lc_rs::signature::RSA_PKCS1_SHA256)
}

pub fn es256() -> Signer<'static> {
    Signer::Ec(&keys().ec)
}

pub fn eddsa() -> Signer<'static> {
    Signer::Ed(&keys().ed)
}

/// The path of the shared test vectors (`../shared/vectors` beside the checkout), or
/// `IAM_VECTORS_DIR`.
pub fn vectors_dir() -> std::path::PathBuf {
    if let Ok(dir) = std::env::var("IAM_VECTORS_DIR") {
        return dir.into();
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found at {} (set IAM_VECTORS_DIR)",
        dir.display()
    );
    dir
}

/// When `IAM_VERDICTS_DIR` is set, write `doc` to `$IAM_VERDICTS_DIR/{name}.json`: the
/// verdicts of this native run, which the iam-wasm JavaScript tests replay through the wasm
/// build and must reproduce exactly.
#[allow(dead_code)]
pub fn export_verdicts(name: &str, doc: &Value) {
    if let Some(dir) = std::env::var_os("IAM_VERDICTS_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), doc.to_string()).unwrap();
    }
}

/// A verdict as the wasm API reports it: `{ok}` or `{ok, status, error, description}`.
#[allow(dead_code)]
pub fn verdict<T>(result: &Result<T, iam_core::JwtError>) -> Value {
    match result {
        Ok(_) => serde_json::json!({"ok": true}),
        Err(e) => {
            let e = iam_core::AuthError::from(e.clone());
            serde_json::json!({"ok": false, "status": e.status().as_u16(),
                               "error": e.error_code(), "description": e.description()})
        }
    }
}
