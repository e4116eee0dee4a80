//! The signed-in user's security activity: their own events, newest first, a page at a time.

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::http::AppState;
use crate::http::docs::responses::{TooMany, Unauthorized, Unavailable};
use crate::http::error::{ApiError, FieldError};
use crate::http::extract::CurrentUser;

/// Events on one page unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

/// Which page of events.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Events on the page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next` of the previous page: only events older than it.
    #[param(minimum = 1)]
    pub before: Option<i64>,
}

/// One security event of the user.
#[derive(Serialize, ToSchema)]
pub struct ActivityEvent {
    /// `account_created`, `email_verified`, `login_succeeded`, `login_failed`, `login_locked`,
    /// `logout`, `session_revoked`, `password_changed`, `password_reset`, `email_changed`,
    /// `mfa_enabled`, `mfa_disabled`, `recovery_code_used`.
    #[schema(example = "login_succeeded")]
    pub event: String,
    pub at: DateTime<Utc>,
    /// The client's address, as the server determines it (empty for an operator's change).
    pub ip: String,
    /// The client's `User-Agent`, cut to 256 characters.
    pub user_agent: String,
}

/// A page of events, newest first.
#[derive(Serialize, ToSchema)]
pub struct ActivityPage {
    pub events: Vec<ActivityEvent>,
    /// Pass as `before` for the next (older) page; `null` when there is none.
    pub next: Option<i64>,
}

/// Activity: the signed-in user's security events, newest first.
///
/// Logins (succeeded, failed, locked out), logouts and ended sessions, password and address
/// changes, two-factor changes, each with the time, client address and user agent. Only the
/// caller's own events; kept for `AUDIT_RETENTION_DAYS` (90 by default).
#[utoipa::path(
    get,
    path = "/activity",
    tag = "account",
    params(ActivityQuery),
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of events, newest first", body = ActivityPage),
        (status = 401, response = Unauthorized),
        (status = 422, description = "`limit` or `before` is not a number in its range", body = crate::http::error::ValidationErrorBody),
        (status = 429, response = TooMany),
        (status = 503, response = Unavailable),
    )
)]
pub async fn activity(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<Json<ActivityPage>, ApiError> {
    let page = page(query.as_deref().unwrap_or(""))?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    let rows = state.auth.activity(&session, page.before, limit).await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|row| row.id))
        .flatten();
    Ok(Json(ActivityPage {
        events: rows
            .into_iter()
            .map(|row| ActivityEvent {
                event: row.event,
                at: row.at,
                ip: row.ip,
                user_agent: row.user_agent,
            })
            .collect(),
        next,
    }))
}

/// `limit` and `before` from the query string; every bad parameter reported.
fn page(query: &str) -> Result<ActivityQuery, ApiError> {
    let mut limit = None;
    let mut before = None;
    let mut errors = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = Some(n),
                _ => errors.push(FieldError::query(
                    "limit",
                    "int_parsing",
                    "limit must be a whole number from 1 to 100",
                )),
            },
            "before" => match value.parse::<i64>() {
                Ok(n) if n >= 1 => before = Some(n),
                _ => errors.push(FieldError::query(
                    "before",
                    "int_parsing",
                    "before must be the `next` of a previous page",
                )),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(ActivityQuery { limit, before })
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn the_page_parameters_are_checked() {
        let both = page("limit=5&before=42").unwrap();
        assert_eq!((both.limit, both.before), (Some(5), Some(42)));
        let none = page("other=1").unwrap();
        assert_eq!((none.limit, none.before), (None, None));
        for bad in [
            "limit=0",
            "limit=101",
            "limit=x",
            "before=0",
            "before=-3",
            "before=",
            "limit",
        ] {
            assert!(page(bad).is_err(), "{bad}");
        }
    }
}
