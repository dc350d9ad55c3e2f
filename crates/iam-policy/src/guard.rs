//! [`PolicyGuard`]: the framework-independent part of a route guard that asks a policy.
//!
//! iam-axum's `RequireLayer::policy` and iam-actix's `RequireMiddleware::policy` are adapters
//! of it: the guard builds the [`PolicyInput`] from the principal the authentication layer
//! stored, the request and the resource the route's closure names, asks the decision point,
//! and turns the answer into the HTTP refusal every adapter sends:
//!
//! - no principal: 401 (as iam-core's `Guard`);
//! - deny: 403 `{"error": "forbidden", "error_description": "denied by policy", "status": 403,
//!   "reasons": [...]}` with the policy's reasons;
//! - the decision point cannot decide: 503 `temporarily_unavailable` (the cause goes to the
//!   log at WARN, not to the client).
//!
//! ```
//! use iam_core::authn::RequestView;
//! use iam_core::principal::{Principal, PrincipalKind};
//! use iam_policy::{PolicyGuard, Rbac, Resource};
//! let guard = PolicyGuard::new(Rbac::new().role("viewer", ["documents:read"]), |req: &RequestView<'_>| {
//!     Resource::new("documents").id(req.uri().path().trim_start_matches("/documents/"))
//! });
//! let req = http::Request::get("/documents/d1").body(()).unwrap();
//! let viewer = Principal::builder("u1", PrincipalKind::UserSession).roles(["viewer"]).build();
//! let input = guard.input(Some(&viewer), &RequestView::from_request(&req), None).unwrap();
//! assert_eq!(input.action, "documents:read");
//! assert!(futures_executor::block_on(guard.check(input)).is_ok());
//! ```
//!
//! ## Caveats
//! - The action is `TYPE:VERB` from the method (`GET`/`HEAD`/`OPTIONS` read, `POST` create,
//!   `PUT`/`PATCH` edit, `DELETE` delete, any other method its lowercase name) unless the
//!   closure sets one with [`Resource::action`].
//! - The closure sees method, URI and headers, not the body: attributes that live in a
//!   database are the closure's (or the handler's) to look up.
use crate::decision::{Decision, PolicyDecisionPoint, PolicyError};
use crate::input::{PolicyInput, RequestContext, Resource};
use iam_core::authn::RequestView;
use iam_core::clock::{Clock, SystemClock};
use iam_core::{AuthError, Principal};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

type ResourceFn = dyn Fn(&RequestView<'_>) -> Resource + Send + Sync;

/// A route guard's policy check. See the [module docs](self).
#[derive(Clone)]
pub struct PolicyGuard {
    pdp: Arc<dyn PolicyDecisionPoint>,
    resource: Arc<ResourceFn>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PolicyGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyGuard")
            .field("policy_version", &self.pdp.policy_version())
            .finish_non_exhaustive()
    }
}

/// The verb of the default action for `method`.
fn verb(method: &http::Method) -> String {
    match *method {
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS => "read".into(),
        http::Method::POST => "create".into(),
        http::Method::PUT | http::Method::PATCH => "edit".into(),
        http::Method::DELETE => "delete".into(),
        ref other => other.as_str().to_ascii_lowercase(),
    }
}

