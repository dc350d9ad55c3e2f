//! Credential tokens: format and checksum, pepper rotation, route scopes, the authenticator.
use iam_core::authn::{AuthChain, BoxFuture, RequestView};
use iam_core::credential::{
    generate, parse, CredentialAuthenticator, CredentialError, CredentialKind, CredentialVerifier,
    FormatError, ParsedToken, Pepper, Peppers, RouteScopes, VerifiedCredential, BODY_LEN,
};
use iam_core::headers::identity_headers;
use iam_core::principal::PrincipalKind;
use iam_core::scope::ScopeSet;
use std::collections::HashMap;

const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[test]
fn generated_tokens_round_trip() {
    for kind in CredentialKind::ALL {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let t = generate(kind).unwrap();
            let s = t.secret();
            assert!(s.starts_with(kind.prefix()));
            assert_eq!(s.len(), 4 + BODY_LEN);
            let p = parse(s).unwrap();
            assert_eq!(p.kind(), kind);
            assert_eq!(p.lookup_id(), &s[4..12]);
            assert!(seen.insert(s.to_owned()), "a repeated token");
            assert_eq!(format!("{t:?}"), "NewToken(<redacted>)");
        }
    }
}

#[test]
fn every_single_character_typo_is_detected() {
    let token = generate(CredentialKind::PersonalAccessToken).unwrap();
    let t = token.secret();
    let mut checked = 0;
    for i in 4..t.len() {
        for c in ALPHABET.chars() {
            if t.as_bytes()[i] == c as u8 {
                continue;
            }
            let mut typo = t.to_owned();
            typo.replace_range(i..i + 1, &c.to_string());
            assert_eq!(
                parse(&typo).unwrap_err(),
                FormatError::Checksum,
                "position {i} → {c}"
            );
            checked += 1;
        }
        // Adjacent transpositions too.
        if i + 1 < t.len() && t.as_bytes()[i] != t.as_bytes()[i + 1] {
            let mut b = t.as_bytes().to_vec();
            b.swap(i, i + 1);
            assert!(parse(std::str::from_utf8(&b).unwrap()).is_err());
        }
    }
    assert_eq!(checked, (t.len() - 4) * 61);
}

#[test]
fn hostile_strings_are_refused_before_storage() {
    let good = generate(CredentialKind::ApiKey)
        .unwrap()
        .secret()
        .to_owned();
    let body = &good[4..];
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    let cases: Vec<(String, FormatError)> = vec![
        (String::new(), FormatError::Prefix),
        ("pat_".into(), FormatError::Malformed),
        (format!("PAT_{body}"), FormatError::Prefix),
        (format!("Key_{body}"), FormatError::Prefix),
        (format!("tok_{body}"), FormatError::Prefix),
        (format!("key-{body}"), FormatError::Prefix),
        (format!("key_{body} "), FormatError::Malformed),
        (format!(" key_{body}"), FormatError::Prefix),
        (
            format!("key_{}-{}", &body[..10], &body[10..]),
            FormatError::Malformed,
        ),
        (format!("key_{}", &body[1..]), FormatError::Malformed),
        (format!("key_{body}A"), FormatError::Malformed),
        (
            format!("key_{}", "A".repeat(10_000)),
            FormatError::Malformed,
        ),
        (
            format!("key_{}é", &body[..body.len() - 2]),
            FormatError::Malformed,
        ),
        (jwt.into(), FormatError::Prefix),
        (
            format!("key_{}\0", &body[..body.len() - 1]),
            FormatError::Malformed,
        ),
    ];
    for (s, want) in cases {
        assert_eq!(parse(&s).unwrap_err(), want, "{s:?}");
    }
    assert!(parse(&good).is_ok());
}

