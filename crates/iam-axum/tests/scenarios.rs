//! The conformance scenario table (iam-testkit) against an axum router.

use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use iam_axum::{Auth, IamLayer, Principal, RequireLayer};
use iam_testkit::conformance::scenarios::{chain, check, scenarios, waiting_chain};
use tower::ServiceExt;

fn app(keys_down: bool) -> Router {
    routes().layer(IamLayer::required(chain(keys_down)))
}

fn app_waiting(keys_down: bool) -> Router {
    routes().layer(IamLayer::required(waiting_chain(keys_down)))
}

fn routes() -> Router {
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
}

#[tokio::test]
async fn axum_answers_every_scenario() {
    let mut failures = Vec::new();
    for (s, waiting) in scenarios()
        .into_iter()
        .map(|s| (s, false))
        .chain(scenarios().into_iter().map(|s| (s, true)))
    {
        let mut req = http::Request::get(s.path);
        for (k, v) in &s.headers {
            req = req.header(*k, v);
        }
        let app = if waiting {
            app_waiting(s.keys_down)
        } else {
            app(s.keys_down)
        };
        let res = app
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        // Outer layers (access logs) see who it was, on both paths.
        let seen = parts
            .extensions
            .get::<Principal>()
            .map(|p| p.subject().to_owned());
        let refused_by_the_layer = [400, 401, 503].contains(&parts.status.as_u16());
        if (parts.status == 200 && seen.is_none()) || (refused_by_the_layer && seen.is_some()) {
            failures.push(format!(
                "{} (waiting: {waiting}): status {} but principal in the response: {seen:?}",
                s.name, parts.status
            ));
        }
        let res = http::Response::from_parts(parts, body);
        let status = res.status().as_u16();
        let www = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec())
            .unwrap();
        if let Err(e) = check(&s, status, www.as_deref(), &body) {
            failures.push(format!("{e} (waiting: {waiting})"));
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
