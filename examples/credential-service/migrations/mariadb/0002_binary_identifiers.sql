-- Identifiers compare byte for byte: the table default (utf8mb4_general_ci) is
-- case-insensitive and pads trailing spaces, so `Alice ` listed `alice`'s credentials.
-- MariaDB's *_bin collations pad trailing spaces too; its *_nopad_bin ones do not.
ALTER TABLE credentials
    MODIFY id        VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    MODIFY lookup_id VARCHAR(16) CHARACTER SET ascii COLLATE ascii_nopad_bin NOT NULL,
    MODIFY owner     VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    MODIFY tenant    VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
    MODIFY kind      VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL
