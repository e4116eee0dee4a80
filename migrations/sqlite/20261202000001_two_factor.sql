-- Two-factor login (AUTH_FLOW.md, "Two-factor login"). The TOTP secret is stored sealed
-- (XChaCha20-Poly1305 under MFA_ENCRYPTION_KEY, bound to the user id): a dump alone does not
-- yield it. While mfa_enabled is false a secret is only a pending setup. totp_last_step is the
-- last time step accepted, so no code is good twice.
ALTER TABLE users ADD COLUMN mfa_enabled BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;

-- Recovery codes, each an HMAC-SHA-256 digest under a key the database does not hold; a code
-- is deleted when used.
CREATE TABLE recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    PRIMARY KEY (user_id, digest)
);
