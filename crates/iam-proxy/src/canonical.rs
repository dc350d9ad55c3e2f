//! The canonical request identity: the one reading of a request's URL that is used both to
//! match a rule and to forward the request, so that a rule and the upstream never disagree
//! about which resource was asked for.
//!
//! - Percent-encoding is decoded once, then dot segments (also `%2e%2e`) are resolved; a path
//!   that climbs above `/` is refused. Repeated slashes are merged.
//! - Ambiguous input is refused (400): encoded `/` or `\` (`%2F`, `%5C`), a raw `\`, `;`
//!   path parameters (`..;/` reaches the parent on Tomcat and Jetty), double encoding (`%252e`),
//!   NUL and other control characters, bytes that are not UTF-8 once decoded, malformed `%`.
//! - The host is lowercased and checked; the fragment is dropped; the query is forwarded as
//!   it came and never takes part in matching (as in Oathkeeper).
//! - The path forwarded upstream is the canonical path re-encoded, never the client's bytes.
//!
//! ```
//! use iam_proxy::canonical::{CanonicalRequest, CanonicalErrorKind};
//! let r = CanonicalRequest::new(&http::Method::GET, "http", "API.Example:8080", "/a/%2e%2e/b//c%20d?x=1").unwrap();
//! assert_eq!(r.match_url(), "http://api.example:8080/b/c d");
//! assert_eq!(r.forward_path_and_query(), "/b/c%20d?x=1");
//! let e = CanonicalRequest::new(&http::Method::GET, "http", "h", "/admin%2Fusers").unwrap_err();
//! assert_eq!(e.kind(), CanonicalErrorKind::EncodedSeparator);
//! assert_eq!(e.status(), 400);
//! ```
//!
//! # Caveats
//! The refusals are not configurable: a deployment whose upstream needs encoded slashes in
//! paths cannot use this proxy for those paths.
use http::Method;

/// Why a request URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CanonicalErrorKind {
    /// `%2F` or `%5C`: one upstream reads a separator, another does not.
    EncodedSeparator,
    /// A raw backslash (IIS and some frameworks read it as `/`).
    Backslash,
    /// `;` path parameters (`..;/`).
    PathParameter,
    /// `%25` followed by hex digits: decoded twice, it means something else.
    DoubleEncoding,
    /// NUL or another control character.
    ControlCharacter,
    /// Decoded bytes that are not UTF-8.
    InvalidUtf8,
    /// `%` not followed by two hex digits.
    MalformedEncoding,
    /// `..` above the root.
    AboveRoot,
    /// Not an origin-form path (`*`, empty, no leading `/`).
    NotAPath,
    /// A host with characters no host has, or none.
    InvalidHost,
    /// A scheme other than `http` or `https`.
    InvalidScheme,
    /// `X-Forwarded-*` or `Forwarded` from a trusted proxy that cannot be read as one value.
    AmbiguousForwarding,
}

/// A request URL refused by canonicalisation (always 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request refused: {}", describe(*.kind))]
pub struct CanonicalError {
    kind: CanonicalErrorKind,
}

fn describe(kind: CanonicalErrorKind) -> &'static str {
    use CanonicalErrorKind::*;
    match kind {
        EncodedSeparator => "encoded slash or backslash in the path",
        Backslash => "backslash in the path",
        PathParameter => "';' path parameter in the path",
        DoubleEncoding => "double percent-encoding in the path",
        ControlCharacter => "control character in the path",
        InvalidUtf8 => "the decoded path is not UTF-8",
        MalformedEncoding => "malformed percent-encoding in the path",
        AboveRoot => "the path climbs above the root",
        NotAPath => "not an absolute path",
        InvalidHost => "invalid host",
        InvalidScheme => "invalid scheme",
        AmbiguousForwarding => "ambiguous forwarding headers",
    }
}

impl CanonicalError {
    pub(crate) fn new(kind: CanonicalErrorKind) -> Self {
        Self { kind }
    }
    /// What was wrong.
    pub fn kind(&self) -> CanonicalErrorKind {
        self.kind
    }
    /// Always 400.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::BAD_REQUEST
    }
}

/// A request as the proxy reads it, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    method: Method,
    scheme: &'static str,
    host: String,
    path: String,
    forward_path: String,
    query: Option<String>,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode a raw path once, refusing what is ambiguous.
fn decode_path(raw: &str) -> Result<String, CanonicalError> {
    use CanonicalErrorKind::*;
    let err = |k| Err(CanonicalError::new(k));
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return err(MalformedEncoding);
                };
                let d = h << 4 | l;
                match d {
                    b'/' | b'\\' => return err(EncodedSeparator),
                    b';' => return err(PathParameter),
                    b'%' if bytes.get(i + 3).copied().and_then(hex).is_some()
                        && bytes.get(i + 4).copied().and_then(hex).is_some() =>
                    {
                        return err(DoubleEncoding)
                    }
                    0..=0x1f | 0x7f => return err(ControlCharacter),
                    _ => out.push(d),
                }
                i += 3;
            }
            b'\\' => return err(Backslash),
            b';' => return err(PathParameter),
            0..=0x1f | 0x7f => return err(ControlCharacter),
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| CanonicalError::new(InvalidUtf8))
}

/// Resolve `.` and `..`, merge repeated slashes; keep a trailing slash.
fn normalise(decoded: &str) -> Result<String, CanonicalError> {
    let mut stack: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in decoded.split('/').skip(1) {
        trailing = false;
        match seg {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                if stack.pop().is_none() {
                    return Err(CanonicalError::new(CanonicalErrorKind::AboveRoot));
                }
                trailing = true;
            }
            s => stack.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &stack {
        out.push('/');
        out.push_str(s);
    }
    if trailing || stack.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// A canonical path, percent-encoded for the request line: unreserved characters, sub-delims
/// other than `;`, `:`, `@` and `/` are kept; every other byte is encoded.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A host as matched: lowercase, and only characters a host or an address can hold.
pub(crate) fn canonical_host(host: &str) -> Result<String, CanonicalError> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']' | b'_')
        });
    if !ok {
        return Err(CanonicalError::new(CanonicalErrorKind::InvalidHost));
    }
    Ok(host.to_ascii_lowercase())
}

