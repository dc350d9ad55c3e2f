//! The login flow: password → optional MFA challenge → a session (claims + refresh token).
//!
//! Unknown tenant, unknown user, wrong password, disabled user and suspended tenant end in
//! one [`IdentityError::InvalidCredentials`] after the same work: one argon2id verification
//! (against a dummy hash when there is no user), one limiter failure.
use crate::audit::{AuditEvent, AuditKind};
use crate::error::IdentityError;
use crate::identity::Identity;
use crate::model::{fold, MfaChallenge, RefreshFamily, Tenant, TotpCredential, User};
use crate::random::{token, token_hash};
use iam_core::Secret;
use std::collections::BTreeSet;
use std::net::IpAddr;
use zeroize::Zeroizing;

/// A login attempt.
#[derive(Debug, Clone, Copy)]
pub struct LoginRequest<'a> {
    /// The tenant's id.
    pub tenant: &'a str,
    /// The username or email, as typed.
    pub login: &'a str,
    /// The password.
    pub password: &'a Secret,
    /// The client's address (audit only; the service limits per IP itself).
    pub client_ip: Option<IpAddr>,
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Authenticated: mint an access token from the claims.
    Session(Session),
    /// The user has MFA: ask for a code.
    MfaRequired(MfaRequired),
}

/// An MFA challenge handed to the client.
#[derive(Debug)]
pub struct MfaRequired {
    /// The challenge token (single use).
    pub mfa_token: Secret,
    /// The methods the user may answer with.
    pub methods: Vec<&'static str>,
    /// Seconds the challenge lives.
    pub expires_in: u64,
}

/// A second factor.
#[derive(Debug)]
pub enum MfaProof<'a> {
    /// A TOTP code.
    Totp(&'a str),
    /// A recovery code.
    RecoveryCode(&'a str),
}

/// The identity an access token states (the caller adds `iss`, `aud`, `exp`, `iat`, `jti`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    /// `sub`: the user id.
    pub sub: String,
    /// `tenant`.
    pub tenant: String,
    /// `roles`: names of the user's roles and of its groups' roles.
    pub roles: Vec<String>,
    /// `permissions`: the union of those roles' permissions.
    pub permissions: Vec<String>,
    /// `acr`: `pwd` or `mfa`.
    pub acr: String,
    /// `amr`: the methods used.
    pub amr: Vec<String>,
    /// `sid`: the refresh family.
    pub sid: String,
}

/// A session: claims for an access token and the refresh token.
#[derive(Debug)]
pub struct Session {
    /// The claims.
    pub claims: SessionClaims,
    /// The refresh token (shown once; stored hashed).
    pub refresh_token: Secret,
    /// Seconds until the family's absolute end.
    pub refresh_expires_in: u64,
    /// When the session (or this rotation) was issued (Unix seconds): use it as `iat`.
    pub issued_at: i64,
    /// A stable id for the access token (`jti`): equal for concurrent refreshes with one
    /// token, so that both answers state the same token.
    pub token_id: String,
}

/// A user's effective access.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EffectiveAccess {
    /// Role names, sorted.
    pub roles: Vec<String>,
    /// Permissions, sorted.
    pub permissions: Vec<String>,
}

