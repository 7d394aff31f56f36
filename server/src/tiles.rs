//! Map base tiles for the 支え合いマップ, fetched by the server on the devices' behalf.
//!
//! Privacy: a phone asks only our server for `/tiles/{z}/{x}/{y}`; the tile provider sees
//! our server's address and a fixed User-Agent, never a device, a user, a cookie or a
//! referer, so it cannot tell who looks at which homes. Nothing from the client's request
//! except the three numbers is forwarded.
//!
//! Only for signed-in devices: `Authorization: Bearer` as on every API route (401
//! otherwise, before anything is fetched).
//!
//! Not an open proxy: the upstream is one URL template fixed at start-up
//! (`MIMAMORI_TILE_URL`), the zoom is bounded to [`MIN_ZOOM`]..=[`MAX_ZOOM`], `x` and `y`
//! must lie inside that zoom's grid, redirects are not followed, only image answers of at
//! most [`MAX_TILE_BYTES`] pass, and at most [`MAX_FETCHES`] upstream fetches run at once.
//!
//! Cache: tiles are kept in process memory (at most [`CACHE_TILES`] tiles and
//! [`CACHE_BYTES`] bytes, least recently used evicted first), so the many devices of a
//! district do not each hit the provider. Each server process has its own cache; a restart
//! empties it. Devices keep their own copy in the service worker (`mimamori-tiles`).

use crate::AppState;
use crate::error::{Error, Result};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// The default upstream: 地理院タイル, standard map (標準地図).
pub const DEFAULT_TILE_URL: &str = "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png";
pub const MIN_ZOOM: u32 = 2;
pub const MAX_ZOOM: u32 = 18;
/// Largest upstream tile accepted; anything bigger is a 502.
pub const MAX_TILE_BYTES: usize = 512 * 1024;
/// Bounds of the in-process cache (whichever is reached first).
pub const CACHE_TILES: usize = 2_000;
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Upstream fetches running at once (per process); more wait up to [`UPSTREAM_TIMEOUT`].
pub const MAX_FETCHES: usize = 8;
/// Connect plus whole answer.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);
/// What devices and proxies may keep a tile for (7 days).
const CACHE_CONTROL: &str = "public, max-age=604800";
const USER_AGENT: &str = "Mimamori tile proxy";

type Key = (u32, u32, u32);

#[derive(Clone)]
struct Tile {
    content_type: &'static str,
    body: Bytes,
}

/// Least-recently-used tiles, bounded by count and by total bytes.
#[derive(Default)]
struct Cache {
    tiles: HashMap<Key, Tile>,
    /// Oldest use first. At most [`CACHE_TILES`] entries, so moving a key is cheap enough.
    order: VecDeque<Key>,
    bytes: usize,
}

impl Cache {
    fn get(&mut self, k: &Key) -> Option<Tile> {
        let t = self.tiles.get(k)?.clone();
        if let Some(i) = self.order.iter().position(|o| o == k) {
            self.order.remove(i);
        }
        self.order.push_back(*k);
        Some(t)
    }

    fn put(&mut self, k: Key, t: Tile) {
        if t.body.len() > CACHE_BYTES {
            return;
        }
        if let Some(old) = self.tiles.remove(&k) {
            self.bytes -= old.body.len();
            if let Some(i) = self.order.iter().position(|o| *o == k) {
                self.order.remove(i);
            }
        }
        while self.tiles.len() >= CACHE_TILES || self.bytes + t.body.len() > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(t) = self.tiles.remove(&old) {
                self.bytes -= t.body.len();
            }
        }
        self.bytes += t.body.len();
        self.tiles.insert(k, t);
        self.order.push_back(k);
    }
}

/// The upstream template, its HTTP client and the cache.
pub struct TileProxy {
    template: String,
    client: reqwest::Client,
    cache: Mutex<Cache>,
    fetches: tokio::sync::Semaphore,
}

