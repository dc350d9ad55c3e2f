//! What `verify-token` does with no arguments: make a key and tokens, and verify them.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use iam_core::jwks::JwkSet;
use iam_core::jwt::Validator;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// Print a line; a closed stdout (`| head`) is not an error worth a panic.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "demo-api";

pub(crate) fn run() -> ExitCode {
    match demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn demo() -> Result<(), String> {
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|e| e.to_string())?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| e.to_string())?;
    let jwks = serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": "demo-1",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    }]});
    let keys = JwkSet::from_json(jwks.to_string().as_bytes()).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let signing_key = EncodingKey::from_ed_der(pkcs8.as_ref());
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("demo-1".into());
    header.typ = Some("at+jwt".into());
    let sign = |claims: serde_json::Value| {
        jsonwebtoken::encode(&header, &claims, &signing_key).map_err(|e| e.to_string())
    };
    let good = sign(serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-123", "iat": now, "exp": now + 300,
        "scope": "read:orders write:orders", "tenant": "acme", "roles": ["admin"],
        "client_id": "demo-client", "jti": "demo-token-1",
    }))?;
    let expired = sign(serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-123", "iat": now - 7200, "exp": now - 3600,
    }))?;

    let validator = Validator::builder(ISSUER)
        .audience(AUDIENCE)
        .build()
        .map_err(|e| e.to_string())?;
    say!("verify-token demo: a fresh Ed25519 key, and tokens signed with it.\n");
    say!(
        "JWK set:\n{}\n",
        serde_json::to_string_pretty(&jwks).unwrap_or_default()
    );
    say!("Valid token:\n{good}\n");
    match validator.validate(&good, &keys) {
        Ok(v) => say!(
            "=> accepted, principal:\n{}\n",
            serde_json::to_string_pretty(v.principal()).unwrap_or_default()
        ),
        Err(e) => return Err(format!("the valid token was refused: {e}")),
    }
    // Change one character in the middle of the signature (the last one may only carry
    // padding bits, and changing those would make the token malformed instead).
    let at = good.len() - 10;
    let swapped = if good.as_bytes()[at] == b'A' {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{swapped}{}", &good[..at], &good[at + 1..]);
    for (what, token) in [("Tampered signature", tampered), ("Expired token", expired)] {
        match validator.validate(&token, &keys) {
            Ok(_) => return Err(format!("{what} was accepted")),
            Err(e) => say!("{what}:\n=> refused: {e}\n"),
        }
    }
    say!(
        "Try it yourself:\n  verify-token --jwks jwks.json --issuer {ISSUER} --audience {AUDIENCE} TOKEN"
    );
    Ok(())
}
