//! Fetching over real HTTP from a local server: caps, hash checks, the cache, URI schemes.

use compute_market_client::manifest::{BlobRef, Manifest, MANIFEST_VERSION, RUNTIME_WASI_P1};
use compute_worker::fetch::{FetchError, FetchPolicy, Fetcher};
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
}

/// `/blob` serves `content`; `/stream` streams 10 MiB without a length; `/slow` answers late.
async fn server(content: Vec<u8>) -> Server {
    use axum::{body::Body, routing::get, Router};
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new()
        .route(
            "/blob",
            get(move || {
                h.fetch_add(1, Ordering::Relaxed);
                let c = content.clone();
                async move { c }
            }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks = (0..160).map(|_| Ok::<_, std::io::Error>(vec![7u8; 64 * 1024]));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    Server { url, hits }
}

/// A directory of the test's own, removed when the test ends (passed or not).
fn dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("cmkt-fetch-{name}-"))
        .tempdir()
        .unwrap()
}

fn policy() -> FetchPolicy {
    FetchPolicy {
        max_blob_bytes: 1 << 20,
        timeout: Duration::from_secs(2),
        file_roots: vec![],
    }
}

#[tokio::test]
async fn blobs_are_checked_capped_and_cached() {
    let content = b"module bytes".to_vec();
    let s = server(content.clone()).await;
    let cache = dir("cache");
    let f = Fetcher::new(cache.path(), policy()).unwrap();
    let good = BlobRef::new(&content, format!("{}/blob", s.url));
    assert_eq!(f.blob(&good).await.unwrap(), content);
    assert_eq!(f.blob(&good).await.unwrap(), content);
    assert_eq!(
        s.hits.load(Ordering::Relaxed),
        1,
        "the second read comes from the cache"
    );

    // the server's bytes do not match what the manifest promises
    let other = BlobRef::new(b"something else", format!("{}/blob", s.url));
    assert!(matches!(
        f.blob(&other).await,
        Err(FetchError::HashMismatch { .. })
    ));
    // a blob bigger than the policy allows is refused before any download
    let huge = BlobRef {
        size: 2 << 20,
        ..good.clone()
    };
    assert!(matches!(
        f.blob(&huge).await,
        Err(FetchError::TooLarge { .. })
    ));
    // a server sending more than announced is cut off while streaming (a hash not in the cache)
    let streamed = BlobRef {
        sha256: "ab".repeat(32),
        size: 1000,
        uri: format!("{}/stream", s.url),
    };
    assert!(matches!(
        f.blob(&streamed).await,
        Err(FetchError::TooLarge { .. })
    ));
    // a server that does not answer in time, and one that is not there
    let slow = BlobRef {
        uri: format!("{}/slow", s.url),
        ..other.clone()
    };
    let t = std::time::Instant::now();
    assert!(matches!(
        f.blob(&slow).await,
        Err(FetchError::Download { .. })
    ));
    assert!(t.elapsed() < Duration::from_secs(10));
    let dead = BlobRef {
        uri: "http://127.0.0.1:9/blob".into(),
        ..other.clone()
    };
    assert!(matches!(
        f.blob(&dead).await,
        Err(FetchError::Download { .. })
    ));
    // schemes
    let data = BlobRef::new(b"hi", "data:text/plain;base64,aGk=");
    assert_eq!(f.blob(&data).await.unwrap(), b"hi");
    let ftp = BlobRef::new(b"x", "ftp://example/x");
    assert!(matches!(
        f.blob(&ftp).await,
        Err(FetchError::Unsupported(_))
    ));
}

#[tokio::test]
async fn file_uris_only_under_allowed_directories() {
    let files = dir("files");
    let root = files.path();
    let path = root.join("input.txt");
    std::fs::write(&path, b"local input").unwrap();
    let r = BlobRef::new(b"local input", format!("file://{}", path.display()));
    let (c1, c2) = (dir("c1"), dir("c2"));
    let closed = Fetcher::new(c1.path(), policy()).unwrap();
    assert!(matches!(
        closed.blob(&r).await,
        Err(FetchError::Unsupported(_))
    ));
    let open = Fetcher::new(
        c2.path(),
        FetchPolicy {
            file_roots: vec![root.to_path_buf()],
            ..policy()
        },
    )
    .unwrap();
    assert_eq!(open.blob(&r).await.unwrap(), b"local input");
    // no escaping the root through ..
    let escape = BlobRef::new(b"x", format!("file://{}/../../etc/passwd", root.display()));
    assert!(open.blob(&escape).await.is_err());
}

#[tokio::test]
async fn manifests_must_match_their_onchain_hash() {
    let m = Manifest {
        args: vec![],
        input: BlobRef::new(b"", "data:,"),
        max_fuel: 1,
        max_memory: 1,
        max_output: 1,
        module: BlobRef::new(b"\0asm", "data:;base64,AGFzbQ=="),
        runtime: RUNTIME_WASI_P1.into(),
        version: MANIFEST_VERSION,
    };
    let bytes = m.to_canonical();
    let s = server(bytes.clone()).await;
    let cache = dir("m");
    let f = Fetcher::new(cache.path(), policy()).unwrap();
    let uri = format!("{}/blob", s.url);
    assert_eq!(f.manifest(&uri, &m.hash()).await.unwrap(), m);
    assert!(f.manifest(&uri, &[9; 32]).await.is_err());
}
