//! The `remote` (and `remote_json`) authorizer against the real Ory Oathkeeper v0.40.9: one remote authorizer
//! test server and one upstream per proxy, the same rules; the same status, the same body
//! and headers at the remote, the same body and identity headers upstream. Where Oathkeeper
//! has no bound (a huge body is buffered whole, a trickled body is waited for), the rows
//! assert our bounded answer and name the class.
mod common;

use common::start;
use iam_service::Env;
use iam_testkit::peers::oathkeeper;
use iam_testkit::{LoopbackServer, RecordedRequest, Reply};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Our body limit in this test (the default is 1 MiB) and the body timeout.
fn env(name: &str) -> Option<String> {
    match name {
        "ACCESS_PROXY_REQUEST_BODY_LIMIT" => Some("65536".into()),
        "ACCESS_PROXY_REQUEST_BODY_TIMEOUT" => Some("1".into()),
        _ => None,
    }
}

/// The remote authorizer: 403 when the body asks for it, 500 on "error", 200 after 3 s on
/// "slow", else 200 with a header naming the body's length (forwarded upstream by the rule).
fn remote_decision(req: &RecordedRequest) -> Reply {
    let body = String::from_utf8_lossy(&req.body);
    if body.contains("deny") {
        Reply::status(403)
    } else if body.contains("error") {
        Reply::status(500)
    } else if body.contains("slow") {
        Reply::status(200).delayed(Duration::from_secs(3))
    } else {
        Reply::status(200).header("x-decision", &format!("allow-{}", req.body.len()))
    }
}

fn rules(remote: &str, down: &str, upstream: &str) -> Value {
    json!([
        {"id": "remote", "match": {"url": "http://app.example/remote/<.*>", "methods": ["GET", "POST", "PUT"]},
         "authenticators": [{"handler": "anonymous"}],
         "authorizer": {"handler": "remote", "config": {"remote": remote,
            "headers": {"X-Subject": "{{ print .Subject }}", "X-Method": "{{ print .MatchContext.Method }}",
                "X-Empty": "{{ print .Extra.missing }}"},
            "forward_response_headers_to_upstream": ["X-Decision"]}},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}",
            "X-Missing": "{{ print .Extra.missing }}"}}}],
         "upstream": {"url": upstream}},
        {"id": "remote-json", "match": {"url": "http://app.example/json/<.*>", "methods": ["GET", "POST"]},
         "authenticators": [{"handler": "noop"}],
         "authorizer": {"handler": "remote_json", "config": {"remote": remote,
            "payload": "{\"subject\": \"{{ print .Subject }}\", \"path\": \"{{ print .MatchContext.URL.Path }}\"}",
            "headers": {"X-Subject": "{{ print .Subject }}"},
            "forward_response_headers_to_upstream": ["X-Decision"]}},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
         "upstream": {"url": upstream}},
        {"id": "remote-down", "match": {"url": "http://app.example/down/<.*>", "methods": ["POST"]},
         "authenticators": [{"handler": "anonymous"}],
         "authorizer": {"handler": "remote", "config": {"remote": down}},
         "mutators": [{"handler": "noop"}],
         "upstream": {"url": upstream}}
    ])
}

fn config() -> Value {
    json!({
        "access_rules": {"matching_strategy": "regexp"},
        "authenticators": {"anonymous": {"enabled": true, "config": {"subject": "guest"}}, "noop": {"enabled": true}},
        "authorizers": {"remote": {"enabled": true, "config": {"remote": "http://127.0.0.1:9/"}},
            "remote_json": {"enabled": true, "config": {"remote": "http://127.0.0.1:9/", "payload": "{}"}}},
        "mutators": {"noop": {"enabled": true}, "header": {"enabled": true, "config": {"headers": {}}}},
        "errors": {"fallback": ["json"], "handlers": {"json": {"enabled": true, "config": {}}}}
    })
}

struct Side {
    proxy: SocketAddr,
    api: SocketAddr,
    remote: LoopbackServer,
    upstream: LoopbackServer,
}

/// What came back: the status (`None`: no answer within 20 s), and the time it took.
struct Answer {
    status: Option<u16>,
    took: Duration,
}