impl Identity {
    /// Check a password and either open a session or issue an MFA challenge.
    pub async fn login(&self, req: LoginRequest<'_>) -> Result<LoginOutcome, IdentityError> {
        self.policy.passwords.check_length(req.password.secret())?;
        let folded = fold(req.login);
        if folded.is_empty() || folded.len() > 320 {
            return Err(IdentityError::InvalidInput("username"));
        }
        let now = self.now();
        if let crate::limiter::LimitDecision::Limited { retry_after } =
            self.limiter.check_account(req.tenant, &folded, now).await?
        {
            return Err(IdentityError::RateLimited { retry_after });
        }
        // The hashing place first: a burst beyond the pool is refused before any lookup.
        let admission = self.hasher.admit()?;
        // Both reads on every path (an unknown tenant too), at once: the same work whatever
        // exists, and one round trip of latency.
        let (tenant, credential) = tokio::join!(
            self.repos.tenants.tenant(req.tenant),
            self.repos.users.login_credential(req.tenant, &folded),
        );
        let (tenant, credential) = (tenant?, credential?);
        let (user, hash) = match credential {
            Some(c) if tenant.is_some() => (Some(c.user), c.password),
            _ => (None, None),
        };
        let matched = self
            .hasher
            .verify_admitted(admission, req.password, hash.as_ref())
            .await?;
        let active = active(tenant.as_ref(), user.as_ref());
        let Some(user) = user.filter(|_| matched && active) else {
            self.limiter
                .record_failure(req.tenant, &folded, now)
                .await?;
            let mut e = AuditEvent::new(AuditKind::LoginFailed);
            e.tenant = tenant.map(|t| t.id);
            e.client_ip = req.client_ip;
            e.action = Some(if !matched {
                "wrong_password_or_unknown_user"
            } else {
                "inactive"
            });
            self.emit(e);
            return Err(IdentityError::InvalidCredentials);
        };
        self.limiter.record_success(req.tenant, &folded).await?;
        let totp = self.repos.mfa.totp(&user.id).await?;
        if totp.is_some_and(|t| t.confirmed) {
            let mfa_token = token();
            let ttl = self.policy.mfa_challenge_ttl.as_secs();
            self.repos
                .challenges
                .put(
                    &token_hash(&mfa_token),
                    &MfaChallenge {
                        tenant: user.tenant.clone(),
                        user_id: user.id.clone(),
                        expires_at: now + ttl as i64,
                        failures: 0,
                    },
                    now,
                )
                .await?;
            let mut e = AuditEvent::new(AuditKind::MfaChallenged);
            (e.tenant, e.user_id, e.client_ip) = (Some(user.tenant), Some(user.id), req.client_ip);
            self.emit(e);
            return Ok(LoginOutcome::MfaRequired(MfaRequired {
                mfa_token: Secret::new(mfa_token),
                methods: vec!["totp", "recovery_code"],
                expires_in: ttl,
            }));
        }
        let session = self.start_session(&user, "pwd", vec!["pwd".into()]).await?;
        let mut e = AuditEvent::new(AuditKind::LoginSucceeded);
        (e.tenant, e.user_id, e.family_id, e.client_ip) = (
            Some(user.tenant),
            Some(user.id),
            Some(session.claims.sid.clone()),
            req.client_ip,
        );
        self.emit(e);
        Ok(LoginOutcome::Session(session))
    }

    /// Answer an MFA challenge. The challenge is single use: it is taken before the code is
    /// checked and put back (with one more failure) only when the code is wrong, until
    /// `mfa_max_failures`.
    pub async fn verify_mfa(
        &self,
        mfa_token: &str,
        proof: MfaProof<'_>,
        client_ip: Option<IpAddr>,
    ) -> Result<Session, IdentityError> {
        if mfa_token.is_empty() || mfa_token.len() > 128 {
            return Err(IdentityError::InvalidMfaChallenge);
        }
        let now = self.now();
        let id_hash = token_hash(mfa_token);
        let Some(mut challenge) = self.repos.challenges.take(&id_hash, now).await? else {
            return Err(IdentityError::InvalidMfaChallenge);
        };
        let (accepted, method) = match proof {
            MfaProof::Totp(code) => (self.check_totp(&challenge.user_id, code, now).await?, "otp"),
            MfaProof::RecoveryCode(code) => {
                let ok = match crate::recovery::stored_form(code) {
                    Some(h) => {
                        self.repos
                            .mfa
                            .redeem_recovery_code(&challenge.user_id, &h, now)
                            .await?
                    }
                    None => false,
                };
                (ok, "recovery_code")
            }
        };
        let mut e = AuditEvent::new(if accepted {
            AuditKind::MfaSucceeded
        } else {
            AuditKind::MfaFailed
        });
        (e.tenant, e.user_id, e.client_ip, e.action) = (
            Some(challenge.tenant.clone()),
            Some(challenge.user_id.clone()),
            client_ip,
            Some(method),
        );
        self.emit(e);
        if !accepted {
            challenge.failures += 1;
            if challenge.failures < self.policy.mfa_max_failures {
                self.repos.challenges.put(&id_hash, &challenge, now).await?;
            }
            return Err(IdentityError::InvalidMfaCode);
        }
        let tenant = self.repos.tenants.tenant(&challenge.tenant).await?;
        let user = self
            .repos
            .users
            .user(&challenge.tenant, &challenge.user_id)
            .await?;
        let Some(user) = user.filter(|u| active(tenant.as_ref(), Some(u))) else {
            return Err(IdentityError::InvalidCredentials);
        };
        let session = self
            .start_session(&user, "mfa", vec!["pwd".into(), method.into()])
            .await?;
        let mut e = AuditEvent::new(AuditKind::LoginSucceeded);
        (e.tenant, e.user_id, e.family_id, e.client_ip) = (
            Some(user.tenant),
            Some(user.id),
            Some(session.claims.sid.clone()),
            client_ip,
        );
        self.emit(e);
        Ok(session)
    }

