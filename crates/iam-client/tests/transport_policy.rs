//! One transport policy for every URL the crate fetches or sends a secret to: https, or plain
//! http to a loopback host, or anything after the explicit dangerous opt-in. Checked for each
//! URL role at build time, for every endpoint of a discovery document, and by the HTTP client
//! before each request.
use iam_client::client_credentials::ClientCredentialsError;
use iam_client::kratos::KratosError;
use iam_client::login::{LoginClient, LoginError};
use iam_client::remote_credentials::RemoteCredentialsError;
use iam_client::{
    ClientCredentials, DiscoveryError, HttpClient, HttpError, Introspection, IntrospectionError,
    JwtConfig, JwtConfigError, KratosSessions, RemoteCredentials, RemoteJwks, RemoteJwksError,
    TransportPolicy, TransportPolicyError, TrustedIssuer, UrlRole,
};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::json;

const SVC: &str = "svc_0000000000000000000000000000000000000000";

fn strict() -> HttpClient {
    HttpClient::new().unwrap()
}

fn lax() -> HttpClient {
    HttpClient::new()
        .unwrap()
        .with_policy(TransportPolicy::new().dangerous().allow_plaintext_http())
}

/// Build every client that takes a configured URL, with `base` as the URL's scheme and host,
/// over `http`; the role each refusal names (`None` when built).
fn build_each_role(base: &str, http: &HttpClient) -> Vec<(UrlRole, Option<UrlRole>)> {
    fn role(e: &TransportPolicyError) -> Option<UrlRole> {
        Some(e.role())
    }
    let mut out = Vec::new();
    // The issuer, discovered lazily: refused when the chain is built, nothing fetched.
    let discovered = JwtConfig::new(format!("{base}/")).audience("api");
    out.push((
        UrlRole::Issuer,
        match discovered.keys_with(http) {
            Ok(_) => None,
            Err(JwtConfigError::Transport(e)) => role(&e),
            Err(e) => panic!("issuer {base}: {e}"),
        },
    ));
    let fixed = JwtConfig::new("https://issuer.example/")
        .audience("api")
        .jwks_url(format!("{base}/jwks"));
    out.push((
        UrlRole::Jwks,
        match fixed.keys_with(http) {
            Ok(_) => None,
            Err(JwtConfigError::Transport(e)) => role(&e),
            Err(e) => panic!("jwks {base}: {e}"),
        },
    ));
    out.push((
        UrlRole::KratosPublic,
        match KratosSessions::builder(format!("{base}/public"))
            .http_client(http.clone())
            .build()
        {
            Ok(_) => None,
            Err(KratosError::Insecure(e)) => role(&e),
            Err(e) => panic!("kratos {base}: {e}"),
        },
    ));
    out.push((
        UrlRole::KratosAdmin,
        match KratosSessions::builder("https://kratos.example/")
            .admin(format!("{base}/admin"), Some("ory_pat_x".into()))
            .http_client(http.clone())
            .build()
        {
            Ok(_) => None,
            Err(KratosError::Insecure(e)) => role(&e),
            Err(e) => panic!("kratos admin {base}: {e}"),
        },
    ));
    out.push((
        UrlRole::CredentialService,
        match RemoteCredentials::builder(base, SVC)
            .http_client(http.clone())
            .build()
        {
            Ok(_) => None,
            Err(RemoteCredentialsError::Insecure(e)) => role(&e),
            Err(e) => panic!("credentials {base}: {e}"),
        },
    ));
    out.push((
        UrlRole::IntrospectionEndpoint,
        match Introspection::builder(format!("{base}/introspect"), "rs", "secret")
            .audience("rs")
            .build(http.clone())
        {
            Ok(_) => None,
            Err(IntrospectionError::Insecure(e)) => role(&e),
            Err(e) => panic!("introspection {base}: {e}"),
        },
    ));
    out.push((
        UrlRole::RevocationEndpoint,
        match Introspection::builder("https://auth.example/introspect", "rs", "secret")
            .revocation_endpoint(format!("{base}/revoke"))
            .audience("rs")
            .build(http.clone())
        {
            Ok(_) => None,
            Err(IntrospectionError::Insecure(e)) => role(&e),
            Err(e) => panic!("revocation {base}: {e}"),
        },
    ));
    out.push((
        UrlRole::TokenEndpoint,
        match ClientCredentials::builder(format!("{base}/token"), "svc", "secret")
            .build(http.clone())
        {
            Ok(_) => None,
            Err(ClientCredentialsError::Insecure(e)) => role(&e),
            Err(e) => panic!("token {base}: {e}"),
        },
    ));
    out
}

