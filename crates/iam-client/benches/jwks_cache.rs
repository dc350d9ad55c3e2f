//! A cache hit of `RemoteJwks::keys()`, as a ratio to the same call on a fixed in-memory set
//! (`StaticKeys`), measured in the same run.
mod common;

use criterion::Criterion;
use iam_client::RemoteJwks;
use iam_core::jwks::{JwkSet, KeySource, StaticKeys};
use std::hint::black_box;

const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"ec-1","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"}]}"#;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let issuer = common::serve_fixed(&rt, &[("cache-control", "max-age=3600")], JWKS);
    let url = issuer.url("/jwks.json");
    let remote = RemoteJwks::builder(url).build().expect("remote jwks");
    rt.block_on(remote.refresh()).expect("first fetch");
    let fixed = StaticKeys::new(JwkSet::from_json(JWKS.as_bytes()).expect("jwks"));

    let mut c = Criterion::default()
        .output_directory(&std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion"))
        .configure_from_args();
    let mut group = c.benchmark_group("jwks_cache");
    group.bench_function("static_keys", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(fixed.keys().await) })
    });
    group.bench_function("remote_jwks_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(remote.keys().await) })
    });
    group.finish();
    c.final_summary();

    let mean = |name: &str| -> Option<f64> {
        let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("criterion/jwks_cache")
            .join(name)
            .join("new/estimates.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        v["mean"]["point_estimate"].as_f64()
    };
    if let (Some(base), Some(hit)) = (mean("static_keys"), mean("remote_jwks_hit")) {
        println!("\n| source | keys() | ratio |\n|---|---|---|");
        println!("| StaticKeys (baseline) | {base:.1} ns | 1.00x |");
        println!(
            "| RemoteJwks cache hit | {hit:.1} ns | {:.2}x |",
            hit / base
        );
    }
    assert_eq!(
        remote.stats().fetches,
        1,
        "the benchmark must not have fetched again"
    );
}
