//! # iam-actix
//!
//! iam-rs for actix-web: the same authenticator chain and the same answers as `iam-axum`,
//! as an actix `Transform` and `FromRequest` extractors.
//!
//! The chain usually comes from [`iam_client::JwtConfig`](https://docs.rs/iam-client): the
//! issuer's keys found by OIDC discovery (retried in the background while the issuer is
//! down), cached and refreshed, plus Kratos sessions or personal access tokens appended with
//! `AuthChain::with`:
//!
//! ```
//! use actix_web::{web, App};
//! use iam_actix::{Auth, IamMiddleware, RequireMiddleware};
//! use iam_client::JwtConfig;
//!
//! let chain = JwtConfig::new("https://auth.example.com/")   // or JwtConfig::from_env("IAM_")
//!     .audience("orders-api")
//!     .chain()
//!     .unwrap();
//! let app = App::new()
//!     .wrap(IamMiddleware::required(chain))
//!     .route("/me", web::get().to(|Auth(p): Auth| async move { p.subject().to_owned() }))
//!     .service(web::resource("/admin").wrap(RequireMiddleware::permission("admin:read")).to(|| async { "secret" }));
//! # let _ = app;
//! ```
//!
//! Without the network (tests, a fixed key set), build the chain from iam-core directly with
//! `JwtAuthenticator::new(validator, StaticKeys::new(keys))`.
//!
//! The middleware strips spoofed identity headers, authenticates, stores the [`Principal`] in
//! the request extensions, and answers failures exactly like `iam-axum`: both are adapters of
//! iam-core's `authn::Gate` (and `authn::Guard` for [`RequireMiddleware`]), and both run one
//! scenario table. [`RequireMiddleware::policy`] (also named [`Require`]) asks a policy
//! decision point of iam-policy instead: 403 with the policy's reasons, 503 when it cannot
//! decide, like iam-axum's `RequireLayer::policy`. `Option<Auth>` extracts `None` for anonymous requests in optional mode.
#![forbid(unsafe_code)]

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName as AxName, HeaderValue as AxValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use iam_core::authn::{
    AuthChain, BrowserRedirect, Decision, Gate, Guard, RequestView, Requirement,
};
use iam_core::AuthError;
pub use iam_core::Principal;
use iam_policy::{ClientAddr, PolicyDecisionPoint, PolicyGuard, Resource};
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;

/// iam-core's HTTP answer as an actix response.
fn response(err: &AuthError) -> HttpResponse {
    convert(err.to_response())
}

fn convert(r: http::Response<String>) -> HttpResponse {
    let mut out = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(r.status().as_u16())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (name, value) in r.headers() {
        if let (Ok(n), Ok(v)) = (
            AxName::from_bytes(name.as_str().as_bytes()),
            AxValue::from_bytes(value.as_bytes()),
        ) {
            out.insert_header((n, v));
        }
    }
    out.body(r.into_body())
}

/// The request as iam-core sees it: method, URI and headers in the `http` crate's types.
fn view_parts(req: &ServiceRequest) -> http::request::Parts {
    let mut b = http::Request::builder().method(
        http::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or(http::Method::GET),
    );
    if let Ok(uri) = req.uri().to_string().parse::<http::Uri>() {
        b = b.uri(uri);
    }
    let (mut parts, ()) = b
        .body(())
        .map(http::Request::into_parts)
        .unwrap_or_else(|_| http::Request::new(()).into_parts());
    for (name, value) in req.headers() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            parts.headers.append(n, v);
        }
    }
    parts
}

/// Authenticates every request; see the [crate docs](crate). An adapter of iam-core's
/// [`Gate`].
#[derive(Debug, Clone)]
pub struct IamMiddleware {
    gate: Gate,
}

impl IamMiddleware {
    /// Refuse requests without credentials.
    pub fn required(chain: AuthChain) -> Self {
        Self {
            gate: Gate::required(chain),
        }
    }
    /// Let requests without credentials through with no principal.
    pub fn optional(chain: AuthChain) -> Self {
        Self {
            gate: Gate::optional(chain),
        }
    }
    /// The middleware of an existing gate (the same decisions as every other adapter of it).
    pub fn from_gate(gate: Gate) -> Self {
        Self { gate }
    }
    /// Send browser navigations that need a login to the login UI (303 with a safe
    /// `return_to`) instead of answering 401; API clients keep the RFC 6750 answers.
    pub fn redirect_browsers(mut self, redirect: BrowserRedirect) -> Self {
        self.gate = self.gate.redirect_browsers(redirect);
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for IamMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = IamService<S>;
    type InitError = ();
    type Future = Ready<Result<IamService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(IamService {
            service: Rc::new(service),
            gate: self.gate.clone(),
        }))
    }
}

