//! [`AccessProxy`]: the reverse proxy as a tower service, and [`Decisions`]: the decision API
//! for Traefik ForwardAuth, nginx `auth_request` and Envoy `ext_authz` (HTTP).
//!
//! Both need the TCP peer's address in the request extensions as [`PeerAddr`] (the server
//! that accepts connections puts it there); without it the peer is treated as untrusted.
//!
//! ```no_run
//! use iam_proxy::engine::AccessEngine;
//! use iam_proxy::proxy::{AccessProxy, Decisions, DenyStyle};
//! # fn engine() -> AccessEngine { unimplemented!() }
//! let proxy: AccessProxy<hyper::body::Incoming> = AccessProxy::new(engine(), std::time::Duration::from_secs(30));
//! let decisions = Decisions::new(engine(), DenyStyle::AsIs);
//! ```
//!
//! # Caveats
//! - Only WebSocket upgrades are proxied (the serving connection must allow upgrades, e.g.
//!   hyper's `serve_connection(..).with_upgrades()`); any other `Upgrade` (such as `h2c`) is
//!   dropped and the request forwarded plainly. A joined WebSocket has no idle timeout.
//! - Upstreams are spoken to in HTTP/1.1: plain for `http://`, TLS for `https://` (system
//!   roots plus [`UpstreamTls::with_extra_ca_pem`]; no client certificates, no HTTP/2).
//! - The upstream timeout covers the wait for the response head; the body then streams.
//! - Request bodies are read only for rules that need them (the `remote` authorizer), up to
//!   [`BodyLimits`]; every other body streams upstream unread and unbounded here.
mod body;
mod tls;
mod upgrade;

pub use body::BodyLimits;
pub use tls::{UpstreamTls, UpstreamTlsError};

use crate::engine::{AccessEngine, Allowed, Verdict};
use crate::forwarded::Listener;
use crate::pipeline::{json_error_response, PipelineError};
use crate::strip::strip_hop_by_hop;
use bytes::Bytes;
use http::header::{HeaderValue, COOKIE, HOST};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Errors a body may carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The response body of both services (and the body of requests sent upstream).
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The TCP peer of a request (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

fn peer_of<B>(req: &Request<B>) -> IpAddr {
    req.extensions()
        .get::<PeerAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip())
}

fn full(res: Response<String>) -> Response<ProxyBody> {
    res.map(|b| {
        Full::new(Bytes::from(b))
            .map_err(|e| match e {})
            .boxed_unsync()
    })
}

/// The reverse proxy: allowed requests go to their rule's upstream with the session's
/// headers; refused ones get the rule's error answer.
pub struct AccessProxy<B> {
    engine: AccessEngine,
    client: Client<HttpsConnector<HttpConnector>, ProxyBody>,
    timeout: Duration,
    body_limits: BodyLimits,
    _incoming: std::marker::PhantomData<fn(B)>,
}

impl<B> Clone for AccessProxy<B> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            client: self.client.clone(),
            timeout: self.timeout,
            body_limits: self.body_limits,
            _incoming: std::marker::PhantomData,
        }
    }
}

impl<B> std::fmt::Debug for AccessProxy<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessProxy")
            .field("timeout", &self.timeout)
            .field("body_limits", &self.body_limits)
            .finish_non_exhaustive()
    }
}

impl<B> AccessProxy<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    /// A proxy over `engine`, waiting at most `timeout` for an upstream's response head;
    /// `https://` upstreams are checked against the system's root certificates
    /// ([`upstream_tls`](Self::upstream_tls) adds a private CA).
    pub fn new(engine: AccessEngine, timeout: Duration) -> Self {
        let tls = UpstreamTls::system_roots().unwrap_or_else(|_| UpstreamTls::empty());
        let client = upstream_client(timeout, &tls)
            .expect("aws-lc-rs supports rustls' safe default protocol versions");
        Self {
            engine,
            client,
            timeout,
            body_limits: BodyLimits::default(),
            _incoming: std::marker::PhantomData,
        }
    }

    /// Bound the bodies read for rules that need them (the `remote` authorizer); other
    /// requests stream their bodies upstream unread.
    pub fn body_limits(mut self, limits: BodyLimits) -> Self {
        self.body_limits = limits;
        self
    }

    /// Check `https://` upstreams against these roots instead of the system's alone.
    pub fn upstream_tls(mut self, tls: &UpstreamTls) -> Result<Self, UpstreamTlsError> {
        self.client = upstream_client(self.timeout, tls)?;
        Ok(self)
    }
}

/// The pooled HTTP/1.1 client to upstreams: plain for `http://`, TLS (never a plaintext
/// fallback) for `https://`.
fn upstream_client(
    timeout: Duration,
    tls: &UpstreamTls,
) -> Result<Client<HttpsConnector<HttpConnector>, ProxyBody>, UpstreamTlsError> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
    http.set_nodelay(true);
    // The TLS layer below decides by scheme; the TCP connector must accept `https`.
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.client_config()?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector))
}

