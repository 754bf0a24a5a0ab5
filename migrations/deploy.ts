/**
 * Anchor deploy hook: after `anchor deploy`, `anchor migrate` (or `npm run migrate`) creates the
 * market the config describes, idempotently.
 *
 * - The config is `migrations/market.json`, or the file `$MARKET_CONFIG` names. Amounts are in
 *   base units (strings, so they stay exact), times in seconds.
 * - A mint is an address, or `{ "keypair": path, "decimals": n }`: the keypair file is created
 *   when missing and the mint when it does not exist yet (the wallet is its mint authority).
 *   `stake_mint: null` stakes in the payment mint; `treasury: null` makes the wallet the treasury.
 * - The market is the PDA of the wallet and `market_id`. When it does not exist it is created;
 *   when its rules or treasury differ from the config they are updated; otherwise nothing is sent.
 *
 * Prints one JSON line: the market, its vaults and mints, and what was done
 * (`created` | `updated` | `unchanged`).
 */
import * as anchor from "@anchor-lang/core";
import { createMint, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID } from "@solana/spl-token";
import { Keypair, PublicKey } from "@solana/web3.js";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import idl from "../idl/compute_market.json";

type MintSpec = string | { keypair: string; decimals: number };

interface DeployConfig {
  market_id: number | string;
  payment_mint: MintSpec;
  stake_mint: MintSpec | null;
  treasury: string | null;
  config: {
    min_stake: string | number;
    collateral_per_claim: string | number;
    fee_bps: number;
    slash_bounty_bps: number;
    max_replicas: number;
    claim_timeout: number;
    default_commit_window: number;
    max_commit_window: number;
    reveal_window: number;
    unstake_cooldown: number;
  };
}

const ROOT = resolve(__dirname, "..");
const fromRoot = (p: string) => (isAbsolute(p) ? p : resolve(ROOT, p));
const u64 = (v: string | number) => new anchor.BN(String(v));

function loadOrCreateKeypair(path: string): Keypair {
  const file = fromRoot(path);
  if (existsSync(file)) return Keypair.fromSecretKey(Uint8Array.from(JSON.parse(readFileSync(file, "utf8"))));
  const k = Keypair.generate();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(Array.from(k.secretKey)), { mode: 0o600 });
  return k;
}

/** The mint's address and token program, creating it when the spec asks for a new one. */
async function resolveMint(provider: anchor.AnchorProvider, spec: MintSpec): Promise<{ mint: PublicKey; tokenProgram: PublicKey }> {
  const c = provider.connection;
  let mint: PublicKey;
  if (typeof spec === "string") {
    mint = new PublicKey(spec);
  } else {
    const k = loadOrCreateKeypair(spec.keypair);
    mint = k.publicKey;
    if (!(await c.getAccountInfo(mint))) {
      const payer = (provider.wallet as anchor.Wallet).payer;
      if (!payer) throw new Error("creating a mint needs a keypair wallet (ANCHOR_WALLET)");
      await createMint(c, payer, provider.wallet.publicKey, null, spec.decimals, k, { commitment: "confirmed" });
    }
  }
  const info = await c.getAccountInfo(mint);
  if (!info) throw new Error(`mint ${mint.toBase58()} does not exist on ${c.rpcEndpoint}`);
  if (!info.owner.equals(TOKEN_PROGRAM_ID) && !info.owner.equals(TOKEN_2022_PROGRAM_ID)) {
    throw new Error(`${mint.toBase58()} is not a token mint (owner ${info.owner.toBase58()})`);
  }
  return { mint, tokenProgram: info.owner };
}

const sameConfig = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  Object.keys(b).every((k) => String(a[k]) === String(b[k]));

