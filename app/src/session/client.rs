//! Server-function clients. [`BearerClient`] carries the session: `Authorization: Bearer
//! <token>` on every call, read from storage at send time (the `Client` trait gives `send` no
//! `self`). [`PublicClient`] is for calls made before there is a token (sign-up, login,
//! refresh). [`TamperClient`] sends whatever token the tamper lab hands it, once. All three
//! note what they see (the header sent, `Server-Timing` received) in the flow record.

use std::cell::RefCell;
use std::future::Future;

use server_fn::client::Client;
use server_fn::client::browser::BrowserClient;
use server_fn::error::FromServerFnError;
use server_fn::request::browser::BrowserRequest;
use server_fn::response::browser::BrowserResponse;

thread_local! {
    static NEXT_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Which token a call carries.
#[derive(Clone, Copy)]
enum Carry {
    None,
    Session,
    Handed,
}

/// Make the next [`TamperClient`] call carry `token` (empty: no header at all).
pub fn hand_token(token: String) {
    NEXT_TOKEN.with(|t| *t.borrow_mut() = Some(token));
}

fn send<E: FromServerFnError>(
    req: BrowserRequest,
    carry: Carry,
) -> impl Future<Output = Result<BrowserResponse, E>> + Send {
    #[cfg(feature = "hydrate")]
    let path = req.url().split("/fn/").nth(1).map(|p| format!("/fn/{p}")).unwrap_or_default();
    #[cfg(feature = "hydrate")]
    {
        let token = match carry {
            Carry::None => None,
            Carry::Session => super::storage::load().map(|s| s.access_token),
            Carry::Handed => NEXT_TOKEN.with(|t| t.borrow_mut().take()).filter(|t| !t.is_empty()),
        };
        if let Some(token) = &token {
            req.headers().append("Authorization", &format!("Bearer {token}"));
        }
        if matches!(carry, Carry::Session) {
            use crate::flow::{Outcome, Step, preview, record};
            let header =
                token.as_deref().map_or("(none: no session)".to_string(), |t| format!("Bearer {}", preview(t, 24)));
            record(
                Step::SentAsBearer,
                Outcome::Done,
                vec![("Request", format!("POST {path}")), ("Authorization", header)],
            );
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = carry;
    let sent = <BrowserClient as Client<E>>::send(req);
    async move {
        let response = sent.await?;
        #[cfg(feature = "hydrate")]
        note_response(&path, carry, &response);
        Ok(response)
    }
}

/// What the server says about its own work, from `Server-Timing`.
#[cfg(feature = "hydrate")]
fn note_response(path: &str, carry: Carry, response: &BrowserResponse) {
    use crate::flow::{Outcome, Step, record};
    use server_fn::response::ClientRes;
    let status = <BrowserResponse as ClientRes<server_fn::error::ServerFnError>>::status(response);
    let timing = response
        .generate_headers()
        .get(tokenflow::dto::SERVER_TIMING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_default();
    match carry {
        Carry::None if timing.starts_with("argon2id") => {
            let ms = timing.split("dur=").nth(1).and_then(|r| r.split(';').next()).unwrap_or("?");
            record(
                Step::Verified,
                if status == 200 { Outcome::Done } else { Outcome::Refused },
                vec![
                    ("Password hash", "argon2id, m=19456 KiB, t=2, p=1".into()),
                    ("Hashing time on the server", format!("{ms} ms (from Server-Timing)")),
                    ("Answer", if status == 200 { "credentials match".into() } else { format!("HTTP {status}") }),
                ],
            );
        }
        Carry::None if path.ends_with("/login") || path.ends_with("/signup") => {
            record(
                Step::Verified,
                Outcome::Refused,
                vec![("Answer", format!("HTTP {status}: refused before hashing"))],
            );
        }
        Carry::Session if status == 200 => {
            record(
                Step::SignatureVerified,
                Outcome::Done,
                vec![("Request", format!("POST {path}")), ("Server-Timing", timing)],
            );
        }
        _ => {}
    }
}

macro_rules! client {
    ($(#[$doc:meta])* $name:ident, $carry:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl<E, IS, OS> Client<E, IS, OS> for $name
        where
            E: FromServerFnError,
            IS: FromServerFnError,
            OS: FromServerFnError,
        {
            type Request = BrowserRequest;
            type Response = BrowserResponse;

            fn send(req: Self::Request) -> impl Future<Output = Result<Self::Response, E>> + Send {
                send(req, $carry)
            }

            fn open_websocket(
                path: &str,
            ) -> impl Future<
                Output = Result<
                    (
                        impl futures::Stream<Item = Result<bytes::Bytes, bytes::Bytes>> + Send + 'static,
                        impl futures::Sink<bytes::Bytes> + Send + 'static,
                    ),
                    E,
                >,
            > + Send {
                <BrowserClient as Client<E, IS, OS>>::open_websocket(path)
            }

            fn spawn(future: impl Future<Output = ()> + Send + 'static) {
                <BrowserClient as Client<E, IS, OS>>::spawn(future)
            }
        }
    };
}

client!(
    /// Carries the session's access token.
    BearerClient,
    Carry::Session
);
client!(
    /// Carries no token: sign-up, login, refresh.
    PublicClient,
    Carry::None
);
client!(
    /// Carries the token handed over with [`hand_token`], once.
    TamperClient,
    Carry::Handed
);
