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

/// One request; the answer as it came (status, headers, body unread).
async fn send(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(wasm_bindgen::JsValue, &str)>,
) -> Result<Response, NetError> {
    let init = RequestInit::new();
    init.set_method(method);
    let req = match body {
        Some((b, content_type)) => {
            init.set_body(&b);
            let r = Request::new_with_str_and_init(path, &init).map_err(|_| NetError::Offline)?;
            let _ = r.headers().set("Content-Type", content_type);
            r
        }
        None => Request::new_with_str_and_init(path, &init).map_err(|_| NetError::Offline)?,
    };
    if let Some(t) = token {
        let _ = req.headers().set("Authorization", &format!("Bearer {t}"));
    }
    let window = web_sys::window().ok_or(NetError::Offline)?;
    let resp = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|_| NetError::Offline)?;
    resp.dyn_into().map_err(|_| NetError::Offline)
}

async fn text_of(resp: &Response) -> Result<String, NetError> {
    let text = JsFuture::from(resp.text().map_err(|_| NetError::Offline)?)
        .await
        .map_err(|_| NetError::Offline)?;
    Ok(text.as_string().unwrap_or_default())
}

async fn call(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Result<(u16, String), NetError> {
    let body = body.map(|b| (wasm_bindgen::JsValue::from_str(&b), "application/json"));
    let resp = send(method, path, token, body).await?;
    Ok((resp.status(), text_of(&resp).await?))
}

fn api_error(status: u16, text: String) -> NetError {
    let e = serde_json::from_str(&text).unwrap_or(ApiError {
        error: "server".into(),
        message: text,
        ..Default::default()
    });
    NetError::Api(status, e)
}

/// `POST`s a file's bytes as they are (a CSV roster), JSON back.
pub async fn post_bytes<T: DeserializeOwned>(
    path: &str,
    token: &str,
    bytes: &[u8],
    content_type: &str,
) -> Result<T, NetError> {
    let body = js_sys::Uint8Array::from(bytes);
    let resp = send("POST", path, Some(token), Some((body.into(), content_type))).await?;
    let status = resp.status();
    let text = text_of(&resp).await?;
    if (200..300).contains(&status) {
        serde_json::from_str(&text).map_err(|e| api_error(status, e.to_string()))
    } else {
        Err(api_error(status, text))
    }
}

/// `GET`s a file (a CSV export) and hands it to the browser as a download, under the name
/// the server gives in `Content-Disposition` (or `fallback`).
pub async fn download(path: &str, token: &str, fallback: &str) -> Result<(), NetError> {
    let resp = send("GET", path, Some(token), None).await?;
    let status = resp.status();
    if !(200..300).contains(&status) {
        let text = text_of(&resp).await?;
        return Err(api_error(status, text));
    }
    let name = resp
        .headers()
        .get("Content-Disposition")
        .ok()
        .flatten()
        .and_then(|h| file_name(&h))
        .unwrap_or_else(|| fallback.to_string());
    let blob: web_sys::Blob = JsFuture::from(resp.blob().map_err(|_| NetError::Offline)?)
        .await
        .map_err(|_| NetError::Offline)?
        .unchecked_into();
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| NetError::Offline)?;
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or(NetError::Offline)?;
    if let Ok(a) = doc.create_element("a") {
        let _ = a.set_attribute("href", &url);
        let _ = a.set_attribute("download", &name);
        if let Some(a) = a.dyn_ref::<web_sys::HtmlElement>() {
            a.click();
        }
    }
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// The file name of a `Content-Disposition` header: `filename*=UTF-8''…` first (RFC 5987),
/// else `filename="…"`.
fn file_name(h: &str) -> Option<String> {
    for part in h.split(';').map(str::trim) {
        if let Some(v) = part.strip_prefix("filename*=") {
            let enc = v.split("''").nth(1)?;
            return js_sys::decode_uri_component(enc).ok().map(String::from);
        }
    }
    h.split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("filename="))
        .map(|v| v.trim_matches('"').to_string())
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
        Err(api_error(status, text))
    }
}
