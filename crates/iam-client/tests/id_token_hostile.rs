//! `LoginClient::complete` against a provider double that answers the code exchange with a
//! hostile ID token: each is refused with `InvalidIdToken`, never a login.
use iam_client::login::{LoginClient, LoginError};
use iam_client::{HttpClient, TrustedIssuer};
use iam_testkit::keys::{ec_jwk, es256, keys, sign, unix_now};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const CLIENT: &str = "web";
const ACCESS_TOKEN: &str = "ory_at_example-access-token";
/// `at_hash` of `ACCESS_TOKEN` for ES256 (left half of its SHA-256, base64url).
const AT_HASH: &str = "WoSpunG7LYoju2tqE96NNw";

struct Provider {
    server: LoopbackServer,
    /// The ID token the token endpoint answers next.
    id_token: Arc<Mutex<String>>,
}

async fn provider() -> Provider {
    let id_token = Arc::new(Mutex::new(String::new()));
    let next = Arc::clone(&id_token);
    let issuer = Arc::new(Mutex::new(String::new()));
    let iss = Arc::clone(&issuer);
    let server = LoopbackServer::start(move |req| {
        let base = iss.lock().unwrap().clone();
        match req.path() {
            "/.well-known/openid-configuration" => Reply::json(
                200,
                &json!({
                    "issuer": format!("{base}/"),
                    "authorization_endpoint": format!("{base}/auth"),
                    "token_endpoint": format!("{base}/token"),
                    "jwks_uri": format!("{base}/jwks"),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["ES256"],
                }),
            ),
            "/jwks" => Reply::json(200, &json!({"keys": [ec_jwk(&keys().ec, "k1")]})),
            "/token" => Reply::json(
                200,
                &json!({"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 300,
                        "id_token": next.lock().unwrap().clone()}),
            ),
            _ => Reply::status(404),
        }
    })
    .await;
    *issuer.lock().unwrap() = server.url("").trim_end_matches('/').to_owned();
    Provider { server, id_token }
}

fn claims(p: &Provider, nonce: &str) -> Value {
    json!({"iss": p.server.url("/"), "aud": CLIENT, "sub": "user-1", "nonce": nonce,
           "iat": unix_now(), "exp": unix_now() + 300, "at_hash": AT_HASH})
}

fn signed(claims: &Value) -> String {
    sign(
        &json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}),
        claims,
        es256(),
    )
}

/// Log in once with the ID token `make(provider, nonce)` answers.
async fn login_with(make: impl Fn(&Provider, &str) -> String) -> Result<String, LoginError> {
    let p = provider().await;
    let http = HttpClient::new().unwrap();
    let issuer = TrustedIssuer::discover(&p.server.url("/"), CLIENT, &http)
        .await
        .unwrap();
    let login = LoginClient::new(&issuer, CLIENT, "secret", "http://127.0.0.1:9/cb", http).unwrap();
    let (_url, pending) = login.begin(&["openid"]);
    let (state, nonce, _) = pending.secrets();
    let (state, nonce) = (state.to_owned(), nonce.to_owned());
    *p.id_token.lock().unwrap() = make(&p, &nonce);
    login
        .complete(pending, "code-1", &state)
        .await
        .map(|o| o.principal.subject().to_owned())
}

fn refused(result: Result<String, LoginError>, case: &str) {
    match result {
        Err(LoginError::InvalidIdToken(_)) => {}
        other => panic!("{case}: {other:?}"),
    }
}

#[tokio::test]
async fn a_good_id_token_logs_in() {
    let subject = login_with(|p, nonce| signed(&claims(p, nonce)))
        .await
        .unwrap();
    assert_eq!(subject, "user-1");
}

#[tokio::test]
async fn hostile_id_tokens_are_refused() {
    refused(
        login_with(|p, _| signed(&claims(p, "another-nonce"))).await,
        "nonce of another login",
    );
    refused(
        login_with(|p, nonce| {
            let mut c = claims(p, nonce);
            c.as_object_mut().unwrap().remove("nonce");
            signed(&c)
        })
        .await,
        "no nonce",
    );
    refused(
        login_with(|p, nonce| {
            let mut c = claims(p, nonce);
            c["aud"] = "another-client".into();
            signed(&c)
        })
        .await,
        "another audience",
    );
    refused(
        login_with(|p, nonce| {
            let mut c = claims(p, nonce);
            c["aud"] = json!([CLIENT, "another-client"]);
            signed(&c)
        })
        .await,
        "several audiences without azp",
    );
    refused(
        login_with(|p, nonce| {
            let mut c = claims(p, nonce);
            c["iss"] = "https://evil.example/".into();
            signed(&c)
        })
        .await,
        "another issuer",
    );
    refused(
        login_with(|p, nonce| {
            let mut c = claims(p, nonce);
            c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA".into();
            signed(&c)
        })
        .await,
        "at_hash of another access token",
    );
    refused(
        login_with(|p, nonce| {
            let mut c = claims(p, nonce);
            c["exp"] = json!(unix_now() - 3600);
            signed(&c)
        })
        .await,
        "expired",
    );
    refused(
        login_with(|p, nonce| {
            let good = signed(&claims(p, nonce));
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            let forged = claims(p, nonce);
            let mut forged = forged.clone();
            forged["sub"] = "admin".into();
            parts[1] = iam_testkit::b64(forged.to_string().as_bytes());
            parts.join(".")
        })
        .await,
        "payload swapped under a valid signature",
    );
    refused(
        login_with(|p, nonce| {
            let c = claims(p, nonce);
            format!(
                "{}.{}.",
                iam_testkit::b64(br#"{"alg":"none"}"#),
                iam_testkit::b64(c.to_string().as_bytes())
            )
        })
        .await,
        "alg none",
    );
}
