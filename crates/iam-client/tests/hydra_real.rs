//! The `hydra` module and the OIDC login client against the real Ory Hydra v2.3.0 (started
//! per test on loopback by iam-testkit; `#[ignore]`d unless run by `scripts/test`). Every
//! admin call; the authorization-code flow with login and consent answered through the
//! module (a plain HTTP client follows Hydra's redirects, no browser); refresh rotation and
//! Hydra's reuse detection; key rotation picked up by the login client without a restart.
//! Answers read raw from Hydra are also checked against Hydra's published OpenAPI schema.
use iam_client::hydra::{
    AcceptConsent, AcceptLogin, ConsentDecision, ConsentStep, HydraAdmin, ListClients,
    LoginSessions, OAuth2Client, RejectRequest, RequestState,
};
use iam_client::login::{LoginClient, LoginError};
use iam_client::{HttpClient, TrustedIssuer};
use iam_testkit::peers::hydra::Hydra;
use iam_testkit::schema::OpenApi;
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

use iam_testkit::agent::RedirectAgent as Browser;

fn query_param(url: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The admin client: a long timeout, since Hydra generates 4096-bit RSA keys on rotation.
fn admin(hydra: &Hydra) -> HydraAdmin {
    let http = HttpClient::new()
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(90));
    HydraAdmin::new(hydra.admin_url(), http).unwrap()
}

/// Hydra v2.3.0 writes `null` for unset optional members (a client's lifespans,
/// `skip_logout_consent`) that the published v26.2.0 schema types as strings and booleans;
/// the module reads them as absent, so the schema check runs on the body without them.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// GET an admin URL raw and check the body against `schema` (an array of it with `[]`).
async fn raw_checked(url: &str, schema: &str) -> Value {
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let body = without_nulls(&serde_json::from_slice(&bytes).unwrap());
    match schema.strip_suffix("[]") {
        Some(item) => {
            for b in body.as_array().unwrap() {
                OpenApi::hydra().assert_valid(item, b);
            }
        }
        None => OpenApi::hydra().assert_valid(schema, &body),
    }
    body
}

async fn web_client(admin: &HydraAdmin, id: &str, skip_consent: bool) -> OAuth2Client {
    let mut c = OAuth2Client::web(id, REDIRECT).secret("web-secret-0123456789");
    c.skip_consent = Some(skip_consent);
    c.post_logout_redirect_uris = vec!["http://127.0.0.1:9/bye".into()];
    admin.create_client(&c).await.unwrap()
}

