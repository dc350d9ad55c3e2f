//! Introspection against a server that answers badly: never a pass, never a panic.
use iam_client::{HttpClient, Introspection};
use iam_core::authn::{AuthChain, Authenticator, RequestView};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server that answers every request with `status` and `body`.
async fn serve(status: u16, body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = conn.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
            });
        }
    });
    url
}

async fn status(url: &str) -> u16 {
    let intro = Introspection::builder(url, "rs", "secret")
        .build(HttpClient::new().unwrap())
        .unwrap();
    let chain = AuthChain::new().with(intro);
    let req = http::Request::get("/")
        .header("authorization", "Bearer opaque-token-123")
        .body(())
        .unwrap();
    match chain.authenticate(&RequestView::from_request(&req)).await {
        Ok(Some(_)) => 200,
        Ok(None) => 0,
        Err(e) => e.status().as_u16(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_introspection_answers() {
    let past = 1_000_000_000;
    let cases = [
        ("not JSON", 200, "<html>".to_owned(), 503),
        ("server error", 500, "{}".to_owned(), 503),
        (
            "active as a string",
            200,
            r#"{"active":"true","sub":"u"}"#.to_owned(),
            401,
        ),
        ("active missing", 200, r#"{"sub":"u"}"#.to_owned(), 401),
        (
            "active but expired",
            200,
            format!(r#"{{"active":true,"sub":"u","exp":{past}}}"#),
            401,
        ),
        (
            "active without any subject",
            200,
            r#"{"active":true}"#.to_owned(),
            401,
        ),
        (
            "two-megabyte answer",
            200,
            format!(
                r#"{{"active":true,"sub":"u","pad":"{}"}}"#,
                "x".repeat(2 << 20)
            ),
            503,
        ),
        (
            "active",
            200,
            r#"{"active":true,"sub":"u","scope":"a b"}"#.to_owned(),
            200,
        ),
    ];
    let mut failures = Vec::new();
    for (name, code, body, want) in cases {
        let got = status(&serve(code, body).await).await;
        if got != want {
            failures.push(format!("{name}: {got}, expected {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
