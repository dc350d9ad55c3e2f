//! The end client's address through an adapter: a trusted layer's `ClientAddr` reaches the
//! credential service (`RemoteCredentials` forwards it as `x-iam-client-ip`), a header the
//! client sent never does. Each adapter sends [`CASES`] with [`chain`] in front of a route
//! answering 200, then checks the double with [`check`].
use crate::{LoopbackServer, Reply};
use iam_client::RemoteCredentials;
use iam_core::authn::{AuthChain, ClientAddr};
use iam_core::credential::{generate, CredentialAuthenticator, CredentialKind};
use serde_json::json;

/// The address the trusted layer establishes.
pub const TRUSTED: &str = "192.0.2.7";
/// What the client claims in headers (never forwarded).
pub const CLAIMED_HEADERS: &[(&str, &str)] = &[
    ("x-iam-client-ip", "203.0.113.99"),
    ("x-forwarded-for", "203.0.113.98"),
];
/// With and without a trusted layer's address, in this order.
pub const CASES: [bool; 2] = [true, false];

/// The extension a trusted layer inserts.
pub fn trusted() -> ClientAddr {
    ClientAddr(TRUSTED.parse().unwrap())
}

/// A fresh personal access token (the double accepts any).
pub fn pat() -> String {
    generate(CredentialKind::PersonalAccessToken)
        .unwrap()
        .secret()
        .to_owned()
}

/// A credential service double whose `/validate` accepts every token.
pub async fn credential_service() -> LoopbackServer {
    LoopbackServer::start(|_| {
        Reply::json(
            200,
            &json!({"valid": true, "kind": "pat", "id": "cred_1", "owner": "u-1", "scopes": []}),
        )
    })
    .await
}

/// The chain of the app under test: `RemoteCredentials` against `service`.
pub fn chain(service: &LoopbackServer) -> AuthChain {
    let remote = RemoteCredentials::builder(service.url(""), "svc_caller0token")
        .build()
        .unwrap();
    AuthChain::new().with(CredentialAuthenticator::new(remote))
}

/// Panic unless the double saw `tokens` (sent for [`CASES`] in order) with the trusted address
/// for the first and no address for the second.
pub fn check(service: &LoopbackServer, tokens: &[String]) {
    let seen: Vec<(String, Option<String>)> = service
        .requests()
        .iter()
        .map(|r| {
            (
                r.json()["token"].as_str().unwrap().to_owned(),
                r.header("x-iam-client-ip").map(str::to_owned),
            )
        })
        .collect();
    let want: Vec<(String, Option<String>)> = tokens
        .iter()
        .zip(CASES)
        .map(|(t, trusted)| (t.clone(), trusted.then(|| TRUSTED.to_owned())))
        .collect();
    assert_eq!(seen, want);
}
