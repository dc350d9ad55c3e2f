//! A compiled rule set: the prefix index, one `RegexSet` per prefix, and "exactly one rule".
use super::pattern::{CompiledPattern, Engine};
use super::{MatchingStrategy, RuleSpec};
use crate::error::RuleError;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    spec: RuleSpec,
    pattern: CompiledPattern,
    origin: String,
}

impl Rule {
    /// The rule as written.
    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }
    /// Its compiled `match.url`.
    pub fn pattern(&self) -> &CompiledPattern {
        &self.pattern
    }
    /// The file (or source) it came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// Whether the rule is for `method` (case-insensitive, as Oathkeeper).
    pub fn has_method(&self, method: &str) -> bool {
        self.spec
            .matcher
            .methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
    }
}

/// Two rules that both match some request: Oathkeeper answers 500 for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The first rule's id.
    pub first: String,
    /// The second rule's id.
    pub second: String,
    /// Why: the shared pattern or a URL both match.
    pub example: String,
}

/// Why no single rule was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatchError {
    /// No rule matches (404).
    #[error("requested url does not match any rules")]
    NoRule,
    /// More than one rule matches (500).
    #[error("expected exactly one rule but found {}: {}", .0.len(), .0.join(", "))]
    SeveralRules(Vec<String>),
    /// A backtracking pattern ran out of steps (500).
    #[error("rule matching failed: {0}")]
    Pattern(String),
}

impl MatchError {
    /// The HTTP status Oathkeeper answers with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::NoRule => http::StatusCode::NOT_FOUND,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The one rule a request matched, with its capture groups.
#[derive(Debug, Clone)]
pub struct MatchedRule {
    /// Its index in [`RuleSet::rules`].
    pub index: usize,
    /// The rule.
    pub rule: Arc<Rule>,
    /// The `regexp` strategy's capture groups (empty for `glob`).
    pub captures: Vec<String>,
}

/// Rules whose literal prefix ends at the same `/`: one `RegexSet` for the linear ones.
#[derive(Debug)]
struct Group {
    set: regex::RegexSet,
    linear: Vec<usize>,
    backtracking: Vec<usize>,
}

/// A compiled, immutable rule set.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Arc<Rule>>,
    strategy: MatchingStrategy,
    exact: HashMap<String, Vec<usize>>,
    groups: HashMap<String, Group>,
    overlaps: Vec<Overlap>,
}

/// The index key of a pattern: its literal prefix up to and including the last `/`.
fn group_key(prefix: &str) -> &str {
    prefix.rfind('/').map_or("", |i| &prefix[..=i])
}

impl RuleSet {
    /// An empty set (every request: 404).
    pub fn empty() -> Self {
        Self::compile(Vec::new(), MatchingStrategy::Regexp).expect("no rules compile")
    }

    /// Compile rules (each with its origin `"?"`).
    pub fn compile(specs: Vec<RuleSpec>, strategy: MatchingStrategy) -> Result<Self, RuleError> {
        Self::compile_from(specs.into_iter().map(|s| (s, "?".to_owned())), strategy)
    }

