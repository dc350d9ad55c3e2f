//! The test authenticator of the browser-redirect tests:
//! `x-test-session: aal1|aal2` → a session principal at that level; any other value → refused.
use iam_core::authn::{AuthError, Authenticator, BoxFuture, RequestView};
use iam_core::principal::{AssuranceLevel, Principal, PrincipalKind};

/// See the module docs.
pub struct TestSessions;

impl Authenticator for TestSessions {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            let level = match request
                .headers()
                .get("x-test-session")
                .map(|v| v.as_bytes())
            {
                None => return Ok(None),
                Some(b"aal1") => AssuranceLevel::Aal1,
                Some(b"aal2") => AssuranceLevel::Aal2,
                Some(_) => return Err(AuthError::invalid_credential("session is not valid")),
            };
            Ok(Some(
                Principal::builder("u", PrincipalKind::UserSession)
                    .assurance_level(level)
                    .build(),
            ))
        })
    }
}

/// The redirect both tests configure.
pub fn redirect() -> iam_core::authn::BrowserRedirect {
    iam_core::authn::BrowserRedirect::new(
        "https://auth.example.com/login",
        "https://app.example.com",
    )
    .expect("valid redirect")
    .step_up_url("https://auth.example.com/login?aal=aal2")
}
