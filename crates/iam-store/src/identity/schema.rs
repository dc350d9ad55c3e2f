//! The identity tables, per backend (namespace `iam-identity`).
//!
//! Integers are BIGINT and text is VARCHAR everywhere (the `Any` driver reads MariaDB TEXT as
//! bytes); MariaDB tables use a binary collation so that keys compare byte for byte, as they
//! do on SQLite and PostgreSQL (folding is done before the database sees a login).
use crate::Migration;

/// The migration namespace.
pub const NAMESPACE: &str = "iam-identity";

const PORTABLE_V1: &str = r"
CREATE TABLE IF NOT EXISTS iam_tenants (
    id VARCHAR(63) PRIMARY KEY,
    display_name VARCHAR(200) NOT NULL,
    suspended BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS iam_users (
    id VARCHAR(32) PRIMARY KEY,
    tenant VARCHAR(63) NOT NULL,
    username VARCHAR(256) NOT NULL,
    email VARCHAR(320),
    disabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS iam_users_tenant ON iam_users (tenant, id);
CREATE TABLE IF NOT EXISTS iam_user_logins (
    tenant VARCHAR(63) NOT NULL,
    login VARCHAR(320) NOT NULL,
    user_id VARCHAR(32) NOT NULL,
    PRIMARY KEY (tenant, login)
);
CREATE INDEX IF NOT EXISTS iam_user_logins_user ON iam_user_logins (user_id);
CREATE TABLE IF NOT EXISTS iam_passwords (
    user_id VARCHAR(32) PRIMARY KEY,
    phc VARCHAR(255) NOT NULL
);
CREATE TABLE IF NOT EXISTS iam_groups (
    id VARCHAR(32) PRIMARY KEY,
    tenant VARCHAR(63) NOT NULL,
    name VARCHAR(200) NOT NULL,
    UNIQUE (tenant, name)
);
CREATE TABLE IF NOT EXISTS iam_group_members (
    group_id VARCHAR(32) NOT NULL,
    user_id VARCHAR(32) NOT NULL,
    tenant VARCHAR(63) NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS iam_group_members_user ON iam_group_members (user_id);
CREATE TABLE IF NOT EXISTS iam_roles (
    id VARCHAR(32) PRIMARY KEY,
    tenant VARCHAR(63) NOT NULL,
    name VARCHAR(200) NOT NULL,
    permissions VARCHAR(8192) NOT NULL,
    UNIQUE (tenant, name)
);
CREATE TABLE IF NOT EXISTS iam_role_assignments (
    holder_kind VARCHAR(1) NOT NULL,
    holder_id VARCHAR(32) NOT NULL,
    role_id VARCHAR(32) NOT NULL,
    tenant VARCHAR(63) NOT NULL,
    PRIMARY KEY (holder_kind, holder_id, role_id)
);
CREATE INDEX IF NOT EXISTS iam_role_assignments_role ON iam_role_assignments (role_id);
CREATE TABLE IF NOT EXISTS iam_totp (
    user_id VARCHAR(32) PRIMARY KEY,
    secret VARCHAR(128) NOT NULL,
    confirmed BIGINT NOT NULL,
    last_step BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS iam_recovery_codes (
    user_id VARCHAR(32) NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
CREATE TABLE IF NOT EXISTS iam_refresh_families (
    id VARCHAR(32) PRIMARY KEY,
    tenant VARCHAR(63) NOT NULL,
    user_id VARCHAR(32) NOT NULL,
    acr VARCHAR(16) NOT NULL,
    amr VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX IF NOT EXISTS iam_refresh_families_user ON iam_refresh_families (user_id);
CREATE TABLE IF NOT EXISTS iam_refresh_tokens (
    token_hash VARCHAR(64) PRIMARY KEY,
    family_id VARCHAR(32) NOT NULL,
    generation BIGINT NOT NULL,
    spent_at BIGINT
);
CREATE INDEX IF NOT EXISTS iam_refresh_tokens_family ON iam_refresh_tokens (family_id)
";

const MYSQL_V1: &str = r"
CREATE TABLE IF NOT EXISTS iam_tenants (
    id VARCHAR(63) PRIMARY KEY,
    display_name VARCHAR(200) NOT NULL,
    suspended BIGINT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_users (
    id VARCHAR(32) PRIMARY KEY,
    tenant VARCHAR(63) NOT NULL,
    username VARCHAR(256) NOT NULL,
    email VARCHAR(320),
    disabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    INDEX iam_users_tenant (tenant, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_user_logins (
    tenant VARCHAR(63) NOT NULL,
    login VARCHAR(320) NOT NULL,
    user_id VARCHAR(32) NOT NULL,
    PRIMARY KEY (tenant, login),
    INDEX iam_user_logins_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_passwords (
    user_id VARCHAR(32) PRIMARY KEY,
    phc VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_groups (
    id VARCHAR(32) PRIMARY KEY,
    tenant VARCHAR(63) NOT NULL,
    name VARCHAR(200) NOT NULL,
    UNIQUE KEY iam_groups_name (tenant, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_group_members (
    group_id VARCHAR(32) NOT NULL,
    user_id VARCHAR(32) NOT NULL,
    tenant VARCHAR(63) NOT NULL,
    PRIMARY KEY (group_id, user_id),
    INDEX iam_group_members_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_roles (
    id VARCHAR(32) PRIMARY KEY,
    tenant VARCHAR(63) NOT NULL,
    name VARCHAR(200) NOT NULL,
    permissions VARCHAR(8192) NOT NULL,
    UNIQUE KEY iam_roles_name (tenant, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_role_assignments (
    holder_kind VARCHAR(1) NOT NULL,
    holder_id VARCHAR(32) NOT NULL,
    role_id VARCHAR(32) NOT NULL,
    tenant VARCHAR(63) NOT NULL,
    PRIMARY KEY (holder_kind, holder_id, role_id),
    INDEX iam_role_assignments_role (role_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_totp (
    user_id VARCHAR(32) PRIMARY KEY,
    secret VARCHAR(128) NOT NULL,
    confirmed BIGINT NOT NULL,
    last_step BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_recovery_codes (
    user_id VARCHAR(32) NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_refresh_families (
    id VARCHAR(32) PRIMARY KEY,
    tenant VARCHAR(63) NOT NULL,
    user_id VARCHAR(32) NOT NULL,
    acr VARCHAR(16) NOT NULL,
    amr VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    INDEX iam_refresh_families_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS iam_refresh_tokens (
    token_hash VARCHAR(64) PRIMARY KEY,
    family_id VARCHAR(32) NOT NULL,
    generation BIGINT NOT NULL,
    spent_at BIGINT,
    INDEX iam_refresh_tokens_family (family_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
";

/// The migrations of namespace [`NAMESPACE`].
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sqlite: PORTABLE_V1,
    postgres: PORTABLE_V1,
    mysql: MYSQL_V1,
}];
