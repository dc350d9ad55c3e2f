//! Route scopes: which scope a token needs for a method and path (deny by default).

/// One entry of a [`RouteScopes`] table.
#[derive(Debug, Clone)]
struct RouteScope {
    method: Option<http::Method>,
    segments: Vec<String>,
    rest: bool,
    scope: String,
}

/// A [`RouteScopes`] entry that cannot be used: refused when the table is built, so that a
/// typo never widens what a token may reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteScopeError {
    /// Not `*` and not one upper-case HTTP method (`GET,POST`, `get`, `GET POST`, ...).
    #[error("route scope method {0:?} is not `*` or one upper-case HTTP method")]
    Method(String),
    /// The pattern is not `/`-rooted, or has a segment that no request path can match
    /// unambiguously (empty, `.`, `..`, a percent sign, a backslash, `;`, a control
    /// character, a `*` inside a segment, `**` before the end).
    #[error("route scope pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The scope is empty or holds whitespace or control characters.
    #[error("route scope {0:?} is empty or holds whitespace")]
    Scope(String),
}

/// Which scope a token needs for a method and path. A path no entry lists cannot be reached
/// with a token at all (deny by default). Patterns: literal segments, `*` for exactly one
/// segment, a trailing `**` for any rest (`/orders/**` matches `/orders/1/items`). The first
/// matching entry wins.
///
/// Paths are matched segment by segment after percent-decoding each segment, which is what
/// routers that decode (actix-web) route on, so `/%61dmin` needs the scope of `/admin`.
/// Paths that routers or upstreams may read in more than one way match nothing (the token is
/// refused): empty, `.` or `..` segments in any encoding (`%2e%2e`, `.%2E`, ...), encoded
/// `/`, `\`, `%`, `+` or control characters (`%2f`, `%5c`, `%25`, `%2b`, `%00`), a
/// backslash, a `;` (path parameters), and malformed escapes.
///
/// ```
/// use iam_core::credential::RouteScopes;
/// use http::Method;
/// let routes = RouteScopes::new()
///     .route("GET", "/orders/**", "orders:read")?
///     .route("*", "/admin/**", "admin")?;
/// assert_eq!(routes.scope_for(&Method::GET, "/orders/1"), Some("orders:read"));
/// assert_eq!(routes.scope_for(&Method::GET, "/%61dmin/users"), Some("admin"));
/// assert_eq!(routes.scope_for(&Method::GET, "/orders/%2e%2e/admin"), None);
/// assert!(RouteScopes::new().route("GET,POST", "/orders", "orders:read").is_err());
/// # Ok::<(), iam_core::credential::RouteScopeError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RouteScopes {
    routes: Vec<RouteScope>,
}

impl RouteScopes {
    /// An empty table (every path denied).
    pub fn new() -> Self {
        Self::default()
    }
    /// `method` (`*` for any) on `pattern` needs `scope`. An entry that cannot be used
    /// exactly as written (see [`RouteScopeError`]) is an error, never "any method" or
    /// "any path".
    pub fn route(
        mut self,
        method: &str,
        pattern: &str,
        scope: &str,
    ) -> Result<Self, RouteScopeError> {
        let method = if method == "*" {
            None
        } else {
            let upper = !method.is_empty()
                && method
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
            match http::Method::from_bytes(method.as_bytes()) {
                Ok(m) if upper => Some(m),
                _ => return Err(RouteScopeError::Method(method.to_owned())),
            }
        };
        let bad = |reason| RouteScopeError::Pattern {
            pattern: pattern.to_owned(),
            reason,
        };
        let Some(body) = pattern.strip_prefix('/') else {
            return Err(bad("it must start with /"));
        };
        let mut segments: Vec<String> = body.split('/').map(str::to_owned).collect();
        let rest = segments.last().is_some_and(|s| s == "**");
        if rest {
            segments.pop();
        }
        let last = segments.len().saturating_sub(1);
        for (i, s) in segments.iter().enumerate() {
            // Only the last segment may be empty (`/` and `/orders/`).
            if s.is_empty() && (i != last || rest) {
                return Err(bad("empty segment"));
            }
            if s == "." || s == ".." {
                return Err(bad("dot segment"));
            }
            if s.bytes().any(|b| {
                matches!(b, b'%' | b'\\' | b';' | b'?' | b'#') || b.is_ascii_control() || b == b' '
            }) {
                return Err(bad(
                    "a segment holds %, \\, ;, ?, #, a space or a control character",
                ));
            }
            if s.contains('*') && s != "*" {
                return Err(bad("* must be a whole segment, and ** the last one"));
            }
        }
        if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RouteScopeError::Scope(scope.to_owned()));
        }
        self.routes.push(RouteScope {
            method,
            segments,
            rest,
            scope: scope.to_owned(),
        });
        Ok(self)
    }

    /// The scope `method path` needs, or `None` when no entry lists it or the path is
    /// ambiguous (see the type's documentation). `path` is the raw request path.
    pub fn scope_for(&self, method: &http::Method, path: &str) -> Option<&str> {
        let parts = decoded_segments(path)?;
        self.routes
            .iter()
            .find(|r| {
                r.method.as_ref().is_none_or(|m| m == method)
                    && if r.rest {
                        parts.len() >= r.segments.len()
                    } else {
                        parts.len() == r.segments.len()
                    }
                    && r.segments
                        .iter()
                        .zip(&parts)
                        .all(|(p, s)| p == "*" && !s.is_empty() || p.as_bytes() == s.as_slice())
            })
            .map(|r| r.scope.as_str())
    }
}

/// The percent-decoded segments of a raw path, or `None` when the path can be read in more
/// than one way.
fn decoded_segments(path: &str) -> Option<Vec<Vec<u8>>> {
    let body = path.strip_prefix('/')?;
    let raw: Vec<&str> = body.split('/').collect();
    let mut out = Vec::with_capacity(raw.len());
    for (i, seg) in raw.iter().enumerate() {
        let mut decoded = Vec::with_capacity(seg.len());
        let mut bytes = seg.bytes();
        while let Some(b) = bytes.next() {
            let b = match b {
                b'%' => {
                    let hex = |c: Option<u8>| char::from(c?).to_digit(16);
                    let (hi, lo) = (hex(bytes.next())?, hex(bytes.next())?);
                    let d = (hi * 16 + lo) as u8;
                    // What a decoding router leaves encoded, or a separator once decoded.
                    if matches!(d, b'/' | b'\\' | b'%' | b'+' | b';') {
                        return None;
                    }
                    d
                }
                b'\\' | b';' => return None,
                b => b,
            };
            if b.is_ascii_control() {
                return None;
            }
            decoded.push(b);
        }
        let dots = decoded == b"." || decoded == b"..";
        if dots || (decoded.is_empty() && i + 1 != raw.len()) {
            return None;
        }
        out.push(decoded);
    }
    Some(out)
}