#[tokio::test]
async fn every_url_role_is_refused_over_plaintext_to_a_host_that_is_not_loopback() {
    for base in [
        "http://auth.example.com",
        "http://10.0.0.7:4433",
        "http://[2001:db8::1]",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://[::ffff:127.0.0.1]",
    ] {
        for (expected, refused) in build_each_role(base, &strict()) {
            assert_eq!(refused, Some(expected), "{base} as {expected}");
        }
    }
    // The JWKS builder on its own follows the same policy.
    assert!(matches!(
        RemoteJwks::builder("http://auth.example.com/jwks").build(),
        Err(RemoteJwksError::InsecureUrl)
    ));
    // OIDC discovery refuses the issuer before fetching anything.
    assert!(matches!(
        TrustedIssuer::discover("http://auth.example.com/", "api", &strict()).await,
        Err(DiscoveryError::Insecure(e)) if e.role() == UrlRole::Issuer
    ));
}

#[tokio::test]
async fn every_url_role_is_accepted_on_loopback() {
    for base in [
        "http://127.0.0.1:4444",
        "http://127.8.9.10",
        "http://[::1]:4444",
        "http://localhost:4444",
        "http://LOCALHOST",
        "https://auth.example.com",
    ] {
        for (role, refused) in build_each_role(base, &strict()) {
            assert_eq!(refused, None, "{base} as {role}");
        }
        assert!(RemoteJwks::builder(format!("{base}/jwks")).build().is_ok());
    }
}

#[tokio::test]
async fn every_url_role_is_accepted_with_the_dangerous_opt_in() {
    let base = "http://kratos.internal:4433";
    for (role, refused) in build_each_role(base, &lax()) {
        assert_eq!(refused, None, "{base} as {role}");
    }
    assert!(lax().policy().allows_plaintext_http());
    assert!(!strict().policy().allows_plaintext_http());
    // The JWKS builder's own opt-in is the same policy.
    let url = "http://keys.internal/jwks";
    assert!(RemoteJwks::builder(url)
        .dangerous_allow_http()
        .build()
        .is_ok());
    assert!(RemoteJwks::builder(url)
        .transport_policy(lax().policy().clone())
        .build()
        .is_ok());
    // Other schemes stay refused whatever the policy.
    for url in ["ftp://files.internal/jwks", "file:///etc/jwks", "data:,{}"] {
        assert!(matches!(
            lax().policy().check(url, UrlRole::Jwks),
            Err(TransportPolicyError::Invalid {
                role: UrlRole::Jwks
            })
        ));
    }
}

#[test]
fn a_refused_url_names_its_role_and_never_its_credentials_or_query() {
    let url = "http://admin:hunter2@kratos.example.com/admin?api_key=topsecret#frag";
    let e = TransportPolicy::new()
        .check(url, UrlRole::KratosAdmin)
        .unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("Kratos admin API"), "{shown}");
    assert!(shown.contains("kratos.example.com"), "{shown}");
    for secret in ["hunter2", "admin:", "topsecret", "api_key", "frag"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    let e = KratosSessions::builder("https://kratos.example.com/")
        .admin(url, None)
        .build()
        .unwrap_err();
    assert!(!e.to_string().contains("hunter2") && !format!("{e:?}").contains("topsecret"));
}

/// A loopback issuer whose discovery document is `doc` with `{issuer}` replaced by its URL.
async fn issuer_serving(doc: serde_json::Value) -> LoopbackServer {
    let doc = doc.to_string();
    LoopbackServer::start(move |req| match req.path() {
        "/.well-known/openid-configuration" => {
            let url = format!("http://{}", req.header("host").unwrap_or_default());
            Reply::status(200)
                .header("content-type", "application/json")
                .body(doc.replace("{issuer}", &url))
        }
        "/jwks" => Reply::json(200, &json!({"keys": []})),
        _ => Reply::status(404),
    })
    .await
}

/// A discovery document with every endpoint on the issuer, except `field` set to `value`.
fn document(field: &str, value: &str) -> serde_json::Value {
    let mut doc = json!({
        "issuer": "{issuer}",
        "authorization_endpoint": "{issuer}/auth",
        "token_endpoint": "{issuer}/token",
        "userinfo_endpoint": "{issuer}/userinfo",
        "jwks_uri": "{issuer}/jwks",
        "introspection_endpoint": "{issuer}/introspect",
        "revocation_endpoint": "{issuer}/revoke",
        "end_session_endpoint": "{issuer}/logout",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    });
    doc[field] = json!(value);
    doc
}

