//! The same browser-redirect rules as iam-axum: 303 to the login UI with a safe `return_to`
//! for browser navigations, RFC 6750 answers for API calls, step-up for an assurance level.
use actix_web::{test, web, App, HttpResponse};
use iam_actix::{IamMiddleware, RequireMiddleware};
use iam_core::authn::AuthChain;
use iam_core::principal::AssuranceLevel;
use iam_testkit::conformance::sessions::{redirect, TestSessions};

const HTML: (&str, &str) = ("accept", "text/html,*/*;q=0.8");

#[actix_web::test]
async fn browsers_are_redirected_apis_are_answered() {
    let app = test::init_service(
        App::new()
            .wrap(
                IamMiddleware::required(AuthChain::new().with(TestSessions))
                    .redirect_browsers(redirect()),
            )
            .route("/orders", web::get().to(HttpResponse::Ok))
            .service(
                web::resource("/admin")
                    .wrap(
                        RequireMiddleware::assurance(AssuranceLevel::Aal2)
                            .redirect_browsers(redirect()),
                    )
                    .to(HttpResponse::Ok),
            ),
    )
    .await;
    let call = |path: &'static str, headers: Vec<(&'static str, &'static str)>| {
        let mut req = test::TestRequest::get().uri(path);
        for h in headers {
            req = req.insert_header(h);
        }
        req.to_request()
    };
    let res = test::call_service(&app, call("/orders?page=2", vec![HTML])).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        res.headers().get("location").unwrap(),
        "https://auth.example.com/login?return_to=https%3A%2F%2Fapp.example.com%2Forders%3Fpage%3D2"
    );
    let res = test::call_service(&app, call("/orders", vec![("accept", "application/json")])).await;
    assert_eq!(res.status().as_u16(), 401);
    let res =
        test::call_service(&app, call("/admin", vec![HTML, ("x-test-session", "aal1")])).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        res.headers().get("location").unwrap(),
        "https://auth.example.com/login?aal=aal2&return_to=https%3A%2F%2Fapp.example.com%2Fadmin"
    );
    let res = test::call_service(&app, call("/admin", vec![("x-test-session", "aal1")])).await;
    assert_eq!(res.status().as_u16(), 403);
    let res =
        test::call_service(&app, call("/admin", vec![HTML, ("x-test-session", "aal2")])).await;
    assert_eq!(res.status().as_u16(), 200);
}
