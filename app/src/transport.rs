//! Server-function clients. [`BearerClient`] carries the session on every call, read from
//! storage at send time (the `Client` trait gives `send` no `self`): `Authorization: Bearer
//! <token>`, or for a DPoP-bound session `Authorization: DPoP <token>` and a `DPoP` proof
//! signed for this very call by the browser's proof key. [`PublicClient`] is for calls made
//! without a token; its sign-up, login and refresh carry a proof when the browser has a key.
//! [`TamperClient`] sends whatever token it was handed, once. Each call emits what went out
//! and what came back ([`Event::RequestSent`], [`Event::ResponseReceived`]).
//!
//! All three send with the browser's own `fetch` ([`browser::Outgoing`]) rather than
//! `server_fn`'s browser client, whose responses expose their headers only as an `http`
//! `HeaderMap` (header-name parsing alone was 12 KB of the bundle). A call whose future is
//! dropped is not aborted: the server acts on a request once it has it (a refresh rotates), so
//! stopping the download would undo nothing.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

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
    static HANDED: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

/// Make the next [`TamperClient`] call carry `token` (empty: no header at all), as the
/// session would: with the DPoP scheme and a fresh proof when the session is bound, or with
/// `proof` when one was made beforehand (the session's key is gone after a logout).
pub fn hand_token(token: String, proof: Option<String>) {
    HANDED.with(|t| *t.borrow_mut() = Some((token, proof)));
}

/// The `Authorization` and `DPoP` headers of a call to `path`.
async fn present(path: &str, carrier: Carrier) -> (Option<String>, Option<String>) {
    let session = browser::load_session();
    let bound = session.as_ref().and_then(|s| s.dpop_jkt.clone());
    let proof = |token: Option<String>| browser::dpop_proof(bound.clone(), "POST", path.to_string(), token);
    match carrier {
        Carrier::Nothing
            if ["/fn/signup", "/fn/login", "/fn/refresh", "/fn/second_factor", "/fn/passkey_sign_in"]
                .contains(&path) =>
        {
            // A sign-in is proved with the key just made; a refresh with its session's.
            let key = if path == "/fn/refresh" { bound.clone() } else { None };
            (None, browser::dpop_proof(key, "POST", path.to_string(), None).await)
        }
        Carrier::Nothing => (None, None),
        Carrier::Session => match session {
            Some(s) if bound.is_some() => (Some(s.authorization()), proof(Some(s.access_token.clone())).await),
            Some(s) => (Some(s.authorization()), None),
            None => (None, None),
        },
        Carrier::Handed => match HANDED.with(|t| t.borrow_mut().take()) {
            Some((token, _)) if token.is_empty() => (None, None),
            Some((token, Some(made))) => (Some(format!("DPoP {token}")), Some(made)),
            Some((token, None)) if bound.is_some() => {
                let made = proof(Some(token.clone())).await;
                (Some(format!("DPoP {token}")), made)
            }
            Some((token, None)) => (Some(format!("Bearer {token}")), None),
            None => (None, None),
        },
    }
}

fn send<E: FromServerFnError>(req: Outgoing, carrier: Carrier) -> impl Future<Output = Result<Incoming, E>> + Send {
    let sent = carry(req, carrier);
    async move { sent.await.map_err(|e| E::from_server_fn_error(ServerFnErrorErr::Request(e))) }
}

/// The call itself, boxed: one copy of it in the bundle, not one per server function and error
/// type.
fn carry(req: Outgoing, carrier: Carrier) -> Pin<Box<dyn Future<Output = Result<Incoming, String>> + Send>> {
    let path = req.url().split("/fn/").nth(1).map(|p| format!("/fn/{p}")).unwrap_or_default();
    Box::pin(browser::sendable(async move {
        let (authorization, proof) = present(&path, carrier).await;
        if let Some(value) = &authorization {
            req.append_header("Authorization", value);
        }
        if let Some(value) = &proof {
            req.append_header("DPoP", value);
        }
        emit(Event::RequestSent { path: path.clone(), carrier, authorization, proof });
        let response = req.send().await?;
        let status = response.status();
        let server_timing = response.header(tokenflow::dto::SERVER_TIMING).unwrap_or_default();
        let challenge = response.header("www-authenticate");
        emit(Event::ResponseReceived { path, carrier, status, server_timing, challenge });
        Ok(response)
    }))
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
