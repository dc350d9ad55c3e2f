//! The rule pipeline: authenticators → authorizer → mutators, and the error handlers, each
//! compiled once per rule at load from the rule's config merged over the global one.
//!
//! ```
//! use iam_proxy::pipeline::{HandlerConfigs, PipelineBuilder};
//! use iam_proxy::rules::{parse_rules, MatchingStrategy, RuleSet};
//! let rules = parse_rules(r#"[{"id": "r", "match": {"url": "http://h/<.*>", "methods": ["GET"]},
//!   "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
//!   "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}]}]"#, "r.json").unwrap();
//! let set = RuleSet::compile(rules, MatchingStrategy::Regexp).unwrap();
//! let compiled = PipelineBuilder::new(HandlerConfigs::permissive()).build(set).unwrap();
//! assert_eq!(compiled.rules().len(), 1);
//! // An unknown handler, or a template outside the supported subset, is refused at load:
//! let bad = parse_rules(r#"[{"id": "b", "match": {"url": "http://h/", "methods": ["GET"]},
//!   "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
//!   "mutators": [{"handler": "header", "config": {"headers": {"X": "{{ if .Subject }}{{ end }}"}}}]}]"#, "b.json").unwrap();
//! let set = RuleSet::compile(bad, MatchingStrategy::Regexp).unwrap();
//! assert!(PipelineBuilder::new(HandlerConfigs::permissive()).build(set).is_err());
//! ```
//!
//! # Caveats
//! - `id_token` needs a key ring ([`PipelineBuilder::id_token_keys`]); without one it is
//!   refused at load. Its `jwks_url` is not read (see the `id_token` module).
//! - `opa` decides with iam-policy (a remote OPA or in-process Rego; see the `opa` module).
//! - `remote` sends the request body: the caller buffers it for the rules that need it
//!   ([`RulePipeline::needs_body`], bounded by the caller's limit; see the `remote` module).
//! - `bearer_token` and `cookie_session` talk to Kratos through iam-client's cached
//!   `KratosSessions`: `check_session_url` must end in `/sessions/whoami` with
//!   `preserve_path: true`; `preserve_host`, `additional_headers` and forwarding other headers
//!   than the credential are refused (the answer would depend on the request, which a
//!   credential-keyed cache cannot hold). See the `kratos` module for each option.
//! - `jwt` needs `trusted_issuers` (Oathkeeper accepts any issuer when it is empty).
mod authn;
mod authz;
mod client_credentials;
mod error;
mod errors;
mod id_token;
mod kratos;
mod mutate;
mod opa;
mod remote;
mod scope;
mod template;
mod token;

pub use error::{ErrorKind, PipelineError};
pub use errors::{ErrorFacts, ErrorResponse};

/// Oathkeeper's JSON error answer for `error` (used before any rule is known).
pub fn json_error_response(error: &PipelineError) -> ErrorResponse {
    errors::json_error(error, false)
}
pub use template::{Template, TemplateError};

use crate::canonical::CanonicalRequest;
use crate::error::RuleError;
use crate::rules::{Rule, RuleSet, UpstreamSpec};
use crate::strip::IdentityHeaderNames;
use http::HeaderMap;
use iam_core::principal::Principal;
use serde_json::{json, Map, Value};
use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// What the pipeline may look at of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The canonical URL and method.
    pub canonical: &'a CanonicalRequest,
    /// The client's headers, identity headers already stripped.
    pub headers: &'a HeaderMap,
    /// The client's address (trusted forwarding applied).
    pub client_ip: IpAddr,
    /// The matched rule's capture groups.
    pub captures: &'a [String],
    /// The request body, when the rule reads it ([`RulePipeline::needs_body`]) and the
    /// caller buffered it; `None` reads as empty.
    pub body: Option<&'a [u8]>,
}

/// The authentication session a request builds up, as in Oathkeeper.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The subject (`""` after `noop`).
    pub subject: String,
    /// Extra data (JWT claims, Kratos session) for templates.
    pub extra: Map<String, Value>,
    /// The principal, when the authenticator produced one.
    pub principal: Option<Principal>,
    /// Headers the mutators set (forwarded upstream, or answered on `/decisions`).
    pub headers: HeaderMap,
    /// Cookies the `cookie` mutator set.
    pub cookies: Vec<(String, String)>,
}

