//! Steps 6-8: a bearer token in, the caller's identity out.

use tokenflow::dto::User;

use crate::extract::{Authenticated, Json};

pub async fn me(Authenticated(who): Authenticated) -> Json<User> {
    Json(who.user.as_ref().clone())
}
