//! Sign-in: login id + password (Argon2id) gives an opaque device token, kept only as its
//! SHA-256, and the device's wrapping secret (keys.rs). Every API call names its device by
//! that token; a revoked device or a disabled user gets 401 — `revoked` (wipe) or
//! `signed_out` (sign in again) by why it was signed out — and the refusal is audited.

use crate::db::{self, Db, audit, now_ms};
use crate::error::{Error, Result};
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use shared::api::{Grant, UserInfo};
use shared::codes::Role;
use sqlx::Row;

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    hash_secret(password.as_bytes())
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    verify_secret(password.as_bytes(), stored)
}

/// Argon2id (the `argon2` crate's defaults) of a password or a PIN proof, in PHC format.
pub fn hash_secret(secret: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret, &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the secret: {e}"))
}

pub fn verify_secret(secret: &[u8], stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(secret, &h).is_ok())
}

/// Why a device was signed out (`devices.revoked_reason`); it picks the 401 code the device
/// gets from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedReason {
    /// The device's own log-out.
    Logout,
    /// By its user (from another device) or the office: a lost phone.
    Revoked,
    /// The password was changed on another device.
    Password,
    /// Too many wrong PINs.
    Pin,
}

impl RevokedReason {
    pub fn code(self) -> &'static str {
        match self {
            RevokedReason::Logout => "logout",
            RevokedReason::Revoked => "revoked",
            RevokedReason::Password => "password",
            RevokedReason::Pin => "pin",
        }
    }

    /// Whether a device signed out for this reason keeps its keys (see [`revoke_in`]).
    pub fn keeps_keys(self) -> bool {
        self == RevokedReason::Password
    }

    /// The answer a device signed out for this reason gets: `signed_out` where its data
    /// stays (log-out, password changed elsewhere), `revoked` where it must be wiped.
    /// An unknown reason counts as `revoked`.
    pub fn refusal(code: Option<&str>) -> Error {
        match code {
            Some("logout") => Error::SignedOut("this device was logged out; sign in again".into()),
            Some("password") => {
                Error::SignedOut("the password was changed on another device; sign in again".into())
            }
            Some("pin") => {
                Error::Revoked("this device was locked out after too many wrong PINs".into())
            }
            _ => Error::Revoked("this device has been signed out by the office or its user".into()),
        }
    }
}

/// 32 random bytes: a device's wrapping secret (keys.rs).
pub fn new_wrap_secret() -> [u8; 32] {
    rand::random()
}

/// A hash no password matches, verified when the login id is unknown so that an unknown
/// id takes as long as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("not a real password").unwrap_or_default());

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("mm1_{}", hex::encode(bytes))
}

/// One role of a user as the server holds it: the [`Grant`] the app sees, and whether it
/// lets the user change documents (a view-only grant opens them for reading only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub role: Role,
    pub district: Option<String>,
    pub salon: Option<String>,
    pub can_edit: bool,
}

impl Membership {
    pub fn grant(&self) -> Grant {
        Grant {
            role: self.role.clone(),
            district: self.district.clone(),
            salon: self.salon.clone(),
        }
    }

    /// Staff or administrator over the whole organisation.
    pub fn org_wide(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Staff)
            && self.district.is_none()
            && self.salon.is_none()
    }
}

/// Who is calling: the user, their organisation and roles, and the device.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub org_id: String,
    pub device_id: String,
    pub login: String,
    pub name: String,
    pub grants: Vec<Membership>,
}

impl Caller {
    pub fn info(&self, org_name: String) -> UserInfo {
        UserInfo {
            id: self.user_id.clone(),
            login: self.login.clone(),
            name: self.name.clone(),
            org_id: self.org_id.clone(),
            org_name,
            grants: self.grants.iter().map(Membership::grant).collect(),
        }
    }

    pub fn has(&self, role: &Role) -> bool {
        self.grants.iter().any(|g| &g.role == role)
    }

    /// Staff or administrator over the whole organisation.
    pub fn org_staff(&self) -> bool {
        self.grants.iter().any(Membership::org_wide)
    }
}

