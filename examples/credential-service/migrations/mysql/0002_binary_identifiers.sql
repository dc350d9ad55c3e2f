-- Identifiers compare byte for byte: the table default (utf8mb4_general_ci) is
-- case-insensitive and pads trailing spaces, so `Alice ` listed `alice`'s credentials.
-- {BIN} / {ASCII_BIN} become the server's binary no-pad collation (store.rs).
ALTER TABLE credentials
    MODIFY id        VARCHAR(64) {BIN} NOT NULL,
    MODIFY lookup_id VARCHAR(16) {ASCII_BIN} NOT NULL,
    MODIFY owner     VARCHAR(255) {BIN} NOT NULL,
    MODIFY tenant    VARCHAR(255) {BIN} NULL,
    MODIFY kind      VARCHAR(16) {BIN} NOT NULL
