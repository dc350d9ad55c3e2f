//! Differential tests against the real Ory Oathkeeper v0.40.9: the same configuration, the
//! same rules (the vendored Oathkeeper rule files and our own), the same requests; the same
//! status and the same identity headers upstream, except rows where Oathkeeper is wrong by a
//! known bug class: those assert our safer answer and name the class and an advisory of it.
mod common;

use common::{raw, start, RawResponse};
use iam_service::Env;
use iam_testkit::keys::{claims_now, rs256, token, AUD, ISS};
use iam_testkit::peers::kratos::Kratos;
use iam_testkit::peers::oathkeeper;
use iam_testkit::{LoopbackServer, Reply};
use serde_json::{json, Value};
use std::net::SocketAddr;

fn no_env(_: &str) -> Option<String> {
    None
}

/// Our own rules: every authenticator/authorizer/error path the corpus exercises.
fn own_rules(upstream: &str) -> Value {
    json!([
        {"id": "jwt", "match": {"url": "http://app.example/api/<.*>", "methods": ["GET", "POST"]},
         "authenticators": [{"handler": "jwt"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
         "upstream": {"url": upstream}},
        {"id": "public", "match": {"url": "http://app.example/public/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
         "upstream": {"url": upstream}},
        {"id": "chain", "match": {"url": "http://app.example/chain", "methods": ["GET"]},
         "authenticators": [{"handler": "jwt"}, {"handler": "anonymous"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
         "upstream": {"url": upstream}},
        {"id": "deny", "match": {"url": "http://app.example/deny", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "deny"},
         "mutators": [{"handler": "noop"}], "upstream": {"url": upstream}},
        {"id": "unauthorized", "match": {"url": "http://app.example/unauthorized", "methods": ["GET"]},
         "authenticators": [{"handler": "unauthorized"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "noop"}], "upstream": {"url": upstream}},
        {"id": "overlap-a", "match": {"url": "http://app.example/overlap/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "noop"}], "upstream": {"url": upstream}},
        {"id": "overlap-b", "match": {"url": "http://app.example/overlap/<[a-z]+>", "methods": ["GET"]},
         "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "noop"}], "upstream": {"url": upstream}},
        {"id": "glob-like-regex", "match": {"url": "http://<[a-z]+>.example/cap/<[0-9]+>", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-Capture": "{{ index .MatchContext.RegexpCaptureGroups 1 }}"}}}],
         "upstream": {"url": upstream}},
        {"id": "browser", "match": {"url": "http://app.example/session/<.*>", "methods": ["GET", "POST"]},
         "authenticators": [{"handler": "cookie_session"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}", "X-Email": "{{ print .Extra.identity.traits.email }}"}}}],
         "upstream": {"url": upstream}},
        {"id": "browser-or-guest", "match": {"url": "http://app.example/maybe-session", "methods": ["GET"]},
         "authenticators": [{"handler": "cookie_session"}, {"handler": "anonymous"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
         "upstream": {"url": upstream}},
        {"id": "native", "match": {"url": "http://app.example/native/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "bearer_token"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}", "X-Email": "{{ print .Extra.identity.traits.email }}"}}}],
         "upstream": {"url": upstream}}
    ])
}

/// The vendored Oathkeeper rule files this comparison can run (no fixed upstream needed on
/// `/decisions`): the docker-compose rules without the `id_token` one (each proxy signs with
/// its own keys, so its upstream headers can never be equal; `tests/e2e.rs` checks ours), and
/// the forwarded-header rules.
fn shared_rules() -> Value {
    let dir = iam_testkit::data::specs_dir().join("oathkeeper-v26.2.0-rules");
    let mut out = Vec::new();
    for name in [
        "docker_compose_rules.json",
        "test_forwarded-header_rules.1.json",
    ] {
        let rules: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        for r in rules.as_array().unwrap() {
            if r["mutators"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["handler"] != "id_token")
            {
                out.push(r.clone());
            }
        }
    }
    Value::Array(out)
}

/// The handler settings of both proxies; `whoami` is the one Kratos behind both.
fn config(jwks: &str, whoami: &str) -> Value {
    json!({
        "access_rules": {"matching_strategy": "regexp"},
        "authenticators": {
            "noop": {"enabled": true},
            "anonymous": {"enabled": true, "config": {"subject": "guest"}},
            "unauthorized": {"enabled": true},
            "jwt": {"enabled": true, "config": {"jwks_urls": [jwks], "trusted_issuers": [ISS], "target_audience": [AUD]}},
            "cookie_session": {"enabled": true, "config": {"check_session_url": whoami, "preserve_path": true,
                "subject_from": "identity.id", "extra_from": "@this"}},
            "bearer_token": {"enabled": true, "config": {"check_session_url": whoami, "preserve_path": true,
                "subject_from": "identity.id", "extra_from": "@this"}}
        },
        "authorizers": {"allow": {"enabled": true}, "deny": {"enabled": true}},
        "mutators": {"noop": {"enabled": true}, "header": {"enabled": true, "config": {"headers": {}}}},
        "errors": {
            "fallback": ["json"],
            "handlers": {
                "json": {"enabled": true, "config": {}},
                "redirect": {"enabled": true, "config": {"to": "http://login.example/ui"}}
            }
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Port {
    Proxy,
    Api,
}

/// What a row expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Same status (and same identity headers upstream when forwarded).
    Same,
    /// Oathkeeper is wrong by a known bug class: our status, and the class and an advisory.
    Safer(u16, &'static str),
}

struct Side {
    addr_proxy: SocketAddr,
    addr_api: SocketAddr,
    upstream: LoopbackServer,
}

async fn send(
    side: &Side,
    port: Port,
    head: &str,
) -> (RawResponse, Option<iam_testkit::RecordedRequest>) {
    side.upstream.clear();
    let addr = if port == Port::Proxy {
        side.addr_proxy
    } else {
        side.addr_api
    };
    let res = raw(addr, head).await;
    (res, side.upstream.requests().into_iter().next())
}

const IDENTITY: [&str; 5] = ["x-user", "x_user", "x.user", "x-capture", "x-email"];

fn identity(seen: &Option<iam_testkit::RecordedRequest>) -> Vec<(String, String)> {
    let Some(r) = seen else { return Vec::new() };
    let mut out: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| IDENTITY.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
#[ignore = "needs oathkeeper and kratos: scripts/test"]
async fn the_request_corpus_gets_oathkeepers_answers_except_documented_bug_classes() {
    let jwks = LoopbackServer::start(|_| Reply::json(200, &iam_testkit::keys::jwks_json())).await;
    let jwks_url = jwks.url("/jwks");
    let kratos = Kratos::start().await;
    let whoami = kratos.whoami_url();
    let (email, password) = ("ada@example.org", "correct horse battery staple 42");
    let ada = kratos.create_identity(email, password).await;
    let session_token = kratos.session_token(email, password).await;
    let session_cookie = kratos.session_cookie(email, password).await;
    let up_ok = LoopbackServer::start(|_| Reply::text(200, "upstream")).await;
    let up_ours = LoopbackServer::start(|_| Reply::text(200, "upstream")).await;

    let mut ok_rules = own_rules(&up_ok.url("/")).as_array().unwrap().clone();
    ok_rules.extend(shared_rules().as_array().unwrap().iter().cloned());
    let mut our_rules = own_rules(&up_ours.url("/")).as_array().unwrap().clone();
    our_rules.extend(shared_rules().as_array().unwrap().iter().cloned());

    let ok = oathkeeper::start(
        config(&jwks_url, &whoami),
        &[("rules.json", Value::Array(ok_rules).to_string())],
    )
    .await;
    let (_dir, loc) = common::rules_dir(&Value::Array(our_rules));
    let mut doc = config(&jwks_url, &whoami);
    doc["access_rules"]["repositories"] = json!([loc]);
    let ours = start(doc, Env::with_lookup("ACCESS_PROXY_", no_env)).await;

    let oathkeeper = Side {
        addr_proxy: ([127, 0, 0, 1], ok.proxy).into(),
        addr_api: ([127, 0, 0, 1], ok.api).into(),
        upstream: up_ok,
    };
    let access_proxy = Side {
        addr_proxy: ours.proxy,
        addr_api: ours.api,
        upstream: up_ours,
    };

    let valid = token("RS256", "rsa-1", &claims_now(), rs256());
    let mut expired_claims = claims_now();
    expired_claims["exp"] = json!(1_000_000);
    expired_claims["iat"] = json!(999_000);
    let expired = token("RS256", "rsa-1", &expired_claims, rs256());
    let mut foreign = claims_now();
    foreign["aud"] = json!("another-api");
    let wrong_aud = token("RS256", "rsa-1", &foreign, rs256());
    // A signature byte changed: every verifier refuses it.
    let tampered = {
        let mut t = valid.clone().into_bytes();
        let at = t.len() - 20;
        t[at] = if t[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    // The same signature bytes in a non-canonical encoding: the last base64url character of
    // a 256-byte signature carries 2 bits, and its 4 padding bits must be zero (RFC 4648
    // §3.5). Go's decoder ignores them, so Oathkeeper accepts the altered token.
    let non_canonical = {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut t = valid.clone().into_bytes();
        let last = t.len() - 1;
        let index = ALPHABET.iter().position(|&c| c == t[last]).unwrap();
        t[last] = ALPHABET[(index & 0b11_0000) | 0b0001];
        String::from_utf8(t).unwrap()
    };

    let h = "Host: app.example";
    let rows: Vec<(String, Port, Expect)> = vec![
        // Methods and plain paths.
        (format!("GET /public/a {h}"), Port::Proxy, Expect::Same),
        (format!("POST /public/a {h}"), Port::Proxy, Expect::Same),
        (format!("DELETE /api/x {h}"), Port::Proxy, Expect::Same),
        (format!("GET /nothing {h}"), Port::Proxy, Expect::Same),
        (format!("GET /deny {h}"), Port::Proxy, Expect::Same),
        (format!("GET /unauthorized {h}"), Port::Proxy, Expect::Same),
        (format!("GET /overlap/abc {h}"), Port::Proxy, Expect::Same),
        (format!("GET /overlap/ABC {h}"), Port::Proxy, Expect::Same),
        ("GET /cap/42 Host: www.example".to_owned(), Port::Proxy, Expect::Same),
        ("GET /cap/42 Host: WWW.EXAMPLE".to_owned(), Port::Proxy, Expect::Safer(200, "host case folding (RFC 9110 §4.2.3: hosts are case-insensitive)")),
        ("GET /public/a Host: other.example".to_owned(), Port::Proxy, Expect::Same),
        // Credentials.
        (format!("GET /api/orders {h}\nAuthorization: Bearer {valid}"), Port::Proxy, Expect::Same),
        (format!("GET /api/orders {h}"), Port::Proxy, Expect::Same),
        (format!("GET /api/orders {h}\nAuthorization: Bearer {expired}"), Port::Proxy, Expect::Same),
        (format!("GET /api/orders {h}\nAuthorization: Bearer {wrong_aud}"), Port::Proxy, Expect::Same),
        (format!("GET /api/orders {h}\nAuthorization: Bearer {tampered}"), Port::Proxy, Expect::Same),
        (format!("GET /api/orders {h}\nAuthorization: Bearer {non_canonical}"), Port::Proxy,
            Expect::Safer(401, "non-canonical base64url signature (padding bits set; a second encoding of one signature, RFC 4648 §3.5)")),
        (format!("GET /api/orders {h}\nAuthorization: Basic dTpw"), Port::Proxy, Expect::Same),
        (format!("GET /chain {h}"), Port::Proxy, Expect::Same),
        (format!("GET /chain {h}\nAuthorization: Bearer {valid}"), Port::Proxy, Expect::Same),
        (format!("GET /chain {h}\nAuthorization: Bearer opaque-token"), Port::Proxy, Expect::Same),
        (format!("GET /public/a {h}\nAuthorization: Bearer {valid}"), Port::Proxy, Expect::Same),
        // Kratos sessions (the same Kratos behind both): cookie and session token.
        (format!("GET /session/a {h}\nCookie: ory_kratos_session={session_cookie}"), Port::Proxy, Expect::Same),
        (format!("POST /session/a {h}\nCookie: theme=dark; ory_kratos_session={session_cookie}"), Port::Proxy, Expect::Same),
        (format!("GET /session/a {h}\nCookie: ory_kratos_session=forged"), Port::Proxy, Expect::Same),
        (format!("GET /session/a {h}"), Port::Proxy, Expect::Same),
        (format!("GET /session/a {h}\nX-User: {ada}\nCookie: ory_kratos_session=forged"), Port::Proxy, Expect::Same),
        (format!("GET /maybe-session {h}"), Port::Proxy, Expect::Same),
        (format!("GET /maybe-session {h}\nCookie: theme=dark"), Port::Proxy, Expect::Same),
        (format!("GET /maybe-session {h}\nCookie: ory_kratos_session={session_cookie}"), Port::Proxy, Expect::Same),
        (format!("GET /native/a {h}\nAuthorization: Bearer {session_token}"), Port::Proxy, Expect::Same),
        (format!("GET /native/a {h}\nAuthorization: Bearer ory_st_forged"), Port::Proxy, Expect::Same),
        (format!("GET /native/a {h}\nCookie: ory_kratos_session={session_cookie}"), Port::Proxy, Expect::Same),
        (format!("GET /native/a {h}"), Port::Proxy, Expect::Same),
        (format!("GET /decisions/session/a {h}\nCookie: ory_kratos_session={session_cookie}"), Port::Api, Expect::Same),
        (format!("GET /decisions/native/a {h}\nAuthorization: Bearer {session_token}"), Port::Api, Expect::Same),
        // Identity headers a client sends.
        (format!("GET /public/a {h}\nX-User: admin"), Port::Proxy, Expect::Same),
        (format!("GET /public/a {h}\nX_User: admin"), Port::Proxy,
            Expect::Safer(200, "underscore header smuggling (X_User read as X-User by CGI/WSGI upstreams; nginx drops such names by default)")),
        (format!("GET /deny {h}\nX.User: admin"), Port::Proxy, Expect::Same),
        // Hostile paths.
        (format!("GET /public/..;/api/orders {h}"), Port::Proxy, Expect::Safer(400, "';' path parameter bypass (CVE-2020-1957 class)")),
        (format!("GET /public/..%2fapi/orders {h}"), Port::Proxy, Expect::Safer(400, "encoded slash bypass (CVE-2021-29492 class)")),
        (format!("GET /public/%2e%2e/api/orders {h}"), Port::Proxy, Expect::Safer(401, "encoded dot-segment normalisation bypass (CVE-2019-9901 class)")),
        (format!("GET /public/a%00b {h}"), Port::Proxy, Expect::Safer(400, "NUL in path")),
        (format!("GET /public/%252e%252e/api/orders {h}"), Port::Proxy, Expect::Safer(400, "double encoding")),
        // /decisions, including the shared rule files (Host names the rule's authority).
        ("GET /decisions/public/a Host: app.example".into(), Port::Api, Expect::Same),
        ("GET /decisions/deny Host: app.example".into(), Port::Api, Expect::Same),
        ("GET /decisions/nothing Host: app.example".into(), Port::Api, Expect::Same),
        (format!("GET /decisions/api/orders {h}\nAuthorization: Bearer {valid}"), Port::Api, Expect::Same),
        ("GET /decisions/http Host: 127.0.0.1:6060".into(), Port::Api, Expect::Same),
        ("GET /decisions/anything/header Host: localhost:4455".into(), Port::Api, Expect::Same),
        ("GET /decisions/anything/deny Host: localhost:4455\nAccept: application/json".into(), Port::Api, Expect::Same),
        ("GET /decisions/anything/header Host: 127.0.0.1:4455".into(), Port::Api, Expect::Same),
        ("GET /decisions Host: auth.internal\nX-Forwarded-Host: app.example\nX-Forwarded-Uri: /public/a\nX-Forwarded-Method: GET".into(), Port::Api,
            Expect::Safer(404, "X-Forwarded-* spoofing from an untrusted peer on /decisions (forwarded-header trust, cf. CVE-2024-45410)")),
    ];

    let mut report = Vec::new();
    for (head, port, expect) in &rows {
        let shown: String = head.chars().take(90).collect();
        let (line, rest) = head.split_once(' ').unwrap();
        let (path, headers) = rest.split_once(' ').unwrap();
        let request = format!("{line} {path} HTTP/1.1\n{headers}");
        let (theirs, seen_theirs) = send(&oathkeeper, *port, &request).await;
        let (mine, seen_mine) = send(&access_proxy, *port, &request).await;
        match expect {
            Expect::Same => {
                assert_eq!(
                    mine.status, theirs.status,
                    "{head:?}: ours {} vs oathkeeper {}\nours: {}\ntheirs: {}",
                    mine.status, theirs.status, mine.body, theirs.body
                );
                assert_eq!(
                    identity(&seen_mine),
                    identity(&seen_theirs),
                    "{head:?}: upstream identity headers differ"
                );
                if *port == Port::Api && mine.status == 200 {
                    assert_eq!(mine.header("x-user"), theirs.header("x-user"), "{head:?}");
                    assert_eq!(mine.header("x-email"), theirs.header("x-email"), "{head:?}");
                }
                report.push(format!("same {} {shown:?}", mine.status));
            }
            Expect::Safer(status, class) => {
                assert_eq!(
                    mine.status, *status,
                    "{head:?} ({class}): ours {}: {}",
                    mine.status, mine.body
                );
                let diverges =
                    theirs.status != mine.status || identity(&seen_theirs) != identity(&seen_mine);
                assert!(
                    diverges,
                    "{head:?}: Oathkeeper now agrees; move the row to Same ({class})"
                );
                report.push(format!(
                    "safer {} (oathkeeper {}) {shown:?}: {class}",
                    mine.status, theirs.status
                ));
            }
        }
    }
    // "Same" includes the identity: a session reaches upstream as Ada (cookie and token).
    for credential in [
        format!("Cookie: ory_kratos_session={session_cookie}"),
        format!("Authorization: Bearer {session_token}"),
    ] {
        let path = if credential.starts_with("Cookie") {
            "/session/a"
        } else {
            "/native/a"
        };
        let (res, seen) = send(
            &access_proxy,
            Port::Proxy,
            &format!("GET {path} HTTP/1.1\n{h}\n{credential}"),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(
            identity(&seen),
            vec![
                ("x-email".to_owned(), email.to_owned()),
                ("x-user".to_owned(), ada.clone())
            ]
        );
    }
    println!("{}", report.join("\n"));
    drop(kratos);
}
