//! `RemoteCredentials` against a double of the credential service's `POST /validate`.
use iam_client::RemoteCredentials;
use iam_core::authn::{AuthChain, RequestView};
use iam_core::credential::{generate, parse, CredentialAuthenticator, CredentialKind};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::json;

/// A `/validate` that answers 429 for `limited` and 200 (valid PAT of `u-1`) otherwise.
async fn service(limited: String) -> LoopbackServer {
    LoopbackServer::start(move |req| {
        if req.json()["token"] == limited.as_str() {
            Reply::json(429, &json!({"error": "rate_limited"}))
        } else {
            Reply::json(
                200,
                &json!({"valid": true, "kind": "pat", "id": "cred_1",
                        "owner": "u-1", "scopes": ["orders:read"]}),
            )
        }
    })
    .await
}

/// What the double saw: (token, forwarded client address) per call.
fn seen(service: &LoopbackServer) -> Vec<(String, Option<String>)> {
    service
        .requests()
        .iter()
        .map(|r| {
            (
                r.json()["token"].as_str().unwrap().to_owned(),
                r.header("x-iam-client-ip").map(str::to_owned),
            )
        })
        .collect()
}

fn pat() -> String {
    generate(CredentialKind::PersonalAccessToken)
        .unwrap()
        .secret()
        .to_owned()
}

const CALLER: &str = "svc_caller0token";

#[tokio::test]
async fn a_rate_limited_token_is_refused_alone_never_a_service_wide_503() {
    let (limited, good) = (pat(), pat());
    let validate = service(limited.clone()).await;
    let remote = RemoteCredentials::builder(validate.url(""), CALLER)
        .build()
        .unwrap();
    let chain = AuthChain::new().with(CredentialAuthenticator::new(remote));
    let status = |token: &str| {
        let req = http::Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        let chain = &chain;
        async move {
            match chain.run(&RequestView::from_request(&req)).await {
                Ok(Some(_)) => 200,
                Ok(None) => 0,
                Err(e) => e.status().as_u16(),
            }
        }
    };
    // The limited token's request is refused as that token's (401), twice: the 429 is not
    // cached as a refusal (the limit ends on its own), and it is never an outage (503).
    assert_eq!(status(&limited).await, 401);
    assert_eq!(status(&limited).await, 401);
    assert_eq!(seen(&validate).len(), 2, "asked again");
    // Everyone else is unaffected.
    assert_eq!(status(&good).await, 200);
}

#[tokio::test]
async fn the_end_client_address_is_forwarded_when_known() {
    let good = pat();
    let validate = service(String::new()).await;
    let remote = RemoteCredentials::builder(validate.url(""), CALLER)
        .build()
        .unwrap();
    let p = remote
        .verify_for_client(parse(&good).unwrap(), "192.0.2.7".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(p.subject(), "u-1");
    assert_eq!(seen(&validate), vec![(good, Some("192.0.2.7".to_owned()))]);
}

#[tokio::test]
async fn the_end_client_address_a_trusted_layer_set_reaches_the_service_through_the_chain() {
    let (known, unknown) = (pat(), pat());
    let validate = service(String::new()).await;
    let remote = RemoteCredentials::builder(validate.url(""), CALLER)
        .build()
        .unwrap();
    let chain = AuthChain::new().with(CredentialAuthenticator::new(remote));
    let request = |token: &str| {
        http::Request::get("/orders")
            .header("authorization", format!("Bearer {token}"))
            // A client-supplied header is never the address: only the extension counts.
            .header("x-iam-client-ip", "203.0.113.99")
            .header("x-forwarded-for", "203.0.113.98")
            .body(())
            .unwrap()
    };
    let mut req = request(&known);
    req.extensions_mut()
        .insert(iam_core::authn::ClientAddr("192.0.2.7".parse().unwrap()));
    let p = chain
        .run(&RequestView::from_request(&req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.subject(), "u-1");
    // Without a trusted layer's address nothing is forwarded (the service charges the caller).
    let req = request(&unknown);
    chain
        .run(&RequestView::from_request(&req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen(&validate),
        vec![(known, Some("192.0.2.7".to_owned())), (unknown, None)]
    );
}
