//! The map tile proxy against a tiny upstream on 127.0.0.1: byte-identical tiles, the
//! cache, bounds, upstream failures, and that nothing of the client's request leaks.

mod common;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxStatus, header};
use axum::response::IntoResponse;
use reqwest::StatusCode;
use server::tiles::TileProxy;
use server::{AppState, db};
use shared::sync::ApiError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A valid 1×1 grey PNG, built by hand (stored deflate block, CRC-32, Adler-32).
fn png() -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let raw = [0u8, 0x80]; // filter "none", one grey pixel
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    let mut idat = vec![0x78, 0x01, 0x01, 0x02, 0x00, 0xfd, 0xff];
    idat.extend_from_slice(&raw);
    idat.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&1u32.to_be_bytes());
    ihdr.extend_from_slice(&1u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[derive(Clone, Default)]
struct Upstream {
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

/// z=3: 404; z=4: an HTML answer; z=5: 600 KiB; anything else: the PNG.
async fn upstream_tile(
    State(u): State<Upstream>,
    Path((z, _x, _y)): Path<(u32, u32, String)>,
    headers: HeaderMap,
) -> axum::response::Response {
    u.hits.fetch_add(1, Ordering::SeqCst);
    u.seen.lock().unwrap().push(headers);
    match z {
        3 => AxStatus::NOT_FOUND.into_response(),
        4 => ([(header::CONTENT_TYPE, "text/html")], "<script>x</script>").into_response(),
        5 => ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 600 * 1024]).into_response(),
        _ => ([(header::CONTENT_TYPE, "image/png")], png()).into_response(),
    }
}

async fn start_upstream() -> (String, Upstream) {
    let u = Upstream::default();
    let app = axum::Router::new()
        .route("/t/{z}/{x}/{y}", axum::routing::get(upstream_tile))
        .with_state(u.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let template = format!(
        "http://{}/t/{{z}}/{{x}}/{{y}}.png",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (template, u)
}

/// Our server with the PWA fallback in place (so the tile route must win over it); its
/// base URL and a signed-in device's token (tiles are for signed-in devices).
async fn start_server(template: &str, tmp: &common::TempDb) -> (String, String) {
    let pool = db::open(&tmp.url, 4).await.expect("open database");
    let o = common::org(&pool).await;
    let token = server::auth::register_device(&pool, &o.users["vol"], "test", "test")
        .await
        .unwrap()
        .token;
    let mut st = AppState::new(pool).await.unwrap();
    st.tiles = Arc::new(TileProxy::new(template).unwrap());
    let dist = tmp.dir.as_ref().expect("a SQLite temp dir").join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html>app").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::net::serve(
        listener,
        server::router(st, Some(dist)),
        server::net::Limits::from_env(),
        std::future::pending(),
    ));
    (base, token)
}

/// A client that sends `token` on every request.
fn client(token: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .no_proxy()
        .default_headers(h)
        .build()
        .unwrap()
}

async fn error(r: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let e: ApiError = r.json().await.expect("error answers are JSON");
    assert_eq!(e.error, code);
    assert!(!e.message.contains("127.0.0.1"), "{}", e.message);
}

#[tokio::test]
async fn tiles_are_proxied_cached_and_bounded() {
    let (template, up) = start_upstream().await;
    let tmp = common::temp_db("sqlite").await;
    let (base, token) = start_server(&template, &tmp).await;
    let http = client(&token);

    // Not signed in, or with a token that is not a device's: 401, nothing fetched.
    for auth in [None, Some("Bearer mm1_not_a_token")] {
        let mut req = reqwest::Client::new().get(format!("{base}/tiles/10/909/403.png"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        error(
            req.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    assert_eq!(up.hits.load(Ordering::SeqCst), 0);

    // A tile, with every identifying header a browser might send.
    let r = http
        .get(format!("{base}/tiles/10/909/403.png"))
        .header("authorization", format!("Bearer {token}"))
        .header("cookie", "session=abc")
        .header("referer", "https://mimamori.example/map/person-123")
        .header("user-agent", "PhoneBrowser/1.0")
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["cache-control"], "public, max-age=604800");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), png().as_slice());
    assert_eq!(up.hits.load(Ordering::SeqCst), 1);
    {
        let seen = up.seen.lock().unwrap();
        let h = &seen[0];
        for name in [
            "authorization",
            "cookie",
            "referer",
            "x-forwarded-for",
            "forwarded",
        ] {
            assert!(h.get(name).is_none(), "upstream saw {name}");
        }
        assert_eq!(h["user-agent"], "Mimamori tile proxy");
    }

    // The same tile again (with and without the extension) comes from the cache.
    for path in ["10/909/403.png", "10/909/403"] {
        let r = http
            .get(format!("{base}/tiles/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), png().as_slice());
    }
    assert_eq!(up.hits.load(Ordering::SeqCst), 1, "served from the cache");

    // Out of bounds or malformed: 400 JSON, upstream untouched.
    for path in [
        "25/0/0.png",
        "1/0/0",
        "19/0/0",
        "2/4/0.png",
        "2/0/4",
        "10/-1/0",
        "10/1/abc",
        "10/1/1.gif",
        "10/1/1.png.png",
    ] {
        let r = http
            .get(format!("{base}/tiles/{path}"))
            .send()
            .await
            .unwrap();
        error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // Not a tile path at all: 404 JSON (not the app shell).
    for path in [
        "/tiles",
        "/tiles/",
        "/tiles/10/1",
        "/tiles/10/1/1/1",
        "/tiles/10/1/1/",
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_eq!(up.hits.load(Ordering::SeqCst), 1);

    // Upstream 404 → 404 JSON; non-image → 502; oversized → 502. None is cached.
    let r = http
        .get(format!("{base}/tiles/3/1/1.png"))
        .send()
        .await
        .unwrap();
    error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = http
        .get(format!("{base}/tiles/4/1/1.png"))
        .send()
        .await
        .unwrap();
    error(r, StatusCode::BAD_GATEWAY, "bad_gateway").await;
    let r = http
        .get(format!("{base}/tiles/5/1/1.png"))
        .send()
        .await
        .unwrap();
    error(r, StatusCode::BAD_GATEWAY, "bad_gateway").await;
    let r = http
        .get(format!("{base}/tiles/3/1/1.png"))
        .send()
        .await
        .unwrap();
    error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(up.hits.load(Ordering::SeqCst), 5);

    // Only GET (and HEAD).
    let r = http
        .post(format!("{base}/tiles/10/909/403.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn upstream_down_is_a_502() {
    // A loopback port that nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmp = common::temp_db("sqlite").await;
    let (base, token) = start_server(
        &format!("http://127.0.0.1:{port}/{{z}}/{{x}}/{{y}}.png"),
        &tmp,
    )
    .await;
    let r = client(&token)
        .get(format!("{base}/tiles/10/909/403.png"))
        .send()
        .await
        .unwrap();
    error(r, StatusCode::BAD_GATEWAY, "bad_gateway").await;
}

#[tokio::test]
async fn templates_are_checked() {
    assert!(TileProxy::new("ftp://x/{z}/{x}/{y}").is_err());
    assert!(TileProxy::new("http://127.0.0.1/{z}/{x}.png").is_err());
    assert!(TileProxy::new("http://127.0.0.1/{z}/{x}/{y}.png").is_ok());
}
