//! The framework-neutral request view, credential extraction, the [`Authenticator`] trait,
//! the [`AuthChain`], and [`AuthError`] with its HTTP mapping.
//!
//! ```
//! use iam_core::authn::{AuthChain, Authenticator, JwtAuthenticator, RequestView};
//! use iam_core::jwks::{JwkSet, StaticKeys};
//! use iam_core::jwt::Validator;
//!
//! let validator = Validator::builder("https://issuer.example").audience("api").build().unwrap();
//! let chain = AuthChain::new().with(JwtAuthenticator::new(validator, StaticKeys::new(JwkSet::new())));
//!
//! let req = http::Request::get("/orders").header("authorization", "Bearer a.b.c").body(()).unwrap();
//! let view = RequestView::from_request(&req);
//! let err = futures_executor::block_on(chain.authenticate(&view)).unwrap_err();
//! assert_eq!(err.status(), 401);
//! assert!(err.www_authenticate().unwrap().to_str().unwrap().starts_with("Bearer error=\"invalid_token\""));
//! ```
//!
//! ## Caveats
//! - Tokens in the query string (`?access_token=`) are never read: they end up in logs.
//! - An authenticator that finds no credential of its kind passes (`Ok(None)`); one that finds
//!   its credential decides. The chain therefore chooses by the credential's shape, never by
//!   trying the same credential on several authenticators.
mod error;
mod gate;
mod jwt;
mod redirect;

pub use error::{AuthError, AuthErrorKind};
pub use gate::{refusal, Decision, Gate, Guard, Mode};
pub use jwt::{looks_like_jws, JwtAuthenticator};
pub use redirect::{BrowserRedirect, RedirectConfigError};

pub use crate::jwks::BoxFuture;
use crate::principal::Principal;
use http::header::{HeaderMap, HeaderName, AUTHORIZATION, COOKIE};
use http::{Method, Uri};
use std::sync::Arc;

/// Name of the header carrying a Kratos session token.
pub const SESSION_TOKEN_HEADER: &str = "x-session-token";

/// The end client's address, as a trusted layer (the socket peer, or a trusted proxy's
/// forwarded address checked against its CIDRs) puts it in the request extensions. Never
/// taken from a header by iam-core: only a layer that knows which proxies to trust may set it.
/// Route policies read it as `context.ip`; the remote credential verifier forwards it so the
/// credential service charges failed validations to that client, not to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// What an authenticator may look at: method, URI and headers (never the body), and the
/// end client's address when a trusted layer set one ([`ClientAddr`]).
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    client_addr: Option<std::net::IpAddr>,
}

fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::invalid_request(
            "credential header sent more than once",
        ));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| AuthError::invalid_request("credential header is not visible ASCII"))
}

/// One byte of the body of an RFC 6750 `b64token`. Written with non-short-circuit operators
/// so that the scan below compiles to SIMD: it runs on every request over kilobyte tokens.
#[inline]
fn b64token_byte(b: u8) -> bool {
    (b.is_ascii_lowercase() | b.is_ascii_uppercase() | b.is_ascii_digit())
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &[u8]) -> bool {
    let end = s.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
    let body = &s[..end];
    !body.is_empty() && body.iter().fold(true, |ok, &b| ok & b64token_byte(b))
}

