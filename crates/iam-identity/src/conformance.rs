//! The behaviour every storage backend must show, as scenarios run through [`Identity`]
//! (feature `conformance`). iam-identity runs them on its in-memory repositories, iam-store
//! on SQLite, PostgreSQL and MariaDB, with and without Redis.
//!
//! Each scenario creates its own tenant (a random id), so scenarios can share a database.
//! Test code: a failed expectation panics with what differed.
use crate::audit::{AuditKind, MemoryAudit};
use crate::hashing::{HashingConfig, PasswordHasher};
use crate::limiter::{LimiterPolicy, LoginLimiter, MemoryLimiter};
use crate::model::{new_id, Group, Role, RoleHolder};
use crate::repository::Repositories;
use crate::{
    Identity, IdentityError, IdentityPolicy, LoginOutcome, LoginRequest, MfaProof, Session,
};
use iam_core::{FixedClock, Secret};
use std::sync::Arc;

/// The start time of every scenario's clock.
pub const T0: i64 = 1_700_000_000;

/// An [`Identity`] on `repos` with a cheap hash, a fixed clock and a recording audit sink.
pub fn identity(
    repos: Repositories,
    limiter: Arc<dyn LoginLimiter>,
) -> (Arc<Identity>, Arc<FixedClock>, Arc<MemoryAudit>) {
    let clock = Arc::new(FixedClock::new(T0));
    let audit = Arc::new(MemoryAudit::default());
    let hasher = PasswordHasher::new(HashingConfig {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        workers: 2,
        queue: 64,
        ..HashingConfig::default()
    })
    .expect("cheap hashing settings");
    let identity = Identity::new(repos, Arc::new(hasher), limiter, IdentityPolicy::default())
        .clock(clock.clone())
        .audit(audit.clone());
    (Arc::new(identity), clock, audit)
}

/// The in-process limiter with its defaults.
pub fn memory_limiter() -> Arc<dyn LoginLimiter> {
    Arc::new(MemoryLimiter::new(LimiterPolicy::default()))
}

fn pw(s: &str) -> Secret {
    Secret::new(s.to_owned())
}

const PASSWORD: &str = "correct horse battery staple";

async fn tenant_with_alice(id: &Identity) -> (String, String) {
    let tenant = format!("t{}", &new_id()[..12]);
    id.create_tenant(&tenant, "Test").await.unwrap();
    let alice = id
        .create_user(
            &tenant,
            "Alice",
            Some("Alice@Example.com"),
            Some(&pw(PASSWORD)),
        )
        .await
        .unwrap();
    (tenant, alice.id)
}

async fn login(
    id: &Identity,
    tenant: &str,
    login: &str,
    password: &str,
) -> Result<LoginOutcome, IdentityError> {
    id.login(LoginRequest {
        tenant,
        login,
        password: &pw(password),
        client_ip: None,
    })
    .await
}

async fn session(id: &Identity, tenant: &str) -> Session {
    match login(id, tenant, "alice", PASSWORD).await.unwrap() {
        LoginOutcome::Session(s) => s,
        LoginOutcome::MfaRequired(_) => panic!("unexpected MFA"),
    }
}

/// Run every scenario on fresh parts from `parts` (called once per scenario).
pub async fn run_all<F>(parts: F)
where
    F: Fn() -> (Repositories, Arc<dyn LoginLimiter>),
{
    let (r, l) = parts();
    invalid_credentials_are_indistinguishable(r, l).await;
    let (r, l) = parts();
    logins_fold_case_and_accept_the_email(r, l).await;
    let (r, l) = parts();
    passwords_are_checked_before_hashing(r, l).await;
    let (r, l) = parts();
    effective_permissions_come_from_roles_and_groups(r, l).await;
    let (r, l) = parts();
    tenants_are_isolated(r, l).await;
    let (r, l) = parts();
    totp_login_is_single_use_replay_safe_and_dies_after_five_wrong_codes(r, l).await;
    let (r, l) = parts();
    totp_secrets_are_stored_sealed_and_plaintext_records_are_resealed(r, l).await;
    let (r, l) = parts();
    a_recovery_code_redeemed_concurrently_succeeds_once(r, l).await;
    let (r, l) = parts();
    refresh_rotates_is_idempotent_in_grace_and_revokes_the_family_on_reuse(r, l).await;
    let (r, l) = parts();
    refresh_ends_at_the_absolute_lifetime_and_on_logout(r, l).await;
    let (r, l) = parts();
    repeated_failures_lock_the_account(r, l).await;
    let (r, l) = parts();
    concurrent_writes_for_different_users_all_succeed(r, l).await;
}

