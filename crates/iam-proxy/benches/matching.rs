//! Matching alone vs rule count (10, 100, 1,000, 10,000 rules): the indexed `RuleSet::find`
//! against a linear scan of the same compiled patterns (what Oathkeeper does, one regexp per
//! rule under a lock), measured in the same run.
//!
//! `cargo bench -p iam-proxy --bench matching`
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use iam_proxy::rules::{MatchingStrategy, RuleSet, RuleSpec};
use std::hint::black_box;

/// `n` rules shaped like a real API: per-service prefixes, one regexp segment each, a few
/// literal routes.
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

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("match");
    for n in [10usize, 100, 1_000, 10_000] {
        let set = RuleSet::compile(rules(n), MatchingStrategy::Regexp).unwrap();
        // The last rule (worst case for a scan), a regexp one.
        let last = if (n - 1) % 4 == 0 { n - 2 } else { n - 1 };
        let url = format!("http://api.example/svc{}/res{last}/42", last / 10);
        assert_eq!(
            set.find("GET", &url).unwrap().rule.spec().id,
            format!("r{last}")
        );
        group.bench_with_input(BenchmarkId::new("indexed", n), &url, |b, url| {
            b.iter(|| set.find(black_box("GET"), black_box(url)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("linear_scan", n), &url, |b, url| {
            b.iter(|| {
                set.rules()
                    .iter()
                    .filter(|r| {
                        r.has_method("GET") && r.pattern().is_match(black_box(url)).unwrap()
                    })
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
