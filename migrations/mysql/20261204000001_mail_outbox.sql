-- The durable outbox (AUTH_FLOW.md, "Email delivery"): every email is written here before the
-- request that causes it is answered, then delivered by a background worker. `body` is sealed
-- (XChaCha20-Poly1305 under the server key) and set to NULL once the row is settled; settled
-- rows are purged after MAIL_OUTBOX_RETENTION_DAYS.
CREATE TABLE mail_outbox (
    id BIGINT NOT NULL AUTO_INCREMENT,
    kind VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- pending, sent, dropped (its code died or it expired) or failed (refused, or gave up)
    state VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    body MEDIUMTEXT CHARACTER SET ascii COLLATE ascii_bin NULL,
    created_at DATETIME NOT NULL,
    -- After this the message is no longer worth sending: the give-up time or its code's expiry.
    not_after DATETIME NOT NULL,
    next_attempt_at DATETIME NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    -- The worker that holds the row while it tries a delivery, and until when.
    lease_owner VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
    leased_until DATETIME NULL,
    settled_at DATETIME NULL,
    PRIMARY KEY (id),
    KEY mail_outbox_due_idx (state, next_attempt_at),
    KEY mail_outbox_settled_idx (settled_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
