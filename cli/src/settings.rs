//! Where the CLI connects and who signs: flags first, then the environment, then the Solana CLI
//! config (`~/.config/solana/cli/config.yml`), then the local chain written by `cmkt localnet`.
//! The parsing itself lives in `compute_market_client::config`, shared with the worker.

use anyhow::{anyhow, Result};
use compute_market_client::config::{self as shared, read_solana_config};
pub use compute_market_client::config::{default_localnet_dir, format_amount};
use solana_sdk::signature::Keypair;
use std::path::{Path, PathBuf};

/// Resolved connection settings.
pub struct Settings {
    pub url: String,
    pub keypair_path: PathBuf,
}

impl Settings {
    pub fn resolve(url: Option<&str>, keypair: Option<&Path>, config: Option<&Path>) -> Settings {
        let cfg_path = config
            .map(Path::to_path_buf)
            .unwrap_or_else(shared::default_solana_config);
        let cfg = read_solana_config(&cfg_path);
        let url = url
            .map(str::to_string)
            .or(cfg.json_rpc_url.clone())
            .unwrap_or_else(|| "http://127.0.0.1:8899".into());
        Settings {
            url: shared::normalize_url(&url),
            keypair_path: shared::keypair_path(keypair, &cfg),
        }
    }

    /// The signing keypair, with an error that says which file and why.
    pub fn keypair(&self) -> Result<Keypair> {
        load_keypair(&self.keypair_path)
    }
}

/// Reads a keypair file (Solana CLI JSON format).
pub fn load_keypair(path: &Path) -> Result<Keypair> {
    Ok(shared::load_keypair(path)?)
}

/// Parses a base58 address with a clear error naming the argument.
pub fn parse_pubkey(what: &str, s: &str) -> Result<solana_sdk::pubkey::Pubkey> {
    s.parse()
        .map_err(|_| anyhow!("{what} {s:?} is not a valid base58 address"))
}

/// Parses a token amount given in whole tokens (`12.5`) into base units.
pub fn parse_amount(s: &str, decimals: u8) -> Result<u64> {
    Ok(shared::parse_amount(s, decimals)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_solana_config() {
        let dir = std::env::temp_dir().join(format!("cmkt-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("config.yml");
        std::fs::write(
            &p,
            "json_rpc_url: \"http://127.0.0.1:9999\"\nkeypair_path: /tmp/k.json\n",
        )
        .unwrap();
        let s = Settings::resolve(None, None, Some(&p));
        assert_eq!(s.url, "http://127.0.0.1:9999");
        let s = Settings::resolve(Some("devnet"), Some(Path::new("/tmp/o.json")), Some(&p));
        assert_eq!(s.url, "https://api.devnet.solana.com");
        assert_eq!(s.keypair_path, PathBuf::from("/tmp/o.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
