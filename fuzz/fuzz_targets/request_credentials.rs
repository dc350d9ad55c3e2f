//! Any header bytes as Authorization / Cookie / X-Session-Token: never a panic.
#![no_main]
use iam_core::authn::RequestView;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let mut req = http::Request::new(());
    for name in ["authorization", "cookie", "x-session-token"] {
        if let Some(v) = parts
            .next()
            .and_then(|v| http::HeaderValue::from_bytes(v).ok())
        {
            req.headers_mut().append(name, v);
        }
    }
    let view = RequestView::from_request(&req);
    let _ = view.bearer_token();
    let _ = view.cookie("ory_kratos_session");
    let _ = view.session_token();
    let _ = view.has_bearer();
});
