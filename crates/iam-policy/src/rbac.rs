//! [`Rbac`]: roles → permissions plus the common attribute rules, in plain Rust.
//!
//! For teams that never write Rego. A role grants permissions (wildcards as in
//! `iam_core::scope`: `documents:*` grants `documents:edit`); the subject's own permissions
//! and scopes grant too. Then every [`Rule`] whose actions match may add a deny reason, and a
//! single reason denies: deny overrides allow.
//!
//! ```
//! use iam_core::principal::{AssuranceLevel, Principal, PrincipalKind};
//! use iam_policy::{PolicyInput, Rbac, Resource};
//! let rbac = Rbac::from_json(r#"{
//!     "roles": {"editor": ["documents:read", "documents:edit"], "admin": ["documents:*"]},
//!     "rules": [
//!         {"rule": "same_tenant"},
//!         {"rule": "owner", "actions": ["documents:edit"], "attribute": "owner", "unless_roles": ["admin"]},
//!         {"rule": "min_assurance", "actions": ["documents:delete"], "level": "aal2"}
//!     ]}"#).unwrap();
//! let bob = Principal::builder("bob", PrincipalKind::UserSession).tenant("acme").roles(["editor"]).build();
//! let doc = Resource::new("documents").id("d1").tenant("acme").attribute("owner", "alice");
//! let d = rbac.evaluate(&PolicyInput::new(&bob, "documents:edit", doc));
//! assert!(!d.allow);
//! assert_eq!(d.reasons, ["not_owner"]);
//! ```
//!
//! The reasons: `no_permission` (nothing grants the action), `tenant_missing`,
//! `tenant_mismatch`, `owner_missing`, `not_owner`, `assurance_too_low`, a
//! [`Rule::DenyAttribute`] or [`Rule::DenyRole`]'s own reason, and the input limits'
//! `input_too_large` / `input_too_deep`.
//!
//! ## Caveats
//! - A time-boxed role ([`Rule::TimeWindow`]) reads its window from a claim of the subject
//!   (`{"not_before": 1767225600, "not_after": 1767229200}`, Unix seconds, end excluded) and
//!   the time from `context.time`: whoever builds the input owns the clock.
//! - Roles match exactly (`admin` is not `Admin`); only permissions have wildcards.
use crate::decision::{BoxFuture, Decision, PolicyDecisionPoint, PolicyError};
use crate::input::{InputLimits, PolicyInput};
use crate::PolicyLoadError;
use iam_core::principal::AssuranceLevel;
use iam_core::scope::scope_grants;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

/// One attribute rule. Each may add a deny reason for the actions it matches (`actions`:
/// permission patterns with wildcards; none = every action).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Rule {
    /// Subject and resource must name the same tenant: `tenant_missing` when either has none,
    /// `tenant_mismatch` when they differ.
    SameTenant {
        /// The actions it applies to.
        #[serde(default)]
        actions: Vec<String>,
    },
    /// The subject must own the resource (`resource.attributes[attribute] == subject.id`):
    /// `owner_missing` / `not_owner`, unless the subject holds one of `unless_roles`.
    Owner {
        /// The actions it applies to.
        #[serde(default)]
        actions: Vec<String>,
        /// The attribute naming the owner.
        attribute: String,
        /// Roles exempt from the rule.
        #[serde(default)]
        unless_roles: Vec<String>,
    },
    /// The subject's assurance level must be at least `level`: `assurance_too_low`.
    MinAssurance {
        /// The actions it applies to.
        #[serde(default)]
        actions: Vec<String>,
        /// `aal1`, `aal2` or `aal3`.
        level: AssuranceName,
    },
    /// `roles` grant nothing outside the window in the subject's claim `claim`; `obligations`
    /// are added to an allow while such a role is in force.
    TimeWindow {
        /// The time-boxed roles.
        roles: Vec<String>,
        /// The claim holding `{"not_before": secs, "not_after": secs}`.
        claim: String,
        /// Obligations of an allow while the window is open.
        #[serde(default)]
        obligations: Map<String, Value>,
    },
    /// Deny with `reason` when `resource.attributes[attribute] == equals`.
    DenyAttribute {
        /// The actions it applies to.
        #[serde(default)]
        actions: Vec<String>,
        /// The attribute.
        attribute: String,
        /// The value that denies.
        equals: Value,
        /// The deny reason.
        reason: String,
    },
    /// Deny with `reason` when the subject holds `role`.
    DenyRole {
        /// The actions it applies to.
        #[serde(default)]
        actions: Vec<String>,
        /// The role.
        role: String,
        /// The deny reason.
        reason: String,
    },
}

