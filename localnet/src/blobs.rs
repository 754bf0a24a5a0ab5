//! A content-addressed blob store over HTTP, for job manifests, modules and inputs.
//!
//! - `PUT /blobs/<sha256>` stores the body if its sha256 is the one in the path (else 400);
//! - `GET /blobs/<sha256>` returns it (404 if unknown);
//! - `GET /health` answers `ok`.
//!
//! Blobs are files named by their hash in one directory, written atomically. Responses carry
//! `Access-Control-Allow-Origin: *` so the web app can upload and fetch from a browser.

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{header, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use compute_market_client::manifest::is_sha256_hex;
use sha2::{Digest, Sha256};
use std::{path::PathBuf, sync::Arc};
use tower_http::cors::{Any, CorsLayer};

/// Largest blob accepted.
pub const MAX_BLOB_BYTES: usize = 64 << 20;

#[derive(Clone)]
struct Store {
    dir: Arc<PathBuf>,
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, msg.into()).into_response()
}

async fn put_blob(State(s): State<Store>, Path(hash): Path<String>, body: Bytes) -> Response {
    if !is_sha256_hex(&hash) {
        return text(
            StatusCode::BAD_REQUEST,
            "the path must be /blobs/<64 lower-case hex sha256>\n",
        );
    }
    let actual = hex::encode(Sha256::digest(&body));
    if actual != hash {
        return text(
            StatusCode::BAD_REQUEST,
            format!("sha256 mismatch: the body hashes to {actual}, not {hash}\n"),
        );
    }
    let path = s.dir.join(&hash);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return text(StatusCode::OK, "exists\n");
    }
    // a name of its own per upload: concurrent uploads of one blob must not share a file
    static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = s.dir.join(format!(".{hash}.{}.{n}", std::process::id()));
    let written = async {
        tokio::fs::write(&tmp, &body).await?;
        tokio::fs::rename(&tmp, &path).await
    }
    .await;
    match written {
        Ok(()) => text(StatusCode::CREATED, "stored\n"),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storing the blob failed: {e}\n"),
            )
        }
    }
}

async fn get_blob(State(s): State<Store>, Path(hash): Path<String>) -> Response {
    if !is_sha256_hex(&hash) {
        return text(
            StatusCode::BAD_REQUEST,
            "the path must be /blobs/<64 lower-case hex sha256>\n",
        );
    }
    match tokio::fs::read(s.dir.join(&hash)).await {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            text(StatusCode::NOT_FOUND, "no such blob\n")
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the blob failed: {e}\n"),
        ),
    }
}

/// The blob store's routes, storing under `dir` (created if missing).
pub fn router(dir: PathBuf) -> std::io::Result<Router> {
    std::fs::create_dir_all(&dir)?;
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::PUT])
        .allow_headers(Any);
    Ok(Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/blobs/{hash}", get(get_blob).put(put_blob))
        .layer(DefaultBodyLimit::max(MAX_BLOB_BYTES))
        .layer(cors)
        .with_state(Store { dir: Arc::new(dir) }))
}

/// Serves the blob store on `listener` until the future is dropped.
pub async fn serve(listener: tokio::net::TcpListener, dir: PathBuf) -> std::io::Result<()> {
    axum::serve(listener, router(dir)?).await
}
