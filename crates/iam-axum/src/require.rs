//! Per-route scope and permission guards.
use iam_core::authn::{Guard, RequestView, Requirement};
use iam_core::principal::Principal;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A route layer that lets a request through only when its principal has a scope, a
/// permission or an assurance level; otherwise 403 `insufficient_scope` naming it (401 when
/// there is no principal). An adapter of iam-core's [`Guard`].
#[derive(Debug, Clone)]
pub struct RequireLayer {
    guard: Guard,
}

impl RequireLayer {
    /// Require an OAuth2 scope (wildcards as in `iam_core::scope`).
    pub fn scope(scope: &str) -> Self {
        Self::from_guard(Guard::new(Requirement::scope(scope)))
    }
    /// Require a permission (from the permissions claim, or else a scope).
    pub fn permission(permission: &str) -> Self {
        Self::from_guard(Guard::new(Requirement::permission(permission)))
    }
    /// Require an authenticator assurance level (`AssuranceLevel::Aal2` for admin areas):
    /// 403 `insufficient_user_authentication` below it.
    pub fn assurance(level: iam_core::principal::AssuranceLevel) -> Self {
        Self::from_guard(Guard::new(Requirement::assurance(level)))
    }
    /// The layer of an existing guard.
    pub fn from_guard(guard: Guard) -> Self {
        Self { guard }
    }
    /// Send browser navigations to the login UI (or its step-up URL for an assurance
    /// level) instead of answering 401 / 403.
    pub fn redirect_browsers(mut self, redirect: iam_core::authn::BrowserRedirect) -> Self {
        self.guard = self.guard.redirect_browsers(redirect);
        self
    }
}

impl<S> tower_layer::Layer<S> for RequireLayer {
    type Service = RequireService<S>;
    fn layer(&self, inner: S) -> RequireService<S> {
        RequireService {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// The service made by [`RequireLayer`].
#[derive(Debug, Clone)]
pub struct RequireService<S> {
    inner: S,
    guard: Guard,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for RequireService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        match self.guard.check(request.extensions().get::<Principal>()) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(e) => {
                let res = self.guard.refusal(&e, &RequestView::from_request(&request));
                Box::pin(std::future::ready(Ok(res.map(ResBody::from))))
            }
        }
    }
}