/// Many users changing their own credentials at once never see a storage error: a store
/// whose transactions deadlock on neighbouring rows (InnoDB gap locks) retries them instead
/// of turning a concurrent neighbour into a 503.
pub async fn concurrent_writes_for_different_users_all_succeed(
    r: Repositories,
    l: Arc<dyn LoginLimiter>,
) {
    let (id, clock, _) = identity(r, l);
    let tenant = format!("t{}", &new_id()[..12]);
    id.create_tenant(&tenant, "Test").await.unwrap();
    let mut users = Vec::new();
    for i in 0..16 {
        let name = format!("user{i:02}");
        let password = pw(PASSWORD);
        let user = id.create_user(&tenant, &name, None, Some(&password)).await;
        users.push((name, user.unwrap().id));
    }
    clock.advance(60);
    let done = futures_join(users.into_iter().map(|(name, user)| {
        let (id, tenant) = (Arc::clone(&id), tenant.clone());
        async move {
            id.set_password(&tenant, &user, &pw("another long password"))
                .await
                .unwrap();
            let LoginOutcome::Session(s) = login(&id, &tenant, &name, "another long password")
                .await
                .unwrap()
            else {
                panic!("unexpected MFA")
            };
            id.refresh(s.refresh_token.secret(), None).await.unwrap();
            enrol(&id, &tenant, &user).await;
            id.remove_mfa(&tenant, &user).await.unwrap();
            enrol(&id, &tenant, &user).await;
            let other = format!("{name}-b");
            let fresh = id.create_user(&tenant, &other, None, None).await.unwrap();
            id.delete_user(&tenant, &fresh.id).await.unwrap();
        }
    }))
    .await;
    assert_eq!(done.len(), 16);
}

/// Unknown tenant, unknown user, wrong password, disabled user, suspended tenant: one error.
pub async fn invalid_credentials_are_indistinguishable(r: Repositories, l: Arc<dyn LoginLimiter>) {
    let (id, _, audit) = identity(r, l);
    let (tenant, alice) = tenant_with_alice(&id).await;
    let bob = id
        .create_user(&tenant, "bob", None, Some(&pw(PASSWORD)))
        .await
        .unwrap();
    id.set_user_disabled(&tenant, &bob.id, true).await.unwrap();
    let (other, _) = tenant_with_alice(&id).await;
    id.set_tenant_suspended(&other, true).await.unwrap();
    let cases = [
        ("no-such-tenant", "alice", PASSWORD),
        (tenant.as_str(), "nobody", PASSWORD),
        (tenant.as_str(), "alice", "wrong password, long enough"),
        (tenant.as_str(), "bob", PASSWORD),
        (other.as_str(), "alice", PASSWORD),
    ];
    for (t, u, p) in cases {
        let before = id.hasher().verifications();
        match login(&id, t, u, p).await {
            Err(IdentityError::InvalidCredentials) => {}
            other => panic!("{t}/{u}: expected invalid credentials, got {other:?}"),
        }
        // The same work on every path: one argon2id verification (a dummy hash of the same
        // cost when there is no user), whatever exists.
        assert_eq!(id.hasher().verifications() - before, 1, "{t}/{u}");
    }
    let before = id.hasher().verifications();
    session(&id, &tenant).await;
    assert_eq!(
        id.hasher().verifications() - before,
        1,
        "a correct password"
    );
    assert_eq!(audit.of(AuditKind::LoginFailed).len(), 5);
    assert!(audit
        .events()
        .iter()
        .all(|e| e.user_id.as_deref() != Some(&alice) || e.kind != AuditKind::LoginFailed));
}

