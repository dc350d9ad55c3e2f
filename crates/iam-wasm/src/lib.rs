//! # iam-wasm
//!
//! iam-core's JWT validator for edge runtimes (Cloudflare Workers, Deno Deploy, Fastly,
//! Vercel Edge, Node): the same rules as the Rust middleware, so a token refused by one is
//! refused by the other, compiled to `wasm32-unknown-unknown` (no tokio, no threads, no system
//! clock: the time comes from JavaScript).
//!
//! ```js
//! import { Validator } from "iam-wasm";
//! const v = new Validator({ issuer: "https://auth.example.com/", audience: "orders-api" });
//! v.setJwks(await (await fetch("https://auth.example.com/.well-known/jwks.json")).text());
//! const r = await v.verifyAuthorization(request.headers.get("authorization"));
//! if (!r.ok) return new Response(JSON.stringify(r.body), { status: r.status });
//! ```
//!
//! `verify` resolves to `{ ok: true, principal }` or `{ ok: false, status, error, description }`
//! with the status and error codes of the Rust middleware (401 `invalid_token`, 503 when no key
//! set is loaded, ...); it never rejects. Everything but the RSA and ECDSA signature arithmetic
//! runs in wasm (header policy, key choice, Ed25519, HMAC, claims, the validated-token cache);
//! those signatures go to the runtime's WebCrypto (`crypto.subtle`, native code), through
//! iam-core's `external-crypto` backend — hence the promise. A runtime without WebCrypto gets
//! 503 for such tokens. The JWKS is fetched in JavaScript (`js/jwks-cache.mjs`, the same caching
//! rules as iam-client's `RemoteJwks`). TypeScript types: `pkg/*/iam_wasm.d.ts`.
//!
//! The logic lives in [`engine`], which also builds and is tested natively; the wasm-bindgen
//! surface is compiled on wasm32 only.
#![forbid(unsafe_code)]

pub mod engine;

/// The JavaScript API (wasm32 only).
#[cfg(target_arch = "wasm32")]
pub mod bindings;
#[cfg(target_arch = "wasm32")]
mod webcrypto;
