//! A cached Kratos session check, as a ratio to a JWT cache hit measured in the same run:
//! both through `Authenticator::authenticate` on a request view (cookie vs bearer), after one
//! warm-up call each.
mod common;

use iam_client::KratosSessions;

const SESSION: &str = r#"{"id":"sess-1","active":true,"expires_at":"2999-01-01T00:00:00Z","authenticated_at":"2026-01-01T00:00:00Z","authenticator_assurance_level":"aal1","authentication_methods":[{"method":"password","aal":"aal1"}],"identity":{"id":"ident-1","schema_id":"default","schema_url":"x","traits":{"email":"a@example.com"},"metadata_public":{"roles":["dev"],"tenant":"acme"}}}"#;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let kratos = common::serve_fixed(&rt, &[], SESSION);
    let sessions = KratosSessions::builder(kratos.url(""))
        .build()
        .expect("kratos");
    let req = http::Request::get("/me")
        .header("cookie", "theme=dark; ory_kratos_session=MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQV8tUT18c2Vzc2lvbi1jb29raWUtdmFsdWU; _ga=GA1.2.3")
        .body(())
        .expect("request");
    common::warm(&rt, &sessions, &req);
    common::compare(
        &rt,
        "sessions",
        ("kratos_session_cached", "Kratos session cookie, cached"),
        (&sessions, &req),
    );
    assert_eq!(
        sessions.stats().whoami_calls,
        1,
        "the benchmark must not have called Kratos again"
    );
}