/// `ALICE`, `alice@example.COM` and `Alice` are one login.
pub async fn logins_fold_case_and_accept_the_email(r: Repositories, l: Arc<dyn LoginLimiter>) {
    let (id, _, _) = identity(r, l);
    let (tenant, alice) = tenant_with_alice(&id).await;
    for name in ["ALICE", "alice@example.COM", " Alice "] {
        match login(&id, &tenant, name, PASSWORD).await.unwrap() {
            LoginOutcome::Session(s) => assert_eq!(s.claims.sub, alice),
            other => panic!("{other:?}"),
        }
    }
    // A second user may not take alice's name or email in another case.
    for (u, e) in [
        ("aLiCe", None),
        ("alice2", Some("ALICE@example.com")),
        ("alice@example.com", None),
    ] {
        assert!(
            matches!(
                id.create_user(&tenant, u, e, None).await,
                Err(IdentityError::Conflict)
            ),
            "{u}"
        );
    }
}

/// 1 MB is refused before hashing; a short new password is refused.
pub async fn passwords_are_checked_before_hashing(r: Repositories, l: Arc<dyn LoginLimiter>) {
    let (id, _, _) = identity(r, l);
    let (tenant, alice) = tenant_with_alice(&id).await;
    let huge = "x".repeat(1 << 20);
    assert!(matches!(
        login(&id, &tenant, "alice", &huge).await,
        Err(IdentityError::PasswordRejected(
            crate::PasswordRejection::TooLong { max: 1024 }
        ))
    ));
    assert_eq!(id.hasher().admitted(), 0);
    assert!(matches!(
        id.set_password(&tenant, &alice, &pw("short")).await,
        Err(IdentityError::PasswordRejected(
            crate::PasswordRejection::TooShort { min: 12 }
        ))
    ));
    // Any Unicode: twelve characters, more bytes.
    id.set_password(&tenant, &alice, &pw("пароль-пароль"))
        .await
        .unwrap();
    assert!(matches!(
        login(&id, &tenant, "alice", "пароль-пароль").await,
        Ok(LoginOutcome::Session(_))
    ));
    assert!(matches!(
        id.change_password(
            &tenant,
            &alice,
            &pw("not the password"),
            &pw("another long one!")
        )
        .await,
        Err(IdentityError::InvalidCredentials)
    ));
    id.change_password(
        &tenant,
        &alice,
        &pw("пароль-пароль"),
        &pw("another long one!"),
    )
    .await
    .unwrap();
    assert!(matches!(
        login(&id, &tenant, "alice", "another long one!").await,
        Ok(LoginOutcome::Session(_))
    ));
}

/// Roles of the user and of its groups, expanded to permissions, in the claims.
pub async fn effective_permissions_come_from_roles_and_groups(
    r: Repositories,
    l: Arc<dyn LoginLimiter>,
) {
    let (id, _, _) = identity(r, l);
    let (tenant, alice) = tenant_with_alice(&id).await;
    let repos = id.repositories();
    let reader = Role {
        id: new_id(),
        tenant: tenant.clone(),
        name: "reader".into(),
        permissions: vec!["docs:read".into()],
    };
    let writer = Role {
        id: new_id(),
        tenant: tenant.clone(),
        name: "writer".into(),
        permissions: vec!["docs:read".into(), "docs:write".into()],
    };
    repos.access.create_role(&reader).await.unwrap();
    repos.access.create_role(&writer).await.unwrap();
    assert!(matches!(
        repos
            .access
            .create_role(&Role {
                id: new_id(),
                ..reader.clone()
            })
            .await,
        Err(crate::RepositoryError::Conflict)
    ));
    let group = Group {
        id: new_id(),
        tenant: tenant.clone(),
        name: "editors".into(),
    };
    repos.access.create_group(&group).await.unwrap();
    repos
        .access
        .add_member(&tenant, &group.id, &alice)
        .await
        .unwrap();
    repos
        .access
        .assign_role(&tenant, RoleHolder::User(&alice), &reader.id)
        .await
        .unwrap();
    repos
        .access
        .assign_role(&tenant, RoleHolder::Group(&group.id), &writer.id)
        .await
        .unwrap();
    let s = session(&id, &tenant).await;
    assert_eq!(s.claims.roles, ["reader", "writer"]);
    assert_eq!(s.claims.permissions, ["docs:read", "docs:write"]);
    assert_eq!(
        (s.claims.acr.as_str(), s.claims.amr.as_slice()),
        ("pwd", &["pwd".to_string()][..])
    );
    assert!(repos
        .access
        .remove_member(&tenant, &group.id, &alice)
        .await
        .unwrap());
    let access = id.effective_access(&tenant, &alice).await.unwrap();
    assert_eq!(access.permissions, ["docs:read"]);
    repos
        .access
        .set_role_permissions(&tenant, &reader.id, &["a:b".into()])
        .await
        .unwrap();
    assert_eq!(
        id.effective_access(&tenant, &alice)
            .await
            .unwrap()
            .permissions,
        ["a:b"]
    );
    assert!(repos.access.delete_role(&tenant, &reader.id).await.unwrap());
    assert!(id
        .effective_access(&tenant, &alice)
        .await
        .unwrap()
        .roles
        .is_empty());
}

