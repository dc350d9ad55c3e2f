//! Administration and self-service: tenants, users, passwords, TOTP enrolment.
use crate::audit::{AuditEvent, AuditKind};
use crate::error::IdentityError;
use crate::identity::Identity;
use crate::model::{is_valid_tenant_id, new_id, Tenant, TotpCredential, User};
use iam_core::Secret;

/// A started TOTP enrolment (shown once).
#[derive(Debug)]
pub struct TotpEnrollment {
    /// The secret, base32.
    pub secret_base32: Secret,
    /// The `otpauth://` URI.
    pub otpauth_uri: Secret,
}

fn check_name(name: &str, field: &'static str, max: usize) -> Result<(), IdentityError> {
    if name.trim().is_empty() || name.len() > max || name.chars().any(char::is_control) {
        return Err(IdentityError::InvalidInput(field));
    }
    Ok(())
}

fn check_user_fields(username: &str, email: Option<&str>) -> Result<(), IdentityError> {
    check_name(username, "username", 256)?;
    if let Some(e) = email {
        check_name(e, "email", 320)?;
        if !e.contains('@') || e.contains(char::is_whitespace) {
            return Err(IdentityError::InvalidInput("email"));
        }
    }
    Ok(())
}

impl Identity {
    fn admin_event(&self, tenant: &str, user: Option<&str>, action: &'static str) {
        let mut e = AuditEvent::new(AuditKind::AdminChange);
        (e.tenant, e.user_id, e.action) = (
            Some(tenant.to_owned()),
            user.map(str::to_owned),
            Some(action),
        );
        self.emit(e);
    }

    /// Create a tenant (`id`: 1–63 of `a-z0-9-`).
    pub async fn create_tenant(
        &self,
        id: &str,
        display_name: &str,
    ) -> Result<Tenant, IdentityError> {
        if !is_valid_tenant_id(id) {
            return Err(IdentityError::InvalidInput("tenant"));
        }
        check_name(display_name, "display_name", 200)?;
        let tenant = Tenant {
            id: id.to_owned(),
            display_name: display_name.to_owned(),
            suspended: false,
            created_at: self.now(),
        };
        self.repos.tenants.create_tenant(&tenant).await?;
        self.admin_event(id, None, "create_tenant");
        Ok(tenant)
    }

    /// Create a user, with a password when given (checked against the policy).
    pub async fn create_user(
        &self,
        tenant: &str,
        username: &str,
        email: Option<&str>,
        password: Option<&Secret>,
    ) -> Result<User, IdentityError> {
        check_user_fields(username, email)?;
        if self.repos.tenants.tenant(tenant).await?.is_none() {
            return Err(IdentityError::NotFound);
        }
        let hash = match password {
            Some(p) => {
                self.policy.passwords.check_new(p.secret())?;
                Some(self.hasher.hash(p).await?)
            }
            None => None,
        };
        self.insert_user(tenant, username, email, hash).await
    }

    /// [`Self::create_user`] with a password hashed beforehand by [`Self::hasher`] (after
    /// [`crate::PasswordPolicy::check_new`]): for a caller that hashes while it does other
    /// work, as a service's start-up creating its first administrator does.
    pub async fn create_user_with_hash(
        &self,
        tenant: &str,
        username: &str,
        email: Option<&str>,
        hash: crate::model::PasswordHash,
    ) -> Result<User, IdentityError> {
        check_user_fields(username, email)?;
        if self.repos.tenants.tenant(tenant).await?.is_none() {
            return Err(IdentityError::NotFound);
        }
        self.insert_user(tenant, username, email, Some(hash)).await
    }

    async fn insert_user(
        &self,
        tenant: &str,
        username: &str,
        email: Option<&str>,
        hash: Option<crate::model::PasswordHash>,
    ) -> Result<User, IdentityError> {
        let user = User {
            id: new_id(),
            tenant: tenant.to_owned(),
            username: username.trim().to_owned(),
            email: email.map(|e| e.trim().to_owned()),
            disabled: false,
            created_at: self.now(),
        };
        self.repos.users.create_user(&user, hash.as_ref()).await?;
        self.admin_event(tenant, Some(&user.id), "create_user");
        Ok(user)
    }

    /// Set a user's password (admin), revoking its sessions.
    pub async fn set_password(
        &self,
        tenant: &str,
        user: &str,
        password: &Secret,
    ) -> Result<(), IdentityError> {
        self.policy.passwords.check_new(password.secret())?;
        if self.repos.users.user(tenant, user).await?.is_none() {
            return Err(IdentityError::NotFound);
        }
        let hash = self.hasher.hash(password).await?;
        if !self
            .repos
            .users
            .set_password_hash(tenant, user, &hash)
            .await?
        {
            return Err(IdentityError::NotFound);
        }
        self.repos
            .refresh
            .revoke_user_families(tenant, user, self.now())
            .await?;
        let mut e = AuditEvent::new(AuditKind::PasswordChanged);
        (e.tenant, e.user_id, e.action) =
            (Some(tenant.to_owned()), Some(user.to_owned()), Some("set"));
        self.emit(e);
        Ok(())
    }

