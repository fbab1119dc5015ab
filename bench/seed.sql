-- A big PostgreSQL database for scripts/bench --scale and the index test, in a few set-based
-- statements (generate_series): USERS accounts, each with one live session, one unspent refresh
-- token and two audit events, as if every account had signed up and kept its session. The
-- accounts' password hash is a well-formed argon2id hash that no password matches (nobody
-- logs in as them); their ids, session ids and token hashes are deterministic, so a run can
-- be repeated. Also a tenth as many failed logins and unused links. `USERS` is replaced by the caller (sed, or the test's `replace`).
INSERT INTO users (id, email, name, password_hash, role, created_at, email_verified, updated_at)
SELECT md5('user' || g)::uuid::text,
       'seed' || g || '@scale.example',
       NULL,
       '$argon2id$v=19$m=19456,t=2,p=1$c2VlZGVkc2VlZGVkc2VlZA$8uS7y1pO5xv8f2b6Yd3Y0y9p5JHc0m6V7u2zQhTz2lQ',
       'user',
       extract(epoch FROM now())::bigint - 86400 * 30 + g % 86400,
       1,
       0
FROM generate_series(1, USERS) AS g;

INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, revoked_at)
SELECT md5('session' || g)::uuid::text,
       md5('user' || g)::uuid::text,
       extract(epoch FROM now())::bigint - g % 86400,
       extract(epoch FROM now())::bigint - g % 3600,
       extract(epoch FROM now())::bigint + 1209600,
       'seed/1.0',
       NULL
FROM generate_series(1, USERS) AS g;

INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, spent_at)
SELECT encode(sha256(('refresh' || g)::bytea), 'base64'),
       md5('session' || g)::uuid::text,
       extract(epoch FROM now())::bigint - g % 3600,
       extract(epoch FROM now())::bigint + 1209600,
       NULL
FROM generate_series(1, USERS) AS g;

INSERT INTO audit_events (id, at, user_id, actor_id, type, ip, user_agent, session_id, detail)
SELECT md5('event' || g || kind)::uuid::text,
       extract(epoch FROM now())::bigint - 86400 * 30 + g % 86400 + (kind = 'login')::int,
       md5('user' || g)::uuid::text,
       md5('user' || g)::uuid::text,
       kind,
       '192.0.2.' || (g % 250 + 1),
       'seed/1.0',
       md5('session' || g)::uuid::text,
       'seeded'
FROM generate_series(1, USERS) AS g, (VALUES ('signup'), ('login')) AS kinds (kind);

-- A tenth as many of what a busy day leaves behind: failed logins and unused links.
INSERT INTO login_failures (id, email, failed_at)
SELECT md5('failure' || g)::uuid::text, 'seed' || g || '@scale.example', extract(epoch FROM now())::bigint - g % 600
FROM generate_series(1, USERS / 10) AS g;

INSERT INTO links (token_hash, user_id, purpose, created_at, expires_at, used_at)
SELECT encode(sha256(('link' || g)::bytea), 'base64'), md5('user' || g)::uuid::text, 'verify',
       extract(epoch FROM now())::bigint - g % 3600, extract(epoch FROM now())::bigint + 86400, NULL
FROM generate_series(1, USERS / 10) AS g;

ANALYZE;
