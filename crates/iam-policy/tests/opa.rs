//! OpaClient: fail closed when OPA is down, slow or answers garbage; the decision cache never
//! serves one input's decision for another.
mod table;

use iam_policy::{Decision, FailureMode, OpaClient, PolicyError, PolicyInput, Resource, Subject};
use iam_testkit::{LoopbackServer, Reply};
use proptest::prelude::*;
use serde_json::json;
use std::time::Duration;

fn input(id: &str) -> PolicyInput {
    let s: Subject = serde_json::from_value(
        json!({"id": id, "kind": "user_session", "tenant": "acme", "roles": ["viewer"]}),
    )
    .unwrap();
    PolicyInput::from_subject(
        s,
        "documents:read",
        Resource::new("documents").tenant("acme"),
    )
}

fn client(url: &str) -> OpaClient {
    OpaClient::new(url, "iam/authz/decision").unwrap()
}

#[tokio::test]
async fn opa_down_is_an_unavailable_error_or_with_deny_mode_a_deny_never_an_allow() {
    let url = format!("http://127.0.0.1:{}", iam_testkit::scratch::free_port());
    let err = client(&url).evaluate(&input("u1")).await.unwrap_err();
    assert!(matches!(err, PolicyError::Unavailable(_)), "{err}");
    let denied = client(&url)
        .on_failure(FailureMode::Deny)
        .evaluate(&input("u1"))
        .await
        .unwrap();
    assert_eq!(denied, Decision::deny(["pdp_unavailable"]));
}

