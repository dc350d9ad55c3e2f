-- Credentials: metadata, the lookup id (index), and HMAC-SHA-256(pepper, token) in hex.
-- Binary collation on the lookup id: it is case-sensitive base62. VARCHAR rather than TEXT:
-- TEXT columns come back as BLOBs through the Any driver.
CREATE TABLE IF NOT EXISTS credentials (
    id             VARCHAR(64) PRIMARY KEY,
    kind           VARCHAR(16) NOT NULL,
    lookup_id      VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL UNIQUE,
    hash           VARCHAR(64) NOT NULL,
    pepper_version BIGINT NOT NULL,
    owner          VARCHAR(255) NOT NULL,
    tenant         VARCHAR(255),
    name           VARCHAR(255) NOT NULL,
    scopes         VARCHAR(8192) NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    last_used_at   BIGINT,
    revoked_at     BIGINT,
    revoked_reason VARCHAR(1024),
    INDEX credentials_owner (owner)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
