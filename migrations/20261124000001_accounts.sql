-- Accounts: verified emails, disabled accounts, one-time links, the mail queue, the audit log.

-- 0 or 1 (both databases compare integers alike; sqlx's Any driver has no portable bool).
ALTER TABLE users ADD COLUMN email_verified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- When anything other instances cache about the user (role, verified, disabled) last changed:
-- each instance's revocation poll forgets the cached sessions of users changed since.
ALTER TABLE users ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX users_updated_at ON users (updated_at);

-- Sessions of a deleted account vanish with it (ON DELETE CASCADE), where no poll can see
-- their revocation: they leave a tombstone that the poll reads, purged after a day.
CREATE TABLE session_tombstones (
    session_id TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX session_tombstones_revoked_at ON session_tombstones (revoked_at);

-- A withdrawn key (`tokenflow keys retire`: compromised) is neither published nor trusted.
ALTER TABLE signing_keys ADD COLUMN withdrawn_at BIGINT;

-- Email verification and password reset links: SHA-256 of 256 random bits, single use.
CREATE TABLE links (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX links_user_id ON links (user_id, purpose, created_at);
CREATE INDEX links_expires_at ON links (expires_at);

-- Mail waiting to be delivered (SMTP), or the built-in outbox (no SMTP_URL). Written in the
-- transaction that creates its link; delivered off the request path with retries. A row
-- holds its link in clear until delivered (then the body is dropped) or expired.
CREATE TABLE mail (
    id              TEXT PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- Past this (the link's expiry) the mail is pointless and is never sent.
    not_after       BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    sent_at         BIGINT,
    last_error      TEXT
);
CREATE INDEX mail_due ON mail (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX mail_recipient ON mail (recipient, created_at);

-- Security events, written in the transaction of the change they record. No foreign key:
-- an account's events outlive it (without its email) until retention ends.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    -- NULL for events of no account (a key withdrawn by the operator).
    user_id    TEXT,
    actor_id   TEXT,
    type       TEXT NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    session_id TEXT,
    detail     TEXT
);
CREATE INDEX audit_events_user ON audit_events (user_id, at);
CREATE INDEX audit_events_at ON audit_events (at);
