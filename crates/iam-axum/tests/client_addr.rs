//! The end client's address a trusted layer set (`ClientAddr`) reaches the credential service
//! through the axum layer and `RemoteCredentials`; a client-supplied header never does
//! (iam-testkit's `conformance::client_addr`).
use axum::routing::get;
use axum::Router;
use iam_axum::IamLayer;
use iam_testkit::conformance::client_addr::{
    chain, check, credential_service, pat, trusted, CASES, CLAIMED_HEADERS,
};
use tower::ServiceExt;

#[tokio::test]
async fn axum_forwards_the_client_address_a_trusted_layer_set_to_the_credential_service() {
    let service = credential_service().await;
    let app = Router::new()
        .route("/{*rest}", get(|| async { "ok" }))
        .layer(IamLayer::required(chain(&service)));
    let mut tokens = Vec::new();
    for with_trusted_layer in CASES {
        let token = pat();
        let mut req =
            http::Request::get("/orders").header("authorization", format!("Bearer {token}"));
        for (name, value) in CLAIMED_HEADERS {
            req = req.header(*name, *value);
        }
        let mut req = req.body(axum::body::Body::empty()).unwrap();
        if with_trusted_layer {
            // What a trusted layer (socket peer, trusted proxy) does in front of the layer.
            req.extensions_mut().insert(trusted());
        }
        assert_eq!(app.clone().oneshot(req).await.unwrap().status(), 200);
        tokens.push(token);
    }
    check(&service, &tokens);
}
