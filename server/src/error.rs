//! Every error answer is JSON: `{"error": code, "message": text}` (shared::sync::ApiError).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::sync::ApiError;

#[derive(Debug)]
pub enum Error {
    Unauthorized(String),
    /// 401 `revoked`: the device was signed out by its user or the office, or by too many
    /// wrong PINs (or its user is disabled); the device must wipe its local data.
    Revoked(String),
    /// 401 `signed_out`: the device logged itself out, or the password was changed on
    /// another device; sign in again, local data is kept.
    SignedOut(String),
    Forbidden {
        message: String,
        docs: Vec<String>,
    },
    /// 403 `read_only`: a push to documents the user may only view.
    ReadOnly {
        message: String,
        docs: Vec<String>,
    },
    /// 403 `wrong_pin`: an unlock with a wrong PIN proof.
    WrongPin {
        attempts_left: u32,
    },
    BadRequest(String),
    /// 400 `bad_rows`: a roster import with broken rows; nothing was imported.
    BadRows {
        message: String,
        rows: Vec<shared::desk::ImportRowError>,
    },
    TooLarge(String),
    /// 422 `invalid_record`: a sync whose changes leave records that cannot be read or
    /// break a rule (shared::check); nothing stored.
    InvalidRecord {
        message: String,
        docs: Vec<String>,
        records: Vec<shared::sync::RecordError>,
    },
    NotFound(String),
    Conflict(String),
    /// 409 `missing_deps`: pushed changes whose predecessors the server does not hold;
    /// nothing was stored. The device reconciles these documents with the fallback, which
    /// carries the predecessors (sync-protocol.md, *Errors*).
    MissingDeps {
        message: String,
        missing: Vec<shared::sync::MissingDeps>,
    },
    /// An upstream the server depends on (the map tile provider) failed; the message must
    /// not carry its details.
    BadGateway(String),
    /// 429 `throttled`: too many failed sign-ins for this login id from this address (or
    /// from this address, or for this login id from anywhere): wait `retry_after` seconds
    /// (sent as `Retry-After`).
    Throttled {
        message: String,
        retry_after: u64,
    },
    /// 429 `busy`: this process is checking as many passwords as it may at once and its
    /// queue is full; try again after `retry_after` seconds (`Retry-After`).
    Busy {
        retry_after: u64,
    },
    /// 408 `timeout`: the request body did not arrive in time (net.rs).
    Timeout(String),
    Server(anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::Revoked(_) => (StatusCode::UNAUTHORIZED, "revoked"),
            Error::SignedOut(_) => (StatusCode::UNAUTHORIZED, "signed_out"),
            Error::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Error::ReadOnly { .. } => (StatusCode::FORBIDDEN, "read_only"),
            Error::WrongPin { .. } => (StatusCode::FORBIDDEN, "wrong_pin"),
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::BadRows { .. } => (StatusCode::BAD_REQUEST, "bad_rows"),
            Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Error::InvalidRecord { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_record"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::MissingDeps { .. } => (StatusCode::CONFLICT, "missing_deps"),
            Error::BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad_gateway"),
            Error::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            Error::Busy { .. } => (StatusCode::TOO_MANY_REQUESTS, "busy"),
            Error::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            Error::Server(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server"),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Server(e.into())
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Server(e)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let mut attempts_left = None;
        let mut rows = Vec::new();
        let mut retry_after = None;
        let mut records = Vec::new();
        let mut missing = Vec::new();
        let (message, docs) = match self {
            Error::Unauthorized(m)
            | Error::Revoked(m)
            | Error::SignedOut(m)
            | Error::BadRequest(m)
            | Error::TooLarge(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::BadGateway(m)
            | Error::Timeout(m) => (m, vec![]),
            Error::Throttled {
                message,
                retry_after: r,
            } => {
                retry_after = Some(r.max(1));
                (message, vec![])
            }
            Error::Busy { retry_after: r } => {
                retry_after = Some(r.max(1));
                (
                    "the server is checking many passwords at once; try again in a moment"
                        .to_string(),
                    vec![],
                )
            }
            Error::Forbidden { message, docs } | Error::ReadOnly { message, docs } => {
                (message, docs)
            }
            Error::InvalidRecord {
                message,
                docs,
                records: r,
            } => {
                records = r;
                (message, docs)
            }
            Error::MissingDeps {
                message,
                missing: m,
            } => {
                let docs = m.iter().map(|d| d.doc.clone()).collect();
                missing = m;
                (message, docs)
            }
            Error::BadRows { message, rows: r } => {
                rows = r;
                (message, vec![])
            }
            Error::WrongPin { attempts_left: n } => {
                attempts_left = Some(n);
                (format!("the PIN is wrong; {n} attempts left"), vec![])
            }
            Error::Server(e) => {
                tracing::error!("server error: {e:#}");
                (
                    "the server could not complete the request; nothing was lost, try again"
                        .to_string(),
                    vec![],
                )
            }
        };
        let mut r = (
            status,
            Json(ApiError {
                error: code.to_string(),
                message,
                docs,
                attempts_left,
                rows,
                records,
                missing,
            }),
        )
            .into_response();
        if let Some(secs) = retry_after {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        r
    }
}

/// The error code of a status, for answers that did not come from [`Error`].
fn code_of(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 | 415 | 422 => ("bad_request", "the request is not one this route takes"),
        401 => ("unauthorized", "sign in first"),
        403 => ("forbidden", "not allowed"),
        404 => ("not_found", "no such route"),
        405 => (
            "method_not_allowed",
            "this route does not take this method (the Allow header lists those it takes)",
        ),
        408 => ("timeout", "the request did not arrive in time"),
        413 => ("too_large", "the body is over this route's limit"),
        429 => ("throttled", "too many requests; wait a while"),
        s if s >= 500 => (
            "server",
            "the server could not complete the request; nothing was lost, try again",
        ),
        _ => ("bad_request", "the request was refused"),
    }
}

/// Every error answer in the JSON shape: a 4xx or 5xx that is not JSON already (axum's
/// 405 for a wrong method, its rejections, a static-file error) gets the JSON body of its
/// status, keeping its headers (`Allow`, `Retry-After`) and any plain-text reason.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::{HeaderValue, header};
    let r = next.run(req).await;
    let status = r.status();
    if !(status.is_client_error() || status.is_server_error())
        || r.headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    {
        return r;
    }
    let (mut parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty() && !t.starts_with('<'));
    let (code, default) = code_of(status);
    let body = serde_json::to_vec(&ApiError {
        error: code.to_string(),
        message: text.map_or_else(|| default.to_string(), |t| crate::auth::truncate(&t, 300)),
        ..Default::default()
    })
    .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Turns axum's own rejections (bad JSON, body over the limit, wrong content type) into
/// the JSON error shape.
pub fn from_json_rejection(r: axum::extract::rejection::JsonRejection) -> Error {
    use axum::extract::rejection::JsonRejection as J;
    if crate::net::is_body_timeout(&r) {
        return Error::Timeout(
            "the request body did not arrive in time; the connection is closed".into(),
        );
    }
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Error::TooLarge(
            "the body is over this route's limit (docs/api.md; sync takes 4 MiB)".into(),
        );
    }
    match r {
        J::JsonDataError(e) => Error::bad(format!(
            "the JSON does not have the expected fields: {}",
            e.body_text()
        )),
        J::JsonSyntaxError(e) => {
            Error::bad(format!("the body is not valid JSON: {}", e.body_text()))
        }
        J::MissingJsonContentType(_) => Error::bad("expected Content-Type: application/json"),
        other => Error::bad(other.body_text()),
    }
}
