//! Scope and permission matching.
//!
//! A granted scope matches a required one when they are equal, or when the granted scope
//! ends in a `*` segment (after `:` or `.`) and the required scope starts with everything
//! before the `*` and continues past it: `read:*` grants `read:users`, `admin:*` grants
//! `admin:billing:write`, `dc.*` grants `dc.read`. Never the other way round: `read:users`
//! does not grant `read:*`, and a lone `*` grants nothing but `*` itself.
//!
//! ```
//! use iam_core::scope::{scope_grants, ScopeSet};
//! assert!(scope_grants("read:*", "read:users"));
//! assert!(!scope_grants("read:users", "read:*"));
//! let granted = ScopeSet::from_space_separated("openid dc.* profile");
//! assert!(granted.grants("dc.read"));
//! assert!(!granted.grants("email"));
//! ```
use serde::Serialize;

/// True when the granted scope `granted` satisfies the required scope `required`.
pub fn scope_grants(granted: &str, required: &str) -> bool {
    if granted.is_empty() || required.is_empty() {
        return false;
    }
    if granted == required {
        return true;
    }
    let Some(prefix) = granted.strip_suffix('*') else {
        return false;
    };
    // The `*` must be a whole segment: `read:*` or `dc.*`, not `read*` or a lone `*`.
    if !(prefix.ends_with(':') || prefix.ends_with('.')) || prefix.len() < 2 {
        return false;
    }
    required.len() > prefix.len() && required.starts_with(prefix)
}

/// A set of granted scopes (or permissions), in the order they were given, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse an OAuth2 `scope` value: scopes separated by spaces.
    pub fn from_space_separated(value: &str) -> Self {
        value
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// True when any scope of the set grants `required` (see [`scope_grants`]).
    pub fn grants(&self, required: &str) -> bool {
        self.0.iter().any(|g| scope_grants(g, required))
    }

    /// True when every scope in `required` is granted.
    pub fn grants_all<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> bool {
        required.into_iter().all(|r| self.grants(r))
    }

    /// The scopes.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no scope.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes joined by spaces, as in an OAuth2 `scope` value.
    pub fn to_space_separated(&self) -> String {
        self.0.join(" ")
    }
}

impl FromIterator<String> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut out: Vec<String> = Vec::new();
        for s in iter {
            if !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
        Self(out)
    }
}

impl<'a> FromIterator<&'a str> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        iter.into_iter().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_rules() {
        let cases = [
            ("read:users", "read:users", true),
            ("read:*", "read:users", true),
            ("admin:*", "admin:billing", true),
            ("admin:*", "admin:billing:write", true),
            ("dc.*", "dc.read", true),
            ("read:*", "read:*", true),
            ("read:users", "read:*", false),
            ("read:*", "read:", false),
            ("read:*", "write:users", false),
            ("read:*", "readx:users", false),
            ("read*", "readers", false),
            ("*", "anything", false),
            ("*", "*", true),
            (":*", ":x", false),
            ("", "", false),
            ("read:users", "READ:USERS", false),
            ("dc.*", "dc:read", false),
        ];
        for (granted, required, expected) in cases {
            assert_eq!(
                scope_grants(granted, required),
                expected,
                "{granted} -> {required}"
            );
        }
    }

    #[test]
    fn sets_parse_and_dedupe() {
        let s = ScopeSet::from_space_separated("  a b  a c ");
        assert_eq!(s.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(s.grants_all(["a", "c"]));
        assert!(!s.grants_all(["a", "d"]));
        assert_eq!(s.to_space_separated(), "a b c");
    }
}
