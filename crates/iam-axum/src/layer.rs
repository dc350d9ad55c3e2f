//! The tower layer: an adapter of iam-core's [`Gate`].
use iam_core::authn::{AuthChain, BrowserRedirect, Decision, Gate, RequestView};
use iam_core::headers::strip_identity_headers;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Authenticates every request; see the [crate docs](crate). The principal is also put in
/// the response extensions, for access logs and metrics layered outside.
#[derive(Debug, Clone)]
pub struct IamLayer {
    gate: Gate,
}

impl IamLayer {
    /// Refuse requests without credentials (401 `WWW-Authenticate: Bearer`).
    pub fn required(chain: AuthChain) -> Self {
        Self {
            gate: Gate::required(chain),
        }
    }
    /// Let requests without credentials through with no principal; bad credentials are
    /// still refused.
    pub fn optional(chain: AuthChain) -> Self {
        Self {
            gate: Gate::optional(chain),
        }
    }
    /// The layer of an existing gate (the same decisions as every other adapter of it).
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

impl<S> tower_layer::Layer<S> for IamLayer {
    type Service = IamService<S>;
    fn layer(&self, inner: S) -> IamService<S> {
        IamService {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// The service made by [`IamLayer`].
#[derive(Debug, Clone)]
pub struct IamService<S> {
    inner: S,
    gate: Gate,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for IamService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = IamFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        strip_identity_headers(&mut parts.headers);
        parts.extensions.remove::<iam_core::Principal>();
        // The common case needs no waiting (a cached key set, a cached session): decide here,
        // and call the inner service that poll_ready readied, with no clone and no box.
        let now = self.gate.decide_now(&RequestView::from_parts(&parts));
        match now {
            Some(Decision::Refuse(res)) => IamFuture::ready(res.map(ResBody::from)),
            Some(Decision::Forward(principal)) => {
                if let Some(p) = &principal {
                    parts.extensions.insert(p.clone());
                }
                let inner = self.inner.call(http::Request::from_parts(parts, body));
                IamFuture::inner(inner, principal)
            }
            // The chain has to wait (keys or a session being fetched): all of it in a future.
            None => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let gate = self.gate.clone();
                IamFuture::boxed(Box::pin(async move {
                    let decision = gate.decide(&RequestView::from_parts(&parts)).await;
                    let principal = match decision {
                        Decision::Refuse(res) => return Ok(res.map(ResBody::from)),
                        Decision::Forward(principal) => principal,
                    };
                    if let Some(p) = &principal {
                        parts.extensions.insert(p.clone());
                    }
                    let mut res = inner.call(http::Request::from_parts(parts, body)).await?;
                    if let Some(p) = principal {
                        res.extensions_mut().insert(p);
                    }
                    Ok(res)
                }))
            }
        }
    }
}

type BoxedCall<B, E> = Pin<Box<dyn Future<Output = Result<http::Response<B>, E>> + Send>>;

pin_project_lite::pin_project! {
    /// The future of [`IamService`]: an answer decided at once, the inner service's future (the
    /// principal is then copied into the response extensions, for access logs and metrics
    /// layered outside), or the whole call boxed when the chain had to wait.
    pub struct IamFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Ready { response: Option<http::Response<B>> },
        Inner { #[pin] future: F, principal: Option<iam_core::Principal> },
        Boxed { future: BoxedCall<B, E> },
    }
}

impl<F, B, E> IamFuture<F, B, E> {
    fn ready(response: http::Response<B>) -> Self {
        let response = Some(response);
        Self {
            kind: Kind::Ready { response },
        }
    }
    fn inner(future: F, principal: Option<iam_core::Principal>) -> Self {
        Self {
            kind: Kind::Inner { future, principal },
        }
    }
    fn boxed(future: BoxedCall<B, E>) -> Self {
        Self {
            kind: Kind::Boxed { future },
        }
    }
}

impl<F, B, E> std::fmt::Debug for IamFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for IamFuture<F, B, E>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Ready { response } => match response.take() {
                Some(res) => Poll::Ready(Ok(res)),
                None => panic!("IamFuture polled after completion"),
            },
            KindProj::Inner { future, principal } => {
                let mut res = std::task::ready!(future.poll(cx))?;
                if let Some(p) = principal.take() {
                    res.extensions_mut().insert(p);
                }
                Poll::Ready(Ok(res))
            }
            KindProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}
