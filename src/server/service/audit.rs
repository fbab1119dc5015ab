//! The audit log as users and admins read it: each their own page of events, newest first.

use crate::dto::{EventList, EventQuery, EventType};
use crate::error::AuthError;
use crate::ids::UserId;
use crate::store::audit::{self, Filter, NewEvent};
use crate::web::RequestMeta;

use super::accounts::{decode_cursor, encode_cursor};
use super::{Actor, AuthService, Identity};

const PAGE_DEFAULT: u32 = 50;
const PAGE_MAX: u32 = 200;

/// An event of `kind` about the account `user_id`, from the request `meta`.
pub(super) fn event<'a>(kind: EventType, user_id: &'a UserId, meta: &'a RequestMeta) -> NewEvent<'a> {
    NewEvent { kind, user_id: Some(user_id), actor_id: None, meta, session_id: None, detail: None }
}

impl AuthService {
    /// The caller's own security activity (`GET /api/me/activity`).
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] for a bad limit or cursor.
    pub async fn activity(&self, who: &Identity, query: EventQuery) -> Result<EventList, AuthError> {
        let filter = Filter { user_id: Some(who.user.id.as_str()), kind: None, owner_view: true };
        let mut page = self.events(&filter, query.limit, query.cursor.as_deref()).await?;
        for event in &mut page.events {
            event.user_id = None;
            event.actor_id = None;
        }
        Ok(page)
    }

    /// Everyone's events (`GET /api/admin/audit`), filtered by user and type.
    ///
    /// # Errors
    /// [`AuthError::InsufficientRole`]; [`AuthError::InvalidRequest`] for a bad filter, limit
    /// or cursor.
    pub async fn audit(&self, actor: Actor<'_>, query: EventQuery) -> Result<EventList, AuthError> {
        self.authorize_actor(actor)?;
        let kind = match query.kind.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => {
                Some(EventType::parse(k).ok_or_else(|| AuthError::InvalidRequest(format!("no event type {k:?}")))?)
            }
            None => None,
        };
        let user_id = match query.user_id.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => {
                Some(UserId::parse(u).ok_or_else(|| AuthError::InvalidRequest("user_id must be a UUID".into()))?)
            }
            None => None,
        };
        let filter = Filter { user_id: user_id.as_ref().map(UserId::as_str), kind, owner_view: false };
        self.events(&filter, query.limit, query.cursor.as_deref()).await
    }

    async fn events(
        &self,
        filter: &Filter<'_>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<EventList, AuthError> {
        let limit = limit.unwrap_or(PAGE_DEFAULT);
        if !(1..=PAGE_MAX).contains(&limit) {
            return Err(AuthError::InvalidRequest("limit must be between 1 and 200".into()));
        }
        let before = cursor.map(decode_cursor).transpose()?;
        let mut page = audit::page(&self.inner.db.pool, filter, before.as_ref(), i64::from(limit) + 1).await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let next_cursor = if more { page.last().map(|(_, cursor)| encode_cursor(cursor)) } else { None };
        Ok(EventList { events: page.into_iter().map(|(event, _)| event).collect(), next_cursor })
    }
}
