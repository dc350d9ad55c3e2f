//! The policy-guard table every framework adapter must answer identically (feature `policy`):
//! a route asks a policy decision point about its resource; 403 with the policy's reasons,
//! 503 when the decision point cannot decide, 401 without a principal, the handler's answer
//! otherwise. Tokens come from [`super::scenarios::token`] and are checked by
//! [`super::scenarios::chain`]`(false)`.
use super::scenarios::token;
use iam_core::authn::RequestView;
use iam_policy::{FailureMode, OpaClient, PolicyDecisionPoint, Rbac, Resource, Rule};
use serde_json::{json, Value};
use std::sync::Arc;

/// The route of the app under test: `PUT` on it answers `saved` when the policy allows.
pub const ROUTE: &str = "/documents/{id}";
/// What the handler answers when the policy allows.
pub const HANDLER_BODY: &str = "saved";

/// The resource of a request: `/documents/mine` is owned by the token's subject (`user-1`),
/// any other id by someone else; every document belongs to tenant `acme`.
pub fn document(req: &RequestView<'_>) -> Resource {
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

/// RBAC: role `editor` may read and edit documents of its own tenant it owns.
pub fn rbac() -> Rbac {
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

/// A real OPA client pointed at a loopback port nobody listens on.
pub fn unreachable_opa() -> OpaClient {
    let url = format!("http://127.0.0.1:{}", crate::scratch::free_port());
    OpaClient::new(&url, "iam/authz/decision").unwrap()
}

/// Which decision point a row asks.
#[derive(Clone, Copy, Debug)]
pub enum Pdp {
    /// [`rbac`].
    Rbac,
    /// [`unreachable_opa`] with its default failure mode (503).
    UnreachableOpa,
    /// [`unreachable_opa`] that denies when it cannot decide.
    UnreachableOpaDenying,
}

impl Pdp {
    /// The decision point itself.
    pub fn build(self) -> Arc<dyn PolicyDecisionPoint> {
        match self {
            Pdp::Rbac => Arc::new(rbac()),
            Pdp::UnreachableOpa => Arc::new(unreachable_opa()),
            Pdp::UnreachableOpaDenying => Arc::new(unreachable_opa().on_failure(FailureMode::Deny)),
        }
    }
}

/// One request through the authentication gate and the policy guard.
pub struct PolicyCase {
    /// What the row checks (named in failures).
    pub name: &'static str,
    /// The decision point the route asks.
    pub pdp: Pdp,
    /// The gate requires a principal (`required`) or lets anonymous requests on (`optional`).
    pub required: bool,
    /// The `PUT` request path.
    pub path: &'static str,
    /// The bearer token sent, if any.
    pub bearer: Option<String>,
    /// The expected status.
    pub status: u16,
    /// The expected JSON `error` code, when checked.
    pub error: Option<&'static str>,
    /// The expected JSON `reasons`, when checked.
    pub reasons: Option<Value>,
}

/// The table.
pub fn cases() -> Vec<PolicyCase> {
    let editor = || Some(token(json!({"roles": ["editor"]})));
    let case = |name, pdp, path, bearer, status, error, reasons| PolicyCase {
        name,
        pdp,
        required: true,
        path,
        bearer,
        status,
        error,
        reasons,
    };
    vec![
        case(
            "the owner edits",
            Pdp::Rbac,
            "/documents/mine",
            editor(),
            200,
            None,
            None,
        ),
        case(
            "another owner's document is 403 with the policy's reason",
            Pdp::Rbac,
            "/documents/theirs",
            editor(),
            403,
            Some("forbidden"),
            Some(json!(["not_owner"])),
        ),
        case(
            "another tenant is 403 with the policy's reason",
            Pdp::Rbac,
            "/documents/mine",
            Some(token(json!({"roles": ["editor"], "tenant": "globex"}))),
            403,
            Some("forbidden"),
            Some(json!(["tenant_mismatch"])),
        ),
        PolicyCase {
            required: false,
            ..case(
                "no principal is 401 before the policy is asked",
                Pdp::Rbac,
                "/documents/mine",
                None,
                401,
                None,
                None,
            )
        },
        case(
            "an unreachable decision point is 503, never the handler",
            Pdp::UnreachableOpa,
            "/documents/mine",
            editor(),
            503,
            Some("temporarily_unavailable"),
            None,
        ),
        case(
            "an unreachable decision point in deny mode is 403 naming why",
            Pdp::UnreachableOpaDenying,
            "/documents/mine",
            editor(),
            403,
            None,
            Some(json!(["pdp_unavailable"])),
        ),
    ]
}

/// Run every row of [`cases`] through `answer` (the adapter's status and body for the row) and
/// panic naming each row that differs.
pub async fn run_table<F, Fut>(mut answer: F)
where
    F: FnMut(PolicyCase) -> Fut,
    Fut: std::future::Future<Output = (PolicyCase, u16, Vec<u8>)>,
{
    let mut failures = Vec::new();
    for case in cases() {
        let (case, status, body) = answer(case).await;
        if let Err(e) = check(&case, status, &body) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Compare an adapter's answer with the row: `Err` says what differs.
pub fn check(case: &PolicyCase, status: u16, body: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    let fail = |what: String| Err(format!("{}: {what}; body: {text}", case.name));
    if status != case.status {
        return fail(format!("status {status}, expected {}", case.status));
    }
    if status == 200 {
        return if text == HANDLER_BODY {
            Ok(())
        } else {
            fail("not the handler's answer".into())
        };
    }
    if text.contains(HANDLER_BODY) {
        return fail("the handler ran".into());
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(error) = case.error {
        if json["error"] != error {
            return fail(format!("error code {}, expected {error}", json["error"]));
        }
    }
    if let Some(reasons) = &case.reasons {
        if &json["reasons"] != reasons {
            return fail(format!("reasons {}, expected {reasons}", json["reasons"]));
        }
    }
    Ok(())
}
