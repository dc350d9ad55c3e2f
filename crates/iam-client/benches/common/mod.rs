//! What the authenticator benches share: a loopback server with a fixed answer, the JWT
//! cache-hit baseline, and the comparison table read from criterion's estimates.
#![allow(dead_code)] // each bench uses part of it

use criterion::Criterion;
use iam_core::authn::{Authenticator, JwtAuthenticator, RequestView};
use iam_core::jwks::{JwkSet, StaticKeys};
use iam_core::jwt::Validator;
use iam_testkit::keys::{ed25519_key, ed_jwk, sign_raw, Signer};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::json;
use std::hint::black_box;

/// A loopback HTTP server answering every request with 200, `headers` and the JSON `body`;
/// it serves while the returned server is alive.
pub(crate) fn serve_fixed(
    rt: &tokio::runtime::Runtime,
    headers: &[(&str, &str)],
    body: &'static str,
) -> LoopbackServer {
    let mut reply = Reply::status(200)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        reply = reply.header(name, value);
    }
    rt.block_on(LoopbackServer::fixed(reply))
}

/// The baseline: a JWT authenticator and a request whose EdDSA bearer it has validated once
/// (so every further call is a cache hit).
pub(crate) fn jwt_baseline(
    rt: &tokio::runtime::Runtime,
) -> (JwtAuthenticator<StaticKeys>, http::Request<()>) {
    let pair = ed25519_key();
    let jwks = json!({"keys": [ed_jwk(&pair, "k1")]}).to_string();
    let token = sign_raw(
        r#"{"alg":"EdDSA","kid":"k1"}"#,
        r#"{"iss":"https://issuer.example","aud":"api","sub":"user-1","exp":32503680000,"scope":"orders:read","tenant":"acme","sid":"s-1"}"#,
        Signer::Ed(&pair),
    );
    let validator = Validator::builder("https://issuer.example")
        .audience("api")
        .build()
        .expect("validator");
    let jwt = JwtAuthenticator::new(
        validator,
        StaticKeys::new(JwkSet::from_json(jwks.as_bytes()).expect("jwks")),
    );
    let req = http::Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .expect("request");
    warm(rt, &jwt, &req);
    (jwt, req)
}

/// One call that must authenticate (fills the caches).
pub(crate) fn warm(rt: &tokio::runtime::Runtime, a: &impl Authenticator, req: &http::Request<()>) {
    rt.block_on(async {
        let view = RequestView::from_request(req);
        a.authenticate(&view)
            .await
            .expect("authenticates")
            .expect("a principal");
    });
}

/// Bench `candidate` against the JWT cache hit in one criterion group and print the ratio.
pub(crate) fn compare(
    rt: &tokio::runtime::Runtime,
    group: &str,
    (name, label): (&str, &str),
    candidate: (&dyn Authenticator, &http::Request<()>),
) {
    let (jwt, bearer) = jwt_baseline(rt);
    let mut c = Criterion::default()
        .output_directory(&std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion"))
        .configure_from_args();
    let mut g = c.benchmark_group(group);
    g.bench_function("jwt_cache_hit", |b| {
        b.to_async(rt).iter(|| async {
            let view = RequestView::from_request(&bearer);
            black_box(jwt.authenticate(&view).await.is_ok())
        })
    });
    g.bench_function(name, |b| {
        b.to_async(rt).iter(|| async {
            let view = RequestView::from_request(candidate.1);
            black_box(candidate.0.authenticate(&view).await.is_ok())
        })
    });
    // The middleware's path on a hit: `authenticate_now`, no future at all.
    g.bench_function("jwt_cache_hit_now", |b| {
        b.iter(|| {
            let view = RequestView::from_request(&bearer);
            black_box(matches!(jwt.authenticate_now(&view), Some(Ok(Some(_)))))
        })
    });
    let now_name = format!("{name}_now");
    g.bench_function(now_name.as_str(), |b| {
        b.iter(|| {
            let view = RequestView::from_request(candidate.1);
            black_box(matches!(
                candidate.0.authenticate_now(&view),
                Some(Ok(Some(_)))
            ))
        })
    });
    g.finish();
    c.final_summary();
    let mean = |bench: &str| -> Option<f64> {
        let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("criterion")
            .join(group)
            .join(bench)
            .join("new/estimates.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        v["mean"]["point_estimate"].as_f64()
    };
    let row = |path: &str, base: Option<f64>, hit: Option<f64>| {
        if let (Some(base), Some(hit)) = (base, hit) {
            println!("| JWT bearer, cache hit (baseline) | {path} | {base:.0} ns | 1.00x |");
            println!("| {label} | {path} | {hit:.0} ns | {:.2}x |", hit / base);
        }
    };
    println!("\n| check | path | time | ratio (target <= 2.0) |\n|---|---|---|---|");
    row("`authenticate().await`", mean("jwt_cache_hit"), mean(name));
    row(
        "`authenticate_now()` (the middleware's path on a hit)",
        mean("jwt_cache_hit_now"),
        mean(&now_name),
    );
}
