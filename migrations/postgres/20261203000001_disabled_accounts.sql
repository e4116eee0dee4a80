-- Accounts an operator disabled (`authd users disable`): their logins are refused as if the
-- password were wrong, and their sessions end. NULL while the account may log in.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
