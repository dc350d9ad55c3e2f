//! Refresh families: rotation, the grace window, reuse detection, absolute lifetime and logout.
use super::*;

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
    // So does suspending the tenant (the user enabled again).
    id.repositories()
        .users
        .set_user_disabled(&tenant, &alice, false)
        .await
        .unwrap();
    let s = session(&id, &tenant).await;
    let t = id
        .refresh(s.refresh_token.secret(), None)
        .await
        .unwrap()
        .refresh_token
        .secret()
        .clone();
    id.repositories()
        .tenants
        .set_tenant_suspended(&tenant, true)
        .await
        .unwrap();
    assert!(matches!(
        id.refresh(&t, None).await,
        Err(IdentityError::InvalidRefreshToken)
    ));
}
