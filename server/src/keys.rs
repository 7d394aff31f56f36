//! The server's half of a phone's encryption (docs/security.md, "Server side"): each device
//! gets a random wrapping secret at sign-in; the phone wraps its data key with a key derived
//! from the user's PIN *and* that secret, and keeps the secret only for the organisation's
//! `lock_after_days`. After that it must unlock online: `POST /api/unlock` with its PIN
//! proof (a PBKDF2 output of the PIN, never the PIN) answers the secret again. Wrong proofs
//! count; at [`PIN_ATTEMPTS`] in a row the device is revoked and its secret destroyed, so
//! what the phone holds can no longer be unwrapped by anyone.

use crate::AppState;
use crate::auth::{self, Caller, RevokedReason};
use crate::db::audit;
use crate::error::{Error, Result, from_json_rejection};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use shared::api::{DeviceKeys, PIN_ATTEMPTS, PinSet, UnlockRequest};
use shared::sync::Bytes;
use sqlx::Row;

/// Length of a PIN proof in bytes.
const PROOF_BYTES: std::ops::RangeInclusive<usize> = 16..=64;

/// `organisations.lock_after_days` as sent to a phone.
pub fn lock_days(stored: i64) -> u32 {
    stored.clamp(1, 365) as u32
}

fn check_len(proof: &Bytes) -> Result<()> {
    if PROOF_BYTES.contains(&proof.0.len()) {
        Ok(())
    } else {
        Err(Error::bad(format!(
            "a PIN proof is {} to {} bytes",
            PROOF_BYTES.start(),
            PROOF_BYTES.end()
        )))
    }
}

/// The device a PIN belongs to.
struct Device {
    id: String,
    user_id: String,
    org_id: String,
    login: String,
}

impl Device {
    fn of(c: &Caller) -> Device {
        Device {
            id: c.device_id.clone(),
            user_id: c.user_id.clone(),
            org_id: c.org_id.clone(),
            login: c.login.clone(),
        }
    }

    async fn audit(&self, st: &AppState, action: &str, detail: &str) -> sqlx::Result<()> {
        audit(
            &st.db,
            Some(&self.org_id),
            Some(&self.user_id),
            Some(&self.id),
            action,
            None,
            detail,
        )
        .await
    }

    /// The answer for a device that was signed out while its request ran.
    async fn refusal(&self, st: &AppState) -> Result<Error> {
        let reason: Option<String> =
            sqlx::query_scalar("SELECT revoked_reason FROM devices WHERE id = $1")
                .bind(self.id.clone())
                .fetch_one(&st.db)
                .await?;
        Ok(RevokedReason::refusal(reason.as_deref()))
    }
}

/// Checks a PIN proof against the device's PIN hash. The attempt is counted *before* the
/// check, in one SQL statement, so concurrent guesses each take their own attempt and no
/// more than [`PIN_ATTEMPTS`] proofs are ever checked between two right ones. A wrong
/// proof answers 403 `wrong_pin` with the attempts left (audited `unlock_failed`); the
/// last wrong one revokes the device, destroys its wrapping secret (audited `pin_wipe`)
/// and answers 401 `revoked`. A right proof resets the count.
async fn check_proof(st: &AppState, d: &Device, stored: &str, proof: &[u8]) -> Result<()> {
    let taken: Option<i64> = sqlx::query_scalar(
        "UPDATE devices SET pin_failures = pin_failures + 1 WHERE id = $1 AND (revoked_at IS NULL OR revoked_reason = 'password') \
         RETURNING pin_failures",
    )
    .bind(d.id.clone())
    .fetch_optional(&st.db)
    .await?;
    let Some(taken) = taken else {
        return Err(d.refusal(st).await?);
    };
    let limit = i64::from(PIN_ATTEMPTS);
    let (p, h) = (proof.to_vec(), stored.to_string());
    if taken <= limit && auth::bounded(move || auth::verify_secret(&p, &h)).await? {
        let reset =
            sqlx::query("UPDATE devices SET pin_failures = 0 WHERE id = $1 AND (revoked_at IS NULL OR revoked_reason = 'password')")
                .bind(d.id.clone())
                .execute(&st.db)
                .await?;
        if reset.rows_affected() != 1 {
            return Err(d.refusal(st).await?);
        }
        return Ok(());
    }
    if taken >= limit {
        let mut tx = st.db.begin().await?;
        if auth::revoke_in(&mut tx, &d.id, RevokedReason::Pin).await? {
            audit(
                &mut *tx,
                Some(&d.org_id),
                Some(&d.user_id),
                Some(&d.id),
                "pin_wipe",
                None,
                &format!("{PIN_ATTEMPTS} wrong PINs"),
            )
            .await?;
            tracing::warn!(user = %d.login, device = %d.id, "device revoked after {PIN_ATTEMPTS} wrong PINs");
        }
        tx.commit().await?;
        return Err(RevokedReason::refusal(Some(RevokedReason::Pin.code())));
    }
    let attempts_left = (limit - taken) as u32;
    d.audit(
        st,
        "unlock_failed",
        &format!("{attempts_left} attempts left"),
    )
    .await?;
    Err(Error::WrongPin { attempts_left })
}

