//! Personal access tokens, API keys and service tokens: the format, the storage form and
//! the rules, with no I/O.
//!
//! ```text
//! pat_ 3fK9xQ2m Zb81LqP0vW7yTn4RcE5uHs6AjD9kGf2 1aB9cD
//! └┬─┘ └──┬───┘ └──────────────┬──────────────┘ └──┬─┘
//! kind lookup id (8, not secret)  secret (28 = 166 bits)  CRC32 of lookup id + secret (6)
//! ```
//!
//! Every part is base62 (`0-9A-Za-z`), so a token is one "word" for editors and shells, and
//! secret scanners can match `(pat|key|svc)_[0-9A-Za-z]{42}` and check the checksum offline.
//! [`parse`] refuses anything else (wrong prefix or case, separators, whitespace, a wrong
//! length, a bad checksum, a JWT) before any storage is touched.
//!
//! Stored: the lookup id (the index), and HMAC-SHA-256 of the whole token under a server-side
//! pepper with the pepper's version ([`Peppers`]); never the token. Verification compares in
//! constant time. Adding a new pepper keeps old tokens valid (their rows name the version
//! they were hashed with) and new hashes use the newest pepper.
use crate::authn::{AuthError, Authenticator, BoxFuture, RequestView};
use crate::principal::{Principal, PrincipalKind};
use crate::scope::ScopeSet;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the lookup id.
pub const LOOKUP_LEN: usize = 8;
/// Length of the secret: 28 base62 characters, 166 bits.
pub const SECRET_LEN: usize = 28;
const CHECK_LEN: usize = 6;
/// Length of a token after its 4-character prefix.
pub const BODY_LEN: usize = LOOKUP_LEN + SECRET_LEN + CHECK_LEN;

/// The three kinds of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// `pat_`: tied to a user; at most the user's permissions.
    PersonalAccessToken,
    /// `key_`: tied to an organisation; explicit scopes, no user.
    ApiKey,
    /// `svc_`: tied to a named service.
    ServiceToken,
}

impl CredentialKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::PersonalAccessToken, Self::ApiKey, Self::ServiceToken];
    /// The token prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::PersonalAccessToken => "pat_",
            Self::ApiKey => "key_",
            Self::ServiceToken => "svc_",
        }
    }
    /// The name used in JSON (`pat`, `api_key`, `service`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PersonalAccessToken => "pat",
            Self::ApiKey => "api_key",
            Self::ServiceToken => "service",
        }
    }
    /// Parse the JSON name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
    /// The principal kind of a request authenticated with this credential.
    pub fn principal_kind(self) -> PrincipalKind {
        match self {
            Self::PersonalAccessToken => PrincipalKind::PersonalAccessToken,
            Self::ApiKey => PrincipalKind::ApiKey,
            Self::ServiceToken => PrincipalKind::ServiceToken,
        }
    }
}

/// Why a string is not a credential token. Says nothing about the token's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Not `pat_`, `key_` or `svc_` (lower case).
    #[error("not a credential token")]
    Prefix,
    /// Wrong length, or a character outside base62.
    #[error("malformed credential token")]
    Malformed,
    /// The checksum does not match: a typo or a truncated copy.
    #[error("credential token checksum mismatch")]
    Checksum,
}

/// A syntactically valid token, checksum included.
#[derive(Clone, Copy)]
pub struct ParsedToken<'a> {
    kind: CredentialKind,
    lookup_id: &'a str,
    token: &'a str,
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("kind", &self.kind)
            .field("lookup_id", &self.lookup_id)
            .finish_non_exhaustive()
    }
}

impl<'a> ParsedToken<'a> {
    /// The kind, from the prefix.
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }
    /// The non-secret lookup id (the storage index).
    pub fn lookup_id(&self) -> &'a str {
        self.lookup_id
    }
    /// The whole token (secret: hash it, never store or log it).
    pub fn expose(&self) -> &'a str {
        self.token
    }
}

/// The CRC-32 lookup table, computed at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

fn checksum(body: &[u8]) -> [u8; CHECK_LEN] {
    let mut n = crc32(body);
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Check a token's shape and checksum. Cheap, offline, and the only thing done with a
/// string before it reaches storage.
pub fn parse(token: &str) -> Result<ParsedToken<'_>, FormatError> {
    let kind = CredentialKind::ALL
        .into_iter()
        .find(|k| token.starts_with(k.prefix()))
        .ok_or(FormatError::Prefix)?;
    let body = &token.as_bytes()[4..];
    if body.len() != BODY_LEN || !body.iter().all(u8::is_ascii_alphanumeric) {
        return Err(FormatError::Malformed);
    }
    let (data, check) = body.split_at(LOOKUP_LEN + SECRET_LEN);
    // Not a secret comparison: the checksum is public (it is part of the token's shape).
    if checksum(data) != check {
        return Err(FormatError::Checksum);
    }
    Ok(ParsedToken {
        kind,
        lookup_id: &token[4..4 + LOOKUP_LEN],
        token,
    })
}