impl PolicyGuard {
    /// Ask `pdp` about the resource `resource` names for each request.
    pub fn new(
        pdp: impl PolicyDecisionPoint + 'static,
        resource: impl Fn(&RequestView<'_>) -> Resource + Send + Sync + 'static,
    ) -> Self {
        Self::shared(Arc::new(pdp), resource)
    }
    /// Like [`new`](Self::new) with a decision point shared by several routes.
    pub fn shared(
        pdp: Arc<dyn PolicyDecisionPoint>,
        resource: impl Fn(&RequestView<'_>) -> Resource + Send + Sync + 'static,
    ) -> Self {
        Self {
            pdp,
            resource: Arc::new(resource),
            clock: Arc::new(SystemClock),
        }
    }
    /// The clock of `context.time` (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The input for this request, or the 401 error when there is no principal. `ip` is the
    /// client address as the adapter knows it (socket peer or trusted proxy).
    pub fn input(
        &self,
        principal: Option<&Principal>,
        request: &RequestView<'_>,
        ip: Option<IpAddr>,
    ) -> Result<PolicyInput, AuthError> {
        let principal = principal.ok_or_else(AuthError::missing_credential)?;
        let mut resource = (self.resource)(request);
        let action = resource
            .action
            .take()
            .unwrap_or_else(|| format!("{}:{}", resource.kind, verb(request.method())));
        let mut context = RequestContext::new(
            request.method().as_str(),
            request.uri().path(),
            self.clock.now_unix(),
        );
        if let Some(ip) = ip {
            context = context.ip(ip.to_string());
        }
        Ok(PolicyInput::new(principal, action, resource).context(context))
    }

    /// Ask the decision point: `Ok(())` to let the request through, else the refusal to send.
    /// The future owns what it needs, so an adapter can move it into its own.
    pub fn check(
        &self,
        input: PolicyInput,
    ) -> impl Future<Output = Result<(), http::Response<String>>> + Send + 'static {
        let pdp = Arc::clone(&self.pdp);
        async move {
            match pdp.decide(&input).await {
                Ok(d) if d.allow => Ok(()),
                Ok(d) => Err(forbidden(&d)),
                Err(e) => Err(unavailable(&e)),
            }
        }
    }

    /// The answer for an error of [`input`](Self::input) (401 without a principal).
    pub fn refusal(error: &AuthError) -> http::Response<String> {
        error.to_response()
    }
}

/// 403 with the policy's reasons.
pub fn forbidden(decision: &Decision) -> http::Response<String> {
    let error = AuthError::forbidden("denied by policy");
    let mut body = error.to_json();
    body["reasons"] = serde_json::json!(decision.reasons);
    let mut res = error.to_response();
    *res.body_mut() = body.to_string();
    res
}

/// 503: the decision point could not decide.
pub fn unavailable(error: &PolicyError) -> http::Response<String> {
    tracing::warn!(target: "iam_policy::guard", error = %error, "policy decision point could not decide; refusing");
    AuthError::unavailable("the policy decision point is unavailable").to_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::BoxFuture;
    use iam_core::principal::PrincipalKind;

    struct Down;
    impl PolicyDecisionPoint for Down {
        fn decide<'a>(
            &'a self,
            _: &'a PolicyInput,
        ) -> BoxFuture<'a, Result<Decision, PolicyError>> {
            Box::pin(std::future::ready(Err(PolicyError::Unavailable(
                "no route to host".into(),
            ))))
        }
    }

    fn run(
        guard: &PolicyGuard,
        method: &str,
        principal: Option<&Principal>,
    ) -> Result<(), Box<http::Response<String>>> {
        let req = http::Request::builder()
            .method(method)
            .uri("/documents/d1")
            .body(())
            .unwrap();
        let input = guard
            .input(
                principal,
                &RequestView::from_request(&req),
                Some([10, 0, 0, 7].into()),
            )
            .map_err(|e| Box::new(PolicyGuard::refusal(&e)))?;
        futures_executor::block_on(guard.check(input)).map_err(Box::new)
    }

    #[test]
    fn the_method_names_the_verb_and_the_closure_can_override_it() {
        let guard = PolicyGuard::new(crate::Rbac::new(), |_: &RequestView<'_>| {
            Resource::new("documents")
        });
        let req = http::Request::delete("/documents/d1").body(()).unwrap();
        let p = Principal::builder("u1", PrincipalKind::UserSession).build();
        let input = guard
            .input(Some(&p), &RequestView::from_request(&req), None)
            .unwrap();
        assert_eq!(input.action, "documents:delete");
        assert_eq!(input.context.path, "/documents/d1");
        let custom = PolicyGuard::new(crate::Rbac::new(), |_: &RequestView<'_>| {
            Resource::new("documents").action("documents:share")
        });
        let input = custom
            .input(Some(&p), &RequestView::from_request(&req), None)
            .unwrap();
        assert_eq!(input.action, "documents:share");
        assert_eq!(verb(&http::Method::from_bytes(b"PURGE").unwrap()), "purge");
    }

    #[test]
    fn no_principal_is_401_a_deny_403_with_reasons_and_a_down_pdp_503() {
        let p = Principal::builder("u1", PrincipalKind::UserSession).build();
        let rbac = PolicyGuard::new(crate::Rbac::new(), |_: &RequestView<'_>| {
            Resource::new("documents")
        })
        .clock(|| 1_767_225_600);
        assert_eq!(run(&rbac, "GET", None).unwrap_err().status(), 401);
        let denied = run(&rbac, "GET", Some(&p)).unwrap_err();
        assert_eq!(denied.status(), 403);
        let body: serde_json::Value = serde_json::from_str(denied.body()).unwrap();
        assert_eq!(body["reasons"], serde_json::json!(["no_permission"]));
        let down = PolicyGuard::new(Down, |_: &RequestView<'_>| Resource::new("documents"));
        let res = run(&down, "GET", Some(&p)).unwrap_err();
        assert_eq!(res.status(), 503);
        assert!(
            !res.body().contains("no route to host"),
            "the cause stays in the log"
        );
    }
}
