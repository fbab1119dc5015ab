//! `localStorage` through gloo-storage. In the server build every call is a no-op: the server
//! never sees a browser's session.

#[cfg(feature = "hydrate")]
use super::STORAGE_KEY;
use super::StoredSession;

pub fn load() -> Option<StoredSession> {
    #[cfg(feature = "hydrate")]
    {
        use gloo_storage::Storage;
        gloo_storage::LocalStorage::get(STORAGE_KEY).ok()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        None
    }
}

pub fn save(session: &StoredSession) {
    #[cfg(feature = "hydrate")]
    {
        use gloo_storage::Storage;
        let _ = gloo_storage::LocalStorage::set(STORAGE_KEY, session);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = session;
}

pub fn clear() {
    #[cfg(feature = "hydrate")]
    {
        use gloo_storage::Storage;
        gloo_storage::LocalStorage::delete(STORAGE_KEY);
    }
}
