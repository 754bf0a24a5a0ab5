//! Result roots: a sha256 Merkle tree over fixed-size output chunks, bound to the job the result
//! answers, how the run ended, the fuel it used and the output length, with a domain tag on every
//! hash. Binding the job means a root revealed for one job says nothing about another: a provider
//! cannot copy the public root of an earlier job with the same manifest and be paid without
//! running anything (it would have to download and re-bind the output, see the README).
//!
//! ```text
//! leaf(i, chunk)  = sha256(0x00 || "cmkt/leaf/v1" || u64le(i) || chunk)
//! node(l, r)      = sha256(0x01 || l || r)        an odd node at the end of a level moves up as is
//! empty           = sha256(0x02 || "cmkt/empty/v1")
//! result_root     = sha256("cmkt/result/v2" || job || runtime || 0x00 || status || i64le(code)
//!                          || u64le(fuel_used) || u64le(output_len) || data_root)
//!                   job: the 32 bytes of the job account's address
//! ```

use crate::Pubkey;
use sha2::{Digest, Sha256};

/// Bytes per output chunk.
pub const CHUNK_SIZE: usize = 4096;

/// How a run ended. Every variant is a deterministic outcome: honest providers agree on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "code", rename_all = "snake_case")]
pub enum ExitStatus {
    /// The module exited (or returned from `_start`, code 0) with this code.
    Exited(i64),
    /// The module trapped (unreachable, out-of-bounds access, stack overflow, ...).
    Trapped,
    /// The fuel limit was reached.
    OutOfFuel,
    /// The module tried to grow memory beyond the limit.
    OutOfMemory,
    /// The module wrote more than the output limit (the output is cut at the limit).
    OutputLimit,
}

impl ExitStatus {
    fn tag(&self) -> (u8, i64) {
        match *self {
            ExitStatus::Exited(c) => (0, c),
            ExitStatus::Trapped => (1, 0),
            ExitStatus::OutOfFuel => (2, 0),
            ExitStatus::OutOfMemory => (3, 0),
            ExitStatus::OutputLimit => (4, 0),
        }
    }
}

/// Everything the result root commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultSummary {
    pub runtime: String,
    pub status: ExitStatus,
    pub fuel_used: u64,
    pub output_len: u64,
    pub data_root: [u8; 32],
}

impl ResultSummary {
    /// Summarises a run's output.
    pub fn new(runtime: &str, status: ExitStatus, fuel_used: u64, output: &[u8]) -> Self {
        ResultSummary {
            runtime: runtime.to_string(),
            status,
            fuel_used,
            output_len: output.len() as u64,
            data_root: data_root(output),
        }
    }

    /// The 32 bytes committed and revealed on-chain for `job` (the program's own
    /// `result_root`, which `deliver_result` recomputes).
    pub fn root(&self, job: &Pubkey) -> [u8; 32] {
        let (status, code) = self.status.tag();
        compute_market::state::result_root(
            job,
            &self.runtime,
            status,
            code,
            self.fuel_used,
            self.output_len,
            &self.data_root,
        )
    }

    /// This result opened for `deliver_result`: the summary, and `output` itself when it is
    /// short enough to travel in the delivery (`MAX_DELIVERED_OUTPUT`). `output` must be the
    /// output this summary was made of.
    pub fn opening(&self, output: &[u8]) -> compute_market::state::DeliveredResult {
        let (status, code) = self.status.tag();
        let short = self.output_len <= compute_market::state::MAX_DELIVERED_OUTPUT;
        compute_market::state::DeliveredResult {
            runtime: self.runtime.clone(),
            status,
            code,
            fuel_used: self.fuel_used,
            output_len: self.output_len,
            data_root: self.data_root,
            output: if short { output.to_vec() } else { Vec::new() },
        }
    }
}

fn leaf(index: u64, chunk: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(b"cmkt/leaf/v1");
    h.update(index.to_le_bytes());
    h.update(chunk);
    h.finalize().into()
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

fn empty() -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([2u8]);
    h.update(b"cmkt/empty/v1");
    h.finalize().into()
}

fn leaves(output: &[u8]) -> Vec<[u8; 32]> {
    output
        .chunks(CHUNK_SIZE)
        .enumerate()
        .map(|(i, c)| leaf(i as u64, c))
        .collect()
}

fn next_level(level: &[[u8; 32]]) -> Vec<[u8; 32]> {
    level
        .chunks(2)
        .map(|p| {
            if p.len() == 2 {
                node(&p[0], &p[1])
            } else {
                p[0]
            }
        })
        .collect()
}

/// Merkle root over the output's chunks.
pub fn data_root(output: &[u8]) -> [u8; 32] {
    let mut level = leaves(output);
    if level.is_empty() {
        return empty();
    }
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// Number of chunks of an output of `len` bytes.
pub fn chunk_count(len: u64) -> u64 {
    len.div_ceil(CHUNK_SIZE as u64)
}

/// Sibling hashes from a chunk's leaf up to the data root (`true` = sibling is on the left).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkProof {
    pub index: u64,
    #[serde(with = "hex_path")]
    pub path: Vec<([u8; 32], bool)>,
}

/// Builds the proof that chunk `index` belongs to `output`'s data root.
pub fn prove_chunk(output: &[u8], index: u64) -> Option<ChunkProof> {
    let mut level = leaves(output);
    let mut i = usize::try_from(index).ok()?;
    if i >= level.len() {
        return None;
    }
    let mut path = Vec::new();
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            path.push((level[sibling], sibling < i));
        }
        level = next_level(&level);
        i /= 2;
    }
    Some(ChunkProof { index, path })
}