/// How the body is sent.
#[derive(Clone, Copy, Debug)]
enum Send {
    /// All of it, with its `Content-Length`.
    Whole,
    /// `Content-Length` of the whole body, then 10 bytes, then nothing (the connection stays
    /// open).
    Stalled,
}

async fn send(side: &Side, method: &str, path: &str, body: &[u8], how: Send) -> Answer {
    send_to(side, side.proxy, method, path, body, how).await
}

async fn send_with(
    side: &Side,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    authorization: Option<&str>,
) -> Answer {
    send_to_as(side, addr, method, path, body, Send::Whole, authorization).await
}

async fn send_to(
    side: &Side,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    how: Send,
) -> Answer {
    send_to_as(side, addr, method, path, body, how, None).await
}

async fn send_to_as(
    side: &Side,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    how: Send,
    authorization: Option<&str>,
) -> Answer {
    side.remote.clear();
    side.upstream.clear();
    let started = Instant::now();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let authorization = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: app.example\r\nContent-Type: text/plain\r\n{authorization}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let body = body.to_vec();
    // Write while reading: a proxy may answer (413) before the body is all sent.
    let writer = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
        match how {
            Send::Whole => {
                let _ = write.write_all(&body).await;
            }
            Send::Stalled => {
                let _ = write.write_all(&body[..10]).await;
            }
        }
        // Keep the connection open (a stalled client never finishes).
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(write);
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, read.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    Answer {
        status,
        took: started.elapsed(),
    }
}

fn header<'a>(r: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    r.header(name)
}