async function deploy(provider: anchor.AnchorProvider, configPath = process.env.MARKET_CONFIG ?? "migrations/market.json") {
  anchor.setProvider(provider);
  const cfg = JSON.parse(readFileSync(fromRoot(configPath), "utf8")) as DeployConfig;
  const program = new anchor.Program(idl as anchor.Idl, provider);
  if (!(await provider.connection.getAccountInfo(program.programId))?.executable) {
    throw new Error(`program ${program.programId.toBase58()} is not deployed on ${provider.connection.rpcEndpoint}: run anchor deploy first`);
  }
  const authority = provider.wallet.publicKey;
  const marketId = u64(cfg.market_id);
  const [market] = PublicKey.findProgramAddressSync(
    [Buffer.from("market"), authority.toBuffer(), marketId.toArrayLike(Buffer, "le", 8)],
    program.programId,
  );
  const config = {
    minStake: u64(cfg.config.min_stake),
    collateralPerClaim: u64(cfg.config.collateral_per_claim),
    feeBps: cfg.config.fee_bps,
    slashBountyBps: cfg.config.slash_bounty_bps,
    maxReplicas: cfg.config.max_replicas,
    claimTimeout: u64(cfg.config.claim_timeout),
    defaultCommitWindow: u64(cfg.config.default_commit_window),
    maxCommitWindow: u64(cfg.config.max_commit_window),
    revealWindow: u64(cfg.config.reveal_window),
    unstakeCooldown: u64(cfg.config.unstake_cooldown),
  };
  const treasury = cfg.treasury ? new PublicKey(cfg.treasury) : authority;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const accounts = program.account as any;
  const existing = await accounts.market.fetchNullable(market);
  let action: "created" | "updated" | "unchanged";
  let payment: PublicKey;
  let stake: PublicKey;
  if (!existing) {
    const p = await resolveMint(provider, cfg.payment_mint);
    const s = cfg.stake_mint ? await resolveMint(provider, cfg.stake_mint) : p;
    await program.methods
      .initMarket({ marketId, treasury, config })
      .accountsPartial({
        authority,
        market,
        paymentMint: p.mint,
        stakeMint: s.mint,
        paymentTokenProgram: p.tokenProgram,
        stakeTokenProgram: s.tokenProgram,
      })
      // the blockhash and the simulation at one commitment: with the provider's defaults the
      // blockhash could be one the simulating bank did not know yet ("Blockhash not found")
      .rpc({ commitment: "confirmed", preflightCommitment: "confirmed" });
    [payment, stake, action] = [p.mint, s.mint, "created"];
  } else {
    [payment, stake] = [existing.paymentMint as PublicKey, existing.stakeMint as PublicKey];
    // mints cannot change; a config naming other mints is a mistake worth stopping for
    const want = (spec: MintSpec, what: string): PublicKey => {
      if (typeof spec === "string") return new PublicKey(spec);
      const file = fromRoot(spec.keypair);
      if (!existsSync(file)) {
        throw new Error(`market ${market.toBase58()} exists but the ${what} mint keypair ${file} does not: restore it, or name the mint by address`);
      }
      return loadOrCreateKeypair(spec.keypair).publicKey;
    };
    const wantPayment = want(cfg.payment_mint, "payment");
    const wantStake = cfg.stake_mint ? want(cfg.stake_mint, "stake") : wantPayment;
    if (!payment.equals(wantPayment)) {
      throw new Error(`market ${market.toBase58()} pays in ${payment.toBase58()}, not ${wantPayment.toBase58()}: use another market_id`);
    }
    if (!stake.equals(wantStake)) {
      throw new Error(`market ${market.toBase58()} stakes in ${stake.toBase58()}, not ${wantStake.toBase58()}: use another market_id`);
    }
    const rulesSame = sameConfig(existing.config, config);
    const treasurySame = (existing.treasury as PublicKey).equals(treasury);
    if (rulesSame && treasurySame) {
      action = "unchanged";
    } else {
      await program.methods
        .updateMarket({ config: rulesSame ? null : config, paused: null, treasury: treasurySame ? null : treasury })
        .accountsPartial({ authority, market })
        .rpc({ commitment: "confirmed", preflightCommitment: "confirmed" });
      action = "updated";
    }
  }
  const vault = (seed: string) => PublicKey.findProgramAddressSync([Buffer.from(seed), market.toBuffer()], program.programId)[0];
  const summary = {
    action,
    cluster: provider.connection.rpcEndpoint,
    market: market.toBase58(),
    authority: authority.toBase58(),
    market_id: marketId.toString(),
    payment_mint: payment.toBase58(),
    stake_mint: stake.toBase58(),
    escrow_vault: vault("escrow_vault").toBase58(),
    stake_vault: vault("stake_vault").toBase58(),
    treasury: treasury.toBase58(),
  };
  console.log(JSON.stringify(summary));
  return summary;
}

// `anchor migrate` loads this file and calls the exported function with its provider
module.exports = async (provider: anchor.AnchorProvider) => {
  await deploy(provider);
};
module.exports.deploy = deploy;

// `npm run migrate` / `tsx migrations/deploy.ts`: the provider from ANCHOR_PROVIDER_URL and ANCHOR_WALLET
if (require.main === module) {
  deploy(anchor.AnchorProvider.env()).catch((e) => {
    console.error(`deploy failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  });
}
