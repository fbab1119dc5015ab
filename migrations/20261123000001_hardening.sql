-- Hardening. Still one set of migrations for SQLite and PostgreSQL.

-- Every login attempt is written (with an id) *before* its password is checked, so parallel
-- attempts count each other; a refused or unfinished attempt deletes its own row, a wrong
-- password leaves it as a failure, a success clears the email's rows.
ALTER TABLE login_failures ADD COLUMN id TEXT;

-- The refresh retry grace: a spent row remembers its successor, by hash and sealed with a key
-- derived from the spent token itself, so the database alone never yields a usable token.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
ALTER TABLE refresh_tokens ADD COLUMN sealed_successor TEXT;
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- A retired key only verifies, so its private part is deleted when it stops signing:
-- `private_pem` becomes nullable (a rebuild, since SQLite cannot drop NOT NULL). It holds
-- PKCS#8 PEM, or `sealed:v1:…` when AUTH_KEY_ENCRYPTION_KEY_FILE encrypts keys at rest.
CREATE TABLE signing_keys_new (
    kid         TEXT PRIMARY KEY,
    private_pem TEXT,
    public_x    TEXT NOT NULL,
    origin      TEXT NOT NULL DEFAULT 'rotation',
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
INSERT INTO signing_keys_new (kid, private_pem, public_x, origin, created_at, retired_at)
    SELECT kid, private_pem, public_x, origin, created_at, retired_at FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;
UPDATE signing_keys SET private_pem = NULL WHERE retired_at IS NOT NULL;
CREATE UNIQUE INDEX signing_keys_one_bootstrap ON signing_keys (origin) WHERE origin = 'bootstrap';
