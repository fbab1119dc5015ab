//! Ids and addresses that travel between the store, the service, tokens and the browser,
//! each its own type: parsed (or generated) once, then carried typed, so no function can take
//! a user id where a session id belongs, whatever order its arguments come in.

use serde::{Deserialize, Serialize};

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Text that was checked before: a row of our own database, a claim of a token
            /// whose signature verified, a value this type made.
            pub fn from_trusted(text: impl Into<String>) -> $name {
                $name(text.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// A user's id (a random UUID).
    UserId
);
text_id!(
    /// A session's id (a time-ordered UUIDv7), the `sid` claim of its access tokens.
    SessionId
);
text_id!(
    /// A signing key's id: the RFC 7638 thumbprint of its public key.
    Kid
);
text_id!(
    /// An email address, trimmed and lowercased: made by `Email::parse` (beside the password
    /// rules, on the server), or read back from where it was stored.
    Email
);

#[cfg(feature = "server")]
impl UserId {
    pub fn generate() -> UserId {
        UserId(uuid::Uuid::new_v4().to_string())
    }

    /// A user id from outside (a URL, a query); `None` unless it is a UUID.
    pub fn parse(text: &str) -> Option<UserId> {
        canonical_uuid(text).map(UserId)
    }
}

#[cfg(feature = "server")]
impl SessionId {
    /// Time-ordered, so "the oldest sessions" is defined within one second too.
    pub fn generate() -> SessionId {
        SessionId(uuid::Uuid::now_v7().to_string())
    }

    /// A session id from outside (a URL, a notification); `None` unless it is a UUID.
    pub fn parse(text: &str) -> Option<SessionId> {
        canonical_uuid(text).map(SessionId)
    }
}

/// A UUID in any of its spellings, written the one way the store writes it.
#[cfg(feature = "server")]
fn canonical_uuid(text: &str) -> Option<String> {
    uuid::Uuid::parse_str(text).ok().map(|id| id.hyphenated().to_string())
}