/// `POST /api/pin` (signed in): keeps Argon2id(proof) for the calling device, replacing
/// any earlier one (a PIN change), and resets its count of wrong PINs. Only a device that
/// is open can call it: on a locked phone the token itself is sealed under the data key.
pub async fn set_pin(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Json<PinSet>, JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Json(req) = body.map_err(from_json_rejection)?;
    check_len(&req.proof)?;
    let d = Device::of(&c);
    let proof = req.proof.0.clone();
    let hash = auth::bounded(move || auth::hash_secret(&proof)).await??;
    let had: Option<String> = sqlx::query_scalar("SELECT pin_hash FROM devices WHERE id = $1")
        .bind(d.id.clone())
        .fetch_one(&st.db)
        .await?;
    let r = sqlx::query(
        "UPDATE devices SET pin_hash = $1, pin_failures = 0 WHERE id = $2 AND revoked_at IS NULL",
    )
    .bind(hash)
    .bind(d.id.clone())
    .execute(&st.db)
    .await?;
    if r.rows_affected() != 1 {
        return Err(d.refusal(&st).await?);
    }
    d.audit(&st, "pin_set", if had.is_some() { "changed" } else { "" })
        .await?;
    Ok(Json(serde_json::json!({"ok": true})))
}

/// `POST /api/unlock` (no token: a locked phone's token is sealed under its data key; the
/// device is named by its id): the device's keys for a right PIN proof (see
/// [`check_proof`]); 409 when the device has no PIN; 401 for an unknown or signed-out
/// device (with `revoked` / `signed_out` as for any call) — except a device signed out by
/// a password change elsewhere, which may still unlock its data and then sign in again.
pub async fn unlock(
    State(st): State<AppState>,
    conn: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    body: std::result::Result<Json<UnlockRequest>, JsonRejection>,
) -> Result<Json<DeviceKeys>> {
    let Json(req) = body.map_err(from_json_rejection)?;
    check_len(&req.proof)?;
    if req.device_id.is_empty() || req.device_id.len() > 64 {
        return Err(Error::bad("device_id is 1 to 64 characters"));
    }
    let row = sqlx::query(
        "SELECT d.id, d.user_id, u.org_id, u.login, d.revoked_at, d.revoked_reason, u.disabled_at, d.pin_hash \
         FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1",
    )
    .bind(req.device_id.clone())
    .fetch_optional(&st.db)
    .await?;
    let Some(row) = row else {
        let ip = crate::client_ip(
            &st,
            &headers,
            conn.map(|axum::Extension(axum::extract::ConnectInfo(a))| a),
        );
        crate::db::audit_refusal(
            &st.db,
            None,
            None,
            "unlock_refused",
            &ip,
            &format!("unknown device {}", auth::truncate(&req.device_id, 64)),
        )
        .await?;
        return Err(Error::Unauthorized(
            "this device is not signed in (unknown device)".into(),
        ));
    };
    let d = Device {
        id: row.get(0),
        user_id: row.get(1),
        org_id: row.get(2),
        login: row.get(3),
    };
    let disabled = row.get::<Option<i64>, _>(6).is_some();
    let reason: Option<String> = row.get(5);
    // Signed out by a password change elsewhere: the phone still unlocks (then signs in).
    let password_change = reason.as_deref() == Some("password");
    if (row.get::<Option<i64>, _>(4).is_some() && !password_change) || disabled {
        let reason: Option<String> = if disabled {
            Some("disabled".into())
        } else {
            reason
        };
        d.audit(
            &st,
            "revoked_device_refused",
            reason.as_deref().unwrap_or(""),
        )
        .await?;
        return Err(RevokedReason::refusal(reason.as_deref()));
    }
    let Some(stored) = row.get::<Option<String>, _>(7) else {
        return Err(Error::Conflict("no PIN is set for this device".into()));
    };
    check_proof(&st, &d, &stored, &req.proof.0).await?;
    let keys = keys_of(&st, &d).await?;
    d.audit(&st, "unlock", "").await?;
    Ok(Json(keys))
}

/// The device's current keys. A device signed in before wrapping secrets existed gets one
/// now (a device whose secret was destroyed is revoked and never reaches this).
async fn keys_of(st: &AppState, d: &Device) -> Result<DeviceKeys> {
    sqlx::query(
        "UPDATE devices SET wrap_secret = $1 WHERE id = $2 AND wrap_secret IS NULL AND revoked_at IS NULL",
    )
    .bind(hex::encode(auth::new_wrap_secret()))
    .bind(d.id.clone())
    .execute(&st.db)
    .await?;
    let row = sqlx::query(
        "SELECT d.wrap_secret, o.lock_after_days FROM devices d JOIN users u ON u.id = d.user_id \
         JOIN organisations o ON o.id = u.org_id \
         WHERE d.id = $1 AND (d.revoked_at IS NULL OR d.revoked_reason = 'password')",
    )
    .bind(d.id.clone())
    .fetch_optional(&st.db)
    .await?;
    let Some(row) = row else {
        return Err(d.refusal(st).await?);
    };
    let secret: Option<String> = row.get(0);
    let secret = secret
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| anyhow::anyhow!("device {} has no readable wrapping secret", d.id))?;
    Ok(DeviceKeys {
        wrap_secret: Bytes(secret),
        lock_after_days: lock_days(row.get(1)),
    })
}
