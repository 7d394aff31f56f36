//! HTTP to the server: JSON in, JSON out, errors as `shared::sync::ApiError`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::sync::ApiError;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

#[derive(Debug, Clone)]
pub enum NetError {
    /// No answer: offline, server down, connection dropped.
    Offline,
    /// The server answered with an error.
    Api(u16, ApiError),
    /// The answer arrived but could not be stored on the device.
    Storage(String),
}

async fn call(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Result<(u16, String), NetError> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(b) = &body {
        init.set_body(&wasm_bindgen::JsValue::from_str(b));
    }
    let req = Request::new_with_str_and_init(path, &init).map_err(|_| NetError::Offline)?;
    let h = req.headers();
    let _ = h.set("Content-Type", "application/json");
    if let Some(t) = token {
        let _ = h.set("Authorization", &format!("Bearer {t}"));
    }
    let window = web_sys::window().ok_or(NetError::Offline)?;
    let resp = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|_| NetError::Offline)?;
    let resp: Response = resp.dyn_into().map_err(|_| NetError::Offline)?;
    let text = JsFuture::from(resp.text().map_err(|_| NetError::Offline)?)
        .await
        .map_err(|_| NetError::Offline)?;
    Ok((resp.status(), text.as_string().unwrap_or_default()))
}

pub async fn json<T: DeserializeOwned>(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&impl Serialize>,
) -> Result<T, NetError> {
    let body = body.map(|b| serde_json::to_string(b).unwrap_or_default());
    let (status, text) = call(method, path, token, body).await?;
    if (200..300).contains(&status) {
        serde_json::from_str(&text).map_err(|e| {
            NetError::Api(
                status,
                ApiError {
                    error: "bad_answer".into(),
                    message: e.to_string(),
                    ..Default::default()
                },
            )
        })
    } else {
        let e = serde_json::from_str(&text).unwrap_or(ApiError {
            error: "server".into(),
            message: text,
            ..Default::default()
        });
        Err(NetError::Api(status, e))
    }
}