    /// Whether `code` is a fresh TOTP code of the user's confirmed credential (records its
    /// step: the same code, or an older one, is refused afterwards).
    pub(crate) async fn check_totp(
        &self,
        user: &str,
        code: &str,
        now: i64,
    ) -> Result<bool, IdentityError> {
        let Some((_, secret)) = self
            .totp_credential(user)
            .await?
            .filter(|(t, _)| t.confirmed)
        else {
            return Ok(false);
        };
        let Some(step) = self
            .policy
            .totp
            .matching_step(&secret, code, now.max(0) as u64)
        else {
            return Ok(false);
        };
        Ok(self.repos.mfa.use_totp_step(user, step).await?)
    }

    /// The user's TOTP credential and its raw secret, opened; a record in plain text or
    /// sealed by a retired key is written back sealed by the current key on the way.
    pub(crate) async fn totp_credential(
        &self,
        user: &str,
    ) -> Result<Option<(TotpCredential, Zeroizing<Vec<u8>>)>, IdentityError> {
        let Some(cred) = self.repos.mfa.totp(user).await? else {
            return Ok(None);
        };
        let opened = self.sealing.open(user, &cred.stored_secret)?;
        if opened.needs_resealing {
            let resealed = self.sealing.seal(user, &opened.secret_base32)?;
            // `false`: another request re-sealed (or replaced) it first; nothing to do.
            self.repos
                .mfa
                .reseal_totp(user, &cred.stored_secret, &resealed)
                .await?;
        }
        let raw = Zeroizing::new(crate::totp::decode(&opened.secret_base32)?);
        Ok(Some((cred, raw)))
    }

    /// The roles and permissions of a user: its own roles and its groups' roles.
    pub async fn effective_access(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<EffectiveAccess, IdentityError> {
        let (mut roles, mut permissions) = (BTreeSet::new(), BTreeSet::new());
        for role in self.repos.access.effective_roles(tenant, user).await? {
            roles.insert(role.name);
            permissions.extend(role.permissions);
        }
        Ok(EffectiveAccess {
            roles: roles.into_iter().collect(),
            permissions: permissions.into_iter().collect(),
        })
    }

    pub(crate) async fn start_session(
        &self,
        user: &User,
        acr: &str,
        amr: Vec<String>,
    ) -> Result<Session, IdentityError> {
        let now = self.now();
        let family = RefreshFamily {
            id: crate::model::new_id(),
            tenant: user.tenant.clone(),
            user_id: user.id.clone(),
            acr: acr.to_owned(),
            amr,
            created_at: now,
            expires_at: now + self.policy.refresh_lifetime.as_secs() as i64,
            revoked_at: None,
        };
        let refresh = token();
        let refresh_hash = token_hash(&refresh);
        // The family's insert and the roles' read are independent: one round trip of latency.
        let (created, access) = tokio::join!(
            self.repos.refresh.create_family(&family, &refresh_hash),
            self.effective_access(&user.tenant, &user.id),
        );
        created?;
        Ok(self.session(&family, Secret::new(refresh), &refresh_hash, now, access?))
    }

    pub(crate) fn session(
        &self,
        family: &RefreshFamily,
        refresh_token: Secret,
        refresh_hash: &str,
        issued_at: i64,
        access: EffectiveAccess,
    ) -> Session {
        Session {
            claims: SessionClaims {
                sub: family.user_id.clone(),
                tenant: family.tenant.clone(),
                roles: access.roles,
                permissions: access.permissions,
                acr: family.acr.clone(),
                amr: family.amr.clone(),
                sid: family.id.clone(),
            },
            refresh_token,
            refresh_expires_in: (family.expires_at - self.now()).max(0) as u64,
            issued_at,
            token_id: token_hash(&format!("jti:{refresh_hash}"))[..32].to_owned(),
        }
    }
}

/// Whether a user may log in or refresh: the tenant exists and is not suspended, the user
/// exists and is not disabled.
pub(crate) fn active(tenant: Option<&Tenant>, user: Option<&User>) -> bool {
    matches!((tenant, user), (Some(t), Some(u)) if !t.suspended && !u.disabled)
}
