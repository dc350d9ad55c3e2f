//! The OpenAPI document, generated from the handlers (`GET /openapi.json`).
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "iam-api", description = "The headless IAM API of iam-rs"),
    modifiers(&Bearer),
    paths(
        crate::auth::login, crate::auth::mfa_verify, crate::auth::refresh, crate::auth::logout,
        crate::auth::totp_enroll, crate::auth::totp_confirm, crate::auth::totp_delete,
        crate::auth::password_change,
        crate::admin::create_tenant, crate::admin::list_tenants, crate::admin::get_tenant,
        crate::admin::suspend_tenant, crate::admin::resume_tenant,
        crate::admin::create_user, crate::admin::list_users, crate::admin::get_user,
        crate::admin::disable_user, crate::admin::enable_user, crate::admin::delete_user,
        crate::admin::reset_mfa, crate::admin::set_password, crate::admin::user_permissions,
        crate::admin::assign_user_role, crate::admin::unassign_user_role,
        crate::admin::create_group, crate::admin::list_groups, crate::admin::delete_group,
        crate::admin::list_members, crate::admin::add_member, crate::admin::remove_member,
        crate::admin::assign_group_role, crate::admin::unassign_group_role,
        crate::admin::create_role, crate::admin::list_roles, crate::admin::get_role,
        crate::admin::set_role_permissions, crate::admin::delete_role,
        crate::hydra_provider::login::login_request, crate::hydra_provider::consent::consent_request,
        crate::hydra_provider::consent::submit_consent,
    ),
    components(schemas(crate::auth::MfaRequiredResponse))
)]
pub struct ApiDoc;
