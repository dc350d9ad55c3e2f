//! A personal access token checked through the remote credential verifier (parse, checksum,
//! SHA-256, cache hit), as a ratio to a JWT cache hit measured in the same run: both through
//! `Authenticator::authenticate` on a request view, after one warm-up call each.
mod common;

use iam_client::RemoteCredentials;
use iam_core::credential::CredentialAuthenticator;

const ANSWER: &str = r#"{"valid":true,"kind":"pat","id":"cred_1","owner":"user-1","tenant":"acme","scopes":["orders:read"],"expires_at":null}"#;
const PAT: &str = "pat_g5jzj1MOIhECKO9f8G7P0yzrayiS5V7iFpmh12eMst";
const SVC: &str = "svc_0000000000000000000000000000000000000000";

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let service = common::serve_fixed(&rt, &[], ANSWER);
    let remote = RemoteCredentials::builder(service.url(""), SVC)
        .build()
        .expect("remote");
    let pats = CredentialAuthenticator::new(remote);
    let req = http::Request::get("/me")
        .header("authorization", format!("Bearer {PAT}"))
        .body(())
        .expect("request");
    common::warm(&rt, &pats, &req);
    common::compare(
        &rt,
        "credentials",
        ("pat_cached", "PAT via RemoteCredentials, cached"),
        (&pats, &req),
    );
}
