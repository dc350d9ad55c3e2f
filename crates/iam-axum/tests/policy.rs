//! `RequireLayer::policy` against the policy-guard table of iam-testkit: 403 with the
//! policy's reasons, 503 when the decision point cannot decide, 401 without a principal.
use axum::routing::put;
use axum::Router;
use http_body_util::BodyExt;
use iam_axum::{IamLayer, RequireLayer};
use iam_testkit::conformance::policy::{document, run_table, PolicyCase, HANDLER_BODY, ROUTE};
use iam_testkit::conformance::scenarios::chain;
use tower::ServiceExt;

async fn answer(case: PolicyCase) -> (PolicyCase, u16, Vec<u8>) {
    let gate = if case.required {
        IamLayer::required(chain(false))
    } else {
        IamLayer::optional(chain(false))
    };
    let app = Router::new()
        .route(
            ROUTE,
            put(|| async { HANDLER_BODY })
                .route_layer(RequireLayer::policy(case.pdp.build(), document)),
        )
        .layer(gate);
    let mut req = http::Request::put(case.path);
    if let Some(t) = &case.bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (case, status, body.to_vec())
}

#[tokio::test]
async fn axum_answers_every_policy_case() {
    run_table(answer).await;
}
