//! Access rules in Oathkeeper's format: parsing (JSON and YAML), matching, repositories.
//!
//! ```
//! use iam_proxy::rules::{MatchingStrategy, RuleSet};
//! let json = r#"[{"id": "orders", "match": {"url": "http://api.example/orders/<[0-9]+>", "methods": ["GET"]},
//!   "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
//!   "mutators": [{"handler": "noop"}]}]"#;
//! let set = RuleSet::compile(iam_proxy::rules::parse_rules(json, "inline.json").unwrap(), MatchingStrategy::Regexp).unwrap();
//! let found = set.find("GET", "http://api.example/orders/7").unwrap();
//! assert_eq!(found.rule.spec().id, "orders");
//! assert_eq!(found.captures, ["7"]);
//! assert!(set.find("GET", "http://api.example/orders/x").is_err()); // 404
//! ```
//!
//! # Caveats
//! - gRPC matches (`match.authority` + `match.full_method`) are refused at load.
//! - Unknown keys in a rule are ignored, as Oathkeeper does.
mod pattern;
mod repository;
mod set;

pub use pattern::CompiledPattern;
pub use repository::{ReloadReport, RuleRepository, RuleSource};
pub use set::{MatchError, MatchedRule, Overlap, Rule, RuleSet};

use crate::error::RuleError;
use serde::Deserialize;
use serde_json::Value;

/// How `match.url` is read: `regexp` (Oathkeeper's default) or `glob`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchingStrategy {
    /// `<…>` segments are regular expressions and capture groups.
    #[default]
    Regexp,
    /// `<…>` segments are globs with `.` and `/` as separators.
    Glob,
}

impl MatchingStrategy {
    /// Parse `regexp` or `glob` (Oathkeeper's `access_rules.matching_strategy`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "" | "regexp" => Some(Self::Regexp),
            "glob" => Some(Self::Glob),
            _ => None,
        }
    }
}

/// One pipeline step of a rule: a handler name and its rule-level config.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct HandlerSpec {
    /// `noop`, `jwt`, `header`, ...
    #[serde(default)]
    pub handler: String,
    /// Merged over the handler's global config.
    #[serde(default)]
    pub config: Option<Value>,
}

/// `match`: which requests a rule is for.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct MatchSpec {
    /// The URL pattern (`scheme://host/path` with `<…>` segments; no query).
    #[serde(default)]
    pub url: String,
    /// Methods, compared case-insensitively. An empty list matches nothing.
    #[serde(default)]
    pub methods: Vec<String>,
    /// gRPC authority: refused.
    #[serde(default)]
    pub authority: Option<String>,
    /// gRPC method: refused.
    #[serde(default)]
    pub full_method: Option<String>,
}

/// `upstream`: where an allowed request goes (the proxy port only).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct UpstreamSpec {
    /// Send the client's `Host` instead of the upstream's.
    #[serde(default)]
    pub preserve_host: bool,
    /// A path prefix removed before forwarding.
    #[serde(default)]
    pub strip_path: String,
    /// The upstream base URL.
    #[serde(default)]
    pub url: String,
}

/// One access rule as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct RuleSpec {
    /// Unique in a rule set.
    pub id: String,
    /// Oathkeeper's rule-format version (informative).
    #[serde(default)]
    pub version: String,
    /// Informative.
    #[serde(default)]
    pub description: String,
    /// Which requests.
    #[serde(rename = "match")]
    pub matcher: MatchSpec,
    /// Tried in order.
    #[serde(default)]
    pub authenticators: Vec<HandlerSpec>,
    /// One authorizer.
    #[serde(default)]
    pub authorizer: HandlerSpec,
    /// Applied in order.
    #[serde(default)]
    pub mutators: Vec<HandlerSpec>,
    /// Error handlers.
    #[serde(default)]
    pub errors: Vec<HandlerSpec>,
    /// Forwarding target.
    #[serde(default)]
    pub upstream: UpstreamSpec,
}

/// The largest rule file read (16 MiB): a bigger one is refused rather than read.
pub const MAX_RULE_FILE_BYTES: usize = 16 << 20;

/// Parse a rule file: JSON when `name` ends with `.json` or the text starts with `[` or `{`,
/// else YAML. A single rule object is accepted as a list of one.
pub fn parse_rules(text: &str, name: &str) -> Result<Vec<RuleSpec>, RuleError> {
    if text.len() > MAX_RULE_FILE_BYTES {
        return Err(RuleError::Parse {
            source_name: name.to_owned(),
            reason: format!("larger than {MAX_RULE_FILE_BYTES} bytes"),
        });
    }
    let parse_error = |reason: String| RuleError::Parse {
        source_name: name.to_owned(),
        reason,
    };
    let trimmed = text.trim_start();
    let value: Value = if name.ends_with(".json") || trimmed.starts_with(['[', '{']) {
        serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?
    } else if trimmed.is_empty() {
        Value::Array(Vec::new())
    } else {
        serde_yaml::from_str(text).map_err(|e| parse_error(e.to_string()))?
    };
    let value = match value {
        Value::Object(_) => Value::Array(vec![value]),
        Value::Null => Value::Array(Vec::new()),
        v => v,
    };
    let rules: Vec<RuleSpec> =
        serde_json::from_value(value).map_err(|e| parse_error(e.to_string()))?;
    for rule in &rules {
        if rule.matcher.authority.is_some() || rule.matcher.full_method.is_some() {
            return Err(RuleError::Unsupported {
                rule: rule.id.clone(),
                what: "gRPC matches (match.authority / match.full_method)".into(),
            });
        }
    }
    Ok(rules)
}
