//! The protected header of a JWS and the `typ` policy applied to it.
use super::{jws, Algorithm, JwtErrorKind};
use serde_json::{Map, Value};

/// The protected header of a verified JWS.
#[derive(Debug, Clone)]
pub struct JwsHeader {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
    raw: Map<String, Value>,
}

impl JwsHeader {
    pub(super) fn from_map(raw: Map<String, Value>) -> Result<Self, JwtErrorKind> {
        let alg = match raw.get("alg") {
            Some(Value::String(a)) => Algorithm::parse_header(a)?,
            Some(_) => return Err(JwtErrorKind::Malformed("alg is not a string")),
            None => return Err(JwtErrorKind::Malformed("missing alg")),
        };
        for name in raw.keys() {
            if let Some(refused) = jws::refused_header(name) {
                return Err(JwtErrorKind::UnsupportedHeader(refused));
            }
        }
        let kid = match raw.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(JwtErrorKind::Malformed("kid is not a string")),
        };
        let typ = match raw.get("typ") {
            None => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(_) => return Err(JwtErrorKind::Malformed("typ is not a string")),
        };
        match raw.get("cty") {
            None => {}
            Some(Value::String(c)) if !c.eq_ignore_ascii_case("JWT") => {}
            Some(Value::String(_)) => return Err(JwtErrorKind::UnsupportedHeader("cty")),
            Some(_) => return Err(JwtErrorKind::Malformed("cty is not a string")),
        }
        Ok(Self { alg, kid, typ, raw })
    }

    /// `alg`.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
    /// `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// `typ`.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }
    /// Every header parameter as sent.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }
}

/// A JWS that verified, before any claim check: its header and payload bytes.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    /// The protected header.
    pub header: JwsHeader,
    /// The payload, decoded from base64url.
    pub payload: Vec<u8>,
}

/// Which `typ` header values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenType {
    /// Absent, `JWT`, `at+jwt` or `application/at+jwt`; anything else (`logout+jwt`,
    /// `dpop+jwt`, ...) is refused. The default.
    #[default]
    Jwt,
    /// RFC 9068 access tokens only: `at+jwt` or `application/at+jwt`.
    AccessToken,
    /// OIDC Back-Channel Logout tokens: `logout+jwt`, `application/logout+jwt`, or absent.
    LogoutToken,
}

impl TokenType {
    pub(super) fn accepts(self, typ: Option<&str>) -> bool {
        let is_at = |t: &str| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        };
        match (self, typ) {
            (Self::Jwt, None) => true,
            (Self::Jwt, Some(t)) => t.eq_ignore_ascii_case("JWT") || is_at(t),
            (Self::AccessToken, Some(t)) => is_at(t),
            (Self::AccessToken, None) => false,
            (Self::LogoutToken, None) => true,
            (Self::LogoutToken, Some(t)) => {
                t.eq_ignore_ascii_case("logout+jwt")
                    || t.eq_ignore_ascii_case("application/logout+jwt")
            }
        }
    }
}
