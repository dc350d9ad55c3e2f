//! Tenants, roles and groups: effective permissions, tenant isolation, concurrent writes of different users.
use super::mfa::enrol;
use super::*;

/// Roles of the user and of its groups, expanded to permissions, in the claims.
pub async fn effective_permissions_come_from_roles_and_groups(
    r: Repositories,
    l: Arc<dyn LoginLimiter>,
) {
    let (id, _, _) = identity(r, l);
    let (tenant, alice) = tenant_with_alice(&id).await;
    let repos = id.repositories();
    let reader = Role {
        id: new_id(),
        tenant: tenant.clone(),
        name: "reader".into(),
        permissions: vec!["docs:read".into()],
    };
    let writer = Role {
        id: new_id(),
        tenant: tenant.clone(),
        name: "writer".into(),
        permissions: vec!["docs:read".into(), "docs:write".into()],
    };
    repos.access.create_role(&reader).await.unwrap();
    repos.access.create_role(&writer).await.unwrap();
    assert!(matches!(
        repos
            .access
            .create_role(&Role {
                id: new_id(),
                ..reader.clone()
            })
            .await,
        Err(crate::RepositoryError::Conflict)
    ));
    let group = Group {
        id: new_id(),
        tenant: tenant.clone(),
        name: "editors".into(),
    };
    repos.access.create_group(&group).await.unwrap();
    repos
        .access
        .add_member(&tenant, &group.id, &alice)
        .await
        .unwrap();
    repos
        .access
        .assign_role(&tenant, RoleHolder::User(&alice), &reader.id)
        .await
        .unwrap();
    repos
        .access
        .assign_role(&tenant, RoleHolder::Group(&group.id), &writer.id)
        .await
        .unwrap();
    let s = session(&id, &tenant).await;
    assert_eq!(s.claims.roles, ["reader", "writer"]);
    assert_eq!(s.claims.permissions, ["docs:read", "docs:write"]);
    assert_eq!(
        (s.claims.acr.as_str(), s.claims.amr.as_slice()),
        ("pwd", &["pwd".to_string()][..])
    );
    assert!(repos
        .access
        .remove_member(&tenant, &group.id, &alice)
        .await
        .unwrap());
    let access = id.effective_access(&tenant, &alice).await.unwrap();
    assert_eq!(access.permissions, ["docs:read"]);
    repos
        .access
        .set_role_permissions(&tenant, &reader.id, &["a:b".into()])
        .await
        .unwrap();
    assert_eq!(
        id.effective_access(&tenant, &alice)
            .await
            .unwrap()
            .permissions,
        ["a:b"]
    );
    assert!(repos.access.delete_role(&tenant, &reader.id).await.unwrap());
    assert!(id
        .effective_access(&tenant, &alice)
        .await
        .unwrap()
        .roles
        .is_empty());
}

/// Nothing of one tenant is visible or changeable through another tenant's id.
pub async fn tenants_are_isolated(r: Repositories, l: Arc<dyn LoginLimiter>) {
    let (id, _, _) = identity(r, l);
    let (a, alice) = tenant_with_alice(&id).await;
    let (b, _) = tenant_with_alice(&id).await;
    let repos = id.repositories();
    assert!(repos.users.user(&b, &alice).await.unwrap().is_none());
    assert!(!repos
        .users
        .set_user_disabled(&b, &alice, true)
        .await
        .unwrap());
    assert!(!repos.users.delete_user(&b, &alice).await.unwrap());
    assert!(repos
        .users
        .password_hash(&b, &alice)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        id.set_password(&b, &alice, &pw("another long password"))
            .await,
        Err(IdentityError::NotFound)
    ));
    assert!(repos
        .users
        .list_users(&b, None, 100)
        .await
        .unwrap()
        .iter()
        .all(|u| u.tenant == b));
    let role = Role {
        id: new_id(),
        tenant: a.clone(),
        name: "r".into(),
        permissions: vec!["x".into()],
    };
    repos.access.create_role(&role).await.unwrap();
    assert!(repos.access.role(&b, &role.id).await.unwrap().is_none());
    assert!(!repos.access.delete_role(&b, &role.id).await.unwrap());
    assert!(repos.users.user(&a, &alice).await.unwrap().is_some());
    // Pagination by cursor within one tenant.
    for i in 0..5 {
        id.create_user(&a, &format!("user{i}"), None, None)
            .await
            .unwrap();
    }
    let first = repos.users.list_users(&a, None, 4).await.unwrap();
    let rest = repos
        .users
        .list_users(&a, Some(&first[3].id), 4)
        .await
        .unwrap();
    assert_eq!((first.len(), rest.len()), (4, 2));
    assert!(first.iter().chain(&rest).all(|u| u.tenant == a));
    let tenants = repos.tenants.list_tenants(None, 1000).await.unwrap();
    assert!(tenants.iter().any(|t| t.id == a) && tenants.iter().any(|t| t.id == b));
}

/// Many users changing their own credentials at once never see a storage error: a store
/// whose transactions deadlock on neighbouring rows (InnoDB gap locks) retries them instead
/// of turning a concurrent neighbour into a 503.
pub async fn concurrent_writes_for_different_users_all_succeed(
    r: Repositories,
    l: Arc<dyn LoginLimiter>,
) {
    let (id, clock, _) = identity(r, l);
    let tenant = format!("t{}", &new_id()[..12]);
    id.create_tenant(&tenant, "Test").await.unwrap();
    let mut users = Vec::new();
    for i in 0..16 {
        let name = format!("user{i:02}");
        let password = pw(PASSWORD);
        let user = id.create_user(&tenant, &name, None, Some(&password)).await;
        users.push((name, user.unwrap().id));
    }
    clock.advance(60);
    let done = futures_join(users.into_iter().map(|(name, user)| {
        let (id, tenant) = (Arc::clone(&id), tenant.clone());
        async move {
            id.set_password(&tenant, &user, &pw("another long password"))
                .await
                .unwrap();
            let LoginOutcome::Session(s) = login(&id, &tenant, &name, "another long password")
                .await
                .unwrap()
            else {
                panic!("unexpected MFA")
            };
            id.refresh(s.refresh_token.secret(), None).await.unwrap();
            enrol(&id, &tenant, &user).await;
            id.remove_mfa(&tenant, &user).await.unwrap();
            enrol(&id, &tenant, &user).await;
            let other = format!("{name}-b");
            let fresh = id.create_user(&tenant, &other, None, None).await.unwrap();
            id.delete_user(&tenant, &fresh.id).await.unwrap();
        }
    }))
    .await;
    assert_eq!(done.len(), 16);
}
