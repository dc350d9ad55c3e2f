//! JWT claims: the registered ones parsed strictly, everything else kept raw.
//!
//! `exp`, `nbf`, `iat` and `auth_time` are NumericDates: an integer or a finite number of
//! seconds between 0 and 253402300799 (9999-12-31). Anything else (a string, a boolean,
//! `1e300`, a negative number) is an error, never "no expiry". Fractions are rounded to the
//! safe side: `exp` down, `nbf` and `iat` up.
//!
//! Ory Hydra puts the claims a consent app adds under `ext` unless
//! `allowed_top_level_claims` lists them, so [`Claims::get_with_ext`] looks at the top level
//! first and then inside `ext`.
use serde_json::{Map, Value};
use std::sync::Arc;

/// The largest NumericDate accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// Why a claim was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimError {
    Missing(&'static str),
    Invalid(&'static str),
}

#[derive(Clone, Copy)]
pub(crate) enum Round {
    Down,
    Up,
}

/// Parse a NumericDate value (RFC 7519 section 2).
pub(crate) fn numeric_date(value: &Value, round: Round) -> Option<i64> {
    let Value::Number(n) = value else {
        return None;
    };
    let secs = if let Some(i) = n.as_i64() {
        i
    } else if n.is_u64() {
        return None;
    } else {
        let f = n.as_f64()?;
        if !f.is_finite() || f < 0.0 || f > MAX_NUMERIC_DATE as f64 {
            return None;
        }
        let r = match round {
            Round::Down => f.floor(),
            Round::Up => f.ceil(),
        };
        r as i64
    };
    (0..=MAX_NUMERIC_DATE).contains(&secs).then_some(secs)
}

/// The claims of a validated token.
#[derive(Debug, Clone)]
pub struct Claims {
    raw: Arc<Map<String, Value>>,
    iss: Option<String>,
    sub: Option<String>,
    aud: Vec<String>,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

fn opt_string(raw: &Map<String, Value>, name: &'static str) -> Result<Option<String>, ClaimError> {
    match raw.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ClaimError::Invalid(name)),
    }
}

fn opt_date(
    raw: &Map<String, Value>,
    name: &'static str,
    round: Round,
) -> Result<Option<i64>, ClaimError> {
    match raw.get(name) {
        None => Ok(None),
        Some(v) => numeric_date(v, round)
            .map(Some)
            .ok_or(ClaimError::Invalid(name)),
    }
}

impl Claims {
    /// Parse the registered claims of a payload; `exp` is required.
    pub(crate) fn from_map(raw: Map<String, Value>) -> Result<Self, ClaimError> {
        let exp = match raw.get("exp") {
            None => return Err(ClaimError::Missing("exp")),
            Some(v) => numeric_date(v, Round::Down).ok_or(ClaimError::Invalid("exp"))?,
        };
        let aud = match raw.get("aud") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(ClaimError::Invalid("aud"))?,
            Some(_) => return Err(ClaimError::Invalid("aud")),
        };
        Ok(Self {
            iss: opt_string(&raw, "iss")?,
            sub: opt_string(&raw, "sub")?,
            jti: opt_string(&raw, "jti")?,
            nbf: opt_date(&raw, "nbf", Round::Up)?,
            iat: opt_date(&raw, "iat", Round::Up)?,
            aud,
            exp,
            raw: Arc::new(raw),
        })
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.iss.as_deref()
    }
    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.sub.as_deref()
    }
    /// `aud`, as a list (a single string becomes a list of one).
    pub fn audience(&self) -> &[String] {
        &self.aud
    }
    /// `exp`, Unix seconds.
    pub fn expires_at(&self) -> i64 {
        self.exp
    }
    /// `nbf`, Unix seconds.
    pub fn not_before(&self) -> Option<i64> {
        self.nbf
    }
    /// `iat`, Unix seconds.
    pub fn issued_at(&self) -> Option<i64> {
        self.iat
    }
    /// `jti`.
    pub fn token_id(&self) -> Option<&str> {
        self.jti.as_deref()
    }
    /// A top-level claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.raw.get(name)
    }
    /// A claim at the top level, or else inside Hydra's `ext` object.
    pub fn get_with_ext(&self, name: &str) -> Option<&Value> {
        self.raw.get(name).or_else(|| {
            self.raw
                .get("ext")
                .and_then(Value::as_object)
                .and_then(|ext| ext.get(name))
        })
    }
    /// All claims as they were in the token.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }
    pub(crate) fn shared_raw(&self) -> Arc<Map<String, Value>> {
        Arc::clone(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_dates() {
        assert_eq!(numeric_date(&json!(10), Round::Down), Some(10));
        assert_eq!(numeric_date(&json!(10.7), Round::Down), Some(10));
        assert_eq!(numeric_date(&json!(10.2), Round::Up), Some(11));
        assert_eq!(numeric_date(&json!("10"), Round::Down), None);
        assert_eq!(numeric_date(&json!(true), Round::Down), None);
        assert_eq!(numeric_date(&json!(null), Round::Down), None);
        assert_eq!(numeric_date(&json!(-1), Round::Down), None);
        assert_eq!(numeric_date(&json!(u64::MAX), Round::Down), None);
        assert_eq!(numeric_date(&json!(i64::MAX), Round::Down), None);
        assert_eq!(numeric_date(&json!(1e300), Round::Down), None);
        assert_eq!(
            numeric_date(&json!(MAX_NUMERIC_DATE + 1), Round::Down),
            None
        );
    }

    #[test]
    fn ext_is_a_fallback() {
        let raw = json!({"exp": 1, "tenant": "top", "ext": {"tenant": "inner", "roles": ["a"]}});
        let c = Claims::from_map(raw.as_object().unwrap().clone()).unwrap();
        assert_eq!(c.get_with_ext("tenant"), Some(&json!("top")));
        assert_eq!(c.get_with_ext("roles"), Some(&json!(["a"])));
        assert_eq!(c.get("roles"), None);
    }

    #[test]
    fn audience_shapes() {
        let parse = |v: Value| Claims::from_map(v.as_object().unwrap().clone());
        assert_eq!(parse(json!({"exp":1,"aud":"a"})).unwrap().audience(), ["a"]);
        assert_eq!(
            parse(json!({"exp":1,"aud":["a","b"]})).unwrap().audience(),
            ["a", "b"]
        );
        assert_eq!(
            parse(json!({"exp":1,"aud":[]})).unwrap_err(),
            ClaimError::Invalid("aud")
        );
        assert_eq!(
            parse(json!({"exp":1,"aud":[1]})).unwrap_err(),
            ClaimError::Invalid("aud")
        );
        assert_eq!(
            parse(json!({"exp":1,"aud":{}})).unwrap_err(),
            ClaimError::Invalid("aud")
        );
        assert_eq!(parse(json!({})).unwrap_err(), ClaimError::Missing("exp"));
        assert_eq!(
            parse(json!({"exp":"1"})).unwrap_err(),
            ClaimError::Invalid("exp")
        );
        assert_eq!(
            parse(json!({"exp":1,"iss":5})).unwrap_err(),
            ClaimError::Invalid("iss")
        );
    }
}
