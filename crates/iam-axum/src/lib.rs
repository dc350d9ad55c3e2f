//! # iam-axum
//!
//! Framework glue for tower and axum. Nothing is implemented here yet: this crate is a
//! documented placeholder so the workspace has its final shape.
//!
//! What will live here (see `DESIGN.md`): a plain tower `IamLayer` / `Iam<S>` that builds
//! `iam_core::authn::RequestView`, runs the authenticator chain, strips spoofed identity
//! headers, inserts the `Principal` into the request extensions and turns failures into
//! `iam_core::authn::AuthError::to_response`; extractors built on `axum-core` only.
#![forbid(unsafe_code)]
