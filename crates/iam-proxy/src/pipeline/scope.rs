//! Oathkeeper's `scope_strategy` and `required_scope`.
use super::PipelineError;
use serde_json::Value;

/// How required scopes are compared with granted ones (Oathkeeper's `scope_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScopeStrategy {
    /// Equal strings.
    Exact,
    /// `foo` grants `foo.bar`.
    Hierarchic,
    /// `foo.*` grants `foo.bar`; `*` segments match one segment.
    Wildcard,
}

impl ScopeStrategy {
    /// `None` for `none` (and an empty value): no scope may then be required.
    pub(crate) fn parse(name: &str) -> Result<Option<Self>, String> {
        match name.to_ascii_lowercase().as_str() {
            "" | "none" => Ok(None),
            "exact" => Ok(Some(Self::Exact)),
            "hierarchic" => Ok(Some(Self::Hierarchic)),
            "wildcard" => Ok(Some(Self::Wildcard)),
            other => Err(format!("unknown scope_strategy {other:?}")),
        }
    }

    pub(crate) fn grants(self, granted: &str, required: &str) -> bool {
        match self {
            Self::Exact => granted == required,
            Self::Hierarchic => {
                granted == required
                    || required
                        .strip_prefix(granted)
                        .is_some_and(|rest| rest.starts_with('.'))
            }
            Self::Wildcard => {
                let g: Vec<&str> = granted.split('.').collect();
                let r: Vec<&str> = required.split('.').collect();
                if g.len() > r.len() {
                    return false;
                }
                for (i, gs) in g.iter().enumerate() {
                    if *gs == "*" {
                        if i == g.len() - 1 {
                            return true;
                        }
                        continue;
                    }
                    if *gs != r[i] {
                        return false;
                    }
                }
                g.len() == r.len()
            }
        }
    }
}

/// `required_scope` under a strategy; refused at load when scopes are required with `none`.
#[derive(Debug, Clone)]
pub(crate) struct ScopeCheck {
    required: Vec<String>,
    strategy: Option<ScopeStrategy>,
}

impl ScopeCheck {
    pub(crate) fn compile(config: &Value, default: &str) -> Result<Self, String> {
        let required = strings(config.get("required_scope"));
        let name = config
            .get("scope_strategy")
            .and_then(Value::as_str)
            .unwrap_or(default);
        let strategy = ScopeStrategy::parse(name)?;
        if !required.is_empty() && strategy.is_none() {
            return Err("required_scope needs a scope_strategy other than none".into());
        }
        Ok(Self { required, strategy })
    }

    pub(crate) fn check(&self, granted: &[String]) -> Result<(), PipelineError> {
        let Some(strategy) = self.strategy else {
            return Ok(());
        };
        for r in &self.required {
            if !granted.iter().any(|g| strategy.grants(g, r)) {
                return Err(PipelineError::unauthorized());
            }
        }
        Ok(())
    }
}

pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_strategies_grant_as_oathkeeper_documents() {
        use ScopeStrategy::*;
        assert!(Exact.grants("a.b", "a.b") && !Exact.grants("a", "a.b"));
        assert!(
            Hierarchic.grants("a", "a.b")
                && !Hierarchic.grants("a", "ab")
                && !Hierarchic.grants("a.b", "a")
        );
        assert!(Wildcard.grants("a.*", "a.b.c") && Wildcard.grants("a.*.c", "a.b.c"));
        assert!(!Wildcard.grants("a.*.c", "a.b.d") && !Wildcard.grants("a.b", "a"));
        assert!(ScopeStrategy::parse("bogus").is_err());
        let check = ScopeCheck::compile(&serde_json::json!({"required_scope": ["x"]}), "none");
        assert!(
            check.is_err(),
            "required scopes with strategy none are refused"
        );
    }
}
