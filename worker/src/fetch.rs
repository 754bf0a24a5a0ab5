//! Fetching job manifests, modules and inputs: `https://`, `http://`, `data:` and (only under
//! configured directories) `file://` URIs, each download size-capped and hash-checked before
//! use, and kept in a local cache by hash.

use compute_market_client::manifest::{
    sha256, BlobRef, Manifest, ManifestError, MAX_MANIFEST_BYTES,
};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

/// What the fetcher accepts.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    /// Largest module or input accepted.
    pub max_blob_bytes: u64,
    /// Time limit of one download.
    pub timeout: Duration,
    /// Directories `file://` URIs may point into; empty refuses every `file://` URI (a requester
    /// must not be able to read, or probe for, the provider's files).
    pub file_roots: Vec<PathBuf>,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            max_blob_bytes: 64 << 20,
            timeout: Duration::from_secs(60),
            file_roots: vec![],
        }
    }
}

/// Why a blob could not be used. A job whose blobs fail is skipped, never claimed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unsupported URI {0:?}")]
    Unsupported(String),
    #[error("{uri}: {size} bytes is more than the {max} allowed")]
    TooLarge { uri: String, size: u64, max: u64 },
    #[error("{uri}: the bytes hash to {actual}, not {expected}")]
    HashMismatch {
        uri: String,
        expected: String,
        actual: String,
    },
    #[error("{uri}: {message}")]
    Download { uri: String, message: String },
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("cache: {0}")]
    Cache(#[from] std::io::Error),
}

/// Downloads with caps, checks and a cache.
pub struct Fetcher {
    http: reqwest::Client,
    cache: PathBuf,
    policy: FetchPolicy,
}

impl Fetcher {
    pub fn new(cache: &Path, policy: FetchPolicy) -> Result<Self, FetchError> {
        std::fs::create_dir_all(cache)?;
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| FetchError::Download {
                uri: String::new(),
                message: e.to_string(),
            })?;
        Ok(Fetcher {
            http,
            cache: cache.to_path_buf(),
            policy,
        })
    }

    /// The manifest of a job, checked against its on-chain hash.
    pub async fn manifest(&self, uri: &str, hash: &[u8; 32]) -> Result<Manifest, FetchError> {
        let hex_hash = hex::encode(hash);
        let bytes = match self.cached(&hex_hash).await {
            Some(b) => b,
            None => self.get(uri, MAX_MANIFEST_BYTES as u64).await?,
        };
        let m = Manifest::from_bytes(&bytes, hash)?;
        self.store(&hex_hash, &bytes).await?;
        Ok(m)
    }

    /// A module or input named by a manifest, checked against its hash and size.
    pub async fn blob(&self, r: &BlobRef) -> Result<Vec<u8>, FetchError> {
        if r.size > self.policy.max_blob_bytes {
            return Err(FetchError::TooLarge {
                uri: r.uri.clone(),
                size: r.size,
                max: self.policy.max_blob_bytes,
            });
        }
        if let Some(b) = self.cached(&r.sha256).await {
            return Ok(b);
        }
        let bytes = self.get(&r.uri, r.size).await?;
        if !r.matches(&bytes) {
            return Err(FetchError::HashMismatch {
                uri: r.uri.clone(),
                expected: r.sha256.clone(),
                actual: hex::encode(sha256(&bytes)),
            });
        }
        self.store(&r.sha256, &bytes).await?;
        Ok(bytes)
    }

    /// A cached blob, re-checked against its name (a damaged file is dropped).
    async fn cached(&self, hex_hash: &str) -> Option<Vec<u8>> {
        let path = self.cache.join(hex_hash);
        let bytes = tokio::fs::read(&path).await.ok()?;
        if hex::encode(sha256(&bytes)) == hex_hash {
            Some(bytes)
        } else {
            let _ = tokio::fs::remove_file(&path).await;
            None
        }
    }

    async fn store(&self, hex_hash: &str, bytes: &[u8]) -> Result<(), FetchError> {
        let path = self.cache.join(hex_hash);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        let tmp = crate::journal::temporary_path(&path);
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    /// Reads at most `max` bytes from `uri`.
    async fn get(&self, uri: &str, max: u64) -> Result<Vec<u8>, FetchError> {
        let too_large = |size: u64| FetchError::TooLarge {
            uri: uri.to_string(),
            size,
            max,
        };
        let failed = |message: String| FetchError::Download {
            uri: uri.to_string(),
            message,
        };
        if let Some(rest) = uri.strip_prefix("data:") {
            let bytes =
                decode_data_uri(rest).ok_or_else(|| failed("malformed data: URI".into()))?;
            if bytes.len() as u64 > max {
                return Err(too_large(bytes.len() as u64));
            }
            return Ok(bytes);
        }
        if let Some(path) = uri.strip_prefix("file://") {
            let path = std::fs::canonicalize(path).map_err(|e| failed(e.to_string()))?;
            if !self.policy.file_roots.iter().any(|root| {
                std::fs::canonicalize(root)
                    .map(|r| path.starts_with(r))
                    .unwrap_or(false)
            }) {
                return Err(FetchError::Unsupported(format!(
                    "{uri} (file:// outside the allowed directories)"
                )));
            }
            let len = tokio::fs::metadata(&path)
                .await
                .map_err(|e| failed(e.to_string()))?
                .len();
            if len > max {
                return Err(too_large(len));
            }
            return tokio::fs::read(&path)
                .await
                .map_err(|e| failed(e.to_string()));
        }
        if !(uri.starts_with("https://") || uri.starts_with("http://")) {
            return Err(FetchError::Unsupported(uri.to_string()));
        }
        let mut resp = self
            .http
            .get(uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| failed(e.to_string()))?;
        if let Some(len) = resp.content_length().filter(|n| *n > max) {
            return Err(too_large(len));
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| failed(e.to_string()))? {
            if out.len() as u64 + chunk.len() as u64 > max {
                return Err(too_large(out.len() as u64 + chunk.len() as u64));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Decodes the part after `data:`: `[mediatype][;base64],payload`.
fn decode_data_uri(rest: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let (meta, payload) = rest.split_once(',')?;
    if meta.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()
    } else {
        percent_decode(payload)
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_decode() {
        assert_eq!(decode_data_uri(",hello%20world").unwrap(), b"hello world");
        assert_eq!(decode_data_uri("text/plain;base64,aGk=").unwrap(), b"hi");
        assert!(decode_data_uri("no-comma").is_none());
        assert!(decode_data_uri(",bad%zz").is_none());
        assert!(decode_data_uri(";base64,!!!").is_none());
    }
}
