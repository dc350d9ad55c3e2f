//! Issue 12, item 2, through `IamLayer`: a key rotated in at the issuer becomes usable once
//! the JWKS cooldown ends, however often clients retry, and random kids stay rate-limited.

use axum::routing::get;
use axum::Router;
use iam_axum::{Auth, IamLayer};
use iam_testkit::conformance::rotation::{chain, key_rotation_sequence, Issuer};
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn axum_accepts_a_rotated_key_once_the_cooldown_ends_despite_retries() {
    let issuer = Issuer::start(&[]).await;
    let app = Router::new()
        .route(
            "/me",
            get(|Auth(p): Auth| async move { p.subject().to_owned() }),
        )
        .layer(IamLayer::required(chain(&issuer)));
    key_rotation_sequence("axum", &issuer, |token| {
        let app = app.clone();
        async move {
            let req = http::Request::get("/me")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            app.oneshot(req).await.unwrap().status().as_u16()
        }
    })
    .await;
}
