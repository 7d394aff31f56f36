//! Sign-in: login id + password (Argon2id) gives an opaque device token, kept only as its
//! SHA-256, and the device's wrapping secret (keys.rs). Every API call names its device by
//! that token; a revoked device or a disabled user gets 401 — `revoked` (wipe) or
//! `signed_out` (sign in again) by why it was signed out — and the refusal is audited.

use crate::db::{self, Db, audit, now_ms};
use crate::error::{Error, Result};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
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

/// Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes) of a password or a PIN
/// proof, in PHC format.
pub fn hash_secret(secret: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let a = Argon2::default();
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_blocks(a.params().block_count(), |blocks| {
        a.hash_password_into_with_memory(secret, salt_bytes, &mut out, blocks)
    })
    .map_err(|e| anyhow::anyhow!("cannot hash the secret: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(a.params()).map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(phc.to_string())
}

pub fn verify_secret(secret: &[u8], stored: &str) -> bool {
    let Ok(h) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let (Ok(alg), Ok(params)) = (Algorithm::try_from(h.algorithm), Params::try_from(&h)) else {
        return false;
    };
    let version = match h.version {
        Some(v) => match Version::try_from(v) {
            Ok(v) => v,
            Err(_) => return false,
        },
        None => Version::default(),
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let a = Argon2::new(alg, version, params.clone());
    let hashed = with_blocks(params.block_count(), |blocks| {
        a.hash_password_into_with_memory(secret, salt_bytes, &mut out, blocks)
    });
    // `Output`'s comparison takes constant time.
    hashed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

/// Argon2's working memory (19 MiB by default), kept and reused: at most
/// [`hash_threads`] buffers, one per hash that may run at once. Allocating it afresh for
/// each check let the allocator keep every thread's copy (the issue-14 probe: 3.25 GiB
/// after 200 sign-ins at once).
static BLOCKS: std::sync::Mutex<Vec<Vec<argon2::Block>>> = std::sync::Mutex::new(Vec::new());

fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
    let pooled = count == Params::DEFAULT.block_count();
    let mut buf = pooled
        .then(|| BLOCKS.lock().unwrap_or_else(|e| e.into_inner()).pop())
        .flatten()
        .unwrap_or_else(|| vec![argon2::Block::default(); count]);
    let r = f(&mut buf);
    if pooled {
        let mut pool = BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < hash_threads() {
            pool.push(buf);
        }
    }
    r
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
    /// The app version the device last reported.
    pub app: String,
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

    /// Staff or administrator over the whole organisation with a grant that may edit (a
    /// view-only staff grant reads, and changes nothing: not even another user's devices).
    pub fn org_staff_editing(&self) -> bool {
        self.grants.iter().any(|g| g.org_wide() && g.can_edit)
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
                stored_app.clone()
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
        app: if app_changed {
            app.unwrap_or_default().to_string()
        } else {
            stored_app
        },
    })
}

/// Records the app version a device reports when it differs from the one stored (what
/// [`caller`] does when it is given one).
pub async fn note_app(db: &Db, c: &Caller, app: &str) -> Result<()> {
    if !app.is_empty() && app != c.app && app.len() <= 64 {
        sqlx::query("UPDATE devices SET app_version = $1 WHERE id = $2")
            .bind(app.to_string())
            .bind(c.device_id.clone())
            .execute(db)
            .await?;
    }
    Ok(())
}

/// Middleware of routes that take big bodies (`/api/sync`): the device is found from the
/// headers (as [`caller`]) before the body is read, and handed to the handler as an
/// extension; without a valid token the answer is 401 and the body is never read.
pub async fn require_device(
    axum::extract::State(st): axum::extract::State<crate::AppState>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match caller(&st.db, req.headers(), None).await {
        Ok(c) => {
            req.extensions_mut().insert(c);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
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

// ───────────── sign-in throttling (docs/security.md, *Sign-in throttling*) ─────────────
//
// Every password check first *reserves* an attempt, atomically, in the database: one
// `INSERT … ON CONFLICT DO UPDATE … WHERE <below the limit> RETURNING` per key, all in one
// transaction, so that a burst of N requests at once checks at most the limit — each
// request takes its own attempt before any password is hashed. A right password gives
// its attempt back; a wrong one keeps it as a failure. The keys, all shared by every
// server process on the database:
//
// - the login id and the address (`p`): [`MAX_FAILURES_PER_LOGIN_AND_IP`] attempts, then a
//   progressive delay (30 s, doubling, at most 15 minutes) before each further one; a
//   success there forgives them, and a pair quiet for a day starts afresh;
// - the login id from anywhere (`l`): [`MAX_FAILURES_PER_LOGIN`] per
//   [`THROTTLE_WINDOW_MS`], a backstop against guessing spread over many addresses;
// - the address over all login ids (`i`): [`MAX_FAILURES_PER_IP`] per window, against
//   spraying one guess over many logins.
//
// The last two do not apply to a login id at an address where it signed in within
// [`KNOWN_ADDRESS_DAYS`]: a guesser cannot lock the owner out of their usual places, and
// the owner's signed-in devices never depend on any of this.

/// Attempts for one login id from one address before the progressive delay starts.
pub const MAX_FAILURES_PER_LOGIN_AND_IP: i64 = 10;
/// Failed sign-ins for one login id from anywhere, per window (addresses where the login
/// id signed in before are not counted nor held back).
pub const MAX_FAILURES_PER_LOGIN: i64 = 100;
/// Failed sign-ins from one address over all login ids, per window (same exception).
pub const MAX_FAILURES_PER_IP: i64 = 30;
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// The delays before each attempt beyond [`MAX_FAILURES_PER_LOGIN_AND_IP`] for one login id
/// and address: 30 s, doubling, at most 15 minutes.
pub const DELAYS_MS: [i64; 6] = [30_000, 60_000, 120_000, 240_000, 480_000, 900_000];
/// A login id and address with no attempt for this long start afresh.
const PAIR_FORGET_MS: i64 = 24 * 60 * 60 * 1000;
/// Addresses where a login id signed in within this many days are its known addresses.
pub const KNOWN_ADDRESS_DAYS: i64 = 30;

/// The throttle keys of one attempt.
struct Keys {
    pair: String,
    login: String,
    ip: String,
    /// The login id signed in from this address before: only the pair applies.
    known: bool,
}

impl Keys {
    async fn of(db: &Db, login: &str, ip: &str) -> Result<Keys> {
        let since = now_ms() - KNOWN_ADDRESS_DAYS * 86_400_000;
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT at FROM login_known WHERE login = $1 AND ip = $2 AND at > $3",
        )
        .bind(login.to_string())
        .bind(ip.to_string())
        .bind(since)
        .fetch_optional(db)
        .await?;
        Ok(Keys {
            pair: format!("p\n{login}\n{ip}"),
            login: format!("l\n{login}"),
            ip: format!("i\n{ip}"),
            known: known.is_some(),
        })
    }
}

/// The delay set by the `n`-th attempt of a pair (none before the limit).
fn delay_sql() -> String {
    // attempts + 1 is the attempt being reserved; the limit-th sets the first delay.
    let mut sql = String::from("CASE");
    for (i, d) in DELAYS_MS.iter().enumerate() {
        let n = MAX_FAILURES_PER_LOGIN_AND_IP + i as i64;
        sql.push_str(&format!(
            " WHEN login_throttle.attempts + 1 <= {n} THEN {d}"
        ));
    }
    sql.push_str(&format!(" ELSE {} END", DELAYS_MS[DELAYS_MS.len() - 1]));
    sql
}

/// Reserves one attempt for `keys` (see the notes above); `Ok(None)` when reserved,
/// `Ok(Some(seconds))` when refused, with how long to wait.
async fn reserve(db: &Db, keys: &Keys) -> Result<Option<u64>> {
    let now = now_ms();
    let limit = MAX_FAILURES_PER_LOGIN_AND_IP;
    let first_block = if limit <= 1 { DELAYS_MS[0] } else { 0 };
    let pair_sql = format!(
        "INSERT INTO login_throttle (k, attempts, first_at, last_at, blocked_until) VALUES ($1, 1, $2, $2, $2 + $5) \
         ON CONFLICT (k) DO UPDATE SET \
           attempts = CASE WHEN login_throttle.last_at < $3 THEN 1 ELSE login_throttle.attempts + 1 END, \
           first_at = CASE WHEN login_throttle.last_at < $3 THEN $2 ELSE login_throttle.first_at END, \
           blocked_until = CASE WHEN login_throttle.last_at < $3 THEN $2 + $5 \
             WHEN login_throttle.attempts + 1 < $4 THEN 0 ELSE $2 + ({}) END, \
           last_at = $2 \
         WHERE login_throttle.last_at < $3 OR login_throttle.blocked_until <= $2 \
         RETURNING attempts",
        delay_sql()
    );
    let window_sql = "INSERT INTO login_throttle (k, attempts, first_at, last_at, blocked_until) VALUES ($1, 1, $2, $2, 0) \
         ON CONFLICT (k) DO UPDATE SET \
           attempts = CASE WHEN login_throttle.first_at < $3 THEN 1 ELSE login_throttle.attempts + 1 END, \
           first_at = CASE WHEN login_throttle.first_at < $3 THEN $2 ELSE login_throttle.first_at END, \
           last_at = $2 \
         WHERE login_throttle.first_at < $3 OR login_throttle.attempts < $4 \
         RETURNING attempts";
    let mut tx = db.begin().await?;
    let got: Option<i64> = sqlx::query_scalar(&pair_sql)
        .bind(keys.pair.clone())
        .bind(now)
        .bind(now - PAIR_FORGET_MS)
        .bind(limit)
        .bind(first_block)
        .fetch_optional(&mut *tx)
        .await?;
    let mut refused_by = got.is_none().then_some(&keys.pair);
    if refused_by.is_none() && !keys.known {
        for (k, max) in [
            (&keys.login, MAX_FAILURES_PER_LOGIN),
            (&keys.ip, MAX_FAILURES_PER_IP),
        ] {
            let got: Option<i64> = sqlx::query_scalar(window_sql)
                .bind(k.clone())
                .bind(now)
                .bind(now - THROTTLE_WINDOW_MS)
                .bind(max)
                .fetch_optional(&mut *tx)
                .await?;
            if got.is_none() {
                refused_by = Some(k);
                break;
            }
        }
    }
    let Some(k) = refused_by else {
        tx.commit().await?;
        return Ok(None);
    };
    tx.rollback().await?;
    let row = sqlx::query("SELECT blocked_until, first_at FROM login_throttle WHERE k = $1")
        .bind(k.clone())
        .fetch_optional(db)
        .await?;
    let until = row.map_or(now + 1000, |r| {
        if k == &keys.pair {
            r.get::<i64, _>(0)
        } else {
            r.get::<i64, _>(1) + THROTTLE_WINDOW_MS
        }
    });
    Ok(Some(((until - now).max(1000) as u64).div_ceil(1000)))
}

/// Gives a reserved attempt back: the password was right (`forgive`: the pair's earlier
/// failures too, and the address becomes a known one), or it was never checked.
async fn give_back(db: &Db, keys: &Keys, forgive: bool, login: &str, ip: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    if forgive {
        sqlx::query("DELETE FROM login_throttle WHERE k = $1")
            .bind(keys.pair.clone())
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query(
            "UPDATE login_throttle SET attempts = attempts - 1, \
             blocked_until = CASE WHEN attempts - 1 < $2 THEN 0 ELSE blocked_until END WHERE k = $1 AND attempts > 0",
        )
        .bind(keys.pair.clone())
        .bind(MAX_FAILURES_PER_LOGIN_AND_IP)
        .execute(&mut *tx)
        .await?;
    }
    if !keys.known {
        for k in [&keys.login, &keys.ip] {
            sqlx::query(
                "UPDATE login_throttle SET attempts = attempts - 1 WHERE k = $1 AND attempts > 0",
            )
            .bind(k.clone())
            .execute(&mut *tx)
            .await?;
        }
    }
    if forgive {
        sqlx::query(
            "INSERT INTO login_known (login, ip, at) VALUES ($1, $2, $3) \
             ON CONFLICT (login, ip) DO UPDATE SET at = $3",
        )
        .bind(login.to_string())
        .bind(ip.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes throttle rows nobody needs any more (a day quiet) and known addresses older
/// than [`KNOWN_ADDRESS_DAYS`]. Run now and then (lib.rs, the housekeeping task).
pub async fn prune_throttle(db: &Db) -> Result<()> {
    let now = now_ms();
    sqlx::query("DELETE FROM login_throttle WHERE last_at < $1 AND blocked_until < $2")
        .bind(now - PAIR_FORGET_MS)
        .bind(now)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM login_known WHERE at < $1")
        .bind(now - KNOWN_ADDRESS_DAYS * 86_400_000)
        .execute(db)
        .await?;
    Ok(())
}

// ───────────── bounded password hashing ─────────────

/// Argon2 checks running at once in this process (`MIMAMORI_HASH_THREADS`, default the
/// number of CPUs). Each takes 19 MiB while it runs, on the blocking pool, never on the
/// async workers.
pub fn hash_threads() -> usize {
    static N: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
        std::env::var("MIMAMORI_HASH_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    *N
}

/// Password checks that may wait for a hashing thread, beyond those running; more get 429
/// `busy` at once.
pub const HASH_QUEUE: usize = 64;
/// The longest a check waits for a hashing thread before 429 `busy`.
pub const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

struct Hasher {
    running: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

static HASHER: std::sync::LazyLock<Hasher> = std::sync::LazyLock::new(|| Hasher {
    running: tokio::sync::Semaphore::new(hash_threads()),
    waiting: std::sync::atomic::AtomicUsize::new(0),
});

/// Runs `f` (an Argon2 hash or check) on the blocking pool, at most [`hash_threads`] at
/// once in this process; 429 `busy` when [`HASH_QUEUE`] already wait or the wait passes
/// [`HASH_WAIT`].
pub async fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    use std::sync::atomic::Ordering;
    struct Waiting;
    impl Drop for Waiting {
        fn drop(&mut self) {
            HASHER.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
    if HASHER.waiting.fetch_add(1, Ordering::AcqRel) >= HASH_QUEUE {
        HASHER.waiting.fetch_sub(1, Ordering::AcqRel);
        return Err(Error::Busy { retry_after: 2 });
    }
    let waiting = Waiting;
    let permit = tokio::time::timeout(HASH_WAIT, HASHER.running.acquire())
        .await
        .map_err(|_| Error::Busy { retry_after: 2 })?
        .map_err(|e| anyhow::anyhow!("hashing closed: {e}"))?;
    drop(waiting);
    let r = tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    drop(permit);
    Ok(r)
}

/// [`verify_password`] within [`bounded`].
pub async fn check_password(password: &str, stored: &str) -> Result<bool> {
    let (p, s) = (password.to_string(), stored.to_string());
    bounded(move || verify_password(&p, &s)).await
}

// ───────────── sign-in ─────────────

/// Refused: 429 `throttled` after `secs`, audited (rate-limited per address).
async fn throttled(
    db: &Db,
    known: Option<(&str, &str)>,
    login: &str,
    ip: &str,
    secs: u64,
) -> Result<Error> {
    db::audit_refusal(
        db,
        known.map(|k| k.0),
        known.map(|k| k.1),
        "login_throttled",
        ip,
        &truncate(login, 64),
    )
    .await?;
    Ok(Error::Throttled {
        message: format!("too many failed sign-ins; wait {secs} seconds and try again"),
        retry_after: secs,
    })
}

/// A new device: its token (shown once), its wrapping secret, and who signed in.
pub struct SignedIn {
    pub token: String,
    pub wrap_secret: [u8; 32],
    pub caller: Caller,
}

/// Checks a login and password from address `ip` (throttled, see the notes above) and
/// registers a new device for the user.
pub async fn login(
    db: &Db,
    login: &str,
    password: &str,
    device_name: &str,
    app: &str,
    ip: &str,
) -> Result<SignedIn> {
    let key = truncate(login.trim(), 64);
    let row = sqlx::query(
        "SELECT id, org_id, name, password_hash, disabled_at FROM users WHERE login = $1",
    )
    .bind(login.trim().to_string())
    .fetch_optional(db)
    .await?;
    // A known login id's refusals belong to its organisation's log (staff see them on the
    // audit page); an unknown id's to nobody's (`server admin audit-refusals`).
    let known = row
        .as_ref()
        .map(|r| (r.get::<String, _>(1), r.get::<String, _>(0)));
    let known_ref = known.as_ref().map(|k| (k.0.as_str(), k.1.as_str()));
    let keys = Keys::of(db, &key, ip).await?;
    if let Some(secs) = reserve(db, &keys).await? {
        return Err(throttled(db, known_ref, &key, ip, secs).await?);
    }
    let stored = row
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |r| r.get::<String, _>(3));
    let right = match check_password(password, &stored).await {
        Ok(ok) => ok && row.is_some(),
        Err(e) => {
            // Not checked (busy): the attempt is given back.
            give_back(db, &keys, false, &key, ip).await?;
            if matches!(e, Error::Busy { .. }) {
                db::audit_refusal(db, known_ref.map(|k| k.0), None, "login_busy", ip, &key).await?;
            }
            return Err(e);
        }
    };
    let ok = right
        && row
            .as_ref()
            .is_some_and(|r| r.get::<Option<i64>, _>(4).is_none());
    let row = match row {
        Some(r) if ok => r,
        _ => {
            audit(
                db,
                known_ref.map(|k| k.0),
                known_ref.map(|k| k.1),
                None,
                "login_failed",
                None,
                &key,
            )
            .await?;
            return Err(Error::Unauthorized(
                "the login id or password is wrong".into(),
            ));
        }
    };
    let user_id: String = row.get(0);
    let org_id: String = row.get(1);
    // A success from this address forgives its earlier slips and makes it a known one.
    give_back(db, &keys, true, &key, ip).await?;
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
        app: truncate(app, 64),
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
    let keys = Keys::of(db, &key, ip).await?;
    if let Some(secs) = reserve(db, &keys).await? {
        return Err(throttled(db, Some((&c.org_id, &c.user_id)), &key, ip, secs).await?);
    }
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(c.user_id.clone())
        .fetch_one(db)
        .await?;
    let right = match check_password(current, &stored).await {
        Ok(right) => right,
        Err(e) => {
            give_back(db, &keys, false, &key, ip).await?;
            return Err(e);
        }
    };
    if !right {
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
    give_back(db, &keys, true, &key, ip).await?;
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
    let new_owned = new.to_string();
    let hash = bounded(move || hash_password(&new_owned)).await??;
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

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    /// The pooled-memory hash and check agree with the `argon2` crate's own, both ways.
    #[test]
    fn pooled_argon2_matches_the_crate() {
        let ours = hash_secret(b"correct horse").unwrap();
        let h = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &h)
                .is_ok()
        );
        assert!(Argon2::default().verify_password(b"wrong", &h).is_err());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(verify_secret(b"correct horse", &theirs));
        assert!(!verify_secret(b"correct hors", &theirs));
        assert!(!verify_secret(b"correct horse", "not a hash"));
    }
}
