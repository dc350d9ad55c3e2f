//! What every framework adapter must answer identically (feature `conformance`): the scenario
//! table, the browser-redirect test authenticator, the route-scope test verifier and the
//! key-rotation sequence. iam-axum and iam-actix (and later the access proxy) run these same
//! fixtures, so the adapters cannot drift apart.
pub mod credentials;
pub mod rotation;
pub mod scenarios;
pub mod sessions;