impl<'a> RequestView<'a> {
    /// A view of these request parts, with no client address.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
            client_addr: None,
        }
    }
    /// A view of `http::request::Parts`, with the [`ClientAddr`] extension if there is one.
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self::new(&parts.method, &parts.uri, &parts.headers)
            .with_client_addr(parts.extensions.get::<ClientAddr>().map(|a| a.0))
    }
    /// A view of an `http::Request`, with the [`ClientAddr`] extension if there is one.
    pub fn from_request<B>(request: &'a http::Request<B>) -> Self {
        Self::new(request.method(), request.uri(), request.headers())
            .with_client_addr(request.extensions().get::<ClientAddr>().map(|a| a.0))
    }
    /// The same view with the end client's address a trusted layer established (adapters
    /// whose framework keeps extensions elsewhere, such as actix, set it this way).
    pub fn with_client_addr(mut self, client_addr: Option<std::net::IpAddr>) -> Self {
        self.client_addr = client_addr;
        self
    }
    /// The end client's address, when a trusted layer set one ([`ClientAddr`]).
    pub fn client_addr(&self) -> Option<std::net::IpAddr> {
        self.client_addr
    }
    /// The method.
    pub fn method(&self) -> &'a Method {
        self.method
    }
    /// The URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }
    /// The headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The bearer token of the one `Authorization` header, if its scheme is `Bearer` (any
    /// case). Two `Authorization` headers are an `invalid_request`; a bearer that is not an
    /// RFC 6750 `b64token` is an `invalid_token`; another scheme (`Basic`) is `None`.
    pub fn bearer_token(&self) -> Result<Option<&'a str>, AuthError> {
        let mut values = self.headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(AuthError::invalid_request(
                "credential header sent more than once",
            ));
        }
        let not_ascii = || AuthError::invalid_request("credential header is not visible ASCII");
        let bytes = value.as_bytes();
        let (scheme, rest) = match bytes.iter().position(|b| *b == b' ') {
            Some(i) => (&bytes[..i], &bytes[i + 1..]),
            None => (bytes, &[][..]),
        };
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return value.to_str().map(|_| None).map_err(|_| not_ascii());
        }
        let start = rest.iter().position(|b| *b != b' ').unwrap_or(rest.len());
        let token = &rest[start..];
        if !is_b64token(token) {
            value.to_str().map_err(|_| not_ascii())?;
            return Err(AuthError::invalid_credential("malformed bearer token"));
        }
        // Only ASCII passes the check above, so this cannot fail.
        std::str::from_utf8(token)
            .map(Some)
            .map_err(|_| AuthError::invalid_credential("malformed bearer token"))
    }

    /// The bytes after `Bearer ` of the only `Authorization` header, unchecked: for a cache
    /// lookup that only succeeds on a token which passed every check before. `None` when
    /// there is not exactly one header with the bearer scheme.
    pub(crate) fn raw_bearer(&self) -> Option<&'a [u8]> {
        let mut values = self.headers.get_all(AUTHORIZATION).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let bytes = value.as_bytes();
        let (scheme, rest) = bytes.split_at_checked(7)?;
        if !scheme[..6].eq_ignore_ascii_case(b"bearer") || scheme[6] != b' ' {
            return None;
        }
        let start = rest.iter().position(|b| *b != b' ')?;
        Some(&rest[start..])
    }

    /// The bearer token when it is shaped like a compact JWS (the JWT authenticators' kind).
    pub fn jwt_bearer(&self) -> Result<Option<&'a str>, AuthError> {
        Ok(self.bearer_token()?.filter(|t| jwt::looks_like_jws(t)))
    }

    /// The bearer token when it is not shaped like a JWS (opaque tokens: introspection,
    /// session tokens, personal access tokens).
    pub fn opaque_bearer(&self) -> Result<Option<&'a str>, AuthError> {
        Ok(self.bearer_token()?.filter(|t| !jwt::looks_like_jws(t)))
    }

    /// True when the request carries an `Authorization: Bearer` header (valid or not).
    pub fn has_bearer(&self) -> bool {
        self.headers
            .get_all(AUTHORIZATION)
            .iter()
            .any(|v| v.as_bytes().len() >= 6 && v.as_bytes()[..6].eq_ignore_ascii_case(b"bearer"))
    }

    /// The value of cookie `name` across all `Cookie` headers. The same cookie twice (cookie
    /// tossing from a sibling domain) is an `invalid_request`.
    pub fn cookie(&self, name: &str) -> Result<Option<&'a str>, AuthError> {
        let mut found = None;
        for header in self.headers.get_all(COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            for pair in header.split(';') {
                let pair = pair.trim_matches(' ');
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                if k == name {
                    if found.is_some() {
                        return Err(AuthError::invalid_request(
                            "session cookie sent more than once",
                        ));
                    }
                    found = Some(v.trim_matches('"'));
                }
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    /// The `X-Session-Token` header (Kratos native apps).
    pub fn session_token(&self) -> Result<Option<&'a str>, AuthError> {
        self.header_credential(&HeaderName::from_static(SESSION_TOKEN_HEADER))
    }

    /// A credential carried in a header of its own (an API-key header), exactly once.
    pub fn header_credential(&self, name: &HeaderName) -> Result<Option<&'a str>, AuthError> {
        Ok(single(self.headers, name)?
            .map(|v| v.trim_matches(' '))
            .filter(|v| !v.is_empty()))
    }
}

/// What a route needs beyond authentication: a scope, or a permission (from the
/// permissions claim, or else a scope). The framework crates' guards are thin wrappers.
///
/// ```
/// use iam_core::authn::Requirement;
/// use iam_core::principal::{Principal, PrincipalKind};
/// let p = Principal::builder("u", PrincipalKind::OAuth2Token).scopes(["orders:*"]).build();
/// assert!(Requirement::scope("orders:read").check(Some(&p)).is_ok());
/// assert_eq!(Requirement::permission("admin:read").check(Some(&p)).unwrap_err().status(), 403);
/// assert_eq!(Requirement::scope("x").check(None).unwrap_err().status(), 401);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// An OAuth2 scope (wildcards as in [`crate::scope`]).
    Scope(Arc<str>),
    /// A permission, or a scope granting it.
    Permission(Arc<str>),
    /// At least this authenticator assurance level (Kratos `aal2` for admin areas). A
    /// principal with no level (a plain access token) does not meet it.
    Assurance(crate::principal::AssuranceLevel),
}

