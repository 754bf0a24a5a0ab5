/**
 * `migrations/deploy.ts` (the Anchor deploy hook) against a real local chain: it creates the
 * market from a config, does nothing the second time, updates changed rules, refuses a config
 * that names other mints, and fails cleanly when the RPC endpoint is dead. `cmkt market show`
 * (the Rust client) reads what it made.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Connection, Keypair, PublicKey } from "@solana/web3.js";
import { Localnet, ROOT } from "./harness";

let net: Localnet;
const dir = mkdtempSync(join(tmpdir(), "cmkt-deploy-"));

function config(over: Record<string, unknown> = {}, rules: Record<string, unknown> = {}) {
  const path = join(dir, `market-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      market_id: 7,
      payment_mint: { keypair: join(dir, "payment-mint.json"), decimals: 6 },
      // the local chain's mint, by address: both forms of a mint
      stake_mint: net.info.mint,
      treasury: null,
      config: {
        min_stake: "500000000",
        collateral_per_claim: "50000000",
        fee_bps: 300,
        slash_bounty_bps: 1000,
        max_replicas: 5,
        claim_timeout: 120,
        default_commit_window: 600,
        max_commit_window: 86400,
        reveal_window: 300,
        unstake_cooldown: 3600,
        ...rules,
      },
      ...over,
    }),
  );
  return path;
}

function migrate(configPath: string, rpc = net.info.rpc_url) {
  const r = spawnSync(join(ROOT, "node_modules", ".bin", "tsx"), ["migrations/deploy.ts"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ANCHOR_PROVIDER_URL: rpc, ANCHOR_WALLET: net.wallet("requester"), MARKET_CONFIG: configPath },
    timeout: 120_000,
  });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

const ok = (configPath: string) => {
  const r = migrate(configPath);
  assert.equal(r.status, 0, r.err);
  return JSON.parse(r.out.split("\n").pop()!);
};

const show = (market: string) => JSON.parse(net.cmkt("requester", ["--output", "json", "market", "show", "--market", market]));

before(async () => {
  net = await Localnet.start("deploy");
});

after(async () => {
  await net?.stop();
  if (!process.env.CMKT_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

test("creates the market, then leaves it alone, then updates changed rules", () => {
  const first = ok(config());
  assert.equal(first.action, "created");
  const m = show(first.market);
  assert.equal(m.authority, first.authority);
  assert.equal(m.payment_mint, first.payment_mint);
  assert.notEqual(m.payment_mint, net.info.mint, "a new payment mint was created from the keypair file");
  assert.equal(m.stake_mint, net.info.mint);
  assert.equal(m.config.fee_bps, 300);
  assert.equal(m.config.max_replicas, 5);
  assert.equal(m.treasury, first.authority);

  assert.deepEqual(ok(config()), { ...first, action: "unchanged" });

  const changed = ok(config({}, { fee_bps: 400, reveal_window: 200 }));
  assert.equal(changed.action, "updated");
  assert.equal(changed.market, first.market);
  const after = show(first.market);
  assert.equal(after.config.fee_bps, 400);
  assert.equal(after.config.reveal_window, 200);
  assert.equal(after.config.claim_timeout, 120, "the rest of the rules stay");
  assert.equal(ok(config({}, { fee_bps: 400, reveal_window: 200 })).action, "unchanged");
});

test("runs the way anchor migrate runs it: required through ts-node, called with a provider", () => {
  const script = [
    'const anchor = require("@anchor-lang/core");',
    'const userScript = require("./migrations/deploy.ts");',
    "userScript(anchor.AnchorProvider.env()).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });",
  ].join("\n");
  const r = spawnSync(process.execPath, ["-r", "ts-node/register", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    env: {
      ...process.env,
      ANCHOR_PROVIDER_URL: net.info.rpc_url,
      ANCHOR_WALLET: net.wallet("requester"),
      MARKET_CONFIG: config({}, { fee_bps: 400, reveal_window: 200 }),
      TS_NODE_PROJECT: join(ROOT, "tsconfig.json"),
    },
    timeout: 180_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split("\n").pop()!).action, "unchanged");
});

test("refuses a config whose mints differ from the existing market's", () => {
  const r = migrate(config({ stake_mint: "So11111111111111111111111111111111111111112" }));
  assert.equal(r.status, 1);
  assert.match(r.err, /stakes in \w+, not So111.*use another market_id/);
  // `stake_mint: null` means "stake in the payment mint", which this market does not
  const same = migrate(config({ stake_mint: null }));
  assert.equal(same.status, 1);
  assert.match(same.err, /stakes in \w+, not \w+: use another market_id/);
  // a mint keypair file other than the one the market was made with
  const other = migrate(config({ payment_mint: { keypair: join(dir, "another-mint.json"), decimals: 6 } }));
  assert.equal(other.status, 1);
  assert.match(other.err, /exists but the payment mint keypair .* does not/);
});

test("refuses rules the program rejects, and creates nothing", async () => {
  const r = migrate(config({ market_id: 8 }, { fee_bps: 5000 }));
  assert.equal(r.status, 1);
  assert.match(r.err, /FeeTooHigh|0x1772|6002/);
  const authority = Keypair.fromSecretKey(Uint8Array.from(net.secretKey("requester"))).publicKey;
  const id = Buffer.alloc(8);
  id.writeBigUInt64LE(8n);
  const [market] = PublicKey.findProgramAddressSync(
    [Buffer.from("market"), authority.toBuffer(), id],
    new PublicKey(net.info.program_id),
  );
  assert.equal(await new Connection(net.info.rpc_url, "confirmed").getAccountInfo(market), null);
});

test("a dead RPC endpoint fails with a message, not a hang", () => {
  const r = migrate(config({ market_id: 9 }), "http://127.0.0.1:9");
  assert.equal(r.status, 1);
  assert.match(r.err, /deploy failed: .*(fetch failed|ECONNREFUSED)/);
});