/// Checks one chunk against a data root.
pub fn verify_chunk(data_root: &[u8; 32], chunk: &[u8], proof: &ChunkProof) -> bool {
    if chunk.is_empty() || chunk.len() > CHUNK_SIZE {
        return false;
    }
    let mut acc = leaf(proof.index, chunk);
    for (sibling, left) in &proof.path {
        acc = if *left {
            node(sibling, &acc)
        } else {
            node(&acc, sibling)
        };
    }
    acc == *data_root
}

mod hex_path {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(p: &[([u8; 32], bool)], s: S) -> Result<S::Ok, S::Error> {
        p.iter()
            .map(|(h, left)| (hex::encode(h), *left))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<([u8; 32], bool)>, D::Error> {
        let v: Vec<(String, bool)> = Vec::deserialize(d)?;
        v.into_iter()
            .map(|(h, left)| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(&h, &mut out).map_err(serde::de::Error::custom)?;
                Ok((out, left))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn every_chunk_of_every_shape_proves() {
        for len in [
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            3 * CHUNK_SIZE,
            5 * CHUNK_SIZE + 9,
            8 * CHUNK_SIZE,
        ] {
            let out = output(len);
            let root = data_root(&out);
            for (i, chunk) in out.chunks(CHUNK_SIZE).enumerate() {
                let proof = prove_chunk(&out, i as u64).unwrap();
                assert!(verify_chunk(&root, chunk, &proof), "len {len} chunk {i}");
                let mut bad = chunk.to_vec();
                bad[0] ^= 1;
                assert!(!verify_chunk(&root, &bad, &proof));
                let moved = ChunkProof {
                    index: proof.index + 1,
                    ..proof.clone()
                };
                assert!(
                    !verify_chunk(&root, chunk, &moved),
                    "a chunk is bound to its index"
                );
            }
            assert!(prove_chunk(&out, chunk_count(len as u64)).is_none());
        }
    }

    #[test]
    fn roots_bind_job_status_fuel_length_and_runtime() {
        let job = Pubkey::new_from_array([7; 32]);
        let out = output(10_000);
        let base = ResultSummary::new("wasi-p1", ExitStatus::Exited(0), 1_000, &out);
        let variants = [
            ResultSummary {
                status: ExitStatus::Exited(1),
                ..base.clone()
            },
            ResultSummary {
                status: ExitStatus::OutOfFuel,
                ..base.clone()
            },
            ResultSummary {
                fuel_used: 1_001,
                ..base.clone()
            },
            ResultSummary {
                output_len: 9_999,
                ..base.clone()
            },
            ResultSummary {
                runtime: "wasi-p2".into(),
                ..base.clone()
            },
            ResultSummary::new("wasi-p1", ExitStatus::Exited(0), 1_000, &out[..9_999]),
        ];
        for v in variants {
            assert_ne!(v.root(&job), base.root(&job), "{v:?}");
        }
        assert_eq!(
            base.root(&job),
            ResultSummary::new("wasi-p1", ExitStatus::Exited(0), 1_000, &out).root(&job)
        );
        // the same output for another job has another root: an earlier job's root cannot be
        // copied
        assert_ne!(base.root(&job), base.root(&Pubkey::new_from_array([8; 32])));
        // the empty output has its own root, distinct from any chunk's
        assert_ne!(data_root(&[]), data_root(&[0]));
    }

    #[test]
    fn the_program_opens_what_the_client_roots() {
        use compute_market::state::{single_chunk_root, MAX_DELIVERED_OUTPUT};
        let job = Pubkey::new_from_array([7; 32]);
        for len in [0, 1, 3, MAX_DELIVERED_OUTPUT as usize, CHUNK_SIZE] {
            let out = output(len);
            assert_eq!(single_chunk_root(&out), data_root(&out), "len {len}");
        }
        for (len, status) in [
            (3, ExitStatus::Exited(0)),
            (0, ExitStatus::Exited(-2)),
            (MAX_DELIVERED_OUTPUT as usize, ExitStatus::OutOfFuel),
            (MAX_DELIVERED_OUTPUT as usize + 1, ExitStatus::Trapped),
            (3 * CHUNK_SIZE, ExitStatus::OutputLimit),
        ] {
            let out = output(len);
            let s = ResultSummary::new("wasi-p1v2", status, 77, &out);
            let opening = s.opening(&out);
            assert_eq!(opening.output.len(), if len <= 512 { len } else { 0 });
            opening.check(&job, &s.root(&job)).unwrap();
        }
        // the root as written out in the module docs, by hand
        let out = output(5);
        let s = ResultSummary::new("wasi-p1", ExitStatus::Exited(3), 9, &out);
        let mut h = Sha256::new();
        h.update(b"cmkt/result/v2");
        h.update(job.as_ref());
        h.update(b"wasi-p1");
        h.update([0u8, 0]);
        h.update(3i64.to_le_bytes());
        h.update(9u64.to_le_bytes());
        h.update(5u64.to_le_bytes());
        h.update(data_root(&out));
        assert_eq!(s.root(&job), <[u8; 32]>::from(h.finalize()));
    }

    #[test]
    fn proofs_round_trip_through_json() {
        let out = output(3 * CHUNK_SIZE);
        let p = prove_chunk(&out, 2).unwrap();
        let back: ChunkProof = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(p, back);
    }
}
