//! Signing keys for every algorithm the validator accepts, their JWKs, and a signer that
//! produces any header and payload (the hostile tables need tokens no library would mint).
//!
//! The keys are generated once per test process. Nothing here depends on iam-core, so
//! iam-core's own tests use it without linking a second copy of the crate under test.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The issuer the standard claims name.
pub const ISS: &str = "https://issuer.example";
/// The audience the standard claims name.
pub const AUD: &str = "orders-api";
/// A fixed "now" (2027-01-15) for tests with an injected clock.
pub const NOW: i64 = 1_800_000_000;

/// base64url without padding, as JOSE writes it.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The process-wide test keys.
pub struct Keys {
    /// RSA 2048, published as `rsa-1` with `alg: RS256`.
    pub rsa: RsaKeyPair,
    /// A second RSA 2048, published as `rsa-any` without `alg` (RS* and PS*).
    pub rsa2: RsaKeyPair,
    /// P-256, published as `ec-1`.
    pub ec: EcdsaKeyPair,
    /// Another P-256, never published (a token signed by a stranger).
    pub ec_other: EcdsaKeyPair,
    /// P-384, published as `ec384-1`.
    pub ec384: EcdsaKeyPair,
    /// Ed25519, published as `ed-1`.
    pub ed: Ed25519KeyPair,
}

/// The test keys (generated on first use).
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: rsa_key(),
        rsa2: rsa_key(),
        ec: p256_key(),
        ec_other: p256_key(),
        ec384: p384_key(),
        ed: ed25519_key(),
    })
}

/// A fresh RSA 2048 key pair (for rotation tests: a key no set publishes yet).
pub fn rsa_key() -> RsaKeyPair {
    RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap()
}

/// A fresh P-256 key pair.
pub fn p256_key() -> EcdsaKeyPair {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap()
}

/// A fresh P-384 key pair.
pub fn p384_key() -> EcdsaKeyPair {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, doc.as_ref()).unwrap()
}

/// A fresh Ed25519 key pair.
pub fn ed25519_key() -> Ed25519KeyPair {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
}

/// The public JWK of an RSA key, with `alg` when given.
pub fn rsa_jwk(pair: &RsaKeyPair, kid: &str, alg: Option<&str>) -> Value {
    let c = aws_lc_rs::signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let mut v = json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&c.n), "e": b64(&c.e)});
    if let Some(alg) = alg {
        v["alg"] = json!(alg);
    }
    v
}

/// The public JWK of a P-256 or P-384 key.
pub fn ec_jwk(pair: &EcdsaKeyPair, kid: &str) -> Value {
    let p = pair.public_key().as_ref();
    let (crv, n) = if p.len() == 97 {
        ("P-384", 48)
    } else {
        ("P-256", 32)
    };
    json!({"kty": "EC", "crv": crv, "kid": kid, "x": b64(&p[1..1 + n]), "y": b64(&p[1 + n..])})
}

/// The public JWK of an Ed25519 key.
pub fn ed_jwk(pair: &Ed25519KeyPair, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pair.public_key().as_ref())})
}

/// The standard test set: `rsa-1` (RS256 only), `rsa-any` (no alg: RS*/PS*), `ec-1`, `ed-1`.
pub fn jwks_json() -> Value {
    let k = keys();
    json!({"keys": [
        rsa_jwk(&k.rsa, "rsa-1", Some("RS256")),
        rsa_jwk(&k.rsa2, "rsa-any", None),
        ec_jwk(&k.ec, "ec-1"),
        ed_jwk(&k.ed, "ed-1"),
    ]})
}

/// The standard set plus the P-384 key `ec384-1`.
pub fn jwks_json_all() -> Value {
    let mut set = jwks_json();
    set["keys"]
        .as_array_mut()
        .unwrap()
        .push(ec_jwk(&keys().ec384, "ec384-1"));
    set
}

