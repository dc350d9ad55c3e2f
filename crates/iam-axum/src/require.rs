//! Per-route scope and permission guards.
use iam_core::authn::Requirement;
use iam_core::principal::Principal;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A route layer that lets a request through only when its principal has a scope or a
/// permission; otherwise 403 `insufficient_scope` naming it (401 when there is no principal).
#[derive(Debug, Clone)]
pub struct RequireLayer {
    need: Requirement,
    redirect: Option<std::sync::Arc<iam_core::authn::BrowserRedirect>>,
}

impl RequireLayer {
    /// Require an OAuth2 scope (wildcards as in `iam_core::scope`).
    pub fn scope(scope: &str) -> Self {
        Self {
            redirect: None,
            need: Requirement::scope(scope),
        }
    }
    /// Require a permission (from the permissions claim, or else a scope).
    pub fn permission(permission: &str) -> Self {
        Self {
            redirect: None,
            need: Requirement::permission(permission),
        }
    }
    /// Require an authenticator assurance level (`AssuranceLevel::Aal2` for admin areas):
    /// 403 `insufficient_user_authentication` below it.
    pub fn assurance(level: iam_core::principal::AssuranceLevel) -> Self {
        Self {
            redirect: None,
            need: Requirement::assurance(level),
        }
    }
    /// Send browser navigations to the login UI (or its step-up URL for an assurance
    /// level) instead of answering 401 / 403.
    pub fn redirect_browsers(mut self, redirect: iam_core::authn::BrowserRedirect) -> Self {
        self.redirect = Some(std::sync::Arc::new(redirect));
        self
    }
}

impl<S> tower_layer::Layer<S> for RequireLayer {
    type Service = Require<S>;
    fn layer(&self, inner: S) -> Require<S> {
        Require {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`RequireLayer`].
#[derive(Debug, Clone)]
pub struct Require<S> {
    inner: S,
    layer: RequireLayer,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for Require<S>
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
        match self
            .layer
            .need
            .check(request.extensions().get::<Principal>())
        {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(e) => {
                let redirected = self.layer.redirect.as_ref().and_then(|r| {
                    let view = iam_core::authn::RequestView::from_request(&request);
                    r.response(&e, &view)
                });
                let res = match redirected {
                    Some(res) => res.map(ResBody::from),
                    None => crate::response(&e),
                };
                Box::pin(std::future::ready(Ok(res)))
            }
        }
    }
}