/// Nothing of one tenant is visible or changeable through another tenant's id.
pub async fn tenants_are_isolated(r: Repositories, l: Arc<dyn LoginLimiter>) {
    let (id, _, _) = identity(r, l);
    let (a, alice) = tenant_with_alice(&id).await;
    let (b, _) = tenant_with_alice(&id).await;
    let repos = id.repositories();
    assert!(repos.users.user(&b, &alice).await.unwrap().is_none());
    assert!(!repos
        .users
        .set_user_disabled(&b, &alice, true)
        .await
        .unwrap());
    assert!(!repos.users.delete_user(&b, &alice).await.unwrap());
    assert!(repos
        .users
        .password_hash(&b, &alice)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        id.set_password(&b, &alice, &pw("another long password"))
            .await,
        Err(IdentityError::NotFound)
    ));
    assert!(repos
        .users
        .list_users(&b, None, 100)
        .await
        .unwrap()
        .iter()
        .all(|u| u.tenant == b));
    let role = Role {
        id: new_id(),
        tenant: a.clone(),
        name: "r".into(),
        permissions: vec!["x".into()],
    };
    repos.access.create_role(&role).await.unwrap();
    assert!(repos.access.role(&b, &role.id).await.unwrap().is_none());
    assert!(!repos.access.delete_role(&b, &role.id).await.unwrap());
    assert!(repos.users.user(&a, &alice).await.unwrap().is_some());
    // Pagination by cursor within one tenant.
    for i in 0..5 {
        id.create_user(&a, &format!("user{i}"), None, None)
            .await
            .unwrap();
    }
    let first = repos.users.list_users(&a, None, 4).await.unwrap();
    let rest = repos
        .users
        .list_users(&a, Some(&first[3].id), 4)
        .await
        .unwrap();
    assert_eq!((first.len(), rest.len()), (4, 2));
    assert!(first.iter().chain(&rest).all(|u| u.tenant == a));
    let tenants = repos.tenants.list_tenants(None, 1000).await.unwrap();
    assert!(tenants.iter().any(|t| t.id == a) && tenants.iter().any(|t| t.id == b));
}

async fn enrol(id: &Identity, tenant: &str, user: &str) -> (Vec<u8>, Vec<Secret>) {
    let enrolment = id.enroll_totp(tenant, user).await.unwrap();
    assert!(enrolment
        .otpauth_uri
        .secret()
        .starts_with("otpauth://totp/"));
    let secret = crate::totp::decode(&crate::model::SecretText::new(
        enrolment.secret_base32.secret().clone(),
    ))
    .unwrap();
    let code = id.policy().totp.code_at(&secret, id.now() as u64).unwrap();
    assert!(matches!(
        id.confirm_totp(tenant, user, "000000x").await,
        Err(IdentityError::InvalidMfaCode)
    ));
    let codes = id.confirm_totp(tenant, user, &code).await.unwrap();
    assert_eq!(codes.len(), 10);
    assert!(matches!(
        id.enroll_totp(tenant, user).await,
        Err(IdentityError::TotpAlreadyEnrolled)
    ));
    (secret, codes)
}

