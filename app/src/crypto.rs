//! WebCrypto for data at rest (docs/security.md, "Data on the phone").
//!
//! - The **data key** (AES-256-GCM) encrypts every record the app keeps in IndexedDB. It
//!   is made on the phone at the first PIN, exists in memory only while the app is unlocked,
//!   and is stored only wrapped.
//! - The **wrapping key** is derived from the PIN *and* the server-held wrapping secret:
//!   `pin_bits = PBKDF2-SHA256(PIN, salt, 600 000)`, then
//!   `wrap = HKDF-SHA256(pin_bits, salt = secret, info = "mimamori-wrap")`.
//! - The **PIN proof** the server checks for an online unlock is
//!   `HKDF-SHA256(pin_bits, salt = "", info = "mimamori-pin-proof")`: it does not need the
//!   secret (the phone asks for the secret with it) and does not reveal the PIN.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

/// PBKDF2 iterations (OWASP 2023 figure for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;
const IV_LEN: usize = 12;

#[derive(Debug, Clone)]
pub struct CryptoError(pub String);

impl From<JsValue> for CryptoError {
    fn from(v: JsValue) -> Self {
        CryptoError(format!("{v:?}"))
    }
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, CryptoError>;

fn subtle() -> Result<SubtleCrypto> {
    Ok(web_sys::window()
        .ok_or_else(|| CryptoError("no window".into()))?
        .crypto()?
        .subtle())
}

/// `n` random bytes from the browser's CSPRNG.
pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    web_sys::window()
        .ok_or_else(|| CryptoError("no window".into()))?
        .crypto()?
        .get_random_values_with_u8_array(&mut b)?;
    Ok(b)
}

fn obj(pairs: &[(&str, &JsValue)]) -> Result<Object> {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v)?;
    }
    Ok(o)
}

fn usages(u: &[&str]) -> JsValue {
    u.iter()
        .map(|s| JsValue::from_str(s))
        .collect::<Array>()
        .into()
}

async fn import_raw(
    raw: &[u8],
    alg: &Object,
    extractable: bool,
    uses: &[&str],
) -> Result<CryptoKey> {
    let data: Object = Uint8Array::from(raw).into();
    let p = subtle()?.import_key_with_object("raw", &data, alg, extractable, &usages(uses))?;
    Ok(JsFuture::from(p).await?.dyn_into::<CryptoKey>()?)
}

async fn bits(p: js_sys::Promise) -> Result<Vec<u8>> {
    Ok(Uint8Array::new(&JsFuture::from(p).await?).to_vec())
}

/// `PBKDF2-SHA256(pin, salt)`, 256 bits: slow on purpose.
pub async fn pin_bits(pin: &str, salt: &[u8]) -> Result<Vec<u8>> {
    let base = import_raw(
        pin.as_bytes(),
        &obj(&[("name", &"PBKDF2".into())])?,
        false,
        &["deriveBits"],
    )
    .await?;
    let alg = obj(&[
        ("name", &"PBKDF2".into()),
        ("hash", &"SHA-256".into()),
        ("salt", &Uint8Array::from(salt).into()),
        ("iterations", &JsValue::from(PBKDF2_ITERATIONS)),
    ])?;
    bits(subtle()?.derive_bits_with_object(&alg, &base, 256)?).await
}

/// `HKDF-SHA256(ikm, salt, info)`, 256 bits.
async fn hkdf(ikm: &[u8], salt: &[u8], info: &str) -> Result<Vec<u8>> {
    let base = import_raw(
        ikm,
        &obj(&[("name", &"HKDF".into())])?,
        false,
        &["deriveBits"],
    )
    .await?;
    let alg = obj(&[
        ("name", &"HKDF".into()),
        ("hash", &"SHA-256".into()),
        ("salt", &Uint8Array::from(salt).into()),
        ("info", &Uint8Array::from(info.as_bytes()).into()),
    ])?;
    bits(subtle()?.derive_bits_with_object(&alg, &base, 256)?).await
}

/// What the server checks for an online unlock.
pub async fn pin_proof(pin_bits: &[u8]) -> Result<Vec<u8>> {
    hkdf(pin_bits, &[], "mimamori-pin-proof").await
}

/// An AES-256-GCM key that cannot be read back out of the browser.
pub async fn aes_key(raw: &[u8]) -> Result<CryptoKey> {
    import_raw(
        raw,
        &obj(&[("name", &"AES-GCM".into())])?,
        false,
        &["encrypt", "decrypt"],
    )
    .await
}

/// The key that wraps the data key: from the PIN's bits and the server's secret.
pub async fn wrapping_key(pin_bits: &[u8], secret: &[u8]) -> Result<CryptoKey> {
    aes_key(&hkdf(pin_bits, secret, "mimamori-wrap").await?).await
}

fn gcm(iv: &[u8], aad: &[u8]) -> Result<Object> {
    obj(&[
        ("name", &"AES-GCM".into()),
        ("iv", &Uint8Array::from(iv).into()),
        ("additionalData", &Uint8Array::from(aad).into()),
    ])
}

/// Starts encrypting `plain` (bound to `aad`, e.g. the record's place): the result is
/// `iv ‖ ciphertext ‖ tag`. Many can run at once; await each with [`finish_seal`].
pub fn start_seal(key: &CryptoKey, aad: &[u8], plain: &[u8]) -> Result<(Vec<u8>, js_sys::Promise)> {
    let iv = random_bytes(IV_LEN)?;
    let p = subtle()?.encrypt_with_object_and_u8_array(&gcm(&iv, aad)?, key, plain)?;
    Ok((iv, p))
}

pub async fn finish_seal(started: (Vec<u8>, js_sys::Promise)) -> Result<Vec<u8>> {
    let (mut iv, p) = started;
    iv.extend(bits(p).await?);
    Ok(iv)
}

pub async fn seal(key: &CryptoKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    finish_seal(start_seal(key, aad, plain)?).await
}

/// Starts decrypting what [`seal`] made; fails (when awaited) on a wrong key, a wrong
/// `aad` or any change to the bytes.
pub fn start_open(key: &CryptoKey, aad: &[u8], sealed: &[u8]) -> Result<js_sys::Promise> {
    if sealed.len() < IV_LEN + 16 {
        return Err(CryptoError("sealed data too short".into()));
    }
    let (iv, ct) = sealed.split_at(IV_LEN);
    Ok(subtle()?.decrypt_with_object_and_u8_array(&gcm(iv, aad)?, key, ct)?)
}

pub async fn finish_open(p: Result<js_sys::Promise>) -> Result<Vec<u8>> {
    bits(p?).await
}

pub async fn open(key: &CryptoKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    finish_open(start_open(key, aad, sealed)).await
}

/// Hex, for the few binary values kept in the (plain) lock record.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
