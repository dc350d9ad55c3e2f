//! The end client's address a trusted layer set (`ClientAddr`) reaches the credential service
//! through the actix middleware and `RemoteCredentials`; a client-supplied header never does
//! (iam-testkit's `conformance::client_addr`).
use actix_web::dev::Service as _;
use actix_web::{test, web, App, HttpMessage as _};
use iam_actix::IamMiddleware;
use iam_testkit::conformance::client_addr::{
    chain, check, credential_service, pat, trusted, CASES, CLAIMED_HEADERS,
};

#[actix_web::test]
async fn actix_forwards_the_client_address_a_trusted_layer_set_to_the_credential_service() {
    let service = credential_service().await;
    let app = test::init_service(
        App::new()
            .wrap(IamMiddleware::required(chain(&service)))
            // A trusted layer in front of the middleware, on `/trusted` only.
            .wrap_fn(|req, srv| {
                if req.path() == "/trusted" {
                    req.extensions_mut().insert(trusted());
                }
                srv.call(req)
            })
            .default_service(web::to(|| async { "ok" })),
    )
    .await;
    let mut tokens = Vec::new();
    for with_trusted_layer in CASES {
        let token = pat();
        let path = if with_trusted_layer {
            "/trusted"
        } else {
            "/untrusted"
        };
        let mut req = test::TestRequest::get()
            .uri(path)
            .insert_header(("authorization", format!("Bearer {token}")));
        for (name, value) in CLAIMED_HEADERS {
            req = req.insert_header((*name, *value));
        }
        assert_eq!(
            test::call_service(&app, req.to_request()).await.status(),
            200
        );
        tokens.push(token);
    }
    check(&service, &tokens);
}
