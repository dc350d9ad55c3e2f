//! Credential extraction, the authenticator chain and the HTTP answers of `AuthError`.
mod common;

use common::*;
use futures_executor::block_on;
use iam_core::authn::{
    AuthChain, AuthError, AuthErrorKind, Authenticator, JwtAuthenticator, RequestView,
};
use iam_core::jwks::{BoxFuture, JwkSet, KeySource, KeySourceError, StaticKeys};
use iam_core::jwt::Validator;
use iam_core::principal::{Principal, PrincipalKind};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn request(headers: &[(&str, &str)]) -> http::Request<()> {
    let mut b = http::Request::get("/orders?access_token=ignored");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

fn chain() -> AuthChain {
    AuthChain::new().with(JwtAuthenticator::new(
        validator(),
        StaticKeys::new(key_set()),
    ))
}

/// The chain's answer; also checks that whenever the chain answers without waiting
/// (`run_now`, the middleware's fast path), it gives the same answer.
fn outcome(chain: &AuthChain, headers: &[(&str, &str)]) -> Result<Option<Principal>, AuthError> {
    let req = request(headers);
    let view = RequestView::from_request(&req);
    let now = chain.run_now(&view);
    let waited = block_on(chain.authenticate(&view));
    if let Some(now) = &now {
        assert_eq!(
            summary(now),
            summary(&waited),
            "run_now disagrees: {headers:?}"
        );
    }
    waited
}

fn summary(r: &Result<Option<Principal>, AuthError>) -> String {
    match r {
        Ok(p) => format!("ok {:?}", p.as_ref().map(|p| p.subject().to_owned())),
        Err(e) => format!("{} {} {}", e.status(), e.error_code(), e.description()),
    }
}

/// An authenticator that can only answer by waiting (the trait's default `authenticate_now`).
struct Waits;

impl Authenticator for Waits {
    fn authenticate<'a>(
        &'a self,
        _: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async { Ok(None) })
    }
}

#[test]
fn the_chain_answers_without_waiting_only_when_nothing_needs_waiting() {
    let token = sign(&json!({"alg":"ES256","kid":"ec-1"}), &claims(), es256());
    let bearer = format!("Bearer {token}");
    let unknown = format!(
        "Bearer {}",
        sign(&json!({"alg":"ES256","kid":"new"}), &claims(), es256())
    );
    let now = |c: &AuthChain, headers: &[(&str, &str)]| {
        let req = request(headers);
        c.run_now(&RequestView::from_request(&req))
            .map(|r| summary(&r))
    };
    let c = chain();
    assert_eq!(
        now(&c, &[("authorization", &bearer)]).unwrap(),
        "ok Some(\"user-1\")"
    );
    assert_eq!(now(&c, &[]).unwrap(), "ok None");
    assert!(now(&c, &[("authorization", "Bearer a.b.c")])
        .unwrap()
        .starts_with("401"));
    // An unknown kid may need the key set fetched again: wait.
    assert_eq!(now(&c, &[("authorization", &unknown)]), None);
    // An authenticator that cannot answer now, reached: wait (from the start of the chain).
    let mixed = chain().with(Waits);
    assert_eq!(now(&mixed, &[]), None);
    // ... but not reached, because the JWT authenticator decided first.
    assert!(now(&mixed, &[("authorization", &bearer)]).is_some());
    // Keys not cached yet (a source with no cached set): wait.
    let cold = AuthChain::new().with(JwtAuthenticator::new(
        validator(),
        Arc::new(FlakySource {
            current: Mutex::new(Some(Arc::new(key_set()))),
            next: Mutex::new(None),
            refreshes: AtomicUsize::new(0),
        }),
    ));
    assert_eq!(now(&cold, &[("authorization", &bearer)]), None);
    assert!(outcome(&cold, &[("authorization", &bearer)])
        .unwrap()
        .is_some());
}

