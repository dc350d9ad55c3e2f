//! Load comparison: access-proxy vs Ory Oathkeeper, side by side on loopback, same rules,
//! same upstream, same driver. Prints requests/s, p50/p99 latency and RSS per scenario:
//! `noop` pass-through, `jwt` with a repeated token and a `header` mutator, and
//! `cookie_session` with the real Kratos behind both (access-proxy answers repeated sessions
//! from its cache; Oathkeeper asks Kratos' whoami on every request).
//!
//! ```sh
//! cargo build --release -p access-proxy --bins --examples
//! target/release/examples/load           # LOAD_SECONDS=5 LOAD_CONCURRENCY=32
//! ```
//! Needs `scripts/peers build oathkeeper` and `scripts/peers build kratos`.
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::server::conn::http1 as server_http1;
use hyper_util::rt::TokioIo;
use iam_testkit::keys::{claims_now, rs256, token, AUD, ISS};
use serde_json::json;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback HTTP server answering every request with `body`.
async fn serve_fixed(body: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| async move {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(body.as_bytes()),
                    )))
                });
                let _ = server_http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_ready(url: &str) {
    for _ in 0..300 {
        if let Ok(s) = get_status(url).await {
            if s == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never became ready");
}

async fn get_status(url: &str) -> Result<u16, Box<dyn std::error::Error>> {
    let uri: hyper::Uri = url.parse()?;
    let addr = format!("{}:{}", uri.host().unwrap(), uri.port_u16().unwrap());
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get(uri.path())
        .header("host", "x")
        .body(Empty::<Bytes>::new())?;
    Ok(tx.send_request(req).await?.status().as_u16())
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Request headers of a scenario.
type Headers = Vec<(&'static str, String)>;

struct Outcome {
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    errors: u64,
}

/// `concurrency` keep-alive connections sending `path` with `headers` for `seconds`.
async fn drive(
    addr: SocketAddr,
    path: &str,
    headers: Headers,
    concurrency: usize,
    seconds: u64,
) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let path = path.to_owned();
        let headers = headers.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            while Instant::now() < deadline {
                let mut req = hyper::Request::get(path.as_str()).header("host", "bench.local");
                for (k, v) in &headers {
                    req = req.header(*k, v.as_str());
                }
                let req = req.body(Empty::<Bytes>::new()).unwrap();
                let start = Instant::now();
                match tx.send_request(req).await {
                    Ok(res) => {
                        let ok = res.status() == 200;
                        let _ = res.into_body().collect().await;
                        latencies.push(start.elapsed().as_micros() as u64);
                        if !ok {
                            errors += 1;
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Outcome {
        rps: all.len() as f64 / seconds as f64,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        errors,
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let concurrency: usize = std::env::var("LOAD_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let upstream = serve_fixed("ok").await;
    let jwks_body: &'static str =
        Box::leak(iam_testkit::keys::jwks_json().to_string().into_boxed_str());
    let jwks = serve_fixed(jwks_body).await;
    let kratos = iam_testkit::peers::kratos::Kratos::start().await;
    let (email, password) = ("load@example.org", "correct horse battery staple 42");
    kratos.create_identity(email, password).await;
    let cookie = kratos.session_cookie(email, password).await;
    let whoami = kratos.whoami_url();
    let dir = iam_testkit::scratch::TempDir::new();
    let rules = json!([
        {"id": "noop", "match": {"url": "http://bench.local/noop/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "noop"}], "upstream": {"url": format!("http://{upstream}")}},
        {"id": "jwt", "match": {"url": "http://bench.local/jwt/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "jwt"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
         "upstream": {"url": format!("http://{upstream}")}},
        {"id": "session", "match": {"url": "http://bench.local/session/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "cookie_session"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
         "upstream": {"url": format!("http://{upstream}")}}
    ]);
    std::fs::write(dir.path().join("rules.json"), rules.to_string()).unwrap();
    let config = |proxy: u16, api: u16| {
        json!({
            "serve": {"proxy": {"host": "127.0.0.1", "port": proxy}, "api": {"host": "127.0.0.1", "port": api}},
            "access_rules": {"repositories": [format!("file://{}/rules.json", dir.path().display())]},
            "authenticators": {"noop": {"enabled": true},
                "jwt": {"enabled": true, "config": {"jwks_urls": [format!("http://{jwks}/jwks")], "trusted_issuers": [ISS], "target_audience": [AUD]}},
                "cookie_session": {"enabled": true, "config": {"check_session_url": whoami, "preserve_path": true, "subject_from": "identity.id"}}},
            "authorizers": {"allow": {"enabled": true}},
            "mutators": {"noop": {"enabled": true}, "header": {"enabled": true, "config": {"headers": {}}}},
            "errors": {"fallback": ["json"], "handlers": {"json": {"enabled": true}}},
            "log": {"level": "error"}
        })
    };
    let (ok_proxy, ok_api, ap_proxy, ap_api) = (free_port(), free_port(), free_port(), free_port());
    let ok_config = dir.path().join("oathkeeper.yaml");
    std::fs::write(&ok_config, config(ok_proxy, ok_api).to_string()).unwrap();
    let ap_config = dir.path().join("access-proxy.yaml");
    std::fs::write(&ap_config, config(ap_proxy, ap_api).to_string()).unwrap();

    let oathkeeper = Killed(
        Command::new(iam_testkit::peers::binary("oathkeeper"))
            .args(["serve", "--config", ok_config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("access-proxy");
    let access_proxy = Killed(
        Command::new(&bin)
            .env("ACCESS_PROXY_CONFIG", &ap_config)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (cargo build --release -p access-proxy --bins)",
                    bin.display()
                )
            }),
    );
    wait_ready(&format!("http://127.0.0.1:{ok_api}/health/ready")).await;
    wait_ready(&format!("http://127.0.0.1:{ap_api}/health/ready")).await;

    let jwt = token("RS256", "rsa-1", &claims_now(), rs256());
    let scenarios: Vec<(&str, &str, Headers)> = vec![
        ("noop pass-through", "/noop/x", vec![]),
        (
            "jwt + header mutator",
            "/jwt/x",
            vec![("authorization", format!("Bearer {jwt}"))],
        ),
        (
            "cookie_session (Kratos) + header mutator",
            "/session/x",
            vec![("cookie", format!("ory_kratos_session={cookie}"))],
        ),
    ];
    println!("concurrency {concurrency}, {seconds} s per run, loopback, same upstream\n");
    println!("| scenario | proxy | requests/s | p50 (µs) | p99 (µs) | RSS after (MiB) | non-200 |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (name, path, headers) in &scenarios {
        for (label, port, pid) in [
            ("Oathkeeper v0.40.9", ok_proxy, oathkeeper.0.id()),
            ("access-proxy", ap_proxy, access_proxy.0.id()),
        ] {
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            // Warm up (key sets fetched, connections pooled).
            drive(addr, path, headers.clone(), 4, 1).await;
            let o = drive(addr, path, headers.clone(), concurrency, seconds).await;
            println!(
                "| {name} | {label} | {:.0} | {} | {} | {:.1} | {} |",
                o.rps,
                o.p50_us,
                o.p99_us,
                rss_kib(pid) as f64 / 1024.0,
                o.errors
            );
        }
    }
}