#[test]
fn pepper_rotation_keeps_old_tokens_valid() {
    let old = Peppers::new(vec![Pepper::new(1, &[7; 32]).unwrap()]).unwrap();
    let token = generate(CredentialKind::PersonalAccessToken).unwrap();
    let (v1, h1) = old.hash(token.secret());
    assert_eq!(v1, 1);
    let rotated = Peppers::new(vec![
        Pepper::new(2, &[9; 32]).unwrap(),
        Pepper::new(1, &[7; 32]).unwrap(),
    ])
    .unwrap();
    assert_eq!(rotated.current().version(), 2);
    assert!(
        rotated.verify(token.secret(), v1, &h1),
        "hashed under v1, still valid"
    );
    let (v2, h2) = rotated.hash(token.secret());
    assert_eq!(v2, 2);
    assert_ne!(h1, h2);
    assert!(rotated.verify(token.secret(), 2, &h2));
    // Wrong version, wrong hash, another token, a truncated hash: all refused.
    assert!(!rotated.verify(token.secret(), 2, &h1));
    assert!(!rotated.verify(token.secret(), 3, &h2));
    let other = generate(CredentialKind::PersonalAccessToken).unwrap();
    assert!(!rotated.verify(other.secret(), 2, &h2));
    assert!(!rotated.verify(token.secret(), 2, &h2[..31]));
    assert!(Pepper::new(1, &[0; 31]).is_err());
    assert!(Peppers::new(vec![]).is_err());
    assert!(Peppers::new(vec![
        Pepper::new(1, &[1; 32]).unwrap(),
        Pepper::new(1, &[2; 32]).unwrap()
    ])
    .is_err());
    assert!(
        !format!("{:?}", rotated).contains("[7"),
        "peppers are redacted"
    );
}

#[test]
fn route_scope_table() {
    use http::Method;
    let routes = RouteScopes::new()
        .route("GET", "/orders", "orders:read")
        .and_then(|r| r.route("GET", "/orders/*", "orders:read"))
        .and_then(|r| r.route("POST", "/orders", "orders:write"))
        .and_then(|r| r.route("*", "/admin/**", "admin"))
        .and_then(|r| r.route("GET", "/files/*/meta", "files:read"))
        .unwrap();
    let cases: &[(Method, &str, Option<&str>)] = &[
        (Method::GET, "/orders", Some("orders:read")),
        (Method::GET, "/orders/42", Some("orders:read")),
        (Method::POST, "/orders", Some("orders:write")),
        (Method::DELETE, "/orders/42", None),
        (Method::GET, "/orders/42/items", None),
        (Method::GET, "/orders//", None),
        (Method::GET, "/orders/../admin", None),
        (Method::GET, "/orders/%2e%2e/admin", None),
        (Method::GET, "/orders%2F42", None),
        (Method::GET, "/admin", Some("admin")),
        (Method::PUT, "/admin/users/7", Some("admin")),
        (Method::GET, "/files/a/meta", Some("files:read")),
        (Method::GET, "/files//meta", None),
        (Method::GET, "/unlisted", None),
        (Method::GET, "", None),
        (Method::GET, "orders", None),
        (Method::GET, "/ORDERS", None),
    ];
    for (m, p, want) in cases {
        assert_eq!(routes.scope_for(m, p), *want, "{m} {p}");
    }
}

#[test]
fn a_route_scope_entry_that_does_not_parse_is_an_error_at_load_never_a_wider_match() {
    use iam_core::credential::RouteScopeError;
    for method in ["GET,POST", "GET POST", "get", "", " GET", "GET\n", "G(ET"] {
        let e = RouteScopes::new()
            .route(method, "/orders/*", "orders:read")
            .unwrap_err();
        assert!(matches!(e, RouteScopeError::Method(_)), "{method:?}: {e}");
    }
    for pattern in [
        "orders",
        "",
        "/orders//x",
        "/orders/./x",
        "/orders/../admin",
        "/orders/%2e%2e",
        "/orders\\x",
        "/orders;v=1",
        "/orders/x*",
        "/orders/**/items",
        "/orders//**",
        "/orders/a b",
    ] {
        let e = RouteScopes::new()
            .route("GET", pattern, "orders:read")
            .unwrap_err();
        assert!(
            matches!(e, RouteScopeError::Pattern { .. }),
            "{pattern:?}: {e}"
        );
    }
    for scope in ["", "orders:read orders:write", "a\tb"] {
        assert!(RouteScopes::new().route("GET", "/orders", scope).is_err());
    }
    // What does parse keeps its meaning: one method, `*` for any, extension methods.
    let routes = RouteScopes::new()
        .route("GET", "/orders/*", "orders:read")
        .and_then(|r| r.route("PROPFIND", "/dav/**", "dav"))
        .and_then(|r| r.route("*", "/", "root"))
        .unwrap();
    assert_eq!(
        routes.scope_for(&http::Method::DELETE, "/orders/1"),
        None,
        "a read entry never lets DELETE through"
    );
    let propfind = http::Method::from_bytes(b"PROPFIND").unwrap();
    assert_eq!(routes.scope_for(&propfind, "/dav/a"), Some("dav"));
    assert_eq!(routes.scope_for(&http::Method::PUT, "/"), Some("root"));
}

