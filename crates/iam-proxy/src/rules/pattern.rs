//! One rule's `match.url` compiled to an anchored regular expression.
//!
//! Oathkeeper writes patterns as literal text with `<…>` segments: with the `regexp` strategy
//! a segment is a regular expression (and a capture group), with `glob` it is a glob whose
//! separators are `.` and `/`. Text outside the segments is always literal.
//!
//! ```
//! use iam_proxy::rules::{CompiledPattern, MatchingStrategy};
//! let p = CompiledPattern::compile("http://api.example/<[0-9]+>/items", MatchingStrategy::Regexp).unwrap();
//! assert_eq!(p.captures("http://api.example/42/items").unwrap(), Some(vec!["42".to_owned()]));
//! assert_eq!(p.captures("http://api.example/x/items").unwrap(), None);
//! ```
//!
//! # Caveats
//! Oathkeeper compiles with Go's regexp2 (a .NET-style engine in RE2 mode). Patterns that the
//! `regex` crate accepts are compiled by it (linear time); patterns that need lookaround or
//! backreferences fall back to `fancy-regex`, whose backtracking is bounded: a pattern that
//! runs out of steps is an error (500), never a hang.
use super::MatchingStrategy;
use crate::error::RuleError;

/// The engine a pattern was compiled with.
#[derive(Debug, Clone)]
pub(crate) enum Engine {
    /// The `regex` crate: goes into the rule set's `RegexSet`.
    Linear(regex::Regex),
    /// `fancy-regex`, for lookaround and backreferences: tried one by one.
    Backtracking(fancy_regex::Regex),
}

/// A compiled `match.url`.
#[derive(Debug, Clone)]
pub struct CompiledPattern {
    source: String,
    regex: String,
    literal_prefix: String,
    is_literal: bool,
    strategy: MatchingStrategy,
    pub(crate) engine: Engine,
}

/// The `[start, end)` byte ranges of the top-level `<…>` segments of `s`.
fn segments(s: &str) -> Result<Vec<(usize, usize)>, &'static str> {
    let (mut level, mut start) = (0usize, 0usize);
    let mut out = Vec::new();
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'<' => {
                level += 1;
                if level == 1 {
                    start = i;
                }
            }
            b'>' => {
                if level == 0 {
                    return Err("unbalanced '>'");
                }
                level -= 1;
                if level == 0 {
                    out.push((start, i + 1));
                }
            }
            _ => {}
        }
    }
    if level != 0 {
        return Err("unbalanced '<'");
    }
    Ok(out)
}

/// A glob (gobwas syntax, separators `.` and `/`) as a regular expression.
fn glob_to_regex(glob: &str) -> Result<String, &'static str> {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut alternation_depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                out.push_str(".*");
                i += 1;
            }
            '*' => out.push_str("[^./]*"),
            '?' => out.push_str("[^./]"),
            '[' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or("unclosed '[' in glob")?
                    + i
                    + 1;
                let mut body: String = chars[i + 1..close].iter().collect();
                let negated = body.starts_with('!');
                if negated {
                    body.remove(0);
                }
                if body.is_empty() {
                    return Err("empty '[]' in glob");
                }
                out.push('[');
                if negated {
                    out.push('^');
                }
                for ch in body.chars() {
                    if ch == '-' {
                        out.push('-');
                    } else {
                        out.push_str(&regex::escape(&ch.to_string()));
                    }
                }
                out.push(']');
                i = close;
            }
            '{' => {
                alternation_depth += 1;
                out.push_str("(?:");
            }
            '}' if alternation_depth > 0 => {
                alternation_depth -= 1;
                out.push(')');
            }
            ',' if alternation_depth > 0 => out.push('|'),
            '\\' => {
                let next = chars.get(i + 1).ok_or("trailing '\\' in glob")?;
                out.push_str(&regex::escape(&next.to_string()));
                i += 1;
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    if alternation_depth != 0 {
        return Err("unclosed '{' in glob");
    }
    Ok(out)
}

impl CompiledPattern {
    /// Compile `pattern` with `strategy`.
    pub fn compile(pattern: &str, strategy: MatchingStrategy) -> Result<Self, RuleError> {
        let bad = |reason: String| RuleError::Pattern {
            pattern: pattern.to_owned(),
            reason,
        };
        let segs = segments(pattern).map_err(|r| bad(r.to_owned()))?;
        let mut regex = String::from("^");
        let mut end = 0;
        for &(s, e) in &segs {
            regex.push_str(&regex::escape(&pattern[end..s]));
            let inner = &pattern[s + 1..e - 1];
            match strategy {
                MatchingStrategy::Regexp => {
                    regex.push('(');
                    regex.push_str(inner);
                    regex.push(')');
                }
                MatchingStrategy::Glob => {
                    regex.push_str("(?:");
                    regex.push_str(&glob_to_regex(inner).map_err(|r| bad(r.to_owned()))?);
                    regex.push(')');
                }
            }
            end = e;
        }
        regex.push_str(&regex::escape(&pattern[end..]));
        regex.push('$');
        let literal_prefix = pattern[..segs.first().map_or(pattern.len(), |s| s.0)].to_owned();
        let engine = match regex::RegexBuilder::new(&regex).size_limit(1 << 20).build() {
            Ok(r) => Engine::Linear(r),
            Err(linear_error) => match fancy_regex::RegexBuilder::new(&regex)
                .backtrack_limit(100_000)
                .build()
            {
                Ok(r) => Engine::Backtracking(r),
                Err(_) => return Err(bad(linear_error.to_string())),
            },
        };
        Ok(Self {
            source: pattern.to_owned(),
            regex,
            literal_prefix,
            is_literal: segs.is_empty(),
            strategy,
            engine,
        })
    }

