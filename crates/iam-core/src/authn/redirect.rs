//! Sending browsers to the login UI instead of answering 401 / 403.
use super::{AuthError, AuthErrorKind, RequestView};
use http::header::{ACCEPT, CACHE_CONTROL, LOCATION};
use http::{Response, StatusCode};

/// Where a browser goes when a page needs a login (401) or a stronger login (403
/// `insufficient_user_authentication`): `303 See Other` to the login URL with a `return_to`.
///
/// `return_to` is never taken from the request's `Host` or from a query parameter: it is the
/// configured public base URL plus the request's path and query, so a redirect can only ever
/// lead back to this application (an open redirect is impossible by construction). API
/// clients (no `text/html` in `Accept`, not a `Sec-Fetch-Mode: navigate`) keep getting the
/// RFC 6750 answers.
///
/// ```
/// use iam_core::authn::{AuthError, BrowserRedirect, RequestView};
/// let r = BrowserRedirect::new("https://auth.example.com/login", "https://app.example.com")
///     .unwrap()
///     .step_up_url("https://auth.example.com/login?aal=aal2");
/// let req = http::Request::get("/orders?page=2").header("accept", "text/html").body(()).unwrap();
/// let res = r.response(&AuthError::missing_credential(), &RequestView::from_request(&req)).unwrap();
/// assert_eq!(res.status(), 303);
/// assert_eq!(res.headers()["location"],
///     "https://auth.example.com/login?return_to=https%3A%2F%2Fapp.example.com%2Forders%3Fpage%3D2");
/// ```
#[derive(Debug, Clone)]
pub struct BrowserRedirect {
    login: String,
    step_up: Option<String>,
    base: String,
}

/// A redirect that cannot be configured as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "redirect URLs must be absolute http(s) URLs without a fragment; the base has no path or query"
)]
pub struct RedirectConfigError;

fn absolute(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    !host.is_empty() && !url.contains('#') && url.bytes().all(|b| b.is_ascii_graphic())
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl BrowserRedirect {
    /// Send browsers to `login_url` (Kratos's `/self-service/login/browser`, or your UI's
    /// login page), with `return_to` built on `public_base` (this app's origin, e.g.
    /// `https://app.example.com`).
    pub fn new(login_url: &str, public_base: &str) -> Result<Self, RedirectConfigError> {
        let base = public_base.trim_end_matches('/');
        let origin_only = base
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.contains(['/', '?']));
        if !absolute(login_url) || !absolute(base) || !origin_only {
            return Err(RedirectConfigError);
        }
        Ok(Self {
            login: login_url.to_owned(),
            step_up: None,
            base: base.to_owned(),
        })
    }

    /// Where a session below the required assurance level goes (default: the login URL),
    /// e.g. Kratos's `/self-service/login/browser?aal=aal2`.
    pub fn step_up_url(mut self, url: &str) -> Self {
        if absolute(url) {
            self.step_up = Some(url.to_owned());
        }
        self
    }

    /// True for a top-level browser navigation.
    pub fn is_browser(request: &RequestView<'_>) -> bool {
        let h = request.headers();
        if h.get("sec-fetch-mode")
            .is_some_and(|v| v.as_bytes() == b"navigate")
        {
            return true;
        }
        h.get_all(ACCEPT).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().starts_with("text/html")))
        })
    }

    /// The redirect for this refusal, or `None` (not a browser, or not a login matter: a
    /// bad request, a missing scope, an outage keep their own answers).
    pub fn response(
        &self,
        error: &AuthError,
        request: &RequestView<'_>,
    ) -> Option<Response<String>> {
        let target = match error.kind() {
            AuthErrorKind::MissingCredential | AuthErrorKind::InvalidCredential => &self.login,
            AuthErrorKind::InsufficientAssurance { .. } => {
                self.step_up.as_ref().unwrap_or(&self.login)
            }
            _ => return None,
        };
        if !Self::is_browser(request) {
            return None;
        }
        // Only an origin-relative path: "//evil.example" or a backslash would let a browser
        // read it as another host.
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let path = if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') {
            path
        } else {
            "/"
        };
        let sep = if target.contains('?') { '&' } else { '?' };
        let location = format!(
            "{target}{sep}return_to={}",
            encode(&format!("{}{path}", self.base))
        );
        Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(LOCATION, location)
            .header(CACHE_CONTROL, "no-store")
            .body(String::new())
            .ok()
    }
}
