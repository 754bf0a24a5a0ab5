//! `cmkt program deploy|show`: the program's sBPF binary on a cluster, through the upgradeable
//! BPF loader (loader-v3).
//!
//! A deploy writes the ELF into a buffer account, then deploys the buffer at a new program id
//! (`DeployWithMaxDataLen`) or upgrades an existing program with it (`Upgrade`, after an
//! `ExtendProgram` when the new ELF is larger). The buffer's keypair is kept in
//! `~/.config/cmkt/deploy/` (beside `--localnet-dir`) until the deploy succeeds, so an
//! interrupted deploy resumes: only the chunks the buffer does not hold yet are written again.

use crate::{out, settings::*, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::{
    deployment::{self, loader_ix, Deployment, UpgradeableLoaderState, BUFFER_HEADER, LOADER_V3},
    rpc::{Chain, PACKET_DATA_SIZE},
    Pubkey,
};
use serde_json::json;
use solana_sdk::signature::{Keypair, Signer};
use std::{
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Deploy the program, or upgrade it in place; the --keypair pays.
    Deploy {
        /// The ELF to deploy (default: the compute_market.so this cmkt was built with).
        so: Option<PathBuf>,
        /// Keypair of a new program id to deploy at (default: upgrade the program at
        /// --program-id).
        #[arg(long)]
        program_keypair: Option<PathBuf>,
        /// Upgrade authority keypair (default: --keypair).
        #[arg(long)]
        upgrade_authority: Option<PathBuf>,
        /// Bytes reserved for the program at a first deploy (default: the ELF's size; upgrades
        /// extend the program when they need more).
        #[arg(long)]
        max_len: Option<usize>,
    },
    /// Show the program deployed at --program-id and whether it is a given build.
    Show {
        /// Compare with this ELF (default: the compute_market.so this cmkt was built with).
        #[arg(long)]
        so: Option<PathBuf>,
    },
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    let chain = ctx.chain().await?;
    match cmd {
        Cmd::Show { so } => show(ctx, &chain, so.as_deref()).await,
        Cmd::Deploy {
            so,
            program_keypair,
            upgrade_authority,
            max_len,
        } => {
            let payer = ctx.settings.keypair()?;
            let authority = match &upgrade_authority {
                Some(path) => load_keypair(path)?,
                None => payer.insecure_clone(),
            };
            let program_keypair = program_keypair.as_deref().map(load_keypair).transpose()?;
            let elf = read_elf(so.as_deref())?;
            let program = match &program_keypair {
                Some(k) => k.pubkey(),
                None => chain.program,
            };
            let state = ctx
                .localnet_dir
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
                .join("deploy");
            let target = Target {
                program: &program,
                program_keypair: program_keypair.as_ref(),
                authority: &authority,
                max_len,
            };
            let d = deploy(&state, &chain, &payer, &target, &elf).await?;
            out::emit(ctx.format, &summary(&d, Some(&elf)), || {
                format!(
                    "program {} deployed: {} bytes, sha256 {}\n  programdata {}  upgrade authority {}  slot {}\n",
                    d.program,
                    d.elf().len(),
                    d.sha256(),
                    d.programdata,
                    authority_text(&d),
                    d.slot
                )
            })
        }
    }
}

/// The ELF at `path`, or the one this binary embeds.
fn read_elf(path: Option<&Path>) -> Result<Vec<u8>> {
    let elf = match path {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => compute_market_harness::PROGRAM_SO.to_vec(),
    };
    if deployment::elf_len(&elf).is_none() {
        bail!("not an ELF file (build one with scripts/build-sbf)");
    }
    Ok(elf)
}

fn authority_text(d: &Deployment) -> String {
    d.upgrade_authority
        .map_or_else(|| "none (immutable)".to_string(), |a| a.to_string())
}

fn summary(d: &Deployment, elf: Option<&[u8]>) -> serde_json::Value {
    json!({
        "program": d.program.to_string(),
        "programdata": d.programdata.to_string(),
        "upgrade_authority": d.upgrade_authority.map(|a| a.to_string()),
        "slot": d.slot,
        "reserved_bytes": d.data.len(),
        "elf_bytes": d.elf().len(),
        "sha256": d.sha256(),
        "matches": elf.map(|e| d.is(e)),
    })
}

async fn show(ctx: &Ctx, chain: &Chain, so: Option<&Path>) -> Result<()> {
    let d = chain
        .deployment(None)
        .await?
        .ok_or_else(|| anyhow!("no program is deployed at {}", chain.program))?;
    let elf = read_elf(so)?;
    let what = so.map_or_else(
        || "the compute_market.so this cmkt embeds".to_string(),
        |p| p.display().to_string(),
    );
    out::emit(ctx.format, &summary(&d, Some(&elf)), || {
        format!(
            "program            {}\nprogramdata        {}\nupgrade authority  {}\nlast deployed      slot {}\nELF                {} bytes ({} reserved)\nsha256             {}\nmatches            {}: {}\n",
            d.program,
            d.programdata,
            authority_text(&d),
            d.slot,
            d.elf().len(),
            d.data.len(),
            d.sha256(),
            what,
            if d.is(&elf) { "yes" } else { "no" }
        )
    })
}

/// Where (under `state`) the buffer keypair of a deploy of `elf` at `program` is kept until the
/// deploy is done.
fn buffer_keypair_path(state: &Path, program: &Pubkey, elf: &[u8]) -> PathBuf {
    state.join(format!(
        "{program}-{}-buffer.json",
        &deployment::sha256_hex(elf)[..16]
    ))
}

/// Prints `done/total` on one line of stderr (updated in place on a terminal, else every 10%).
fn progress(what: &'static str) -> impl FnMut(usize, usize) {
    let tty = std::io::stderr().is_terminal();
    let mut last = usize::MAX;
    move |done, total| {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        let mut err = std::io::stderr();
        if tty {
            let _ = write!(err, "\r{what}: {done}/{total} ({pct}%)");
            if done == total {
                let _ = writeln!(err);
            }
        } else if pct / 10 != last / 10 || (done == total && last != 100) {
            let _ = writeln!(err, "{what}: {done}/{total} ({pct}%)");
        }
        last = pct;
    }
}

/// Where a deploy goes.
pub struct Target<'a> {
    pub program: &'a Pubkey,
    /// The program's keypair, for a first deploy.
    pub program_keypair: Option<&'a Keypair>,
    pub authority: &'a Keypair,
    /// Bytes reserved at a first deploy (default: the ELF's size).
    pub max_len: Option<usize>,
}

