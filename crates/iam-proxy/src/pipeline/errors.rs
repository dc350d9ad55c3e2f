//! Error handlers: `json`, `redirect`, `www_authenticate`, chosen by their `when` conditions
//! as Oathkeeper chooses them (exactly one responsible rule-level handler, else the fallback
//! list).
use super::scope::strings;
use super::{ErrorKind, PipelineError};
use crate::error::RuleError;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;

/// An error answer.
pub type ErrorResponse = http::Response<String>;

/// What an error handler may look at.
#[derive(Debug, Clone, Copy)]
pub struct ErrorFacts<'a> {
    /// The client's headers.
    pub headers: &'a HeaderMap,
    /// The TCP peer.
    pub peer: IpAddr,
    /// The client (trusted `X-Forwarded-For` applied).
    pub client_ip: IpAddr,
    /// The canonical request URL (with query), when the request could be read.
    pub url: Option<&'a str>,
}

#[derive(Debug, Clone)]
struct When {
    errors: Vec<String>,
    accept: Vec<String>,
    content_type: Vec<String>,
    remote_ip: Vec<IpNet>,
    respect_forwarded_for: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    Json {
        verbose: bool,
    },
    Redirect {
        to: url::Url,
        code: u16,
        return_to_param: Option<String>,
        return_to_origins: Vec<String>,
    },
    WwwAuthenticate {
        realm: String,
    },
}

/// A compiled error handler.
#[derive(Debug, Clone)]
pub(crate) struct ErrorHandler {
    kind: Kind,
    when: Vec<When>,
}

