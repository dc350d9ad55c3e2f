//! The shared scenario table against an axum router.
mod common;

use axum::routing::get;
use axum::Router;
use common::scenarios::{chain, check, scenarios};
use http_body_util::BodyExt;
use iam_axum::{Auth, IamLayer, RequireLayer};
use tower::ServiceExt;

fn app(keys_down: bool) -> Router {
    Router::new()
        .route(
            "/me",
            get(|Auth(p): Auth| async move {
                serde_json::json!({"subject": p.subject(), "scopes": p.scopes()}).to_string()
            }),
        )
        .route(
            "/admin",
            get(|| async { "secret" }).route_layer(RequireLayer::permission("admin:read")),
        )
        .route(
            "/echo-user-header",
            get(|headers: http::HeaderMap| async move {
                headers
                    .get("x-user-id")
                    .map_or("none".to_owned(), |v| v.to_str().unwrap_or("?").to_owned())
            }),
        )
        .layer(IamLayer::required(chain(keys_down)))
}

#[tokio::test]
async fn axum_answers_every_scenario() {
    let mut failures = Vec::new();
    for s in scenarios() {
        let mut req = http::Request::get(s.path);
        for (k, v) in &s.headers {
            req = req.header(*k, v);
        }
        let res = app(s.keys_down)
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let www = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec())
            .unwrap();
        if let Err(e) = check(&s, status, www.as_deref(), &body) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn optional_mode_lets_anonymous_requests_through() {
    let app = Router::new()
        .route(
            "/",
            get(|p: Option<Auth>| async move {
                p.map_or("anonymous".to_owned(), |Auth(p)| p.subject().to_owned())
            }),
        )
        .layer(IamLayer::optional(chain(false)));
    let res = app
        .clone()
        .oneshot(
            http::Request::get("/")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        &res.into_body().collect().await.unwrap().to_bytes()[..],
        b"anonymous"
    );
    let bad = http::Request::get("/")
        .header("authorization", "Bearer a.b.c")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        app.oneshot(bad).await.unwrap().status(),
        401,
        "bad credentials are still refused"
    );
}

#[tokio::test]
async fn auth_extractor_without_the_layer_is_401() {
    let app = Router::new().route(
        "/",
        get(|Auth(p): Auth| async move { p.subject().to_owned() }),
    );
    let res = app
        .oneshot(
            http::Request::get("/")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
