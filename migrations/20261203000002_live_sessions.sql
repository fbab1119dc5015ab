-- Signing in trims the user's live sessions to the cap, newest first (`revoke_beyond`): read
-- from the live sessions alone, however many revoked ones the account has piled up.
CREATE INDEX sessions_live_by_user ON sessions (user_id, created_at DESC, id DESC) WHERE revoked_at IS NULL;
