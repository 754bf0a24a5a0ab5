//! Job manifests: canonical, content-addressed JSON describing what to run.
//!
//! The canonical form is `serde_json` output of [`Manifest`] with no whitespace; every struct
//! lists its fields in alphabetical order, so the bytes are unique for a given manifest. The
//! on-chain `manifest_hash` is the sha256 of those bytes, and a worker refuses a manifest whose
//! bytes are not canonical.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first runtime: a `wasm32-wasip1` module run by wasmtime (see the worker's sandbox,
/// `compute-sandbox`), NaNs canonicalised after every float instruction.
pub const RUNTIME_WASI_P1: &str = "wasi-p1";
/// `wasi-p1` with NaNs canonicalised only where their bits can be seen: the same outputs bit
/// for bit, other fuel counts, float-heavy modules faster.
pub const RUNTIME_WASI_P1V2: &str = "wasi-p1v2";
/// `wasi-p1v2` with fuel metering and the timeout compiled into the module instead of
/// wasmtime's fuel and epoch checks: the same outputs bit for bit, other fuel counts, loops
/// faster.
pub const RUNTIME_WASI_P1V3: &str = "wasi-p1v3";
/// The runtime new jobs ask for.
pub const DEFAULT_RUNTIME: &str = RUNTIME_WASI_P1V3;

/// The provider capability bit that says a worker runs `runtime` (`Provider::capabilities`):
/// bit 0 `wasi-p1`, bit 1 `wasi-p1v2`, bit 2 `wasi-p1v3`; `None` for a runtime without one.
pub fn capability_bit(runtime: &str) -> Option<u64> {
    match runtime {
        RUNTIME_WASI_P1 => Some(1),
        RUNTIME_WASI_P1V2 => Some(2),
        RUNTIME_WASI_P1V3 => Some(4),
        _ => None,
    }
}
/// Current manifest format version.
pub const MANIFEST_VERSION: u32 = 1;
/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 16 * 1024;
/// URI schemes a blob may be fetched from.
pub const URI_SCHEMES: &[&str] = &["https://", "http://", "file://", "data:"];

/// A content-addressed blob: its hash and size bind it, the URI only says where to look.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// Lower-case hex sha256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Where to fetch it.
    pub uri: String,
}

/// What to run. Fields are in alphabetical order (canonical JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Command-line arguments after the program name.
    pub args: Vec<String>,
    /// Bytes given on stdin.
    pub input: BlobRef,
    /// Fuel limit (wasmtime fuel units).
    pub max_fuel: u64,
    /// Linear memory limit in bytes.
    pub max_memory: u64,
    /// Output limit in bytes.
    pub max_output: u64,
    /// The module.
    pub module: BlobRef,
    /// Runtime id, e.g. `wasi-p1`.
    pub runtime: String,
    /// Manifest format version.
    pub version: u32,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest is {0} bytes, more than {MAX_MANIFEST_BYTES}")]
    TooLarge(usize),
    #[error("manifest hash mismatch: expected {expected}, got {actual}")]
    HashMismatch { expected: String, actual: String },
    #[error("manifest is not valid JSON of the expected shape: {0}")]
    Parse(String),
    #[error("manifest bytes are not in canonical form")]
    NotCanonical,
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

/// Whether `s` is a sha256 as the protocol writes it: 64 lower-case hex digits. Blob stores,
/// result servers and journals use it before a hash reaches a URL or a file name.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl BlobRef {
    /// A reference to `bytes` served at `uri`.
    pub fn new(bytes: &[u8], uri: impl Into<String>) -> Self {
        BlobRef {
            sha256: hex::encode(sha256(bytes)),
            size: bytes.len() as u64,
            uri: uri.into(),
        }
    }

    /// The hash as bytes.
    pub fn hash(&self) -> Result<[u8; 32], ManifestError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.sha256, &mut out)
            .map_err(|_| ManifestError::Invalid(format!("bad sha256 {:?}", self.sha256)))?;
        if self.sha256 != hex::encode(out) {
            return Err(ManifestError::Invalid(
                "sha256 must be lower-case hex".into(),
            ));
        }
        Ok(out)
    }

    /// Whether `bytes` are this blob.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.size && hex::encode(sha256(bytes)) == self.sha256
    }

    fn validate(&self, what: &str) -> Result<(), ManifestError> {
        self.hash()?;
        if !URI_SCHEMES.iter().any(|s| self.uri.starts_with(s)) {
            return Err(ManifestError::Invalid(format!(
                "{what} uri {:?} must start with one of {URI_SCHEMES:?}",
                self.uri
            )));
        }
        Ok(())
    }
}

