//! How requesters get result bytes: a provider serves every output it computed at its
//! registered endpoint, and the client checks the bytes against the root settled on-chain.
//!
//! - `GET {endpoint}/results/{root_hex}/summary` → JSON [`ResultSummaryJson`];
//! - `GET {endpoint}/results/{root_hex}` → the output bytes (range requests allowed);
//! - `GET {endpoint}/results/{root_hex}/chunks/{i}` → JSON [`ChunkResponse`] with a Merkle proof.

use crate::merkle::{data_root, verify_chunk, ChunkProof, ExitStatus, ResultSummary};
use crate::Pubkey;
use serde::{Deserialize, Serialize};

/// The wire form of a [`ResultSummary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultSummaryJson {
    pub runtime: String,
    pub status: ExitStatus,
    pub fuel_used: u64,
    pub output_len: u64,
    /// Hex.
    pub data_root: String,
}

/// One chunk with its proof.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChunkResponse {
    /// Hex of the chunk bytes.
    pub data: String,
    pub proof: ChunkProof,
}

impl ChunkResponse {
    /// Chunk `index` of `output` with its proof; `None` past the last chunk.
    pub fn of(output: &[u8], index: u64) -> Option<Self> {
        let proof = crate::merkle::prove_chunk(output, index)?;
        let start = index as usize * crate::merkle::CHUNK_SIZE;
        let end = (start + crate::merkle::CHUNK_SIZE).min(output.len());
        Some(ChunkResponse {
            data: hex::encode(&output[start..end]),
            proof,
        })
    }
}

impl From<&ResultSummary> for ResultSummaryJson {
    fn from(s: &ResultSummary) -> Self {
        ResultSummaryJson {
            runtime: s.runtime.clone(),
            status: s.status,
            fuel_used: s.fuel_used,
            output_len: s.output_len,
            data_root: hex::encode(s.data_root),
        }
    }
}

impl TryFrom<&ResultSummaryJson> for ResultSummary {
    type Error = VerifyError;
    fn try_from(j: &ResultSummaryJson) -> Result<Self, VerifyError> {
        let mut data_root = [0u8; 32];
        hex::decode_to_slice(&j.data_root, &mut data_root).map_err(|_| VerifyError::BadSummary)?;
        Ok(ResultSummary {
            runtime: j.runtime.clone(),
            status: j.status,
            fuel_used: j.fuel_used,
            output_len: j.output_len,
            data_root,
        })
    }
}

/// Why downloaded result bytes were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the summary is malformed")]
    BadSummary,
    #[error("the summary does not hash to the settled root")]
    SummaryMismatch,
    #[error("the output is {actual} bytes, the summary says {expected}")]
    LengthMismatch { expected: u64, actual: u64 },
    #[error("the output bytes do not match the settled root")]
    DataMismatch,
    #[error("the chunk does not prove against the settled root")]
    ChunkMismatch,
}

/// URL of a result's summary at a provider endpoint.
pub fn summary_url(endpoint: &str, root: &[u8; 32]) -> String {
    format!(
        "{}/results/{}/summary",
        endpoint.trim_end_matches('/'),
        hex::encode(root)
    )
}

/// URL of a result's bytes at a provider endpoint.
pub fn output_url(endpoint: &str, root: &[u8; 32]) -> String {
    format!(
        "{}/results/{}",
        endpoint.trim_end_matches('/'),
        hex::encode(root)
    )
}

/// URL of one chunk with its proof.
pub fn chunk_url(endpoint: &str, root: &[u8; 32], index: u64) -> String {
    format!(
        "{}/results/{}/chunks/{index}",
        endpoint.trim_end_matches('/'),
        hex::encode(root)
    )
}

/// Checks a summary against the root settled on-chain for `job`.
pub fn verify_summary(
    job: &Pubkey,
    root: &[u8; 32],
    summary: &ResultSummaryJson,
) -> Result<ResultSummary, VerifyError> {
    let s = ResultSummary::try_from(summary)?;
    if &s.root(job) != root {
        return Err(VerifyError::SummaryMismatch);
    }
    Ok(s)
}

/// Checks a summary and the full output against the root settled on-chain for `job`.
pub fn verify_output(
    job: &Pubkey,
    root: &[u8; 32],
    summary: &ResultSummaryJson,
    output: &[u8],
) -> Result<ResultSummary, VerifyError> {
    let s = verify_summary(job, root, summary)?;
    if s.output_len != output.len() as u64 {
        return Err(VerifyError::LengthMismatch {
            expected: s.output_len,
            actual: output.len() as u64,
        });
    }
    if data_root(output) != s.data_root {
        return Err(VerifyError::DataMismatch);
    }
    Ok(s)
}

