//! Users see their own devices (name, last contact, app version) and sign one out; staff
//! and administrators over the whole organisation whose grant may edit do the same for any
//! of its users (view-only staff get 403, audited). A signed-out device gets 401 on its
//! next call.

use crate::error::{Error, Result};
use crate::{AppState, admin, auth, db};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use shared::api::DeviceInfo;
use sqlx::Row;

async fn list(st: &AppState, c: &auth::Caller, user: &str) -> Result<Vec<DeviceInfo>> {
    let rows = sqlx::query(
        "SELECT id, name, app_version, last_seen_at, created_at, revoked_at FROM devices \
         WHERE user_id = $1 ORDER BY created_at DESC LIMIT 100",
    )
    .bind(user.to_string())
    .fetch_all(&st.db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| DeviceInfo {
            id: r.get(0),
            name: r.get(1),
            app_version: r.get(2),
            last_seen: r.get(3),
            signed_in_at: r.get(4),
            revoked: r.get::<Option<i64>, _>(5).is_some(),
            this_device: r.get::<String, _>(0) == c.device_id,
        })
        .collect())
}

/// `GET /api/devices`: the caller's own devices.
pub async fn mine(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<DeviceInfo>>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    Ok(Json(list(&st, &c, &c.user_id).await?))
}

/// `GET /api/users/{id}/devices`: one's own, or (staff and administrators over the
/// organisation who may edit) any user's of the organisation.
pub async fn of_user(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Result<Json<Vec<DeviceInfo>>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let org: Option<String> = sqlx::query_scalar("SELECT org_id FROM users WHERE id = $1")
        .bind(user.clone())
        .fetch_optional(&st.db)
        .await?;
    if user != c.user_id && !(c.org_staff_editing() && org.as_deref() == Some(c.org_id.as_str())) {
        return Err(refuse(&st, &c, "devices_listing_refused", &user).await?);
    }
    Ok(Json(list(&st, &c, &user).await?))
}

/// `POST /api/devices/{id}/revoke`: one's own device, or (staff and administrators over
/// the organisation who may edit) any of the organisation's.
pub async fn revoke(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(device): Path<String>,
) -> Result<Json<serde_json::Value>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let row = sqlx::query(
        "SELECT d.user_id, u.org_id FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1",
    )
    .bind(device.clone())
    .fetch_optional(&st.db)
    .await?;
    let Some(row) = row else {
        return Err(Error::NotFound("no such device".into()));
    };
    let (owner, org): (String, String) = (row.get(0), row.get(1));
    if owner != c.user_id && !(c.org_staff_editing() && org == c.org_id) {
        return Err(refuse(&st, &c, "device_revoke_refused", &device).await?);
    }
    // From the device list, a user signs out a phone they lost or no longer use: the
    // phone must wipe what it holds (`revoked`), whoever asks.
    let by = format!("by {}", c.login);
    admin::revoke_device(&st.db, &device, auth::RevokedReason::Revoked, &by).await?;
    Ok(Json(serde_json::json!({"ok": true})))
}

async fn refuse(st: &AppState, c: &auth::Caller, action: &str, what: &str) -> Result<Error> {
    db::audit(
        &st.db,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        action,
        None,
        &auth::truncate(what, 64),
    )
    .await?;
    Ok(Error::Forbidden {
        message: "you may not manage this user's devices".into(),
        docs: vec![],
    })
}