pub async fn grants<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    e: E,
    user_id: &str,
) -> sqlx::Result<Vec<Membership>> {
    let rows = sqlx::query("SELECT role, district_id, salon_id, can_edit FROM memberships WHERE user_id = $1 ORDER BY created_at")
        .bind(user_id.to_string())
        .fetch_all(e)
        .await?;
    Ok(rows
        .iter()
        .map(|r| Membership {
            role: Role::from_code(&r.get::<String, _>(0)),
            district: r.get::<Option<String>, _>(1),
            salon: r.get::<Option<String>, _>(2),
            can_edit: r.get::<i64, _>(3) != 0,
        })
        .collect())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?
        .trim();
    (!t.is_empty() && t.len() <= 200).then_some(t)
}

/// Finds the caller by their device token.
pub async fn caller(db: &Db, headers: &HeaderMap, app: Option<&str>) -> Result<Caller> {
    let Some(token) = bearer(headers) else {
        return Err(Error::Unauthorized(
            "sign in first: no device token was sent".into(),
        ));
    };
    let row = sqlx::query(
        "SELECT d.id, d.revoked_at, d.last_seen_at, d.app_version, u.id, u.org_id, u.login, u.name, u.disabled_at, d.revoked_reason \
         FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        return Err(Error::Unauthorized(
            "this device is not signed in (unknown token)".into(),
        ));
    };
    let device_id: String = row.get(0);
    let user_id: String = row.get(4);
    let org_id: String = row.get(5);
    let disabled = row.get::<Option<i64>, _>(8).is_some();
    if row.get::<Option<i64>, _>(1).is_some() || disabled {
        let reason: Option<String> = if disabled {
            Some("disabled".into())
        } else {
            row.get(9)
        };
        audit(
            db,
            Some(&org_id),
            Some(&user_id),
            Some(&device_id),
            "revoked_device_refused",
            None,
            reason.as_deref().unwrap_or(""),
        )
        .await?;
        return Err(RevokedReason::refusal(reason.as_deref()));
    }
    // A token unused for a long time has expired: sign in again (the phone keeps its data
    // and wraps its key for the new sign-in; its PIN still unlocks it online meanwhile).
    let now = now_ms();
    let last_seen: i64 = row.get(2);
    if now - last_seen > TOKEN_IDLE_DAYS * 86_400_000 {
        audit(
            db,
            Some(&org_id),
            Some(&user_id),
            Some(&device_id),
            "expired_token_refused",
            None,
            &format!("unused for {} days", (now - last_seen) / 86_400_000),
        )
        .await?;
        return Err(Error::SignedOut(format!(
            "this sign-in has expired (unused for more than {TOKEN_IDLE_DAYS} days); sign in again"
        )));
    }
    // Coarse last-seen: at most one write a minute per device.
    let stored_app: String = row.get(3);
    let app_changed = app.is_some_and(|a| !a.is_empty() && a != stored_app && a.len() <= 64);
    if now - last_seen > 60_000 || app_changed {
        sqlx::query("UPDATE devices SET last_seen_at = $1, app_version = $2 WHERE id = $3")
            .bind(now)
            .bind(if app_changed {
                app.unwrap_or_default().to_string()
            } else {
                stored_app
            })
            .bind(device_id.clone())
            .execute(db)
            .await?;
    }
    Ok(Caller {
        grants: grants(db, &user_id).await?,
        user_id,
        org_id,
        device_id,
        login: row.get(6),
        name: row.get(7),
    })
}

/// A device token not used for this many days is refused (401 `signed_out`); the device
/// signs in again. Much longer than any organisation's stale-device lock, so a phone that
/// was away that long has long been locked already.
pub const TOKEN_IDLE_DAYS: i64 = 90;

/// A device just registered: its token (shown once; the server keeps only its SHA-256),
/// its id and its wrapping secret.
pub struct NewDevice {
    pub token: String,
    pub device_id: String,
    pub wrap_secret: [u8; 32],
}