/// iam-core's `strip_identity_headers` on actix's header map: every spelling of every
/// identity header, and identity-header names listed in `Connection`.
fn strip_identity_headers(headers: &mut actix_web::http::header::HeaderMap) {
    let spoofed: Vec<AxName> = headers
        .keys()
        .filter(|n| iam_core::headers::is_identity_header_name(n.as_str()))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    let connection = actix_web::http::header::CONNECTION;
    let mut changed = false;
    let mut kept = Vec::new();
    for v in headers.get_all(&connection) {
        match v.to_str() {
            Ok(text) => match iam_core::headers::connection_without_identity_names(text) {
                Some(rest) => {
                    changed = true;
                    kept.extend(AxValue::from_str(&rest).ok().filter(|_| !rest.is_empty()));
                }
                None => kept.push(v.clone()),
            },
            Err(_) => changed = true,
        }
    }
    if changed {
        headers.remove(&connection);
        for v in kept {
            headers.append(connection.clone(), v);
        }
    }
}

/// The service made by [`IamMiddleware`].
#[derive(Debug)]
pub struct IamService<S> {
    service: Rc<S>,
    gate: Gate,
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for IamService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, actix_web::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let gate = self.gate.clone();
        Box::pin(async move {
            strip_identity_headers(req.headers_mut());
            req.extensions_mut().remove::<Principal>();
            let parts = view_parts(&req);
            // actix keeps extensions on the request, not in the parts: the end client's
            // address only when a trusted layer set it (never the socket peer by itself).
            let client_addr = req.extensions().get::<ClientAddr>().map(|a| a.0);
            let view = RequestView::from_parts(&parts).with_client_addr(client_addr);
            // Most requests need no waiting (cached keys or session): no authenticator future.
            let decision = match gate.decide_now(&view) {
                Some(decision) => decision,
                None => gate.decide(&view).await,
            };
            match decision {
                Decision::Forward(Some(p)) => {
                    req.extensions_mut().insert(p);
                }
                Decision::Forward(None) => {}
                Decision::Refuse(res) => {
                    return Ok(req.into_response(convert(res)).map_into_right_body());
                }
            }
            service
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}

/// The authenticated principal (401 when there is none). `Option<Auth>` never fails.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl std::ops::Deref for Auth {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// Why [`Auth`] could not be extracted: no principal on the request.
#[derive(Debug)]
pub struct AuthRejection(AuthError);

impl AuthRejection {
    /// True when there were no credentials.
    pub fn is_missing(&self) -> bool {
        self.0.is_missing()
    }
    /// The HTTP status this rejection answers with.
    pub fn status(&self) -> http::StatusCode {
        self.0.status()
    }
    /// The error behind it.
    pub fn error(&self) -> &AuthError {
        &self.0
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.0.status().as_u16())
            .unwrap_or(actix_web::http::StatusCode::UNAUTHORIZED)
    }
    fn error_response(&self) -> HttpResponse<BoxBody> {
        response(&self.0)
    }
}

impl FromRequest for Auth {
    type Error = AuthRejection;
    type Future = Ready<Result<Auth, AuthRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Principal>()
                .cloned()
                .map(Auth)
                .ok_or_else(|| AuthRejection(AuthError::missing_credential())),
        )
    }
}

/// Per-resource guard: 403 `insufficient_scope` naming the scope or permission it needs,
/// 401 when there is no principal. Wrap a resource or scope with it. An adapter of
/// iam-core's [`Guard`], like iam-axum's `RequireLayer`, or with [`RequireMiddleware::policy`]
/// of iam-policy's [`PolicyGuard`].
#[derive(Debug, Clone)]
pub struct RequireMiddleware {
    check: Check,
}

#[derive(Debug, Clone)]
enum Check {
    Guard(Guard),
    Policy(PolicyGuard),
}

/// A short name for [`RequireMiddleware`] (iam-axum's counterpart is `RequireLayer`: the same
/// guard, the same answers).
pub type Require = RequireMiddleware;

