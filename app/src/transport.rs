//! Server-function clients. [`BearerClient`] carries the session: `Authorization: Bearer
//! <token>` on every call, read from storage at send time (the `Client` trait gives `send` no
//! `self`). [`PublicClient`] is for calls made before there is a token (sign-up, login,
//! refresh). [`TamperClient`] sends whatever token it was handed, once. Each call emits what
//! went out and what came back ([`Event::RequestSent`], [`Event::ResponseReceived`]).
//!
//! All three send with the browser's own `fetch` ([`browser::Outgoing`]) rather than
//! `server_fn`'s browser client, whose responses expose their headers only as an `http`
//! `HeaderMap` (header-name parsing alone was 12 KB of the bundle). A call whose future is
//! dropped is not aborted: the server acts on a request once it has it (a refresh rotates), so
//! stopping the download would undo nothing.

use std::cell::RefCell;
use std::future::Future;

use bytes::Bytes;
use http::Method;
use server_fn::client::{Client, get_server_url};
use server_fn::error::{FromServerFnError, ServerFnErrorErr};
use server_fn::redirect::REDIRECT_HEADER;
use server_fn::request::ClientReq;
use server_fn::response::ClientRes;

use crate::browser::{self, Body, Incoming, Outgoing};
use crate::events::{Carrier, Event, emit};

thread_local! {
    static NEXT_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Make the next [`TamperClient`] call carry `token` (empty: no header at all).
pub fn hand_token(token: String) {
    NEXT_TOKEN.with(|t| *t.borrow_mut() = Some(token));
}

fn send<E: FromServerFnError>(req: Outgoing, carrier: Carrier) -> impl Future<Output = Result<Incoming, E>> + Send {
    let path = req.url().split("/fn/").nth(1).map(|p| format!("/fn/{p}")).unwrap_or_default();
    let token = match carrier {
        Carrier::Nothing => None,
        Carrier::Session => browser::load_session().map(|s| s.access_token),
        Carrier::Handed => NEXT_TOKEN.with(|t| t.borrow_mut().take()).filter(|t| !t.is_empty()),
    };
    let authorization = token.map(|t| format!("Bearer {t}"));
    if let Some(value) = &authorization {
        req.append_header("Authorization", value);
    }
    emit(Event::RequestSent { path: path.clone(), carrier, authorization });
    let sent = req.send();
    async move {
        let response = sent.await.map_err(|e| E::from_server_fn_error(ServerFnErrorErr::Request(e)))?;
        let status = response.status();
        let server_timing = response.header(tokenflow::dto::SERVER_TIMING).unwrap_or_default();
        emit(Event::ResponseReceived { path, carrier, status, server_timing });
        Ok(response)
    }
}

/// Requests as server functions build them, made with the browser's own `fetch`. Server
/// functions here take their arguments as a URL-encoded form and answer JSON; the kinds of
/// body nothing uses (form data, multipart, streams) are refused.
impl<E: FromServerFnError> ClientReq<E> for Outgoing {
    type FormData = ();

    fn try_new_req_query(
        path: &str,
        content_type: &str,
        accepts: &str,
        query: &str,
        method: Method,
    ) -> Result<Self, E> {
        let url = format!("{}{path}?{query}", get_server_url());
        outgoing(method, url, content_type, accepts, Body::None)
    }

    fn try_new_req_text(
        path: &str,
        content_type: &str,
        accepts: &str,
        body: String,
        method: Method,
    ) -> Result<Self, E> {
        outgoing(method, format!("{}{path}", get_server_url()), content_type, accepts, Body::Text(body))
    }

    fn try_new_req_bytes(
        path: &str,
        content_type: &str,
        accepts: &str,
        body: Bytes,
        method: Method,
    ) -> Result<Self, E> {
        outgoing(method, format!("{}{path}", get_server_url()), content_type, accepts, Body::Bytes(body))
    }

    fn try_new_req_form_data(_: &str, _: &str, _: &str, (): (), _: Method) -> Result<Self, E> {
        Err(unsupported("form data"))
    }

    fn try_new_req_multipart(_: &str, _: &str, (): (), _: Method) -> Result<Self, E> {
        Err(unsupported("multipart bodies"))
    }

    fn try_new_req_streaming(
        _: &str,
        _: &str,
        _: &str,
        _: impl futures::Stream<Item = Bytes> + Send + 'static,
        _: Method,
    ) -> Result<Self, E> {
        Err(unsupported("streaming bodies"))
    }
}

fn outgoing<E: FromServerFnError>(
    method: Method,
    url: String,
    content_type: &str,
    accepts: &str,
    body: Body,
) -> Result<Outgoing, E> {
    Outgoing::new(method.as_str(), url, Some(content_type), accepts, body)
        .map_err(|e| E::from_server_fn_error(ServerFnErrorErr::Request(e)))
}

fn unsupported<E: FromServerFnError>(what: &str) -> E {
    E::from_server_fn_error(ServerFnErrorErr::Request(format!("{what} are not supported by this client")))
}

impl<E: FromServerFnError> ClientRes<E> for Incoming {
    fn try_into_string(self) -> impl Future<Output = Result<String, E>> + Send {
        let text = self.text();
        async move { text.await.map_err(|e| E::from_server_fn_error(ServerFnErrorErr::Deserialization(e))) }
    }

    fn try_into_bytes(self) -> impl Future<Output = Result<Bytes, E>> + Send {
        let bytes = self.bytes();
        async move {
            bytes.await.map(Bytes::from).map_err(|e| E::from_server_fn_error(ServerFnErrorErr::Deserialization(e)))
        }
    }

    fn try_into_stream(self) -> Result<impl futures::Stream<Item = Result<Bytes, Bytes>> + Send + Sync + 'static, E> {
        Err::<futures::stream::Empty<_>, _>(unsupported("streamed responses"))
    }

    fn status(&self) -> u16 {
        Incoming::status(self)
    }

    fn status_text(&self) -> String {
        Incoming::status_text(self)
    }

    fn location(&self) -> String {
        self.header("Location").unwrap_or_else(|| self.url())
    }

    fn has_redirect(&self) -> bool {
        self.header(REDIRECT_HEADER).is_some()
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
            type Request = Outgoing;
            type Response = Incoming;

            fn send(req: Self::Request) -> impl Future<Output = Result<Self::Response, E>> + Send {
                send(req, $carrier)
            }

            fn open_websocket(
                _: &str,
            ) -> impl Future<
                Output = Result<
                    (
                        impl futures::Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                        impl futures::Sink<Bytes> + Send + 'static,
                    ),
                    E,
                >,
            > + Send {
                async { Err::<(futures::stream::Empty<_>, futures::sink::Drain<_>), _>(unsupported("websockets")) }
            }

            fn spawn(future: impl Future<Output = ()> + Send + 'static) {
                leptos::task::spawn(future);
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
