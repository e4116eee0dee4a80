-- Account self-service (AUTH_FLOW.md, "Account settings"). Each session gets a public handle
-- for the session list (random, unrelated to the id in the token), the client it was opened
-- from, and when it was last used, for the idle timeout.
ALTER TABLE sessions
    ADD COLUMN handle TEXT,
    ADD COLUMN ip TEXT NOT NULL DEFAULT '',
    ADD COLUMN user_agent TEXT NOT NULL DEFAULT '',
    ADD COLUMN last_used_at TIMESTAMPTZ;
UPDATE sessions SET handle = replace(gen_random_uuid()::text, '-', ''), last_used_at = created_at;
ALTER TABLE sessions
    ALTER COLUMN handle SET NOT NULL,
    ALTER COLUMN last_used_at SET NOT NULL,
    ADD CONSTRAINT sessions_handle_key UNIQUE (handle);
CREATE INDEX sessions_last_used_at_idx ON sessions (last_used_at);

-- A change of address waiting for the code sent to the new address; a newer request replaces
-- it, and confirming it moves it into email.
ALTER TABLE users ADD COLUMN pending_email TEXT;
