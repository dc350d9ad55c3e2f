//! Logins: one error for every invalid credential, case folding, password checks before hashing, lockout.
use super::*;

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
