//! The app lock: a PIN, the data key in memory only while unlocked, limited attempts, an
//! idle timeout, and the stale-device lock (docs/security.md, "Data on the phone").
//!
//! The lock record (IndexedDB `meta/lock`, the one value kept in the clear) holds what
//! unlocking needs — salt, the wrapped data key, the server's wrapping secret while it may
//! be kept — and nothing about the people visited.

use crate::crypto;
use crate::net::{self, NetError};
use serde::{Deserialize, Serialize};
use shared::api::{DeviceKeys, LoginResponse, PIN_ATTEMPTS, PinSet, UnlockRequest};
use shared::sync::Bytes;
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;

/// Idle minutes before the app locks by itself, unless the user chose otherwise.
pub const DEFAULT_IDLE_MINUTES: u32 = 5;
/// The choices offered in 設定.
pub const IDLE_CHOICES: [u32; 4] = [1, 5, 15, 60];
pub const PIN_MIN: usize = 4;
pub const PIN_MAX: usize = 8;
const DAY_MS: f64 = 86_400_000.0;
const KEY_AAD: &[u8] = b"mimamori-data-key";

/// The lock record. Most of it is kept in IndexedDB (`meta/lock`); the fields marked
/// *keyring* are kept apart in Cache Storage ([`KEYRING_CACHE`]) instead, because deleting
/// a cache removes its files from the disk, while IndexedDB keeps deleted records in its
/// files until a later compaction: after a wipe, what is left of the database can no
/// longer be opened by any PIN (the sealed data key is gone). Neither holds the user's
/// name or login id: a phone found locked does not say whose it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockInfo {
    /// *keyring*
    #[serde(skip)]
    pub user_id: String,
    /// *keyring*: the data key sealed with the wrapping key (hex).
    #[serde(skip)]
    pub wrapped: String,
    pub device_id: String,
    /// PBKDF2 salt (hex).
    pub salt: String,
    /// The server's wrapping secret (hex), kept until `secret_until`; after that the phone
    /// must unlock online.
    pub secret: Option<String>,
    pub secret_until: f64,
    pub lock_after_days: u32,
    /// Wrong PINs in a row on this phone.
    pub failures: u32,
    /// Changes not yet on the server (shown in the warnings before a wipe).
    pub unsent: usize,
    /// The server knows this device's PIN proof (else sent again at the next contact).
    pub pin_registered: bool,
    pub idle_minutes: u32,
}

/// Where the keyring lives (never deleted by the service worker's clean-up of old
/// versions: see `public/sw.js`).
pub const KEYRING_CACHE: &str = "mimamori-keyring";
const KEYRING_URL: &str = "/keyring";

/// The keyring fields of the lock record, as stored in Cache Storage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Keyring {
    user_id: String,
    wrapped: String,
}

fn caches() -> Option<web_sys::CacheStorage> {
    web_sys::window()?.caches().ok()
}

