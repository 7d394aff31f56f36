//! Mimamori's sync server: sign-in, the directory, `POST /api/sync`, and the built PWA.
//! Stateless apart from the database, so several processes can share one PostgreSQL.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod db;
pub mod demo;
pub mod desk;
pub mod devices;
pub mod directory;
pub mod disaster;
pub mod error;
pub mod export;
pub mod keys;
pub mod net;
pub mod people;
pub mod projection;
pub mod reports;
pub mod scope;
pub mod store;
pub mod sync;
pub mod tiles;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use error::{Error, Result, from_json_rejection};
use shared::api::{DeviceKeys, LoginRequest, LoginResponse, PasswordChange, PasswordChanged};
use shared::sync::Bytes;
use sqlx::Row;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct AppState {
    pub db: db::Db,
    /// The database's epoch (see `db::epoch`), part of every cursor.
    pub epoch: String,
    /// Wakes the projection worker after a sync wrote.
    pub projector: Arc<Notify>,
    /// Map base tiles fetched on the devices' behalf (`MIMAMORI_TILE_URL`).
    pub tiles: Arc<tiles::TileProxy>,
    /// Behind a reverse proxy (`MIMAMORI_TRUST_PROXY=1`): the client address is the first
    /// of `X-Forwarded-For`, not the connection's.
    pub trust_proxy: bool,
    /// Origins besides the server's own that may call the API from a browser
    /// (`MIMAMORI_ALLOWED_ORIGINS`, comma-separated).
    pub allowed_origins: Arc<Vec<String>>,
}

impl AppState {
    pub async fn new(db: db::Db) -> anyhow::Result<AppState> {
        Ok(AppState {
            epoch: db::epoch(&db).await?,
            db,
            projector: Arc::new(Notify::new()),
            tiles: Arc::new(tiles::TileProxy::from_env()?),
            trust_proxy: std::env::var("MIMAMORI_TRUST_PROXY").is_ok_and(|v| v == "1"),
            allowed_origins: Arc::new(
                std::env::var("MIMAMORI_ALLOWED_ORIGINS")
                    .unwrap_or_default()
                    .split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect(),
            ),
        })
    }
}

/// Largest login body.
const MAX_SMALL_BODY: usize = 16 * 1024;

async fn healthz(State(st): State<AppState>) -> Result<Json<serde_json::Value>> {
    sqlx::query("SELECT 1").execute(&st.db).await?;
    Ok(Json(serde_json::json!({"ok": true})))
}

/// The caller's address, for sign-in throttling: the connection's, or behind a trusted
/// proxy the first `X-Forwarded-For` entry. `unknown` when neither is there.
pub(crate) fn client_ip(st: &AppState, headers: &HeaderMap, conn: Option<SocketAddr>) -> String {
    if st.trust_proxy
        && let Some(first) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 64)
    {
        return first.to_string();
    }
    conn.map_or_else(|| "unknown".to_string(), |a| a.ip().to_string())
}