/// A freshly generated token. Shown once; its `Debug` is redacted.
pub struct NewToken {
    token: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewToken(<redacted>)")
    }
}

impl NewToken {
    /// The token, to show the user once.
    pub fn expose(&self) -> &str {
        &self.token
    }
    /// The parsed form (lookup id, kind).
    pub fn parsed(&self) -> ParsedToken<'_> {
        match parse(&self.token) {
            Ok(p) => p,
            // A generated token always parses (tested); keep the kind and id regardless.
            Err(_) => ParsedToken {
                kind: CredentialKind::PersonalAccessToken,
                lookup_id: &self.token[4..4 + LOOKUP_LEN],
                token: &self.token,
            },
        }
    }
}

/// The system's random source failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no randomness available")]
pub struct RandomError;

/// Generate a token of `kind` from the operating system's CSPRNG (rejection sampling, so
/// every base62 character is uniform).
pub fn generate(kind: CredentialKind) -> Result<NewToken, RandomError> {
    let mut chars = Vec::with_capacity(LOOKUP_LEN + SECRET_LEN);
    let mut buf = [0u8; 64];
    while chars.len() < LOOKUP_LEN + SECRET_LEN {
        getrandom::getrandom(&mut buf).map_err(|_| RandomError)?;
        for &b in &buf {
            // 248 = 4 * 62: bytes above would bias the distribution.
            if b < 248 && chars.len() < LOOKUP_LEN + SECRET_LEN {
                chars.push(ALPHABET[usize::from(b % 62)]);
            }
        }
    }
    let check = checksum(&chars);
    let mut token = String::with_capacity(4 + BODY_LEN);
    token.push_str(kind.prefix());
    token.extend(chars.iter().map(|&c| char::from(c)));
    token.extend(check.iter().map(|&c| char::from(c)));
    Ok(NewToken { token })
}

/// A server-side secret the stored hashes are keyed with, and its version.
#[derive(Clone)]
pub struct Pepper {
    version: u32,
    /// HMAC keyed with the pepper, cloned for each use.
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pepper")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A pepper shorter than 32 bytes, or a version used twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("peppers must be at least 32 bytes, with distinct versions")]
pub struct PepperError;

impl Pepper {
    /// A pepper (at least 32 random bytes) and its version.
    pub fn new(version: u32, key: &[u8]) -> Result<Self, PepperError> {
        if key.len() < 32 {
            return Err(PepperError);
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| PepperError)?;
        Ok(Self { version, mac })
    }
    /// The version stored next to each hash.
    pub fn version(&self) -> u32 {
        self.version
    }
    fn mac(&self, token: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        mac
    }
}

/// The peppers in use: the newest hashes new tokens, every one verifies the rows that name it.
#[derive(Debug, Clone)]
pub struct Peppers {
    all: Vec<Pepper>,
}

impl Peppers {
    /// Peppers by version; the highest version is the current one.
    pub fn new(peppers: Vec<Pepper>) -> Result<Self, PepperError> {
        let mut all = peppers;
        all.sort_by_key(|p| p.version);
        if all.is_empty() || all.windows(2).any(|w| w[0].version == w[1].version) {
            return Err(PepperError);
        }
        Ok(Self { all })
    }
    /// The pepper new hashes use.
    pub fn current(&self) -> &Pepper {
        // `new` refuses an empty list.
        &self.all[self.all.len() - 1]
    }
    /// `(version, HMAC-SHA-256(pepper, token))` with the current pepper.
    pub fn hash(&self, token: &str) -> (u32, [u8; 32]) {
        let p = self.current();
        (p.version, p.mac(token).finalize().into_bytes().into())
    }
    /// True when `stored` is the hash of `token` under pepper `version`; constant time.
    pub fn verify(&self, token: &str, version: u32, stored: &[u8]) -> bool {
        match self.all.iter().find(|p| p.version == version) {
            Some(p) => p.mac(token).verify_slice(stored).is_ok(),
            None => false,
        }
    }
}

/// A credential that passed verification: what the request may do and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCredential {
    /// The kind.
    pub kind: CredentialKind,
    /// The credential's id.
    pub id: String,
    /// User id (PAT), organisation id (API key) or service name (service token).
    pub owner: String,
    /// Tenant, if any.
    pub tenant: Option<String>,
    /// Scopes granted.
    pub scopes: ScopeSet,
    /// Expiry (Unix seconds), if any.
    pub expires_at: Option<i64>,
}

impl VerifiedCredential {
    /// The principal for a request carrying this credential.
    pub fn principal(&self) -> Principal {
        let mut b = Principal::builder(self.owner.clone(), self.kind.principal_kind())
            .token_id(self.id.clone())
            .scopes(self.scopes.iter());
        if let Some(t) = &self.tenant {
            b = b.tenant(t.clone());
        }
        if let Some(e) = self.expires_at {
            b = b.expires_at(e);
        }
        b.build()
    }
}

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Not a well-formed token (see [`FormatError`]).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Unknown, revoked, or a wrong secret: indistinguishable on purpose.
    #[error("invalid token")]
    Invalid,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
    /// The store or the credential service cannot be reached.
    #[error("credential store unavailable")]
    Unavailable,
}

