//! The subset of Go's `text/template` that Oathkeeper rules use, parsed at load.
//!
//! Supported actions: a field path (`{{ .Subject }}`, `{{ .Extra.a.b }}`,
//! `{{ .MatchContext.Method }}`), `print` of one or more of them, `index` of a path with
//! string or integer keys (`{{ index .MatchContext.RegexpCaptureGroups 0 }}`), and
//! `{{ .MatchContext.Header.Get "X" }}` / `{{ .MatchContext.URL.Query.Get "x" }}`; `{{-` and
//! `-}}` trim spaces as in Go. Anything else (`if`, `range`, pipes, functions) is refused at
//! load with the action named.
//!
//! ```
//! use iam_proxy::pipeline::Template;
//! let t = Template::parse("user={{ print .Subject }} tenant={{ .Extra.tenant }}").unwrap();
//! let data = serde_json::json!({"Subject": "u1", "Extra": {"tenant": "acme"}});
//! assert_eq!(t.render(&data), "user=u1 tenant=acme");
//! assert!(Template::parse("{{ if .Subject }}x{{ end }}").is_err());
//! ```
//!
//! # Caveats
//! Values print as Go's `fmt` prints JSON-decoded values (`1e+06` for a million, `<no value>`
//! for a missing key outside `print`, `""` for a missing key or null inside it as
//! Oathkeeper's own `print` does, `map[a:1]` for an object) for strings, numbers, booleans and null;
//! objects and arrays follow Go's layout but key order is the JSON document's.
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Name(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// A path, printed bare.
    Field(Vec<Key>),
    /// `print` of paths (Go's `fmt.Sprint`: spaces only between non-string operands).
    Print(Vec<Vec<Key>>),
    /// `.Header.Get "x"` style lookups: the path to a map of lists, and the name.
    Get(Vec<Key>, String, bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action(Action),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A template action outside the supported subset, or a syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template action {action:?} is not supported: {reason}")]
pub struct TemplateError {
    action: String,
    reason: &'static str,
}

fn path(token: &str) -> Option<Vec<Key>> {
    let rest = token.strip_prefix('.')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.split('.')
        .map(|s| {
            (!s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .then(|| Key::Name(s.to_owned()))
        })
        .collect()
}

/// Split an action into tokens: bare words and double-quoted strings.
fn tokens(action: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::from("\"");
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => s.push(chars.next()?),
                    c => s.push(c),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    Some(out)
}

fn parse_action(action: &str) -> Result<Action, TemplateError> {
    let refuse = |reason| TemplateError {
        action: action.to_owned(),
        reason,
    };
    let toks = tokens(action).ok_or_else(|| refuse("unterminated string"))?;
    let paths =
        |toks: &[String]| -> Option<Vec<Vec<Key>>> { toks.iter().map(|t| path(t)).collect() };
    match toks.first().map(String::as_str) {
        None => Err(refuse("empty action")),
        Some("print") => Ok(Action::Print(
            paths(&toks[1..]).ok_or_else(|| refuse("print takes field paths only"))?,
        )),
        Some("index") => {
            let mut p = toks
                .get(1)
                .and_then(|t| path(t))
                .ok_or_else(|| refuse("index needs a field path"))?;
            if toks.len() < 3 {
                return Err(refuse("index needs a key"));
            }
            for k in &toks[2..] {
                if let Some(s) = k.strip_prefix('"') {
                    p.push(Key::Name(s.to_owned()));
                } else {
                    p.push(Key::Index(
                        k.parse()
                            .map_err(|_| refuse("index keys are strings or integers"))?,
                    ));
                }
            }
            Ok(Action::Field(p))
        }
        Some(t) if t.starts_with('.') => {
            let mut p = path(t).ok_or_else(|| refuse("not a field path"))?;
            match toks.len() {
                1 => Ok(Action::Field(p)),
                2 => {
                    let name = toks[1]
                        .strip_prefix('"')
                        .ok_or_else(|| refuse("Get takes a quoted name"))?;
                    if p.pop() != Some(Key::Name("Get".into())) {
                        return Err(refuse("only .Get \"name\" may take an argument"));
                    }
                    let header = matches!(p.last(), Some(Key::Name(n)) if n == "Header");
                    Ok(Action::Get(p, name.to_owned(), header))
                }
                _ => Err(refuse("functions and pipelines are not supported")),
            }
        }
        Some(_) => Err(refuse(
            "only field paths, print, index and .Get are supported",
        )),
    }
}

fn lookup<'v>(data: &'v Value, keys: &[Key]) -> Option<&'v Value> {
    keys.iter().try_fold(data, |v, k| match k {
        Key::Name(n) => v.get(n.as_str()),
        Key::Index(i) => v.get(*i),
    })
}

/// Go's `%v` of a JSON-decoded value.
pub(crate) fn go_format(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) => go_float(f),
            None => n.to_string(),
        },
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<_> = m.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            format!(
                "map[{}]",
                keys.iter()
                    .map(|(k, v)| format!("{k}:{}", go_format(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which `%v` uses.
fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let sci = format!("{f:e}"); // shortest digits: "1.5e6"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

impl Template {
    /// Parse a template; refuse what is outside the subset.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut trim_next = false;
        while let Some(start) = rest.find("{{") {
            let mut literal = &rest[..start];
            if trim_next {
                literal = literal.trim_start();
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or(TemplateError {
                action: rest[start..].chars().take(40).collect(),
                reason: "unclosed action",
            })?;
            let mut inner = &after[..end];
            if let Some(s) = inner.strip_prefix('-') {
                literal = literal.trim_end();
                inner = s;
            }
            trim_next = false;
            if let Some(s) = inner.strip_suffix('-') {
                trim_next = true;
                inner = s;
            }
            if !literal.is_empty() {
                parts.push(Part::Text(literal.to_owned()));
            }
            let inner = inner.trim();
            if !inner.starts_with("/*") {
                parts.push(Part::Action(parse_action(inner)?));
            }
            rest = &after[end + 2..];
        }
        let literal = if trim_next { rest.trim_start() } else { rest };
        if !literal.is_empty() {
            parts.push(Part::Text(literal.to_owned()));
        }
        Ok(Self { parts })
    }

    /// Render against `data` (the session as the template sees it).
    pub fn render(&self, data: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Action(Action::Field(p)) => match lookup(data, p) {
                    Some(v) => out.push_str(&go_format(v)),
                    None => out.push_str("<no value>"),
                },
                Part::Action(Action::Print(ps)) => {
                    let mut prev_string = true;
                    for (i, p) in ps.iter().enumerate() {
                        let v = lookup(data, p).unwrap_or(&Value::Null);
                        if v.is_null() {
                            // Oathkeeper's templates replace Go's `print` with one that
                            // prints nil (a missing key, under `missingkey=zero`) as "".
                            continue;
                        }
                        let is_string = v.is_string();
                        if i > 0 && !is_string && !prev_string {
                            out.push(' ');
                        }
                        out.push_str(&go_format(v));
                        prev_string = is_string;
                    }
                }
                Part::Action(Action::Get(p, name, header)) => {
                    let map = lookup(data, p).and_then(Value::as_object);
                    let found = map.and_then(|m| {
                        if *header {
                            m.iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                                .map(|(_, v)| v)
                        } else {
                            m.get(name)
                        }
                    });
                    if let Some(first) = found.and_then(|v| v.get(0)).and_then(Value::as_str) {
                        out.push_str(first);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_actions_oathkeeper_rules_use_render_as_go_does() {
        let data = json!({
            "Subject": "u1",
            "Extra": {"none": null, "n": 1000000, "f": 1.5, "i": 42, "b": true, "list": ["a", "b"], "o": {"k": "v"}},
            "MatchContext": {
                "RegexpCaptureGroups": ["c0", "c1"],
                "Header": {"X-Api": ["k1", "k2"]},
                "URL": {"Query": {"q": ["1"]}},
                "Method": "GET"
            }
        });
        for (t, want) in [
            ("{{ print .Subject }}", "u1"),
            ("{{.Subject}}", "u1"),
            ("{{ .Extra.missing }}", "<no value>"),
            ("{{ print .Extra.missing }}", ""),
            ("{{ print .Extra.none }}", ""),
            (
                "{{ print .Extra.n }}|{{ .Extra.f }}|{{ .Extra.i }}|{{ .Extra.b }}",
                "1e+06|1.5|42|true",
            ),
            ("{{ .Extra.list }} {{ .Extra.o }}", "[a b] map[k:v]"),
            ("{{ index .MatchContext.RegexpCaptureGroups 1 }}", "c1"),
            ("{{ index .Extra \"o\" \"k\" }}", "v"),
            ("{{ .MatchContext.Header.Get \"x-api\" }}", "k1"),
            ("{{ .MatchContext.URL.Query.Get \"q\" }}", "1"),
            ("a {{- .Subject -}} b", "au1b"),
            ("{{ print .Subject .Extra.i .Extra.b }}", "u142 true"),
        ] {
            assert_eq!(Template::parse(t).unwrap().render(&data), want, "{t}");
        }
    }

    #[test]
    fn actions_outside_the_subset_are_refused_at_load_with_the_action_named() {
        for t in [
            "{{ if .Subject }}x{{ end }}",
            "{{ range .Extra }}{{ end }}",
            "{{ .Subject | upper }}",
            "{{ printf \"%s\" .Subject }}",
            "{{ .Subject",
            "{{ }}",
        ] {
            let e = Template::parse(t).unwrap_err();
            assert!(!e.to_string().is_empty(), "{t}");
        }
    }
}
