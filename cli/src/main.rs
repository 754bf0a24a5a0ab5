//! `cmkt`: the compute market's command line for requesters, providers, admins and auditors.

mod commands;
mod out;
mod settings;

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "cmkt",
    version,
    about = "Verified compute market on Solana",
    propagate_version = true
)]
pub struct Cli {
    /// JSON-RPC URL or moniker (localhost, devnet, ...); default from the Solana CLI config.
    #[arg(long, short = 'u', global = true, env = "CMKT_URL")]
    url: Option<String>,
    /// Keypair file that signs; default from the Solana CLI config.
    #[arg(long, short = 'k', global = true, env = "CMKT_KEYPAIR")]
    keypair: Option<PathBuf>,
    /// Solana CLI config file to read defaults from.
    #[arg(long, global = true, env = "CMKT_SOLANA_CONFIG")]
    config: Option<PathBuf>,
    /// Address of the program (its deployment on this cluster); default: the program of
    /// `cmkt localnet` when talking to it, else the id this build declares.
    #[arg(long, global = true, env = "CMKT_PROGRAM_ID")]
    program_id: Option<String>,
    /// Market address; default: the market of `cmkt localnet` when talking to it.
    #[arg(long, short = 'm', global = true, env = "CMKT_MARKET")]
    market: Option<String>,
    /// Blob store base URL for uploads; default: the one of `cmkt localnet`.
    #[arg(long, global = true, env = "CMKT_BLOB_URL")]
    blob_url: Option<String>,
    /// Directory of the local chain's keypairs and localnet.json.
    #[arg(long, global = true, env = "CMKT_LOCALNET_DIR")]
    localnet_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value = "table")]
    output: out::Format,
    #[command(subcommand)]
    command: commands::Command,
}

fn main() {
    // The embedded validator and runtime log at length (every transaction at debug level);
    // keep the terminal for the command's own output unless RUST_LOG asks for more.
    if std::env::var_os("RUST_LOG").is_none() {
        // SAFETY of set_var: nothing else runs yet in this process.
        std::env::set_var("RUST_LOG", "off");
    }
    let cli = Cli::parse();
    if let Err(e) = commands::run(cli) {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

/// Shared state of one invocation.
pub struct Ctx {
    pub settings: settings::Settings,
    pub format: out::Format,
    pub market: Option<String>,
    pub program_id: Option<String>,
    pub blob_url: Option<String>,
    pub localnet_dir: PathBuf,
}

impl Ctx {
    fn new(cli: &Cli) -> Self {
        Ctx {
            settings: settings::Settings::resolve(
                cli.url.as_deref(),
                cli.keypair.as_deref(),
                cli.config.as_deref(),
            ),
            format: cli.output,
            market: cli.market.clone(),
            program_id: cli.program_id.clone(),
            blob_url: cli.blob_url.clone(),
            localnet_dir: cli
                .localnet_dir
                .clone()
                .unwrap_or_else(settings::default_localnet_dir),
        }
    }
}
