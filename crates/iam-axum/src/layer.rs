//! The tower layer.
use iam_core::authn::{AuthChain, BrowserRedirect, RequestView};
use iam_core::headers::strip_identity_headers;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Required,
    Optional,
}

/// Authenticates every request; see the [crate docs](crate). The principal is also put in
/// the response extensions, for access logs and metrics layered outside.
#[derive(Debug, Clone)]
pub struct IamLayer {
    chain: Arc<AuthChain>,
    mode: Mode,
    redirect: Option<Arc<BrowserRedirect>>,
}

impl IamLayer {
    /// Refuse requests without credentials (401 `WWW-Authenticate: Bearer`).
    pub fn required(chain: AuthChain) -> Self {
        Self {
            chain: Arc::new(chain),
            mode: Mode::Required,
            redirect: None,
        }
    }
    /// Send browser navigations that need a login to the login UI (303 with a safe
    /// `return_to`) instead of answering 401; API clients keep the RFC 6750 answers.
    pub fn redirect_browsers(mut self, redirect: BrowserRedirect) -> Self {
        self.redirect = Some(Arc::new(redirect));
        self
    }
    /// Let requests without credentials through with no principal; bad credentials are
    /// still refused.
    pub fn optional(chain: AuthChain) -> Self {
        Self {
            chain: Arc::new(chain),
            mode: Mode::Optional,
            redirect: None,
        }
    }
}

impl<S> tower_layer::Layer<S> for IamLayer {
    type Service = Iam<S>;
    fn layer(&self, inner: S) -> Iam<S> {
        Iam {
            inner,
            chain: Arc::clone(&self.chain),
            mode: self.mode,
            redirect: self.redirect.clone(),
        }
    }
}

/// The service made by [`IamLayer`].
#[derive(Debug, Clone)]
pub struct Iam<S> {
    inner: S,
    chain: Arc<AuthChain>,
    mode: Mode,
    redirect: Option<Arc<BrowserRedirect>>,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for Iam<S>
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
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let chain = Arc::clone(&self.chain);
        let mode = self.mode;
        let redirect = self.redirect.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            strip_identity_headers(&mut parts.headers);
            parts.extensions.remove::<iam_core::Principal>();
            let outcome = {
                let view = RequestView::from_parts(&parts);
                let outcome = chain.run(&view).await;
                let outcome = match (mode, outcome) {
                    (Mode::Required, Ok(None)) => Err(iam_core::AuthError::missing_credential()),
                    (_, other) => other,
                };
                if let (Err(e), Some(r)) = (&outcome, &redirect) {
                    if let Some(res) = r.response(e, &view) {
                        return Ok(res.map(ResBody::from));
                    }
                }
                outcome
            };
            let principal = match outcome {
                Ok(Some(principal)) => {
                    parts.extensions.insert(principal.clone());
                    Some(principal)
                }
                Ok(None) if mode == Mode::Optional => None,
                Ok(None) => return Ok(crate::response(&iam_core::AuthError::missing_credential())),
                Err(e) => return Ok(crate::response(&e)),
            };
            let mut res = inner.call(http::Request::from_parts(parts, body)).await?;
            // Outer layers (access logs, metrics) can see who made the request.
            if let Some(p) = principal {
                res.extensions_mut().insert(p);
            }
            Ok(res)
        })
    }
}
