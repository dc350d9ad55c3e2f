-- Credentials: metadata, the lookup id (index), and HMAC-SHA-256(pepper, token) in hex.
CREATE TABLE IF NOT EXISTS credentials (
    id             VARCHAR(64) PRIMARY KEY,
    kind           VARCHAR(16) NOT NULL,
    lookup_id      VARCHAR(16) NOT NULL UNIQUE,
    hash           VARCHAR(64) NOT NULL,
    pepper_version BIGINT NOT NULL,
    owner          VARCHAR(255) NOT NULL,
    tenant         VARCHAR(255),
    name           VARCHAR(255) NOT NULL,
    scopes         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    last_used_at   BIGINT,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX IF NOT EXISTS credentials_owner ON credentials (owner)
