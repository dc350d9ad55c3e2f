//! # iam-actix
//!
//! Framework glue for actix-web. Nothing is implemented here yet: this crate is a documented
//! placeholder so the workspace has its final shape.
//!
//! What will live here (see `DESIGN.md`): an actix `Transform` that runs the same
//! authenticator chain as `iam-axum`, and `FromRequest` extractors for the `Principal` and for
//! scope / permission guards. Both framework crates run one shared scenario table.
#![forbid(unsafe_code)]