#[tokio::test]
async fn a_slow_opa_fails_closed_at_the_timeout() {
    let server = LoopbackServer::start(|_| {
        Reply::json(200, &json!({"result": {"allow": true}})).delayed(Duration::from_secs(3))
    })
    .await;
    let opa = client(&server.url("")).timeout(Duration::from_millis(100));
    // The double would allow after 3 s: the error shows the timeout cut the call short.
    let err = opa.evaluate(&input("u1")).await.unwrap_err();
    assert!(matches!(err, PolicyError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn every_kind_of_garbage_answer_fails_closed_and_is_not_cached() {
    let garbage = [
        Reply::text(200, "<html>not json</html>"),
        Reply::json(200, &json!({})),
        Reply::json(200, &json!({"result": "allow"})),
        Reply::json(200, &json!({"result": {"allow": "true"}})),
        Reply::json(200, &json!({"result": {"reasons": []}})),
        Reply::json(
            200,
            &json!({"result": {"allow": true, "reasons": [{"x": 1}]}}),
        ),
        Reply::json(500, &json!({"code": "internal_error"})),
        Reply::json(404, &json!({"result": {"allow": true}})),
        Reply::status(302).header("location", "http://127.0.0.1:1/allow"),
        Reply::text(
            200,
            format!(
                "{{\"result\":{{\"allow\":true,\"pad\":\"{}\"}}}}",
                "x".repeat(200_000)
            ),
        ),
    ];
    for reply in garbage {
        let shown = String::from_utf8_lossy(&reply.body[..reply.body.len().min(60)]).into_owned();
        let status = reply.status;
        let server = LoopbackServer::start(move |_| reply.clone()).await;
        let opa = client(&server.url(""));
        let err = opa.evaluate(&input("u1")).await.unwrap_err();
        assert!(
            matches!(err, PolicyError::InvalidAnswer(_)),
            "{status} {shown}: {err}"
        );
        assert_eq!(opa.cached(), 0, "an error is never cached");
        let denied = client(&server.url(""))
            .on_failure(FailureMode::Deny)
            .evaluate(&input("u1"))
            .await
            .unwrap();
        assert!(!denied.allow, "{status} {shown}");
    }
}

#[tokio::test]
async fn the_client_posts_the_input_to_the_data_api_and_caches_by_input() {
    let server = LoopbackServer::start(|req| {
        let id = req.json()["input"]["subject"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Reply::json(
            200,
            &json!({"result": {"allow": id == "alice", "reasons": [id]}}),
        )
    })
    .await;
    let opa = client(&server.url(""));
    assert!(opa.evaluate(&input("alice")).await.unwrap().allow);
    assert!(opa.evaluate(&input("alice")).await.unwrap().allow);
    let bob = opa.evaluate(&input("bob")).await.unwrap();
    assert_eq!(bob, Decision::deny(["bob"]));
    assert_eq!(server.count(), 2, "the repeated input came from the cache");
    let req = &server.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path()),
        ("POST", "/v1/data/iam/authz/decision")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.json()["input"], input("alice").to_json());
    let uncached = client(&server.url("")).cache(10, Duration::ZERO);
    uncached.evaluate(&input("alice")).await.unwrap();
    uncached.evaluate(&input("alice")).await.unwrap();
    assert_eq!(server.count(), 4);
}

#[tokio::test]
#[ignore = "needs opa: scripts/test"]
async fn a_cached_decision_survives_opa_going_down_but_a_new_input_then_fails_closed() {
    let files = table::bundle_files();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let opa = iam_testkit::peers::opa::start(&files).await;
    let client = client(&opa.url).timeout(Duration::from_secs(2));
    let rows = table::rows();
    let allowed = rows.iter().find(|r| r.expected.allow).unwrap();
    let denied = rows.iter().find(|r| !r.expected.allow).unwrap();
    assert_eq!(
        client.evaluate(&allowed.input).await.unwrap(),
        allowed.expected
    );
    drop(opa);
    assert_eq!(
        client.evaluate(&allowed.input).await.unwrap(),
        allowed.expected
    );
    let err = client.evaluate(&denied.input).await.unwrap_err();
    assert!(matches!(err, PolicyError::Unavailable(_)), "{err}");
}

/// Inputs from small domains, so that a sequence repeats some and differs in one field.
fn small_input() -> impl Strategy<Value = PolicyInput> {
    (
        prop::sample::select(vec!["alice", "bob", "carol"]),
        prop::sample::select(vec![
            vec![],
            vec!["viewer"],
            vec!["editor"],
            vec!["admin"],
            vec!["support"],
        ]),
        prop::sample::select(vec!["documents:read", "documents:edit", "documents:delete"]),
        prop::sample::select(vec![None, Some("acme"), Some("globex")]),
        prop::sample::select(vec![None, Some("alice"), Some("bob")]),
        prop::sample::select(vec![None, Some("aal1"), Some("aal2")]),
        0i64..3,
    )
        .prop_map(|(id, roles, action, tenant, owner, aal, t)| {
            let mut s = json!({"id": id, "kind": "user_session", "tenant": "acme", "roles": roles,
                "claims": {"support_window": {"not_before": table::T, "not_after": table::T + 1}}});
            if let Some(a) = aal {
                s["aal"] = a.into();
            }
            let mut r = Resource::new("documents").id("d1");
            if let Some(t) = tenant {
                r = r.tenant(t);
            }
            if let Some(o) = owner {
                r = r.attribute("owner", o);
            }
            let s: Subject = serde_json::from_value(s).unwrap();
            PolicyInput::from_subject(s, action, r).at(table::T + t)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The double answers with the digest of the input it was sent: a decision served for
    /// another input would carry another digest.
    #[test]
    fn the_cache_never_serves_one_inputs_decision_for_another(inputs in prop::collection::vec(small_input(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let server = LoopbackServer::start(|req| {
                let digest = iam_policy::InputDigest::of_json(req.json()["input"].to_string().as_bytes());
                Reply::json(200, &json!({"result": {"allow": false, "reasons": [digest.to_string()]}}))
            }).await;
            let opa = client(&server.url("")).cache(8, Duration::from_secs(60));
            for input in &inputs {
                let d = opa.evaluate(input).await.unwrap();
                let expected = iam_policy::InputDigest::of_json(input.to_json().to_string().as_bytes());
                prop_assert_eq!(&d.reasons, &vec![expected.to_string()]);
            }
            Ok(())
        })?;
    }
}

#[test]
#[ignore = "needs opa: scripts/test"]
fn against_the_real_opa_a_cached_answer_is_always_the_answer_for_that_input() {
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
    let cached = client(&opa.url)
        .timeout(Duration::from_secs(5))
        .cache(16, Duration::from_secs(600));
    let rego = table::rego();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(&prop::collection::vec(small_input(), 1..40), |inputs| {
            for input in &inputs {
                let got = rt.block_on(cached.evaluate(input)).unwrap();
                prop_assert_eq!(got, rego.evaluate(input).unwrap());
            }
            Ok(())
        })
        .unwrap();
    assert!(cached.cached() > 0);
}
