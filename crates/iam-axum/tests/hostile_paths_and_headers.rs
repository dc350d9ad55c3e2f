//! Route scopes and identity headers against hostile requests, through the axum layer:
//! encoded paths need the scope of the route they decode to, ambiguous paths are refused, and
//! no spelling of an identity header reaches a handler.
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use iam_axum::IamLayer;
use iam_testkit::conformance::credentials::{
    assert_no_identity_header, chain, headers_seen, pat, ENCODED_ADMIN_PATHS, SPOOFED_HEADERS,
};
use tower::ServiceExt;

fn app(token: &str) -> Router {
    Router::new()
        .route("/admin/{*rest}", get(|| async { "secret" }))
        .route(
            "/{*rest}",
            get(|headers: http::HeaderMap| async move {
                headers_seen(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())))
            }),
        )
        .layer(IamLayer::required(chain(token)))
}

async fn get_with(app: Router, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = http::Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn an_encoded_path_needs_the_scope_of_the_route_it_decodes_to_or_is_refused() {
    let t = pat();
    let auth = format!("Bearer {t}");
    let headers = [("authorization", auth.as_str())];
    let (status, _) = get_with(app(&t), "/orders/1", &headers).await;
    assert_eq!(status, 200, "the token works on its own routes");
    for path in ENCODED_ADMIN_PATHS {
        let (status, body) = get_with(app(&t), path, &headers).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(!body.contains("secret"), "{path}");
    }
}

#[tokio::test]
async fn no_spelling_of_an_identity_header_reaches_the_handler() {
    let t = pat();
    let auth = format!("Bearer {t}");
    let (status, seen) = get_with(
        app(&t),
        "/orders/1",
        &[&[("authorization", auth.as_str())], SPOOFED_HEADERS].concat(),
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    assert_no_identity_header(&seen);
}