async fn login(
    State(st): State<AppState>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: std::result::Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<LoginResponse>> {
    let ip = client_ip(&st, &headers, conn.map(|Extension(ConnectInfo(a))| a));
    let Json(req) = body.map_err(from_json_rejection)?;
    if req.login.len() > 200 || req.password.len() > 1024 {
        return Err(Error::bad("the login id or password is too long"));
    }
    // In a task of its own: a client that hangs up mid-check cannot leave its attempt
    // reserved and unaccounted (auth.rs).
    let db = st.db.clone();
    let signed_in = tokio::spawn(async move {
        auth::login(
            &db,
            &req.login,
            &req.password,
            &req.device_name,
            &req.app,
            &ip,
        )
        .await
    })
    .await
    .map_err(|e| anyhow::anyhow!("sign-in task: {e}"))??;
    let caller = signed_in.caller;
    let org = sqlx::query("SELECT name, lock_after_days FROM organisations WHERE id = $1")
        .bind(caller.org_id.clone())
        .fetch_one(&st.db)
        .await?;
    Ok(Json(LoginResponse {
        token: signed_in.token,
        device_id: caller.device_id.clone(),
        keys: DeviceKeys {
            wrap_secret: Bytes(signed_in.wrap_secret.to_vec()),
            lock_after_days: keys::lock_days(org.get(1)),
        },
        user: caller.info(org.get(0)),
    }))
}

/// Changes the caller's password; every other device of the user is signed out.
async fn change_password(
    State(st): State<AppState>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: std::result::Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Json<PasswordChanged>> {
    let Json(req) = body.map_err(from_json_rejection)?;
    let c = auth::caller(&st.db, &headers, None).await?;
    let ip = client_ip(&st, &headers, conn.map(|Extension(ConnectInfo(a))| a));
    let db = st.db.clone();
    let ended_sessions =
        tokio::spawn(
            async move { auth::change_password(&db, &c, &req.current, &req.new, &ip).await },
        )
        .await
        .map_err(|e| anyhow::anyhow!("password task: {e}"))??;
    Ok(Json(PasswordChanged { ended_sessions }))
}

/// Signs this device out (its token stops working).
async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    admin::revoke_device(&st.db, &c.device_id, auth::RevokedReason::Logout, "self").await?;
    Ok(Json(serde_json::json!({"ok": true})))
}

/// A browser calling a writing route from another site is refused (403, audited). The API
/// takes bearer tokens, never cookies, so this is a second line behind that: a page
/// elsewhere cannot make a user's browser act with their device token. Requests without
/// `Origin` (other programs, tests) pass.
async fn origin_check(
    State(st): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let h = req.headers();
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return next.run(req).await;
    };
    let origin = origin.trim_end_matches('/');
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let own = !host.is_empty()
        && (origin == format!("http://{host}") || origin == format!("https://{host}"));
    if own || st.allowed_origins.iter().any(|o| o == origin) {
        return next.run(req).await;
    }
    // Bounded: a 60 KB path is kept as its first 200 characters and its length.
    let path = req.uri().path();
    let detail = format!(
        "{} {} ({} chars)",
        db::bounded_text(origin, 100),
        auth::truncate(path, 200),
        path.chars().count()
    );
    let conn = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a);
    let ip = client_ip(&st, h, conn);
    if let Err(e) = db::audit_refusal(&st.db, None, None, "foreign_origin", &ip, &detail).await {
        return Error::from(e).into_response();
    }
    Error::Forbidden {
        message: "requests from another site are not accepted".into(),
        docs: vec![],
    }
    .into_response()
}

async fn api_not_found() -> Error {
    Error::NotFound("no such API route".into())
}

/// The routes; static files of the built PWA are served from `dist` when given.
pub fn router(st: AppState, dist: Option<PathBuf>) -> Router {
    // Map tiles: outside /api/ and its no-store header; same origin, so the pages' CSP
    // (img-src 'self') allows them. Errors are JSON and never cached.
    let tiles = Router::new()
        .route("/tiles/{*path}", get(tiles::handler))
        .route("/tiles", axum::routing::any(tiles::not_found))
        .route("/tiles/", axum::routing::any(tiles::not_found))
        .layer(DefaultBodyLimit::max(MAX_SMALL_BODY))
        .with_state(st.clone())
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ),
        )
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    let api = Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/api/login",
            post(login).layer(DefaultBodyLimit::max(MAX_SMALL_BODY)),
        )
        .route(
            "/api/logout",
            post(logout).layer(DefaultBodyLimit::max(MAX_SMALL_BODY)),
        )
        .route(
            "/api/password",
            post(change_password).layer(DefaultBodyLimit::max(MAX_SMALL_BODY)),
        )
        .route(
            "/api/pin",
            post(keys::set_pin).layer(DefaultBodyLimit::max(MAX_SMALL_BODY)),
        )
        .route(
            "/api/unlock",
            post(keys::unlock).layer(DefaultBodyLimit::max(MAX_SMALL_BODY)),
        )
        .route("/api/devices", get(devices::mine))
        .route("/api/devices/{id}/revoke", post(devices::revoke))
        .route("/api/users/{id}/devices", get(devices::of_user))
        .route("/api/directory", get(directory::handler))
        .route(
            "/api/disaster",
            get(disaster::list)
                .post(disaster::start)
                .layer(DefaultBodyLimit::max(MAX_SMALL_BODY)),
        )
        .route(
            "/api/disaster/{id}/end",
            post(disaster::end).layer(DefaultBodyLimit::max(MAX_SMALL_BODY)),
        )
        .route("/api/roster", get(disaster::roster))
        .route("/api/audit", get(audit::page))
        .route(
            "/api/reads",
            post(audit::reads).layer(DefaultBodyLimit::max(audit::MAX_READS_BODY)),
        )
        // The coordinator's desk (desk.rs, reports.rs, export.rs, people.rs).
        .route("/api/desk/overdue", get(desk::overdue))
        .route("/api/desk/followups", get(desk::followups))
        .route("/api/desk/problems", get(desk::problems))
        .route("/api/schema", get(schema))
        .route("/api/desk/users", get(desk::users))
        .route("/api/desk/assign", post(people::assign))
        .route("/api/desk/unassign", post(people::unassign))
        .route("/api/desk/people/move", post(people::move_person))
        .route("/api/desk/grants/move", post(people::move_grant))
        .route(
            "/api/desk/import",
            post(people::import).layer(DefaultBodyLimit::max(people::MAX_IMPORT_BODY)),
        )
        .route("/api/reports/{name}", get(reports::handler))
        .route("/api/export/{name}", get(export::handler))
        // The device is checked from the headers before the body is read: an anonymous
        // 4 MiB body is refused (401) without reading a byte of it.
        .route(
            "/api/sync",
            post(sync::handler)
                .route_layer(axum::middleware::from_fn_with_state(
                    st.clone(),
                    auth::require_device,
                ))
                .layer(DefaultBodyLimit::max(shared::sync::MAX_REQUEST_BYTES)),
        )
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            origin_check,
        ))
        .layer(DefaultBodyLimit::max(MAX_SMALL_BODY))
        .with_state(st);
    // API answers are data, never pages: not cached, not sniffed, not framed, no referrer.
    use tower_http::set_header::SetResponseHeaderLayer as SetHeader;
    let api = api
        .layer(SetHeader::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetHeader::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetHeader::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetHeader::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ));
    let api = api.merge(tiles);
    let app = match dist {
        Some(dir) => {
            let index = dir.join("index.html");
            let files = tower_http::services::ServeDir::new(&dir)
                .precompressed_br()
                .precompressed_gzip()
                .fallback(
                    tower_http::services::ServeFile::new(index)
                        .precompressed_br()
                        .precompressed_gzip(),
                );
            api.fallback_service(
                Router::new()
                    .fallback_service(files)
                    .layer(axum::middleware::from_fn(static_headers)),
            )
        }
        None => api,
    };
    app.layer(axum::middleware::from_fn(error::json_errors))
}