#[test]
fn ambiguous_paths_match_no_route_scope_in_any_encoding() {
    use http::Method;
    let routes = RouteScopes::new().route("*", "/**", "anything").unwrap();
    assert_eq!(
        routes.scope_for(&Method::GET, "/orders/1"),
        Some("anything")
    );
    assert_eq!(
        routes.scope_for(&Method::GET, "/files/a%20b"),
        Some("anything")
    );
    for path in [
        "/orders/%2e%2e/admin",
        "/orders/%2E%2E/admin",
        "/orders/%2e./admin",
        "/orders/.%2E/admin",
        "/orders/%2e/admin",
        "/orders/..",
        "/orders/./x",
        "/orders%2f..%2fadmin",
        "/orders%2F1",
        "/orders%5c1",
        "/orders\\1",
        "/orders;jsessionid=1/x",
        "/orders/1;x",
        "/orders%3b1",
        "/orders/%00",
        "/orders/%0a",
        "/orders/%252e%252e/admin",
        "/orders/%2b",
        "/orders/%",
        "/orders/%2",
        "/orders/%zz",
        "//admin",
        "/orders//1",
        "orders",
        "",
    ] {
        assert_eq!(routes.scope_for(&Method::GET, path), None, "{path}");
    }
}

#[test]
fn a_percent_encoded_path_needs_the_scope_of_the_route_it_decodes_to() {
    use http::Method;
    let routes = RouteScopes::new()
        .route("*", "/admin/**", "admin")
        .and_then(|r| r.route("GET", "/**", "orders:read"))
        .unwrap();
    for path in [
        "/%61dmin/users",
        "/%61%64%6D%69%6E",
        "/adm%69n/x/y",
        "/admin",
    ] {
        assert_eq!(
            routes.scope_for(&Method::GET, path),
            Some("admin"),
            "{path}"
        );
    }
    assert_eq!(
        routes.scope_for(&Method::GET, "/orders/%61"),
        Some("orders:read")
    );
}

/// A verifier over a fixed map, standing in for storage in this unit test of the
/// authenticator (the store-backed and remote verifiers are tested with their databases).
struct MapVerifier(HashMap<String, Result<VerifiedCredential, CredentialError>>);

impl CredentialVerifier for MapVerifier {
    fn verify<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<VerifiedCredential, CredentialError>> {
        let r = self
            .0
            .get(token.secret())
            .cloned()
            .unwrap_or(Err(CredentialError::Invalid));
        Box::pin(async move { r })
    }
}

fn cred(kind: CredentialKind, owner: &str, scopes: &str) -> VerifiedCredential {
    VerifiedCredential {
        kind,
        id: format!("id-{owner}"),
        owner: owner.into(),
        tenant: Some("acme".into()),
        scopes: ScopeSet::from_space_separated(scopes),
        expires_at: None,
    }
}