/// Registers a new device of `user_id`. [`login`] does it once the password is right;
/// the reconnect-storm test and the benchmark make hundreds without paying Argon2 each time.
pub async fn register_device<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    e: E,
    user_id: &str,
    device_name: &str,
    app: &str,
) -> sqlx::Result<NewDevice> {
    let token = new_token();
    let wrap_secret = new_wrap_secret();
    let device_id = db::new_id();
    sqlx::query(
        "INSERT INTO devices (id, user_id, name, token_hash, app_version, created_at, last_seen_at, wrap_secret) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
    )
    .bind(device_id.clone())
    .bind(user_id.to_string())
    .bind(truncate(device_name, 80))
    .bind(token_hash(&token))
    .bind(truncate(app, 64))
    .bind(now_ms())
    .bind(hex::encode(wrap_secret))
    .execute(e)
    .await?;
    Ok(NewDevice {
        token,
        device_id,
        wrap_secret,
    })
}

/// Checks a login and password and registers a new device for the user.
/// Failed sign-ins for one login id from one address, within [`THROTTLE_WINDOW_MS`], after
/// which that pair is refused (429) until the window has passed. Per pair, so that one
/// office address (many staff behind one router) or an attacker elsewhere cannot lock a
/// user out everywhere.
pub const MAX_FAILURES_PER_LOGIN_AND_IP: i64 = 10;
/// Failed sign-ins for one login id from anywhere: a backstop against guessing spread over
/// many addresses (the account then waits out the window, everywhere).
pub const MAX_FAILURES_PER_LOGIN: i64 = 100;
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failure rows older than this are deleted (the audit log keeps the record).
const FAILURES_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

/// Refuses a sign-in that is being guessed at, before any password is checked (so that
/// guessing costs the server no Argon2 work either). Audited.
pub(crate) async fn check_throttle(db: &Db, login: &str, ip: &str) -> Result<()> {
    let since = now_ms() - THROTTLE_WINDOW_MS;
    let row = sqlx::query(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN ip = $2 THEN 1 ELSE 0 END), 0) \
         FROM login_failures WHERE login = $1 AND at > $3",
    )
    .bind(login.to_string())
    .bind(ip.to_string())
    .bind(since)
    .fetch_one(db)
    .await?;
    let (all, here): (i64, i64) = (row.get(0), row.get(1));
    if here >= MAX_FAILURES_PER_LOGIN_AND_IP || all >= MAX_FAILURES_PER_LOGIN {
        audit(
            db,
            None,
            None,
            None,
            "login_throttled",
            None,
            &format!("{login} {ip}"),
        )
        .await?;
        return Err(Error::Throttled(
            "too many failed sign-ins; wait a while and try again".into(),
        ));
    }
    Ok(())
}

pub(crate) async fn record_failure(db: &Db, login: &str, ip: &str) -> Result<()> {
    let now = now_ms();
    sqlx::query("INSERT INTO login_failures (login, ip, at) VALUES ($1, $2, $3)")
        .bind(login.to_string())
        .bind(ip.to_string())
        .bind(now)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM login_failures WHERE at < $1")
        .bind(now - FAILURES_KEPT_MS)
        .execute(db)
        .await?;
    Ok(())
}

/// A new device: its token (shown once), its wrapping secret, and who signed in.
pub struct SignedIn {
    pub token: String,
    pub wrap_secret: [u8; 32],
    pub caller: Caller,
}

/// Signs in from address `ip` (see [`check_throttle`]).
pub async fn login(
    db: &Db,
    login: &str,
    password: &str,
    device_name: &str,
    app: &str,
    ip: &str,
) -> Result<SignedIn> {
    let key = truncate(login.trim(), 64);
    check_throttle(db, &key, ip).await?;
    let row = sqlx::query(
        "SELECT id, org_id, name, password_hash, disabled_at FROM users WHERE login = $1",
    )
    .bind(login.trim().to_string())
    .fetch_optional(db)
    .await?;
    let ok = match &row {
        Some(r) => {
            verify_password(password, &r.get::<String, _>(3))
                && r.get::<Option<i64>, _>(4).is_none()
        }
        None => {
            verify_password(password, &DUMMY_HASH);
            false
        }
    };
    let row = match row {
        Some(r) if ok => r,
        other => {
            record_failure(db, &key, ip).await?;
            // A known login id's failures belong to its organisation's log (staff see them
            // on the audit page); an unknown id's to nobody's.
            let known = other.map(|r| (r.get::<String, _>(1), r.get::<String, _>(0)));
            audit(
                db,
                known.as_ref().map(|k| k.0.as_str()),
                known.as_ref().map(|k| k.1.as_str()),
                None,
                "login_failed",
                None,
                &truncate(login, 64),
            )
            .await?;
            return Err(Error::Unauthorized(
                "the login id or password is wrong".into(),
            ));
        }
    };
    let user_id: String = row.get(0);
    let org_id: String = row.get(1);
    // A success from this address forgives its earlier slips.
    sqlx::query("DELETE FROM login_failures WHERE login = $1 AND ip = $2")
        .bind(key.clone())
        .bind(ip.to_string())
        .execute(db)
        .await?;
    let NewDevice {
        token,
        device_id,
        wrap_secret,
    } = register_device(db, &user_id, device_name, app).await?;
    audit(
        db,
        Some(&org_id),
        Some(&user_id),
        Some(&device_id),
        "login",
        None,
        &truncate(device_name, 80),
    )
    .await?;
    let caller = Caller {
        grants: grants(db, &user_id).await?,
        user_id,
        org_id,
        device_id,
        login: login.trim().to_string(),
        name: row.get(2),
    };
    Ok(SignedIn {
        token,
        wrap_secret,
        caller,
    })
}

