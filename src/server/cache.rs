//! Sessions as the token check sees them, kept in memory so that checking a token costs no
//! database round trip: each session is read at most once per instance (concurrent first
//! requests share one read), and revocations reach the cache at once on the instance that
//! made them and through a short poll on every other one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::OnceCell;

use crate::dto::User;
use crate::ids::SessionId;

/// A session known to this instance.
#[derive(Debug)]
pub struct CachedSession {
    pub user: Arc<User>,
    revoked: AtomicBool,
}

impl CachedSession {
    pub fn new(user: User, revoked: bool) -> CachedSession {
        CachedSession { user: Arc::new(user), revoked: AtomicBool::new(revoked) }
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }
}

/// `None` inside the cell: the session does not exist (or its user is gone).
type Slot = Arc<OnceCell<Option<Arc<CachedSession>>>>;

pub struct SessionCache {
    slots: RwLock<HashMap<SessionId, Slot>>,
    capacity: usize,
}

impl SessionCache {
    pub fn new(capacity: usize) -> SessionCache {
        SessionCache { slots: RwLock::new(HashMap::new()), capacity }
    }

    fn slot(&self, sid: &SessionId) -> Slot {
        if let Some(slot) = self.slots.read().ok().and_then(|s| s.get(sid).cloned()) {
            return slot;
        }
        let Ok(mut slots) = self.slots.write() else { return Slot::default() };
        if slots.len() >= self.capacity && !slots.contains_key(sid) {
            // Forgetting is safe: a forgotten session is read again, revoked or not.
            slots.clear();
        }
        Arc::clone(slots.entry(sid.clone()).or_default())
    }

    /// The session, loading it with `load` on first use. A failed load is not remembered.
    ///
    /// # Errors
    /// Whatever `load` returns.
    pub async fn get_or_load<E, F, Fut>(&self, sid: &SessionId, load: F) -> Result<Option<Arc<CachedSession>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<CachedSession>, E>>,
    {
        let slot = self.slot(sid);
        let value = slot.get_or_try_init(|| async { Ok(load().await?.map(Arc::new)) }).await?;
        Ok(value.clone())
    }

    /// Forget every session: each is read again, revoked or not, on its next use.
    pub fn clear(&self) {
        if let Ok(mut slots) = self.slots.write() {
            slots.clear();
        }
    }

    /// Forget the sessions of these users: what this instance cached about them (role,
    /// verified, disabled) is read again on next use.
    pub fn forget_users(&self, users: &[crate::ids::UserId]) {
        if users.is_empty() {
            return;
        }
        let Ok(mut slots) = self.slots.write() else { return };
        slots.retain(|_, slot| !matches!(slot.get(), Some(Some(session)) if users.contains(&session.user.id)));
    }

    /// Mark sessions revoked, if this instance knows them; unknown ones are read (revoked)
    /// from the database when first seen.
    pub fn mark_revoked<'a>(&self, sids: impl IntoIterator<Item = &'a SessionId>) {
        let Ok(slots) = self.slots.read() else { return };
        for sid in sids {
            if let Some(Some(session)) = slots.get(sid).and_then(|slot| slot.get()) {
                session.revoked.store(true, Ordering::Release);
            }
        }
    }
}
