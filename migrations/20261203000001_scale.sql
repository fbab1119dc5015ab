-- Scale: queries that would read every account without these (found by the index test on a
-- seeded PostgreSQL database, `server/tests/api/indexes.rs`).

-- The admin's account list pages through accounts by (created_at, id).
CREATE INDEX users_created_at ON users (created_at, id);

-- The last-admin rule locks the enabled admins: found without reading every account.
CREATE INDEX users_admins ON users (id) WHERE role = 'admin';

-- A login attempt that was refused or abandoned deletes its own failure row by id.
CREATE INDEX login_failures_id ON login_failures (id);