async fn challenge(id: &Identity, tenant: &str) -> String {
    match login(id, tenant, "alice", PASSWORD).await.unwrap() {
        LoginOutcome::MfaRequired(m) => {
            assert_eq!(m.methods, ["totp", "recovery_code"]);
            assert_eq!(m.expires_in, 300);
            m.mfa_token.secret().clone()
        }
        LoginOutcome::Session(_) => panic!("MFA expected"),
    }
}

/// TOTP secrets reach the repository sealed (never the base32 secret); a record written in
/// plain text before sealing existed still works, and the read that finds it re-seals it.
pub async fn totp_secrets_are_stored_sealed_and_plaintext_records_are_resealed(
    r: Repositories,
    l: Arc<dyn LoginLimiter>,
) {
    let mfa = Arc::clone(&r.mfa);
    let (id, clock, _) = identity(r, l);
    let (tenant, alice) = tenant_with_alice(&id).await;
    let (secret, _) = enrol(&id, &tenant, &alice).await;
    let base32 = crate::totp::encode(&secret);
    let stored = mfa.totp(&alice).await.unwrap().unwrap().stored_secret;
    assert!(stored.secret().starts_with("$kek1$"), "sealed");
    assert!(!stored.secret().contains(base32.secret()));
    assert!(!format!("{stored:?}").contains(base32.secret()));

    // As if written by a release that stored plain base32.
    assert!(mfa.reseal_totp(&alice, &stored, &base32).await.unwrap());
    assert!(
        !mfa.reseal_totp(&alice, &stored, &base32).await.unwrap(),
        "compare-and-set"
    );
    clock.advance(30);
    let token = challenge(&id, &tenant).await;
    let code = id
        .policy()
        .totp
        .code_at(&secret, clock.now_unix_u64())
        .unwrap();
    id.verify_mfa(&token, MfaProof::Totp(&code), None)
        .await
        .expect("a plaintext record still verifies");
    let resealed = mfa.totp(&alice).await.unwrap().unwrap().stored_secret;
    assert!(resealed.secret().starts_with("$kek1$"), "re-sealed on read");
    assert!(!resealed.secret().contains(base32.secret()));

    // A record that does not open (altered) fails closed.
    let mut bad = resealed.secret().to_owned();
    bad.pop();
    let bad = crate::model::SecretText::new(bad);
    assert!(mfa.reseal_totp(&alice, &resealed, &bad).await.unwrap());
    clock.advance(30);
    let token = challenge(&id, &tenant).await;
    let code = id
        .policy()
        .totp
        .code_at(&secret, clock.now_unix_u64())
        .unwrap();
    assert!(matches!(
        id.verify_mfa(&token, MfaProof::Totp(&code), None).await,
        Err(IdentityError::SealedSecretRejected)
    ));
}

/// TOTP: accepted once per step, the challenge is single use and dies after 5 wrong codes.
pub async fn totp_login_is_single_use_replay_safe_and_dies_after_five_wrong_codes(
    r: Repositories,
    l: Arc<dyn LoginLimiter>,
) {
    let (id, clock, _) = identity(r, l);
    let (tenant, alice) = tenant_with_alice(&id).await;
    let (secret, _) = enrol(&id, &tenant, &alice).await;
    let totp = &id.policy().totp;
    clock.advance(30);
    let token = challenge(&id, &tenant).await;
    let code = totp.code_at(&secret, clock.now_unix_u64()).unwrap();
    let s = id
        .verify_mfa(&token, MfaProof::Totp(&code), None)
        .await
        .unwrap();
    assert_eq!(
        (s.claims.acr.as_str(), s.claims.amr.clone()),
        ("mfa", vec!["pwd".to_string(), "otp".to_string()])
    );
    // Single use.
    assert!(matches!(
        id.verify_mfa(&token, MfaProof::Totp(&code), None).await,
        Err(IdentityError::InvalidMfaChallenge)
    ));
    // Replay of the same code with a new challenge in the same window.
    let token = challenge(&id, &tenant).await;
    assert!(matches!(
        id.verify_mfa(&token, MfaProof::Totp(&code), None).await,
        Err(IdentityError::InvalidMfaCode)
    ));
    // Four more wrong codes kill it (five in all); the right one is then too late.
    for _ in 0..4 {
        assert!(matches!(
            id.verify_mfa(&token, MfaProof::Totp("000000"), None).await,
            Err(IdentityError::InvalidMfaCode | IdentityError::InvalidMfaChallenge)
        ));
    }
    clock.advance(30);
    let fresh = totp.code_at(&secret, clock.now_unix_u64()).unwrap();
    assert!(matches!(
        id.verify_mfa(&token, MfaProof::Totp(&fresh), None).await,
        Err(IdentityError::InvalidMfaChallenge)
    ));
    // Expiry after 5 minutes.
    let token = challenge(&id, &tenant).await;
    clock.advance(301);
    let fresh = totp.code_at(&secret, clock.now_unix_u64()).unwrap();
    assert!(matches!(
        id.verify_mfa(&token, MfaProof::Totp(&fresh), None).await,
        Err(IdentityError::InvalidMfaChallenge)
    ));
    // Removing MFA turns login back into one step.
    id.remove_mfa(&tenant, &alice).await.unwrap();
    assert!(matches!(
        login(&id, &tenant, "alice", PASSWORD).await,
        Ok(LoginOutcome::Session(_))
    ));
}

