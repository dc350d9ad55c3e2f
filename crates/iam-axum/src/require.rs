//! Per-route guards: a scope, a permission, an assurance level, or a policy.
use iam_core::authn::{Guard, RequestView, Requirement};
use iam_core::principal::Principal;
use iam_policy::{ClientAddr, PolicyDecisionPoint, PolicyGuard, Resource};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A route layer that lets a request through only when its principal has a scope, a
/// permission or an assurance level; otherwise 403 `insufficient_scope` naming it (401 when
/// there is no principal). An adapter of iam-core's [`Guard`], or with
/// [`RequireLayer::policy`] of iam-policy's [`PolicyGuard`].
#[derive(Debug, Clone)]
pub struct RequireLayer {
    check: Check,
}

#[derive(Debug, Clone)]
enum Check {
    Guard(Guard),
    Policy(PolicyGuard),
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
    /// Ask a policy decision point ([`iam_policy::Rbac`], `Rego`, `OpaClient`) whether the
    /// principal may act on the resource `resource` names for the request: 403 with the
    /// policy's reasons when it denies, 503 when it cannot decide, 401 without a principal.
    /// The action is `TYPE:VERB` from the method unless the closure sets one
    /// ([`Resource::action`]); `context.ip` comes from a [`ClientAddr`] request extension.
    ///
    /// ```
    /// use axum::{routing::put, Router};
    /// use iam_axum::RequireLayer;
    /// use iam_policy::{Rbac, Resource};
    /// let rbac = Rbac::new().role("editor", ["documents:edit"]);
    /// let app: Router = Router::new().route(
    ///     "/documents/{id}",
    ///     put(|| async { "saved" }).route_layer(RequireLayer::policy(rbac, |req| {
    ///         Resource::new("documents").id(req.uri().path().rsplit('/').next().unwrap_or_default())
    ///     })),
    /// );
    /// ```
    pub fn policy(
        pdp: impl PolicyDecisionPoint + 'static,
        resource: impl Fn(&RequestView<'_>) -> Resource + Send + Sync + 'static,
    ) -> Self {
        Self::from_policy_guard(PolicyGuard::new(pdp, resource))
    }
    /// The layer of an existing guard.
    pub fn from_guard(guard: Guard) -> Self {
        Self {
            check: Check::Guard(guard),
        }
    }
    /// The layer of an existing policy guard (a shared decision point, an injected clock).
    pub fn from_policy_guard(guard: PolicyGuard) -> Self {
        Self {
            check: Check::Policy(guard),
        }
    }
    /// Send browser navigations to the login UI (or its step-up URL for an assurance
    /// level) instead of answering 401 / 403. A policy guard always answers.
    pub fn redirect_browsers(mut self, redirect: iam_core::authn::BrowserRedirect) -> Self {
        if let Check::Guard(guard) = self.check {
            self.check = Check::Guard(guard.redirect_browsers(redirect));
        }
        self
    }
}

impl<S> tower_layer::Layer<S> for RequireLayer {
    type Service = RequireService<S>;
    fn layer(&self, inner: S) -> RequireService<S> {
        RequireService {
            inner,
            check: self.check.clone(),
        }
    }
}

/// The service made by [`RequireLayer`].
#[derive(Debug, Clone)]
pub struct RequireService<S> {
    inner: S,
    check: Check,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for RequireService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let policy = match &self.check {
            Check::Guard(guard) => {
                return match guard.check(request.extensions().get::<Principal>()) {
                    Ok(()) => Box::pin(self.inner.call(request)),
                    Err(e) => {
                        let res = guard.refusal(&e, &RequestView::from_request(&request));
                        Box::pin(std::future::ready(Ok(res.map(ResBody::from))))
                    }
                };
            }
            Check::Policy(policy) => policy,
        };
        let ip = request.extensions().get::<ClientAddr>().map(|a| a.0);
        let input = policy.input(
            request.extensions().get::<Principal>(),
            &RequestView::from_request(&request),
            ip,
        );
        let check = match input {
            Ok(input) => policy.check(input),
            Err(e) => {
                let res = PolicyGuard::refusal(&e).map(ResBody::from);
                return Box::pin(std::future::ready(Ok(res)));
            }
        };
        // The decision may wait (a remote OPA): the readied service goes into the future.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match check.await {
                Ok(()) => inner.call(request).await,
                Err(res) => Ok(res.map(ResBody::from)),
            }
        })
    }
}
