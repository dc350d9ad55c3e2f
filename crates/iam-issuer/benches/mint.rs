//! Token issuance speed, as a ratio to the bare signature measured in the same run.
//!
//! `cargo bench -p iam-issuer --bench mint` measures, per algorithm, the bare signature of a
//! typical signing input with a pre-parsed aws-lc-rs key (the floor: what any issuer pays),
//! and `Issuer::mint` of typical access-token claims (claims serialisation, `jti`, base64url,
//! the signature through jsonwebtoken's provider). Then it prints the medians, their ratio,
//! and p50/p99 of `mint` over 20,000 single calls (target: p99 < 1 ms).
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use criterion::{BenchmarkId, Criterion};
use iam_core::clock::SystemClock;
use iam_issuer::{Issuer, KeyAlgorithm, KeyEncryptionKey, KeyRing, MemoryKeyStore, RotationPolicy};
use serde_json::{json, Map, Value};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

/// The claims iam-api puts into an access token.
fn claims() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "sub": "0193a5c4-7b7e-7c4e-9a51-6a2f1c0d9e42", "aud": ["iam-api"], "tenant": "default",
        "roles": ["admin", "billing"], "permissions": ["iam:admin", "orders:read", "orders:write"],
        "acr": "mfa", "amr": ["pwd", "otp"], "sid": "0193a5c4-7b7e-7c4e-9a51-000000000001"
    }) else {
        unreachable!()
    };
    map
}

/// A bare signer over a pre-parsed key, the floor of any issuer.
enum Bare {
    Es(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rs(RsaKeyPair),
}

impl Bare {
    fn new(alg: KeyAlgorithm) -> Self {
        let rng = SystemRandom::new();
        match alg {
            KeyAlgorithm::Es256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .expect("p256");
                Bare::Es(
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                        .expect("p256"),
                )
            }
            KeyAlgorithm::EdDsa => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).expect("ed25519");
                Bare::Ed(Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("ed25519"))
            }
            _ => Bare::Rs(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa")),
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Bare::Es(k) => k.sign(&rng, message).expect("sign").as_ref().to_vec(),
            Bare::Ed(k) => k.sign(message).as_ref().to_vec(),
            Bare::Rs(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("sign");
                sig
            }
        }
    }
}

fn issuer(runtime: &tokio::runtime::Runtime, alg: KeyAlgorithm) -> Issuer {
    let ring = runtime
        .block_on(KeyRing::open(
            Arc::new(MemoryKeyStore::new()),
            KeyEncryptionKey::generate(),
            alg,
            RotationPolicy::default(),
            SystemClock,
        ))
        .expect("ring");
    Issuer::new("https://auth.example.com", ring)
}

fn bench(c: &mut Criterion, issuers: &[(KeyAlgorithm, Issuer)]) {
    let mut group = c.benchmark_group("mint");
    let lifetime = Duration::from_secs(600);
    for (alg, issuer) in issuers {
        let token = issuer.mint(claims(), lifetime).expect("mint");
        let signing_input = token
            .token
            .secret()
            .rsplit_once('.')
            .expect("jws")
            .0
            .to_owned();
        let bare = Bare::new(*alg);
        group.bench_function(BenchmarkId::new("bare_signature", alg.as_str()), |b| {
            b.iter(|| bare.sign(black_box(signing_input.as_bytes())))
        });
        group.bench_function(BenchmarkId::new("mint", alg.as_str()), |b| {
            b.iter_batched(
                claims,
                |claims| issuer.mint(claims, lifetime).expect("mint"),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn median_ns(function: &str, alg: &str) -> Option<f64> {
    let path = out_dir()
        .join("mint")
        .join(function)
        .join(alg)
        .join("new/estimates.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// p50 and p99 of single `mint` calls, in microseconds.
fn percentiles(issuer: &Issuer) -> (f64, f64) {
    let lifetime = Duration::from_secs(600);
    let mut samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let claims = claims();
            let start = Instant::now();
            black_box(issuer.mint(claims, lifetime).expect("mint"));
            start.elapsed()
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let issuers: Vec<(KeyAlgorithm, Issuer)> = KeyAlgorithm::ALL
        .into_iter()
        .map(|alg| (alg, issuer(&runtime, alg)))
        .collect();
    let mut c = Criterion::default()
        .output_directory(&out_dir())
        .configure_from_args();
    bench(&mut c, &issuers);
    c.final_summary();
    println!("\n| alg | bare signature (median) | mint (median) | ratio | mint p50 | mint p99 (target < 1 ms) |");
    println!("|---|---|---|---|---|---|");
    for (alg, issuer) in &issuers {
        let name = alg.as_str();
        let (Some(bare), Some(mint)) = (median_ns("bare_signature", name), median_ns("mint", name))
        else {
            continue;
        };
        let (p50, p99) = percentiles(issuer);
        println!(
            "| {name} | {:.1} µs | {:.1} µs | {:.2}x | {p50:.1} µs | {p99:.1} µs |",
            bare / 1e3,
            mint / 1e3,
            mint / bare
        );
    }
}
