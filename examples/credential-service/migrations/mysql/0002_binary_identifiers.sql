-- Identifiers compare byte for byte: the table default (utf8mb4_general_ci) is
-- case-insensitive and pads trailing spaces, so `Alice ` listed `alice`'s credentials.
-- MySQL 8's utf8mb4_0900_bin does not pad (MariaDB: migrations/mariadb).
ALTER TABLE credentials
    MODIFY id        VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
    MODIFY lookup_id VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
    MODIFY owner     VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
    MODIFY tenant    VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NULL,
    MODIFY kind      VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL
