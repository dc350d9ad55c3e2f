//! The input document matches its published JSON Schema, for every table row and for an input
//! built from a principal; documents that break the contract do not.
mod table;

use iam_core::principal::{AssuranceLevel, Principal, PrincipalKind};
use iam_policy::{PolicyInput, RequestContext, Resource, INPUT_SCHEMA};
use serde_json::{json, Value};

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(INPUT_SCHEMA).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn every_table_input_and_a_principal_built_one_match_the_schema() {
    let v = validator();
    for row in table::rows()
        .iter()
        .filter(|r| r.input.check(&Default::default()).is_ok())
    {
        let doc = row.input.to_json();
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "row `{}`: {errors:?}", row.name);
    }
    let p = Principal::builder("u1", PrincipalKind::OAuth2Token)
        .tenant("acme")
        .scopes(["documents:*"])
        .assurance_level(AssuranceLevel::Aal2)
        .build();
    let input = PolicyInput::new(&p, "documents:edit", Resource::new("documents").id("d1"))
        .context(RequestContext::new("PUT", "/documents/d1", 1).ip("::1"));
    assert!(v.is_valid(&input.to_json()));
}

#[test]
fn documents_that_break_the_contract_do_not_match() {
    let v = validator();
    let good = table::rows()[0].input.to_json();
    let mut nulled = good.clone();
    nulled["subject"]["tenant"] = Value::Null;
    let mut unknown_kind = good.clone();
    unknown_kind["subject"]["kind"] = json!("robot");
    let mut string_time = good.clone();
    string_time["context"]["time"] = json!("2026-01-01T00:00:00Z");
    let mut extra = good.clone();
    extra["resource"]["owner"] = json!("alice");
    let mut no_action = good.clone();
    no_action.as_object_mut().unwrap().remove("action");
    for bad in [nulled, unknown_kind, string_time, extra, no_action] {
        assert!(!v.is_valid(&bad), "{bad}");
    }
}
