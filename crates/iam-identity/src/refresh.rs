//! Refresh-token families: rotation, idempotent grace, reuse detection, logout.
//!
//! Each refresh spends the presented token and issues its successor,
//! `HMAC-SHA-256(refresh_secret, presented)`: a pure function of the token, so two
//! concurrent refreshes with one token inside the grace window get the same successor
//! (and the same `jti` and `iat` for the access token) instead of tripping reuse detection.
//! A spent token presented after the grace window revokes its whole family, successors
//! included, and emits [`AuditKind::RefreshReuse`].
//!
//! # Caveats
//! - Within the grace window, whoever holds a just-spent token gets its successor: the window
//!   is short (10 s by default) for that reason.
//! - The family's absolute end (`refresh_lifetime`) is never extended by rotation.
use crate::audit::{AuditEvent, AuditKind};
use crate::error::IdentityError;
use crate::identity::Identity;
use crate::login::{active, Session};
use crate::model::{RefreshFamily, SpendOutcome};
use crate::random::token_hash;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use iam_core::Secret;
use sha2::Sha256;
use std::net::IpAddr;

impl Identity {
    fn successor(&self, presented: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.refresh_secret.secret())
            .expect("HMAC takes any key length");
        mac.update(presented.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Exchange a refresh token for a new session of the same family.
    pub async fn refresh(
        &self,
        presented: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<Session, IdentityError> {
        if presented.is_empty() || presented.len() > 128 {
            return Err(IdentityError::InvalidRefreshToken);
        }
        let now = self.now();
        let successor = self.successor(presented);
        let successor_hash = token_hash(&successor);
        // One call: the spend, the family and (on SQL stores) whether its tenant and user
        // may still refresh.
        let spent = self
            .repos
            .refresh
            .spend_token_with_family(&token_hash(presented), &successor_hash, now)
            .await?;
        let issued_at = match spent.outcome {
            SpendOutcome::Unknown => return Err(IdentityError::InvalidRefreshToken),
            SpendOutcome::Spent(_) => now,
            SpendOutcome::AlreadySpent(record) => {
                let spent_at = record.spent_at.unwrap_or(now);
                if now - spent_at > self.policy.refresh_grace.as_secs() as i64 {
                    let revoked = self
                        .repos
                        .refresh
                        .revoke_family(&record.family_id, now)
                        .await?;
                    let mut e = AuditEvent::new(AuditKind::RefreshReuse);
                    e.family_id = Some(record.family_id);
                    e.client_ip = client_ip;
                    if let Some(f) = spent.family.filter(|_| revoked) {
                        (e.tenant, e.user_id) = (Some(f.tenant), Some(f.user_id));
                    }
                    self.emit(e);
                    return Err(IdentityError::InvalidRefreshToken);
                }
                spent_at
            }
        };
        let family = spent
            .family
            .filter(|f| f.revoked_at.is_none() && now < f.expires_at)
            .ok_or(IdentityError::InvalidRefreshToken)?;
        let access = match spent.holder_active {
            Some(false) => return Err(IdentityError::InvalidRefreshToken),
            Some(true) => {
                self.effective_access(&family.tenant, &family.user_id)
                    .await?
            }
            None => {
                // Three independent reads at once: one round trip of latency.
                let (tenant, user, access) = tokio::join!(
                    self.repos.tenants.tenant(&family.tenant),
                    self.repos.users.user(&family.tenant, &family.user_id),
                    self.effective_access(&family.tenant, &family.user_id),
                );
                if !active(tenant?.as_ref(), user?.as_ref()) {
                    return Err(IdentityError::InvalidRefreshToken);
                }
                access?
            }
        };
        Ok(self.session(
            &family,
            Secret::new(successor),
            &successor_hash,
            issued_at,
            access,
        ))
    }

    async fn live_family(&self, id: &str, now: i64) -> Result<RefreshFamily, IdentityError> {
        self.repos
            .refresh
            .family(id)
            .await?
            .filter(|f| f.revoked_at.is_none() && now < f.expires_at)
            .ok_or(IdentityError::InvalidRefreshToken)
    }

    /// Revoke the family of a refresh token. Unknown tokens are ignored (logout is
    /// idempotent and tells nothing).
    pub async fn logout(
        &self,
        presented: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<(), IdentityError> {
        if presented.is_empty() || presented.len() > 128 {
            return Ok(());
        }
        let Some(record) = self.repos.refresh.token(&token_hash(presented)).await? else {
            return Ok(());
        };
        let now = self.now();
        self.repos
            .refresh
            .revoke_family(&record.family_id, now)
            .await?;
        let mut e = AuditEvent::new(AuditKind::Logout);
        (e.family_id, e.client_ip) = (Some(record.family_id), client_ip);
        self.emit(e);
        Ok(())
    }

    /// Revoke every family of a user; returns how many were not revoked yet.
    pub async fn logout_all(
        &self,
        tenant: &str,
        user: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<u64, IdentityError> {
        let n = self
            .repos
            .refresh
            .revoke_user_families(tenant, user, self.now())
            .await?;
        let mut e = AuditEvent::new(AuditKind::Logout);
        (e.tenant, e.user_id, e.client_ip, e.action) = (
            Some(tenant.to_owned()),
            Some(user.to_owned()),
            client_ip,
            Some("all"),
        );
        self.emit(e);
        Ok(n)
    }

    /// Whether a family is live (not revoked, not past its end): for a service that checks
    /// `sid` on sensitive calls.
    pub async fn family_is_live(&self, id: &str) -> Result<bool, IdentityError> {
        match self.live_family(id, self.now()).await {
            Ok(_) => Ok(true),
            Err(IdentityError::InvalidRefreshToken) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
