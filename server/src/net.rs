//! Connections: the accept loop in front of the router, so that slow, idle or half-sent
//! clients cannot starve the others (docs/security.md, *Connections*).
//!
//! - **Header read and idle keep-alive**: a connection must send a whole request head
//!   within [`Limits::header_timeout`] of the connection opening or of the previous answer;
//!   otherwise it is closed (hyper's `header_read_timeout`, which runs whenever the
//!   connection waits for a request head: so it is also the idle keep-alive timeout).
//! - **Body read**: once a handler starts reading a body, the body must keep arriving: the
//!   read fails when more than [`Limits::body_timeout`] plus one second per
//!   [`MIN_BODY_RATE`] bytes received has passed. A half-sent or trickled body is answered
//!   408 `timeout` and the connection closed; a phone on a slow line (≥ 8 KiB/s) is not.
//! - **Unread bodies**: when a request is answered before its body was read to the end
//!   (401 from the headers, 413 over the limit, a foreign Origin), the rest of the body is
//!   read and thrown away while the answer goes out, up to [`DRAIN_MAX`] within
//!   [`Limits::body_timeout`] ([`settle`]); otherwise the client may see a reset
//!   connection instead of the answer.
//! - **Open connections** are capped at [`Limits::max_connections`], below the process's
//!   open-file limit (read at start-up, the soft limit first raised to the hard one). At
//!   the cap, a new connection evicts the connection that has been idle longest (one with
//!   no request running); a request in progress is never cut. If every connection is
//!   busy, the new one waits (the kernel's backlog holds it).
//!
//! These bounds are per process; several processes behind a proxy each have their own.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Bytes per second a body must average, after [`Limits::body_timeout`], to keep coming.
pub const MIN_BODY_RATE: u64 = 8 * 1024;
/// File descriptors kept free of connections: the database pool, the tile proxy's upstream
/// connections, the log, the listening socket, static files, a backup.
pub const RESERVED_FDS: u64 = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `MIMAMORI_HEADER_TIMEOUT` (seconds, default 15): request head, and idle keep-alive.
    pub header_timeout: Duration,
    /// `MIMAMORI_BODY_TIMEOUT` (seconds, default 20): see the module notes.
    pub body_timeout: Duration,
    /// `MIMAMORI_MAX_CONNECTIONS` (default and upper bound: the open-file limit less
    /// [`RESERVED_FDS`]).
    pub max_connections: usize,
}

impl Limits {
    /// From the environment and the process's open-file limit (its soft limit is raised
    /// to the hard limit first, as far as 65,536).
    pub fn from_env() -> Limits {
        let secs = |name: &str, default: u64| {
            Duration::from_secs(
                std::env::var(name)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|&v| v > 0)
                    .unwrap_or(default),
            )
        };
        let files = open_file_limit();
        let ceiling = files.saturating_sub(RESERVED_FDS).max(16) as usize;
        let max_connections = std::env::var("MIMAMORI_MAX_CONNECTIONS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&v| v > 0)
            .map_or(ceiling, |v| v.min(ceiling));
        Limits {
            header_timeout: secs("MIMAMORI_HEADER_TIMEOUT", 15),
            body_timeout: secs("MIMAMORI_BODY_TIMEOUT", 20),
            max_connections,
        }
    }
}

/// The open-file limit after raising the soft limit towards the hard one.
fn open_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let want = lim.maximum.unwrap_or(65_536).min(65_536);
    if lim.current.is_some_and(|c| c < want) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(want),
                maximum: lim.maximum,
            },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(65_536)
}

/// A body read that took too long (see the module notes); answered 408 `timeout`.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether `e` or anything it was caused by is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A request body with a deadline that moves on as bytes arrive.
struct DeadlineBody {
    inner: Body,
    limit: Duration,
    started: Option<Instant>,
    received: u64,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl DeadlineBody {
    fn deadline(&self, started: Instant) -> Instant {
        started + self.limit + Duration::from_millis(self.received * 1000 / MIN_BODY_RATE)
    }
}

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let started = *self.started.get_or_insert_with(Instant::now);
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.received += d.len() as u64;
                    let at = self.deadline(started);
                    if let Some(s) = self.sleep.as_mut() {
                        s.as_mut().reset(at.into());
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let at = self.deadline(started);
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at.into())));
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request body shared between the router, which may answer without reading it, and the
/// connection, which reads what is left ([`settle`]).
#[derive(Clone)]
struct SharedBody(Arc<Mutex<DeadlineBody>>);

impl SharedBody {
    fn lock(&self) -> std::sync::MutexGuard<'_, DeadlineBody> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl http_body::Body for SharedBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut *self.lock()).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.lock().is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.lock().size_hint()
    }
}

/// Most bytes of one request body that are read, in all, when the answer did not need them.
pub const DRAIN_MAX: u64 = 16 * 1024 * 1024;