impl Requirement {
    /// Require a scope.
    pub fn scope(scope: &str) -> Self {
        Self::Scope(scope.into())
    }
    /// Require a permission.
    pub fn permission(permission: &str) -> Self {
        Self::Permission(permission.into())
    }
    /// Require an assurance level.
    pub fn assurance(level: crate::principal::AssuranceLevel) -> Self {
        Self::Assurance(level)
    }
    /// `Ok` when `principal` meets the requirement; 401 without a principal, 403
    /// `insufficient_scope` naming what is missing otherwise (403
    /// `insufficient_user_authentication` for an assurance level).
    pub fn check(&self, principal: Option<&Principal>) -> Result<(), AuthError> {
        let p = principal.ok_or_else(AuthError::missing_credential)?;
        let (ok, name) = match self {
            Self::Scope(s) => (p.has_scope(s), s),
            Self::Permission(s) => (p.has_permission(s), s),
            Self::Assurance(level) => {
                return match p.assurance_level() {
                    Some(have) if have >= *level => Ok(()),
                    _ => Err(AuthError::insufficient_assurance(*level)),
                };
            }
        };
        if ok {
            Ok(())
        } else {
            Err(AuthError::insufficient_scope(name.to_string()))
        }
    }
}

/// Turns a request's credential into a [`Principal`].
///
/// `Ok(None)`: no credential of this authenticator's kind (the chain moves on).
/// `Ok(Some(_))`: authenticated. `Err(_)`: the credential was this authenticator's and was
/// refused, or a dependency was down; the chain stops there.
pub trait Authenticator: Send + Sync {
    /// Authenticate one request.
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>>;

    /// The answer of [`authenticate`](Self::authenticate) when it needs no waiting (a cached
    /// key set, a cached session), or `None` when it would have to wait: the caller then
    /// awaits `authenticate`. Middleware uses it to skip the future, its allocation and the
    /// service clone on the common path. When it answers, it must be `authenticate`'s answer;
    /// it must not start I/O. The default never answers.
    fn authenticate_now(
        &self,
        request: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthError>> {
        let _ = request;
        None
    }
}

impl<A: Authenticator + ?Sized> Authenticator for Arc<A> {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        (**self).authenticate(request)
    }
    fn authenticate_now(
        &self,
        request: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthError>> {
        (**self).authenticate_now(request)
    }
}

/// Authenticators tried in order; the first that finds its credential decides.
#[derive(Clone, Default)]
pub struct AuthChain {
    authenticators: Vec<Arc<dyn Authenticator>>,
}

impl std::fmt::Debug for AuthChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthChain")
            .field("authenticators", &self.authenticators.len())
            .finish()
    }
}

impl AuthChain {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }
    /// Append an authenticator.
    pub fn with(mut self, authenticator: impl Authenticator + 'static) -> Self {
        self.authenticators.push(Arc::new(authenticator));
        self
    }
    /// Append a shared authenticator.
    pub fn push(&mut self, authenticator: Arc<dyn Authenticator>) {
        self.authenticators.push(authenticator);
    }
    /// Like [`Authenticator::authenticate`], but no credential at all is an error (401).
    pub async fn authenticate_required(
        &self,
        request: &RequestView<'_>,
    ) -> Result<Principal, AuthError> {
        self.run(request)
            .await?
            .ok_or_else(AuthError::missing_credential)
    }

    /// [`Authenticator::authenticate`] without boxing the future: for the framework layers,
    /// which call it on every request.
    pub async fn run(&self, request: &RequestView<'_>) -> Result<Option<Principal>, AuthError> {
        for a in &self.authenticators {
            if let Some(p) = a.authenticate(request).await? {
                return Ok(Some(p));
            }
        }
        Self::unclaimed(request)
    }

    /// [`run`](Self::run) without waiting: `None` as soon as an authenticator would have to
    /// wait (then await `run`, which starts again from the first authenticator).
    pub fn run_now(
        &self,
        request: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthError>> {
        for a in &self.authenticators {
            match a.authenticate_now(request)? {
                Ok(None) => {}
                decided => return Some(decided),
            }
        }
        Some(Self::unclaimed(request))
    }

    /// No authenticator claimed the request. A bearer credential that none recognised is not
    /// "no credential".
    fn unclaimed(request: &RequestView<'_>) -> Result<Option<Principal>, AuthError> {
        if request.has_bearer() {
            request.bearer_token()?;
            return Err(AuthError::invalid_credential("bearer token not recognised"));
        }
        Ok(None)
    }
}

impl Authenticator for AuthChain {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(self.run(request))
    }
    fn authenticate_now(
        &self,
        request: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthError>> {
        self.run_now(request)
    }
}