pub fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Changes the caller's password after checking the current one (throttled like sign-in),
/// and signs out every other device of the user. Returns how many were signed out.
pub async fn change_password(
    db: &Db,
    c: &Caller,
    current: &str,
    new: &str,
    ip: &str,
) -> Result<u64> {
    let key = truncate(&c.login, 64);
    check_throttle(db, &key, ip).await?;
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(c.user_id.clone())
        .fetch_one(db)
        .await?;
    if !verify_password(current, &stored) {
        record_failure(db, &key, ip).await?;
        audit(
            db,
            Some(&c.org_id),
            Some(&c.user_id),
            Some(&c.device_id),
            "password_change_failed",
            None,
            "",
        )
        .await?;
        return Err(Error::Unauthorized("the current password is wrong".into()));
    }
    if new.chars().count() < shared::api::MIN_PASSWORD_CHARS || new.len() > 1024 {
        return Err(Error::bad(format!(
            "the new password must have at least {} characters",
            shared::api::MIN_PASSWORD_CHARS
        )));
    }
    if new == current {
        return Err(Error::bad(
            "the new password is the same as the current one",
        ));
    }
    let hash = hash_password(new)?;
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(c.user_id.clone())
        .execute(&mut *tx)
        .await?;
    // The other devices are signed out (`signed_out`: they sign in again and keep their
    // data) and their wrapping secrets destroyed: the new sign-in gets a new one.
    let others: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM devices WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL",
    )
    .bind(c.user_id.clone())
    .bind(c.device_id.clone())
    .fetch_all(&mut *tx)
    .await?;
    let mut ended = 0u64;
    for d in &others {
        if revoke_in(&mut tx, d, RevokedReason::Password).await? {
            ended += 1;
            audit(
                &mut *tx,
                Some(&c.org_id),
                Some(&c.user_id),
                Some(d),
                "device_revoked",
                None,
                "password changed",
            )
            .await?;
        }
    }
    audit(
        &mut *tx,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        "password_changed",
        None,
        &format!("{ended} other devices signed out"),
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// Signs a device out inside `tx`: its token stops working. Its wrapping secret and PIN
/// hash are destroyed too — except when the password was changed elsewhere: that phone is
/// not lost, may hold unsent records, and must still be able to unlock (online, with its
/// PIN) and sign in again. Returns whether it was signed in until now.
pub async fn revoke_in(
    tx: &mut db::Tx<'_>,
    device: &str,
    why: RevokedReason,
) -> sqlx::Result<bool> {
    // A device signed out by a password change can still be revoked for good (lost, or
    // wrong PINs): its keys go then.
    let sql = if why.keeps_keys() {
        "UPDATE devices SET revoked_at = $1, revoked_reason = $2 \
         WHERE id = $3 AND revoked_at IS NULL"
    } else {
        "UPDATE devices SET revoked_at = $1, revoked_reason = $2, wrap_secret = NULL, pin_hash = NULL \
         WHERE id = $3 AND (revoked_at IS NULL OR revoked_reason = 'password')"
    };
    let r = sqlx::query(sql)
        .bind(now_ms())
        .bind(why.code().to_string())
        .bind(device.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}
