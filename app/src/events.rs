//! What happens in the browser, as typed events: the transport says a call went out and what
//! came back, the session says it signed in, refreshed or signed out. Whoever wants to show
//! it (the `/flow` page) subscribes; nothing that emits knows who listens, so dependencies
//! point one way.

use std::cell::RefCell;
use std::rc::Rc;

use crate::browser::StoredSession;
use crate::error::ApiFailure;

/// Which token a server-function call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// None: sign-up, login, refresh.
    Nothing,
    /// The session's access token.
    Session,
    /// A token handed over for one call (the tamper lab).
    Handed,
}

#[derive(Debug, Clone)]
pub enum Event {
    /// Credentials leave the page: where to, the email, and the password's length only.
    CredentialsSent {
        path: &'static str,
        email: String,
        password_chars: usize,
    },
    /// A server-function call went out, with the `Authorization` and `DPoP` headers it carried.
    RequestSent {
        path: String,
        carrier: Carrier,
        authorization: Option<String>,
        proof: Option<String>,
    },
    /// Its answer: the status, the server's `Server-Timing`, and its `WWW-Authenticate`.
    ResponseReceived {
        path: String,
        carrier: Carrier,
        status: u16,
        server_timing: String,
        challenge: Option<String>,
    },
    /// What a protected call came to, after any refresh and retry.
    CallAnswered(Result<(), ApiFailure>),
    /// A token response was stored: a sign-in (or sign-up).
    SignedIn(StoredSession),
    /// A refresh was stored.
    Refreshed(StoredSession),
    /// A step-up's fresh access token was stored (the same session, authenticated again).
    SteppedUp(StoredSession),
    SignedOut,
}

type Subscriber = Rc<dyn Fn(&Event)>;

/// Events kept for a subscriber that comes later, with the time they happened.
const BACKLOG: usize = 64;

thread_local! {
    static SUBSCRIBERS: RefCell<Vec<Subscriber>> = const { RefCell::new(Vec::new()) };
    static KEPT: RefCell<Option<Vec<(String, Event)>>> = const { RefCell::new(None) };
}

/// Keep the last events (and when they happened, by `browser::clock`) for [`take_kept`]: what
/// happened before a page that shows them was loaded, e.g. a sign-in on `/login` before
/// `/flow`, whose code comes in a chunk of its own.
pub fn keep() {
    KEPT.with(|kept| kept.borrow_mut().get_or_insert_with(Vec::new).clear());
}

/// The kept events, oldest first; keeping stops.
pub fn take_kept() -> Vec<(String, Event)> {
    KEPT.with(|kept| kept.borrow_mut().take()).unwrap_or_default()
}

/// Call `subscriber` with every event from now on (in this tab).
pub fn subscribe(subscriber: impl Fn(&Event) + 'static) {
    SUBSCRIBERS.with(|s| s.borrow_mut().push(Rc::new(subscriber)));
}

/// Tell every subscriber. A subscriber may emit in turn.
pub fn emit(event: Event) {
    KEPT.with(|kept| {
        if let Some(kept) = kept.borrow_mut().as_mut() {
            if kept.len() == BACKLOG {
                kept.remove(0);
            }
            kept.push((crate::browser::clock(), event.clone()));
        }
    });
    let subscribers = SUBSCRIBERS.with(|s| s.borrow().clone());
    for subscriber in subscribers {
        subscriber(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_out_count(events: &[(String, Event)]) -> usize {
        events.iter().filter(|(_, e)| matches!(e, Event::SignedOut)).count()
    }

    #[test]
    fn events_are_kept_in_order_up_to_the_backlog_until_taken() {
        emit(Event::SignedOut);
        assert!(take_kept().is_empty(), "nothing is kept before keep()");
        keep();
        emit(Event::CallAnswered(Ok(())));
        for _ in 0..BACKLOG {
            emit(Event::SignedOut);
        }
        let kept = take_kept();
        assert_eq!(kept.len(), BACKLOG, "the oldest beyond the backlog are dropped");
        assert_eq!(signed_out_count(&kept), BACKLOG, "the first event was the one dropped");
        emit(Event::SignedOut);
        assert!(take_kept().is_empty(), "keeping stops once taken");
    }
}