/// Deploys `elf` at the target's program (a new program when its keypair is given and nothing is
/// deployed there yet, else an upgrade signed by the authority), paid by `payer`, and returns
/// what the cluster then holds there. `state` keeps the buffer keypairs of unfinished deploys.
pub async fn deploy(
    state: &Path,
    chain: &Chain,
    payer: &Keypair,
    target: &Target<'_>,
    elf: &[u8],
) -> Result<Deployment> {
    let Target {
        program,
        program_keypair,
        authority,
        max_len,
    } = *target;
    if !deployment::declares(elf, program) {
        bail!(
            "this ELF does not declare program id {program}, so the program would refuse every instruction there; build it for that id with `scripts/build-sbf --program-id {program}`"
        );
    }
    if stack_layout_without_gaps(chain).await? {
        bail!(
            "{} has feature virtual_address_space_adjustments active: its VM lays sBPF v0 stack frames out without gaps, and scripts/build-sbf links for the layout with gaps (mainnet's); calls with more than five arguments would read garbage there",
            chain.url()
        );
    }
    let buffer_keypair = buffer_keypair_path(state, program, elf);
    let existing = chain.deployment(Some(program)).await?;
    match (&existing, program_keypair) {
        (Some(d), _) if d.is(elf) => {
            eprintln!("{program} already runs this ELF: nothing to deploy");
            if let Ok(kp) = solana_sdk::signature::read_keypair_file(&buffer_keypair) {
                if chain.account(&kp.pubkey()).await?.is_some() {
                    eprintln!(
                        "an earlier buffer of this deploy is left at {}: {}",
                        kp.pubkey(),
                        close_hint(&kp.pubkey())
                    );
                }
            }
            return Ok(existing.expect("matched Some"));
        }
        (Some(d), _) => match d.upgrade_authority {
            None => bail!("{program} is immutable: it has no upgrade authority"),
            Some(a) if a != authority.pubkey() => bail!(
                "the upgrade authority of {program} is {a}, not {}: pass --upgrade-authority",
                authority.pubkey()
            ),
            Some(_) => {}
        },
        (None, None) => bail!(
            "nothing is deployed at {program}: pass --program-keypair FILE to deploy a new program"
        ),
        (None, Some(_)) => {
            if chain.account(program).await?.is_some() {
                bail!(
                    "{program} holds an account that is not a program: use another program keypair"
                );
            }
        }
    }

    let buffer = write_buffer(&buffer_keypair, chain, payer, authority, elf).await?;
    check_buffer(chain, &buffer, elf).await?;
    let rent = |len: usize| async move {
        chain
            .rpc
            .get_minimum_balance_for_rent_exemption(len)
            .await
            .context("RPC getMinimumBalanceForRentExemption")
    };
    match existing {
        None => {
            let program_keypair = program_keypair.expect("checked above");
            let max_len = max_len.unwrap_or(elf.len()).max(elf.len());
            let lamports = rent(UpgradeableLoaderState::size_of_program()).await?;
            let ixs = loader_ix::deploy_with_max_program_len(
                &payer.pubkey(),
                program,
                &buffer,
                &authority.pubkey(),
                lamports,
                max_len,
            )
            .map_err(|e| anyhow!("building the deploy instruction: {e}"))?;
            chain
                .send(&ixs, payer, &[program_keypair, authority])
                .await
                .context("deploying the buffer")?;
        }
        Some(d) => {
            if elf.len() > d.data.len() {
                let more = u32::try_from(elf.len() - d.data.len())?;
                let ix = loader_ix::extend_program(program, Some(&payer.pubkey()), more);
                chain
                    .send(&[ix], payer, &[])
                    .await
                    .context("extending the program for a larger ELF")?;
            }
            let ix = loader_ix::upgrade(program, &buffer, &authority.pubkey(), &payer.pubkey());
            chain
                .send(&[ix], payer, &[authority])
                .await
                .context("upgrading the program")?;
        }
    }
    let _ = std::fs::remove_file(&buffer_keypair);
    let d = chain
        .deployment(Some(program))
        .await?
        .ok_or_else(|| anyhow!("{program} vanished after the deploy"))?;
    if !d.is(elf) {
        bail!("the bytes deployed at {program} are not the ELF that was written");
    }
    // a program (re)deployed in a slot can be called from the next one
    chain
        .wait_past_slot(d.slot, std::time::Duration::from_secs(60))
        .await?;
    Ok(d)
}

