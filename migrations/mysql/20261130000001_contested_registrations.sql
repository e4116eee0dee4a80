-- Registrations of a pending address with different passwords mark it contested: verifying it
-- then sets no password (see AUTH_FLOW.md, "Pre-account takeover"). registered_at is when the
-- latest registration was made; the verification email says so.
ALTER TABLE users
    ADD COLUMN registration_contested BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN registered_at DATETIME NULL;
UPDATE users SET registered_at = created_at;
ALTER TABLE users MODIFY registered_at DATETIME NOT NULL;

-- Data migrations that need the server's own code (email normalisation), run once at start.
CREATE TABLE data_migrations (
    name VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    applied_at DATETIME NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB;
INSERT INTO data_migrations (name) VALUES ('normalise_emails');
