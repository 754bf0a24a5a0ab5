//! A sandbox run stored in the journal, served by the result server over HTTP, and verified by
//! the client library the way `cmkt job result` and the web app do.

use compute_market_client::{
    merkle::{ExitStatus, ResultSummary},
    results::{
        chunk_url, output_url, summary_url, verify_chunk_response, verify_output, ChunkResponse,
        ResultSummaryJson,
    },
};
use compute_worker::{journal::Journal, server};
use std::sync::Arc;

#[tokio::test]
async fn served_results_verify_against_their_root() {
    let dir = std::env::temp_dir().join(format!("cmkt-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let journal = Arc::new(Journal::open(&dir).unwrap());
    let output: Vec<u8> = (0..10_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let summary = ResultSummary::new("wasi-p1", ExitStatus::Exited(0), 4_242, &output);
    let job = compute_market_client::Pubkey::new_unique();
    let root = summary.root(&job);
    journal
        .put_result(&(&summary).into(), &hex::encode(root), &output)
        .unwrap();

    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, server::router(journal)).await.unwrap() });
    let http = reqwest::Client::new();

    let s: ResultSummaryJson = http
        .get(summary_url(&endpoint, &root))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = http.get(output_url(&endpoint, &root)).send().await.unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let bytes = resp.bytes().await.unwrap().to_vec();
    assert_eq!(verify_output(&job, &root, &s, &bytes).unwrap(), summary);

    // a range and a single chunk with its proof
    let part = http
        .get(output_url(&endpoint, &root))
        .header("range", "bytes=4096-4105")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 4096-4105/10000");
    assert_eq!(
        part.bytes().await.unwrap().to_vec(),
        output[4096..4106].to_vec()
    );
    let c: ChunkResponse = http
        .get(chunk_url(&endpoint, &root, 2))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        verify_chunk_response(&job, &root, &s, 2, &c).unwrap(),
        output[8192..].to_vec()
    );

    // unknown, malformed and out-of-range requests
    assert_eq!(
        http.get(output_url(&endpoint, &[0; 32]))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http.get(format!("{endpoint}/results/not-hex"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        http.get(chunk_url(&endpoint, &root, 3))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let bad = http
        .get(output_url(&endpoint, &root))
        .header("range", "bytes=20000-")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 416);
    assert_eq!(
        http.get(format!("{endpoint}/results/not-a-root"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let _ = std::fs::remove_dir_all(&dir);
}