impl From<CredentialError> for AuthError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Unavailable => {
                AuthError::unavailable("the credential store is unavailable")
            }
            CredentialError::Expired => AuthError::invalid_credential("token expired"),
            CredentialError::Format(_) | CredentialError::Invalid => {
                AuthError::invalid_credential("invalid token")
            }
        }
    }
}

/// Checks a parsed token against storage (in-process: a store; remote: the credential
/// service's `POST /validate`).
pub trait CredentialVerifier: Send + Sync {
    /// Verify a token whose format and checksum already passed.
    fn verify<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<VerifiedCredential, CredentialError>>;

    /// [`verify`](Self::verify)'s answer when it needs no waiting (a cached answer), else
    /// `None`; see [`Authenticator::authenticate_now`]. The default never answers.
    fn verify_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<VerifiedCredential, CredentialError>> {
        let _ = token;
        None
    }

    /// [`verify`](Self::verify), as the request's principal. Override it when the principal
    /// can be kept (a cache): the default builds it from the verified credential each time.
    fn verify_principal<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<Principal, CredentialError>> {
        Box::pin(async move { self.verify(token).await.map(|v| v.principal()) })
    }

    /// [`verify_now`](Self::verify_now), as the request's principal.
    fn verify_principal_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<Principal, CredentialError>> {
        self.verify_now(token).map(|r| r.map(|v| v.principal()))
    }
}

impl<V: CredentialVerifier + ?Sized> CredentialVerifier for std::sync::Arc<V> {
    fn verify<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<VerifiedCredential, CredentialError>> {
        (**self).verify(token)
    }
    fn verify_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<VerifiedCredential, CredentialError>> {
        (**self).verify_now(token)
    }
    fn verify_principal<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<Principal, CredentialError>> {
        (**self).verify_principal(token)
    }
    fn verify_principal_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<Principal, CredentialError>> {
        (**self).verify_principal_now(token)
    }
}

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

/// The credential authenticator: `Authorization: Bearer pat_…|key_…|svc_…` or `X-API-Key`.
/// With [`RouteScopes`], a token must also hold the scope its route needs (403
/// `insufficient_scope` otherwise, and for routes no entry lists).
pub struct CredentialAuthenticator<V> {
    verifier: V,
    routes: Option<RouteScopes>,
}

impl<V> fmt::Debug for CredentialAuthenticator<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialAuthenticator")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl<V: CredentialVerifier> CredentialAuthenticator<V> {
    /// Verify tokens with `verifier`.
    pub fn new(verifier: V) -> Self {
        Self {
            verifier,
            routes: None,
        }
    }
    /// Require route scopes (deny by default).
    pub fn route_scopes(mut self, routes: RouteScopes) -> Self {
        self.routes = Some(routes);
        self
    }

    fn token<'r>(request: &RequestView<'r>) -> Result<Option<&'r str>, AuthError> {
        if let Some(t) = request.opaque_bearer()? {
            if CredentialKind::ALL
                .iter()
                .any(|k| t.starts_with(k.prefix()))
            {
                return Ok(Some(t));
            }
        }
        request.header_credential(&http::HeaderName::from_static("x-api-key"))
    }
}

impl<V: CredentialVerifier> Authenticator for CredentialAuthenticator<V> {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            let Some(raw) = Self::token(request)? else {
                return Ok(None);
            };
            let parsed = parse(raw).map_err(CredentialError::from)?;
            // A cached answer needs no second future.
            let principal = match self.verifier.verify_principal_now(&parsed) {
                Some(answer) => answer?,
                None => self.verifier.verify_principal(parsed).await?,
            };
            self.admit(request, principal).map(Some)
        })
    }

    fn authenticate_now(
        &self,
        request: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthError>> {
        let raw = match Self::token(request) {
            Ok(Some(raw)) => raw,
            other => return Some(other.map(|_| None)),
        };
        let parsed = match parse(raw) {
            Ok(p) => p,
            Err(e) => return Some(Err(CredentialError::from(e).into())),
        };
        let verified = self.verifier.verify_principal_now(&parsed)?;
        Some(
            verified
                .map_err(AuthError::from)
                .and_then(|p| self.admit(request, p).map(Some)),
        )
    }
}

impl<V: CredentialVerifier> CredentialAuthenticator<V> {
    /// The principal of a verified token, if the route table lets it reach this route.
    fn admit(
        &self,
        request: &RequestView<'_>,
        principal: Principal,
    ) -> Result<Principal, AuthError> {
        if let Some(routes) = &self.routes {
            let path = request.uri().path();
            match routes.scope_for(request.method(), path) {
                Some(scope) if principal.has_scope(scope) => {}
                Some(scope) => return Err(AuthError::insufficient_scope(scope)),
                None => {
                    return Err(AuthError::forbidden(
                        "this route cannot be reached with a token",
                    ))
                }
            }
        }
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The CRC-32/ISO-HDLC check value for "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
