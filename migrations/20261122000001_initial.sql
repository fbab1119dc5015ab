-- Tokenflow's schema. One set of migrations serves SQLite and PostgreSQL: only types both
-- understand (TEXT, BIGINT), times as Unix seconds (sqlx's Any driver decodes integers, not
-- timestamps), ids as UUID text. Uniqueness lives here, never in a read-then-write.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- Normalised (trimmed, lowercased) by the core before it gets here.
    email         TEXT NOT NULL,
    name          TEXT,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- A login. Access tokens carry its id as `sid`; revoking it ends every token of it.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    -- Slides forward with each refresh; after it the session is dead.
    expires_at   BIGINT NOT NULL,
    user_agent   TEXT,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
-- Every instance polls "revoked since" to keep its in-memory cache fresh.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Refresh tokens, stored as SHA-256 of the opaque value (256 random bits, so no salt or
-- slow hash is needed). A spent row stays so that reuse can be told from garbage.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- The Ed25519 key ring shared by every instance. A retired key stops signing but stays
-- published until the tokens it signed have expired.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    public_x    TEXT NOT NULL,
    -- 'bootstrap' for the key an empty ring starts with, 'rotation' for later ones.
    origin      TEXT NOT NULL DEFAULT 'rotation',
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
-- Instances starting together on an empty ring race to create its first key: only one
-- insert wins (PostgreSQL makes the others wait for it), and everyone reads the winner.
CREATE UNIQUE INDEX signing_keys_one_bootstrap ON signing_keys (origin) WHERE origin = 'bootstrap';

-- Failed logins per normalised email, for throttling that survives restarts and is shared.
CREATE TABLE login_failures (
    email     TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, failed_at);

-- Fixed-window request counters (e.g. per client IP per minute).
CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
