-- Each user's security activity (AUTH_FLOW.md, "Security activity"): GET /api/auth/activity
-- lists it newest first; the sweep deletes events older than AUDIT_RETENTION_DAYS.
CREATE TABLE security_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    at TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX security_events_user_idx ON security_events (user_id, id);
CREATE INDEX security_events_at_idx ON security_events (at);
