//! The consent challenge: claims from the account, the decision through iam-client's
//! consent helper.
use super::{well_formed, HydraProvider, ProviderError, RedirectAnswer};
use crate::errors::JsonBody;
use crate::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use iam_client::hydra::{ConsentDecision, ConsentRequest, ConsentStep, RequestState};
use iam_service::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// `POST /auth/consent`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConsentBody {
    /// From Hydra's redirect to the consent page.
    pub consent_challenge: String,
    /// The user approved (`false`: refused; the client gets `access_denied`).
    pub approve: bool,
    /// The scopes approved (default: every requested scope); never more than requested.
    pub grant_scope: Option<Vec<String>>,
    /// Ask Hydra to remember the consent (next time it is not asked again).
    #[serde(default)]
    pub remember: bool,
}

/// What a consent page shows (`GET /auth/consent`), or where to go when nothing is to ask.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentInfo {
    /// Decided without the user (remembered, or a first-party client): follow it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
    /// The client asking.
    pub client_id: Option<String>,
    /// Its display name.
    pub client_name: Option<String>,
    /// The scopes it asks for.
    pub requested_scope: Vec<String>,
    /// The audiences it asks for.
    pub requested_audience: Vec<String>,
}

/// What the account grants: the claims of the tokens, or a refusal.
pub(super) struct Grant {
    tenant: String,
    roles: Vec<String>,
    permissions: Vec<String>,
    email: Option<String>,
}

impl Grant {
    /// The claims put into both tokens: `tenant`, `roles`, `permissions`.
    pub(super) fn claims(&self) -> [(&'static str, serde_json::Value); 3] {
        [
            ("tenant", json!(self.tenant)),
            ("roles", json!(self.roles)),
            ("permissions", json!(self.permissions)),
        ]
    }

    /// The policy handed to the consent helper.
    pub(super) fn decide(
        &self,
        request: &ConsentRequest,
        remember_for: Option<std::time::Duration>,
    ) -> ConsentDecision {
        let mut d = ConsentDecision::grant_requested(request);
        for (name, value) in self.claims() {
            d = d
                .access_token_claim(name, value.clone())
                .id_token_claim(name, value);
        }
        if let Some(email) = self
            .email
            .as_ref()
            .filter(|_| request.requested_scope.iter().any(|s| s == "email"))
        {
            // No verification of addresses in the account model yet: never claim it.
            d = d
                .id_token_claim("email", email.clone())
                .id_token_claim("email_verified", false);
        }
        match remember_for {
            Some(t) => d.remember_for(t),
            None => d,
        }
    }
}

impl HydraProvider {
    async fn open_consent(&self, challenge: &str) -> Result<ConsentRequest, ProviderError> {
        let challenge = well_formed(challenge)?;
        if self.used.is_used(challenge) {
            return Err(ProviderError::ChallengeUsed);
        }
        match self.admin.get_consent_request(challenge).await? {
            RequestState::Open(r) => Ok(r),
            RequestState::AlreadyHandled(_) => Err(ProviderError::ChallengeUsed),
        }
    }

    /// The claims of the consent's user, or `None` when the user is no longer active (or the
    /// login did not come from this IAM API: no tenant in its context).
    pub(super) async fn grant(
        &self,
        state: &AppState,
        request: &ConsentRequest,
    ) -> Result<Option<Grant>, ProviderError> {
        let Some(tenant) = request
            .context
            .as_ref()
            .and_then(|c| c.get("tenant"))
            .and_then(|t| t.as_str())
        else {
            return Ok(None);
        };
        self.account_grant(state, tenant, &request.subject).await
    }

    /// The claims of user `subject` of `tenant`, or `None` when the user is unknown,
    /// disabled, or its tenant suspended or gone.
    pub(super) async fn account_grant(
        &self,
        state: &AppState,
        tenant: &str,
        subject: &str,
    ) -> Result<Option<Grant>, ProviderError> {
        let repos = state.identity.repositories();
        let active_tenant = repos
            .tenants
            .tenant(tenant)
            .await
            .map_err(|e| ProviderError::Identity(e.into()))?
            .is_some_and(|t| !t.suspended);
        let user = repos
            .users
            .user(tenant, subject)
            .await
            .map_err(|e| ProviderError::Identity(e.into()))?
            .filter(|u| active_tenant && !u.disabled);
        let Some(user) = user else {
            return Ok(None);
        };
        let access = state.identity.effective_access(tenant, &user.id).await?;
        Ok(Some(Grant {
            tenant: tenant.to_owned(),
            roles: access.roles,
            permissions: access.permissions,
            email: user.email,
        }))
    }