/// The upstream URI for an allowed request: the rule's `upstream.url` joined with the
/// canonical path, `strip_path` removed from its start.
pub fn upstream_uri(allowed: &Allowed) -> Result<Uri, PipelineError> {
    let up = allowed.rule.upstream();
    let bad = || PipelineError::internal("the rule's upstream.url is not a usable http(s) URL");
    let base = url::Url::parse(&up.url).map_err(|_| bad())?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        return Err(bad());
    }
    let mut path = allowed.canonical.forward_path();
    let strip = up.strip_path.trim_end_matches('/');
    if !strip.is_empty() {
        let strip = if strip.starts_with('/') {
            strip.to_owned()
        } else {
            format!("/{strip}")
        };
        if let Some(rest) = path.strip_prefix(strip.as_str()) {
            if rest.is_empty() || rest.starts_with('/') {
                path = if rest.is_empty() { "/" } else { rest };
            }
        }
    }
    let base_path = base.path().trim_end_matches('/');
    let mut target = format!("{base_path}{path}");
    if let Some(q) = allowed.canonical.query() {
        target.push('?');
        target.push_str(q);
    }
    let authority = match base.port() {
        Some(p) => format!("{}:{p}", base.host_str().unwrap_or_default()),
        None => base.host_str().unwrap_or_default().to_owned(),
    };
    Uri::builder()
        .scheme(base.scheme())
        .authority(authority)
        .path_and_query(target)
        .build()
        .map_err(|_| bad())
}

/// The headers an allowed request goes upstream with.
fn upstream_headers(allowed: &Allowed, upstream: &Uri) -> http::HeaderMap {
    let mut h = allowed.headers.clone();
    strip_hop_by_hop(&mut h, false);
    for name in [
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "forwarded",
        "x-forwarded-method",
        "x-forwarded-uri",
    ] {
        h.remove(name);
    }
    if let Ok(v) = HeaderValue::from_str(&allowed.client_ip.to_string()) {
        h.insert("x-forwarded-for", v);
    }
    if let Ok(v) = HeaderValue::from_str(&allowed.host) {
        h.insert("x-forwarded-host", v);
    }
    h.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(allowed.canonical.scheme()),
    );
    let host = if allowed.rule.upstream().preserve_host {
        allowed.host.clone()
    } else {
        upstream
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    if let Ok(v) = HeaderValue::from_str(&host) {
        h.insert(HOST, v);
    }
    for (name, value) in allowed.session.headers.iter() {
        h.insert(name.clone(), value.clone());
    }
    if !allowed.session.cookies.is_empty() {
        let mut pairs: Vec<(String, String)> = h
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|p| {
                p.trim()
                    .split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .filter(|(k, _)| !allowed.session.cookies.iter().any(|(n, _)| n == k))
            .collect();
        pairs.extend(allowed.session.cookies.iter().cloned());
        let joined = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        h.remove(COOKIE);
        if let Ok(v) = HeaderValue::from_str(&joined) {
            h.insert(COOKIE, v);
        }
    }
    h
}

impl<B> tower_service::Service<Request<B>> for AccessProxy<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let peer = peer_of(&req);
            let websocket = upgrade::is_websocket_handshake(req.method(), req.headers());
            let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
            let (parts, body) = req.into_parts();
            let mut unread = Some(body);
            let limits = this.body_limits;
            let verdict = this
                .engine
                .decide_with_body(
                    peer,
                    &parts.method,
                    &parts.uri,
                    &parts.headers,
                    Listener::Proxy,
                    || {
                        let body = unread.take();
                        async move {
                            match body {
                                Some(b) => body::read_bounded(b, limits).await,
                                None => Ok(Bytes::new()),
                            }
                        }
                    },
                )
                .await;
            let mut allowed = match verdict {
                Verdict::Deny(res) => return Ok(full(res)),
                Verdict::Allow(a) => a,
            };
            let uri = match upstream_uri(&allowed) {
                Ok(u) => u,
                Err(e) => return Ok(full(json_error_response(&e))),
            };
            let mut headers = upstream_headers(&allowed, &uri);
            if websocket {
                upgrade::mark_websocket(&mut headers);
            }
            let body: ProxyBody = match (allowed.body.take(), unread) {
                (Some(read), _) => Full::new(read).map_err(|e| match e {}).boxed_unsync(),
                (None, Some(stream)) => stream.map_err(Into::into).boxed_unsync(),
                (None, None) => http_body_util::Empty::new()
                    .map_err(|e| match e {})
                    .boxed_unsync(),
            };
            let mut out = Request::new(body);
            *out.method_mut() = allowed.canonical.method().clone();
            *out.uri_mut() = uri;
            *out.headers_mut() = headers;
            match tokio::time::timeout(this.timeout, this.client.request(out)).await {
                Ok(Ok(mut res)) => {
                    let switching = match client_upgrade {
                        Some(client) if upgrade::accepts_websocket(&res) => {
                            upgrade::join(client, hyper::upgrade::on(&mut res));
                            true
                        }
                        _ => false,
                    };
                    if !switching && res.status() == StatusCode::SWITCHING_PROTOCOLS {
                        // A switch nobody asked for (or to another protocol) cannot be relayed.
                        return Ok(gateway(
                            StatusCode::BAD_GATEWAY,
                            "The upstream service switched protocols unasked",
                        ));
                    }
                    let (mut parts, body) = res.into_parts();
                    strip_hop_by_hop(&mut parts.headers, switching);
                    if switching {
                        upgrade::mark_websocket(&mut parts.headers);
                    }
                    Ok(Response::from_parts(
                        parts,
                        body.map_err(BoxError::from).boxed_unsync(),
                    ))
                }
                Ok(Err(_)) => Ok(gateway(
                    StatusCode::BAD_GATEWAY,
                    "The upstream service is not available",
                )),
                Err(_) => Ok(gateway(
                    StatusCode::GATEWAY_TIMEOUT,
                    "The upstream service is timing out",
                )),
            }
        })
    }
}

