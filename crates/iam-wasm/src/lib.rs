//! # iam-wasm
//!
//! The iam-core validator for edge runtimes. Nothing is implemented here yet: this crate is a
//! documented placeholder so the workspace has its final shape.
//!
//! What will live here (see `DESIGN.md`): a `wasm-bindgen` wrapper of `iam_core` built with its
//! `rust-crypto` feature for `wasm32-unknown-unknown`, taking the time from JavaScript's clock,
//! plus a small JS helper that fetches and caches the JWKS with the same rules as iam-client.
#![forbid(unsafe_code)]
