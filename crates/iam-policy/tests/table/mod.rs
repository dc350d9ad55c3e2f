//! The policy table: one row per question, with the answer OPA gives (the reference).
//! The policy is `fixtures/bundle/authz.rego` (Rego) and `fixtures/rbac.json` (Rbac rules).
#![allow(dead_code, unreachable_pub)]
use iam_policy::{Decision, PolicyInput};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The decision time of every row.
pub const T: i64 = 1_767_225_600;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn rbac() -> iam_policy::Rbac {
    iam_policy::Rbac::from_file(fixtures().join("rbac.json")).unwrap()
}

pub fn rego() -> iam_policy::Rego {
    iam_policy::Rego::from_dir(fixtures().join("bundle"), "data.iam.authz.decision").unwrap()
}

/// The bundle's files, for OPA.
pub fn bundle_files() -> Vec<(String, String)> {
    ["authz.rego", "data.json"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(fixtures().join("bundle").join(f)).unwrap();
            (f.to_string(), text)
        })
        .collect()
}

pub struct Row {
    pub name: &'static str,
    pub input: PolicyInput,
    pub expected: Decision,
}

fn subject(id: &str, tenant: Option<&str>, roles: &[&str], aal: Option<&str>) -> Value {
    let mut s = json!({"id": id, "kind": "user_session", "roles": roles, "permissions": [], "scopes": [], "claims": {}});
    if let Some(t) = tenant {
        s["tenant"] = t.into();
    }
    if let Some(a) = aal {
        s["aal"] = a.into();
    }
    s
}

fn acme(id: &str, roles: &[&str], aal: &str) -> Value {
    subject(id, Some("acme"), roles, Some(aal))
}

fn doc(owner: Option<Value>) -> Value {
    let mut attributes = json!({});
    if let Some(o) = owner {
        attributes["owner"] = o;
    }
    json!({"type": "documents", "id": "d1", "tenant": "acme", "attributes": attributes})
}

fn owned_by(owner: &str) -> Value {
    doc(Some(owner.into()))
}

fn input(subject: Value, action: &str, resource: Value) -> PolicyInput {
    let method = match action.rsplit(':').next() {
        Some("read") => "GET",
        Some("create") => "POST",
        Some("edit") => "PUT",
        Some("delete") => "DELETE",
        _ => "POST",
    };
    serde_json::from_value(json!({
        "subject": subject,
        "action": action,
        "resource": resource,
        "context": {"method": method, "path": "/documents/d1", "ip": "10.0.0.7", "time": T},
    }))
    .unwrap()
}

fn allow() -> Decision {
    Decision::allow()
}

fn deny(reasons: &[&str]) -> Decision {
    Decision::deny(reasons.iter().copied())
}

fn audited() -> Decision {
    Decision::allow().with_obligation("audit", "support_access")
}

fn with_claims(mut s: Value, claims: Value) -> Value {
    s["claims"] = claims;
    s
}

fn with(mut s: Value, key: &str, value: Value) -> Value {
    s[key] = value;
    s
}

fn window(from: i64, until: i64) -> Value {
    json!({"support_window": {"not_before": from, "not_after": until}})
}

/// `{"n": {"n": ... "leaf"}}`, built without recursion (`json!` would serialize it again).
fn nested(depth: usize) -> Value {
    let mut v = Value::String("leaf".into());
    for _ in 0..depth {
        let mut m = serde_json::Map::new();
        m.insert("n".into(), v);
        v = Value::Object(m);
    }
    v
}

/// `input` with a deep value put in place after parsing (parsing it would recurse).
fn deep(mut input: PolicyInput, claim: bool, depth: usize) -> PolicyInput {
    if claim {
        input.subject.claims.insert("x".into(), nested(depth));
    } else {
        input
            .resource
            .attributes
            .insert("tree".into(), nested(depth));
    }
    input
}

/// A row with an attribute added to the resource.
fn attr(mut resource: Value, key: &str, value: Value) -> Value {
    resource["attributes"][key] = value;
    resource
}