impl TileProxy {
    /// A proxy for `template`, an `http(s)://` URL containing `{z}`, `{x}` and `{y}`.
    pub fn new(template: impl Into<String>) -> anyhow::Result<TileProxy> {
        let template = template.into();
        let lower = template.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            anyhow::bail!("MIMAMORI_TILE_URL must start with https:// or http://");
        }
        for p in ["{z}", "{x}", "{y}"] {
            if !template.contains(p) {
                anyhow::bail!("MIMAMORI_TILE_URL must contain {p}");
            }
        }
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(UPSTREAM_TIMEOUT)
            .connect_timeout(UPSTREAM_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()?;
        Ok(TileProxy {
            template,
            client,
            cache: Mutex::new(Cache::default()),
            fetches: tokio::sync::Semaphore::new(MAX_FETCHES),
        })
    }

    /// From `MIMAMORI_TILE_URL`, or 地理院タイル when unset or empty.
    pub fn from_env() -> anyhow::Result<TileProxy> {
        match std::env::var("MIMAMORI_TILE_URL") {
            Ok(t) if !t.trim().is_empty() => TileProxy::new(t.trim()),
            _ => TileProxy::new(DEFAULT_TILE_URL),
        }
    }

    fn url(&self, (z, x, y): Key) -> String {
        self.template
            .replace("{z}", &z.to_string())
            .replace("{x}", &x.to_string())
            .replace("{y}", &y.to_string())
    }

    fn cached(&self, k: &Key) -> Option<Tile> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(k)
    }

    async fn tile(&self, k: Key) -> Result<Tile> {
        if let Some(t) = self.cached(&k) {
            return Ok(t);
        }
        let _permit = tokio::time::timeout(UPSTREAM_TIMEOUT, self.fetches.acquire())
            .await
            .map_err(|_| unavailable("too many tile requests at once"))?
            .map_err(|_| unavailable("the tile fetcher is closed"))?;
        // Another request may have fetched it while this one waited.
        if let Some(t) = self.cached(&k) {
            return Ok(t);
        }
        let t = self.fetch(k).await?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(k, t.clone());
        Ok(t)
    }

    /// One upstream request. Only the three numbers reach the provider.
    async fn fetch(&self, k: Key) -> Result<Tile> {
        let mut r = self
            .client
            .get(self.url(k))
            .header(header::ACCEPT, "image/png, image/jpeg, image/webp")
            .send()
            .await
            .map_err(|e| unavailable(format!("request: {e}")))?;
        let status = r.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(Error::NotFound("no map tile here".into()));
        }
        if status != reqwest::StatusCode::OK {
            return Err(unavailable(format!("status {status}")));
        }
        let content_type = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(image_type)
            .ok_or_else(|| unavailable("not an image content type"))?;
        if r.content_length()
            .is_some_and(|n| n > MAX_TILE_BYTES as u64)
        {
            return Err(unavailable("tile over the size limit"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = r
            .chunk()
            .await
            .map_err(|e| unavailable(format!("body: {e}")))?
        {
            if body.len() + chunk.len() > MAX_TILE_BYTES {
                return Err(unavailable("tile over the size limit"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Tile {
            content_type,
            body: Bytes::from(body),
        })
    }
}

/// A 502 that tells the device only that the tile server failed; the detail is logged.
fn unavailable(detail: impl std::fmt::Display) -> Error {
    tracing::warn!("map tile upstream: {detail}");
    Error::BadGateway("the map tile server could not be reached; try again later".into())
}

/// The allowed image type of a Content-Type header, without parameters.
fn image_type(v: &str) -> Option<&'static str> {
    let essence = v.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "image/png" => Some("image/png"),
        "image/jpeg" => Some("image/jpeg"),
        "image/webp" => Some("image/webp"),
        _ => None,
    }
}

/// A decimal number without sign, of at most 6 digits (2^18 = 262144).
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `z`, `x` and `y` (optionally `y.png`, `.jpg`, `.jpeg`, `.webp`) checked against the grid.
pub fn parse(z: &str, x: &str, y: &str) -> Result<(u32, u32, u32)> {
    let y = match y.split_once('.') {
        Some((n, "png" | "jpg" | "jpeg" | "webp")) => n,
        Some(_) => return Err(Error::bad("a tile is z/x/y or z/x/y.png")),
        None => y,
    };
    let (Some(z), Some(x), Some(y)) = (number(z), number(x), number(y)) else {
        return Err(Error::bad("a tile is z/x/y with whole numbers"));
    };
    if !(MIN_ZOOM..=MAX_ZOOM).contains(&z) {
        return Err(Error::bad(format!(
            "the zoom must be from {MIN_ZOOM} to {MAX_ZOOM}"
        )));
    }
    let n = 1u32 << z;
    if x >= n || y >= n {
        return Err(Error::bad(format!(
            "at zoom {z}, x and y must be below {n}"
        )));
    }
    Ok((z, x, y))
}

/// `GET /tiles/{z}/{x}/{y}` (routed as `/tiles/{*path}`): the tile image, or a JSON
/// error. No sign-in needed. Any other path under `/tiles/` is a 404.
pub async fn handler(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    path: std::result::Result<Path<String>, PathRejection>,
) -> Result<Response> {
    // Only for signed-in devices: the server's fetches on the devices' behalf are not a
    // service for anyone who asks.
    crate::auth::caller(&st.db, &headers, None).await?;
    let Path(path) = path.map_err(|_| Error::bad("a tile is z/x/y"))?;
    let mut parts = path.split('/');
    let (Some(z), Some(x), Some(y), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(not_found().await);
    };
    let k = parse(z, x, y)?;
    let t = st.tiles.tile(k).await?;
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(t.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            ),
        ],
        t.body,
    )
        .into_response())
}

