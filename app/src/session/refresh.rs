//! Silent refresh: shortly before expiry, and once after a 401. Single-flight across tabs
//! with the Web Locks API: inside the lock a tab first looks whether another tab has already
//! rotated the refresh token it holds, and if so adopts that session instead of spending a
//! token that is already spent (which the server would treat as reuse and revoke everything).

use std::future::Future;

use super::{Session, SessionState};
use crate::browser;
use crate::error::ApiFailure;
use crate::events::{Event, emit};
use crate::server_fns;

/// Run a protected call; on a 401 refresh once and retry. When the server refuses the refresh
/// or the retry, sign out (protected pages then send the person to the login page).
///
/// # Errors
/// The call's own refusal, or the 401 that could not be cured.
pub async fn with_auth<T, Fut>(session: Session, call: impl Fn() -> Fut) -> Result<T, ApiFailure>
where
    Fut: Future<Output = Result<T, ApiFailure>>,
{
    if let SessionState::SignedIn(current) = session.current()
        && super::now() >= current.refresh_at()
    {
        let _ = refresh_single_flight(session, current.refresh_token).await;
    }
    let first = call().await;
    answered(&first);
    match first {
        Err(e) if e.is_unauthorized() => {
            let Some(current) = browser::load_session() else {
                session.sign_out_locally();
                return Err(e);
            };
            // A refused refresh (401) has signed out already; a throttled or unreachable server
            // (429, 503, offline) is no reason to forget the session.
            if refresh_single_flight(session, current.refresh_token).await.is_err() {
                return Err(e);
            }
            let retried = call().await;
            answered(&retried);
            if retried.as_ref().is_err_and(ApiFailure::is_unauthorized) {
                session.sign_out_locally();
            }
            retried
        }
        other => other,
    }
}

fn answered<T>(result: &Result<T, ApiFailure>) {
    emit(Event::CallAnswered(result.as_ref().map(|_| ()).map_err(Clone::clone)));
}

/// Refresh unless another tab already has; `stale` is the refresh token this tab holds.
async fn refresh_single_flight(session: Session, stale: String) -> Result<(), ApiFailure> {
    let outcome = browser::with_lock("tokenflow-refresh", async move {
        match browser::load_session() {
            None => {
                session.sign_out_locally();
                return Err(signed_out());
            }
            Some(stored) if stored.refresh_token != stale => {
                // Another tab rotated it while we waited for the lock.
                session.reload();
                return Ok(());
            }
            Some(_) => {}
        }
        match server_fns::refresh(stale).await {
            Ok(tokens) => {
                session.refreshed(tokens);
                Ok(())
            }
            Err(e) => {
                if e.status == 401 {
                    session.sign_out_locally();
                }
                Err(e)
            }
        }
    })
    .await;
    outcome.unwrap_or_else(|| Err(ApiFailure::request_failed("could not take the refresh lock")))
}

fn signed_out() -> ApiFailure {
    ApiFailure {
        status: 401,
        error: tokenflow::dto::ErrorCode::InvalidToken,
        message: "signed out".into(),
        retry_after: None,
    }
}

/// Keep a timer that refreshes the current session shortly before it expires.
pub fn schedule(session: Session) {
    use leptos::prelude::*;
    use std::time::Duration;

    Effect::new(move |previous: Option<Option<TimeoutHandle>>| {
        if let Some(Some(handle)) = previous {
            handle.clear();
        }
        let SessionState::SignedIn(current) = session.state() else { return None };
        let wait = (current.refresh_at() - super::now()).max(0);
        let refresh_token = current.refresh_token.clone();
        browser::after(Duration::from_secs(u64::try_from(wait).unwrap_or(0)), move || {
            leptos::task::spawn_local(async move {
                let _ = refresh_single_flight(session, refresh_token).await;
            });
        })
    });
}