impl CanonicalRequest {
    /// Read a request: its method, the scheme and host it was addressed to (after
    /// [`crate::forwarded`]), and the request target (`/path?query`, fragment dropped).
    pub fn new(
        method: &Method,
        scheme: &str,
        host: &str,
        target: &str,
    ) -> Result<Self, CanonicalError> {
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return Err(CanonicalError::new(CanonicalErrorKind::InvalidScheme)),
        };
        let host = canonical_host(host)?;
        let target = target.split('#').next().unwrap_or_default();
        let (raw_path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        if !raw_path.starts_with('/') {
            return Err(CanonicalError::new(CanonicalErrorKind::NotAPath));
        }
        if query.is_some_and(|q| q.bytes().any(|b| b < 0x20 || b == 0x7f) || q.contains("%00")) {
            return Err(CanonicalError::new(CanonicalErrorKind::ControlCharacter));
        }
        let path = normalise(&decode_path(raw_path)?)?;
        let forward_path = encode_path(&path);
        Ok(Self {
            method: method.clone(),
            scheme,
            host,
            path,
            forward_path,
            query: query.filter(|q| !q.is_empty()).map(str::to_owned),
        })
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }
    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }
    /// The host (with port when one was given), lowercase.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The decoded, normalised path.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The raw query, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    /// What rules are matched against: `scheme://host/path`.
    pub fn match_url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.path)
    }
    /// The canonical path, encoded for a request line.
    pub fn forward_path(&self) -> &str {
        &self.forward_path
    }
    /// [`forward_path`](Self::forward_path) with the query.
    pub fn forward_path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.forward_path),
            None => self.forward_path.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CanonicalErrorKind::*;

    fn canon(target: &str) -> Result<CanonicalRequest, CanonicalErrorKind> {
        CanonicalRequest::new(&Method::GET, "http", "h", target).map_err(|e| e.kind())
    }

    #[test]
    fn path_normalisation_bypass_with_encoded_dot_segments_is_resolved_before_matching() {
        for (raw, path) in [
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2e/admin", "/admin"),
            ("/public/.%2e/admin", "/admin"),
            ("/./admin/.", "/admin/"),
            ("//admin///x", "/admin/x"),
            ("/", "/"),
            ("/a/..", "/"),
        ] {
            let r = canon(raw).unwrap();
            assert_eq!(r.path(), path, "{raw}");
            assert_eq!(r.forward_path(), path, "{raw}");
        }
    }

    #[test]
    fn encoded_slash_bypass_is_refused() {
        assert_eq!(canon("/admin%2fusers"), Err(EncodedSeparator));
        assert_eq!(canon("/admin%2F..%2Fx"), Err(EncodedSeparator));
        assert_eq!(canon("/a%5cb"), Err(EncodedSeparator));
        assert_eq!(canon("/a\\..\\admin"), Err(Backslash));
    }

    #[test]
    fn semicolon_path_parameter_bypass_is_refused() {
        assert_eq!(canon("/public/..;/admin"), Err(PathParameter));
        assert_eq!(canon("/admin;jsessionid=1"), Err(PathParameter));
        assert_eq!(canon("/admin%3bx"), Err(PathParameter));
    }

    #[test]
    fn nul_control_characters_and_invalid_utf8_are_refused() {
        assert_eq!(canon("/admin%00.json"), Err(ControlCharacter));
        assert_eq!(canon("/a%0d%0aX-Injected:1"), Err(ControlCharacter));
        assert_eq!(canon("/a?x=%00"), Err(ControlCharacter));
        assert_eq!(canon("/a%ff%fe"), Err(InvalidUtf8));
        assert_eq!(canon("/a%zz"), Err(MalformedEncoding));
        assert_eq!(canon("/a%2"), Err(MalformedEncoding));
        assert_eq!(canon("/a%252e%252e/x"), Err(DoubleEncoding));
        assert_eq!(canon("/../etc/passwd"), Err(AboveRoot));
        assert_eq!(canon("*"), Err(NotAPath));
    }

    #[test]
    fn host_is_case_folded_and_fragment_dropped() {
        let r =
            CanonicalRequest::new(&Method::GET, "HTTPS", "Api.EXAMPLE.com:443", "/x#frag").unwrap();
        assert_eq!(r.match_url(), "https://api.example.com:443/x");
        assert_eq!(r.forward_path_and_query(), "/x");
        for host in ["", "a b", "a/b", "a@b", "évil"] {
            assert_eq!(
                CanonicalRequest::new(&Method::GET, "http", host, "/")
                    .unwrap_err()
                    .kind(),
                InvalidHost,
                "{host:?}"
            );
        }
        assert_eq!(
            CanonicalRequest::new(&Method::GET, "ftp", "h", "/")
                .unwrap_err()
                .kind(),
            InvalidScheme
        );
    }

    #[test]
    fn the_forwarded_path_is_the_matched_path_re_encoded() {
        let r = canon("/caf%C3%A9/a%20b/%41?q=%2F").unwrap();
        assert_eq!(r.path(), "/café/a b/A");
        assert_eq!(r.forward_path_and_query(), "/caf%C3%A9/a%20b/A?q=%2F");
        // What is forwarded canonicalises to itself.
        assert_eq!(canon(r.forward_path()).unwrap().path(), r.path());
    }
}
