-- Emails are compared byte for byte, as on SQLite: under utf8mb4_unicode_ci, 'ann@exämple.com'
-- would find the account of 'ann@example.com' (they are already lower-cased by the server).
ALTER TABLE users MODIFY email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
