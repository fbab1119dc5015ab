//! Server-side core (feature `server`). Modules follow the flow: credentials are checked
//! ([`password`]), tokens signed with the [`keys`] and checked by [`token`], sessions live in
//! the [`store`] and are mirrored in the [`cache`]; [`service::AuthService`] ties them together.

pub mod cache;
pub mod dpop;
pub mod error;
pub mod keys;
pub mod mail;
pub mod meter;
pub mod mfa;
pub mod passkeys;
pub mod password;
pub mod sched;
pub mod seal;
pub mod service;
pub mod settings;
pub mod store;
pub mod throttle;
pub mod time;
pub mod token;
pub mod web;

pub use error::{AuthError, InvalidSetting, KeyError, StartError};
pub use service::{Actor, Admitted, AuthService, Identity, RetiredKey, Timed, Unfinished, rotate_keys};
pub use settings::AuthSettings;
pub use token::TokenCheck;
pub use web::{ClientAddr, Credentials, RequestMeta, Scheme};
