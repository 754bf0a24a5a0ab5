//! `cmkt blob put|get`.

use crate::{out, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::manifest::{sha256, BlobRef, Manifest, MANIFEST_VERSION};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Upload a file; prints its sha256 and URL.
    Put { file: PathBuf },
    /// Download a blob by sha256 and check it.
    Get {
        hash: String,
        #[arg(long)]
        out: PathBuf,
    },
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()?)
}

/// Uploads a job's module and input, then its manifest for `runtime` (checked before upload);
/// returns the manifest and its URL.
pub async fn put_job(
    base: &str,
    module: &[u8],
    input: &[u8],
    args: Vec<String>,
    (max_fuel, max_memory, max_output): (u64, u64, u64),
    runtime: &str,
) -> Result<(Manifest, String)> {
    let module_uri = put(base, module.to_vec()).await?;
    let input_uri = put(base, input.to_vec()).await?;
    let manifest = Manifest {
        args,
        input: BlobRef::new(input, input_uri),
        max_fuel,
        max_memory,
        max_output,
        module: BlobRef::new(module, module_uri),
        runtime: runtime.into(),
        version: MANIFEST_VERSION,
    };
    manifest.validate().map_err(|e| anyhow!("{e}"))?;
    let uri = put(base, manifest.to_canonical()).await?;
    Ok((manifest, uri))
}

/// Uploads `bytes` to the blob store; returns its URL.
pub async fn put(base: &str, bytes: Vec<u8>) -> Result<String> {
    let url = format!("{base}/blobs/{}", hex::encode(sha256(&bytes)));
    let r = http()?
        .put(&url)
        .body(bytes)
        .send()
        .await
        .map_err(|e| anyhow!("blob store {base} is not reachable: {e}"))?;
    if !r.status().is_success() {
        bail!(
            "blob store refused the upload: {} {}",
            r.status(),
            r.text().await.unwrap_or_default().trim()
        );
    }
    Ok(url)
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    let base = ctx.blob_base()?;
    match cmd {
        Cmd::Put { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let hash = hex::encode(sha256(&bytes));
            let size = bytes.len();
            let url = put(&base, bytes).await?;
            out::emit(
                ctx.format,
                &json!({"sha256": hash, "size": size, "url": url}),
                || format!("{hash} {size} bytes\n{url}\n"),
            )
        }
        Cmd::Get { hash, out: path } => {
            let hash = hash.to_lowercase();
            if !compute_market_client::manifest::is_sha256_hex(&hash) {
                bail!("{hash:?} is not a sha256 in hex");
            }
            let url = format!("{base}/blobs/{hash}");
            let r = http()?
                .get(&url)
                .send()
                .await
                .map_err(|e| anyhow!("blob store {base} is not reachable: {e}"))?;
            if !r.status().is_success() {
                bail!("blob {hash}: {}", r.status());
            }
            let bytes = r.bytes().await?;
            if hex::encode(sha256(&bytes)) != hash {
                bail!("the blob store returned bytes that do not hash to {hash}");
            }
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            out::emit(
                ctx.format,
                &json!({"sha256": hash, "size": bytes.len(), "file": path}),
                || {
                    format!(
                        "{} bytes verified and written to {}\n",
                        bytes.len(),
                        path.display()
                    )
                },
            )
        }
    }
}
