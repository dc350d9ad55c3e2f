//! Who is calling: the bootstrap token, a service token, or a user or admin through the
//! middleware's chain; and who changed something, for the audit log.
use super::errors::{auth_error, authentication_required, forbidden, not_a_caller, ApiError};
use super::AppState;
use crate::store::{Refusal, StoreError};
use axum::http::HeaderMap;
use iam_core::authn::RequestView;
use iam_core::credential::{parse, CredentialKind};
use iam_core::principal::PrincipalKind;
use iam_core::Principal;

/// Who changed something, for the audit log: a principal's subject and kind.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub(crate) subject: String,
    pub(crate) kind: &'static str,
}

impl Actor {
    pub(crate) fn of(p: &Principal) -> Self {
        Self {
            subject: p.subject().to_owned(),
            kind: p.kind().as_str(),
        }
    }
}

/// Who is calling.
pub(crate) enum Caller {
    /// The bootstrap token, or a principal with `credentials:admin`.
    Admin(Actor),
    /// A user (a Kratos session, or an OAuth2 token acting for a user): manages their own PATs.
    User(Principal),
    /// An OAuth2 client acting for itself: owns no PATs (an admin gives it a service token).
    Client,
    /// A service token (its credential id and owner): may call `/validate`.
    Service { id: String, owner: String },
}

impl Caller {
    /// The actor of an admin or user call.
    pub(crate) fn actor(&self) -> Actor {
        match self {
            Caller::Admin(a) => a.clone(),
            Caller::User(p) => Actor::of(p),
            Caller::Client => Actor {
                subject: "-".into(),
                kind: PrincipalKind::Client.as_str(),
            },
            Caller::Service { owner, .. } => Actor {
                subject: owner.clone(),
                kind: PrincipalKind::ServiceToken.as_str(),
            },
        }
    }
}

/// Authenticate the request's caller.
pub(crate) async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let (method, uri) = (http::Method::GET, http::Uri::from_static("/"));
    let view = RequestView::new(&method, &uri, headers);
    let bearer = view.bearer_token().map_err(|e| auth_error(&e))?;
    let now = crate::store::now();
    if let (Some(b), Some(boot)) = (bearer, &state.bootstrap) {
        if boot.accepts(b, now) {
            return Ok(Caller::Admin(Actor {
                subject: "bootstrap".into(),
                kind: "bootstrap",
            }));
        }
    }
    if let Some(b) = bearer.filter(|b| {
        parse(b).is_ok()
            || CredentialKind::ALL
                .iter()
                .any(|k| b.starts_with(k.prefix()))
    }) {
        let parsed = parse(b).map_err(|_| not_a_caller())?;
        return match state.store.check(parsed).await {
            Ok(v) if v.kind == CredentialKind::ServiceToken => Ok(Caller::Service {
                id: v.id,
                owner: v.owner,
            }),
            Err(Refusal::Unavailable) => Err(StoreError::Database("lookup".into()).into()),
            // A PAT or an API key: the same answer as for a token that does not exist.
            Ok(_) | Err(_) => Err(not_a_caller()),
        };
    }
    let failed = |e: ApiError| {
        if bearer.is_some() {
            if let Some(boot) = &state.bootstrap {
                boot.failed(now);
            }
        }
        e
    };
    if let Some(chain) = &state.users {
        return match chain.run(&view).await {
            Ok(Some(p)) if p.has_permission("credentials:admin") => {
                Ok(Caller::Admin(Actor::of(&p)))
            }
            Ok(Some(p))
                if matches!(
                    p.kind(),
                    PrincipalKind::UserSession | PrincipalKind::OAuth2Token
                ) =>
            {
                Ok(Caller::User(p))
            }
            Ok(Some(_)) => Ok(Caller::Client),
            Ok(None) => Err(failed(authentication_required())),
            Err(e) => Err(failed(auth_error(&e))),
        };
    }
    Err(failed(authentication_required()))
}

/// The answer for a call only admins and users may make.
pub(crate) fn managers_only(who: &Caller) -> Result<(), ApiError> {
    match who {
        Caller::Admin(_) | Caller::User(_) => Ok(()),
        Caller::Client => Err(forbidden(
            "only users own personal access tokens; OAuth2 clients get service tokens from an admin",
        )),
        Caller::Service { .. } => Err(not_a_caller()),
    }
}
