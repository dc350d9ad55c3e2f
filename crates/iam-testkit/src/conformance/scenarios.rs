//! The one scenario table every framework adapter must answer identically: request in,
//! (status, `WWW-Authenticate`, JSON error code, body content) out.
use crate::b64;
use crate::keys::{es256, sign};
use iam_core::authn::{AuthChain, AuthError, Authenticator, JwtAuthenticator, RequestView};
use iam_core::jwks::{BoxFuture, JwkSet, KeySource, KeySourceError, StaticKeys};
use iam_core::jwt::Validator;
use iam_core::principal::Principal;
use serde_json::{json, Value};
use std::sync::Arc;

/// The issuer the scenario tokens name.
pub const ISS: &str = "https://issuer.example";
/// The audience the app under test accepts.
pub const AUD: &str = "sample-api";
/// The key id of the signing key (iam-testkit's P-256 key `ec`).
const KID: &str = "k1";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token for the app under test: valid claims (subject `user-1`, tenant `acme`, five
/// minutes left) with `extra` merged over them, signed ES256 under kid `k1`.
pub fn token(extra: Value) -> String {
    let mut c =
        json!({"iss": ISS, "aud": AUD, "sub": "user-1", "exp": now() + 300, "tenant": "acme"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    sign(&json!({"alg":"ES256","kid":KID}), &c, es256())
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
    let jwks = json!({"keys": [crate::keys::ec_jwk(&crate::keys::keys().ec, KID)]});
    AuthChain::new().with(JwtAuthenticator::new(
        v,
        StaticKeys::new(JwkSet::from_json(jwks.to_string().as_bytes()).unwrap()),
    ))
}

/// Routes of the app under test: `/me` → the principal's subject and scopes as JSON;
/// `/admin` → needs permission `admin:read`; `/echo-user-header` → the `X-User-ID` header the
/// handler sees, or `none`.
pub struct Scenario {
    /// What the row checks (named in failures).
    pub name: &'static str,
    /// The request path (and query).
    pub path: &'static str,
    /// The request headers.
    pub headers: Vec<(&'static str, String)>,
    /// The key source fails (the issuer is unreachable).
    pub keys_down: bool,
    /// The expected status.
    pub status: u16,
    /// The expected `WWW-Authenticate`, when checked.
    pub www_authenticate: Option<&'static str>,
    /// The expected JSON `error` code, when checked.
    pub error: Option<&'static str>,
    /// Text the body must contain, when checked.
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

/// The table.
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
            ..row("alg none", "/me", bearer(format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(json!({"iss":ISS,"aud":AUD,"sub":"x","exp":now()+60}).to_string().as_bytes()))), 401)
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

/// The chain with its no-waiting answers hidden: an adapter then always takes its boxed,
/// awaited path. Both paths must answer every scenario the same way.
struct Waiting(AuthChain);

impl Authenticator for Waiting {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> iam_core::authn::BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        self.0.authenticate(request)
    }
}

/// [`chain`] behind an authenticator that never answers without waiting.
pub fn waiting_chain(keys_down: bool) -> AuthChain {
    AuthChain::new().with(Waiting(chain(keys_down)))
}
