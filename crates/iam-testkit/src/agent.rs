//! A user agent for redirect-driven flows (OAuth2 authorization code through Hydra): it keeps
//! the cookies it is given and never follows a redirect by itself, so a test can stop at the
//! login, consent or callback step and act there.
//!
//! ```no_run
//! # async fn run() {
//! let mut agent = iam_testkit::agent::RedirectAgent::new();
//! let login_page = agent.visit("http://127.0.0.1:4444/oauth2/auth?client_id=web").await;
//! # let _ = login_page;
//! # }
//! ```
//!
//! # Caveats
//! Test code: a request that fails or an answer that is not a redirect panics with the URL,
//! the status and the body.
use std::collections::HashMap;

/// Keeps cookies by name; answers each visit with the redirect's `Location`.
#[derive(Debug)]
pub struct RedirectAgent {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Default for RedirectAgent {
    fn default() -> Self {
        Self::new()
    }
}

impl RedirectAgent {
    /// An agent without cookies.
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a reqwest client without TLS settings builds"),
            cookies: HashMap::new(),
        }
    }

    /// GET `url` with the cookies kept so far, keep the ones it sets, and answer the
    /// `Location` of its redirect (panics when it does not redirect).
    pub async fn visit(&mut self, url: &str) -> String {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut req = self.http.get(url);
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        for c in res.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.trim().into(), v.trim().into());
            }
        }
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        match location {
            Some(l) if (300..400).contains(&status) => l,
            _ => panic!(
                "{url} answered {status} without a redirect: {}",
                res.text().await.unwrap_or_default()
            ),
        }
    }
}