#[test]
fn bearer_extraction_rules() {
    let token = sign(&json!({"alg":"ES256","kid":"ec-1"}), &claims(), es256());
    let c = chain();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let p = outcome(&c, &[("authorization", &format!("{scheme} {token}"))])
            .unwrap()
            .unwrap();
        assert_eq!(p.subject(), "user-1", "{scheme}");
    }
    // No credential at all (a token in the query string does not count).
    assert!(outcome(&c, &[]).unwrap().is_none());
    // Another scheme is not ours.
    assert!(outcome(&c, &[("authorization", "Basic dXNlcjpwYXNz")])
        .unwrap()
        .is_none());
    // Two Authorization headers.
    let err = outcome(
        &c,
        &[
            ("authorization", &format!("Bearer {token}")),
            ("authorization", &format!("Bearer {token}")),
        ],
    )
    .unwrap_err();
    assert_eq!(err.kind(), &AuthErrorKind::InvalidRequest);
    assert_eq!(err.status(), 400);
    // Bearer without a token, or with characters outside b64token.
    for bad in [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer <script>",
        "Bearer ====",
    ] {
        let err = outcome(&c, &[("authorization", bad)]).unwrap_err();
        assert_eq!(err.kind(), &AuthErrorKind::InvalidCredential, "{bad:?}");
    }
    // A bearer that is not shaped like a JWT, with no authenticator for it.
    let err = outcome(&c, &[("authorization", "Bearer ory_st_abcdef")]).unwrap_err();
    assert_eq!(err.description(), "bearer token not recognised");
    // Non-ASCII header bytes.
    let mut req = request(&[]);
    req.headers_mut().insert(
        "authorization",
        http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
    );
    let err = block_on(c.authenticate(&RequestView::from_request(&req))).unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn cookie_and_header_credentials() {
    let req = request(&[
        ("cookie", "a=1; ory_kratos_session=abc; b=2"),
        ("x-session-token", "ory_st_x"),
    ]);
    let view = RequestView::from_request(&req);
    assert_eq!(view.cookie("ory_kratos_session").unwrap(), Some("abc"));
    assert_eq!(view.cookie("missing").unwrap(), None);
    assert_eq!(view.session_token().unwrap(), Some("ory_st_x"));
    // The same cookie twice (cookie tossing) is refused rather than guessed.
    let req = request(&[
        ("cookie", "ory_kratos_session=a"),
        ("cookie", "ory_kratos_session=b"),
    ]);
    assert_eq!(
        RequestView::from_request(&req)
            .cookie("ory_kratos_session")
            .unwrap_err()
            .status(),
        400
    );
    let req = request(&[("x-api-key", "k1"), ("x-api-key", "k2")]);
    let name = http::HeaderName::from_static("x-api-key");
    assert_eq!(
        RequestView::from_request(&req)
            .header_credential(&name)
            .unwrap_err()
            .status(),
        400
    );
}

#[test]
fn http_answers() {
    let missing = AuthError::missing_credential();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.www_authenticate().unwrap(), "Bearer");
    let res = missing.to_response();
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = serde_json::from_str(res.body()).unwrap();
    assert_eq!(body["error"], "unauthorized");

    let invalid: AuthError = validator()
        .validate(
            &sign(
                &json!({"alg":"ES256","kid":"ec-1"}),
                &json!({"exp": NOW - 1000}),
                es256(),
            ),
            &key_set(),
        )
        .unwrap_err()
        .into();
    assert_eq!(invalid.status(), 401);
    assert_eq!(
        invalid.www_authenticate().unwrap(),
        "Bearer error=\"invalid_token\", error_description=\"token expired\""
    );

    let scope = AuthError::insufficient_scope("admin:read");
    assert_eq!(scope.status(), 403);
    assert_eq!(
        scope.www_authenticate().unwrap(),
        "Bearer error=\"insufficient_scope\", error_description=\"the request requires higher privileges\", scope=\"admin:read\""
    );
    assert_eq!(scope.to_json()["scope"], "admin:read");
    // A hostile scope name cannot break out of the quoted string.
    let evil = AuthError::insufficient_scope("a\", error=\"x\r\n");
    let header = evil.www_authenticate().unwrap();
    assert!(!header.to_str().unwrap().contains("error=\"x"));

    let down = AuthError::unavailable("signing keys are unavailable");
    assert_eq!(down.status(), 503);
    assert!(down.www_authenticate().is_none());
}