#[tokio::test]
#[ignore = "needs oathkeeper: scripts/test"]
async fn the_remote_authorizer_gets_oathkeepers_answers_and_bounds_the_body() {
    // A port nothing listens on.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/authorize", l.local_addr().unwrap())
    };
    let their_remote = LoopbackServer::start(remote_decision).await;
    let their_upstream = LoopbackServer::start(|_| Reply::text(200, "upstream")).await;
    let our_remote = LoopbackServer::start(remote_decision).await;
    let our_upstream = LoopbackServer::start(|_| Reply::text(200, "upstream")).await;

    let ok = oathkeeper::start(
        config(),
        &[(
            "rules.json",
            rules(
                &their_remote.url("/authorize"),
                &down,
                &their_upstream.url("/"),
            )
            .to_string(),
        )],
    )
    .await;
    let (_dir, loc) = common::rules_dir(&rules(
        &our_remote.url("/authorize"),
        &down,
        &our_upstream.url("/"),
    ));
    let mut doc = config();
    doc["access_rules"]["repositories"] = json!([loc]);
    let ours = start(doc, Env::with_lookup("ACCESS_PROXY_", env)).await;

    let oathkeeper = Side {
        proxy: ([127, 0, 0, 1], ok.proxy).into(),
        api: ([127, 0, 0, 1], ok.api).into(),
        remote: their_remote,
        upstream: their_upstream,
    };
    let access_proxy = Side {
        proxy: ours.proxy,
        api: ours.api,
        remote: our_remote,
        upstream: our_upstream,
    };

    // Same answers, same remote call, same upstream request.
    let same: [(&str, &str, &[u8]); 6] = [
        ("POST", "/remote/a", b"hello remote"),
        ("PUT", "/remote/a?x=1", b"{\"json\": true}"),
        ("GET", "/remote/a", b""),
        ("POST", "/remote/a", b"please deny this"),
        ("POST", "/remote/a", b"an error please"),
        ("POST", "/remote/a", &[0xff, 0x00, 0xfe, b'\n', b'x']),
    ];
    let mut report = Vec::new();
    for (method, path, body) in same {
        let theirs = send(&oathkeeper, method, path, body, Send::Whole).await;
        let (their_calls, their_forwards) =
            (oathkeeper.remote.requests(), oathkeeper.upstream.requests());
        let mine = send(&access_proxy, method, path, body, Send::Whole).await;
        let (my_calls, my_forwards) = (
            access_proxy.remote.requests(),
            access_proxy.upstream.requests(),
        );
        let row = format!("{method} {path} {:?}", String::from_utf8_lossy(body));
        assert_eq!(mine.status, theirs.status, "{row}");
        assert!(mine.status.is_some(), "{row}: no answer");
        assert_eq!(my_calls.len(), 1, "{row}: one remote call");
        // Oathkeeper retries a 5xx answer until `give_up_after`: at least one call.
        assert!(!their_calls.is_empty(), "{row}: a remote call (oathkeeper)");
        let (m, t) = (&my_calls[0], &their_calls[0]);
        assert_eq!(m.method, t.method, "{row}");
        assert_eq!(m.body, t.body, "{row}: the remote sees the request body");
        assert_eq!(m.body.as_ref(), body, "{row}");
        for name in [
            "x-subject",
            "x-method",
            "x-empty",
            "content-type",
            "authorization",
        ] {
            assert_eq!(
                header(m, name),
                header(t, name),
                "{row}: remote header {name}"
            );
        }
        assert_eq!(my_forwards.len(), their_forwards.len(), "{row}");
        if let (Some(m), Some(t)) = (my_forwards.first(), their_forwards.first()) {
            assert_eq!(m.body, t.body, "{row}: the same bytes go upstream");
            assert_eq!(m.body.as_ref(), body, "{row}");
            // `print` of a missing key is "" in Oathkeeper's templates (a header sent empty).
            assert_eq!(header(m, "x-missing"), Some(""), "{row}");
            for name in ["x-user", "x-decision", "x-missing"] {
                assert_eq!(header(m, name), header(t, name), "{row}: upstream {name}");
            }
            assert_eq!(
                header(m, "x-decision"),
                Some(format!("allow-{}", body.len()).as_str())
            );
        }
        report.push(format!("same {:?} {row}", mine.status));
    }

    // remote_json (behind `noop`: `anonymous` is not responsible for a request with an
    // Authorization header): the rendered payload goes to the remote with the client's
    // Authorization and the templated headers; the client's body streams upstream unread.
    for (method, path, body) in [
        ("POST", "/json/a", &b"client body"[..]),
        ("GET", "/json/deny", b""),
    ] {
        let auth = "Bearer opaque";
        let theirs = send_with(
            &oathkeeper,
            oathkeeper.proxy,
            method,
            path,
            body,
            Some(auth),
        )
        .await;
        let (their_calls, their_forwards) =
            (oathkeeper.remote.requests(), oathkeeper.upstream.requests());
        let mine = send_with(
            &access_proxy,
            access_proxy.proxy,
            method,
            path,
            body,
            Some(auth),
        )
        .await;
        let (my_calls, my_forwards) = (
            access_proxy.remote.requests(),
            access_proxy.upstream.requests(),
        );
        let row = format!("remote_json {method} {path}");
        assert_eq!(mine.status, theirs.status, "{row}");
        assert_eq!(their_calls.len(), 1, "{row}: {:?}", theirs.status);
        assert_eq!(my_calls.len(), 1, "{row}");
        let (m, t) = (&my_calls[0], &their_calls[0]);
        assert_eq!(m.json(), t.json(), "{row}: the payload");
        assert_eq!(m.json()["path"], path, "{row}");
        for name in ["x-subject", "content-type", "authorization"] {
            assert_eq!(
                header(m, name),
                header(t, name),
                "{row}: remote header {name}"
            );
        }
        assert_eq!(header(m, "authorization"), Some(auth), "{row}");
        assert_eq!(my_forwards.len(), their_forwards.len(), "{row}");
        if let (Some(m), Some(t)) = (my_forwards.first(), their_forwards.first()) {
            assert_eq!(m.body.as_ref(), body, "{row}: the client's body upstream");
            assert_eq!(m.body, t.body, "{row}");
            for name in ["x-user", "x-decision"] {
                assert_eq!(header(m, name), header(t, name), "{row}: upstream {name}");
            }
            assert!(
                header(m, "x-decision").is_some_and(|v| v.starts_with("allow-")),
                "{row}"
            );
        }
        report.push(format!("same {:?} {row}", mine.status));
    }

    // /decisions hands the body to the remote too (Traefik does not send one; Envoy can).
    for body in [&b"via decisions"[..], b"deny via decisions"] {
        let theirs = send_to(
            &oathkeeper,
            oathkeeper.api,
            "POST",
            "/decisions/remote/a",
            body,
            Send::Whole,
        )
        .await;
        let their_calls = oathkeeper.remote.requests();
        let mine = send_to(
            &access_proxy,
            access_proxy.api,
            "POST",
            "/decisions/remote/a",
            body,
            Send::Whole,
        )
        .await;
        let my_calls = access_proxy.remote.requests();
        assert_eq!(mine.status, theirs.status, "/decisions {body:?}");
        assert_eq!(my_calls.len(), 1);
        assert_eq!(my_calls[0].body, their_calls[0].body);
        assert_eq!(my_calls[0].body.as_ref(), body);
        report.push(format!(
            "same {:?} POST /decisions/remote/a {:?}",
            mine.status,
            String::from_utf8_lossy(body)
        ));
    }
    let mine = send_to(
        &access_proxy,
        access_proxy.api,
        "POST",
        "/decisions/remote/a",
        &vec![b'c'; 100 * 1024],
        Send::Whole,
    )
    .await;
    assert_eq!(mine.status, Some(413), "/decisions bounds the body too");

    // The remote unreachable: both fail closed; ours says 503 (a dependency is down).
    let theirs = send(&oathkeeper, "POST", "/down/a", b"x", Send::Whole).await;
    let mine = send(&access_proxy, "POST", "/down/a", b"x", Send::Whole).await;
    assert_eq!(mine.status, Some(503));
    assert_eq!(theirs.status, Some(500));
    assert_eq!(access_proxy.upstream.count(), 0);
    assert_eq!(oathkeeper.upstream.count(), 0);
    report.push("divergent 503 (oathkeeper 500) remote authorizer unreachable: fail closed as a dependency outage".into());

    // A remote slower than `retry.give_up_after` (1 s by default): we fail closed at 1 s.
    let theirs = send(
        &oathkeeper,
        "POST",
        "/remote/a",
        b"slow remote",
        Send::Whole,
    )
    .await;
    let mine = send(
        &access_proxy,
        "POST",
        "/remote/a",
        b"slow remote",
        Send::Whole,
    )
    .await;
    assert_eq!(mine.status, Some(503));
    assert!(mine.took < Duration::from_millis(2500), "{:?}", mine.took);
    assert_eq!(access_proxy.upstream.count(), 0);
    report.push(format!(
        "divergent 503 after {:?} (oathkeeper {:?} after {:?}) remote slower than give_up_after: one bounded attempt",
        mine.took, theirs.status, theirs.took
    ));

    // A body past our limit: Oathkeeper buffers it whole (unbounded, CWE-400) and forwards
    // it; we answer 413 and call neither the remote nor the upstream.
    let huge = vec![b'a'; 300 * 1024];
    let theirs = send(&oathkeeper, "POST", "/remote/huge", &huge, Send::Whole).await;
    let mine = send(&access_proxy, "POST", "/remote/huge", &huge, Send::Whole).await;
    assert_eq!(mine.status, Some(413));
    assert_ne!(theirs.status, Some(413), "Oathkeeper now bounds bodies");
    assert_eq!(access_proxy.remote.count(), 0);
    assert_eq!(access_proxy.upstream.count(), 0);
    report.push(format!(
        "safer 413 (oathkeeper {:?}) 300 KiB body: unbounded request-body buffering (CWE-400)",
        theirs.status
    ));

    // A trickled body: cut off after our body timeout (1 s here), no hang, nothing called.
    let slow = vec![b'b'; 100];
    let theirs = send(&oathkeeper, "POST", "/remote/slow", &slow, Send::Stalled).await;
    let mine = send(&access_proxy, "POST", "/remote/slow", &slow, Send::Stalled).await;
    assert_eq!(mine.status, Some(408));
    assert!(mine.took < Duration::from_secs(5), "{:?}", mine.took);
    assert_eq!(access_proxy.upstream.count(), 0);
    assert_eq!(oathkeeper.upstream.count(), 0);
    report.push(format!(
        "safer 408 after {:?} (oathkeeper {:?} after {:?}) stalled body: slow request body (slowloris class, CWE-400)",
        mine.took, theirs.status, theirs.took
    ));
    println!("{}", report.join("\n"));
}
