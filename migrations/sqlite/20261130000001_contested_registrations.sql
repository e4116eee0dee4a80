-- Registrations of a pending address with different passwords mark it contested: verifying it
-- then sets no password (see AUTH_FLOW.md, "Pre-account takeover"). registered_at is when the
-- latest registration was made; the verification email says so.
ALTER TABLE users ADD COLUMN registration_contested BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN registered_at TEXT NOT NULL DEFAULT '';
UPDATE users SET registered_at = created_at;

-- Data migrations that need the server's own code (email normalisation), run once at start.
CREATE TABLE data_migrations (
    name TEXT PRIMARY KEY NOT NULL,
    applied_at TEXT
);
INSERT INTO data_migrations (name) VALUES ('normalise_emails');
