//! The conformance scenario table (iam-testkit) against an actix-web app.

use actix_web::{test, web, App, HttpRequest, HttpResponse};
use iam_actix::{Auth, IamMiddleware, RequireMiddleware};
use iam_testkit::conformance::scenarios::{chain, check, scenarios, waiting_chain};

#[actix_web::test]
async fn actix_answers_every_scenario() {
    let mut failures = Vec::new();
    let runs = scenarios()
        .into_iter()
        .map(|s| (s, false))
        .chain(scenarios().into_iter().map(|s| (s, true)));
    for (s, waiting) in runs {
        let chain = if waiting {
            waiting_chain(s.keys_down)
        } else {
            chain(s.keys_down)
        };
        let app = test::init_service(
            App::new()
                .wrap(IamMiddleware::required(chain))
                .route(
                    "/me",
                    web::get().to(|Auth(p): Auth| async move {
                        serde_json::json!({"subject": p.subject(), "scopes": p.scopes()})
                            .to_string()
                    }),
                )
                .service(
                    web::resource("/admin")
                        .wrap(RequireMiddleware::permission("admin:read"))
                        .to(|| async { "secret" }),
                )
                .route(
                    "/echo-user-header",
                    web::get().to(|req: HttpRequest| async move {
                        req.headers()
                            .get("x-user-id")
                            .map_or("none".to_owned(), |v| v.to_str().unwrap_or("?").to_owned())
                    }),
                ),
        )
        .await;
        let mut req = test::TestRequest::get().uri(s.path);
        for (k, v) in &s.headers {
            req = req.append_header((*k, v.as_str()));
        }
        let res = test::call_service(&app, req.to_request()).await;
        let status = res.status().as_u16();
        let www = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        if let Err(e) = check(&s, status, www.as_deref(), &body) {
            failures.push(format!("{e} (waiting: {waiting})"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[actix_web::test]
async fn optional_mode_and_option_extractor() {
    let app = test::init_service(
        App::new()
            .wrap(IamMiddleware::optional(chain(false)))
            .route(
                "/",
                web::get().to(|p: Option<Auth>| async move {
                    HttpResponse::Ok()
                        .body(p.map_or("anonymous".to_owned(), |Auth(p)| p.subject().to_owned()))
                }),
            ),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(test::read_body(res).await, "anonymous");
    let bad = test::TestRequest::get()
        .uri("/")
        .append_header(("authorization", "Bearer a.b.c"))
        .to_request();
    assert_eq!(test::call_service(&app, bad).await.status(), 401);
}
