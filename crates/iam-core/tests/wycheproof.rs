//! Wycheproof's JWS and JWK vectors (vendored in iam-testkit: `data/vectors/wycheproof/`), every case a check.
//!
//! Every `invalid` case must be refused. Every `valid` case must be accepted, except the ones
//! listed in `POLICY_REFUSALS` with the rule of ours that refuses them.
mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{export_verdicts, vectors_dir, verdict};
use iam_core::jwks::JwkSet;
use iam_core::jwt::{Algorithm, Validator};
use serde_json::{json, Value};

/// Valid JWS cases this library refuses on purpose, and why.
const JWS_POLICY_REFUSALS: &[(u64, &str)] = &[
    (346, "RFC 7520 figure 20: a PS384 token under a key whose JWK alg is PS256; keys are bound to their JWK alg"),
    (350, "RFC 7520 figure 20 (key_ops variant): PS384 token under a PS256-bound key"),
    (347, "RFC 7520 figure 27: ES512 / P-521 is not a supported algorithm"),
    (351, "RFC 7520 figure 27 (key_ops variant): ES512 / P-521 is not supported"),
    (372, "a character outside the base64url alphabet in the header: strict base64url"),
    (373, "a character outside the base64url alphabet in the payload: strict base64url"),
];

/// "Invalid" cases whose token is byte for byte the valid tcId 357: the padding they are
/// named after is missing from the vector file. The test checks they are still identical to
/// 357 (so a corrected file is noticed), and checks the input they were meant to carry (the
/// same token with `=` padding in that segment) separately.
const VECTOR_DEFECTS: &[(u64, usize)] = &[(367, 0), (370, 1)];

/// Valid JWK cases this library refuses on purpose, and why.
const JWK_POLICY_REFUSALS_FROM_JWKS: &[(u64, &str)] = &[
    (
        2,
        "HMAC key in a JWK set: oct keys are never taken from a JWK set",
    ),
    (
        13,
        "HMAC key in a JWK set: oct keys are never taken from a JWK set",
    ),
    (
        14,
        "HMAC key in a JWK set: oct keys are never taken from a JWK set",
    ),
    (
        15,
        "HMAC key in a JWK set: oct keys are never taken from a JWK set",
    ),
];