/// Two verifications with one recovery code at once: exactly one session.
pub async fn a_recovery_code_redeemed_concurrently_succeeds_once(
    r: Repositories,
    l: Arc<dyn LoginLimiter>,
) {
    let (id, _, _) = identity(r, l);
    let (tenant, alice) = tenant_with_alice(&id).await;
    let (_, codes) = enrol(&id, &tenant, &alice).await;
    let code = codes[0].secret().clone();
    let tokens: Vec<String> = futures_join((0..8).map(|_| {
        let id = Arc::clone(&id);
        let tenant = tenant.clone();
        async move { challenge(&id, &tenant).await }
    }))
    .await;
    let results = futures_join(tokens.iter().map(|t| {
        let (id, t, code) = (Arc::clone(&id), t.clone(), code.clone());
        async move { id.verify_mfa(&t, MfaProof::RecoveryCode(&code), None).await }
    }))
    .await;
    let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok.len(), 1, "{results:?}");
    assert_eq!(ok[0].claims.amr, ["pwd", "recovery_code"]);
    // Another code still works, lower case too.
    let t = challenge(&id, &tenant).await;
    id.verify_mfa(
        &t,
        MfaProof::RecoveryCode(&codes[1].secret().to_lowercase()),
        None,
    )
    .await
    .unwrap();
}

/// Run futures concurrently on the current runtime, each as its own task.
async fn futures_join<T, Fut>(futs: impl Iterator<Item = Fut>) -> Vec<T>
where
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// Rotation; two concurrent refreshes → one successor; a later reuse revokes the family.
pub async fn refresh_rotates_is_idempotent_in_grace_and_revokes_the_family_on_reuse(
    r: Repositories,
    l: Arc<dyn LoginLimiter>,
) {
    let (id, clock, audit) = identity(r, l);
    let (tenant, _) = tenant_with_alice(&id).await;
    let s0 = session(&id, &tenant).await;
    let t0 = s0.refresh_token.secret().clone();
    clock.advance(60);
    let both = futures_join((0..2).map(|_| {
        let (id, t0) = (Arc::clone(&id), t0.clone());
        async move { id.refresh(&t0, None).await.unwrap() }
    }))
    .await;
    assert_eq!(
        both[0].refresh_token.secret(),
        both[1].refresh_token.secret()
    );
    assert_eq!(both[0].claims, both[1].claims);
    assert_eq!(
        (both[0].token_id.as_str(), both[0].issued_at),
        (both[1].token_id.as_str(), both[1].issued_at)
    );
    assert_ne!(both[0].refresh_token.secret(), &t0);
    assert_eq!(both[0].claims.sid, s0.claims.sid);
    let t1 = both[0].refresh_token.secret().clone();
    // Inside the grace window a retry still gets the same successor.
    clock.advance(5);
    assert_eq!(
        id.refresh(&t0, None).await.unwrap().refresh_token.secret(),
        &t1
    );
    // After it: reuse → family revoked, the child too.
    clock.advance(10);
    assert!(matches!(
        id.refresh(&t0, None).await,
        Err(IdentityError::InvalidRefreshToken)
    ));
    assert!(matches!(
        id.refresh(&t1, None).await,
        Err(IdentityError::InvalidRefreshToken)
    ));
    let reuse = audit.of(AuditKind::RefreshReuse);
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0].family_id.as_deref(), Some(s0.claims.sid.as_str()));
    assert!(!id.family_is_live(&s0.claims.sid).await.unwrap());
    // Garbage.
    for bad in ["", "x", &"y".repeat(10_000)] {
        assert!(matches!(
            id.refresh(bad, None).await,
            Err(IdentityError::InvalidRefreshToken)
        ));
    }
}

