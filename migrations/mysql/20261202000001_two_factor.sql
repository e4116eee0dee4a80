-- Two-factor login (AUTH_FLOW.md, "Two-factor login"). The TOTP secret is stored sealed
-- (XChaCha20-Poly1305 under MFA_ENCRYPTION_KEY, bound to the user id): a dump alone does not
-- yield it. While mfa_enabled is false a secret is only a pending setup. totp_last_step is the
-- last time step accepted, so no code is good twice.
ALTER TABLE users
    ADD COLUMN mfa_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN totp_secret VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD COLUMN totp_last_step BIGINT NULL;

-- Recovery codes, each an HMAC-SHA-256 digest under a key the database does not hold; a code
-- is deleted when used.
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL,
    digest CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    PRIMARY KEY (user_id, digest),
    CONSTRAINT recovery_codes_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB;