async fn login_client(hydra: &Hydra, id: &str) -> (TrustedIssuer, LoginClient) {
    let http = HttpClient::new().unwrap();
    let issuer = TrustedIssuer::discover(&hydra.issuer(), id, &http)
        .await
        .unwrap();
    let login = LoginClient::new(&issuer, id, "web-secret-0123456789", REDIRECT, http).unwrap();
    (issuer, login)
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn clients_are_created_read_listed_page_by_page_updated_and_deleted() {
    let hydra = Hydra::start().await;
    let admin = admin(&hydra);
    let created = admin
        .create_client(&OAuth2Client::service("svc-a", "orders:read"))
        .await
        .unwrap();
    assert_eq!(created.client_id.as_deref(), Some("svc-a"));
    assert!(
        created.client_secret.is_some(),
        "Hydra returns a generated secret once"
    );
    for id in ["svc-b", "svc-c"] {
        admin
            .create_client(&OAuth2Client::service(id, "orders:read").secret("0123456789abcdef"))
            .await
            .unwrap();
    }
    let read = admin.get_client("svc-b").await.unwrap();
    assert!(
        read.client_secret.is_none(),
        "reads never return the secret"
    );
    assert_eq!(read.grant_types, ["client_credentials"]);
    raw_checked(
        &format!("{}/admin/clients/svc-b", hydra.admin_url()),
        "oAuth2Client",
    )
    .await;

    // Page by page through the Link header.
    let mut seen = Vec::new();
    let mut page = admin
        .list_clients(&ListClients::page_size(2))
        .await
        .unwrap();
    assert_eq!(page.clients.len(), 2);
    loop {
        seen.extend(page.clients.iter().filter_map(|c| c.client_id.clone()));
        let Some(next) = page.next_page_token.clone() else {
            break;
        };
        page = admin
            .list_clients(&ListClients::page_size(2).after(next))
            .await
            .unwrap();
    }
    seen.sort();
    assert_eq!(seen, ["svc-a", "svc-b", "svc-c"]);
    raw_checked(
        &format!("{}/admin/clients?page_size=2", hydra.admin_url()),
        "oAuth2Client[]",
    )
    .await;

    let mut changed = read.clone();
    changed.scope = Some("orders:read orders:write".into());
    changed.client_name = Some("Orders service".into());
    let updated = admin.update_client(&changed).await.unwrap();
    assert_eq!(updated.scope.as_deref(), Some("orders:read orders:write"));
    assert_eq!(
        admin
            .get_client("svc-b")
            .await
            .unwrap()
            .client_name
            .as_deref(),
        Some("Orders service")
    );

    admin.delete_client("svc-b").await.unwrap();
    let gone = admin.get_client("svc-b").await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    let api = gone.api().unwrap();
    assert!(!api.error().is_empty());

    // Hydra's refusal keeps its error code and description.
    let mut bad = OAuth2Client::service("svc-bad", "x");
    bad.redirect_uris = vec!["not a url#fragment".into()];
    bad.grant_types = vec!["authorization_code".into()];
    let refused = admin.create_client(&bad).await.unwrap_err();
    assert_eq!(refused.status(), Some(400), "{refused}");
    assert!(refused.api().unwrap().description().is_some(), "{refused}");
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn key_sets_are_read_created_and_rotated() {
    let hydra = Hydra::start().await;
    let admin = admin(&hydra);
    let created = admin
        .create_key("app.signing", "ES256", "first", "sig")
        .await
        .unwrap();
    assert_eq!(created.kids(), ["first"]);
    assert!(!format!("{created:?}").contains("\"d\""));
    let rotated = admin.rotate_key_set("app.signing", "ES256").await.unwrap();
    let new_kid = rotated.kids()[0].to_owned();
    assert_ne!(new_kid, "first");
    let set = admin.get_key_set("app.signing").await.unwrap();
    let kids = set.kids();
    assert!(
        kids.contains(&"first") && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
    raw_checked(
        &format!("{}/admin/keys/app.signing", hydra.admin_url()),
        "jsonWebKeySet",
    )
    .await;

    // Hydra makes its own key sets on first use (the public JWKS asks for them).
    reqwest::get(format!("{}.well-known/jwks.json", hydra.issuer()))
        .await
        .unwrap();
    let access = admin.get_key_set("hydra.jwt.access-token").await.unwrap();
    assert!(!access.keys.is_empty());
    let missing = admin.get_key_set("no.such.set").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

/// Start an authorization request and return the login challenge Hydra redirected to.
async fn start_login(browser: &mut Browser, url: &str) -> String {
    let to_login = browser.visit(url).await;
    query_param(&to_login, "login_challenge")
        .unwrap_or_else(|| panic!("not a login redirect: {to_login}"))
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn the_code_flow_runs_with_login_and_consent_answered_through_the_module() {
    let hydra = Hydra::start().await;
    let admin = admin(&hydra);
    web_client(&admin, "web-third", false).await;
    let (_issuer, login) = login_client(&hydra, "web-third").await;
    let mut browser = Browser::new();

    let (url, pending) = login.begin(&["openid", "offline_access"]);
    let challenge = start_login(&mut browser, &url).await;
    raw_checked(
        &format!(
            "{}/admin/oauth2/auth/requests/login?login_challenge={challenge}",
            hydra.admin_url()
        ),
        "oAuth2LoginRequest",
    )
    .await;
    let RequestState::Open(request) = admin.get_login_request(&challenge).await.unwrap() else {
        panic!("a fresh challenge is open")
    };
    assert!(!request.skip);
    assert_eq!(
        request.client.as_ref().unwrap().client_id.as_deref(),
        Some("web-third")
    );
    assert!(request
        .requested_scope
        .contains(&"offline_access".to_owned()));
    let accept = AcceptLogin::new("user-42")
        .remember_for(std::time::Duration::from_secs(3600))
        .acr("aal2")
        .amr(["pwd", "otp"])
        .context(serde_json::json!({"tenant": "acme"}))
        .identity_provider_session_id("kratos-session-1");
    let to_hydra = admin
        .accept_login_request(&challenge, &accept)
        .await
        .unwrap();

    let to_consent = browser.visit(&to_hydra.redirect_to).await;
    let consent_challenge = query_param(&to_consent, "consent_challenge").unwrap();
    raw_checked(
        &format!(
            "{}/admin/oauth2/auth/requests/consent?consent_challenge={consent_challenge}",
            hydra.admin_url()
        ),
        "oAuth2ConsentRequest",
    )
    .await;
    // A third-party client without a remembered consent: the user is asked.
    let policy = |r: &iam_client::hydra::ConsentRequest| {
        ConsentDecision::grant_requested(r)
            .access_token_claim("tenant", "acme")
            .access_token_claim("roles", serde_json::json!(["admin"]))
            .id_token_claim("tenant", "acme")
    };
    let request = match admin
        .decide_consent(&consent_challenge, policy)
        .await
        .unwrap()
    {
        ConsentStep::AskUser(r) => r,
        ConsentStep::Redirect(r) => panic!("decided without the user: {r:?}"),
    };
    assert_eq!(request.subject, "user-42");
    assert_eq!(request.acr.as_deref(), Some("aal2"));
    assert_eq!(request.amr, ["pwd", "otp"]);
    assert_eq!(request.context.as_ref().unwrap()["tenant"], "acme");
    let approved = request.requested_scope.clone();
    let to_hydra = admin
        .finish_consent(&consent_challenge, Some(&approved), policy)
        .await
        .unwrap();
    let callback = browser.visit(&to_hydra.redirect_to).await;
    assert!(callback.starts_with(REDIRECT), "{callback}");
    // Hydra v2.3 keeps a flow's state in its challenge, so a used challenge still reads as
    // open; the replay is refused where the browser presents the verifier a second time.
    let replay = browser.visit(&to_hydra.redirect_to).await;
    assert_eq!(
        query_param(&replay, "error").as_deref(),
        Some("access_denied"),
        "{replay}"
    );
    let code = query_param(&callback, "code").unwrap();
    let state = query_param(&callback, "state").unwrap();

    let outcome = login.complete(pending, &code, &state).await.unwrap();
    assert_eq!(outcome.principal.subject(), "user-42");
    assert_eq!(outcome.principal.acr(), Some("aal2"));

    // Refresh rotation: the new refresh token works, the old one is reuse.
    let first = outcome.tokens.refresh_token.clone().unwrap();
    let rotated = login.refresh(&first).await.unwrap();
    let second = rotated.refresh_token.clone().unwrap();
    assert_ne!(first.secret(), second.secret());
    let reused = login.refresh(&first).await.unwrap_err();
    assert!(matches!(reused, LoginError::ReloginRequired), "{reused:?}");
    // Hydra's reuse detection revoked the whole chain: the second token is dead too.
    let chain = login.refresh(&second).await.unwrap_err();
    assert!(matches!(chain, LoginError::ReloginRequired), "{chain:?}");

    // The login was remembered: the next authorization skips the form.
    let (url, _pending) = login.begin(&["openid"]);
    let challenge = start_login(&mut browser, &url).await;
    let RequestState::Open(again) = admin.get_login_request(&challenge).await.unwrap() else {
        panic!("open")
    };
    assert!(again.skip);
    assert_eq!(again.subject, "user-42");
    admin
        .reject_login_request(&challenge, &RejectRequest::access_denied("test refuses"))
        .await
        .map(|r| assert!(!r.redirect_to.is_empty()))
        .unwrap();

    // Logging the user out everywhere: login sessions, then consent sessions.
    admin
        .revoke_login_sessions(LoginSessions::Subject("user-42"))
        .await
        .unwrap();
    admin
        .revoke_consent_sessions("user-42", Some("web-third"))
        .await
        .unwrap();
    admin
        .revoke_consent_sessions("user-42", None)
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn a_first_party_client_gets_consent_without_a_page_and_a_rejected_login_is_access_denied() {
    let hydra = Hydra::start().await;
    let admin = admin(&hydra);
    web_client(&admin, "web-first", true).await;
    let (_issuer, login) = login_client(&hydra, "web-first").await;
    let mut browser = Browser::new();

    let (url, pending) = login.begin(&["openid", "offline_access"]);
    let challenge = start_login(&mut browser, &url).await;
    let remembered = AcceptLogin::new("user-7").remember_for(std::time::Duration::from_secs(600));
    let to_hydra = admin
        .accept_login_request(&challenge, &remembered)
        .await
        .unwrap();
    let to_consent = browser.visit(&to_hydra.redirect_to).await;
    let consent_challenge = query_param(&to_consent, "consent_challenge").unwrap();
    let step = admin
        .decide_consent(&consent_challenge, |r| {
            assert!(r.client_skips_consent());
            ConsentDecision::Grant(AcceptConsent::requested(r).access_token_claim("tenant", "t1"))
        })
        .await
        .unwrap();
    let ConsentStep::Redirect(to_hydra) = step else {
        panic!("first party: no page")
    };
    let callback = browser.visit(&to_hydra.redirect_to).await;
    let outcome = login
        .complete(
            pending,
            &query_param(&callback, "code").unwrap(),
            &query_param(&callback, "state").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.principal.subject(), "user-7");

    // A rejected login reaches the client as access_denied.
    let mut other = Browser::new();
    let (url, _) = login.begin(&["openid"]);
    let challenge = start_login(&mut other, &url).await;
    let to_hydra = admin
        .reject_login_request(&challenge, &RejectRequest::access_denied("wrong password"))
        .await
        .unwrap();
    let callback = other.visit(&to_hydra.redirect_to).await;
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("access_denied"),
        "{callback}"
    );

    // RP-initiated logout: Hydra asks the logout provider, the module accepts.
    let logout_url = login
        .logout_url(
            &outcome.id_token,
            Some("http://127.0.0.1:9/bye"),
            Some("st"),
        )
        .unwrap();
    let to_logout = browser.visit(&logout_url).await;
    let logout_challenge = query_param(&to_logout, "logout_challenge")
        .unwrap_or_else(|| panic!("not a logout redirect: {to_logout}"));
    let RequestState::Open(req) = admin.get_logout_request(&logout_challenge).await.unwrap() else {
        panic!("open")
    };
    assert_eq!(req.subject, "user-7");
    assert!(req.rp_initiated);
    let done = admin
        .accept_logout_request(&logout_challenge)
        .await
        .unwrap();
    let back = browser.visit(&done.redirect_to).await;
    assert!(back.starts_with("http://127.0.0.1:9/bye"), "{back}");
    assert!(matches!(
        admin.get_logout_request(&logout_challenge).await.unwrap(),
        RequestState::AlreadyHandled(_)
    ));
}

/// One whole login of `subject` through a first-party client (consent without a page).
async fn first_party_login(
    admin: &HydraAdmin,
    login: &LoginClient,
    subject: &str,
) -> Result<iam_client::login::LoginOutcome, LoginError> {
    let mut browser = Browser::new();
    let (url, pending) = login.begin(&["openid"]);
    let challenge = start_login(&mut browser, &url).await;
    let to_hydra = admin
        .accept_login_request(&challenge, &AcceptLogin::new(subject))
        .await
        .unwrap();
    let to_consent = browser.visit(&to_hydra.redirect_to).await;
    let consent_challenge = query_param(&to_consent, "consent_challenge").unwrap();
    let ConsentStep::Redirect(to_hydra) = admin
        .decide_consent(&consent_challenge, ConsentDecision::grant_requested)
        .await
        .unwrap()
    else {
        panic!("first party: no page")
    };
    let callback = browser.visit(&to_hydra.redirect_to).await;
    login
        .complete(
            pending,
            &query_param(&callback, "code").unwrap(),
            &query_param(&callback, "state").unwrap(),
        )
        .await
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn a_rotated_id_token_key_does_not_break_logins_until_a_restart() {
    let hydra = Hydra::start().await;
    let admin = admin(&hydra);
    web_client(&admin, "web-rotating", true).await;
    let (issuer, login) = login_client(&hydra, "web-rotating").await;
    let before = first_party_login(&admin, &login, "user-1").await.unwrap();
    assert_eq!(before.principal.subject(), "user-1");
    let fetches = issuer.keys().stats().fetches;

    let rotated = admin
        .rotate_key_set("hydra.openid.id-token", "RS256")
        .await
        .unwrap();
    let new_kid = rotated.kids()[0].to_owned();
    // RemoteJwks refetches for an unknown kid at most once per cooldown (30 s by default,
    // counted from the last fetch): a login right after the first may be refused while it
    // lasts, and works once the scheduled refetch ran, with no restart.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(50);
    let after = loop {
        match first_party_login(&admin, &login, "user-2").await {
            Ok(outcome) => break outcome,
            Err(LoginError::InvalidIdToken(e)) if std::time::Instant::now() < deadline => {
                assert_eq!(e, "unknown signing key");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(e) => panic!("the login after the rotation failed: {e:?}"),
        }
    };
    assert_eq!(after.principal.subject(), "user-2");
    assert_eq!(
        iam_core::jwt::unverified_kid(after.id_token.secret()).as_deref(),
        Some(new_kid.as_str()),
        "Hydra signs with the new key"
    );
    assert!(
        issuer.keys().stats().fetches > fetches,
        "the unknown kid refetched the key set"
    );
}

#[tokio::test]
#[ignore = "needs hydra: scripts/test"]
async fn opaque_tokens_are_introspected_on_the_admin_api_and_revoked_at_the_public_one() {
    let hydra = Hydra::builder().opaque_access_tokens().start().await;
    let admin = admin(&hydra);
    let mut client =
        OAuth2Client::service("svc-opaque", "orders:read").secret("svc-opaque-secret-0123");
    client.audience = vec!["orders-api".into()];
    admin.create_client(&client).await.unwrap();
    let cc = iam_client::ClientCredentials::builder(
        format!("{}/oauth2/token", hydra.public_url()),
        "svc-opaque",
        "svc-opaque-secret-0123",
    )
    .scope("orders:read")
    .param("audience", "orders-api")
    .build(HttpClient::new().unwrap())
    .unwrap();
    let token = cc.access_token().await.unwrap().secret().to_owned();
    assert!(token.starts_with("ory_at_"));

    let introspection = admin
        .introspection()
        .issuer(hydra.issuer())
        .audience("orders-api")
        .client_auth("svc-opaque", "svc-opaque-secret-0123")
        .revocation_endpoint(format!("{}/oauth2/revoke", hydra.public_url()))
        .build(HttpClient::new().unwrap())
        .unwrap();
    let principal = introspection
        .introspect(&token)
        .await
        .unwrap()
        .expect("active");
    assert_eq!(principal.client_id(), Some("svc-opaque"));
    assert!(principal.scopes().grants("orders:read"));

    // Another audience is refused by the same introspection.
    let other = admin
        .introspection()
        .audience("billing-api")
        .build(HttpClient::new().unwrap())
        .unwrap();
    assert!(other.introspect(&token).await.unwrap().is_none());

    introspection.revoke(&token, "access_token").await.unwrap();
    assert!(
        introspection.introspect(&token).await.unwrap().is_none(),
        "revoked at Hydra, and the cached answer forgotten"
    );
}
