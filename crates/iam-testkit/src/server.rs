//! One scripted loopback HTTP server with a request log.
//!
//! A test gives it a closure from the recorded request to a [`Reply`]; the server answers
//! every request with it and keeps the request, so the test can assert what reached the
//! peer (how many JWKS fetches, which cookie went to Kratos, which headers went upstream).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use iam_testkit::{LoopbackServer, Reply};
//! let server = LoopbackServer::start(|req| {
//!     if req.path() == "/jwks.json" { Reply::json(200, &serde_json::json!({"keys": []})) }
//!     else { Reply::status(404) }
//! }).await;
//! let url = server.url("/jwks.json");
//! assert!(url.starts_with("http://127.0.0.1:"));
//! assert_eq!(server.count(), 0);
//! # }
//! ```
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The method.
    pub method: http::Method,
    /// The request target as sent (path and query, not normalised).
    pub uri: http::Uri,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The path, as sent.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// A header's value as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body parsed as `application/x-www-form-urlencoded` pairs (percent-decoded).
    pub fn form(&self) -> Vec<(String, String)> {
        String::from_utf8_lossy(&self.body)
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(k), form_decode(v))
            })
            .collect()
    }
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Wait this long before answering (a slow peer).
    pub delay: Duration,
}

impl Reply {
    /// An empty answer with this status.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// A JSON answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// A text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::status(status)
            .header("content-type", "text/plain")
            .body(body.into())
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Answer after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(&RecordedRequest) -> Reply + Send + Sync;

/// A loopback HTTP/1.1 server on an ephemeral port; stops when dropped.
pub struct LoopbackServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<RecordedRequest>>>,
    task: tokio::task::AbortHandle,
}

impl std::fmt::Debug for LoopbackServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LoopbackServer {
    /// Bind `127.0.0.1:0` and answer every request with `handler`.
    pub async fn start<F>(handler: F) -> Self
    where
        F: Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    {
        let (server, _task) = Self::spawn(handler).await;
        server
    }

    /// [`start`](Self::start) for a synchronous test: the server runs on a thread of its own
    /// (with its own runtime) until dropped.
    pub fn start_blocking<F>(handler: F) -> Self
    where
        F: Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (server, task) = Self::spawn(handler).await;
                tx.send(server).unwrap();
                // Until the server is dropped (which aborts the task).
                let _ = task.await;
            });
        });
        rx.recv().unwrap()
    }

    async fn spawn<F>(handler: F) -> (Self, tokio::task::JoinHandle<()>)
    where
        F: Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let task_log = Arc::clone(&log);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, handler) = (Arc::clone(&task_log), Arc::clone(&handler));
                tokio::spawn(async move {
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (log, handler) = (Arc::clone(&log), Arc::clone(&handler));
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let recorded = RecordedRequest {
                                method: parts.method,
                                uri: parts.uri,
                                headers: parts.headers,
                                body,
                            };
                            let reply = handler(&recorded);
                            log.lock().unwrap().push(recorded);
                            if !reply.delay.is_zero() {
                                tokio::time::sleep(reply.delay).await;
                            }
                            let mut response = http::Response::builder().status(reply.status);
                            for (name, value) in &reply.headers {
                                response = response.header(name, value);
                            }
                            Ok::<_, std::convert::Infallible>(
                                response.body(Full::new(Bytes::from(reply.body))).unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let server = Self {
            addr,
            log,
            task: task.abort_handle(),
        };
        (server, task)
    }

    /// A server that answers every request with the same reply.
    pub async fn fixed(reply: Reply) -> Self {
        Self::start(move |_| reply.clone()).await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests were received.
    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// How many requests were received for this path.
    pub fn count_path(&self, path: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path() == path)
            .count()
    }

    /// Forget the requests received so far.
    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn raw(addr: SocketAddr, request: &str) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        conn.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn the_server_answers_with_the_script_and_logs_the_request() {
        let server = LoopbackServer::start(|req| {
            Reply::json(201, &serde_json::json!({"path": req.path()})).header("x-a", "1")
        })
        .await;
        let answer = raw(
            server.addr(),
            "POST /p%2e?q=1 HTTP/1.1\r\nhost: x\r\ncontent-length: 8\r\nconnection: close\r\n\r\na=b+c%21",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        assert!(answer.contains("x-a: 1"));
        assert!(answer.ends_with(r#"{"path":"/p%2e"}"#), "{answer}");
        let log = server.requests();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].method, http::Method::POST);
        assert_eq!(log[0].query(), Some("q=1"));
        assert_eq!(log[0].form(), [("a".to_owned(), "b c!".to_owned())]);
        assert_eq!(server.count_path("/p%2e"), 1);
    }
}
