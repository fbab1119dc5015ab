//! Sessions as the token check sees them, kept in memory so that checking a token costs no
//! database round trip: each session is read at most once per instance (concurrent first
//! requests share one read), and revocations reach the cache at once on the instance that
//! made them and through a short poll on every other one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::dto::User;
use crate::ids::SessionId;

/// How far instances' clocks may disagree: a change stamped by another instance this much
/// before our read may still be newer than it.
const CLOCK_SKEW_SECS: i64 = 5;

/// A session known to this instance.
#[derive(Debug)]
pub struct CachedSession {
    pub user: Arc<User>,
    revoked: AtomicBool,
    /// When the user was read (Unix seconds): a change to the user at or after it makes this
    /// copy stale.
    read_at: i64,
}

impl CachedSession {
    pub fn new(user: User, revoked: bool, read_at: i64) -> CachedSession {
        CachedSession { user: Arc::new(user), revoked: AtomicBool::new(revoked), read_at }
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }
}

/// A bounded map of sessions, evicting the coldest (S3-FIFO, `quick_cache`) one at a time:
/// forgetting is safe, a forgotten session is read again, revoked or not. `None`: the session
/// does not exist (or its user is gone).
pub struct SessionCache {
    slots: quick_cache::sync::Cache<SessionId, Option<Arc<CachedSession>>>,
    /// Bumped by every invalidation (revocation, user change, clear). A read that overlapped
    /// one may predate it, and an invalidation finds nothing to mark while the read is in
    /// flight, so such a read is answered but not kept.
    invalidations: AtomicU64,
}

impl SessionCache {
    pub fn new(capacity: usize) -> SessionCache {
        SessionCache { slots: quick_cache::sync::Cache::new(capacity.max(1)), invalidations: AtomicU64::new(0) }
    }

    /// The session, loading it with `load` on first use; concurrent first requests wait for
    /// one load. A failed load is not remembered, nor one that overlapped an invalidation.
    ///
    /// # Errors
    /// Whatever `load` returns.
    pub async fn get_or_load<E, F, Fut>(&self, sid: &SessionId, load: F) -> Result<Option<Arc<CachedSession>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<CachedSession>, E>>,
    {
        match self.slots.get_value_or_guard_async(sid).await {
            Ok(cached) => Ok(cached),
            Err(guard) => {
                let before = self.invalidations.load(Ordering::SeqCst);
                let loaded = load().await?.map(Arc::new);
                let _ = guard.insert(loaded.clone());
                // Inserted first, checked second, while an invalidation bumps first and marks
                // second: either it finds this copy or this check finds its bump.
                if self.invalidations.load(Ordering::SeqCst) != before {
                    self.slots.remove(sid);
                }
                Ok(loaded)
            }
        }
    }

    fn invalidating(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }

    /// The session if this instance knows it, without waiting: `None` when it must be read
    /// (or another request is reading it).
    pub fn peek(&self, sid: &SessionId) -> Option<Option<Arc<CachedSession>>> {
        self.slots.get(sid)
    }

    /// Sessions known to this instance.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every session: each is read again, revoked or not, on its next use.
    pub fn clear(&self) {
        self.invalidating();
        self.slots.clear();
    }

    /// Forget the sessions of users changed (role, verified, disabled) at or after what this
    /// instance read: each is read again on next use. A copy read after the change stays, so
    /// a change seen by several polls costs one reread, not one per poll.
    pub fn forget_users(&self, changed: &[(crate::ids::UserId, i64)]) {
        if changed.is_empty() {
            return;
        }
        self.invalidating();
        let changed: HashMap<&crate::ids::UserId, i64> = changed.iter().map(|(id, at)| (id, *at)).collect();
        let stale = |session: &CachedSession| {
            changed.get(&session.user.id).is_some_and(|at| *at + CLOCK_SKEW_SECS >= session.read_at)
        };
        self.slots.retain(|_, slot| !matches!(slot, Some(session) if stale(session)));
    }

