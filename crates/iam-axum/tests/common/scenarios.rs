//! The one scenario table both framework crates must answer identically: request in,
//! (status, `WWW-Authenticate`, JSON error code, body content) out. iam-actix includes this
//! file from here, so the two cannot drift apart.
#![allow(dead_code, unreachable_pub)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use iam_core::authn::{AuthChain, JwtAuthenticator};
use iam_core::jwks::{BoxFuture, JwkSet, KeySource, KeySourceError, StaticKeys};
use iam_core::jwt::Validator;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

pub const ISS: &str = "https://issuer.example";
pub const AUD: &str = "sample-api";

fn key() -> &'static EcdsaKeyPair {
    static K: OnceLock<EcdsaKeyPair> = OnceLock::new();
    K.get_or_init(|| {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap()
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn sign(header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key().sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

pub fn token(extra: Value) -> String {
    let mut c =
        json!({"iss": ISS, "aud": AUD, "sub": "user-1", "exp": now() + 300, "tenant": "acme"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    sign(json!({"alg":"ES256","kid":"k1"}), c)
}

struct Down;
impl KeySource for Down {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        Box::pin(std::future::ready(Err(KeySourceError::new("issuer down"))))
    }
}

/// The authenticator chain of the app under test; `keys_down` makes the key source fail.
pub fn chain(keys_down: bool) -> AuthChain {
    let v = Validator::builder(ISS).audience(AUD).build().unwrap();
    if keys_down {
        return AuthChain::new().with(JwtAuthenticator::new(v, Down));
    }
    let p = key().public_key().as_ref();
    let jwks = json!({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":URL_SAFE_NO_PAD.encode(&p[1..33]),"y":URL_SAFE_NO_PAD.encode(&p[33..65])}]});
    AuthChain::new().with(JwtAuthenticator::new(
        v,
        StaticKeys::new(JwkSet::from_json(jwks.to_string().as_bytes()).unwrap()),
    ))
}

/// Routes of the app under test: `/me` → the principal's subject and scopes as JSON;
/// `/admin` → needs permission `admin:read`; `/echo-user-header` → the `X-User-ID` header the
/// handler sees, or `none`.
pub struct Scenario {
    pub name: &'static str,
    pub path: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub keys_down: bool,
    pub status: u16,
    pub www_authenticate: Option<&'static str>,
    pub error: Option<&'static str>,
    pub body_contains: Option<&'static str>,
}

fn row(
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    status: u16,
) -> Scenario {
    Scenario {
        name,
        path,
        headers,
        keys_down: false,
        status,
        www_authenticate: None,
        error: None,
        body_contains: None,
    }
}

pub fn scenarios() -> Vec<Scenario> {
    let bearer = |t: String| vec![("authorization", format!("Bearer {t}"))];
    let good = token(json!({"scope": "orders:read"}));
    let admin = token(json!({"permissions": ["admin:read"]}));
    let rows = vec![
        Scenario { body_contains: Some("\"subject\":\"user-1\""), ..row("valid token", "/me", bearer(good.clone()), 200) },
        Scenario { body_contains: Some("orders:read"), ..row("scheme in lower case", "/me", vec![("authorization", format!("bearer {good}"))], 200) },
        Scenario { www_authenticate: Some("Bearer"), error: Some("unauthorized"), ..row("no credentials", "/me", vec![], 401) },
        Scenario { www_authenticate: Some("Bearer"), error: Some("unauthorized"), ..row("token only in the query", "/me?access_token=abc", vec![], 401) },
        Scenario { www_authenticate: Some("Bearer"), ..row("basic auth is not a bearer", "/me", vec![("authorization", "Basic dTpw".into())], 401) },
        Scenario {
            www_authenticate: Some("Bearer error=\"invalid_token\", error_description=\"token expired\""),
            error: Some("invalid_token"),
            ..row("expired", "/me", bearer(token(json!({"exp": now() - 3600}))), 401)
        },
        Scenario {
            www_authenticate: Some("Bearer error=\"invalid_token\", error_description=\"audience not accepted\""),
            error: Some("invalid_token"),
            ..row("wrong audience", "/me", bearer(token(json!({"aud": "other"}))), 401)
        },
        Scenario {
            error: Some("invalid_token"),
            ..row("alg none", "/me", bearer(format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode(json!({"iss":ISS,"aud":AUD,"sub":"x","exp":now()+60}).to_string()))), 401)
        },
        Scenario { error: Some("invalid_token"), ..row("garbage JWT", "/me", bearer("a.b.c".into()), 401) },
        Scenario { error: Some("invalid_token"), ..row("opaque bearer nobody handles", "/me", bearer("opaque-token".into()), 401) },
        Scenario { error: Some("invalid_request"), ..row("two authorization headers", "/me", [bearer(good.clone()), bearer(good.clone())].concat(), 400) },
        Scenario { body_contains: Some("secret"), ..row("admin with permission", "/admin", bearer(admin.clone()), 200) },
        Scenario { body_contains: Some("secret"), ..row("admin via scope", "/admin", bearer(token(json!({"scope": "admin:*"}))), 200) },
        Scenario {
            www_authenticate: Some("Bearer error=\"insufficient_scope\", error_description=\"the request requires higher privileges\", scope=\"admin:read\""),
            error: Some("insufficient_scope"),
            ..row("admin without permission", "/admin", bearer(good.clone()), 403)
        },
        Scenario { www_authenticate: Some("Bearer"), ..row("admin without credentials", "/admin", vec![], 401) },
        Scenario {
            body_contains: Some("none"),
            ..row("spoofed identity headers are stripped", "/echo-user-header",
                [bearer(good.clone()), vec![("x-user-id", "admin".into()), ("X-USER-ID", "root".into())]].concat(), 200)
        },
        Scenario { error: Some("temporarily_unavailable"), keys_down: true, ..row("keys unobtainable", "/me", bearer(good.clone()), 503) },
        Scenario { www_authenticate: Some("Bearer"), keys_down: true, ..row("keys down, no credentials", "/me", vec![], 401) },
    ];
    rows
}

/// Check one answer against its row; `Err` says what differs.
pub fn check(s: &Scenario, status: u16, www: Option<&str>, body: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    if status != s.status {
        problems.push(format!("status {status}, expected {}", s.status));
    }
    if let Some(want) = s.www_authenticate {
        if www != Some(want) {
            problems.push(format!("WWW-Authenticate {www:?}, expected {want:?}"));
        }
    }
    if let Some(code) = s.error {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        if v["error"] != code {
            problems.push(format!("body {body:?}, expected error {code}"));
        }
    }
    if let Some(part) = s.body_contains {
        if !body.contains(part) {
            problems.push(format!("body {body:?} lacks {part:?}"));
        }
    }
    for (_, v) in &s.headers {
        if let Some(t) = v.strip_prefix("Bearer ") {
            if t.len() > 20 && body.contains(t) {
                problems.push("the body echoes the token".into());
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", s.name, problems.join("; ")))
    }
}
