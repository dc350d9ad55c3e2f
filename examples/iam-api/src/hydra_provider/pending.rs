//! Headless logins waiting for their MFA step: Hydra's login challenge, the PKCE and OIDC
//! secrets and the flow's cookies, found by the MFA token (its SHA-256), bounded in number
//! and lifetime, taken out for each attempt.
use super::cookies::FlowCookies;
use iam_client::login::PendingLogin;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// One server-side authorization between the password and the MFA step.
pub(super) struct PendingFlow {
    /// Hydra's login challenge.
    pub(super) challenge: String,
    /// `state`, `nonce` and the PKCE verifier.
    pub(super) login: PendingLogin,
    /// Hydra's cookies of this flow.
    pub(super) cookies: FlowCookies,
    /// When the MFA token dies (the flow with it).
    pub(super) expires: Instant,
}

impl std::fmt::Debug for PendingFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingFlow").finish_non_exhaustive()
    }
}

/// The pending flows of this instance.
pub(super) struct PendingFlows {
    flows: Mutex<HashMap<[u8; 32], PendingFlow>>,
    capacity: usize,
}

// The keys are digests of MFA tokens: neither they nor the flows are shown.
impl std::fmt::Debug for PendingFlows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingFlows")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// The record is full of live flows.
#[derive(Debug, thiserror::Error)]
#[error("too many logins are waiting for their MFA step")]
pub(super) struct Full;

fn key(mfa_token: &str) -> [u8; 32] {
    Sha256::digest(mfa_token.as_bytes()).into()
}

impl PendingFlows {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            flows: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Keep `flow` under `mfa_token`; full (after dropping the expired): [`Full`].
    pub(super) fn put(&self, mfa_token: &str, flow: PendingFlow) -> Result<(), Full> {
        let now = Instant::now();
        let mut flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        if flows.len() >= self.capacity {
            flows.retain(|_, f| f.expires > now);
            if flows.len() >= self.capacity {
                return Err(Full);
            }
        }
        flows.insert(key(mfa_token), flow);
        Ok(())
    }

    /// Take the live flow of `mfa_token` out: of two concurrent callers one gets it.
    pub(super) fn take(&self, mfa_token: &str) -> Option<PendingFlow> {
        let mut flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        flows
            .remove(&key(mfa_token))
            .filter(|f| f.expires > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn flow(ttl: Duration) -> PendingFlow {
        PendingFlow {
            challenge: "c".into(),
            login: PendingLogin::from_secrets("s", "n", "v"),
            cookies: FlowCookies::default(),
            expires: Instant::now() + ttl,
        }
    }

    #[test]
    fn a_flow_is_taken_once_and_an_unknown_token_finds_nothing() {
        let p = PendingFlows::new(4);
        p.put("mfa-1", flow(Duration::from_secs(60))).unwrap();
        assert!(p.take("forged").is_none());
        assert_eq!(p.take("mfa-1").unwrap().challenge, "c");
        assert!(p.take("mfa-1").is_none());
    }

    #[test]
    fn an_expired_flow_is_gone_and_makes_room() {
        let p = PendingFlows::new(1);
        p.put("old", flow(Duration::ZERO)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        p.put("new", flow(Duration::from_secs(60))).unwrap();
        assert!(p.take("old").is_none());
        assert!(p.take("new").is_some());
    }

    #[test]
    fn a_full_record_of_live_flows_refuses_instead_of_forgetting() {
        let p = PendingFlows::new(2);
        p.put("a", flow(Duration::from_secs(60))).unwrap();
        p.put("b", flow(Duration::from_secs(60))).unwrap();
        assert!(p.put("c", flow(Duration::from_secs(60))).is_err());
        assert!(p.take("a").is_some());
    }
}
