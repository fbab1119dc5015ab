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
    /// A server-function call went out, with the `Authorization` header it carried.
    RequestSent {
        path: String,
        carrier: Carrier,
        authorization: Option<String>,
    },
    /// Its answer: the status and the server's `Server-Timing`.
    ResponseReceived {
        path: String,
        carrier: Carrier,
        status: u16,
        server_timing: String,
    },
    /// What a protected call came to, after any refresh and retry.
    CallAnswered(Result<(), ApiFailure>),
    /// A token response was stored: a sign-in (or sign-up).
    SignedIn(StoredSession),
    /// A refresh was stored.
    Refreshed(StoredSession),
    SignedOut,
}

type Subscriber = Rc<dyn Fn(&Event)>;

thread_local! {
    static SUBSCRIBERS: RefCell<Vec<Subscriber>> = const { RefCell::new(Vec::new()) };
}

/// Call `subscriber` with every event from now on (in this tab).
pub fn subscribe(subscriber: impl Fn(&Event) + 'static) {
    SUBSCRIBERS.with(|s| s.borrow_mut().push(Rc::new(subscriber)));
}

/// Tell every subscriber. A subscriber may emit in turn.
pub fn emit(event: Event) {
    let subscribers = SUBSCRIBERS.with(|s| s.borrow().clone());
    for subscriber in subscribers {
        subscriber(&event);
    }
}
