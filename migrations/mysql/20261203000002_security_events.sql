-- Each user's security activity (AUTH_FLOW.md, "Security activity"): GET /api/auth/activity
-- lists it newest first; the sweep deletes events older than AUDIT_RETENTION_DAYS.
CREATE TABLE security_events (
    id BIGINT NOT NULL AUTO_INCREMENT,
    user_id BIGINT NOT NULL,
    event VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    at DATETIME NOT NULL,
    ip VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    user_agent VARCHAR(256) NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    KEY security_events_user_idx (user_id, id),
    KEY security_events_at_idx (at),
    CONSTRAINT security_events_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
