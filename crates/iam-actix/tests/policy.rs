//! `Require::policy`: the resource asks a policy decision point; 403 with the policy's
//! reasons, 503 when the decision point cannot decide, 401 without a principal.
use actix_web::{test, web, App};
use iam_actix::{IamMiddleware, Require};
use iam_core::authn::RequestView;
use iam_policy::{FailureMode, OpaClient, PolicyDecisionPoint, Rbac, Resource, Rule};
use iam_testkit::conformance::scenarios::{chain, token};
use serde_json::{json, Value};

/// `/documents/mine` is owned by the token's subject (`user-1`), any other id by someone else.
fn document(req: &RequestView<'_>) -> Resource {
    let id = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let owner = if id == "mine" {
        "user-1"
    } else {
        "someone-else"
    };
    Resource::new("documents")
        .id(id)
        .tenant("acme")
        .attribute("owner", owner)
}

fn rbac() -> Rbac {
    Rbac::new()
        .role("editor", ["documents:read", "documents:edit"])
        .rule(serde_json::from_value::<Rule>(json!({"rule": "same_tenant"})).unwrap())
        .rule(
            serde_json::from_value::<Rule>(
                json!({"rule": "owner", "actions": ["documents:edit"], "attribute": "owner"}),
            )
            .unwrap(),
        )
}

fn closed_opa() -> OpaClient {
    let url = format!("http://127.0.0.1:{}", iam_testkit::scratch::free_port());
    OpaClient::new(&url, "iam/authz/decision").unwrap()
}

async fn send(
    pdp: impl PolicyDecisionPoint + 'static,
    required: bool,
    path: &str,
    bearer: Option<String>,
) -> (u16, Value) {
    let gate = if required {
        IamMiddleware::required(chain(false))
    } else {
        IamMiddleware::optional(chain(false))
    };
    let app = test::init_service(
        App::new().wrap(gate).service(
            web::resource("/documents/{id}")
                .wrap(Require::policy(pdp, document))
                .put(|| async { "saved" }),
        ),
    )
    .await;
    let mut req = test::TestRequest::put().uri(path);
    if let Some(t) = bearer {
        req = req.append_header(("authorization", format!("Bearer {t}")));
    }
    let res = test::call_service(&app, req.to_request()).await;
    let status = res.status().as_u16();
    let body = test::read_body(res).await;
    (
        status,
        serde_json::from_slice(&body)
            .unwrap_or(Value::String(String::from_utf8_lossy(&body).into())),
    )
}

#[actix_web::test]
async fn the_owner_edits_and_another_document_is_403_with_the_policys_reasons() {
    let editor = token(json!({"roles": ["editor"]}));
    assert_eq!(
        send(rbac(), true, "/documents/mine", Some(editor.clone())).await,
        (200, Value::String("saved".into()))
    );
    let (status, body) = send(rbac(), true, "/documents/theirs", Some(editor)).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "forbidden");
    assert_eq!(body["reasons"], json!(["not_owner"]));
    let other_tenant = token(json!({"roles": ["editor"], "tenant": "globex"}));
    let (status, body) = send(rbac(), true, "/documents/mine", Some(other_tenant)).await;
    assert_eq!(
        (status, body["reasons"].clone()),
        (403, json!(["tenant_mismatch"]))
    );
}

#[actix_web::test]
async fn no_principal_is_401_before_the_policy_is_asked() {
    assert_eq!(send(rbac(), false, "/documents/mine", None).await.0, 401);
}

#[actix_web::test]
async fn an_unreachable_pdp_is_503_or_with_deny_mode_403_never_the_handler() {
    let editor = token(json!({"roles": ["editor"]}));
    let (status, body) = send(closed_opa(), true, "/documents/mine", Some(editor.clone())).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, body) = send(
        closed_opa().on_failure(FailureMode::Deny),
        true,
        "/documents/mine",
        Some(editor),
    )
    .await;
    assert_eq!(
        (status, body["reasons"].clone()),
        (403, json!(["pdp_unavailable"]))
    );
}