fn load(name: &str) -> Value {
    let path = vectors_dir().join("wycheproof").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn verifier() -> Validator {
    Validator::builder("unused")
        .dangerous()
        .accept_any_audience()
        .clock(|| 0_i64)
        .build()
        .unwrap()
}

/// The key set a user would configure from a group's key: asymmetric keys through a JWK set
/// document, an `oct` key as an explicit shared secret. `Err` when configuring is refused.
fn configured_keys(key: &Value, explicit_secrets: bool) -> Result<JwkSet, String> {
    let entries: Vec<Value> = match key.get("keys") {
        Some(Value::Array(keys)) => keys.clone(),
        _ => vec![key.clone()],
    };
    let mut set = JwkSet::from_json(json!({ "keys": entries }).to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    if explicit_secrets {
        for k in entries.iter().filter(|k| k["kty"] == "oct") {
            let alg = k["alg"]
                .as_str()
                .and_then(Algorithm::from_name)
                .ok_or("not an HMAC alg")?;
            let secret = URL_SAFE_NO_PAD
                .decode(k["k"].as_str().unwrap_or(""))
                .map_err(|e| e.to_string())?;
            set.insert_shared_secret(k["kid"].as_str(), alg, &secret)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(set)
}

/// The group's key as iam-wasm is given it: a JWK set document, plus the `oct` keys as
/// explicit shared secrets when `explicit_secrets`.
fn wasm_keys(key: &Value, explicit_secrets: bool) -> Value {
    let entries: Vec<Value> = match key.get("keys") {
        Some(Value::Array(keys)) => keys.clone(),
        _ => vec![key.clone()],
    };
    let secrets: Vec<Value> = if explicit_secrets {
        entries
            .iter()
            .filter(|k| k["kty"] == "oct")
            .map(|k| json!({"kid": k["kid"], "alg": k["alg"], "k": k["k"]}))
            .collect()
    } else {
        Vec::new()
    };
    json!({"jwks": {"keys": entries}, "secrets": secrets})
}

/// The verdict of configuring keys and verifying, as exported for iam-wasm.
fn exported_verdict(keys: &Result<JwkSet, String>, v: &Validator, token: &str) -> Value {
    match keys {
        Ok(keys) => verdict(&v.verify_signature(token, keys)),
        Err(_) => json!({"configError": true}),
    }
}

fn jws_of(case: &Value) -> String {
    match &case["jws"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn wycheproof_json_web_signature() {
    let doc = load("json_web_signature_test.json");
    let v = verifier();
    let (mut ran, mut refused_by_policy, mut failures) = (0, 0, Vec::new());
    let valid_357 = doc["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["tests"].as_array().unwrap())
        .find(|t| t["tcId"] == 357)
        .map(jws_of);
    let mut exported = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let key = group.get("public").unwrap_or(&group["private"]);
        // Symmetric groups: the user configured the secret explicitly.
        let keys = configured_keys(key, true);
        let mut group_out = wasm_keys(key, true);
        let mut cases_out = Vec::new();
        for case in group["tests"].as_array().unwrap() {
            cases_out.push(json!({"tcId": case["tcId"], "token": jws_of(case),
                                  "verdict": exported_verdict(&keys, &v, &jws_of(case))}));
            ran += 1;
            let id = case["tcId"].as_u64().unwrap();
            let valid = case["result"] == "valid";
            let outcome = match &keys {
                Ok(keys) => v
                    .verify_signature(&jws_of(case), keys)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("key refused: {e}")),
            };
            let policy = JWS_POLICY_REFUSALS.iter().find(|(i, _)| *i == id);
            if let Some((_, segment)) = VECTOR_DEFECTS.iter().find(|(i, _)| *i == id) {
                let jws = jws_of(case);
                assert_eq!(
                    Some(jws.as_str()),
                    valid_357.as_deref(),
                    "tcId {id} changed: revisit VECTOR_DEFECTS"
                );
                let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
                parts[*segment].push_str("==");
                let padded = parts.join(".");
                if let Ok(keys) = &keys {
                    assert!(
                        v.verify_signature(&padded, keys).is_err(),
                        "padded variant of tcId {id} accepted"
                    );
                }
                continue;
            }
            match (valid, &outcome, policy) {
                (true, Ok(()), None) | (false, Err(_), None) => {}
                (true, Err(_), Some(_)) => refused_by_policy += 1,
                _ => failures.push(format!(
                    "tcId {id} ({}) {}: got {outcome:?}",
                    case["comment"], case["result"]
                )),
            }
        }
        group_out["cases"] = Value::Array(cases_out);
        exported.push(group_out);
    }
    export_verdicts("wycheproof-jws", &json!({"groups": exported}));
    assert_eq!(ran, doc["numberOfTests"].as_u64().unwrap() as usize);
    assert_eq!(refused_by_policy, JWS_POLICY_REFUSALS.len());
    assert!(
        failures.is_empty(),
        "{} Wycheproof JWS cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn wycheproof_json_web_key() {
    let doc = load("json_web_key_test.json");
    let v = verifier();
    let mut failures = Vec::new();
    let mut ran = 0;
    let mut exported = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let key = group.get("public").unwrap_or(&group["private"]);
        let all_oct = key["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kty"] == "oct");
        for explicit in [false, true] {
            if explicit && !all_oct {
                continue;
            }
            let keys = configured_keys(key, explicit);
            let mut group_out = wasm_keys(key, explicit);
            group_out["cases"] = group["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|case| {
                    json!({"tcId": case["tcId"], "token": jws_of(case),
                           "verdict": exported_verdict(&keys, &v, &jws_of(case))})
                })
                .collect();
            exported.push(group_out);
        }
        for case in group["tests"].as_array().unwrap() {
            ran += 1;
            let id = case["tcId"].as_u64().unwrap();
            let valid = case["result"] == "valid";
            let token = jws_of(case);
            let check = |explicit: bool| match configured_keys(key, explicit) {
                Ok(keys) => v
                    .verify_signature(&token, &keys)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("key refused: {e}")),
            };
            // Path 1: the keys arrive as a JWK set document.
            let from_jwks = check(false);
            let policy = JWK_POLICY_REFUSALS_FROM_JWKS.iter().any(|(i, _)| *i == id);
            match (valid, &from_jwks, policy) {
                (true, Ok(()), false) | (false, Err(_), false) | (true, Err(_), true) => {}
                _ => failures.push(format!(
                    "tcId {id} ({}) from JWKS: got {from_jwks:?}",
                    case["comment"]
                )),
            }
            // Path 2: a purely symmetric set, configured explicitly as shared secrets.
            if all_oct {
                let explicit = check(true);
                if valid != explicit.is_ok() {
                    failures.push(format!(
                        "tcId {id} ({}) explicit secret: got {explicit:?}",
                        case["comment"]
                    ));
                }
            }
        }
    }
    assert_eq!(ran, doc["numberOfTests"].as_u64().unwrap() as usize);
    export_verdicts("wycheproof-jwk", &json!({"groups": exported}));
    assert!(
        failures.is_empty(),
        "{} Wycheproof JWK cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn wycheproof_bad_keys_are_skipped_with_a_reason() {
    use iam_core::jwks::SkipReason;
    let doc = load("json_web_key_test.json");
    let reason_of = |comment: &str| -> Vec<SkipReason> {
        let group = doc["testGroups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["comment"] == comment)
            .unwrap();
        let key = group.get("public").unwrap_or(&group["private"]);
        JwkSet::from_json(key.to_string().as_bytes())
            .unwrap()
            .skipped()
            .iter()
            .map(|s| s.reason.clone())
            .collect()
    };
    assert_eq!(reason_of("keysize_too_small"), [SkipReason::RsaKeyTooSmall]);
    assert_eq!(reason_of("exponentOne"), [SkipReason::RsaBadExponent]);
    assert_eq!(reason_of("jws_rsa_roca_key"), [SkipReason::RsaWeakModulus]);
    assert_eq!(reason_of("invalid_point"), [SkipReason::InvalidPublicKey]);
    assert_eq!(reason_of("wrong_curve"), [SkipReason::UnsupportedCurve]);
    assert_eq!(
        reason_of("wrong_algorithm"),
        [SkipReason::UnsupportedAlgorithm]
    );
    assert_eq!(
        reason_of("invalid_algorithm"),
        [SkipReason::UnsupportedAlgorithm]
    );
    assert_eq!(reason_of("invalid_use"), [SkipReason::NotForSignatures]);
}