pub fn rows() -> Vec<Row> {
    let alice = acme("alice", &["editor"], "aal1");
    let bob = acme("bob", &["editor"], "aal2");
    let carol = acme("carol", &["admin"], "aal2");
    let carol_aal1 = acme("carol", &["admin"], "aal1");
    let dave = acme("dave", &["viewer"], "aal1");
    let eve = subject("eve", Some("globex"), &["editor"], Some("aal2"));
    let mallory = subject("mallory", Some("globex"), &["admin"], Some("aal2"));
    let audrey = acme("audrey", &["auditor"], "aal1");
    let sam = with_claims(acme("sam", &["support"], "aal1"), window(T - 100, T + 100));
    let deleter = |aal: Option<&str>| {
        with(
            subject("del", Some("acme"), &[], aal),
            "permissions",
            json!(["documents:delete"]),
        )
    };
    let report = json!({"type": "reports", "id": "r1", "tenant": "acme", "attributes": {}});
    let held = attr(owned_by("alice"), "legal_hold", json!(true));

    let rows = vec![
        // RBAC with wildcards.
        (
            "a viewer reads a document",
            input(dave.clone(), "documents:read", owned_by("alice")),
            allow(),
        ),
        (
            "a viewer cannot edit",
            input(dave.clone(), "documents:edit", owned_by("alice")),
            deny(&["no_permission", "not_owner"]),
        ),
        (
            "a viewer cannot delete",
            input(dave.clone(), "documents:delete", owned_by("dave")),
            deny(&["assurance_too_low", "no_permission"]),
        ),
        (
            "an editor creates",
            input(alice.clone(), "documents:create", doc(None)),
            allow(),
        ),
        (
            "an editor cannot delete",
            input(bob.clone(), "documents:delete", owned_by("bob")),
            deny(&["no_permission"]),
        ),
        (
            "admin's documents:* grants delete",
            input(carol.clone(), "documents:delete", owned_by("alice")),
            allow(),
        ),
        (
            "admin's reports:* grants a report export",
            input(carol.clone(), "reports:export", report.clone()),
            allow(),
        ),
        (
            "an auditor reads a report",
            input(audrey.clone(), "reports:read", report.clone()),
            allow(),
        ),
        (
            "an auditor cannot write a report",
            input(audrey.clone(), "reports:write", report.clone()),
            deny(&["no_permission"]),
        ),
        (
            "a subject permission grants",
            input(
                with(
                    subject("p", Some("acme"), &[], None),
                    "permissions",
                    json!(["documents:read"]),
                ),
                "documents:read",
                doc(None),
            ),
            allow(),
        ),
        (
            "a scope wildcard grants create",
            input(
                with(
                    subject("c", Some("acme"), &[], None),
                    "scopes",
                    json!(["documents:*"]),
                ),
                "documents:create",
                doc(None),
            ),
            allow(),
        ),
        (
            "a wildcard does not cross its segment",
            input(
                with(
                    subject("p", Some("acme"), &[], None),
                    "permissions",
                    json!(["documents:*"]),
                ),
                "documentsx:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        (
            "a lone * grants nothing",
            input(
                with(
                    subject("p", Some("acme"), &[], None),
                    "permissions",
                    json!(["*"]),
                ),
                "documents:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        (
            "a * that is not a segment grants nothing",
            input(
                with(
                    subject("p", Some("acme"), &[], None),
                    "permissions",
                    json!(["documents:re*"]),
                ),
                "documents:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        (
            "documents:read does not grant documents:*",
            input(dave.clone(), "documents:*", doc(None)),
            deny(&["no_permission"]),
        ),
        (
            "a dotted wildcard grants",
            input(
                with(
                    subject("p", Some("acme"), &[], None),
                    "scopes",
                    json!(["documents.*"]),
                ),
                "documents.read",
                doc(None),
            ),
            allow(),
        ),
        (
            "an unknown role grants nothing",
            input(
                acme("x", &["superuser"], "aal2"),
                "documents:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        (
            "roles match exactly",
            input(
                acme("x", &["Admin", "admin "], "aal2"),
                "documents:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        (
            "no roles, no permissions",
            input(
                subject("n", Some("acme"), &[], None),
                "documents:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        // Tenant isolation.
        (
            "another tenant's editor cannot read",
            input(eve.clone(), "documents:read", owned_by("eve")),
            deny(&["tenant_mismatch"]),
        ),
        (
            "another tenant's admin cannot delete",
            input(mallory.clone(), "documents:delete", owned_by("mallory")),
            deny(&["tenant_mismatch"]),
        ),
        (
            "a subject without a tenant is refused",
            input(
                subject("t", None, &["viewer"], None),
                "documents:read",
                doc(None),
            ),
            deny(&["tenant_missing"]),
        ),
        (
            "a resource without a tenant is refused",
            input(
                dave.clone(),
                "documents:read",
                json!({"type": "documents", "attributes": {}}),
            ),
            deny(&["tenant_missing"]),
        ),
        (
            "two missing tenants do not match",
            input(
                subject("t", None, &["viewer"], None),
                "documents:read",
                json!({"type": "documents", "attributes": {}}),
            ),
            deny(&["tenant_missing"]),
        ),
        (
            "tenants compare case-sensitively",
            input(
                subject("t", Some("ACME"), &["viewer"], None),
                "documents:read",
                doc(None),
            ),
            deny(&["tenant_mismatch"]),
        ),
        (
            "a look-alike tenant is another tenant",
            input(
                subject("t", Some("\u{ff41}cme"), &["viewer"], None),
                "documents:read",
                doc(None),
            ),
            deny(&["tenant_mismatch"]),
        ),
        // Owner-only edit.
        (
            "the owner edits",
            input(alice.clone(), "documents:edit", owned_by("alice")),
            allow(),
        ),
        (
            "another editor cannot edit",
            input(bob.clone(), "documents:edit", owned_by("alice")),
            deny(&["not_owner"]),
        ),
        (
            "admin edits any document",
            input(carol.clone(), "documents:edit", owned_by("alice")),
            allow(),
        ),
        (
            "no owner attribute: nobody but admin edits",
            input(alice.clone(), "documents:edit", doc(None)),
            deny(&["owner_missing"]),
        ),
        (
            "a numeric owner is no owner",
            input(alice.clone(), "documents:edit", doc(Some(json!(1)))),
            deny(&["owner_missing"]),
        ),
        (
            "a null owner is no owner",
            input(alice.clone(), "documents:edit", doc(Some(Value::Null))),
            deny(&["owner_missing"]),
        ),
        (
            "an owner list is no owner",
            input(alice.clone(), "documents:edit", doc(Some(json!(["alice"])))),
            deny(&["owner_missing"]),
        ),
        (
            "owning a document does not grant deleting it",
            input(alice.clone(), "documents:delete", owned_by("alice")),
            deny(&["assurance_too_low", "no_permission"]),
        ),
        // Support role, time-boxed.
        (
            "support reads inside the window, audited",
            input(sam.clone(), "documents:read", owned_by("alice")),
            audited(),
        ),
        (
            "support cannot read before the window",
            input(
                with_claims(acme("sam", &["support"], "aal1"), window(T + 1, T + 100)),
                "documents:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        (
            "support cannot read at the window's end",
            input(
                with_claims(acme("sam", &["support"], "aal1"), window(T - 100, T)),
                "documents:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        (
            "support reads at the window's start",
            input(
                with_claims(acme("sam", &["support"], "aal1"), window(T, T + 1)),
                "documents:read",
                doc(None),
            ),
            audited(),
        ),
        (
            "support without a window reads nothing",
            input(
                acme("sam", &["support"], "aal1"),
                "documents:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        (
            "a window written as strings is closed",
            input(
                with_claims(
                    acme("sam", &["support"], "aal1"),
                    json!({"support_window": {"not_before": "0", "not_after": "9999999999"}}),
                ),
                "documents:read",
                doc(None),
            ),
            deny(&["no_permission"]),
        ),
        (
            "support cannot edit inside the window",
            input(sam.clone(), "documents:edit", owned_by("alice")),
            deny(&["no_permission", "not_owner"]),
        ),
        (
            "a viewer who is also support reads outside the window, not audited",
            input(
                acme("v", &["viewer", "support"], "aal1"),
                "documents:read",
                doc(None),
            ),
            allow(),
        ),
        // Delete needs aal2.
        (
            "delete with aal2",
            input(deleter(Some("aal2")), "documents:delete", doc(None)),
            allow(),
        ),
        (
            "delete with aal3",
            input(deleter(Some("aal3")), "documents:delete", doc(None)),
            allow(),
        ),
        (
            "delete with aal1",
            input(deleter(Some("aal1")), "documents:delete", doc(None)),
            deny(&["assurance_too_low"]),
        ),
        (
            "delete with no assurance level",
            input(deleter(None), "documents:delete", doc(None)),
            deny(&["assurance_too_low"]),
        ),
        (
            "admin deletes only with aal2",
            input(carol_aal1.clone(), "documents:delete", doc(None)),
            deny(&["assurance_too_low"]),
        ),
        // Deny overrides allow.
        (
            "a legal hold stops admin's edit",
            input(carol.clone(), "documents:edit", held.clone()),
            deny(&["legal_hold"]),
        ),
        (
            "a legal hold stops the owner's edit",
            input(alice.clone(), "documents:edit", held.clone()),
            deny(&["legal_hold"]),
        ),
        (
            "a legal hold stops delete",
            input(carol.clone(), "documents:delete", held.clone()),
            deny(&["legal_hold"]),
        ),
        (
            "a legal hold does not stop reading",
            input(dave.clone(), "documents:read", held.clone()),
            allow(),
        ),
        (
            "a legal hold written as a string is no hold",
            input(
                carol.clone(),
                "documents:edit",
                attr(owned_by("alice"), "legal_hold", json!("true")),
            ),
            allow(),
        ),
        (
            "a suspended admin reads nothing",
            input(
                acme("s", &["admin", "suspended"], "aal2"),
                "documents:read",
                doc(None),
            ),
            deny(&["subject_suspended"]),
        ),
        (
            "every deny reason at once",
            input(
                subject("s", Some("globex"), &["suspended"], None),
                "documents:delete",
                held.clone(),
            ),
            deny(&[
                "assurance_too_low",
                "legal_hold",
                "no_permission",
                "subject_suspended",
                "tenant_mismatch",
            ]),
        ),
        // Hostile input.
        (
            "a 1 MB attribute changes nothing",
            input(
                dave.clone(),
                "documents:read",
                attr(doc(None), "blob", json!("x".repeat(1024 * 1024))),
            ),
            allow(),
        ),
        (
            "a 3 MB attribute is refused before evaluation",
            input(
                carol.clone(),
                "documents:read",
                attr(doc(None), "blob", json!("x".repeat(3 * 1024 * 1024))),
            ),
            deny(&["input_too_large"]),
        ),
        (
            "an attribute nested 20 deep is evaluated",
            input(
                alice.clone(),
                "documents:edit",
                attr(owned_by("alice"), "tree", nested(20)),
            ),
            allow(),
        ),
        (
            "an attribute nested 1000 deep is refused",
            deep(
                input(carol.clone(), "documents:read", doc(None)),
                false,
                1000,
            ),
            deny(&["input_too_deep"]),
        ),
        (
            "a claim nested 1000 deep is refused",
            deep(
                input(carol.clone(), "documents:read", doc(None)),
                true,
                1000,
            ),
            deny(&["input_too_deep"]),
        ),
        (
            "an action that looks like Rego is just a string",
            input(dave.clone(), "documents:read\" || true", doc(None)),
            deny(&["no_permission"]),
        ),
        (
            "an empty action is granted by nothing",
            input(carol.clone(), "", doc(None)),
            deny(&["no_permission"]),
        ),
        (
            "an owner spoofed in the claims is not the owner",
            input(
                with_claims(bob.clone(), json!({"owner": "alice", "sub": "alice"})),
                "documents:edit",
                owned_by("alice"),
            ),
            deny(&["not_owner"]),
        ),
    ];
    rows.into_iter()
        .map(|(name, input, expected)| Row {
            name,
            input,
            expected,
        })
        .collect()
}
