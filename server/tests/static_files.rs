//! The built PWA as the server hands it out: hashed files cached for ever, the rest always
//! re-checked and sent whole, so a browser never misses a new version.

mod common;

use reqwest::StatusCode;
use server::{AppState, db};

#[tokio::test]
async fn new_versions_are_never_answered_not_modified() {
    let tmp = common::temp_db("sqlite").await;
    let st = AppState::new(db::open(&tmp.url, 4).await.unwrap())
        .await
        .unwrap();
    let dist = tmp.dir.as_ref().expect("a SQLite temp dir").join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html>app").unwrap();
    std::fs::write(dist.join("sw.js"), "const VERSION = 'one';").unwrap();
    std::fs::write(dist.join("assets/app-0123abcd.js"), "x").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = server::router(st, Some(dist.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let r = http.get(format!("{base}/sw.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.headers().get("last-modified").is_none());
    assert_eq!(r.text().await.unwrap(), "const VERSION = 'one';");

    // A new sw.js written in the same second as the one the browser holds: a browser asking
    // "changed since then?" still gets the new file, not 304.
    std::fs::write(dist.join("sw.js"), "const VERSION = 'two';").unwrap();
    let r = http
        .get(format!("{base}/sw.js"))
        .header("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "const VERSION = 'two';");

    // The app shell at any path, also sent whole.
    let r = http
        .get(format!("{base}/person/123"))
        .header("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "<!doctype html>app");

    // Hashed files never change: cached for a year.
    let r = http
        .get(format!("{base}/assets/app-0123abcd.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
}
