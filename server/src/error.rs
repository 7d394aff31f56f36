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
    NotFound(String),
    Conflict(String),
    /// An upstream the server depends on (the map tile provider) failed; the message must
    /// not carry its details.
    BadGateway(String),
    /// Too many failed sign-ins for this login id (from this address): wait.
    Throttled(String),
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
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad_gateway"),
            Error::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
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
        let (message, docs) = match self {
            Error::Unauthorized(m)
            | Error::Revoked(m)
            | Error::SignedOut(m)
            | Error::BadRequest(m)
            | Error::TooLarge(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::BadGateway(m)
            | Error::Throttled(m) => (m, vec![]),
            Error::Forbidden { message, docs } | Error::ReadOnly { message, docs } => {
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
        (
            status,
            Json(ApiError {
                error: code.to_string(),
                message,
                docs,
                attempts_left,
                rows,
            }),
        )
            .into_response()
    }
}

/// Turns axum's own rejections (bad JSON, body over the limit, wrong content type) into
/// the JSON error shape.
pub fn from_json_rejection(r: axum::extract::rejection::JsonRejection) -> Error {
    use axum::extract::rejection::JsonRejection as J;
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