/// The family dies at its absolute end whatever the rotations, on logout, and with its user.
pub async fn refresh_ends_at_the_absolute_lifetime_and_on_logout(
    r: Repositories,
    l: Arc<dyn LoginLimiter>,
) {
    let (id, clock, _) = identity(r, l);
    let (tenant, alice) = tenant_with_alice(&id).await;
    let mut t = session(&id, &tenant).await.refresh_token.secret().clone();
    for _ in 0..3 {
        clock.advance(10 * 86_400 - 1);
        t = id
            .refresh(&t, None)
            .await
            .unwrap()
            .refresh_token
            .secret()
            .clone();
    }
    clock.advance(10);
    assert!(matches!(
        id.refresh(&t, None).await,
        Err(IdentityError::InvalidRefreshToken)
    ));
    // Logout revokes the family.
    let s = session(&id, &tenant).await;
    id.logout(s.refresh_token.secret(), None).await.unwrap();
    id.logout("unknown", None).await.unwrap();
    assert!(matches!(
        id.refresh(s.refresh_token.secret(), None).await,
        Err(IdentityError::InvalidRefreshToken)
    ));
    // Logout of all families; disabling the user also ends refreshes.
    let (a, b) = (session(&id, &tenant).await, session(&id, &tenant).await);
    // Three not yet revoked: the expired first family, a and b.
    assert_eq!(id.logout_all(&tenant, &alice, None).await.unwrap(), 3);
    for s in [a, b] {
        assert!(matches!(
            id.refresh(s.refresh_token.secret(), None).await,
            Err(IdentityError::InvalidRefreshToken)
        ));
    }
    let s = session(&id, &tenant).await;
    id.repositories()
        .users
        .set_user_disabled(&tenant, &alice, true)
        .await
        .unwrap();
    assert!(matches!(
        id.refresh(s.refresh_token.secret(), None).await,
        Err(IdentityError::InvalidRefreshToken)
    ));
}

/// Past the free failures the account is locked (the right password too), then released.
pub async fn repeated_failures_lock_the_account(r: Repositories, l: Arc<dyn LoginLimiter>) {
    let (id, clock, _) = identity(r, l);
    let (tenant, _) = tenant_with_alice(&id).await;
    for _ in 0..6 {
        assert!(matches!(
            login(&id, &tenant, "alice", "wrong password again").await,
            Err(IdentityError::InvalidCredentials)
        ));
    }
    match login(&id, &tenant, "ALICE", PASSWORD).await {
        Err(IdentityError::RateLimited { retry_after }) => assert!(retry_after.as_secs() >= 1),
        other => panic!("expected a lock, got {other:?}"),
    }
    clock.advance(2);
    assert!(matches!(
        login(&id, &tenant, "alice", PASSWORD).await,
        Ok(LoginOutcome::Session(_))
    ));
    // Unknown users are limited the same way (no enumeration through the limiter).
    for _ in 0..6 {
        let _ = login(&id, &tenant, "ghost", "wrong password again").await;
    }
    assert!(matches!(
        login(&id, &tenant, "ghost", PASSWORD).await,
        Err(IdentityError::RateLimited { .. })
    ));
}

trait ClockExt {
    fn now_unix_u64(&self) -> u64;
}

impl ClockExt for FixedClock {
    fn now_unix_u64(&self) -> u64 {
        iam_core::clock::Clock::now_unix(self) as u64
    }
}
