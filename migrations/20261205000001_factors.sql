-- Second factors (TOTP with recovery codes, passkeys), the challenges between the steps of a
-- sign-in, and how each session was authenticated (the amr and auth_time of its tokens).

-- One authenticator app per account. `secret` is base32, or sealed ("sealed:v1:…") when
-- AUTH_KEY_ENCRYPTION_KEY_FILE is set; `confirmed_at` is NULL until the first code proves the
-- app has it; `last_step` is the newest 30-second step accepted, so a code is accepted once.
CREATE TABLE totp_factors (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

-- Ten one-time codes per account, shown once, stored as SHA-256 of user id and code.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- WebAuthn credentials. `credential` is the stored credential (public key, signature
-- counter, backup flags) as webauthn-rs writes it; the columns beside it are copies for lists.
CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    credential      TEXT NOT NULL,
    sign_count      BIGINT NOT NULL DEFAULT 0,
    backup_eligible BIGINT NOT NULL DEFAULT 0,
    backed_up       BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);

-- Single-purpose challenges: the step between a password and its second factor, a
-- passkey sign-in, a passkey registration, a step-up. Stored hashed; each dies after its
-- lifetime, after 5 attempts, or when used.
CREATE TABLE auth_challenges (
    id_hash    TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT,
    amr        TEXT NOT NULL DEFAULT '',
    dpop_jkt   TEXT,
    state      TEXT,
    attempts   BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX auth_challenges_by_expiry ON auth_challenges (expires_at);

-- How the session's user authenticated (space-separated RFC 8176 values) and when a factor
-- was last presented in it; NULL for sessions from before: a password, at creation.
ALTER TABLE sessions ADD COLUMN amr TEXT;
ALTER TABLE sessions ADD COLUMN auth_time BIGINT;