impl Session {
    /// The data templates see: `.Subject`, `.Extra`, `.MatchContext`.
    pub(crate) fn template_data(&self, facts: &RequestFacts<'_>) -> Value {
        let mut header = Map::new();
        for name in facts.headers.keys() {
            let values: Vec<Value> = facts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| Value::String(v.to_owned()))
                .collect();
            header.insert(canonical_header_key(name.as_str()), Value::Array(values));
        }
        let mut query = Map::new();
        if let Some(q) = facts.canonical.query() {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                let entry = query
                    .entry(k.into_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = entry {
                    a.push(Value::String(v.into_owned()));
                }
            }
        }
        json!({
            "Subject": self.subject,
            "Extra": self.extra,
            "MatchContext": {
                "RegexpCaptureGroups": facts.captures,
                "Method": facts.canonical.method().as_str(),
                "Header": header,
                "URL": {
                    "Scheme": facts.canonical.scheme(),
                    "Host": facts.canonical.host(),
                    "Path": facts.canonical.path(),
                    "RawQuery": facts.canonical.query().unwrap_or_default(),
                    "Query": query,
                }
            }
        })
    }
}

/// Go's `http.CanonicalHeaderKey`: `x-user-id` → `X-User-Id`.
fn canonical_header_key(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// The global handler settings of an Oathkeeper configuration (`authenticators.NAME.enabled`
/// and `.config`, the same for `authorizers`, `mutators`, `errors`), merged under each rule's
/// own config.
#[derive(Debug, Clone, Default)]
pub struct HandlerConfigs {
    sections: HashMap<&'static str, HashMap<String, (bool, Value)>>,
    all_enabled: bool,
    fallback: Vec<String>,
}

/// Section names in the configuration file.
const SECTIONS: [&str; 4] = ["authenticators", "authorizers", "mutators", "errors"];

impl HandlerConfigs {
    /// Every handler enabled with an empty global config (embedding and tests).
    pub fn permissive() -> Self {
        Self {
            all_enabled: true,
            fallback: vec!["json".into()],
            ..Self::default()
        }
    }

    /// Read the handler sections of an Oathkeeper configuration document.
    pub fn from_oathkeeper(config: &Value) -> Self {
        let mut out = Self {
            fallback: vec!["json".into()],
            ..Self::default()
        };
        for section in SECTIONS {
            let mut handlers = HashMap::new();
            let raw = config.get(section);
            if section == "errors" {
                if let Some(list) = raw
                    .and_then(|e| e.get("fallback"))
                    .and_then(Value::as_array)
                {
                    out.fallback = list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                }
            }
            // Oathkeeper nests error handlers under `errors.handlers`.
            let handlers_of = match section {
                "errors" => raw.and_then(|e| e.get("handlers")),
                _ => raw,
            };
            if let Some(map) = handlers_of.and_then(Value::as_object) {
                for (name, entry) in map {
                    if name == "fallback" && section == "errors" {
                        if let Some(list) = entry.as_array() {
                            out.fallback = list
                                .iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect();
                        }
                        continue;
                    }
                    let enabled = entry
                        .get("enabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let config = entry
                        .get("config")
                        .cloned()
                        .unwrap_or(Value::Object(Map::new()));
                    handlers.insert(name.clone(), (enabled, config));
                }
            }
            out.sections.insert(section, handlers);
        }
        out
    }

    /// The error handlers tried when no rule-level one is responsible.
    pub fn fallback(&self) -> &[String] {
        &self.fallback
    }

    /// The effective config of `name` in `section` for `rule`: the rule's config merged over
    /// the global one; an error when the handler is not enabled.
    fn effective(
        &self,
        section: &'static str,
        kind: &'static str,
        rule: &str,
        name: &str,
        over: Option<&Value>,
    ) -> Result<Value, RuleError> {
        let entry = self.sections.get(section).and_then(|s| s.get(name));
        let (enabled, base) = match entry {
            Some((enabled, base)) => (*enabled || self.all_enabled, base.clone()),
            None => (self.all_enabled, Value::Object(Map::new())),
        };
        if !enabled {
            return Err(RuleError::Handler {
                rule: rule.into(),
                kind,
                handler: name.into(),
                reason: format!("not enabled (set {section}.{name}.enabled: true)"),
            });
        }
        let mut merged = base;
        if let Some(over) = over {
            merge(&mut merged, over);
        }
        Ok(merged)
    }
}

/// Merge `over` into `base`: objects key by key, anything else replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Shared handler instances (and their caches), keyed by handler and full effective config,
/// kept across reloads: two rules with the same config share one cache, two configs never do.
#[derive(Default)]
pub(crate) struct Instances {
    map: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl Instances {
    pub(crate) fn get_or_try<T: Any + Send + Sync>(
        &self,
        key: String,
        make: impl FnOnce() -> Result<T, String>,
    ) -> Result<Arc<T>, String> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = map
            .get(&key)
            .and_then(|a| Arc::clone(a).downcast::<T>().ok())
        {
            return Ok(found);
        }
        let made = Arc::new(make()?);
        map.insert(key, made.clone());
        Ok(made)
    }
}

/// Compiles rule sets into [`CompiledRules`]; keep one for the life of the process so handler
/// caches survive reloads.
pub struct PipelineBuilder {
    configs: HandlerConfigs,
    http: iam_client::HttpClient,
    instances: Instances,
    id_token_keys: Option<iam_issuer::KeyRing>,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("configs", &self.configs)
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// A builder with these global handler settings. Outgoing calls (Kratos, JWKS,
    /// introspection, remote authorizers) may use plain `http://` URLs: they are internal
    /// services in an Oathkeeper deployment.
    pub fn new(configs: HandlerConfigs) -> Self {
        let policy = iam_client::TransportPolicy::new()
            .dangerous()
            .allow_plaintext_http();
        let http = iam_client::HttpClient::new()
            .expect("the default HTTP client builds")
            .with_policy(policy);
        Self {
            configs,
            http,
            instances: Instances::default(),
            id_token_keys: None,
        }
    }

    /// Sign the `id_token` mutator's tokens with this key ring (publish its
    /// [`Issuer::jwks`](iam_issuer::Issuer::jwks) where upstreams fetch keys). Without one,
    /// rules with `id_token` are refused at load.
    pub fn id_token_keys(mut self, keys: iam_issuer::KeyRing) -> Self {
        self.id_token_keys = Some(keys);
        self
    }

    /// Use this HTTP client for outgoing calls.
    pub fn http_client(mut self, http: iam_client::HttpClient) -> Self {
        self.http = http;
        self
    }

    /// The global handler settings.
    pub fn configs(&self) -> &HandlerConfigs {
        &self.configs
    }

    /// Compile every rule's pipeline; the first rule that cannot be compiled fails the set.
    pub fn build(&self, set: RuleSet) -> Result<CompiledRules, RuleError> {
        let mut pipelines = Vec::with_capacity(set.len());
        let mut reserved: Vec<String> = Vec::new();
        for rule in set.rules() {
            let p = self.compile_rule(rule)?;
            reserved.extend(p.mutators.iter().flat_map(|m| m.header_names()));
            reserved.extend(p.authorizer.header_names());
            pipelines.push(Arc::new(p));
        }
        let identity_headers = IdentityHeaderNames::new(reserved.iter().map(String::as_str));
        let fallback = self
            .configs
            .fallback
            .iter()
            .map(|name| {
                let config =
                    self.configs
                        .effective("errors", "error handler", "(fallback)", name, None)?;
                errors::ErrorHandler::compile("(fallback)", name, &config)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompiledRules {
            set,
            pipelines,
            identity_headers,
            fallback,
        })
    }

    fn compile_rule(&self, rule: &Rule) -> Result<RulePipeline, RuleError> {
        let spec = rule.spec();
        let id = spec.id.as_str();
        let mut authenticators = Vec::new();
        for h in &spec.authenticators {
            let config = self.configs.effective(
                "authenticators",
                "authenticator",
                id,
                &h.handler,
                h.config.as_ref(),
            )?;
            authenticators.push(authn::Authenticator::compile(
                id,
                &h.handler,
                &config,
                &self.http,
                &self.instances,
            )?);
        }
        let authorizer = {
            let h = &spec.authorizer;
            let config = self.configs.effective(
                "authorizers",
                "authorizer",
                id,
                &h.handler,
                h.config.as_ref(),
            )?;
            authz::Authorizer::compile(id, &h.handler, &config, &self.http, &self.instances)?
        };
        let mut mutators = Vec::new();
        for h in &spec.mutators {
            let config =
                self.configs
                    .effective("mutators", "mutator", id, &h.handler, h.config.as_ref())?;
            mutators.push(mutate::Mutator::compile(
                id,
                &h.handler,
                &config,
                &self.http,
                self.id_token_keys.as_ref(),
            )?);
        }
        let mut error_handlers = Vec::new();
        for h in &spec.errors {
            let config = self.configs.effective(
                "errors",
                "error handler",
                id,
                &h.handler,
                h.config.as_ref(),
            )?;
            error_handlers.push(errors::ErrorHandler::compile(id, &h.handler, &config)?);
        }
        Ok(RulePipeline {
            id: id.to_owned(),
            authenticators,
            authorizer,
            mutators,
            errors: error_handlers,
            upstream: spec.upstream.clone(),
        })
    }
}

/// One rule's compiled pipeline.
#[derive(Debug)]
pub struct RulePipeline {
    id: String,
    authenticators: Vec<authn::Authenticator>,
    authorizer: authz::Authorizer,
    mutators: Vec<mutate::Mutator>,
    errors: Vec<errors::ErrorHandler>,
    upstream: UpstreamSpec,
}

impl RulePipeline {
    /// The rule id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where allowed requests go.
    pub fn upstream(&self) -> &UpstreamSpec {
        &self.upstream
    }

    /// Whether a handler of this rule reads the request body (the `remote` authorizer): the
    /// caller must buffer it (bounded) and pass it in [`RequestFacts::body`].
    pub fn needs_body(&self) -> bool {
        self.authorizer.needs_body()
    }

    /// Run the pipeline: the first authenticator that is responsible decides ("not
    /// responsible" passes to the next, any other error stops), then the authorizer, then
    /// every mutator in order.
    pub async fn run(&self, facts: &RequestFacts<'_>) -> Result<Session, PipelineError> {
        let session = self.authenticate(facts).await?;
        self.authorize_and_mutate(facts, session).await
    }

    /// The first half of [`run`](Self::run): the authenticator chain.
    pub async fn authenticate(&self, facts: &RequestFacts<'_>) -> Result<Session, PipelineError> {
        if self.authenticators.is_empty() {
            return Err(PipelineError::internal(
                "no authentication handler was set in the rule",
            ));
        }
        let mut session = None;
        for a in &self.authenticators {
            if let Some(s) = a.authenticate(facts).await? {
                session = Some(s);
                break;
            }
        }
        session.ok_or_else(PipelineError::unauthorized)
    }

    /// The second half of [`run`](Self::run): the authorizer, then every mutator in order.
    pub async fn authorize_and_mutate(
        &self,
        facts: &RequestFacts<'_>,
        mut session: Session,
    ) -> Result<Session, PipelineError> {
        self.authorizer.authorize(facts, &mut session).await?;
        if self.mutators.is_empty() {
            return Err(PipelineError::internal(
                "no mutation handler was set in the rule",
            ));
        }
        for m in &self.mutators {
            m.mutate(facts, &mut session).await?;
        }
        Ok(session)
    }
}

/// A rule set with every rule's pipeline: what a proxy serves, swapped whole on reload.
#[derive(Debug)]
pub struct CompiledRules {
    set: RuleSet,
    pipelines: Vec<Arc<RulePipeline>>,
    identity_headers: IdentityHeaderNames,
    fallback: Vec<errors::ErrorHandler>,
}

impl CompiledRules {
    /// The rules.
    pub fn rules(&self) -> &RuleSet {
        &self.set
    }
    /// The pipeline of rule `index`.
    pub fn pipeline(&self, index: usize) -> &Arc<RulePipeline> {
        &self.pipelines[index]
    }
    /// Header names no client may send (every name a mutator sets, iam-core's identity
    /// headers).
    pub fn identity_headers(&self) -> &IdentityHeaderNames {
        &self.identity_headers
    }

    /// The answer to a refused request: the rule's error handlers whose `when` matches (none
    /// of them: the fallback list), as Oathkeeper picks them.
    pub fn error_response(
        &self,
        rule: Option<&RulePipeline>,
        facts: &ErrorFacts<'_>,
        error: &PipelineError,
    ) -> ErrorResponse {
        errors::respond(
            rule.map_or(&[][..], |r| &r.errors),
            &self.fallback,
            facts,
            error,
        )
    }
}
