//! Route scopes and identity headers against hostile requests, through the actix middleware:
//! actix routes on the percent-decoded path, so an encoded path must need the scope of the
//! route it decodes to; ambiguous paths are refused; no spelling of an identity header
//! reaches a handler.
use actix_web::{test, web, App, HttpRequest};
use iam_actix::IamMiddleware;
use iam_testkit::conformance::credentials::{
    assert_no_identity_header, chain, headers_seen, pat, ENCODED_ADMIN_PATHS, SPOOFED_HEADERS,
};

async fn get_with(token: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let app = test::init_service(
        App::new()
            .wrap(IamMiddleware::required(chain(token)))
            .route("/admin/{rest:.*}", web::get().to(|| async { "secret" }))
            .default_service(web::to(|req: HttpRequest| async move {
                headers_seen(
                    req.headers()
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_bytes())),
                )
            })),
    )
    .await;
    let mut req = test::TestRequest::get().uri(path);
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let res = test::call_service(&app, req.to_request()).await;
    let status = res.status().as_u16();
    let body = test::read_body(res).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[actix_web::test]
async fn an_encoded_path_needs_the_scope_of_the_route_it_decodes_to_or_is_refused() {
    let t = pat();
    let auth = format!("Bearer {t}");
    let headers = [("authorization", auth.as_str())];
    let (status, _) = get_with(&t, "/orders/1", &headers).await;
    assert_eq!(status, 200, "the token works on its own routes");
    for path in ENCODED_ADMIN_PATHS {
        let (status, body) = get_with(&t, path, &headers).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(!body.contains("secret"), "{path}");
    }
}

#[actix_web::test]
async fn no_spelling_of_an_identity_header_reaches_the_handler() {
    let t = pat();
    let auth = format!("Bearer {t}");
    let (status, seen) = get_with(
        &t,
        "/orders/1",
        &[&[("authorization", auth.as_str())], SPOOFED_HEADERS].concat(),
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    assert_no_identity_header(&seen);
}