#[test]
fn the_authenticator() {
    let pat = generate(CredentialKind::PersonalAccessToken)
        .unwrap()
        .secret()
        .to_owned();
    let key = generate(CredentialKind::ApiKey)
        .unwrap()
        .secret()
        .to_owned();
    let svc = generate(CredentialKind::ServiceToken)
        .unwrap()
        .secret()
        .to_owned();
    let expired = generate(CredentialKind::PersonalAccessToken)
        .unwrap()
        .secret()
        .to_owned();
    let unknown = generate(CredentialKind::PersonalAccessToken)
        .unwrap()
        .secret()
        .to_owned();
    let mut m = HashMap::new();
    m.insert(
        pat.clone(),
        Ok(cred(
            CredentialKind::PersonalAccessToken,
            "user-1",
            "orders:*",
        )),
    );
    m.insert(
        key.clone(),
        Ok(cred(CredentialKind::ApiKey, "org-9", "orders:read")),
    );
    m.insert(
        svc.clone(),
        Ok(cred(CredentialKind::ServiceToken, "billing", "admin")),
    );
    m.insert(expired.clone(), Err(CredentialError::Expired));
    let auth = CredentialAuthenticator::new(MapVerifier(m)).route_scopes(
        RouteScopes::new()
            .route("GET", "/orders/**", "orders:read")
            .and_then(|r| r.route("POST", "/orders", "orders:write"))
            .unwrap(),
    );
    let chain = AuthChain::new().with(auth);
    let run = |method: &str, path: &str, headers: &[(&str, &str)]| {
        let mut b = http::Request::builder().method(method).uri(path);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        let req = b.body(()).unwrap();
        futures_executor::block_on(async {
            chain
                .run(&RequestView::from_request(&req))
                .await
                .map(|p| p.unwrap())
        })
    };
    let bearer = |t: &str| format!("Bearer {t}");
    let p = run("GET", "/orders/1", &[("authorization", &bearer(&pat))]).unwrap();
    assert_eq!(
        (p.kind(), p.subject(), p.token_id()),
        (
            PrincipalKind::PersonalAccessToken,
            "user-1",
            Some("id-user-1")
        )
    );
    let h = identity_headers(&p);
    assert_eq!(
        (
            h["x-user-id"].to_str().unwrap(),
            h["x-token-id"].to_str().unwrap(),
            h["x-token-scopes"].to_str().unwrap()
        ),
        ("user-1", "id-user-1", "orders:*")
    );
    let p = run("GET", "/orders", &[("x-api-key", &key)]).unwrap();
    assert_eq!(p.kind(), PrincipalKind::ApiKey);
    let h = identity_headers(&p);
    assert_eq!(
        (
            h["x-org-id"].to_str().unwrap(),
            h["x-key-id"].to_str().unwrap(),
            h["x-key-scopes"].to_str().unwrap()
        ),
        ("org-9", "id-org-9", "orders:read")
    );
    assert!(h.get("x-user-id").is_none());
    let e = run("POST", "/orders", &[("x-api-key", &key)]).unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.error_code()),
        (403, "insufficient_scope")
    );
    assert!(e.to_json()["scope"] == "orders:write");
    let e = run("GET", "/unlisted", &[("authorization", &bearer(&pat))]).unwrap_err();
    assert_eq!(e.status().as_u16(), 403, "deny by default");
    let e = run("GET", "/orders/1", &[("authorization", &bearer(&svc))]).unwrap_err();
    assert_eq!(e.status().as_u16(), 403);
    let e = run("GET", "/orders/1", &[("authorization", &bearer(&expired))]).unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.description()),
        (401, "token expired")
    );
    let e = run("GET", "/orders/1", &[("authorization", &bearer(&unknown))]).unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.error_code(), e.description()),
        (401, "invalid_token", "invalid token")
    );
    let mut typo = pat.clone();
    typo.pop();
    typo.push(if pat.ends_with('A') { 'B' } else { 'A' });
    let e = run("GET", "/orders/1", &[("authorization", &bearer(&typo))]).unwrap_err();
    assert_eq!(e.status().as_u16(), 401);
    let e = run("GET", "/orders/1", &[("x-api-key", "not-a-key")]).unwrap_err();
    assert_eq!(e.status().as_u16(), 401);
    // A bearer that is not ours: left to the rest of the chain (here: none → 401).
    assert_eq!(
        run("GET", "/orders/1", &[("authorization", "Bearer ory_st_x")])
            .unwrap_err()
            .status()
            .as_u16(),
        401
    );
    assert!(
        !format!("{:?}", e).contains(&pat),
        "errors never carry the token"
    );
}
