//! The consent decision: Hydra asks, the policy answers, the user is asked only when needed.
//!
//! Hydra leaves the whole consent step to the login provider: it says `skip` when the user
//! granted the same scopes to the same client before and remembered it, and it stores a
//! client's `skip_consent` (a first-party client) without acting on it. This helper does
//! that part: with `skip` or `skip_consent` it applies the policy at once (no page); else
//! it hands the request back to show a page, and [`HydraAdmin::finish_consent`] applies the
//! policy to what the user approved.
use super::flows::{AcceptConsent, ConsentRequest, Redirect, RejectRequest, RequestState};
use super::{HydraAdmin, HydraError};
use serde_json::Value;
use std::time::Duration;

/// What the policy grants for a consent request: the scopes, audiences and token claims,
/// or a refusal.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsentDecision {
    /// Accept with this body.
    Grant(AcceptConsent),
    /// Reject with this OAuth2 error.
    Deny(RejectRequest),
}

impl ConsentDecision {
    /// Grant the requested scopes and audiences.
    pub fn grant_requested(request: &ConsentRequest) -> Self {
        Self::Grant(AcceptConsent::requested(request))
    }
    /// Refuse with `access_denied`.
    pub fn deny(description: impl Into<String>) -> Self {
        Self::Deny(RejectRequest::access_denied(description))
    }
    /// Add a claim to the access token (no effect on a refusal).
    pub fn access_token_claim(self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        match self {
            Self::Grant(a) => Self::Grant(a.access_token_claim(name, value)),
            deny => deny,
        }
    }
    /// Add a claim to the ID token (no effect on a refusal).
    pub fn id_token_claim(self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        match self {
            Self::Grant(a) => Self::Grant(a.id_token_claim(name, value)),
            deny => deny,
        }
    }
    /// Remember the grant for `d` (no effect on a refusal).
    pub fn remember_for(self, d: Duration) -> Self {
        match self {
            Self::Grant(a) => Self::Grant(a.remember_for(d)),
            deny => deny,
        }
    }
}

/// Where a consent stands after [`HydraAdmin::decide_consent`].
#[derive(Debug, Clone)]
pub enum ConsentStep {
    /// Decided (accepted, rejected, or handled before): send the browser here.
    Redirect(Redirect),
    /// The user must be asked: show a page for this request, then call
    /// [`HydraAdmin::finish_consent`].
    AskUser(Box<ConsentRequest>),
}

impl HydraAdmin {
    /// Decide a consent without a page when Hydra says `skip` or the client has
    /// `skip_consent`: `policy` says what to grant (scopes, audiences, claims) or refuses.
    /// Otherwise the request comes back as [`ConsentStep::AskUser`]. The policy is also
    /// called for remembered consents, because Hydra does not keep the claims of the first
    /// one.
    pub async fn decide_consent<P>(
        &self,
        consent_challenge: &str,
        policy: P,
    ) -> Result<ConsentStep, HydraError>
    where
        P: FnOnce(&ConsentRequest) -> ConsentDecision,
    {
        let request = match self.get_consent_request(consent_challenge).await? {
            RequestState::AlreadyHandled(r) => return Ok(ConsentStep::Redirect(r)),
            RequestState::Open(request) => request,
        };
        if !(request.skip || request.client_skips_consent()) {
            return Ok(ConsentStep::AskUser(Box::new(request)));
        }
        let decision = policy(&request);
        self.apply(consent_challenge, decision)
            .await
            .map(ConsentStep::Redirect)
    }

    /// Finish a consent the user answered: `approved` is the scopes they approved (`None`:
    /// they refused). The policy's grant is cut down to the approved scopes; a refusal by
    /// the user or the policy rejects with `access_denied`.
    pub async fn finish_consent<P>(
        &self,
        consent_challenge: &str,
        approved: Option<&[String]>,
        policy: P,
    ) -> Result<Redirect, HydraError>
    where
        P: FnOnce(&ConsentRequest) -> ConsentDecision,
    {
        let request = match self.get_consent_request(consent_challenge).await? {
            RequestState::AlreadyHandled(r) => return Ok(r),
            RequestState::Open(request) => request,
        };
        let decision = match approved {
            None => ConsentDecision::deny("the user refused the consent"),
            Some(scopes) => match policy(&request) {
                ConsentDecision::Grant(mut accept) => {
                    accept.grant_scope.retain(|s| scopes.contains(s));
                    ConsentDecision::Grant(accept)
                }
                deny => deny,
            },
        };
        self.apply(consent_challenge, decision).await
    }

    async fn apply(
        &self,
        consent_challenge: &str,
        decision: ConsentDecision,
    ) -> Result<Redirect, HydraError> {
        match decision {
            ConsentDecision::Grant(accept) => {
                self.accept_consent_request(consent_challenge, &accept)
                    .await
            }
            ConsentDecision::Deny(reject) => {
                self.reject_consent_request(consent_challenge, &reject)
                    .await
            }
        }
    }
}