/// Hashed files (under /assets/) never change; everything else (index.html, sw.js, the
/// manifest) must be re-checked so a new version is picked up.
async fn static_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let immutable = req.uri().path().starts_with("/assets/");
    let mut req = req;
    if !immutable {
        // File times have one-second resolution: a new sw.js or index.html written in the
        // same second as the one a browser holds would be answered "304 not modified" and the
        // update missed. These files are small; always send them whole.
        req.headers_mut().remove(header::IF_MODIFIED_SINCE);
    }
    let mut r = next.run(req).await;
    if !immutable {
        r.headers_mut().remove(header::LAST_MODIFIED);
    }
    let v = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(v));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

/// Runs the server until Ctrl-C or SIGTERM, within the connection limits of
/// [`net::Limits::from_env`].
pub async fn serve(url: &str, addr: &str, dist: Option<PathBuf>) -> anyhow::Result<()> {
    let limits = net::Limits::from_env();
    let db = db::open(url, 16).await?;
    let st = AppState::new(db).await?;
    tokio::spawn(projection::run(st.db.clone(), st.projector.clone()));
    tokio::spawn(housekeeping(st.db.clone()));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(
        "Mimamori listening on http://{} (database {})",
        listener.local_addr()?,
        db::redact(url)
    );
    tracing::info!(
        "connections: at most {}, request head within {:?} (also the idle keep-alive), body within {:?} plus 1 s per {} KiB",
        limits.max_connections,
        limits.header_timeout,
        limits.body_timeout,
        net::MIN_BODY_RATE / 1024
    );
    println!("Mimamori: http://{}", listener.local_addr()?);
    net::serve(listener, router(st, dist), limits, shutdown()).await?;
    Ok(())
}

/// Once a minute: refusals beyond the audit quota become summary rows, and old throttle
/// rows go (several processes may do it at once; each row is claimed once).
async fn housekeeping(db: db::Db) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        if let Err(e) = db::summarise_refusals(&db).await {
            tracing::warn!("summarising refusals: {e}");
        }
        if let Err(e) = auth::prune_throttle(&db).await {
            tracing::warn!("pruning the sign-in throttle: {e:?}");
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// `GET /api/schema`: the record schemas an outside client follows (shared::check::schema;
/// docs/schema/records.schema.json). Public: it describes the format, not any record.
async fn schema() -> axum::Json<serde_json::Value> {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(shared::check::schema);
    axum::Json(SCHEMA.clone())
}
