//! TOTP and recovery codes: sealed secrets, single-use steps and challenges, concurrent redemption.
use super::*;

pub(super) async fn enrol(id: &Identity, tenant: &str, user: &str) -> (Vec<u8>, Vec<Secret>) {
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
