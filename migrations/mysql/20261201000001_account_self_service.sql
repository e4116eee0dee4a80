-- Account self-service (AUTH_FLOW.md, "Account settings"). Each session gets a public handle
-- for the session list (random, unrelated to the id in the token), the client it was opened
-- from, and when it was last used, for the idle timeout.
ALTER TABLE sessions
    ADD COLUMN handle CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD COLUMN ip VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    ADD COLUMN user_agent VARCHAR(256) NOT NULL DEFAULT '',
    ADD COLUMN last_used_at DATETIME NULL;
UPDATE sessions SET handle = REPLACE(UUID(), '-', ''), last_used_at = created_at;
ALTER TABLE sessions
    MODIFY handle CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    MODIFY last_used_at DATETIME NOT NULL,
    ADD UNIQUE KEY sessions_handle_key (handle),
    ADD KEY sessions_last_used_at_idx (last_used_at);

-- A change of address waiting for the code sent to the new address; a newer request replaces
-- it, and confirming it moves it into email.
ALTER TABLE users ADD COLUMN pending_email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