/// An assurance level by name, as written in a rules file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssuranceName(pub AssuranceLevel);

impl<'de> Deserialize<'de> for AssuranceName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        AssuranceLevel::from_name(&name)
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("expected aal1, aal2 or aal3"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RbacFile {
    roles: HashMap<String, Vec<String>>,
    #[serde(default)]
    rules: Vec<Rule>,
}

/// Roles → permissions and attribute rules. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    roles: HashMap<String, Vec<String>>,
    rules: Vec<Rule>,
    limits: InputLimits,
    version: Option<String>,
}

fn matches(actions: &[String], action: &str) -> bool {
    actions.is_empty() || actions.iter().any(|a| scope_grants(a, action))
}

impl Rbac {
    /// No roles, no rules: denies everything (`no_permission`) until given some.
    pub fn new() -> Self {
        Self::default()
    }
    /// Read `{"roles": {"ROLE": ["PERMISSION", ...]}, "rules": [RULE, ...]}`.
    pub fn from_json(json: &str) -> Result<Self, PolicyLoadError> {
        let file: RbacFile =
            serde_json::from_str(json).map_err(|e| PolicyLoadError::Rbac(e.to_string()))?;
        let version = crate::input::InputDigest::of_json(json.as_bytes()).to_string();
        Ok(Self {
            roles: file.roles,
            rules: file.rules,
            limits: InputLimits::default(),
            version: Some(format!("rbac-{}", &version[..12])),
        })
    }
    /// Read the JSON of [`from_json`](Self::from_json) from a file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PolicyLoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyLoadError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        Self::from_json(&text)
    }
    /// Grant `role` these permissions (added to any it has).
    pub fn role<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        role: &str,
        permissions: I,
    ) -> Self {
        self.roles
            .entry(role.to_owned())
            .or_default()
            .extend(permissions.into_iter().map(Into::into));
        self
    }
    /// Add a rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }
    /// Input limits (default [`InputLimits::default`]).
    pub fn limits(mut self, limits: InputLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The decision, synchronously (what [`PolicyDecisionPoint::decide`] returns).
    pub fn evaluate(&self, input: &PolicyInput) -> Decision {
        if let Err(rejected) = input.check(&self.limits) {
            return Decision::deny([rejected.reason()]);
        }
        let subject = &input.subject;
        let action = input.action.as_str();
        let time = input.context.time;
        let mut obligations: Option<&Map<String, Value>> = None;
        let role_active = |role: &str| -> bool {
            self.rules.iter().all(|rule| match rule {
                Rule::TimeWindow { roles, claim, .. } if roles.iter().any(|r| r == role) => {
                    window_open(subject.claims.get(claim), time)
                }
                _ => true,
            })
        };
        let has_active_role =
            |role: &str| subject.roles.iter().any(|r| r == role) && role_active(role);
        let granted = subject.roles.iter().any(|role| {
            role_active(role)
                && self
                    .roles
                    .get(role)
                    .is_some_and(|perms| perms.iter().any(|p| scope_grants(p, action)))
        }) || subject.permissions.iter().any(|p| scope_grants(p, action))
            || subject.scopes.iter().any(|p| scope_grants(p, action));

        let mut reasons: Vec<String> = Vec::new();
        if !granted {
            reasons.push("no_permission".into());
        }
        for rule in &self.rules {
            match rule {
                Rule::SameTenant { actions } if matches(actions, action) => {
                    match (&subject.tenant, &input.resource.tenant) {
                        (Some(a), Some(b)) if a == b => {}
                        (Some(_), Some(_)) => reasons.push("tenant_mismatch".into()),
                        _ => reasons.push("tenant_missing".into()),
                    }
                }
                Rule::Owner {
                    actions,
                    attribute,
                    unless_roles,
                } if matches(actions, action)
                    && !unless_roles.iter().any(|r| has_active_role(r)) =>
                {
                    match input.resource.attributes.get(attribute) {
                        Some(Value::String(owner)) if *owner == subject.id => {}
                        Some(Value::String(_)) => reasons.push("not_owner".into()),
                        _ => reasons.push("owner_missing".into()),
                    }
                }
                Rule::MinAssurance { actions, level } if matches(actions, action) => {
                    let have = subject.aal.as_deref().and_then(AssuranceLevel::from_name);
                    if have.is_none_or(|have| have < level.0) {
                        reasons.push("assurance_too_low".into());
                    }
                }
                Rule::TimeWindow {
                    roles,
                    obligations: o,
                    ..
                } if !o.is_empty() && roles.iter().any(|r| has_active_role(r)) => {
                    obligations = Some(o);
                }
                Rule::DenyAttribute {
                    actions,
                    attribute,
                    equals,
                    reason,
                } if matches(actions, action)
                    && input.resource.attributes.get(attribute) == Some(equals) =>
                {
                    reasons.push(reason.clone());
                }
                Rule::DenyRole {
                    actions,
                    role,
                    reason,
                } if matches(actions, action) && subject.roles.iter().any(|r| r == role) => {
                    reasons.push(reason.clone());
                }
                _ => {}
            }
        }
        if !reasons.is_empty() {
            return Decision::deny(reasons);
        }
        let mut allow = Decision::allow();
        if let Some(o) = obligations {
            allow.obligations = o.clone();
        }
        allow
    }
}