/// `/tiles` itself, or a path under it that is not z/x/y.
pub async fn not_found() -> Error {
    Error::NotFound("a tile is /tiles/z/x/y".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds() {
        assert_eq!(parse("2", "3", "3").unwrap(), (2, 3, 3));
        assert_eq!(parse("18", "0", "262143.png").unwrap(), (18, 0, 262143));
        assert_eq!(parse("5", "1", "2.webp").unwrap(), (5, 1, 2));
        for (z, x, y) in [
            ("1", "0", "0"),
            ("19", "0", "0"),
            ("25", "0", "0"),
            ("2", "4", "0"),
            ("2", "0", "4"),
            ("2", "+1", "0"),
            ("2", "-1", "0"),
            ("2", "1", "1.gif"),
            ("2", "1", "1.png.png"),
            ("", "1", "1"),
            ("99999999999", "1", "1"),
        ] {
            assert!(parse(z, x, y).is_err(), "{z}/{x}/{y}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(image_type("image/png"), Some("image/png"));
        assert_eq!(image_type("Image/JPEG; charset=x"), Some("image/jpeg"));
        assert_eq!(image_type("text/html"), None);
        assert_eq!(image_type("image/svg+xml"), None);
    }

    fn tile(n: usize) -> Tile {
        Tile {
            content_type: "image/png",
            body: Bytes::from(vec![0u8; n]),
        }
    }

    #[test]
    fn cache_is_bounded_and_evicts_least_recently_used() {
        let mut c = Cache::default();
        for i in 0..(CACHE_TILES as u32 + 10) {
            c.put((2, 0, i), tile(1));
        }
        assert_eq!(c.tiles.len(), CACHE_TILES);
        assert!(c.get(&(2, 0, 0)).is_none());
        assert!(c.get(&(2, 0, 10)).is_some());
        // (2,0,10) was just used, so the next eviction takes (2,0,11).
        c.put((3, 0, 0), tile(1));
        assert!(c.tiles.contains_key(&(2, 0, 10)));
        assert!(!c.tiles.contains_key(&(2, 0, 11)));

        let mut c = Cache::default();
        let big = CACHE_BYTES / 4 + 1;
        for i in 0..4 {
            c.put((2, 0, i), tile(big));
        }
        assert_eq!(c.tiles.len(), 3);
        assert!(c.bytes <= CACHE_BYTES);
        c.put((2, 0, 3), tile(10));
        assert_eq!(c.bytes, 2 * big + 10);
        assert_eq!(c.tiles.len(), 3);
    }
}
