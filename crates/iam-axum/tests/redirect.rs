//! Browser navigations that need a login are sent to the login UI (303, safe `return_to`);
//! API calls keep their RFC 6750 answers; step-up for an assurance level.
use axum::routing::get;
use axum::Router;
use iam_axum::{IamLayer, RequireLayer};
use iam_core::authn::AuthChain;
use iam_core::principal::AssuranceLevel;
use iam_testkit::conformance::sessions::{redirect, TestSessions};
use tower::ServiceExt;

fn app() -> Router {
    Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(
                RequireLayer::assurance(AssuranceLevel::Aal2).redirect_browsers(redirect()),
            ),
        )
        .layer(
            IamLayer::required(AuthChain::new().with(TestSessions)).redirect_browsers(redirect()),
        )
}

async fn call(path: &str, headers: &[(&str, &str)]) -> (u16, Option<String>) {
    let mut req = http::Request::get(path);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let res = app()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let loc = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), loc)
}

const HTML: (&str, &str) = ("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8");

#[tokio::test]
async fn browsers_go_to_login_apis_get_401() {
    assert_eq!(
        call("/orders?page=2", &[HTML]).await,
        (
            303,
            Some("https://auth.example.com/login?return_to=https%3A%2F%2Fapp.example.com%2Forders%3Fpage%3D2".into())
        )
    );
    assert_eq!(
        call("/orders", &[("sec-fetch-mode", "navigate")]).await.0,
        303
    );
    assert_eq!(
        call("/orders", &[HTML, ("x-test-session", "bad")]).await.0,
        303
    );
    assert_eq!(
        call("/orders", &[("accept", "application/json")]).await,
        (401, None)
    );
    assert_eq!(call("/orders", &[]).await, (401, None));
    assert_eq!(
        call("/orders", &[HTML, ("x-test-session", "aal1")]).await.0,
        200
    );
}

#[tokio::test]
async fn return_to_cannot_leave_the_app() {
    // A Host header never shapes return_to, and a scheme-relative path is not followed.
    let (_, loc) = call("//evil.example/x", &[HTML, ("host", "evil.example")]).await;
    assert_eq!(
        loc.as_deref(),
        Some("https://auth.example.com/login?return_to=https%3A%2F%2Fapp.example.com%2F")
    );
    assert!(iam_core::authn::BrowserRedirect::new(
        "javascript:alert(1)",
        "https://app.example.com"
    )
    .is_err());
    assert!(iam_core::authn::BrowserRedirect::new(
        "https://auth.example.com/login",
        "https://app.example.com/sub"
    )
    .is_err());
}

#[tokio::test]
async fn step_up_for_an_assurance_level() {
    assert_eq!(
        call("/admin", &[HTML, ("x-test-session", "aal1")]).await,
        (
            303,
            Some("https://auth.example.com/login?aal=aal2&return_to=https%3A%2F%2Fapp.example.com%2Fadmin".into())
        )
    );
    assert_eq!(call("/admin", &[("x-test-session", "aal1")]).await.0, 403);
    assert_eq!(
        call("/admin", &[HTML, ("x-test-session", "aal2")]).await.0,
        200
    );
}