/// A key source that can be down, and that learns new keys only on refresh.
struct FlakySource {
    current: Mutex<Option<Arc<JwkSet>>>,
    next: Mutex<Option<Arc<JwkSet>>>,
    refreshes: AtomicUsize,
}

impl KeySource for FlakySource {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        let r = self
            .current
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| KeySourceError::new("issuer down"));
        Box::pin(std::future::ready(r))
    }
    fn keys_after_unknown_kid<'a>(
        &'a self,
        _kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let next = self.next.lock().unwrap().take();
        if let Some(n) = &next {
            *self.current.lock().unwrap() = Some(Arc::clone(n));
        }
        Box::pin(std::future::ready(Ok(next)))
    }
}

#[test]
fn jwt_authenticator_fails_closed_and_refreshes_on_unknown_kid() {
    let k = keys();
    let old = Arc::new(
        JwkSet::from_json(
            json!({"keys":[ec_jwk(&k.ec, "ec-1")]})
                .to_string()
                .as_bytes(),
        )
        .unwrap(),
    );
    let source = Arc::new(FlakySource {
        current: Mutex::new(None),
        next: Mutex::new(None),
        refreshes: AtomicUsize::new(0),
    });
    let auth = JwtAuthenticator::new(validator(), Arc::clone(&source));
    let c = AuthChain::new().with(auth);
    let token = sign(&json!({"alg":"ES256","kid":"ec-1"}), &claims(), es256());
    let bearer = format!("Bearer {token}");

    // No key set at all: 503, never a pass.
    let err = outcome(&c, &[("authorization", &bearer)]).unwrap_err();
    assert_eq!(err.status(), 503);

    *source.current.lock().unwrap() = Some(Arc::clone(&old));
    assert!(outcome(&c, &[("authorization", &bearer)])
        .unwrap()
        .is_some());

    // A token signed by a new key: one refresh, then accepted.
    let rotated = sign(&json!({"alg":"EdDSA","kid":"ed-new"}), &claims(), eddsa());
    *source.next.lock().unwrap() = Some(Arc::new(
        JwkSet::from_json(
            json!({"keys":[ec_jwk(&k.ec, "ec-1"), ed_jwk(&k.ed, "ed-new")]})
                .to_string()
                .as_bytes(),
        )
        .unwrap(),
    ));
    let p = outcome(&c, &[("authorization", &format!("Bearer {rotated}"))])
        .unwrap()
        .unwrap();
    assert_eq!(p.kind(), PrincipalKind::OAuth2Token);
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);

    // An unknown kid with nothing newer: 401 invalid_token.
    let stranger = sign(&json!({"alg":"EdDSA","kid":"nobody"}), &claims(), eddsa());
    let err = outcome(&c, &[("authorization", &format!("Bearer {stranger}"))]).unwrap_err();
    assert_eq!(err.status(), 401);
    assert_eq!(err.description(), "unknown signing key");
}

#[test]
fn principal_from_claims() {
    let c = json!({"iss": ISS, "aud": AUD, "sub": "svc-client", "client_id": "svc-client", "exp": NOW + 60,
        "scp": ["read:*", "dc.read"], "acr": "aal2", "amr": ["pwd", "totp"], "auth_time": NOW - 100,
        "sid": "s-9", "jti": "j-1", "ext": {"tenant": "acme", "roles": ["ops"], "permissions": "admin:read billing:*"}});
    let v = validator()
        .validate(
            &sign(&json!({"alg":"ES256","kid":"ec-1"}), &c, es256()),
            &key_set(),
        )
        .unwrap();
    let p = v.principal();
    assert_eq!(p.kind(), PrincipalKind::Client);
    assert_eq!(p.tenant(), Some("acme"));
    assert_eq!(p.roles(), ["ops"]);
    assert!(
        p.has_permission("admin:read")
            && p.has_permission("billing:refund")
            && p.has_permission("read:users")
    );
    assert!(!p.has_permission("admin:write"));
    assert!(p.has_scope("read:orders") && !p.has_scope("admin:read"));
    assert_eq!(
        p.assurance_level(),
        Some(iam_core::principal::AssuranceLevel::Aal2)
    );
    assert_eq!(p.amr(), ["pwd", "totp"]);
    assert_eq!(p.auth_time(), Some(NOW - 100));
    assert_eq!(p.session_id(), Some("s-9"));
    assert_eq!(p.token_id(), Some("j-1"));
    // Top-level claims win over ext; claim names are configurable.
    let names = iam_core::jwt::ClaimNames::default()
        .tenant("org")
        .roles("groups");
    let v2 = Validator::builder(ISS)
        .audience(AUD)
        .claim_names(names)
        .clock(|| NOW)
        .build()
        .unwrap();
    let c2 = json!({"iss": ISS, "aud": AUD, "sub": "u", "exp": NOW + 60, "org": "top", "ext": {"org": "inner", "groups": ["g"]}});
    let p2 = v2
        .validate(
            &sign(&json!({"alg":"ES256","kid":"ec-1"}), &c2, es256()),
            &key_set(),
        )
        .unwrap();
    assert_eq!(p2.principal().tenant(), Some("top"));
    assert_eq!(p2.principal().roles(), ["g"]);
}

