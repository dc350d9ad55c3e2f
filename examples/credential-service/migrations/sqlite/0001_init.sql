-- Credentials: metadata, the lookup id (index), and HMAC-SHA-256(pepper, token) in hex.
CREATE TABLE IF NOT EXISTS credentials (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    lookup_id      TEXT NOT NULL UNIQUE,
    hash           TEXT NOT NULL,
    pepper_version BIGINT NOT NULL,
    owner          TEXT NOT NULL,
    tenant         TEXT,
    name           TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    last_used_at   BIGINT,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX IF NOT EXISTS credentials_owner ON credentials (owner)