/// Whether the cluster runs sBPF v0 programs with contiguous stack frames (the feature
/// `virtual_address_space_adjustments` is active), a layout this build is not linked for.
async fn stack_layout_without_gaps(chain: &Chain) -> Result<bool> {
    let id = agave_feature_set::virtual_address_space_adjustments::id();
    Ok(match chain.account(&id).await? {
        // a feature account holds bincode `Feature { activated_at: Option<Slot> }`
        Some(acc) => acc.owner == solana_sdk_ids::feature::ID && acc.data.first() == Some(&1),
        None => false,
    })
}

/// Fails unless the buffer at `buffer` holds exactly `elf`: what a deploy or upgrade would make
/// the program.
async fn check_buffer(chain: &Chain, buffer: &Pubkey, elf: &[u8]) -> Result<()> {
    let acc = chain
        .account(buffer)
        .await?
        .ok_or_else(|| anyhow!("buffer {buffer} vanished"))?;
    if acc.data.get(BUFFER_HEADER..) != Some(elf) {
        bail!("buffer {buffer} does not hold the ELF after the writes; run the deploy again to resume");
    }
    Ok(())
}

/// How to get a buffer's rent back.
fn close_hint(buffer: &Pubkey) -> String {
    format!("its authority can reclaim the rent with `solana program close {buffer}`")
}

/// Creates (or finds, when resuming) the buffer for `elf`, writes the chunks it does not hold
/// yet, and returns its address.
async fn write_buffer(
    path: &Path,
    chain: &Chain,
    payer: &Keypair,
    authority: &Keypair,
    elf: &[u8],
) -> Result<Pubkey> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let buffer = compute_market_localnet::load_or_create_keypair(path)?;
    let held = match chain.account(&buffer.pubkey()).await? {
        Some(acc) => {
            let ok = acc.owner == LOADER_V3
                && acc.data.len() == UpgradeableLoaderState::size_of_buffer(elf.len())
                && matches!(
                    bincode::deserialize(&acc.data[..BUFFER_HEADER]),
                    Ok(UpgradeableLoaderState::Buffer { authority_address: Some(a) }) if a == authority.pubkey()
                );
            if !ok {
                bail!(
                    "buffer {} (keypair {}) is not a buffer of this ELF with authority {}; delete the keypair file to start over ({})",
                    buffer.pubkey(),
                    path.display(),
                    authority.pubkey(),
                    close_hint(&buffer.pubkey())
                );
            }
            eprintln!("resuming with buffer {}", buffer.pubkey());
            acc.data[BUFFER_HEADER..].to_vec()
        }
        None => {
            let lamports = chain
                .rpc
                .get_minimum_balance_for_rent_exemption(UpgradeableLoaderState::size_of_buffer(
                    elf.len(),
                ))
                .await
                .context("RPC getMinimumBalanceForRentExemption")?;
            let ixs = loader_ix::create_buffer(
                &payer.pubkey(),
                &buffer.pubkey(),
                &authority.pubkey(),
                lamports,
                elf.len(),
            )
            .map_err(|e| anyhow!("building the buffer instructions: {e}"))?;
            chain
                .send(&ixs, payer, &[&buffer])
                .await
                .context("creating the buffer")?;
            vec![0; elf.len()]
        }
    };

    // the largest chunk a write transaction carries: the packet minus an empty write (whose
    // data length prefix grows by one byte once the data passes 127 bytes)
    let empty = loader_ix::write(&buffer.pubkey(), &authority.pubkey(), 0, vec![]);
    let chunk = PACKET_DATA_SIZE - chain.transaction_size(&[empty], &payer.pubkey()) - 1;
    let writes: Vec<_> = elf
        .chunks(chunk)
        .enumerate()
        .filter(|(i, bytes)| held[i * chunk..i * chunk + bytes.len()] != **bytes)
        .map(|(i, bytes)| {
            vec![loader_ix::write(
                &buffer.pubkey(),
                &authority.pubkey(),
                (i * chunk) as u32,
                bytes.to_vec(),
            )]
        })
        .collect();
    if let Some(first) = writes.first() {
        debug_assert!(chain.fits(first, &payer.pubkey()));
    }
    chain
        .send_all(&writes, payer, &[authority], progress("writing the buffer"))
        .await
        .context("writing the buffer")?;
    Ok(buffer.pubkey())
}
