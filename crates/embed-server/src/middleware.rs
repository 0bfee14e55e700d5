//! The middleware every request passes: request ids (echoed or made), per-route metrics and
//! latency, the body size limit (a body over it is read to its end before the 413), and the
//! answer to a route that does not exist. It knows nothing of embedding.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::AppState;
use crate::error::{ApiError, Kind, Shape};

/// Request ids for requests that come without `x-request-id`: the process start time and a
/// counter, unique within a process and across restarts.
#[derive(Clone)]
pub(crate) struct RequestIds {
    prefix: String,
}

impl Default for RequestIds {
    fn default() -> Self {
        let start =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        Self { prefix: format!("{start:x}") }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:08x}", self.prefix)).ok().map(RequestId::new)
    }
}

/// Counts each request by route pattern and status, and times it.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state.inner.metrics.record_request(&endpoint, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Most bytes of a body over the limit that are read, and dropped, before its 413 is sent.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Reads the request body under the size limit. A body over the limit (by its `Content-Length`
/// or as it arrives) is answered 413 only after the rest of it has been read and dropped, up to
/// [`DRAIN_BYTES`] (beyond that the connection closes): most clients send their whole body
/// before reading the answer, and a server that closes with the body unread resets the
/// connection, so they would see a broken pipe instead of the 413.
pub(crate) async fn limit_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.inner.config.max_body_bytes;
    let (parts, mut body) = request.into_parts();
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut over = declared.is_some_and(|length| length > limit as u64);
    let mut kept = Vec::new();
    let mut read = 0usize;
    while let Some(chunk) = next_chunk(&mut body).await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                return ApiError::invalid(format!("cannot read the request body: {error}"))
                    .into_shaped_response(Shape::for_path(parts.uri.path()));
            }
        };
        read = read.saturating_add(chunk.len());
        over |= read > limit;
        if !over {
            kept.extend_from_slice(&chunk);
        } else if read > DRAIN_BYTES {
            break;
        }
    }
    if over {
        return ApiError::too_large(format!("the request body is larger than the limit of {limit} bytes"))
            .into_shaped_response(Shape::for_path(parts.uri.path()));
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(kept))).await
}

/// The next piece of data of `body` (trailers skipped); `None` at its end.
async fn next_chunk(body: &mut axum::body::Body) -> Option<Result<Bytes, axum::Error>> {
    use axum::body::HttpBody;
    loop {
        match std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(error) => return Some(Err(error)),
        }
    }
}

pub(crate) async fn not_found(request: Request) -> Response {
    let path = request.uri().path().to_string();
    ApiError::new(Kind::NoRoute, format!("no route for {} {path}", request.method()))
        .into_shaped_response(Shape::for_path(&path))
}
