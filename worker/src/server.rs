//! The result server: serves every output the worker computed, by result root, at the endpoint
//! registered on-chain (protocol in `compute_market_client::results`), with CORS for the web app,
//! single-range requests, and Merkle proofs per chunk.

use crate::journal::Journal;
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use compute_market_client::{manifest::is_sha256_hex, results::ChunkResponse};
use std::sync::Arc;
use tower_http::cors::{Any, CorsLayer};

type Failure = (StatusCode, &'static str);

fn lookup(
    j: &Journal,
    root: &str,
) -> Result<(compute_market_client::results::ResultSummaryJson, Vec<u8>), Failure> {
    if !is_sha256_hex(root) {
        return Err((
            StatusCode::BAD_REQUEST,
            "the root must be 64 lower-case hex digits\n",
        ));
    }
    j.result(root)
        .ok_or((StatusCode::NOT_FOUND, "no such result\n"))
}

async fn summary(State(j): State<Arc<Journal>>, Path(root): Path<String>) -> Response {
    match lookup(&j, &root) {
        Ok((s, _)) => Json(s).into_response(),
        Err(f) => f.into_response(),
    }
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a body of `len` bytes.
fn parse_range(h: &str, len: u64) -> Option<(u64, u64)> {
    let spec = h.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.checked_sub(n.min(len))?, len.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, len.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(len.checked_sub(1)?),
        ),
    };
    (start <= end && end < len).then_some((start, end))
}

async fn output(
    State(j): State<Arc<Journal>>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (_, bytes) = match lookup(&j, &root) {
        Ok(r) => r,
        Err(f) => return f.into_response(),
    };
    let octet = (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let ranges = (header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => ([octet, ranges], bytes).into_response(),
        Some(h) => match parse_range(h, bytes.len() as u64) {
            Some((start, end)) => {
                let range = format!("bytes {start}-{end}/{}", bytes.len());
                let part = bytes[start as usize..=end as usize].to_vec();
                (
                    StatusCode::PARTIAL_CONTENT,
                    [
                        octet,
                        ranges,
                        (
                            header::CONTENT_RANGE,
                            HeaderValue::from_str(&range).expect("ascii"),
                        ),
                    ],
                    part,
                )
                    .into_response()
            }
            None => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{}", bytes.len())).expect("ascii"),
                )],
            )
                .into_response(),
        },
    }
}

async fn chunk(
    State(j): State<Arc<Journal>>,
    Path((root, index)): Path<(String, u64)>,
) -> Response {
    let (_, bytes) = match lookup(&j, &root) {
        Ok(r) => r,
        Err(f) => return f.into_response(),
    };
    match ChunkResponse::of(&bytes, index) {
        Some(chunk) => Json(chunk).into_response(),
        None => (StatusCode::NOT_FOUND, "no such chunk\n").into_response(),
    }
}

/// The result server's routes over a journal (the daemon adds `/healthz` and `/metrics`).
pub fn router(journal: Arc<Journal>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any);
    Router::new()
        .route("/results/{root}", get(output))
        .route("/results/{root}/summary", get(summary))
        .route("/results/{root}/chunks/{index}", get(chunk))
        .layer(cors)
        .with_state(journal)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        for bad in [
            "bytes=100-",
            "bytes=9-1",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=x-1",
        ] {
            assert_eq!(parse_range(bad, 100), None, "{bad}");
        }
        assert_eq!(parse_range("bytes=0-0", 0), None);
    }
}