/// How a token is signed.
#[derive(Clone, Copy)]
pub enum Signer<'a> {
    /// RSA with the given encoding (PKCS#1 v1.5 or PSS, any hash).
    Rsa(
        &'a RsaKeyPair,
        &'static dyn aws_lc_rs::signature::RsaEncoding,
    ),
    /// ECDSA (the curve's own hash), fixed-width signature.
    Ec(&'a EcdsaKeyPair),
    /// Ed25519.
    Ed(&'a Ed25519KeyPair),
    /// HMAC with the given secret and hash.
    Hmac(&'a [u8], aws_lc_rs::hmac::Algorithm),
    /// A fixed signature, whatever the input.
    Raw(&'a [u8]),
    /// An empty signature segment.
    Empty,
}

impl std::fmt::Debug for Signer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::Rsa(..) => "Signer::Rsa",
            Signer::Ec(_) => "Signer::Ec",
            Signer::Ed(_) => "Signer::Ed",
            Signer::Hmac(..) => "Signer::Hmac",
            Signer::Raw(_) => "Signer::Raw",
            Signer::Empty => "Signer::Empty",
        })
    }
}

/// Sign `header` and `payload` given as raw text (not re-serialised: hostile JSON stays as
/// written).
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

/// Sign a JSON header and payload.
pub fn sign(header: &Value, payload: &Value, signer: Signer<'_>) -> String {
    sign_raw(&header.to_string(), &payload.to_string(), signer)
}

/// The standard claims: issuer [`ISS`], audience [`AUD`], valid around [`NOW`].
pub fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "user-1", "iat": NOW - 10, "exp": NOW + 300,
           "scope": "read:orders write:orders", "tenant": "acme", "roles": ["admin"],
           "jti": "t-1"})
}

/// The standard claims, valid around the real current time.
pub fn claims_now() -> Value {
    let now = unix_now();
    let mut c = claims();
    c["iat"] = json!(now - 10);
    c["exp"] = json!(now + 300);
    c
}

/// RS256 with `rsa-1`.
pub fn rs256() -> Signer<'static> {
    Signer::Rsa(&keys().rsa, &aws_lc_rs::signature::RSA_PKCS1_SHA256)
}

/// ES256 with `ec-1`.
pub fn es256() -> Signer<'static> {
    Signer::Ec(&keys().ec)
}

/// ES384 with `ec384-1`.
pub fn es384() -> Signer<'static> {
    Signer::Ec(&keys().ec384)
}

/// EdDSA with `ed-1`.
pub fn eddsa() -> Signer<'static> {
    Signer::Ed(&keys().ed)
}

/// A token with header `{"alg", "kid", "typ"}` over `claims`, signed by `signer`.
pub fn token(alg: &str, kid: &str, claims: &Value, signer: Signer<'_>) -> String {
    sign(
        &json!({"alg": alg, "kid": kid, "typ": "JWT"}),
        claims,
        signer,
    )
}

/// An Ed25519 key published under a kid: the unit of the key-rotation tests.
pub struct KidKey {
    /// The key pair.
    pub pair: Ed25519KeyPair,
    /// The kid it is published under.
    pub kid: String,
}

impl KidKey {
    /// A fresh key under `kid`.
    pub fn new(kid: &str) -> Self {
        Self {
            pair: ed25519_key(),
            kid: kid.into(),
        }
    }

    /// Its public JWK.
    pub fn jwk(&self) -> Value {
        ed_jwk(&self.pair, &self.kid)
    }

    /// An EdDSA token over `claims` signed by this key, whose header names `kid` (its own or
    /// another: a token that points at a key the set does not have).
    pub fn sign_with_kid(&self, kid: &str, claims: &Value) -> String {
        sign(
            &json!({"alg": "EdDSA", "kid": kid}),
            claims,
            Signer::Ed(&self.pair),
        )
    }
}

/// The JWK set publishing these keys, as JSON text.
pub fn kid_jwks(keys: &[&KidKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

/// The current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_key_has_its_kid_and_curve() {
        let set = jwks_json_all();
        let kids: Vec<&str> = set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["rsa-1", "rsa-any", "ec-1", "ed-1", "ec384-1"]);
        assert_eq!(set["keys"][4]["crv"], "P-384");
        assert_eq!(set["keys"][2]["crv"], "P-256");
    }

    #[test]
    fn a_signed_token_has_three_segments_and_the_header_as_given() {
        let t = token("ES256", "ec-1", &claims(), es256());
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = URL_SAFE_NO_PAD.decode(parts[0]).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&header).unwrap()["kid"],
            "ec-1"
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 64);
    }
}
