//! [`AccessEngine`]: one request through forwarding trust, canonicalisation, identity-header
//! stripping, rule matching and the rule's pipeline, to a [`Verdict`].
//!
//! ```
//! use iam_proxy::engine::{AccessEngine, Verdict};
//! use iam_proxy::forwarded::{ForwardedTrust, Listener};
//! use iam_proxy::pipeline::{HandlerConfigs, PipelineBuilder};
//! use iam_proxy::rules::{MatchingStrategy, RuleRepository, RuleSource};
//! use std::sync::Arc;
//! let rules = r#"[{"id": "r", "match": {"url": "http://app.example/<.*>", "methods": ["GET"]},
//!   "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
//!   "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}]}]"#;
//! use base64::Engine as _;
//! let inline = format!("inline://{}", base64::engine::general_purpose::STANDARD.encode(rules));
//! let builder = PipelineBuilder::new(HandlerConfigs::permissive());
//! let repo = Arc::new(RuleRepository::new(vec![RuleSource::parse(&inline).unwrap()],
//!     MatchingStrategy::Regexp, move |set| builder.build(set)));
//! repo.reload().unwrap();
//! let engine = AccessEngine::new(repo, ForwardedTrust::default());
//! let req = http::Request::get("/a").header("host", "app.example").header("x_user", "admin").body(()).unwrap();
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! let verdict = rt.block_on(engine.decide("127.0.0.1".parse().unwrap(), req.method(), req.uri(), req.headers(), Listener::Proxy));
//! match verdict {
//!     Verdict::Allow(a) => {
//!         assert_eq!(a.session.headers["x-user"], "anonymous");
//!         assert!(!a.headers.contains_key("x_user")); // the client's copy is gone
//!     }
//!     Verdict::Deny(res) => panic!("{}", res.status()),
//! }
//! ```
//!
//! # Caveats
//! Before the first successful rule load every request is answered 503. With an
//! [`Admission`] set ([`AccessEngine::with_admission`]) the engine asks it before matching,
//! before the pipeline and after authentication; a refusal is answered 429.
use crate::admission::{Admission, ClientFacts, RuleFacts};
use crate::canonical::CanonicalRequest;
use crate::forwarded::{ForwardedTrust, Listener};
use crate::pipeline::{
    CompiledRules, ErrorFacts, ErrorKind, ErrorResponse, PipelineError, RequestFacts, RulePipeline,
    Session,
};
use crate::rules::{MatchError, RuleRepository};
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

/// The path prefix of the decisions API.
pub const DECISIONS_PATH: &str = "/decisions";

/// An allowed request: what to forward.
#[derive(Debug)]
pub struct Allowed {
    /// The session the pipeline built (its `headers` and `cookies` go upstream).
    pub session: Session,
    /// The matched rule's pipeline (its `upstream`).
    pub rule: Arc<RulePipeline>,
    /// The canonical request.
    pub canonical: CanonicalRequest,
    /// The client's headers, identity headers stripped.
    pub headers: HeaderMap,
    /// The client's address.
    pub client_ip: IpAddr,
    /// The host the client addressed (after trusted forwarding).
    pub host: String,
    /// The body, when the rule read it (forward these bytes: the client's stream is spent).
    pub body: Option<Bytes>,
}

/// The engine's answer.
#[derive(Debug)]
pub enum Verdict {
    /// Forward (proxy) or answer 200 (`/decisions`).
    Allow(Box<Allowed>),
    /// Answer with this response.
    Deny(ErrorResponse),
}

/// The decision engine shared by the reverse proxy and `/decisions`.
#[derive(Debug, Clone)]
pub struct AccessEngine {
    repo: Arc<RuleRepository<CompiledRules>>,
    trust: ForwardedTrust,
    admission: Option<Arc<dyn Admission>>,
}

impl AccessEngine {
    /// An engine over a repository of compiled rules.
    pub fn new(repo: Arc<RuleRepository<CompiledRules>>, trust: ForwardedTrust) -> Self {
        Self {
            repo,
            trust,
            admission: None,
        }
    }

    /// Ask `admission` before matching, before the pipeline and after authentication.
    pub fn with_admission(mut self, admission: Arc<dyn Admission>) -> Self {
        self.admission = Some(admission);
        self
    }

    /// The repository.
    pub fn repository(&self) -> &Arc<RuleRepository<CompiledRules>> {
        &self.repo
    }

    /// True once rules are loaded.
    pub fn is_ready(&self) -> bool {
        self.repo.current().is_some()
    }

    /// Decide on one request from `peer`. On [`Listener::Decisions`], `uri` is the
    /// `/decisions…` URI and the request asked about is read from it (or from a trusted
    /// proxy's `X-Forwarded-Method` / `X-Forwarded-Uri`). A rule that reads the body (the
    /// `remote` authorizer) gets an empty one: use [`decide_with_body`](Self::decide_with_body).
    pub async fn decide(
        &self,
        peer: IpAddr,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        listener: Listener,
    ) -> Verdict {
        self.decide_with_body(peer, method, uri, headers, listener, || async {
            Ok(Bytes::new())
        })
        .await
    }

