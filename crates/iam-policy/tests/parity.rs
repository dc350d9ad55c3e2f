//! One policy table, three engines: Rbac rules, in-process Rego and the real OPA server (the
//! reference) give the same decision on every row.
mod table;

use iam_policy::{Decision, OpaClient, PolicyDecisionPoint};
use std::time::Duration;
use table::{rows, Row};

fn check(engine: &str, row: &Row, got: &Decision) {
    assert_eq!(got, &row.expected, "{engine} on row `{}`", row.name);
}

#[test]
fn the_table_has_at_least_forty_rows_with_distinct_names() {
    let rows = rows();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let mut names: Vec<_> = rows.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len());
    assert!(rows.iter().any(|r| r.expected.allow) && rows.iter().any(|r| !r.expected.allow));
}

#[test]
fn the_rbac_rules_and_the_bundle_grant_the_same_roles() {
    let rbac: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(table::fixtures().join("rbac.json")).unwrap(),
    )
    .unwrap();
    let data: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(table::fixtures().join("bundle/data.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rbac["roles"], data["roles"]);
}

#[tokio::test]
async fn rbac_and_in_process_rego_agree_with_the_table_on_every_row() {
    let rbac = table::rbac();
    let rego = table::rego();
    for row in rows() {
        check("Rbac", &row, &rbac.decide(&row.input).await.unwrap());
        check("Rego", &row, &rego.decide(&row.input).await.unwrap());
    }
}

#[tokio::test]
#[ignore = "needs opa: scripts/test"]
async fn the_real_opa_server_agrees_with_the_table_and_both_engines_on_every_row() {
    let files = table::bundle_files();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let opa = iam_testkit::peers::opa::start(&files).await;
    let client = OpaClient::new(&opa.url, "iam/authz/decision")
        .unwrap()
        .timeout(Duration::from_secs(5))
        .cache(1, Duration::ZERO);
    let rbac = table::rbac();
    let rego = table::rego();
    for row in rows() {
        let reference = client.decide(&row.input).await.unwrap();
        check("OPA", &row, &reference);
        assert_eq!(
            rego.decide(&row.input).await.unwrap(),
            reference,
            "Rego vs OPA on `{}`",
            row.name
        );
        assert_eq!(
            rbac.decide(&row.input).await.unwrap(),
            reference,
            "Rbac vs OPA on `{}`",
            row.name
        );
    }
}
