//! `Require::policy` against the policy-guard table of iam-testkit: 403 with the policy's
//! reasons, 503 when the decision point cannot decide, 401 without a principal.
use actix_web::{test, web, App};
use iam_actix::{IamMiddleware, Require};
use iam_testkit::conformance::policy::{document, run_table, PolicyCase, HANDLER_BODY, ROUTE};
use iam_testkit::conformance::scenarios::chain;

async fn answer(case: PolicyCase) -> (PolicyCase, u16, Vec<u8>) {
    let gate = if case.required {
        IamMiddleware::required(chain(false))
    } else {
        IamMiddleware::optional(chain(false))
    };
    let app = test::init_service(
        App::new().wrap(gate).service(
            web::resource(ROUTE)
                .wrap(Require::policy(case.pdp.build(), document))
                .put(|| async { HANDLER_BODY }),
        ),
    )
    .await;
    let mut req = test::TestRequest::put().uri(case.path);
    if let Some(t) = &case.bearer {
        req = req.append_header(("authorization", format!("Bearer {t}")));
    }
    let res = test::call_service(&app, req.to_request()).await;
    let status = res.status().as_u16();
    (case, status, test::read_body(res).await.to_vec())
}

#[actix_web::test]
async fn actix_answers_every_policy_case() {
    run_table(answer).await;
}