/// Reads and throws away what the router left of a request body, after the answer. hyper
/// closes a connection whose request body is dropped unread; with unread bytes in its
/// receive buffer the kernel then resets it, and a client still sending (a 5 MiB sync
/// answered 413 after 4 MiB, an anonymous one answered 401 from its headers) sees a broken
/// pipe, or loses the answer it had received: it cannot tell the refusal from a network
/// failure. The answer is not held back: hyper writes it while the rest of the body is read
/// here, and keeps the connection once the body has ended. Bounded by [`DRAIN_MAX`]
/// (nothing is read when the declared length is larger) and by `within`; past either the
/// body is dropped and the connection closed as before. A client that asked
/// `Expect: 100-continue` and was answered without its body being asked for sends none.
fn settle(body: SharedBody, within: Duration, expect_continue: bool) {
    {
        let b = body.lock();
        if http_body::Body::is_end_stream(&*b)
            || (expect_continue && b.started.is_none())
            || b.received
                .saturating_add(http_body::Body::size_hint(&*b).lower())
                > DRAIN_MAX
        {
            return;
        }
    }
    let mut body = body;
    let drain = async move {
        while body.lock().received <= DRAIN_MAX {
            let frame =
                std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut body), cx))
                    .await;
            if !matches!(frame, Some(Ok(_))) {
                return;
            }
        }
    };
    tokio::spawn(tokio::time::timeout(within, drain));
}

/// A connection's state for eviction: requests running (or [`EVICTED`]), and when it last
/// finished one.
struct Slot {
    busy: Arc<AtomicUsize>,
    idle_since: Arc<AtomicU64>,
    abort: tokio::task::AbortHandle,
}

/// `busy` of a connection being evicted: no request may start on it any more.
const EVICTED: usize = usize::MAX / 2;

type Registry = Arc<Mutex<HashMap<u64, Slot>>>;

/// Closes the connection idle longest; false when every connection is busy.
fn evict_one(reg: &Registry) -> bool {
    let mut reg = reg.lock().unwrap_or_else(|e| e.into_inner());
    let mut idle: Vec<(u64, u64)> = reg
        .iter()
        .filter(|(_, s)| s.busy.load(Ordering::Acquire) == 0)
        .map(|(id, s)| (s.idle_since.load(Ordering::Relaxed), *id))
        .collect();
    idle.sort_unstable();
    for (_, id) in idle {
        let Some(s) = reg.get(&id) else { continue };
        if s.busy
            .compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            s.abort.abort();
            reg.remove(&id);
            return true;
        }
    }
    false
}

/// Decrements a connection's running requests when the request ends (or is dropped).
struct Running(Arc<AtomicUsize>, Arc<AtomicU64>, Instant);

impl Drop for Running {
    fn drop(&mut self) {
        self.1
            .store(self.2.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes; then stops
/// accepting, lets running requests finish (up to 10 s) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let reg: Registry = Arc::default();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let epoch = Instant::now();
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors or the like: let connections close.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // At the cap: make room by closing idle connections; wait while all are busy.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let until = Instant::now() + limits.header_timeout;
                let mut got = None;
                while Instant::now() < until {
                    evict_one(&reg);
                    if let Ok(Ok(p)) = tokio::time::timeout(
                        Duration::from_millis(50),
                        permits.clone().acquire_owned(),
                    )
                    .await
                    {
                        got = Some(p);
                        break;
                    }
                }
                match got {
                    Some(p) => p,
                    None => continue, // every connection busy all along: drop this one
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let idle_since = Arc::new(AtomicU64::new(epoch.elapsed().as_millis() as u64));
        let svc = {
            let (app, busy, idle_since) = (app.clone(), busy.clone(), idle_since.clone());
            let body_timeout = limits.body_timeout;
            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let prev = busy.fetch_add(1, Ordering::AcqRel);
                let running = Running(busy.clone(), idle_since.clone(), epoch);
                let expect_continue = req
                    .headers()
                    .get(hyper::header::EXPECT)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
                let (parts, incoming) = req.into_parts();
                let body = SharedBody(Arc::new(Mutex::new(DeadlineBody {
                    inner: Body::new(incoming),
                    limit: body_timeout,
                    started: None,
                    received: 0,
                    sleep: None,
                })));
                let mut req = hyper::Request::from_parts(parts, Body::new(body.clone()));
                req.extensions_mut().insert(ConnectInfo(addr));
                let app = app.clone();
                async move {
                    let _running = running;
                    if prev >= EVICTED {
                        return Err(std::io::Error::other("connection evicted"));
                    }
                    let r = app.oneshot(req).await;
                    settle(body, body_timeout, expect_continue);
                    Ok::<_, std::io::Error>(r.unwrap_or_else(|never| match never {}))
                }
            })
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), svc));
        let reg2 = reg.clone();
        // Registered before the task can end (it takes the same lock to leave).
        let mut slots = reg.lock().unwrap_or_else(|e| e.into_inner());
        let task = tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = conn.await {
                tracing::debug!("connection from {addr}: {e}");
            }
            reg2.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
        slots.insert(
            id,
            Slot {
                busy,
                idle_since,
                abort: task.abort_handle(),
            },
        );
        drop(slots);
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing them");
    }
    Ok(())
}
