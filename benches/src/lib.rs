//! Fixtures shared by the benchmarks in `benches/`: keys, tokens and the baseline decoder.
#![forbid(unsafe_code)]

use aws_lc_rs::signature::{KeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use iam_core::jwks::JwkSet;
use iam_testkit::keys::{ec_jwk, ed25519_key, ed_jwk, p256_key, rsa_jwk, rsa_key, sign, Signer};
use serde::Deserialize;
use serde_json::json;

/// Issuer of the fixture tokens.
pub const ISSUER: &str = "https://auth.example.com/";
/// Audience of the fixture tokens.
pub const AUDIENCE: &str = "orders-api";

/// One algorithm's fixture: the token, the JWK set, and jsonwebtoken's key for the baseline.
pub struct Fixture {
    /// `RS256`, `ES256` or `EdDSA`.
    pub name: &'static str,
    /// jsonwebtoken's algorithm, for the baseline.
    pub alg: jsonwebtoken::Algorithm,
    /// A signed token with a typical access-token payload.
    pub token: String,
    /// The key as iam-core sees it.
    pub keys: JwkSet,
    /// The key as jsonwebtoken sees it.
    pub decoding_key: jsonwebtoken::DecodingKey,
}

/// What a user of raw jsonwebtoken typically decodes into.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct TypicalClaims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
    exp: u64,
    iat: u64,
    scope: Option<String>,
    client_id: Option<String>,
    jti: Option<String>,
}

fn token(header: serde_json::Value, signer: Signer<'_>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // The shape of an Ory Hydra access token.
    let claims = json!({
        "iss": ISSUER, "sub": "9b1b2c4e-6f07-4a53-9b0a-2f6c1f0e5d11", "aud": [AUDIENCE],
        "exp": now + 3600, "iat": now, "nbf": now, "jti": "6c4d0a4e-2f7c-4d57-8b5b-1a3f3c0f7f41",
        "client_id": "orders-web", "scp": ["openid", "offline", "orders:read", "orders:write"],
        "scope": "openid offline orders:read orders:write",
        "ext": {"tenant": "acme", "roles": ["admin"], "permissions": ["orders:*"]},
    });
    sign(&header, &claims, signer)
}

/// Fresh keys and tokens for RS256, ES256 and EdDSA.
pub fn fixtures() -> Vec<Fixture> {
    let rsa = rsa_key();
    let rsa_pub = RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
    let ec = p256_key();
    let ec_pub = ec.public_key().as_ref().to_vec();
    let ed = ed25519_key();
    let ed_pub = ed.public_key().as_ref().to_vec();

    let set = |jwk: serde_json::Value| {
        JwkSet::from_json(json!({"keys":[jwk]}).to_string().as_bytes()).expect("jwks")
    };
    vec![
        Fixture {
            name: "RS256",
            alg: jsonwebtoken::Algorithm::RS256,
            token: token(
                json!({"alg":"RS256","kid":"k","typ":"JWT"}),
                Signer::Rsa(&rsa, &RSA_PKCS1_SHA256),
            ),
            keys: set(rsa_jwk(&rsa, "k", Some("RS256"))),
            decoding_key: jsonwebtoken::DecodingKey::from_rsa_raw_components(
                &rsa_pub.n, &rsa_pub.e,
            ),
        },
        Fixture {
            name: "ES256",
            alg: jsonwebtoken::Algorithm::ES256,
            token: token(
                json!({"alg":"ES256","kid":"k","typ":"JWT"}),
                Signer::Ec(&ec),
            ),
            keys: set(ec_jwk(&ec, "k")),
            decoding_key: jsonwebtoken::DecodingKey::from_ec_der(&ec_pub),
        },
        Fixture {
            name: "EdDSA",
            alg: jsonwebtoken::Algorithm::EdDSA,
            token: token(
                json!({"alg":"EdDSA","kid":"k","typ":"JWT"}),
                Signer::Ed(&ed),
            ),
            keys: set(ed_jwk(&ed, "k")),
            decoding_key: jsonwebtoken::DecodingKey::from_ed_der(&ed_pub),
        },
    ]
}

/// The baseline: jsonwebtoken's `decode` with issuer, audience and expiry checked.
pub fn baseline_validation(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v
}