/// True when `window` is `{"not_before": a, "not_after": b}` (integers) and `a <= time < b`.
fn window_open(window: Option<&Value>, time: i64) -> bool {
    let Some(Value::Object(w)) = window else {
        return false;
    };
    match (
        w.get("not_before").and_then(Value::as_i64),
        w.get("not_after").and_then(Value::as_i64),
    ) {
        (Some(from), Some(until)) => from <= time && time < until,
        _ => false,
    }
}

impl PolicyDecisionPoint for Rbac {
    fn decide<'a>(
        &'a self,
        input: &'a PolicyInput,
    ) -> BoxFuture<'a, Result<Decision, PolicyError>> {
        let decision = self.evaluate(input);
        Box::pin(std::future::ready(Ok(decision)))
    }
    fn policy_version(&self) -> Option<String> {
        self.version.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Resource, Subject};
    use serde_json::json;

    fn subject(roles: &[&str]) -> Subject {
        serde_json::from_value(
            json!({"id": "u1", "kind": "user_session", "tenant": "acme", "roles": roles}),
        )
        .unwrap()
    }

    #[test]
    fn wildcard_permissions_grant_and_an_unknown_role_grants_nothing() {
        let rbac = Rbac::new().role("admin", ["documents:*"]);
        let doc = Resource::new("documents");
        let allow = rbac.evaluate(&PolicyInput::from_subject(
            subject(&["admin"]),
            "documents:delete",
            doc.clone(),
        ));
        assert!(allow.allow);
        let deny = rbac.evaluate(&PolicyInput::from_subject(
            subject(&["ghost"]),
            "documents:read",
            doc,
        ));
        assert_eq!(deny, Decision::deny(["no_permission"]));
    }

    #[test]
    fn a_rules_file_with_an_unknown_rule_or_level_is_refused() {
        for bad in [
            r#"{"roles": {}, "rules": [{"rule": "owner_or_else"}]}"#,
            r#"{"roles": {}, "rules": [{"rule": "min_assurance", "level": "aal9"}]}"#,
            r#"{"roles": {"a": "documents:read"}}"#,
            r#"{"roles": {}, "extra": 1}"#,
        ] {
            assert!(
                matches!(Rbac::from_json(bad), Err(PolicyLoadError::Rbac(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_time_window_needs_integer_bounds_and_excludes_its_end() {
        assert!(window_open(
            Some(&json!({"not_before": 10, "not_after": 20})),
            10
        ));
        assert!(!window_open(
            Some(&json!({"not_before": 10, "not_after": 20})),
            20
        ));
        assert!(!window_open(
            Some(&json!({"not_before": "10", "not_after": 20})),
            15
        ));
        assert!(!window_open(Some(&json!([10, 20])), 15));
        assert!(!window_open(None, 15));
    }
}
