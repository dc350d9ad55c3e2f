//! [`PolicyInput`]: the OPA-compatible document every decision point is asked about.
//!
//! ```json
//! {"subject":  {"id": "u1", "kind": "user_session", "tenant": "acme", "roles": ["editor"],
//!               "permissions": [], "scopes": [], "aal": "aal2", "claims": {}},
//!  "action":   "documents:edit",
//!  "resource": {"type": "documents", "id": "d1", "tenant": "acme", "attributes": {"owner": "u1"}},
//!  "context":  {"method": "PUT", "path": "/documents/d1", "ip": "10.0.0.7", "time": 1767225600}}
//! ```
//!
//! Its JSON Schema is `schema/policy-input.schema.json` in this crate ([`INPUT_SCHEMA`]); the
//! shape is stable across versions: fields may be added, never renamed or removed. An absent
//! optional value (`tenant`, `id`, `aal`, `ip`) is left out of the document, never `null`, so
//! a Rego rule such as `input.subject.tenant == input.resource.tenant` is undefined (not
//! true) when both are missing. `context.time` is Unix seconds.
//!
//! ```
//! use iam_core::principal::{Principal, PrincipalKind};
//! use iam_policy::{PolicyInput, Resource};
//! let alice = Principal::builder("alice", PrincipalKind::UserSession).tenant("acme").roles(["editor"]).build();
//! let input = PolicyInput::new(&alice, "documents:edit", Resource::new("documents").id("d1").tenant("acme"))
//!     .at(1_767_225_600);
//! assert_eq!(input.to_json()["subject"]["tenant"], "acme");
//! assert!(input.to_json()["resource"].get("attributes").unwrap().as_object().unwrap().is_empty());
//! ```
//!
//! ## Caveats
//! - `subject.claims` carries every claim of the principal to the policy (and, for
//!   [`OpaClient`](crate::OpaClient), over the network to OPA). Keep secrets out of claims; the
//!   decision log redacts the claims its config names.
//! - Free-form parts (claims, attributes) are bounded by [`InputLimits`]; every engine refuses
//!   an input past them with a deny (`input_too_large`, `input_too_deep`), before evaluating.
use iam_core::principal::Principal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// The JSON Schema (draft 2020-12) of the input document.
pub const INPUT_SCHEMA: &str = include_str!("../schema/policy-input.schema.json");

/// The input document. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PolicyInput {
    /// Who asks.
    pub subject: Subject,
    /// What they want to do, e.g. `documents:edit`.
    pub action: String,
    /// On what.
    pub resource: Resource,
    /// The request around it.
    #[serde(default)]
    pub context: RequestContext,
}

/// The principal, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Subject {
    /// The subject id (`sub`).
    pub id: String,
    /// The credential kind (`user_session`, `oauth2_token`, `client`, ...).
    pub kind: String,
    /// The tenant / organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Permissions (wildcards as in `iam_core::scope`).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// OAuth2 scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Assurance level: `aal1`, `aal2` or `aal3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aal: Option<String>,
    /// Every other claim of the principal.
    #[serde(default)]
    pub claims: Map<String, Value>,
}

impl Subject {
    /// The subject of a verified principal.
    pub fn from_principal(p: &Principal) -> Self {
        Self {
            id: p.subject().to_owned(),
            kind: p.kind().as_str().to_owned(),
            tenant: p.tenant().map(str::to_owned),
            roles: p.roles().to_vec(),
            permissions: p.permissions().iter().map(str::to_owned).collect(),
            scopes: p.scopes().iter().map(str::to_owned).collect(),
            aal: p.assurance_level().map(|l| l.as_str().to_owned()),
            claims: p.claims().clone(),
        }
    }
}

/// The resource acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Resource {
    /// Its type, e.g. `documents`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id, when it has one (not for a collection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tenant it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Anything else the policy looks at (`owner`, `legal_hold`, ...).
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// The action, when the guard's default (`TYPE:VERB` from the method) does not fit.
    #[serde(skip)]
    pub(crate) action: Option<String>,
}