    /// Change one's own password: the current one must match. Every session of the user is
    /// revoked.
    pub async fn change_password(
        &self,
        tenant: &str,
        user: &str,
        current: &Secret,
        new: &Secret,
    ) -> Result<(), IdentityError> {
        self.policy.passwords.check_length(current.secret())?;
        self.policy.passwords.check_new(new.secret())?;
        let hash = self.repos.users.password_hash(tenant, user).await?;
        if !self.hasher.verify(current, hash.as_ref()).await? {
            return Err(IdentityError::InvalidCredentials);
        }
        self.set_password(tenant, user, new).await
    }

    /// Start (or restart) a TOTP enrolment; refused when one is confirmed already.
    pub async fn enroll_totp(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<TotpEnrollment, IdentityError> {
        let Some(u) = self.repos.users.user(tenant, user).await? else {
            return Err(IdentityError::NotFound);
        };
        let secret = crate::totp::generate_secret();
        let account = u.email.as_deref().unwrap_or(&u.username);
        let uri = self.policy.totp.otpauth_uri(&secret, account)?;
        let stored = TotpCredential {
            stored_secret: self.sealing.seal(user, &secret)?,
            confirmed: false,
            last_step: 0,
        };
        if !self.repos.mfa.put_pending_totp(user, &stored).await? {
            return Err(IdentityError::TotpAlreadyEnrolled);
        }
        Ok(TotpEnrollment {
            secret_base32: Secret::new(secret.secret().to_owned()),
            otpauth_uri: Secret::new(uri),
        })
    }

    /// Confirm the pending enrolment with a code; returns the ten recovery codes (shown once).
    pub async fn confirm_totp(
        &self,
        tenant: &str,
        user: &str,
        code: &str,
    ) -> Result<Vec<Secret>, IdentityError> {
        if self.repos.users.user(tenant, user).await?.is_none() {
            return Err(IdentityError::NotFound);
        }
        let Some((_, secret)) = self
            .totp_credential(user)
            .await?
            .filter(|(t, _)| !t.confirmed)
        else {
            return Err(IdentityError::TotpNotEnrolled);
        };
        let Some(step) = self
            .policy
            .totp
            .matching_step(&secret, code, self.now().max(0) as u64)
        else {
            return Err(IdentityError::InvalidMfaCode);
        };
        let (shown, stored) = crate::recovery::generate();
        self.repos.mfa.replace_recovery_codes(user, &stored).await?;
        if !self.repos.mfa.confirm_totp(user, step).await? {
            return Err(IdentityError::TotpNotEnrolled);
        }
        let mut e = AuditEvent::new(AuditKind::TotpEnrolled);
        (e.tenant, e.user_id) = (Some(tenant.to_owned()), Some(user.to_owned()));
        self.emit(e);
        Ok(shown)
    }

    /// Remove TOTP and recovery codes (the caller checked the right: `acr = mfa` for
    /// oneself, `iam:admin` for a reset).
    pub async fn remove_mfa(&self, tenant: &str, user: &str) -> Result<(), IdentityError> {
        if self.repos.users.user(tenant, user).await?.is_none() {
            return Err(IdentityError::NotFound);
        }
        if !self.repos.mfa.delete_mfa(user).await? {
            return Err(IdentityError::TotpNotEnrolled);
        }
        let mut e = AuditEvent::new(AuditKind::MfaRemoved);
        (e.tenant, e.user_id) = (Some(tenant.to_owned()), Some(user.to_owned()));
        self.emit(e);
        Ok(())
    }

    /// Disable or enable a user; disabling revokes its sessions.
    pub async fn set_user_disabled(
        &self,
        tenant: &str,
        user: &str,
        disabled: bool,
    ) -> Result<(), IdentityError> {
        if !self
            .repos
            .users
            .set_user_disabled(tenant, user, disabled)
            .await?
        {
            return Err(IdentityError::NotFound);
        }
        if disabled {
            self.repos
                .refresh
                .revoke_user_families(tenant, user, self.now())
                .await?;
        }
        self.admin_event(
            tenant,
            Some(user),
            if disabled {
                "disable_user"
            } else {
                "enable_user"
            },
        );
        Ok(())
    }

    /// Suspend or resume a tenant.
    pub async fn set_tenant_suspended(
        &self,
        tenant: &str,
        suspended: bool,
    ) -> Result<(), IdentityError> {
        if !self
            .repos
            .tenants
            .set_tenant_suspended(tenant, suspended)
            .await?
        {
            return Err(IdentityError::NotFound);
        }
        self.admin_event(
            tenant,
            None,
            if suspended {
                "suspend_tenant"
            } else {
                "resume_tenant"
            },
        );
        Ok(())
    }

    /// Delete a user and everything of it.
    pub async fn delete_user(&self, tenant: &str, user: &str) -> Result<(), IdentityError> {
        if !self.repos.users.delete_user(tenant, user).await? {
            return Err(IdentityError::NotFound);
        }
        self.admin_event(tenant, Some(user), "delete_user");
        Ok(())
    }
}
