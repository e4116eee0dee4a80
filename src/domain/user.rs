//! `User`: an account as the API shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::UserId;

/// A user as the API shows it: never a hash or anything secret.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(example = json!({"id": 1, "name": "Ann Lee", "email": "ann@example.com", "is_verified": true, "mfa_enabled": false, "created_at": "2026-11-24T05:59:18Z"}))]
pub struct User {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub is_verified: bool,
    /// Whether login asks for a second factor (TOTP).
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
}