    /// Compile rules with the file each came from. Ids must be unique.
    pub fn compile_from(
        specs: impl IntoIterator<Item = (RuleSpec, String)>,
        strategy: MatchingStrategy,
    ) -> Result<Self, RuleError> {
        let mut rules = Vec::new();
        let mut ids = HashSet::new();
        for (spec, origin) in specs {
            if spec.id.is_empty() {
                return Err(RuleError::Invalid {
                    rule: format!("(rule without id in {origin})"),
                    reason: "`id` is empty".into(),
                });
            }
            if !ids.insert(spec.id.clone()) {
                return Err(RuleError::DuplicateId(spec.id.clone()));
            }
            let pattern = CompiledPattern::compile(&spec.matcher.url, strategy)?;
            rules.push(Arc::new(Rule {
                spec,
                pattern,
                origin,
            }));
        }
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut grouped: HashMap<String, (Vec<usize>, Vec<usize>)> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            if r.pattern.is_literal() {
                exact
                    .entry(r.pattern.source().to_owned())
                    .or_default()
                    .push(i);
                continue;
            }
            let entry = grouped
                .entry(group_key(r.pattern.literal_prefix()).to_owned())
                .or_default();
            match r.pattern.engine {
                Engine::Linear(_) => entry.0.push(i),
                Engine::Backtracking(_) => entry.1.push(i),
            }
        }
        let mut groups = HashMap::new();
        for (key, (linear, backtracking)) in grouped {
            let set = regex::RegexSetBuilder::new(linear.iter().map(|&i| rules[i].pattern.regex()))
                .size_limit(64 << 20)
                .build()
                .map_err(|e| RuleError::Pattern {
                    pattern: key.clone(),
                    reason: e.to_string(),
                })?;
            groups.insert(
                key,
                Group {
                    set,
                    linear,
                    backtracking,
                },
            );
        }
        let mut set = Self {
            rules,
            strategy,
            exact,
            groups,
            overlaps: Vec::new(),
        };
        set.overlaps = set.find_overlaps();
        Ok(set)
    }

    /// Pairs of rules that both match some request (see [`Overlap`]): rules with the same
    /// pattern and a shared method, and literal URLs that another rule's pattern matches.
    /// Overlaps between two patterns that are both non-literal and differ are not searched.
    fn find_overlaps(&self) -> Vec<Overlap> {
        let shares_method =
            |a: &Rule, b: &Rule| a.spec.matcher.methods.iter().any(|m| b.has_method(m));
        let mut out = Vec::new();
        let mut by_regex: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            by_regex.entry(r.pattern.regex()).or_default().push(i);
        }
        for same in by_regex.values() {
            for (n, &a) in same.iter().enumerate() {
                for &b in &same[n + 1..] {
                    if shares_method(&self.rules[a], &self.rules[b]) {
                        out.push(Overlap {
                            first: self.rules[a].spec.id.clone(),
                            second: self.rules[b].spec.id.clone(),
                            example: self.rules[a].pattern.source().to_owned(),
                        });
                    }
                }
            }
        }
        for (url, literal) in &self.exact {
            for &a in literal {
                for (b, other) in self.rules.iter().enumerate() {
                    if other.pattern.is_literal()
                        || !shares_method(&self.rules[a], other)
                        || !other.pattern.is_match(url).unwrap_or(false)
                    {
                        continue;
                    }
                    out.push(Overlap {
                        first: self.rules[a].spec.id.clone(),
                        second: self.rules[b].spec.id.clone(),
                        example: url.clone(),
                    });
                }
            }
        }
        out.sort_by(|x, y| (&x.first, &x.second).cmp(&(&y.first, &y.second)));
        out
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// The matching strategy the set was compiled with.
    pub fn strategy(&self) -> MatchingStrategy {
        self.strategy
    }

    /// Overlapping rules found at load.
    pub fn overlaps(&self) -> &[Overlap] {
        &self.overlaps
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The one rule for `method` and `url` (`scheme://host/path`, no query): none is
    /// [`MatchError::NoRule`], several is [`MatchError::SeveralRules`].
    pub fn find(&self, method: &str, url: &str) -> Result<MatchedRule, MatchError> {
        let mut found: Option<usize> = None;
        let mut several: Vec<usize> = Vec::new();
        let mut take = |i: usize| {
            if let Some(first) = found {
                if several.is_empty() {
                    several.push(first);
                }
                several.push(i);
            } else {
                found = Some(i);
            }
        };
        if let Some(hits) = self.exact.get(url) {
            for &i in hits {
                if self.rules[i].has_method(method) {
                    take(i);
                }
            }
        }
        // Every prefix of the URL that ends with '/', and the empty prefix.
        let keys = std::iter::once("").chain(
            url.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'/')
                .map(|(i, _)| &url[..=i]),
        );
        for key in keys {
            let Some(group) = self.groups.get(key) else {
                continue;
            };
            if !group.linear.is_empty() {
                for hit in group.set.matches(url).iter() {
                    let i = group.linear[hit];
                    if self.rules[i].has_method(method) {
                        take(i);
                    }
                }
            }
            for &i in &group.backtracking {
                let rule = &self.rules[i];
                if rule.has_method(method)
                    && rule
                        .pattern
                        .is_match(url)
                        .map_err(|e| MatchError::Pattern(e.to_string()))?
                {
                    take(i);
                }
            }
        }
        if !several.is_empty() {
            several.sort_unstable();
            return Err(MatchError::SeveralRules(
                several
                    .into_iter()
                    .map(|i| self.rules[i].spec.id.clone())
                    .collect(),
            ));
        }
        let index = found.ok_or(MatchError::NoRule)?;
        let rule = Arc::clone(&self.rules[index]);
        let captures = rule
            .pattern
            .captures(url)
            .map_err(|e| MatchError::Pattern(e.to_string()))?
            .unwrap_or_default();
        Ok(MatchedRule {
            index,
            rule,
            captures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rules;

    fn rule(id: &str, url: &str, methods: &[&str]) -> RuleSpec {
        let mut r = RuleSpec {
            id: id.into(),
            ..Default::default()
        };
        r.matcher.url = url.into();
        r.matcher.methods = methods.iter().map(|m| m.to_string()).collect();
        r
    }

    #[test]
    fn exactly_one_rule_matches_else_404_or_500() {
        let set = RuleSet::compile(
            vec![
                rule("a", "http://h/a/<.*>", &["GET"]),
                rule("b", "http://h/a/b", &["GET", "post"]),
                rule("c", "http://h/c/<[0-9]+>", &["GET"]),
            ],
            MatchingStrategy::Regexp,
        )
        .unwrap();
        assert_eq!(set.find("GET", "http://h/c/1").unwrap().rule.spec().id, "c");
        assert_eq!(
            set.find("POST", "http://h/a/b").unwrap().rule.spec().id,
            "b"
        );
        assert_eq!(set.find("get", "http://h/a/x").unwrap().rule.spec().id, "a");
        assert_eq!(
            set.find("GET", "http://h/a/b").unwrap_err(),
            MatchError::SeveralRules(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            set.find("DELETE", "http://h/c/1").unwrap_err(),
            MatchError::NoRule
        );
        assert_eq!(set.find("GET", "http://h/c/x").unwrap_err().status(), 404);
        assert_eq!(
            set.overlaps(),
            [Overlap {
                first: "b".into(),
                second: "a".into(),
                example: "http://h/a/b".into()
            }]
        );
    }

    #[test]
    fn patterns_with_a_variable_host_are_found_through_the_scheme_prefix() {
        let set = RuleSet::compile(
            vec![
                rule("any-host", "http://<[^/]+>/x", &["GET"]),
                rule("backtrack", "<https?>://h/<(?=y).*>", &["GET"]),
            ],
            MatchingStrategy::Regexp,
        )
        .unwrap();
        let m = set.find("GET", "http://other:8080/x").unwrap();
        assert_eq!(m.captures, ["other:8080"]);
        let m = set.find("GET", "https://h/yes").unwrap();
        assert_eq!(m.rule.spec().id, "backtrack");
        assert_eq!(m.captures, ["https", "yes"]);
    }

    #[test]
    fn duplicate_ids_and_empty_ids_are_refused() {
        let e = RuleSet::compile(
            vec![
                rule("a", "http://h/", &["GET"]),
                rule("a", "http://h/b", &["GET"]),
            ],
            MatchingStrategy::Regexp,
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"a\""), "{e}");
        assert!(
            RuleSet::compile(vec![rule("", "http://h/", &[])], MatchingStrategy::Glob).is_err()
        );
    }

    #[test]
    fn every_vendored_oathkeeper_rule_file_loads_unchanged() {
        let dir = iam_testkit::data::specs_dir().join("oathkeeper-v26.2.0-rules");
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let specs = parse_rules(&text, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!specs.is_empty(), "{name}");
            let strategy = if name.contains("glob") {
                MatchingStrategy::Glob
            } else {
                MatchingStrategy::Regexp
            };
            let set = RuleSet::compile(specs, strategy).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!set.is_empty());
            files += 1;
        }
        assert_eq!(files, 9);
    }

    #[test]
    fn the_yaml_and_json_stub_files_describe_the_same_first_rule() {
        let dir = iam_testkit::data::specs_dir().join("oathkeeper-v26.2.0-rules");
        let json = parse_rules(
            &std::fs::read_to_string(dir.join("test_stub_rules.json")).unwrap(),
            "test_stub_rules.json",
        )
        .unwrap();
        let yaml = parse_rules(
            &std::fs::read_to_string(dir.join("test_stub_rules.yaml")).unwrap(),
            "test_stub_rules.yaml",
        )
        .unwrap();
        let mut y = yaml[0].clone();
        y.id = json[0].id.clone();
        assert_eq!(y, json[0]);
    }
}