#[test]
fn jws_shape_counts_dots_across_chunks() {
    use iam_core::authn::looks_like_jws;
    let seg = |n: usize| "a".repeat(n);
    for (token, expect) in [
        (format!("{}.{}.{}", seg(10), seg(10), seg(10)), true),
        (format!("{}.{}.{}", seg(127), seg(128), seg(300)), true),
        (format!("{}.{}.{}.", seg(127), seg(128), seg(300)), false),
        (format!("{}.{}", seg(200), seg(200)), false),
        (format!("{}..{}", seg(200), seg(200)), true),
        (".".repeat(300), false),
        (String::new(), false),
        (
            format!("{}.{}.{}.{}.{}", seg(1), seg(1), seg(1), seg(1), seg(1)),
            false,
        ),
    ] {
        assert_eq!(looks_like_jws(&token), expect, "{} bytes", token.len());
    }
}

#[test]
fn cache_hits_by_exact_bytes_keep_every_header_rule() {
    // The no-waiting path answers a token validated before from its exact bytes, before the
    // header checks: each header rule must still give its own answer around such a token.
    let token = sign(&json!({"alg":"ES256","kid":"ec-1"}), &claims(), es256());
    let c = chain();
    let bearer = format!("Bearer {token}");
    assert!(outcome(&c, &[("authorization", &bearer)])
        .unwrap()
        .is_some());
    for ok in [format!("bearer {token}"), format!("BEARER   {token}")] {
        let p = outcome(&c, &[("authorization", &ok)]).unwrap().unwrap();
        assert_eq!(p.subject(), "user-1", "{ok}");
    }
    let answer = |headers: &[(&str, &str)]| match outcome(&c, headers) {
        Ok(p) => format!("ok {:?}", p.map(|p| p.subject().to_owned())),
        Err(e) => format!("{} {}", e.status().as_u16(), e.description()),
    };
    // Twice the header: 400, cached token or not.
    assert_eq!(
        answer(&[("authorization", &bearer), ("authorization", &bearer)]),
        "400 credential header sent more than once"
    );
    // Not the bearer scheme, a tab instead of the space, trailing junk: not this token.
    assert_eq!(
        answer(&[("authorization", &format!("Basic {token}"))]),
        "ok None"
    );
    assert_eq!(
        answer(&[("authorization", &format!("Bearer\t{token}"))]),
        "401 bearer token not recognised"
    );
    assert_eq!(
        answer(&[("authorization", &format!("Bearer {token} "))]),
        "401 malformed bearer token"
    );
    assert_eq!(
        answer(&[("authorization", &format!("Bearer {token}="))]),
        "401 malformed token: invalid base64url"
    );
    // Oversize: refused before any lookup or decoding, on both paths.
    let huge = format!(
        "Bearer {}.{}.{}",
        "a".repeat(10_000),
        "b".repeat(10_000),
        "c"
    );
    assert_eq!(
        answer(&[("authorization", &huge)]),
        "401 token is too large"
    );
}