fn gateway(status: StatusCode, message: &'static str) -> Response<ProxyBody> {
    let body = serde_json::json!({"error": {"code": status.as_u16(), "status": status.canonical_reason(), "message": message}});
    let mut res = Response::new(body.to_string());
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    full(res)
}

/// How `/decisions` answers a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyStyle {
    /// The rule's error answer as it is (Traefik ForwardAuth and Envoy `ext_authz` pass it
    /// to the client).
    AsIs,
    /// Only 401 and 403 (nginx `auth_request` turns anything else into a 500): a redirect
    /// becomes 401 keeping its `Location` (for `auth_request_set`), other codes 403.
    Nginx,
}

/// The decision API: 200 with the session's headers, or the refusal.
#[derive(Debug, Clone)]
pub struct Decisions {
    engine: AccessEngine,
    style: DenyStyle,
    body_limits: BodyLimits,
}

impl Decisions {
    /// Decisions over `engine`, refusals in `style`.
    pub fn new(engine: AccessEngine, style: DenyStyle) -> Self {
        Self {
            engine,
            style,
            body_limits: BodyLimits::default(),
        }
    }

    /// Bound the bodies read for rules that need them (the `remote` authorizer).
    pub fn body_limits(mut self, limits: BodyLimits) -> Self {
        self.body_limits = limits;
        self
    }

    /// Decide on a `/decisions…` request from its head alone (a rule that reads the body
    /// sees an empty one; [`decide_request`](Self::decide_request) reads it).
    pub async fn decide(&self, req: &http::request::Parts) -> Response<String> {
        self.decide_reading(req, || async { Ok(Bytes::new()) })
            .await
    }

    /// Decide on a whole `/decisions…` request: its body is read (bounded by the body
    /// limits) only when the matched rule needs it, as Oathkeeper forwards it to `remote`.
    pub async fn decide_request<B>(&self, req: Request<B>) -> Response<String>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let limits = self.body_limits;
        self.decide_reading(&parts, move || body::read_bounded(body, limits))
            .await
    }

    async fn decide_reading<F, Fut>(
        &self,
        req: &http::request::Parts,
        read_body: F,
    ) -> Response<String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, PipelineError>>,
    {
        let peer = req
            .extensions
            .get::<PeerAddr>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
        match self
            .engine
            .decide_with_body(
                peer,
                &req.method,
                &req.uri,
                &req.headers,
                Listener::Decisions,
                read_body,
            )
            .await
        {
            Verdict::Allow(a) => {
                let mut res = Response::new(String::new());
                for (k, v) in a.session.headers.iter() {
                    res.headers_mut().insert(k.clone(), v.clone());
                }
                if !a.session.cookies.is_empty() {
                    let joined = a
                        .session
                        .cookies
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("; ");
                    if let Ok(v) = HeaderValue::from_str(&joined) {
                        res.headers_mut().insert(COOKIE, v);
                    }
                }
                res
            }
            Verdict::Deny(mut res) => {
                if self.style == DenyStyle::Nginx {
                    let s = res.status();
                    if s.is_redirection() {
                        *res.status_mut() = StatusCode::UNAUTHORIZED;
                    } else if s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN {
                        *res.status_mut() = StatusCode::FORBIDDEN;
                    }
                }
                res
            }
        }
    }
}

impl<B> tower_service::Service<Request<B>> for Decisions
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(full(this.decide_request(req).await)) })
    }
}