    /// Reject a consent whose user cannot be granted anything.
    pub(super) async fn refuse(&self, challenge: &str) -> Result<RedirectAnswer, ProviderError> {
        let r = self
            .admin
            .reject_consent_request(
                challenge,
                &iam_client::hydra::RejectRequest::access_denied("the account is not active"),
            )
            .await?;
        self.redirect(r)
    }
}

fn provider(state: &AppState) -> Result<&HydraProvider, Problem> {
    state
        .hydra
        .as_deref()
        .ok_or_else(|| Problem::not_found("IAM_API_TOKEN_BACKEND is not hydra"))
}

/// A consent challenge: decided at once for Hydra's `skip` and first-party clients
/// (`skip_consent`), else what the page must ask.
#[utoipa::path(get, path = "/auth/consent", tag = "hydra",
    params(("consent_challenge" = String, Query, description = "From Hydra's redirect")),
    responses((status = 200, body = ConsentInfo), (status = 400), (status = 404), (status = 410), (status = 503)))]
pub async fn consent_request(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let result: Result<ConsentInfo, Problem> = async {
        let hydra = provider(&state)?;
        let challenge = query.get("consent_challenge").map_or("", String::as_str);
        let request = hydra.open_consent(challenge).await?;
        let decided = |r: RedirectAnswer| ConsentInfo {
            redirect_to: Some(r.redirect_to),
            client_id: None,
            client_name: None,
            requested_scope: Vec::new(),
            requested_audience: Vec::new(),
        };
        let auto = request.skip || request.client_skips_consent();
        let grant = if auto {
            let Some(grant) = hydra.grant(&state, &request).await? else {
                hydra.used.claim(challenge)?;
                return Ok(decided(hydra.refuse(challenge).await?));
            };
            hydra.used.claim(challenge)?;
            Some(grant)
        } else {
            None
        };
        let step = hydra
            .admin
            .decide_consent(challenge, |r| match &grant {
                Some(g) => g.decide(r, None),
                None => ConsentDecision::deny("no grant"),
            })
            .await
            .map_err(ProviderError::from)?;
        match step {
            ConsentStep::Redirect(r) => Ok(decided(hydra.redirect(r)?)),
            ConsentStep::AskUser(r) => {
                let client = r.client.as_ref();
                Ok(ConsentInfo {
                    redirect_to: None,
                    client_id: client.and_then(|c| c.client_id.clone()),
                    client_name: client.and_then(|c| c.client_name.clone()),
                    requested_scope: r.requested_scope.clone(),
                    requested_audience: r.requested_access_token_audience.clone(),
                })
            }
        }
    }
    .await;
    match result {
        Ok(info) => Json(info).into_response(),
        Err(p) => p.into_response(),
    }
}

/// The user's answer to a consent page.
#[utoipa::path(post, path = "/auth/consent", tag = "hydra", request_body = ConsentBody,
    responses((status = 200, body = RedirectAnswer), (status = 400), (status = 404), (status = 410), (status = 503)))]
pub async fn submit_consent(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<ConsentBody>,
) -> Response {
    let result: Result<RedirectAnswer, Problem> = async {
        let hydra = provider(&state)?;
        let challenge = body.consent_challenge.as_str();
        let request = hydra.open_consent(challenge).await?;
        let grant = hydra.grant(&state, &request).await?;
        hydra.used.claim(challenge)?;
        let Some(grant) = grant else {
            return Ok(hydra.refuse(challenge).await?);
        };
        let approved = body.approve.then(|| {
            body.grant_scope
                .clone()
                .unwrap_or(request.requested_scope.clone())
        });
        let remember = body.remember.then_some(hydra.remember_for);
        let r = hydra
            .admin
            .finish_consent(challenge, approved.as_deref(), |r| {
                grant.decide(r, remember)
            })
            .await
            .map_err(ProviderError::from)?;
        Ok(hydra.redirect(r)?)
    }
    .await;
    match result {
        Ok(r) => Json(r).into_response(),
        Err(p) => p.into_response(),
    }
}
