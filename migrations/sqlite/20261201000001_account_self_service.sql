-- Account self-service (AUTH_FLOW.md, "Account settings"). Each session gets a public handle
-- for the session list (random, unrelated to the id in the token), the client it was opened
-- from, and when it was last used, for the idle timeout.
ALTER TABLE sessions ADD COLUMN handle TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_used_at TEXT NOT NULL DEFAULT '';
UPDATE sessions SET handle = lower(hex(randomblob(16))), last_used_at = created_at;
CREATE UNIQUE INDEX sessions_handle_key ON sessions (handle);
CREATE INDEX sessions_last_used_at_idx ON sessions (last_used_at);

-- A change of address waiting for the code sent to the new address; a newer request replaces
-- it, and confirming it moves it into email.
ALTER TABLE users ADD COLUMN pending_email TEXT;
