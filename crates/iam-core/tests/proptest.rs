//! No input panics the parsers, and no mutation of a valid token is accepted.
mod common;

use common::*;
use iam_core::authn::RequestView;
use iam_core::jwks::JwkSet;
use iam_core::jwt::Validator;
use proptest::prelude::*;
use serde_json::json;
use std::sync::OnceLock;

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        Validator::builder(ISS)
            .audience(AUD)
            .clock(|| NOW)
            .cache_capacity(0)
            .build()
            .unwrap()
    })
}

fn set() -> &'static JwkSet {
    static S: OnceLock<JwkSet> = OnceLock::new();
    S.get_or_init(key_set)
}

fn good() -> &'static str {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| sign(&json!({"alg":"ES256","kid":"ec-1"}), &claims(), es256()))
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let names = prop_oneof![
        Just("alg".to_string()),
        Just("kid".to_string()),
        Just("typ".to_string()),
        Just("crit".to_string()),
        Just("kty".to_string()),
        Just("crv".to_string()),
        Just("x".to_string()),
        Just("y".to_string()),
        Just("n".to_string()),
        Just("e".to_string()),
        Just("use".to_string()),
        Just("key_ops".to_string()),
        Just("exp".to_string()),
        "[a-z]{1,4}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("RS256".to_string()),
            Just("none".to_string()),
            Just("EC".to_string()),
            Just("RSA".to_string()),
            Just("OKP".to_string()),
            Just("P-256".to_string()),
            Just("Ed25519".to_string()),
            Just("AQAB".to_string()),
            "[A-Za-z0-9_-]{0,90}",
            ".{0,10}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(names.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,400}") {
        let _ = validator().validate(&s, set());
        let _ = validator().verify_signature(&s, set());
        let _ = iam_core::jwt::unverified_kid(&s);
        let _ = iam_core::jwt::unverified_issuer(&s);
        let _ = JwkSet::from_json(s.as_bytes());
    }

    #[test]
    fn token_shaped_input_never_panics(h in "[A-Za-z0-9_=+/-]{0,80}", p in "[A-Za-z0-9_-]{0,200}", s in "[A-Za-z0-9_-]{0,120}") {
        let t = format!("{h}.{p}.{s}");
        prop_assert!(validator().validate(&t, set()).is_err());
    }

    #[test]
    fn json_headers_never_panic(header in json_value().prop_map(|v| v.to_string()), payload in ".{0,100}") {
        let t = sign_raw(&header, &payload, es256());
        let _ = validator().validate(&t, set());
    }

    #[test]
    fn mutated_tokens_are_refused(pos in 0usize..400, byte in any::<u8>(), delete in any::<bool>()) {
        let good = good();
        let mut bytes = good.as_bytes().to_vec();
        let pos = pos % bytes.len();
        if delete { bytes.remove(pos); } else { bytes[pos] = byte; }
        if let Ok(t) = String::from_utf8(bytes) {
            if t != good {
                prop_assert!(validator().validate(&t, set()).is_err(), "accepted a mutated token: {t}");
            }
        }
    }

    #[test]
    fn jwk_sets_never_panic(keys in proptest::collection::vec(json_value(), 0..8)) {
        let doc = json!({"keys": keys}).to_string();
        let _ = JwkSet::from_json(doc.as_bytes());
    }

    #[test]
    fn header_values_never_panic(v in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(value) = http::HeaderValue::from_bytes(&v) {
            let mut req = http::Request::new(());
            req.headers_mut().insert("authorization", value.clone());
            req.headers_mut().insert("cookie", value);
            let view = RequestView::from_request(&req);
            let _ = view.bearer_token();
            let _ = view.cookie("ory_kratos_session");
        }
    }
}