impl Resource {
    /// A resource of type `kind` (e.g. `documents`).
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            id: None,
            tenant: None,
            attributes: Map::new(),
            action: None,
        }
    }
    /// Its id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// Its tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
    /// One attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }
    /// The action a route guard asks about, instead of `TYPE:VERB` from the method
    /// (`GET`/`HEAD`/`OPTIONS` read, `POST` create, `PUT`/`PATCH` edit, `DELETE` delete).
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }
}

/// The client address a trusted layer (socket peer, trusted proxy) put in the request
/// extensions; route guards copy it to `context.ip`. Never taken from a header here. The one
/// type iam-core's request view and the remote credential verifier read as well.
pub use iam_core::authn::ClientAddr;

/// The request around the decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestContext {
    /// The HTTP method.
    #[serde(default)]
    pub method: String,
    /// The request path.
    #[serde(default)]
    pub path: String,
    /// The client address, when known (from the socket or a trusted proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// When the request is decided, Unix seconds.
    #[serde(default)]
    pub time: i64,
}

impl RequestContext {
    /// A context for `method` and `path` at `time` (Unix seconds).
    pub fn new(method: impl Into<String>, path: impl Into<String>, time: i64) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            ip: None,
            time,
        }
    }
    /// The client address.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }
}

impl PolicyInput {
    /// The input for `principal` doing `action` on `resource`, with an empty context at time 0
    /// (set it with [`context`](Self::context) or [`at`](Self::at)).
    pub fn new(principal: &Principal, action: impl Into<String>, resource: Resource) -> Self {
        Self::from_subject(Subject::from_principal(principal), action, resource)
    }
    /// The input for an explicit subject.
    pub fn from_subject(subject: Subject, action: impl Into<String>, resource: Resource) -> Self {
        Self {
            subject,
            action: action.into(),
            resource,
            context: RequestContext::default(),
        }
    }
    /// The request context.
    pub fn context(mut self, context: RequestContext) -> Self {
        self.context = context;
        self
    }
    /// The decision time, Unix seconds.
    pub fn at(mut self, time: i64) -> Self {
        self.context.time = time;
        self
    }
    /// The document as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    /// The document as compact JSON text.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    /// SHA-256 of the JSON text: the decision cache key and the decision log's input id.
    /// Equal digests mean byte-equal documents.
    pub fn digest(&self) -> InputDigest {
        InputDigest::of_json(self.to_json_string().as_bytes())
    }
    /// `Err` with the deny reason when the input is past `limits` (checked without recursion,
    /// so a deeply nested attribute cannot exhaust the stack).
    pub fn check(&self, limits: &InputLimits) -> Result<(), InputRejection> {
        let mut bytes = self.action.len()
            + self.subject.id.len()
            + self.resource.kind.len()
            + self.context.path.len();
        for s in self
            .subject
            .roles
            .iter()
            .chain(&self.subject.permissions)
            .chain(&self.subject.scopes)
        {
            bytes += s.len() + 3;
        }
        let mut stack: Vec<(&Value, usize)> = Vec::new();
        for map in [&self.subject.claims, &self.resource.attributes] {
            for (k, v) in map {
                bytes += k.len() + 4;
                stack.push((v, 1));
            }
        }
        while let Some((value, depth)) = stack.pop() {
            if depth > limits.max_depth {
                return Err(InputRejection::TooDeep);
            }
            match value {
                Value::String(s) => bytes += s.len() + 2,
                Value::Array(a) => {
                    bytes += 2;
                    stack.extend(a.iter().map(|v| (v, depth + 1)));
                }
                Value::Object(o) => {
                    bytes += 2;
                    for (k, v) in o {
                        bytes += k.len() + 4;
                        stack.push((v, depth + 1));
                    }
                }
                _ => bytes += 8,
            }
            if bytes > limits.max_bytes {
                return Err(InputRejection::TooLarge);
            }
        }
        if bytes > limits.max_bytes {
            return Err(InputRejection::TooLarge);
        }
        Ok(())
    }
}

