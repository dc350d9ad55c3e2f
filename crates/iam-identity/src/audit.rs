//! Audit events: what happened to whom, never with a secret in it.
//!
//! [`TracingAudit`] writes each event as one structured line at target `audit`;
//! [`MemoryAudit`] keeps them for tests.
use std::net::IpAddr;
use std::sync::Mutex;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditKind {
    /// A login succeeded (tokens issued).
    LoginSucceeded,
    /// A login failed (any reason; the reason is not told to the caller).
    LoginFailed,
    /// A correct password asked for the second factor.
    MfaChallenged,
    /// A second factor was accepted.
    MfaSucceeded,
    /// A second factor was refused.
    MfaFailed,
    /// A spent refresh token came back: its family is revoked.
    RefreshReuse,
    /// A refresh family (or all of a user's) was revoked by logout.
    Logout,
    /// TOTP was confirmed (recovery codes issued).
    TotpEnrolled,
    /// TOTP and recovery codes were removed.
    MfaRemoved,
    /// A password was changed or set.
    PasswordChanged,
    /// An administrative change (the action names it).
    AdminChange,
}

impl AuditKind {
    /// A stable name for log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::MfaChallenged => "mfa_challenged",
            Self::MfaSucceeded => "mfa_succeeded",
            Self::MfaFailed => "mfa_failed",
            Self::RefreshReuse => "refresh_reuse",
            Self::Logout => "logout",
            Self::TotpEnrolled => "totp_enrolled",
            Self::MfaRemoved => "mfa_removed",
            Self::PasswordChanged => "password_changed",
            Self::AdminChange => "admin_change",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// The tenant, when known.
    pub tenant: Option<String>,
    /// The user it happened to, when known.
    pub user_id: Option<String>,
    /// Who did it, for admin changes (a user id).
    pub actor: Option<String>,
    /// The refresh family, when one is involved.
    pub family_id: Option<String>,
    /// A fixed description (`create_user`, `wrong_password`), never user input.
    pub action: Option<&'static str>,
    /// The client's address, when known.
    pub client_ip: Option<IpAddr>,
}

impl AuditEvent {
    /// An event of `kind` with nothing else filled in.
    pub fn new(kind: AuditKind) -> Self {
        Self {
            kind,
            tenant: None,
            user_id: None,
            actor: None,
            family_id: None,
            action: None,
            client_ip: None,
        }
    }
}

/// Where audit events go.
pub trait AuditSink: Send + Sync + 'static {
    /// Record one event (must not block for long: buffer if the sink is remote).
    fn record(&self, event: &AuditEvent);
}

/// One structured log line per event, at target `audit`, level INFO (WARN for reuse).
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, e: &AuditEvent) {
        let (tenant, user, actor, family, action) = (
            e.tenant.as_deref().unwrap_or(""),
            e.user_id.as_deref().unwrap_or(""),
            e.actor.as_deref().unwrap_or(""),
            e.family_id.as_deref().unwrap_or(""),
            e.action.unwrap_or(""),
        );
        let ip = e.client_ip.map(|ip| ip.to_string()).unwrap_or_default();
        if e.kind == AuditKind::RefreshReuse {
            tracing::warn!(target: "audit", event = e.kind.as_str(), tenant, user, actor, family, action, ip);
        } else {
            tracing::info!(target: "audit", event = e.kind.as_str(), tenant, user, actor, family, action, ip);
        }
    }
}

/// Keeps every event (tests).
#[derive(Debug, Default)]
pub struct MemoryAudit(Mutex<Vec<AuditEvent>>);

impl MemoryAudit {
    /// Every event so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The events of one kind.
    pub fn of(&self, kind: AuditKind) -> Vec<AuditEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, event: &AuditEvent) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    }
}
