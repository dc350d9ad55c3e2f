//! Token validation speed, as ratios to raw `jsonwebtoken::decode` measured in the same run.
//!
//! `cargo bench -p iam-benches --bench validate` prints, per algorithm, the mean time of the
//! baseline (jsonwebtoken `decode` into a typed struct, with iss/aud/exp checked), of
//! iam-core's full validation of a token seen for the first time (cache emptied before each
//! iteration), of the same with the cache turned off, and of a repeated token
//! (validated-token cache), then the ratios.
use criterion::{BatchSize, BenchmarkId, Criterion};
use iam_benches::{baseline_validation, fixtures, TypicalClaims, AUDIENCE, ISSUER};
use iam_core::jwt::Validator;
use std::hint::black_box;
use std::path::PathBuf;

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

fn bench(c: &mut Criterion) {
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
    let mut group = c.benchmark_group("validate");
    for f in fixtures() {
        let validation = baseline_validation(f.alg);
        jsonwebtoken::decode::<TypicalClaims>(&f.token, &f.decoding_key, &validation)
            .expect("baseline accepts the fixture");
        let validator = Validator::builder(ISSUER)
            .audience(AUDIENCE)
            .build()
            .expect("validator");
        validator
            .validate(&f.token, &f.keys)
            .expect("iam-core accepts the fixture");

        group.bench_function(BenchmarkId::new("raw_decode", f.name), |b| {
            b.iter_batched(
                || (),
                |()| {
                    jsonwebtoken::decode::<TypicalClaims>(
                        black_box(&f.token),
                        &f.decoding_key,
                        &validation,
                    )
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(BenchmarkId::new("iam_first_seen", f.name), |b| {
            b.iter_batched(
                || validator.clear_cache(),
                |()| validator.validate(black_box(&f.token), &f.keys),
                BatchSize::PerIteration,
            )
        });
        let uncached = Validator::builder(ISSUER)
            .audience(AUDIENCE)
            .cache_capacity(0)
            .build()
            .expect("validator");
        group.bench_function(BenchmarkId::new("iam_no_cache", f.name), |b| {
            b.iter_batched(
                || (),
                |()| uncached.validate(black_box(&f.token), &f.keys),
                BatchSize::PerIteration,
            )
        });
        group.bench_function(BenchmarkId::new("iam_repeated", f.name), |b| {
            b.iter(|| validator.validate(black_box(&f.token), &f.keys))
        });
    }
    group.finish();
}

fn mean_ns(function: &str, alg: &str) -> Option<f64> {
    let path = out_dir()
        .join("validate")
        .join(function)
        .join(alg)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn report() {
    println!("\n| alg | raw decode | iam-core, first seen | ratio (target <= 1.10) | without cache | iam-core, repeated | speed-up (target >= 20x) |");
    println!("|---|---|---|---|---|---|---|");
    for alg in ["RS256", "ES256", "EdDSA"] {
        let (Some(raw), Some(first), Some(nocache), Some(rep)) = (
            mean_ns("raw_decode", alg),
            mean_ns("iam_first_seen", alg),
            mean_ns("iam_no_cache", alg),
            mean_ns("iam_repeated", alg),
        ) else {
            continue;
        };
        println!(
            "| {alg} | {:.1} µs | {:.1} µs | {:.3}x | {:.3}x | {:.3} µs | {:.0}x |",
            raw / 1e3,
            first / 1e3,
            first / raw,
            nocache / raw,
            rep / 1e3,
            raw / rep
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&out_dir())
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
    report();
}