    /// [`decide`](Self::decide), with `read_body` called (once, after the rule is matched)
    /// only when the matched rule reads the body; its error (limit, timeout) is answered with
    /// the rule's error handlers. The bytes are in [`Allowed::body`] for forwarding.
    pub async fn decide_with_body<F, Fut>(
        &self,
        peer: IpAddr,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        listener: Listener,
        read_body: F,
    ) -> Verdict
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, PipelineError>>,
    {
        let Some(rules) = self.repo.current() else {
            let e = PipelineError::unavailable("access rules are not loaded yet");
            return Verdict::Deny(crate::pipeline::json_error_response(&e));
        };
        let mut facts = ErrorFacts {
            headers,
            peer,
            client_ip: peer,
            url: None,
        };
        let origin = match self.trust.origin(peer, headers, listener) {
            Ok(o) => o,
            Err(e) => {
                let e = PipelineError::new(ErrorKind::BadRequest, e.to_string());
                return Verdict::Deny(rules.error_response(None, &facts, &e));
            }
        };
        facts.client_ip = origin.client_ip;
        if let Some(a) = &self.admission {
            let client = ClientFacts {
                client_ip: origin.client_ip,
            };
            if let Err(refusal) = a.before_matching(&client).await {
                return Verdict::Deny(refusal.into_response());
            }
        }
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let (method, target) = match listener {
            Listener::Proxy => (method.clone(), path_and_query.to_owned()),
            Listener::Decisions => {
                let own = path_and_query
                    .strip_prefix(DECISIONS_PATH)
                    .unwrap_or(path_and_query);
                let own = if own.is_empty() || own.starts_with('?') {
                    format!("/{own}")
                } else {
                    own.to_owned()
                };
                (
                    origin.method.clone().unwrap_or_else(|| method.clone()),
                    origin.uri.clone().unwrap_or(own),
                )
            }
        };
        let canonical = match CanonicalRequest::new(&method, &origin.scheme, &origin.host, &target)
        {
            Ok(c) => c,
            Err(e) => {
                let e = PipelineError::new(ErrorKind::BadRequest, e.to_string());
                return Verdict::Deny(rules.error_response(None, &facts, &e));
            }
        };
        let match_url = canonical.match_url();
        let url = match canonical.query() {
            Some(q) => format!("{match_url}?{q}"),
            None => match_url.clone(),
        };
        facts.url = Some(&url);
        let mut clean = headers.clone();
        rules.identity_headers().strip(&mut clean);
        let matched = match rules.rules().find(method.as_str(), &match_url) {
            Ok(m) => m,
            Err(e) => {
                let kind = match e {
                    MatchError::NoRule => ErrorKind::NotFound,
                    _ => ErrorKind::InternalServerError,
                };
                let message = match e {
                    MatchError::NoRule => "Requested url does not match any rules".to_owned(),
                    other => other.to_string(),
                };
                return Verdict::Deny(rules.error_response(
                    None,
                    &facts,
                    &PipelineError::new(kind, message),
                ));
            }
        };
        let pipeline = Arc::clone(rules.pipeline(matched.index));
        let rule_facts = RuleFacts {
            client_ip: origin.client_ip,
            rule_id: pipeline.id(),
            method: &method,
            url: &match_url,
        };
        // Admission before the body is read: a refused client never makes us buffer it.
        if let Some(a) = &self.admission {
            if let Err(refusal) = a.before_pipeline(&rule_facts).await {
                return Verdict::Deny(refusal.into_response());
            }
        }
        let body = if pipeline.needs_body() {
            match read_body().await {
                Ok(b) => Some(b),
                Err(e) => return Verdict::Deny(rules.error_response(Some(&pipeline), &facts, &e)),
            }
        } else {
            None
        };
        let request = RequestFacts {
            canonical: &canonical,
            headers: &clean,
            client_ip: origin.client_ip,
            captures: &matched.captures,
            body: body.as_deref(),
        };
        let outcome = match pipeline.authenticate(&request).await {
            Ok(session) => {
                if let Some(a) = &self.admission {
                    if let Err(refusal) = a.after_authentication(&rule_facts, &session).await {
                        return Verdict::Deny(refusal.into_response());
                    }
                }
                pipeline.authorize_and_mutate(&request, session).await
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(session) => Verdict::Allow(Box::new(Allowed {
                session,
                rule: pipeline,
                host: origin.host,
                client_ip: origin.client_ip,
                canonical,
                headers: clean,
                body,
            })),
            Err(e) => Verdict::Deny(rules.error_response(Some(&pipeline), &facts, &e)),
        }
    }
}