impl Manifest {
    /// Canonical bytes.
    pub fn to_canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serializes")
    }

    /// sha256 of the canonical bytes: the on-chain `manifest_hash`.
    pub fn hash(&self) -> [u8; 32] {
        sha256(&self.to_canonical())
    }

    /// Checks limits and references.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.version != MANIFEST_VERSION {
            return Err(ManifestError::Invalid(format!(
                "unsupported version {}",
                self.version
            )));
        }
        if self.runtime.is_empty() || self.runtime.len() > 32 {
            return Err(ManifestError::Invalid(
                "runtime id must be 1..=32 bytes".into(),
            ));
        }
        if self.max_fuel == 0 || self.max_memory == 0 || self.max_output == 0 {
            return Err(ManifestError::Invalid("limits must be positive".into()));
        }
        self.module.validate("module")?;
        self.input.validate("input")
    }

    /// Parses manifest bytes fetched for an on-chain job: size, hash, shape, canonical form,
    /// then [`Manifest::validate`].
    pub fn from_bytes(bytes: &[u8], expected_hash: &[u8; 32]) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge(bytes.len()));
        }
        let actual = sha256(bytes);
        if &actual != expected_hash {
            return Err(ManifestError::HashMismatch {
                expected: hex::encode(expected_hash),
                actual: hex::encode(actual),
            });
        }
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Parse(e.to_string()))?;
        if m.to_canonical() != bytes {
            return Err(ManifestError::NotCanonical);
        }
        m.validate()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            args: vec!["--n".into(), "3".into()],
            input: BlobRef::new(b"hello", "data:,hello"),
            max_fuel: 1_000_000,
            max_memory: 16 << 20,
            max_output: 1 << 20,
            module: BlobRef::new(b"\0asm", "http://127.0.0.1:8901/blobs/x"),
            runtime: RUNTIME_WASI_P1.into(),
            version: MANIFEST_VERSION,
        }
    }

    #[test]
    fn canonical_bytes_round_trip_and_are_sorted() {
        let m = manifest();
        let bytes = m.to_canonical();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with(r#"{"args":["--n","3"],"input":{"sha256":"#),
            "{text}"
        );
        assert!(!text.contains(' '));
        assert_eq!(Manifest::from_bytes(&bytes, &m.hash()).unwrap(), m);
    }

    #[test]
    fn refuses_tampered_noncanonical_and_invalid_manifests() {
        let m = manifest();
        let bytes = m.to_canonical();
        let mut other = bytes.clone();
        other[10] ^= 1;
        assert!(matches!(
            Manifest::from_bytes(&other, &m.hash()),
            Err(ManifestError::HashMismatch { .. })
        ));
        let pretty = serde_json::to_vec_pretty(&m).unwrap();
        assert_eq!(
            Manifest::from_bytes(&pretty, &sha256(&pretty)),
            Err(ManifestError::NotCanonical)
        );
        let extra = br#"{"args":[],"evil":1}"#;
        assert!(matches!(
            Manifest::from_bytes(extra, &sha256(extra)),
            Err(ManifestError::Parse(_))
        ));
        for bad in [
            Manifest {
                max_fuel: 0,
                ..manifest()
            },
            Manifest {
                version: 2,
                ..manifest()
            },
            Manifest {
                module: BlobRef {
                    uri: "gopher://x".into(),
                    ..manifest().module
                },
                ..manifest()
            },
            Manifest {
                input: BlobRef {
                    sha256: "AB".repeat(32),
                    ..manifest().input
                },
                ..manifest()
            },
        ] {
            let b = bad.to_canonical();
            assert!(
                matches!(
                    Manifest::from_bytes(&b, &sha256(&b)),
                    Err(ManifestError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(matches!(
            Manifest::from_bytes(&big, &sha256(&big)),
            Err(ManifestError::TooLarge(_))
        ));
    }
}
