//! Per-decision speed of the three engines on the parity table's policy, same run.
//!
//! `cargo bench -p iam-policy --bench decisions` starts the real OPA (`scripts/peers build
//! opa` first) on loopback and measures one allowed row of the table ("the owner edits": every
//! rule is evaluated) with: iam-core's `Principal::has_permission` (the baseline: the check a
//! `RequireLayer::permission` route makes today), `Rbac`, `Rego` in process, and `OpaClient`
//! cold (cache off: one HTTP call per decision) and cached. It then prints the table of the
//! README: targets `Rbac` < 1 µs and in-process Rego >= 10x faster than the remote call.
#[path = "../tests/table/mod.rs"]
mod table;

use criterion::Criterion;
use iam_core::principal::{Principal, PrincipalKind};
use iam_policy::{OpaClient, PolicyDecisionPoint};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, opa_url: &str) {
    let row = table::rows()
        .into_iter()
        .find(|r| r.name == "the owner edits")
        .expect("the row");
    let input = row.input;
    let rbac = table::rbac();
    let rego = table::rego();
    let cold = OpaClient::new(opa_url, "iam/authz/decision")
        .unwrap()
        .timeout(Duration::from_secs(5))
        .cache(1, Duration::ZERO);
    let cached = OpaClient::new(opa_url, "iam/authz/decision")
        .unwrap()
        .timeout(Duration::from_secs(5))
        .cache(1024, Duration::from_secs(3600));
    let principal = Principal::builder("alice", PrincipalKind::UserSession)
        .tenant("acme")
        .roles(["editor"])
        .permissions(["documents:read", "documents:create", "documents:edit"])
        .build();
    // Every engine gives the table's answer before it is timed.
    assert!(principal.has_permission("documents:edit"));
    assert_eq!(rbac.evaluate(&input), row.expected);
    assert_eq!(rego.evaluate(&input).unwrap(), row.expected);
    assert_eq!(rt.block_on(cold.evaluate(&input)).unwrap(), row.expected);
    assert_eq!(rt.block_on(cached.evaluate(&input)).unwrap(), row.expected);

    let mut group = c.benchmark_group("decide");
    group.bench_function("baseline_has_permission", |b| {
        b.iter(|| black_box(&principal).has_permission(black_box("documents:edit")))
    });
    group.bench_function("rbac", |b| b.iter(|| rbac.evaluate(black_box(&input))));
    group.bench_function("rbac_trait", |b| {
        b.iter(|| futures_executor::block_on(rbac.decide(black_box(&input))))
    });
    group.bench_function("rego", |b| b.iter(|| rego.evaluate(black_box(&input))));
    // What regorus costs for a policy that does nothing: the fixed part of `rego`.
    let trivial = iam_policy::Rego::from_modules(
        [("t.rego", "package t\ndecision := {\"allow\": true}\n")],
        serde_json::json!({}),
        "data.t.decision",
    )
    .unwrap();
    group.bench_function("rego_trivial_policy", |b| {
        b.iter(|| trivial.evaluate(black_box(&input)))
    });
    group.bench_function("opa_cold", |b| {
        b.iter(|| rt.block_on(cold.evaluate(black_box(&input))))
    });
    group.bench_function("opa_cached", |b| {
        b.iter(|| rt.block_on(cached.evaluate(black_box(&input))))
    });
    group.finish();
}

fn mean_ns(function: &str) -> f64 {
    let path = out_dir()
        .join("decide")
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v["mean"]["point_estimate"].as_f64().unwrap_or(f64::NAN)
}

fn report() {
    let base = mean_ns("baseline_has_permission");
    let rbac = mean_ns("rbac");
    let rbac_trait = mean_ns("rbac_trait");
    let rego = mean_ns("rego");
    let cold = mean_ns("opa_cold");
    let cached = mean_ns("opa_cached");
    let trivial = mean_ns("rego_trivial_policy");
    println!("\n| engine | time per decision | ratio |");
    println!("|---|---|---|");
    println!(
        "| baseline: `Principal::has_permission` | {:.0} ns | 1x |",
        base
    );
    println!(
        "| `Rbac::evaluate` (target < 1 µs) | {:.0} ns | {:.1}x baseline |",
        rbac,
        rbac / base
    );
    println!(
        "| `Rbac` through the trait (boxed future) | {:.0} ns | {:.1}x baseline |",
        rbac_trait,
        rbac_trait / base
    );
    println!(
        "| `Rego` in process | {:.1} µs | {:.1}x faster than OPA cold (target >= 10x) |",
        rego / 1e3,
        cold / rego
    );
    println!(
        "| `Rego`, a policy that does nothing | {:.1} µs | the fixed part of `Rego` |",
        trivial / 1e3
    );
    println!(
        "| `OpaClient`, cold (HTTP on loopback) | {:.1} µs | 1x |",
        cold / 1e3
    );
    println!(
        "| `OpaClient`, cached | {:.2} µs | {:.0}x faster than OPA cold |",
        cached / 1e3,
        cold / cached
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let files = table::bundle_files();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let opa = rt.block_on(iam_testkit::peers::opa::start(&files));
    let mut c = Criterion::default()
        .output_directory(&out_dir())
        .configure_from_args();
    bench(&mut c, &rt, &opa.url);
    c.final_summary();
    drop(opa);
    report();
}
