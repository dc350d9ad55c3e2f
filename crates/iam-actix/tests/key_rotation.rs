//! Issue 12, item 2, through `IamMiddleware`: a key rotated in at the issuer becomes usable
//! once the JWKS cooldown ends, however often clients retry, and random kids stay
//! rate-limited. The sequence is iam-testkit's, run by every adapter.

use actix_web::{test, web, App};
use iam_actix::{Auth, IamMiddleware};
use iam_testkit::conformance::rotation::{chain, key_rotation_sequence, Issuer};

#[actix_web::test]
async fn actix_accepts_a_rotated_key_once_the_cooldown_ends_despite_retries() {
    // actix's test runtime is a current-thread Tokio runtime: its clock can be paused.
    tokio::time::pause();
    let issuer = Issuer::start(&[]).await;
    let app = test::init_service(
        App::new()
            .wrap(IamMiddleware::required(chain(&issuer)))
            .route(
                "/me",
                web::get().to(|Auth(p): Auth| async move { p.subject().to_owned() }),
            ),
    )
    .await;
    let app = &app;
    key_rotation_sequence("actix", &issuer, move |token| async move {
        let req = test::TestRequest::get()
            .uri("/me")
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request();
        test::call_service(app, req).await.status().as_u16()
    })
    .await;
}
