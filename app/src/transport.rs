//! Server-function clients. [`BearerClient`] carries the session: `Authorization: Bearer
//! <token>` on every call, read from storage at send time (the `Client` trait gives `send` no
//! `self`). [`PublicClient`] is for calls made before there is a token (sign-up, login,
//! refresh). [`TamperClient`] sends whatever token it was handed, once. Each call emits what
//! went out and what came back ([`Event::RequestSent`], [`Event::ResponseReceived`]).

use std::cell::RefCell;
use std::future::Future;

use server_fn::client::Client;
use server_fn::client::browser::BrowserClient;
use server_fn::error::FromServerFnError;
use server_fn::request::browser::BrowserRequest;
use server_fn::response::ClientRes;
use server_fn::response::browser::BrowserResponse;

use crate::browser;
use crate::events::{Carrier, Event, emit};

thread_local! {
    static NEXT_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Make the next [`TamperClient`] call carry `token` (empty: no header at all).
pub fn hand_token(token: String) {
    NEXT_TOKEN.with(|t| *t.borrow_mut() = Some(token));
}

fn send<E: FromServerFnError>(
    req: BrowserRequest,
    carrier: Carrier,
) -> impl Future<Output = Result<BrowserResponse, E>> + Send {
    let path = req.url().split("/fn/").nth(1).map(|p| format!("/fn/{p}")).unwrap_or_default();
    let token = match carrier {
        Carrier::Nothing => None,
        Carrier::Session => browser::load_session().map(|s| s.access_token),
        Carrier::Handed => NEXT_TOKEN.with(|t| t.borrow_mut().take()).filter(|t| !t.is_empty()),
    };
    let authorization = token.map(|t| format!("Bearer {t}"));
    if let Some(value) = &authorization {
        req.headers().append("Authorization", value);
    }
    emit(Event::RequestSent { path: path.clone(), carrier, authorization });
    let sent = <BrowserClient as Client<E>>::send(req);
    async move {
        let response = sent.await?;
        let status = <BrowserResponse as ClientRes<server_fn::error::ServerFnError>>::status(&response);
        let server_timing = response
            .generate_headers()
            .get(tokenflow::dto::SERVER_TIMING)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_default();
        emit(Event::ResponseReceived { path, carrier, status, server_timing });
        Ok(response)
    }
}

macro_rules! client {
    ($(#[$doc:meta])* $name:ident, $carrier:expr) => {
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
                send(req, $carrier)
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
    Carrier::Session
);
client!(
    /// Carries no token: sign-up, login, refresh.
    PublicClient,
    Carrier::Nothing
);
client!(
    /// Carries the token handed over with [`hand_token`], once.
    TamperClient,
    Carrier::Handed
);