    /// Mark sessions revoked, if this instance knows them; unknown ones are read (revoked)
    /// from the database when first seen.
    pub fn mark_revoked<'a>(&self, sids: impl IntoIterator<Item = &'a SessionId>) {
        self.invalidating();
        for sid in sids {
            if let Some(Some(session)) = self.slots.peek(sid) {
                session.revoked.store(true, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::Role;
    use crate::ids::{Email, UserId};

    fn user(id: &str) -> User {
        User {
            id: UserId::from_trusted(id),
            email: Email::from_trusted(format!("{id}@example.com")),
            name: None,
            role: Role::User,
            email_verified: false,
            disabled: false,
            created_at: String::new(),
        }
    }

    async fn cache_with(sid: &SessionId, who: &str, read_at: i64, cache: &SessionCache) {
        let loaded =
            cache.get_or_load(sid, || async { Ok::<_, ()>(Some(CachedSession::new(user(who), false, read_at))) });
        assert!(loaded.await.unwrap().is_some());
    }

    /// Whether `sid` is still cached: a load that would return nothing tells.
    async fn cached(sid: &SessionId, cache: &SessionCache) -> bool {
        cache.get_or_load(sid, || async { Ok::<_, ()>(None) }).await.unwrap().is_some()
    }

    #[tokio::test]
    async fn a_change_newer_than_the_copy_forgets_it_and_an_older_one_does_not() {
        let cache = SessionCache::new(100);
        let (a, b) = (SessionId::from_trusted("a"), SessionId::from_trusted("b"));
        cache_with(&a, "ada", 1_000, &cache).await;
        cache_with(&b, "bob", 1_000, &cache).await;
        // Older than the read by more than the clock skew: ada's copy already has it.
        cache.forget_users(&[(UserId::from_trusted("ada"), 1_000 - CLOCK_SKEW_SECS - 1)]);
        assert!(cached(&a, &cache).await);
        // Within the skew, or newer: reread.
        cache.forget_users(&[(UserId::from_trusted("ada"), 1_000 - CLOCK_SKEW_SECS)]);
        assert!(!cached(&a, &cache).await);
        assert!(cached(&b, &cache).await, "nobody else is forgotten");
    }

    #[tokio::test]
    async fn concurrent_first_uses_share_one_read_and_a_failed_read_is_not_kept() {
        use std::sync::atomic::AtomicUsize;
        let cache = Arc::new(SessionCache::new(100));
        let reads = Arc::new(AtomicUsize::new(0));
        let sid = SessionId::from_trusted("s");
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, reads, sid) = (Arc::clone(&cache), Arc::clone(&reads), sid.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load(&sid, || async {
                        reads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok::<_, ()>(Some(CachedSession::new(user("ada"), false, 0)))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert!(task.await.unwrap().unwrap().is_some());
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1, "one database read for twenty first uses");

        let other = SessionId::from_trusted("t");
        assert!(cache.get_or_load(&other, || async { Err::<Option<CachedSession>, _>("db down") }).await.is_err());
        cache_with(&other, "bob", 0, &cache).await;
        assert!(cached(&other, &cache).await, "the failure was not remembered");
    }

    /// The race a parallel burst of revocations found: a read of a live session in flight
    /// while the session is revoked (and the cache had nothing to mark) must not be kept.
    #[tokio::test]
    async fn a_read_that_overlapped_an_invalidation_is_not_kept() {
        type Invalidate = fn(&SessionCache, &SessionId);
        let invalidations: [(&str, Invalidate); 3] = [
            ("revoked", |cache, sid| cache.mark_revoked([sid])),
            ("user changed", |cache, _| cache.forget_users(&[(UserId::from_trusted("ada"), 0)])),
            ("cleared", |cache, _| cache.clear()),
        ];
        for (what, invalidate) in invalidations {
            let cache = Arc::new(SessionCache::new(100));
            let sid = SessionId::from_trusted("s");
            let (reading, read) = tokio::sync::oneshot::channel::<()>();
            let (release, released) = tokio::sync::oneshot::channel::<()>();
            let reader = tokio::spawn({
                let (cache, sid) = (Arc::clone(&cache), sid.clone());
                async move {
                    cache
                        .get_or_load(&sid, || async {
                            reading.send(()).unwrap();
                            released.await.unwrap();
                            Ok::<_, ()>(Some(CachedSession::new(user("ada"), false, 1_000)))
                        })
                        .await
                }
            });
            read.await.unwrap();
            invalidate(&cache, &sid);
            release.send(()).unwrap();
            let answered = reader.await.unwrap().unwrap().unwrap();
            assert!(!answered.is_revoked(), "{what}: the overlapping request gets what it read");
            assert!(cache.peek(&sid).is_none(), "{what}: but the copy is not kept");
            cache_with(&sid, "ada", 1_000, &cache).await;
            assert!(cache.peek(&sid).is_some(), "{what}: a read after it is kept");
        }
    }

    #[tokio::test]
    async fn a_full_cache_evicts_cold_sessions_one_by_one() {
        let cache = SessionCache::new(1_000);
        let hot = SessionId::from_trusted("hot");
        cache_with(&hot, "ada", 0, &cache).await;
        for i in 0..5_000 {
            cache_with(&SessionId::from_trusted(format!("cold-{i}")), "bob", 0, &cache).await;
            assert!(cached(&hot, &cache).await, "the hot session was dropped after {i} others");
        }
        assert!(cache.len() <= 1_000 && cache.len() >= 900, "{} sessions cached", cache.len());
    }
}