fn compile_when(v: &Value) -> Result<When, String> {
    let request = v.get("request").cloned().unwrap_or_default();
    let header = request.get("header").cloned().unwrap_or_default();
    let ip = request.get("remote_ip").cloned().unwrap_or_default();
    let remote_ip = strings(ip.get("match"))
        .iter()
        .map(|c| {
            c.parse::<IpNet>()
                .map_err(|_| format!("remote_ip.match {c:?} is not a CIDR"))
        })
        .collect::<Result<_, _>>()?;
    Ok(When {
        errors: strings(v.get("error")),
        accept: strings(header.get("accept")),
        content_type: strings(header.get("content_type")),
        remote_ip,
        respect_forwarded_for: ip
            .get("respect_forwarded_for_header")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Oathkeeper's MIME match of a request header against a handler's list.
fn mime_matches(request: &str, handler: &[String]) -> bool {
    for actual in request.split(',') {
        let a = actual
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        for m in handler {
            let m = m.trim().to_ascii_lowercase();
            if m == "*/*" || a == m {
                return true;
            }
            if let Some(prefix) = m.strip_suffix("/*") {
                if a.split('/').next() == Some(prefix) {
                    return true;
                }
            }
        }
    }
    false
}

impl When {
    fn request_matches(&self, facts: &ErrorFacts<'_>) -> bool {
        let header = |name| {
            facts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .unwrap_or("application/octet-stream")
                .to_owned()
        };
        if !self.content_type.is_empty() && !mime_matches(&header(CONTENT_TYPE), &self.content_type)
        {
            return false;
        }
        if !self.accept.is_empty() && !mime_matches(&header(http::header::ACCEPT), &self.accept) {
            return false;
        }
        if !self.remote_ip.is_empty() {
            // Oathkeeper reads X-Forwarded-For from anyone; here only through trusted proxies.
            let mut check = vec![facts.peer];
            if self.respect_forwarded_for {
                check.push(facts.client_ip);
            }
            return self
                .remote_ip
                .iter()
                .any(|n| check.iter().any(|ip| n.contains(ip)));
        }
        true
    }

    fn matches(&self, facts: &ErrorFacts<'_>, error: ErrorKind) -> bool {
        (self.errors.is_empty() || self.errors.iter().any(|e| e == error.name()))
            && self.request_matches(facts)
    }
}

impl ErrorHandler {
    pub(crate) fn compile(rule: &str, name: &str, config: &Value) -> Result<Self, RuleError> {
        let fail = |reason: String| RuleError::Handler {
            rule: rule.into(),
            kind: "error handler",
            handler: name.into(),
            reason,
        };
        let when = match config.get("when") {
            Some(Value::Array(list)) => list
                .iter()
                .map(compile_when)
                .collect::<Result<_, _>>()
                .map_err(fail)?,
            _ => Vec::new(),
        };
        let kind = match name {
            "json" => Kind::Json {
                verbose: config
                    .get("verbose")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            "redirect" => {
                let to = config
                    .get("to")
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail("to is missing".into()))?;
                let to =
                    url::Url::parse(to).map_err(|_| fail("to is not an absolute URL".into()))?;
                let code = config.get("code").and_then(Value::as_u64).unwrap_or(302) as u16;
                if code != 301 && code != 302 {
                    return Err(fail("code must be 301 or 302".into()));
                }
                Kind::Redirect {
                    to,
                    code,
                    return_to_param: config
                        .get("return_to_query_param")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    return_to_origins: strings(config.get("return_to_origins")),
                }
            }
            "www_authenticate" => Kind::WwwAuthenticate {
                realm: config
                    .get("realm")
                    .and_then(Value::as_str)
                    .unwrap_or("Please authenticate.")
                    .to_owned(),
            },
            other => return Err(fail(format!("unknown error handler {other:?}"))),
        };
        Ok(Self { kind, when })
    }

    fn responsible(&self, facts: &ErrorFacts<'_>, error: ErrorKind) -> bool {
        self.when.is_empty() || self.when.iter().any(|w| w.matches(facts, error))
    }

    fn handle(&self, facts: &ErrorFacts<'_>, error: &PipelineError) -> ErrorResponse {
        match &self.kind {
            Kind::Json { verbose } => json_error(error, *verbose),
            Kind::Redirect {
                to,
                code,
                return_to_param,
                return_to_origins,
            } => {
                let mut target = to.clone();
                if let (Some(param), Some(url)) = (return_to_param, facts.url) {
                    let allowed = url::Url::parse(url).ok().is_some_and(|u| {
                        let origin = u.origin().ascii_serialization();
                        origin == target.origin().ascii_serialization()
                            || return_to_origins
                                .iter()
                                .any(|o| o.trim_end_matches('/') == origin)
                    });
                    if allowed {
                        target.query_pairs_mut().append_pair(param, url);
                    }
                }
                let mut res = http::Response::new(String::new());
                *res.status_mut() =
                    http::StatusCode::from_u16(*code).unwrap_or(http::StatusCode::FOUND);
                if let Ok(v) = HeaderValue::from_str(target.as_str()) {
                    res.headers_mut().insert(LOCATION, v);
                }
                res
            }
            Kind::WwwAuthenticate { realm } => {
                if error.kind() != ErrorKind::Unauthorized {
                    return json_error(error, false);
                }
                let mut res = http::Response::new(error.message().to_owned());
                *res.status_mut() = http::StatusCode::UNAUTHORIZED;
                let realm: String = realm
                    .chars()
                    .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                    .collect();
                if let Ok(v) = HeaderValue::from_str(&format!("Basic realm={realm}")) {
                    res.headers_mut().insert(WWW_AUTHENTICATE, v);
                }
                res
            }
        }
    }
}

/// Oathkeeper's (herodot's) JSON error body.
pub(crate) fn json_error(error: &PipelineError, verbose: bool) -> ErrorResponse {
    let status = error.status();
    let mut body = serde_json::json!({"error": {
        "code": status.as_u16(),
        "status": status.canonical_reason().unwrap_or_default(),
        "message": error.message(),
    }});
    if verbose {
        body["error"]["reason"] = error.message().into();
    }
    let mut res = http::Response::new(body.to_string());
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

/// Pick the handler and answer.
pub(crate) fn respond(
    rule_handlers: &[ErrorHandler],
    fallback: &[ErrorHandler],
    facts: &ErrorFacts<'_>,
    error: &PipelineError,
) -> ErrorResponse {
    let mut chosen: Option<&ErrorHandler> = None;
    for h in rule_handlers {
        if h.responsible(facts, error.kind()) {
            if chosen.is_some() {
                return json_error(
                    &PipelineError::internal(
                        "found more than one error handler responsible for this request",
                    ),
                    false,
                );
            }
            chosen = Some(h);
        }
    }
    let chosen = chosen.or_else(|| fallback.iter().find(|h| h.responsible(facts, error.kind())));
    match chosen {
        Some(h) => h.handle(facts, error),
        None => json_error(error, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(headers: &HeaderMap) -> ErrorFacts<'_> {
        ErrorFacts {
            headers,
            peer: "10.0.0.1".parse().unwrap(),
            client_ip: "203.0.113.9".parse().unwrap(),
            url: Some("https://app.example/orders?x=1"),
        }
    }

    #[test]
    fn when_conditions_choose_between_json_and_redirect_by_accept() {
        let json_h = ErrorHandler::compile(
            "r",
            "json",
            &json!({"when": [{"request": {"header": {"accept": ["application/json"]}}}]}),
        )
        .unwrap();
        let redirect = ErrorHandler::compile("r", "redirect", &json!({"to": "https://login.example/", "return_to_query_param": "return_to",
            "return_to_origins": ["https://app.example"], "when": [{"error": ["unauthorized"], "request": {"header": {"accept": ["text/*"]}}}]})).unwrap();
        let handlers = [json_h, redirect];
        let mut h = HeaderMap::new();
        h.insert("accept", "text/html".parse().unwrap());
        let res = respond(&handlers, &[], &facts(&h), &PipelineError::unauthorized());
        assert_eq!(res.status(), 302);
        assert_eq!(
            res.headers()["location"],
            "https://login.example/?return_to=https%3A%2F%2Fapp.example%2Forders%3Fx%3D1"
        );
        // A 403 is not the redirect's: no rule-level handler, so the fallback (json) answers.
        let res = respond(&handlers, &[], &facts(&h), &PipelineError::forbidden());
        assert_eq!(res.status(), 403);
        assert!(res.body().contains("\"code\":403"));
        h.insert("accept", "application/json".parse().unwrap());
        let res = respond(&handlers, &[], &facts(&h), &PipelineError::unauthorized());
        assert_eq!(res.status(), 401);
    }

    #[test]
    fn open_redirect_through_return_to_is_refused_for_origins_not_allow_listed() {
        let r = ErrorHandler::compile(
            "r",
            "redirect",
            &json!({"to": "https://login.example/", "return_to_query_param": "return_to"}),
        )
        .unwrap();
        let h = HeaderMap::new();
        let res = respond(&[r], &[], &facts(&h), &PipelineError::unauthorized());
        assert_eq!(res.headers()["location"], "https://login.example/");
    }

    #[test]
    fn the_remote_ip_condition_believes_forwarded_for_only_through_trusted_proxies() {
        let h = ErrorHandler::compile("r", "www_authenticate", &json!({"when": [{"request": {"remote_ip": {"match": ["203.0.113.0/24"], "respect_forwarded_for_header": true}}}]})).unwrap();
        let headers = HeaderMap::new();
        let res = respond(
            std::slice::from_ref(&h),
            &[],
            &facts(&headers),
            &PipelineError::unauthorized(),
        );
        assert_eq!(
            res.headers()["www-authenticate"],
            "Basic realm=Please authenticate."
        );
        let mut untrusted = facts(&headers);
        untrusted.client_ip = untrusted.peer; // what client_ip is when the peer is not trusted
        let res = respond(&[h], &[], &untrusted, &PipelineError::unauthorized());
        assert_eq!(res.status(), 401);
        assert!(res.headers().get("www-authenticate").is_none());
    }

    #[test]
    fn two_responsible_rule_handlers_are_a_500() {
        let a = ErrorHandler::compile("r", "json", &json!({})).unwrap();
        let res = respond(
            &[a.clone(), a],
            &[],
            &facts(&HeaderMap::new()),
            &PipelineError::unauthorized(),
        );
        assert_eq!(res.status(), 500);
    }
}
