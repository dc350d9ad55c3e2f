//! Personal access tokens, API keys and service tokens: the format, the storage form and
//! the rules, with no I/O.
//!
//! ```text
//! pat_ 3fK9xQ2m Zb81LqP0vW7yTn4RcE5uHs6AjD9kGf2 1aB9cD
//! └┬─┘ └──┬───┘ └──────────────┬──────────────┘ └──┬─┘
//! kind lookup id (8, not secret)  secret (28 = 166 bits)  CRC32 of lookup id + secret (6)
//! ```
//!
//! Every part is base62 (`0-9A-Za-z`), so a token is one "word" for editors and shells, and
//! secret scanners can match `(pat|key|svc)_[0-9A-Za-z]{42}` and check the checksum offline.
//! [`parse`] refuses anything else (wrong prefix or case, separators, whitespace, a wrong
//! length, a bad checksum, a JWT) before any storage is touched.
//!
//! Stored: the lookup id (the index), and HMAC-SHA-256 of the whole token under a server-side
//! pepper with the pepper's version ([`Peppers`]); never the token. Verification compares in
//! constant time. Adding a new pepper keeps old tokens valid (their rows name the version
//! they were hashed with) and new hashes use the newest pepper.
mod authn;
mod format;
mod pepper;
mod routes;
mod verifier;

pub use authn::CredentialAuthenticator;
pub use format::{
    generate, parse, CredentialKind, FormatError, NewToken, ParsedToken, RandomError, BODY_LEN,
    LOOKUP_LEN, SECRET_LEN,
};
pub use pepper::{Pepper, PepperError, Peppers};
pub use routes::{RouteScopeError, RouteScopes};
pub use verifier::{CredentialError, CredentialVerifier, VerifiedCredential};
