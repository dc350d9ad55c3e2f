//! Introspection against a server that answers badly: never a pass, never a panic.
use iam_client::{HttpClient, Introspection, IntrospectionError};
use iam_core::authn::AuthChain;
use iam_testkit::requests::bearer_status;
use iam_testkit::{LoopbackServer, Reply};

/// A server that answers every request with `status` and `body` (a JSON content type).
async fn serve(status: u16, body: String) -> LoopbackServer {
    LoopbackServer::fixed(
        Reply::status(status)
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

fn introspection(url: &str) -> Introspection {
    Introspection::builder(url, "rs", "secret")
        .audience("orders-api")
        .build(HttpClient::new().unwrap())
        .unwrap()
}

/// The answer of the authenticator itself: 0 when it says "not mine".
async fn answer_of(intro: &Introspection, token: &str) -> u16 {
    bearer_status(intro, token).await
}

/// The answer of a chain holding only `intro`.
async fn status_of(intro: Introspection, token: &str) -> u16 {
    bearer_status(&AuthChain::new().with(intro), token).await
}

async fn status(url: &str) -> u16 {
    status_of(introspection(url), "opaque-token-123").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_introspection_answers() {
    let past = 1_000_000_000;
    let cases = [
        ("not JSON", 200, "<html>".to_owned(), 503),
        ("server error", 500, "{}".to_owned(), 503),
        (
            "active as a string",
            200,
            r#"{"active":"true","sub":"u"}"#.to_owned(),
            401,
        ),
        ("active missing", 200, r#"{"sub":"u"}"#.to_owned(), 401),
        (
            "active but expired",
            200,
            format!(r#"{{"active":true,"sub":"u","exp":{past}}}"#),
            401,
        ),
        (
            "active without any subject",
            200,
            r#"{"active":true}"#.to_owned(),
            401,
        ),
        (
            "two-megabyte answer",
            200,
            format!(
                r#"{{"active":true,"sub":"u","pad":"{}"}}"#,
                "x".repeat(2 << 20)
            ),
            503,
        ),
        (
            "active",
            200,
            r#"{"active":true,"sub":"u","scope":"a b","aud":["orders-api"]}"#.to_owned(),
            200,
        ),
    ];
    let mut failures = Vec::new();
    for (name, code, body, want) in cases {
        let got = status(&serve(code, body).await.url("/introspect")).await;
        if got != want {
            failures.push(format!("{name}: {got}, expected {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn introspection_without_an_audience_is_refused_unless_dangerously_opted_out() {
    let http = HttpClient::new().unwrap();
    let build = |b: iam_client::introspection::IntrospectionBuilder| b.build(http.clone());
    let builder = || Introspection::builder("https://as.example/introspect", "rs", "secret");
    assert!(matches!(
        build(builder()),
        Err(IntrospectionError::NoAudience)
    ));
    assert!(matches!(
        build(builder().audience("")),
        Err(IntrospectionError::NoAudience)
    ));
    assert!(build(builder().audience("orders-api")).is_ok());
    assert!(build(builder().dangerous().accept_any_audience()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_audience_or_of_another_use_is_not_an_access_token_here() {
    let cases = [
        ("no audience", r#"{"active":true,"sub":"u"}"#, 401),
        (
            "empty audience",
            r#"{"active":true,"sub":"u","aud":[]}"#,
            401,
        ),
        (
            "another resource server",
            r#"{"active":true,"sub":"u","aud":["billing-api"],"iss":"https://auth.example/"}"#,
            401,
        ),
        (
            "a Hydra refresh token (active too)",
            r#"{"active":true,"sub":"u","aud":["orders-api"],"token_use":"refresh_token","iss":"https://auth.example/"}"#,
            401,
        ),
        (
            "token_use of an unknown kind",
            r#"{"active":true,"sub":"u","aud":["orders-api"],"token_use":"id_token"}"#,
            401,
        ),
        (
            "token_use not a string",
            r#"{"active":true,"sub":"u","aud":["orders-api"],"token_use":1}"#,
            401,
        ),
        (
            "token_type refresh_token",
            r#"{"active":true,"sub":"u","aud":"orders-api","token_type":"refresh_token"}"#,
            401,
        ),
        (
            "a Hydra access token",
            r#"{"active":true,"sub":"u","aud":["orders-api"],"token_use":"access_token","token_type":"Bearer"}"#,
            200,
        ),
    ];
    let mut failures = Vec::new();
    for (name, body, want) in cases {
        let got = status(&serve(200, body.to_owned()).await.url("/introspect")).await;
        if got != want {
            failures.push(format!("{name}: {got}, expected {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The opt-out accepts any audience, and still refuses refresh tokens.
    let any = |url: &str| {
        Introspection::builder(url, "rs", "secret")
            .dangerous()
            .accept_any_audience()
            .build(HttpClient::new().unwrap())
            .unwrap()
    };
    let server = serve(200, r#"{"active":true,"sub":"u"}"#.to_owned()).await;
    assert_eq!(
        status_of(any(&server.url("/introspect")), "opaque-token-1").await,
        200
    );
    let server = serve(
        200,
        r#"{"active":true,"sub":"u","token_use":"refresh_token"}"#.to_owned(),
    )
    .await;
    assert_eq!(
        status_of(any(&server.url("/introspect")), "opaque-token-2").await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_of_other_kinds_are_never_sent_to_the_introspection_endpoint() {
    // A server that would call anything active: only the call count matters.
    let server = serve(
        200,
        r#"{"active":true,"sub":"u","aud":["orders-api"]}"#.to_owned(),
    )
    .await;
    let url = server.url("/introspect");
    let intro = introspection(&url);
    for token in [
        "pat_0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
        "key_0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
        "svc_0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
        "PAT_0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
        "ory_st_0123456789abcdefghijklmnopqrstuv",
    ] {
        // Not this authenticator's: "not mine", so the chain asks the next one.
        assert_eq!(answer_of(&intro, token).await, 0, "{token}");
        assert!(intro.introspect(token).await.unwrap().is_none(), "{token}");
    }
    // Hydra refresh tokens and authorization codes: refused, without a call either.
    for token in ["ory_rt_0123456789abcdef", "ory_ac_0123456789abcdef"] {
        assert_eq!(status_of(intro.clone(), token).await, 401, "{token}");
    }
    // Nor to the revocation endpoint (the same server here).
    let revoking = Introspection::builder(&url, "rs", "secret")
        .audience("orders-api")
        .revocation_endpoint(&url)
        .build(HttpClient::new().unwrap())
        .unwrap();
    assert!(matches!(
        revoking
            .revoke(
                "pat_0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
                "access_token"
            )
            .await,
        Err(IntrospectionError::ForeignCredential)
    ));
    assert_eq!(server.count(), 0, "the endpoint received no call");
    // An access token still goes there.
    assert_eq!(status_of(intro, "ory_at_0123456789abcdef").await, 200);
    assert_eq!(server.count(), 1);
}

/// Each refusal says why: an audience or issuer mismatch is not "not active".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_names_its_reason() {
    use iam_core::authn::{Authenticator, RequestView};
    let cases = [
        (r#"{"active":false}"#, "token is not active"),
        (
            r#"{"active":true,"sub":"u","aud":["billing-api"],"iss":"https://auth.example/"}"#,
            "token is not meant for this audience",
        ),
        (
            r#"{"active":true,"sub":"u","aud":["orders-api"],"iss":"https://other.example/"}"#,
            "token was issued by another issuer",
        ),
        (
            r#"{"active":true,"sub":"u","aud":["orders-api"],"token_use":"refresh_token","iss":"https://auth.example/"}"#,
            "token is not an access token",
        ),
        (
            r#"{"active":true,"aud":["orders-api"],"iss":"https://auth.example/"}"#,
            "token names no subject",
        ),
    ];
    for (body, reason) in cases {
        let server = serve(200, body.to_owned()).await;
        let intro = Introspection::builder(server.url("/"), "rs", "secret")
            .audience("orders-api")
            .issuer("https://auth.example/")
            .build(HttpClient::new().unwrap())
            .unwrap();
        let req = iam_testkit::requests::bearer("opaque-token-123");
        let err = intro
            .authenticate(&RequestView::from_request(&req))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 401, "{body}");
        assert_eq!(err.description(), reason, "{body}");
    }
}
