//! # iam-client
//!
//! The part of iam-rs that talks to the network. iam-core decides what is true about a
//! token; this crate fetches what it needs to decide, with caches that keep the network off
//! the request path.
//!
//! What is here now:
//! - [`JwtConfig`]: one issuer's JWT settings (in code, from the environment or a config
//!   file) turned into an [`iam_core::authn::AuthChain`] for the framework crates, with keys
//!   from a JWKS URL or lazy, retried OIDC discovery ([`IssuerKeys`]).
//! - [`RemoteJwks`]: a JWK set fetched over HTTPS, implementing
//!   [`iam_core::jwks::KeySource`] (see its docs for the caching rules and defaults).
//! - [`TrustedIssuer`] and [`IssuerRegistry`]: OIDC discovery (through `openidconnect`) and
//!   several trusted issuers, each with its own key cache and audience.
//! - [`ClientCredentials`]: service-to-service tokens, cached and refreshed before expiry;
//!   [`BearerLayer`] adds them to outgoing requests as a tower layer.
//! - [`Introspection`]: RFC 7662 introspection as an authenticator for opaque tokens, with a
//!   cache, and RFC 7009 revocation.
//! - [`login`]: authorization code + PKCE with ID-token checks, refresh with rotation.
//! - [`HttpClient`]: the one bounded `reqwest` client every flow uses (bring your own).
//!
//! - [`logout`]: back-channel logout tokens; [`login::LoginClient::logout_url`] builds the
//!   RP-initiated logout URL.
//!
//! - [`RemoteCredentials`]: the credential service's `validate`, cached, as a
//!   [`iam_core::credential::CredentialVerifier`].
//! - [`KratosSessions`]: Kratos session cookies and tokens through `whoami`, cached in
//!   process and optionally in Redis ([`RedisSessionStore`]), failing closed; revocation
//!   (broadcast to every instance sharing the Redis) and session-to-JWT exchange.
//! - [`hydra::HydraAdmin`]: Ory Hydra's admin API for a login provider: login, consent and
//!   logout requests, sessions, OAuth2 clients, key sets, and a consent-decision helper.
//!
//! ## Features
//! All on by default; turn them off with `default-features = false` to compile less.
//! [`JwtConfig`], [`RemoteJwks`], [`RemoteCredentials`] and [`HttpClient`] are always there.
//!
//! | feature | what it adds |
//! |---|---|
//! | `oidc` | [`discovery`] (also discovery in [`JwtConfig`] without a JWKS URL), [`login`], [`logout`], [`client_credentials`] (`openidconnect`, `oauth2`) |
//! | `kratos` | [`kratos`]: Kratos sessions with the in-process cache |
//! | `redis` | [`kratos::RedisSessionStore`], the shared session store (implies `kratos`) |
//! | `introspection` | [`introspection`]: RFC 7662 introspection, RFC 7009 revocation |
//! | `hydra` | [`hydra`]: Ory Hydra's admin API for a login provider (implies `introspection`) |
//! | `aws-lc` (default), `rust-crypto` | iam-core's crypto backend, passed through |
//!
#![forbid(unsafe_code)]

mod answer_cache;
mod cache_control;
#[cfg(feature = "oidc")]
pub mod client_credentials;
pub mod config;
#[cfg(feature = "oidc")]
pub mod discovery;
#[cfg(feature = "hydra")]
pub mod hydra;
#[cfg(feature = "introspection")]
pub mod introspection;
pub mod jwks;
#[cfg(feature = "kratos")]
pub mod kratos;
#[cfg(feature = "oidc")]
pub mod login;
#[cfg(feature = "oidc")]
pub mod logout;
pub mod remote_credentials;
pub mod transport;

#[cfg(feature = "oidc")]
pub use client_credentials::{
    AccessToken, Bearer, BearerLayer, ClientCredentials, ClientCredentialsError,
};
pub use config::{IntrospectionSettings, IssuerKeys, JwtConfig, JwtConfigError};
#[cfg(feature = "oidc")]
pub use discovery::{DiscoveryError, ExtraMetadata, IssuerMetadata, IssuerRegistry, TrustedIssuer};
#[cfg(feature = "introspection")]
pub use introspection::{Introspection, IntrospectionError};
pub use jwks::{JwksStats, RemoteJwks, RemoteJwksBuilder, RemoteJwksError};
#[cfg(feature = "kratos")]
pub use kratos::KratosSessions;
#[cfg(feature = "redis")]
pub use kratos::RedisSessionStore;
pub use remote_credentials::RemoteCredentials;
pub use transport::{HttpClient, HttpError, TransportPolicy, TransportPolicyError, UrlRole};

/// The README's examples compile (`cargo test --doc`; they need the default features).
#[cfg(all(doctest, feature = "oidc", feature = "redis", feature = "hydra"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
