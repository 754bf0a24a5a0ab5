//! `cargo run -p compute-market-idl` writes idl/compute_market.json;
//! `cargo run -p compute-market-idl -- --check` fails when the committed file is stale.

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => bail!("unknown argument {other:?}; usage: compute-market-idl [--check]"),
    };
    let idl = compute_market_idl::generate()?;
    let path = compute_market_idl::idl_path();
    if check {
        let committed = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if committed != idl {
            bail!(
                "{} is stale: run `cargo run -p compute-market-idl`",
                path.display()
            );
        }
        println!("{} is current", path.display());
    } else {
        std::fs::write(&path, idl).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
