//! The one decision every adapter makes on a request, written once: run the chain (without
//! waiting when it can answer from its caches), apply the mode (a request without
//! credentials is refused, or let through with no principal), and turn a refusal into its
//! HTTP answer (RFC 6750, or a redirect to the login UI for a browser navigation).
//!
//! iam-axum's `IamLayer`, iam-actix's `IamMiddleware` and a proxy's `/decisions` endpoint
//! are adapters of [`Gate`]; the route guards of both frameworks are adapters of [`Guard`].
//! So every adapter gives the same answer to the same request, which the conformance table
//! in `iam-testkit` checks.
//!
//! ```
//! use iam_core::authn::{AuthChain, Decision, Gate, RequestView};
//!
//! let gate = Gate::required(AuthChain::new());
//! let req = http::Request::get("/orders").body(()).unwrap();
//! match gate.decide_now(&RequestView::from_request(&req)) {
//!     Some(Decision::Refuse(res)) => assert_eq!(res.status(), 401),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! ## Caveats
//! - The gate does not strip spoofed identity headers: the adapter owns the request and does
//!   that first, with [`crate::headers::strip_identity_headers`] or
//!   [`crate::headers::is_identity_header_name`].
use super::{AuthChain, AuthError, BrowserRedirect, RequestView, Requirement};
use crate::principal::Principal;
use std::sync::Arc;

/// What to do with a request that carries no credential at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Refuse it (401 `WWW-Authenticate: Bearer`, or the login redirect).
    Required,
    /// Let it through with no principal; bad credentials are still refused.
    Optional,
}

/// The gate's verdict on one request.
#[derive(Debug)]
pub enum Decision {
    /// Call the application, with the principal when there is one.
    Forward(Option<Principal>),
    /// Answer with this response (401 / 403 / 503, or a 303 to the login UI).
    Refuse(http::Response<String>),
}

/// The authentication step of a middleware: chain + mode + browser redirect.
#[derive(Debug, Clone)]
pub struct Gate {
    chain: Arc<AuthChain>,
    mode: Mode,
    redirect: Option<Arc<BrowserRedirect>>,
}

impl Gate {
    /// A gate with `mode`.
    pub fn new(chain: AuthChain, mode: Mode) -> Self {
        Self {
            chain: Arc::new(chain),
            mode,
            redirect: None,
        }
    }

    /// Refuse requests without credentials.
    pub fn required(chain: AuthChain) -> Self {
        Self::new(chain, Mode::Required)
    }

    /// Let requests without credentials through with no principal.
    pub fn optional(chain: AuthChain) -> Self {
        Self::new(chain, Mode::Optional)
    }

    /// Answer browser navigations that need a login with a redirect to the login UI.
    pub fn redirect_browsers(mut self, redirect: BrowserRedirect) -> Self {
        self.redirect = Some(Arc::new(redirect));
        self
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The chain.
    pub fn chain(&self) -> &AuthChain {
        &self.chain
    }

    /// The decision when the chain can answer without waiting (cached keys, a cached
    /// session), else `None`: then await [`Gate::decide`].
    pub fn decide_now(&self, request: &RequestView<'_>) -> Option<Decision> {
        self.chain
            .run_now(request)
            .map(|outcome| self.conclude(request, outcome))
    }

    /// The decision, waiting for the chain when it must (a key set or a session being
    /// fetched).
    pub async fn decide(&self, request: &RequestView<'_>) -> Decision {
        if let Some(decision) = self.decide_now(request) {
            return decision;
        }
        let outcome = self.chain.run(request).await;
        self.conclude(request, outcome)
    }

    fn conclude(
        &self,
        request: &RequestView<'_>,
        outcome: Result<Option<Principal>, AuthError>,
    ) -> Decision {
        let outcome = match (self.mode, outcome) {
            (Mode::Required, Ok(None)) => Err(AuthError::missing_credential()),
            (_, other) => other,
        };
        match outcome {
            Ok(principal) => Decision::Forward(principal),
            Err(e) => Decision::Refuse(refusal(&e, self.redirect.as_deref(), request)),
        }
    }
}

/// The answer to a refused request: the login redirect when one is configured and applies
/// (a browser navigation), else the RFC 6750 answer with its JSON body.
pub fn refusal(
    error: &AuthError,
    redirect: Option<&BrowserRedirect>,
    request: &RequestView<'_>,
) -> http::Response<String> {
    redirect
        .and_then(|r| r.response(error, request))
        .unwrap_or_else(|| error.to_response())
}

/// The check of a route guard: a [`Requirement`] on the principal the gate put on the
/// request, with the same refusal answers.
#[derive(Debug, Clone)]
pub struct Guard {
    need: Requirement,
    redirect: Option<Arc<BrowserRedirect>>,
}

impl Guard {
    /// A guard for `need`.
    pub fn new(need: Requirement) -> Self {
        Self {
            need,
            redirect: None,
        }
    }

    /// Send browser navigations to the login UI (or its step-up URL) instead of 401 / 403.
    pub fn redirect_browsers(mut self, redirect: BrowserRedirect) -> Self {
        self.redirect = Some(Arc::new(redirect));
        self
    }

    /// What the guard requires.
    pub fn requirement(&self) -> &Requirement {
        &self.need
    }

    /// `Ok` when the principal meets the requirement, else why not (401 without one, 403
    /// naming what is missing).
    pub fn check(&self, principal: Option<&Principal>) -> Result<(), AuthError> {
        self.need.check(principal)
    }

    /// The answer to refuse `request` with, for an error of [`Guard::check`].
    pub fn refusal(&self, error: &AuthError, request: &RequestView<'_>) -> http::Response<String> {
        refusal(error, self.redirect.as_deref(), request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::PrincipalKind;

    struct Fixed(Option<Principal>);
    impl super::super::Authenticator for Fixed {
        fn authenticate<'a>(
            &'a self,
            _: &'a RequestView<'a>,
        ) -> super::super::BoxFuture<'a, Result<Option<Principal>, AuthError>> {
            let p = self.0.clone();
            Box::pin(async move { Ok(p) })
        }
    }

    fn req() -> http::Request<()> {
        http::Request::get("/").body(()).unwrap()
    }

    #[test]
    fn without_credentials_required_refuses_and_optional_forwards_nothing() {
        let r = req();
        let view = RequestView::from_request(&r);
        let required = Gate::required(AuthChain::new().with(Fixed(None)));
        let optional = Gate::optional(AuthChain::new().with(Fixed(None)));
        // Fixed has no authenticate_now: the awaited path decides.
        assert!(required.decide_now(&view).is_none());
        match futures_executor::block_on(required.decide(&view)) {
            Decision::Refuse(res) => {
                assert_eq!(res.status(), 401);
                assert_eq!(res.headers()["www-authenticate"], "Bearer");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            futures_executor::block_on(optional.decide(&view)),
            Decision::Forward(None)
        ));
    }

    #[test]
    fn a_guard_refuses_with_the_scope_it_needs() {
        let r = req();
        let view = RequestView::from_request(&r);
        let p = Principal::builder("u", PrincipalKind::OAuth2Token)
            .scopes(["orders:read"])
            .build();
        let g = Guard::new(Requirement::scope("orders:write"));
        let res = g.refusal(&g.check(Some(&p)).unwrap_err(), &view);
        assert_eq!(res.status(), 403);
        assert!(res.body().contains("orders:write"));
        assert!(Guard::new(Requirement::scope("orders:read"))
            .check(Some(&p))
            .is_ok());
        assert_eq!(g.refusal(&g.check(None).unwrap_err(), &view).status(), 401);
    }
}
