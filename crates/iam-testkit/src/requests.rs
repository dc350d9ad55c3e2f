//! Requests through an authenticator (feature `core`): the status a bearer token gets.
use iam_core::authn::{Authenticator, RequestView};

/// A `GET /` carrying `Authorization: Bearer {token}`.
pub fn bearer(token: &str) -> http::Request<()> {
    http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
}

/// What `authenticator` answers to [`bearer`]`(token)`: 200 for a principal, 0 for "not
/// mine", else the refusal's status.
pub async fn bearer_status(authenticator: &impl Authenticator, token: &str) -> u16 {
    let req = bearer(token);
    match authenticator
        .authenticate(&RequestView::from_request(&req))
        .await
    {
        Ok(Some(_)) => 200,
        Ok(None) => 0,
        Err(e) => e.status().as_u16(),
    }
}