impl RequireMiddleware {
    /// Require an OAuth2 scope.
    pub fn scope(scope: &str) -> Self {
        Self::from_guard(Guard::new(Requirement::scope(scope)))
    }
    /// Require a permission (from the permissions claim, or else a scope).
    pub fn permission(permission: &str) -> Self {
        Self::from_guard(Guard::new(Requirement::permission(permission)))
    }
    /// Require an authenticator assurance level: 403 `insufficient_user_authentication`
    /// below it.
    pub fn assurance(level: iam_core::principal::AssuranceLevel) -> Self {
        Self::from_guard(Guard::new(Requirement::assurance(level)))
    }
    /// Ask a policy decision point ([`iam_policy::Rbac`], `Rego`, `OpaClient`) whether the
    /// principal may act on the resource `resource` names for the request: 403 with the
    /// policy's reasons when it denies, 503 when it cannot decide, 401 without a principal.
    /// The action is `TYPE:VERB` from the method unless the closure sets one
    /// (`Resource::action`); `context.ip` is a `ClientAddr` request extension, else the
    /// socket peer.
    ///
    /// ```
    /// use actix_web::{web, App};
    /// use iam_actix::Require;
    /// use iam_policy::{Rbac, Resource};
    /// let rbac = Rbac::new().role("editor", ["documents:edit"]);
    /// let app = App::new().service(
    ///     web::resource("/documents/{id}")
    ///         .wrap(Require::policy(rbac, |req| {
    ///             Resource::new("documents").id(req.uri().path().rsplit('/').next().unwrap_or_default())
    ///         }))
    ///         .put(|| async { "saved" }),
    /// );
    /// # let _ = app;
    /// ```
    pub fn policy(
        pdp: impl PolicyDecisionPoint + 'static,
        resource: impl Fn(&RequestView<'_>) -> Resource + Send + Sync + 'static,
    ) -> Self {
        Self::from_policy_guard(PolicyGuard::new(pdp, resource))
    }
    /// The middleware of an existing guard.
    pub fn from_guard(guard: Guard) -> Self {
        Self {
            check: Check::Guard(guard),
        }
    }
    /// The middleware of an existing policy guard (a shared decision point, a clock).
    pub fn from_policy_guard(guard: PolicyGuard) -> Self {
        Self {
            check: Check::Policy(guard),
        }
    }
    /// Send browser navigations to the login UI (or its step-up URL for an assurance
    /// level) instead of answering 401 / 403. A policy guard always answers.
    pub fn redirect_browsers(mut self, redirect: BrowserRedirect) -> Self {
        if let Check::Guard(guard) = self.check {
            self.check = Check::Guard(guard.redirect_browsers(redirect));
        }
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireService<S>;
    type InitError = ();
    type Future = Ready<Result<RequireService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireService {
            service: Rc::new(service),
            check: self.check.clone(),
        }))
    }
}

/// The service made by [`RequireMiddleware`].
#[derive(Debug)]
pub struct RequireService<S> {
    service: Rc<S>,
    check: Check,
}

impl<S, B> Service<ServiceRequest> for RequireService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, actix_web::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let policy = match &self.check {
            Check::Guard(guard) => {
                let verdict = guard.check(req.extensions().get::<Principal>());
                return match verdict {
                    Ok(()) => {
                        let fut = self.service.call(req);
                        Box::pin(async move { fut.await.map(ServiceResponse::map_into_left_body) })
                    }
                    Err(e) => {
                        let parts = view_parts(&req);
                        let res = guard.refusal(&e, &RequestView::from_parts(&parts));
                        Box::pin(ready(Ok(req
                            .into_response(convert(res))
                            .map_into_right_body())))
                    }
                };
            }
            Check::Policy(policy) => policy,
        };
        let parts = view_parts(&req);
        let ip = req
            .extensions()
            .get::<ClientAddr>()
            .map(|a| a.0)
            .or_else(|| req.peer_addr().map(|a| a.ip()));
        let input = policy.input(
            req.extensions().get::<Principal>(),
            &RequestView::from_parts(&parts),
            ip,
        );
        let check = match input {
            Ok(input) => policy.check(input),
            Err(e) => {
                let res = convert(PolicyGuard::refusal(&e));
                return Box::pin(ready(Ok(req.into_response(res).map_into_right_body())));
            }
        };
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            match check.await {
                Ok(()) => service
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body),
                Err(res) => Ok(req.into_response(convert(res)).map_into_right_body()),
            }
        })
    }
}

/// The README's examples compile (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