#[tokio::test]
async fn a_discovery_document_pointing_any_endpoint_to_plaintext_is_refused() {
    for (field, role) in [
        ("jwks_uri", UrlRole::Jwks),
        ("token_endpoint", UrlRole::TokenEndpoint),
        ("authorization_endpoint", UrlRole::AuthorizationEndpoint),
        ("userinfo_endpoint", UrlRole::UserinfoEndpoint),
        ("introspection_endpoint", UrlRole::IntrospectionEndpoint),
        ("revocation_endpoint", UrlRole::RevocationEndpoint),
        ("end_session_endpoint", UrlRole::EndSessionEndpoint),
    ] {
        let server = issuer_serving(document(field, "http://evil.example/x")).await;
        let issuer = server.url("");
        match TrustedIssuer::discover(&issuer, "api", &strict()).await {
            Err(DiscoveryError::Insecure(e)) => assert_eq!(e.role(), role, "{field}"),
            other => panic!("{field}: {:?}", other.map(|_| ())),
        }
        // The same document is accepted only after the opt-in (`openidconnect` fetches the
        // keys during discovery: a plaintext jwks_uri is not reachable from a test).
        if field != "jwks_uri" {
            let trusted = TrustedIssuer::discover(&issuer, "api", &lax()).await;
            assert!(trusted.is_ok(), "{field}: {:?}", trusted.map(|_| ()));
        }
    }
    // A clean loopback document is accepted as it is.
    let server = issuer_serving(document("issuer", "{issuer}")).await;
    let issuer = server.url("");
    let trusted = TrustedIssuer::discover(&issuer, "api", &strict())
        .await
        .unwrap();
    assert_eq!(trusted.keys().url(), format!("{issuer}/jwks"));
}

#[tokio::test]
async fn a_discovered_plaintext_jwks_uri_is_never_trusted_by_a_configured_issuer() {
    let server = issuer_serving(document("jwks_uri", "http://evil.example/jwks")).await;
    let issuer = server.url("");
    let config = JwtConfig::new(&issuer).audience("api");
    let keys = config.keys_with(&strict()).unwrap();
    assert!(
        keys.remote().await.is_err(),
        "discovery must fail, so no key is ever fetched from the plaintext jwks_uri"
    );
    // The same issuer with its keys on loopback is discovered and used.
    let server = issuer_serving(document("issuer", "{issuer}")).await;
    let issuer = server.url("");
    let keys = JwtConfig::new(&issuer)
        .audience("api")
        .keys_with(&strict())
        .unwrap();
    assert_eq!(keys.remote().await.unwrap().url(), format!("{issuer}/jwks"));
}

#[tokio::test]
async fn a_login_client_refuses_plaintext_endpoints_of_an_issuer_discovered_elsewhere() {
    let server = issuer_serving(document("token_endpoint", "http://evil.example/token")).await;
    let issuer = server.url("");
    let trusted = TrustedIssuer::discover(&issuer, "web-app", &lax())
        .await
        .unwrap();
    let refused = LoginClient::new(
        &trusted,
        "web-app",
        "secret",
        "https://app.example/callback",
        strict(),
    );
    assert!(matches!(
        refused,
        Err(LoginError::Insecure(e)) if e.role() == UrlRole::TokenEndpoint
    ));
    assert!(LoginClient::new(
        &trusted,
        "web-app",
        "secret",
        "https://app.example/callback",
        lax()
    )
    .is_ok());
}

#[tokio::test]
async fn a_plaintext_request_through_the_http_client_is_refused_before_anything_is_sent() {
    let request = http::Request::post("http://evil.example/token")
        .body(b"client_secret=s".to_vec())
        .unwrap();
    match strict().call(request).await {
        Err(HttpError::Insecure(e)) => assert_eq!(e.role(), UrlRole::Request),
        other => panic!("{:?}", other.map(|r| r.status())),
    }
    // Loopback goes through (here to a closed port: a transport error, not a refusal).
    let port = iam_testkit::scratch::free_port();
    let request = http::Request::get(format!("http://127.0.0.1:{port}/"))
        .body(Vec::new())
        .unwrap();
    assert!(matches!(
        strict().call(request).await,
        Err(HttpError::Transport(_))
    ));
}
