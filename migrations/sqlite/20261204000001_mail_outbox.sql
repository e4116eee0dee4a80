-- The durable outbox (AUTH_FLOW.md, "Email delivery"): every email is written here before the
-- request that causes it is answered, then delivered by a background worker. `body` is sealed
-- (XChaCha20-Poly1305 under the server key) and set to NULL once the row is settled; settled
-- rows are purged after MAIL_OUTBOX_RETENTION_DAYS.
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    -- pending, sent, dropped (its code died or it expired) or failed (refused, or gave up)
    state TEXT NOT NULL,
    body TEXT,
    created_at TEXT NOT NULL,
    -- After this the message is no longer worth sending: the give-up time or its code's expiry.
    not_after TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- The worker that holds the row while it tries a delivery, and until when.
    lease_owner TEXT,
    leased_until TEXT,
    settled_at TEXT
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (state, next_attempt_at);
CREATE INDEX mail_outbox_settled_idx ON mail_outbox (settled_at);
