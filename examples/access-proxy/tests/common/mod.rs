//! Starting access-proxy on loopback, and raw HTTP/1.1 requests (hostile paths must reach the
//! server byte for byte, which URL-normalising clients do not allow).
#![allow(dead_code, unreachable_pub)]

use access_proxy::{App, Config};
use iam_service::Env;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A running access-proxy.
pub struct Running {
    pub proxy: SocketAddr,
    pub api: SocketAddr,
    pub app: App,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Start on two free ports with this config document and environment.
pub async fn start(doc: serde_json::Value, env: Env) -> Running {
    let config = Config::from_document(&doc, &env).unwrap();
    let app = App::new(config).await.unwrap();
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (proxy, api) = (
        proxy_listener.local_addr().unwrap(),
        api_listener.local_addr().unwrap(),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_proxy, stop_api) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = rx.await;
        let _ = stop_proxy.send(true);
    });
    let a = app.clone();
    let mut s1 = stop_api.clone();
    tokio::spawn(async move {
        a.serve_proxy(proxy_listener, async move {
            let _ = s1.wait_for(|s| *s).await;
        })
        .await
    });
    let router = app.api_router();
    let mut s2 = stop_api;
    tokio::spawn(async move {
        iam_service::serve_listeners(api_listener, router, None, async move {
            let _ = s2.wait_for(|s| *s).await;
        })
        .await
    });
    Running {
        proxy,
        api,
        app,
        _stop: tx,
    }
}

/// A response read raw.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Send `head` (request line and headers, without the final blank line) with
/// `Connection: close` and read the whole answer.
pub async fn raw(addr: SocketAddr, head: &str) -> RawResponse {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{}\r\nConnection: close\r\n\r\n",
        head.trim_end()
            .replace('\n', "\r\n")
            .replace("\r\r\n", "\r\n")
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Write `rules` (JSON) to a fresh directory and return it with its `file://` location.
pub fn rules_dir(rules: &serde_json::Value) -> (iam_testkit::scratch::TempDir, String) {
    let dir = iam_testkit::scratch::TempDir::new();
    std::fs::write(dir.path().join("rules.json"), rules.to_string()).unwrap();
    let loc = format!("file://{}", dir.path().display());
    (dir, loc)
}