    /// The pattern as written in the rule.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The anchored regular expression it compiles to.
    pub fn regex(&self) -> &str {
        &self.regex
    }

    /// The literal text before the first `<…>` segment (the whole pattern when it has none).
    pub fn literal_prefix(&self) -> &str {
        &self.literal_prefix
    }

    /// True when the pattern has no `<…>` segment: it matches exactly one URL.
    pub fn is_literal(&self) -> bool {
        self.is_literal
    }

    /// True when the pattern needed the backtracking engine (lookaround, backreferences).
    pub fn needs_backtracking(&self) -> bool {
        matches!(self.engine, Engine::Backtracking(_))
    }

    /// Whether `url` matches; an error when the backtracking engine ran out of steps.
    pub fn is_match(&self, url: &str) -> Result<bool, RuleError> {
        match &self.engine {
            Engine::Linear(r) => Ok(r.is_match(url)),
            Engine::Backtracking(r) => r.is_match(url).map_err(|e| RuleError::Pattern {
                pattern: self.source.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// The capture groups of the `regexp` strategy (every group, in order; an unmatched
    /// group is empty), `None` when `url` does not match. The `glob` strategy has none.
    pub fn captures(&self, url: &str) -> Result<Option<Vec<String>>, RuleError> {
        if self.strategy == MatchingStrategy::Glob {
            return Ok(self.is_match(url)?.then(Vec::new));
        }
        let text = |m: Option<&str>| m.unwrap_or_default().to_owned();
        match &self.engine {
            Engine::Linear(r) => Ok(r.captures(url).map(|c| {
                c.iter()
                    .skip(1)
                    .map(|m| text(m.map(|m| m.as_str())))
                    .collect()
            })),
            Engine::Backtracking(r) => match r.captures(url) {
                Ok(c) => Ok(c.map(|c| {
                    c.iter()
                        .skip(1)
                        .map(|m| text(m.map(|m| m.as_str())))
                        .collect()
                })),
                Err(e) => Err(RuleError::Pattern {
                    pattern: self.source.clone(),
                    reason: e.to_string(),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> CompiledPattern {
        CompiledPattern::compile(p, MatchingStrategy::Regexp).unwrap()
    }
    fn glob(p: &str) -> CompiledPattern {
        CompiledPattern::compile(p, MatchingStrategy::Glob).unwrap()
    }

    #[test]
    fn text_outside_segments_is_literal_and_the_match_is_anchored() {
        let p = re("http://a.example/api");
        assert!(p.is_literal());
        assert!(p.is_match("http://a.example/api").unwrap());
        assert!(!p.is_match("http://aXexample/api").unwrap());
        assert!(!p.is_match("http://a.example/api/x").unwrap());
        assert!(!p.is_match("xhttp://a.example/api").unwrap());
    }

    #[test]
    fn regexp_segments_are_capture_groups_and_alternations() {
        let p = re("http://<127.0.0.1|localhost>:4455/<.*>");
        assert_eq!(
            p.captures("http://localhost:4455/a/b").unwrap(),
            Some(vec!["localhost".into(), "a/b".into()])
        );
        assert_eq!(p.literal_prefix(), "http://");
        assert!(!p.needs_backtracking());
    }

    #[test]
    fn lookaround_falls_back_to_the_backtracking_engine() {
        let p = re("http://a/<(?!admin).*>");
        assert!(p.needs_backtracking());
        assert!(p.is_match("http://a/users").unwrap());
        assert!(!p.is_match("http://a/admin/x").unwrap());
    }

    #[test]
    fn glob_segments_stop_at_dots_and_slashes_unless_doubled() {
        let p = glob("http://<*>.example/<**>");
        assert!(p.is_match("http://api.example/a/b.c").unwrap());
        assert!(!p.is_match("http://a.b.example/x").unwrap());
        let p = glob("myproxy.com/<m.n>");
        assert!(p.is_match("myproxy.com/m.n").unwrap());
        assert!(!p.is_match("myproxy.com/mxn").unwrap());
        let p = glob("http://h/<{a,b}*>/<[!x]>");
        assert!(p.is_match("http://h/bzz/y").unwrap());
        assert!(!p.is_match("http://h/czz/y").unwrap());
        assert!(!p.is_match("http://h/a/x").unwrap());
        assert_eq!(p.captures("http://h/a/y").unwrap(), Some(vec![]));
    }

    #[test]
    fn unbalanced_and_invalid_patterns_are_refused_with_the_pattern_named() {
        for p in ["http://a/<x", "http://a/x>", "http://a/<(>"] {
            let e = CompiledPattern::compile(p, MatchingStrategy::Regexp).unwrap_err();
            assert!(e.to_string().contains(p), "{e}");
        }
        assert!(CompiledPattern::compile("http://a/<{x>", MatchingStrategy::Glob).is_err());
    }
}