/// Checks chunk `index` against the root settled for `job`, given the summary.
pub fn verify_chunk_response(
    job: &Pubkey,
    root: &[u8; 32],
    summary: &ResultSummaryJson,
    index: u64,
    chunk: &ChunkResponse,
) -> Result<Vec<u8>, VerifyError> {
    let s = verify_summary(job, root, summary)?;
    if chunk.proof.index != index {
        return Err(VerifyError::ChunkMismatch);
    }
    let bytes = hex::decode(&chunk.data).map_err(|_| VerifyError::ChunkMismatch)?;
    if !verify_chunk(&s.data_root, &bytes, &chunk.proof) {
        return Err(VerifyError::ChunkMismatch);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::prove_chunk;

    #[test]
    fn outputs_and_chunks_verify_and_tampering_is_caught() {
        let out: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let s = ResultSummary::new("wasi-p1", ExitStatus::Exited(0), 77, &out);
        let job = Pubkey::new_unique();
        let root = s.root(&job);
        let j = ResultSummaryJson::from(&s);
        assert_eq!(verify_output(&job, &root, &j, &out).unwrap(), s);
        let mut bad = out.clone();
        bad[5000] ^= 1;
        assert_eq!(
            verify_output(&job, &root, &j, &bad),
            Err(VerifyError::DataMismatch)
        );
        assert!(matches!(
            verify_output(&job, &root, &j, &out[1..]),
            Err(VerifyError::LengthMismatch { .. })
        ));
        // the same output bound to another job: a copied root does not verify
        assert_eq!(
            verify_output(&Pubkey::new_unique(), &root, &j, &out),
            Err(VerifyError::SummaryMismatch)
        );
        let lie = ResultSummaryJson {
            fuel_used: 78,
            ..j.clone()
        };
        assert_eq!(
            verify_output(&job, &root, &lie, &out),
            Err(VerifyError::SummaryMismatch)
        );
        let c = ChunkResponse {
            data: hex::encode(&out[4096..8192]),
            proof: prove_chunk(&out, 1).unwrap(),
        };
        assert_eq!(
            verify_chunk_response(&job, &root, &j, 1, &c).unwrap(),
            out[4096..8192].to_vec()
        );
        assert_eq!(
            verify_chunk_response(&job, &root, &j, 0, &c),
            Err(VerifyError::ChunkMismatch),
            "asked for chunk 0, served chunk 1"
        );
        let forged = ChunkResponse {
            data: hex::encode(&bad[4096..8192]),
            ..c
        };
        assert_eq!(
            verify_chunk_response(&job, &root, &j, 1, &forged),
            Err(VerifyError::ChunkMismatch)
        );
    }
}

#[cfg(test)]
mod vectors {
    //! Test vectors for other implementations of result verification (the web app's
    //! `app/src/lib/merkle.ts` checks itself against them in `app/test/merkle.test.ts`).
    use super::*;
    use crate::merkle::CHUNK_SIZE;

    const PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../app/test/vectors/merkle.json"
    );

    /// The outputs are generated, not stored: byte `i` is `(i * 7 + seed) % 251`.
    fn output(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect()
    }

    /// The job every vector's root is bound to.
    const JOB: Pubkey = Pubkey::new_from_array([
        0x4a, 0x6f, 0x62, 0x20, 0x6f, 0x66, 0x20, 0x74, 0x68, 0x65, 0x20, 0x76, 0x65, 0x63, 0x74,
        0x6f, 0x72, 0x73, 0x3a, 0x20, 0x6a, 0x6f, 0x62, 0x2d, 0x62, 0x6f, 0x75, 0x6e, 0x64, 0x20,
        0x76, 0x32,
    ]);

    fn vectors() -> serde_json::Value {
        let cases = [
            (0, 0, ExitStatus::Exited(0), 0u64),
            (1, 3, ExitStatus::Exited(0), 17),
            (CHUNK_SIZE - 1, 5, ExitStatus::Exited(2), 1_000),
            (CHUNK_SIZE, 0, ExitStatus::Exited(-1), 123_456_789),
            (CHUNK_SIZE + 1, 1, ExitStatus::Trapped, 42),
            (3 * CHUNK_SIZE, 2, ExitStatus::OutOfFuel, 10_000_000),
            (5 * CHUNK_SIZE + 9, 4, ExitStatus::OutputLimit, u64::MAX),
            (100, 6, ExitStatus::OutOfMemory, 7),
        ];
        let list: Vec<_> = cases
            .iter()
            .map(|&(len, seed, status, fuel)| {
                let out = output(len, seed);
                let s = ResultSummary::new(crate::manifest::RUNTIME_WASI_P1, status, fuel, &out);
                let chunks: Vec<_> = (0..crate::merkle::chunk_count(len as u64))
                    .map(|i| ChunkResponse::of(&out, i).expect("in range"))
                    .collect();
                serde_json::json!({
                    "output": { "len": len, "seed": seed },
                    "summary": ResultSummaryJson::from(&s),
                    "root": hex::encode(s.root(&JOB)),
                    "chunks": chunks,
                })
            })
            .collect();
        serde_json::json!({
            "about": "Generated by compute-market-client (results::vectors); output byte i = (i * 7 + seed) % 251. Regenerate with CMKT_WRITE_VECTORS=1 cargo test -p compute-market-client vectors",
            "chunk_size": CHUNK_SIZE,
            "job": JOB.to_string(),
            "cases": list,
        })
    }

    #[test]
    fn web_app_vectors_are_current() {
        let v = vectors();
        let want = serde_json::to_string_pretty(&v).unwrap() + "\n";
        crate::generated::check(
            PATH,
            &want,
            "CMKT_WRITE_VECTORS=1 cargo test -p compute-market-client vectors",
        );
        // the vectors verify with this implementation
        for case in v["cases"].as_array().unwrap() {
            let summary: ResultSummaryJson =
                serde_json::from_value(case["summary"].clone()).unwrap();
            let mut root = [0u8; 32];
            hex::decode_to_slice(case["root"].as_str().unwrap(), &mut root).unwrap();
            let len = case["output"]["len"].as_u64().unwrap() as usize;
            let seed = case["output"]["seed"].as_u64().unwrap() as usize;
            verify_output(&JOB, &root, &summary, &output(len, seed)).unwrap();
        }
    }
}