/// Reads the keyring into `info` (false when there is none: the data cannot be opened).
pub async fn load_keyring(info: &mut LockInfo) -> bool {
    let r: Result<Option<Keyring>, JsValue> = async {
        let Some(c) = caches() else { return Ok(None) };
        let cache: web_sys::Cache = JsFuture::from(c.open(KEYRING_CACHE)).await?.dyn_into()?;
        let hit = JsFuture::from(cache.match_with_str(KEYRING_URL)).await?;
        let Ok(resp) = hit.dyn_into::<web_sys::Response>() else {
            return Ok(None);
        };
        let text = JsFuture::from(resp.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        Ok(serde_json::from_str(&text).ok())
    }
    .await;
    match r {
        Ok(Some(k)) if !k.wrapped.is_empty() => {
            info.user_id = k.user_id;
            info.wrapped = k.wrapped;
            true
        }
        _ => false,
    }
}

/// Stores the keyring fields of the lock record in memory; waits until stored.
pub async fn save_keyring() -> Result<(), String> {
    let i = info().ok_or("no lock record")?;
    let k = Keyring {
        user_id: i.user_id,
        wrapped: i.wrapped,
    };
    let text = serde_json::to_string(&k).map_err(err)?;
    let r: Result<(), JsValue> = async {
        let c = caches().ok_or_else(|| JsValue::from_str("no Cache Storage"))?;
        let cache: web_sys::Cache = JsFuture::from(c.open(KEYRING_CACHE)).await?.dyn_into()?;
        let resp = web_sys::Response::new_with_opt_str(Some(&text))?;
        JsFuture::from(cache.put_with_str(KEYRING_URL, &resp)).await?;
        Ok(())
    }
    .await;
    r.map_err(|e| format!("{e:?}"))
}

/// Deletes the keyring (its files go from the disk at once).
pub async fn delete_keyring() {
    if let Some(c) = caches() {
        let _ = JsFuture::from(c.delete(KEYRING_CACHE)).await;
    }
}

/// The unlocked state: the data key, and the PIN's bits (to wrap the data key again when
/// the server's secret changes, and to prove the PIN for a new device).
struct Unlocked {
    data: CryptoKey,
    pin_bits: Vec<u8>,
}

thread_local! {
    static INFO: RefCell<Option<LockInfo>> = const { RefCell::new(None) };
    static KEY: RefCell<Option<Unlocked>> = const { RefCell::new(None) };
}

pub fn info() -> Option<LockInfo> {
    INFO.with(|i| i.borrow().clone())
}

pub fn set_info(info: Option<LockInfo>) {
    INFO.with(|i| *i.borrow_mut() = info);
}

/// Changes the lock record in memory; the caller stores it ([`crate::store::save_lock`]).
pub fn update(f: impl FnOnce(&mut LockInfo)) {
    INFO.with(|i| {
        if let Some(info) = i.borrow_mut().as_mut() {
            f(info)
        }
    });
}

pub fn data_key() -> Option<CryptoKey> {
    KEY.with(|k| k.borrow().as_ref().map(|u| u.data.clone()))
}

pub fn is_unlocked() -> bool {
    KEY.with(|k| k.borrow().is_some())
}

/// Forgets the keys (log-out, wipe).
pub fn forget() {
    KEY.with(|k| *k.borrow_mut() = None);
    INFO.with(|i| *i.borrow_mut() = None);
}

/// A PIN the app accepts: 4–8 digits, not one digit repeated, not a plain run (1234).
pub fn pin_ok(pin: &str) -> bool {
    let d: Vec<u32> = pin.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != pin.chars().count() || !(PIN_MIN..=PIN_MAX).contains(&d.len()) {
        return false;
    }
    let same = d.windows(2).all(|w| w[0] == w[1]);
    let up = d.windows(2).all(|w| w[1] == (w[0] + 1) % 10);
    let down = d.windows(2).all(|w| w[0] == (w[1] + 1) % 10);
    !(same || up || down)
}

/// Whether the server's secret may still be kept at `now` (stale-device lock).
pub fn secret_valid(info: &LockInfo, now: f64) -> bool {
    info.secret.is_some() && now < info.secret_until
}

/// Drops the secret once its time is up: from then on only an online unlock opens the app.
/// Returns whether anything changed.
pub fn expire_secret(now: f64) -> bool {
    let mut changed = false;
    update(|i| {
        if i.secret.is_some() && now >= i.secret_until {
            i.secret = None;
            changed = true;
        }
    });
    changed
}

/// After any successful contact with the server: the secret may be kept N more days.
pub fn touched_server(now: f64) {
    update(|i| i.secret_until = now + i.lock_after_days.max(1) as f64 * DAY_MS);
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The first PIN after a log-in: makes the data key, wraps it, tells the server the PIN's
/// proof. Returns the lock record (to be stored) — the app is unlocked afterwards.
pub async fn setup(pin: &str, login: &LoginResponse, now: f64) -> Result<LockInfo, String> {
    let salt = crypto::random_bytes(16).map_err(err)?;
    let bits = crypto::pin_bits(pin, &salt).await.map_err(err)?;
    let raw = crypto::random_bytes(32).map_err(err)?;
    let data = crypto::aes_key(&raw).await.map_err(err)?;
    let secret = &login.keys.wrap_secret.0;
    let wrapped = wrap_raw(&bits, secret, &raw).await?;
    let mut info = LockInfo {
        user_id: login.user.id.clone(),
        device_id: login.device_id.clone(),
        salt: crypto::hex(&salt),
        wrapped: crypto::hex(&wrapped),
        secret: Some(crypto::hex(secret)),
        secret_until: 0.0,
        lock_after_days: login.keys.lock_after_days,
        failures: 0,
        unsent: 0,
        pin_registered: false,
        idle_minutes: DEFAULT_IDLE_MINUTES,
    };
    info.secret_until = now + info.lock_after_days.max(1) as f64 * DAY_MS;
    KEY.with(|k| {
        *k.borrow_mut() = Some(Unlocked {
            data,
            pin_bits: bits,
        })
    });
    set_info(Some(info.clone()));
    // The keyring first: without it nothing written after could ever be opened.
    save_keyring().await?;
    info.pin_registered = register_pin(&login.token).await;
    set_info(Some(info.clone()));
    Ok(info)
}

/// Sends this device's PIN proof to the server; whether it was accepted.
pub async fn register_pin(token: &str) -> bool {
    let Some(bits) = KEY.with(|k| k.borrow().as_ref().map(|u| u.pin_bits.clone())) else {
        return false;
    };
    let Ok(proof) = crypto::pin_proof(&bits).await else {
        return false;
    };
    let r: Result<serde_json::Value, NetError> = net::json(
        "POST",
        "/api/pin",
        Some(token),
        Some(&PinSet {
            proof: Bytes(proof),
        }),
    )
    .await;
    r.is_ok()
}

/// A new sign-in of the same user on this phone (new device id, new secret): the data key
/// (in memory) is wrapped again under the new secret.
pub async fn rewrap(login: &LoginResponse, now: f64) -> Result<(), String> {
    let raw_bits = KEY
        .with(|k| k.borrow().as_ref().map(|u| u.pin_bits.clone()))
        .ok_or("locked")?;
    // The data key cannot be read out of the browser: unwrap the stored copy with the old
    // secret (still in the lock record), wrap it with the new one.
    let old = info().ok_or("no lock record")?;
    let old_secret = old
        .secret
        .as_deref()
        .and_then(crypto::unhex)
        .ok_or("the old secret is gone")?;
    let raw = unwrap_raw(&raw_bits, &old_secret, &old.wrapped).await?;
    let wrapped = wrap_raw(&raw_bits, &login.keys.wrap_secret.0, &raw).await?;
    update(|i| {
        i.device_id = login.device_id.clone();
        i.wrapped = crypto::hex(&wrapped);
        i.secret = Some(crypto::hex(&login.keys.wrap_secret.0));
        i.lock_after_days = login.keys.lock_after_days;
        i.pin_registered = false;
    });
    touched_server(now);
    save_keyring().await?;
    let ok = register_pin(&login.token).await;
    update(|i| i.pin_registered = ok);
    Ok(())
}

/// The data key `raw` sealed under the wrapping key of `bits` and `secret`.
async fn wrap_raw(bits: &[u8], secret: &[u8], raw: &[u8]) -> Result<Vec<u8>, String> {
    let wrap = crypto::wrapping_key(bits, secret).await.map_err(err)?;
    crypto::seal(&wrap, KEY_AAD, raw).await.map_err(err)
}

async fn unwrap_raw(bits: &[u8], secret: &[u8], wrapped_hex: &str) -> Result<Vec<u8>, String> {
    let wrapped = crypto::unhex(wrapped_hex).ok_or("bad wrapped key")?;
    let wrap = crypto::wrapping_key(bits, secret).await.map_err(err)?;
    crypto::open(&wrap, KEY_AAD, &wrapped).await.map_err(err)
}

/// What a PIN attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Unlock {
    Opened,
    /// Wrong PIN; this many attempts left.
    Wrong(u32),
    /// Too many wrong PINs: the data must be wiped now.
    Wipe,
    /// The secret is gone (not in contact for too long) and there is no signal.
    NeedsSignal,
    /// The server says this device was signed out by the office (or by wrong PINs).
    Revoked,
    Failed(String),
}

/// Tries `pin`: offline with the kept secret while it is valid, else through the server.
/// The failure count is updated in memory; the caller stores the lock record.
pub async fn unlock(pin: &str, now: f64) -> Unlock {
    let Some(i) = info() else {
        return Unlock::Failed("no lock record".into());
    };
    let Some(salt) = crypto::unhex(&i.salt) else {
        return Unlock::Failed("bad salt".into());
    };
    let bits = match crypto::pin_bits(pin, &salt).await {
        Ok(b) => b,
        Err(e) => return Unlock::Failed(e.0),
    };
    let secret = if secret_valid(&i, now) {
        i.secret.as_deref().and_then(crypto::unhex)
    } else {
        None
    };
    let secret = match secret {
        Some(s) => s,
        None => {
            // Online unlock: the server checks the proof and counts wrong ones.
            let proof = match crypto::pin_proof(&bits).await {
                Ok(p) => p,
                Err(e) => return Unlock::Failed(e.0),
            };
            let req = UnlockRequest {
                device_id: i.device_id.clone(),
                proof: Bytes(proof),
            };
            let r: Result<DeviceKeys, NetError> =
                net::json("POST", "/api/unlock", None, Some(&req)).await;
            match r {
                Ok(keys) => {
                    update(|x| {
                        x.secret = Some(crypto::hex(&keys.wrap_secret.0));
                        x.lock_after_days = keys.lock_after_days;
                    });
                    touched_server(now);
                    keys.wrap_secret.0
                }
                Err(NetError::Offline) => return Unlock::NeedsSignal,
                Err(NetError::Api(401, e)) if e.error == "revoked" => return Unlock::Revoked,
                Err(NetError::Api(403, e)) if e.error == "wrong_pin" => {
                    let left = e.attempts_left.unwrap_or(0);
                    update(|x| x.failures = PIN_ATTEMPTS.saturating_sub(left));
                    return if left == 0 {
                        Unlock::Wipe
                    } else {
                        Unlock::Wrong(left)
                    };
                }
                Err(e) => return Unlock::Failed(format!("{e:?}")),
            }
        }
    };
    match unwrap_raw(&bits, &secret, &i.wrapped).await {
        Ok(raw) => match crypto::aes_key(&raw).await {
            Ok(data) => {
                KEY.with(|k| {
                    *k.borrow_mut() = Some(Unlocked {
                        data,
                        pin_bits: bits,
                    })
                });
                update(|x| x.failures = 0);
                Unlock::Opened
            }
            Err(e) => Unlock::Failed(e.0),
        },
        Err(_) => {
            let mut failures = 0;
            update(|x| {
                x.failures += 1;
                failures = x.failures;
            });
            if failures >= PIN_ATTEMPTS {
                Unlock::Wipe
            } else {
                Unlock::Wrong(PIN_ATTEMPTS - failures)
            }
        }
    }
}

/// Changes the PIN (the app is unlocked and `current` is checked first).
pub async fn change_pin(current: &str, new: &str, token: Option<String>) -> Result<bool, String> {
    let i = info().ok_or("no lock record")?;
    let salt = crypto::unhex(&i.salt).ok_or("bad salt")?;
    let secret = i
        .secret
        .as_deref()
        .and_then(crypto::unhex)
        .ok_or("the secret is gone")?;
    let old_bits = crypto::pin_bits(current, &salt).await.map_err(err)?;
    let Ok(raw) = unwrap_raw(&old_bits, &secret, &i.wrapped).await else {
        return Ok(false);
    };
    let new_salt = crypto::random_bytes(16).map_err(err)?;
    let bits = crypto::pin_bits(new, &new_salt).await.map_err(err)?;
    let wrapped = wrap_raw(&bits, &secret, &raw).await?;
    let data = crypto::aes_key(&raw).await.map_err(err)?;
    KEY.with(|k| {
        *k.borrow_mut() = Some(Unlocked {
            data,
            pin_bits: bits,
        })
    });
    update(|x| {
        x.salt = crypto::hex(&new_salt);
        x.wrapped = crypto::hex(&wrapped);
        x.pin_registered = false;
    });
    save_keyring().await?;
    if let Some(t) = token {
        let ok = register_pin(&t).await;
        update(|x| x.pin_registered = ok);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_that_are_too_easy_or_not_digits_are_refused() {
        for bad in [
            "",
            "123",
            "1234",
            "0000",
            "9876",
            "7890",
            "12a4",
            "１２３４５",
            "123456789",
        ] {
            assert!(!pin_ok(bad), "{bad}");
        }
        for good in ["2580", "1357", "90210", "11112222", "1243"] {
            assert!(pin_ok(good), "{good}");
        }
    }

    #[test]
    fn the_secret_is_kept_only_until_its_time() {
        let i = LockInfo {
            secret: Some("00".into()),
            secret_until: 1000.0,
            ..Default::default()
        };
        assert!(secret_valid(&i, 999.0));
        assert!(!secret_valid(&i, 1000.0));
        assert!(!secret_valid(&LockInfo::default(), 0.0));
    }
}
