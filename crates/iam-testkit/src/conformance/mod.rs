//! What every framework adapter must answer identically (feature `conformance`): the scenario
//! table, the browser-redirect test authenticator, the route-scope test verifier, the
//! key-rotation sequence, the client-address forwarding case and (feature `policy`) the
//! policy-guard table. iam-axum and iam-actix (and later the access proxy) run these same
//! fixtures, so the adapters cannot drift apart.
pub mod client_addr;
pub mod credentials;
#[cfg(feature = "policy")]
pub mod policy;
pub mod rotation;
pub mod scenarios;
pub mod sessions;
