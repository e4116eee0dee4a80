//! `SessionInfo`: a live session as the session list shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::SessionHandle;

/// One of the user's live sessions (a signed-in device or browser).
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(example = json!({"id": "6f1c0d0e9a4b4c7d8e2f3a5b6c7d8e9f", "created_at": "2026-11-30T08:00:00Z", "last_used_at": "2026-11-30T09:12:00Z", "expires_at": "2026-11-30T10:12:00Z", "ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", "current": true}))]
pub struct SessionInfo {
    /// A handle to end the session with (`DELETE /api/auth/sessions/{id}`); it is not the
    /// token and cannot be used as one.
    #[schema(value_type = String, pattern = "^[0-9a-f]{32}$")]
    pub id: SessionHandle,
    /// When the login that opened it happened.
    pub created_at: DateTime<Utc>,
    /// Its last use as recorded (at most once a minute, so up to a minute behind).
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless used again: the idle timeout after its last use, or its absolute
    /// end, whichever is first.
    pub expires_at: DateTime<Utc>,
    /// The client address it was opened from, as the server saw it.
    #[schema(value_type = String)]
    pub ip: String,
    /// The `User-Agent` it was opened with, cut to 256 characters (empty if none was sent).
    pub user_agent: String,
    /// Whether this is the session making the request.
    pub current: bool,
}
