//! p50/p99 of matching alone vs rule count (10, 100, 1,000, 10,000 rules): every call of the
//! indexed `RuleSet::find` and of a linear scan of the same compiled patterns (what
//! Oathkeeper does: every rule's regexp, so that "several rules match" is seen) is timed and
//! recorded in an HDR histogram, both in the same run, with the URLs spread over all rules.
//! Criterion (`benches/matching.rs`) gives the means; this gives the tail.
//!
//! `cargo bench -p iam-proxy --bench matching_percentiles`
//!
//! Each call is timed with two `Instant::now()` reads; their cost (the "timer floor" line,
//! the p50 of an empty timed region) is included in every figure and not subtracted.
use hdrhistogram::Histogram;
use iam_proxy::rules::{MatchingStrategy, RuleSet, RuleSpec};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The same rule shapes as `benches/matching.rs`: per-service prefixes, one regexp segment
/// in three rules of four, literal routes in the rest.
fn rules(n: usize) -> Vec<RuleSpec> {
    (0..n)
        .map(|i| {
            let mut r = RuleSpec {
                id: format!("r{i}"),
                ..Default::default()
            };
            r.matcher.url = if i % 4 == 0 {
                format!("http://api.example/svc{}/res{i}", i / 10)
            } else {
                format!("http://api.example/svc{}/res{i}/<[0-9]+>", i / 10)
            };
            r.matcher.methods = vec!["GET".into(), "POST".into()];
            r
        })
        .collect()
}

/// Up to 1,000 request URLs spread evenly over the rules, each matching exactly one.
fn urls(n: usize) -> Vec<String> {
    let step = (n / 1_000).max(1);
    (0..n)
        .step_by(step)
        .map(|i| {
            if i % 4 == 0 {
                format!("http://api.example/svc{}/res{i}", i / 10)
            } else {
                format!("http://api.example/svc{}/res{i}/{}", i / 10, i * 7)
            }
        })
        .collect()
}

fn histogram() -> Histogram<u64> {
    // 1 ns .. 1 s, 3 significant digits.
    Histogram::new_with_bounds(1, 1_000_000_000, 3).expect("valid bounds")
}

/// Time `f` on every URL, round robin, until `budget` is spent (at least 2,000 calls, at most
/// 500,000), after a warm-up pass.
fn record(urls: &[String], budget: Duration, mut f: impl FnMut(&str) -> usize) -> Histogram<u64> {
    for u in urls {
        black_box(f(black_box(u)));
    }
    let mut h = histogram();
    let started = Instant::now();
    let mut calls = 0usize;
    while calls < 2_000 || (started.elapsed() < budget && calls < 500_000) {
        let url = &urls[calls % urls.len()];
        let t = Instant::now();
        let found = f(black_box(url));
        let ns = t.elapsed().as_nanos() as u64;
        assert_eq!(black_box(found), 1, "exactly one rule matches {url}");
        h.record(ns.max(1)).expect("in bounds");
        calls += 1;
    }
    h
}

fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported here.
    let budget = Duration::from_millis(1_500);
    let mut floor = histogram();
    for _ in 0..100_000 {
        let t = Instant::now();
        let ns = black_box(t.elapsed()).as_nanos() as u64;
        floor.record(ns.max(1)).expect("in bounds");
    }
    println!(
        "timer floor: p50 {}, p99 {}",
        fmt_ns(floor.value_at_quantile(0.5)),
        fmt_ns(floor.value_at_quantile(0.99))
    );
    println!(
        "| rules | indexed p50 | indexed p99 | linear scan p50 | linear scan p99 | p50 ratio | p99 ratio | calls (indexed / scan) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in [10usize, 100, 1_000, 10_000] {
        let set = RuleSet::compile(rules(n), MatchingStrategy::Regexp).expect("rules compile");
        let urls = urls(n);
        let indexed = record(&urls, budget, |u| {
            set.find(black_box("GET"), u).map(|_| 1).unwrap_or(0)
        });
        let scan = record(&urls, budget, |u| {
            set.rules()
                .iter()
                .filter(|r| r.has_method("GET") && r.pattern().is_match(u).unwrap_or(false))
                .count()
        });
        let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p);
        println!(
            "| {n} | {} | {} | {} | {} | {:.1}× | {:.1}× | {} / {} |",
            fmt_ns(q(&indexed, 0.5)),
            fmt_ns(q(&indexed, 0.99)),
            fmt_ns(q(&scan, 0.5)),
            fmt_ns(q(&scan, 0.99)),
            q(&scan, 0.5) as f64 / q(&indexed, 0.5) as f64,
            q(&scan, 0.99) as f64 / q(&indexed, 0.99) as f64,
            indexed.len(),
            scan.len(),
        );
    }
}