/// Bounds on an input document, checked by every engine before it evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Approximate size of the JSON document in bytes (default 2 MiB).
    pub max_bytes: usize,
    /// Nesting depth of a claim or attribute value; `{"a": 1}` has depth 1 (default 32).
    pub max_depth: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024,
            max_depth: 32,
        }
    }
}

/// Why an input was refused before evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputRejection {
    /// Past [`InputLimits::max_bytes`].
    #[error("input document too large")]
    TooLarge,
    /// Past [`InputLimits::max_depth`].
    #[error("input document nested too deeply")]
    TooDeep,
}

impl InputRejection {
    /// The deny reason: `input_too_large` or `input_too_deep`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::TooLarge => "input_too_large",
            Self::TooDeep => "input_too_deep",
        }
    }
}

/// SHA-256 of an input document's JSON text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InputDigest([u8; 32]);

impl InputDigest {
    /// The digest of JSON text.
    pub fn of_json(json: &[u8]) -> Self {
        Self(Sha256::digest(json).into())
    }
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Display for InputDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for InputDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InputDigest({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iam_core::principal::{AssuranceLevel, PrincipalKind};
    use serde_json::json;

    fn input() -> PolicyInput {
        let p = Principal::builder("u1", PrincipalKind::UserSession)
            .tenant("acme")
            .roles(["editor"])
            .assurance_level(AssuranceLevel::Aal2)
            .build();
        PolicyInput::new(
            &p,
            "documents:edit",
            Resource::new("documents").id("d1").attribute("owner", "u1"),
        )
        .context(RequestContext::new("PUT", "/documents/d1", 100).ip("10.0.0.7"))
    }

    #[test]
    fn absent_values_are_left_out_not_null() {
        let v = input().to_json();
        assert!(v["resource"].get("tenant").is_none());
        assert_eq!(v["subject"]["aal"], "aal2");
        assert_eq!(v["resource"]["type"], "documents");
        assert_eq!(v["context"]["ip"], "10.0.0.7");
    }

    #[test]
    fn the_document_reads_back_as_itself_and_nulls_read_as_absent() {
        let i = input();
        let back: PolicyInput = serde_json::from_value(i.to_json()).unwrap();
        assert_eq!(back, i);
        let mut v = i.to_json();
        v["resource"]["tenant"] = Value::Null;
        let nulled: PolicyInput = serde_json::from_value(v).unwrap();
        assert_eq!(nulled.resource.tenant, None);
    }

    #[test]
    fn equal_documents_have_equal_digests_and_one_byte_changes_it() {
        let a = input();
        assert_eq!(a.digest(), input().digest());
        let b = input().at(101);
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest().to_string().len(), 64);
    }

    #[test]
    fn a_deep_attribute_is_refused_without_recursion() {
        let mut deep = json!(1);
        for _ in 0..5_000 {
            deep = Value::Array(vec![deep]);
        }
        let mut i = input();
        i.resource.attributes.insert("deep".into(), deep);
        assert_eq!(
            i.check(&InputLimits::default()),
            Err(InputRejection::TooDeep)
        );
        // Dropping the 5,000-deep value is serde_json's recursion; take it apart here.
        let mut v = i.resource.attributes.remove("deep").unwrap();
        while let Value::Array(mut a) = v {
            v = a.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn a_large_attribute_is_refused_past_the_limit_only() {
        let mut i = input();
        i.resource
            .attributes
            .insert("blob".into(), "x".repeat(1024 * 1024).into());
        assert_eq!(i.check(&InputLimits::default()), Ok(()));
        let small = InputLimits {
            max_bytes: 64 * 1024,
            ..InputLimits::default()
        };
        assert_eq!(i.check(&small), Err(InputRejection::TooLarge));
        let mut many = input();
        many.subject.claims.insert(
            "list".into(),
            Value::Array(vec![json!("0123456789"); 10_000]),
        );
        assert_eq!(many.check(&small), Err(InputRejection::TooLarge));
    }
}
