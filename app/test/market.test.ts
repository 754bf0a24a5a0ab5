import { sha256 } from "@noble/hashes/sha2";
import { BN } from "@anchor-lang/core";
import { Connection, Keypair, SystemProgram } from "@solana/web3.js";
import { describe, expect, it } from "vitest";
import idl from "../../idl/compute_market.json";
import { concat, equalBytes, i64le, u64le, utf8 } from "../src/lib/bytes";
import {
  isStrictMajority,
  jobAddress,
  jobSpace,
  ledgerAddress,
  MarketClient,
  MAX_EXPIRED_CLAIMS,
  minQuorum,
  settlementAddress,
  settlementSpace,
  type Job,
  type Market,
} from "../src/lib/market";
import { MARKET_CONFIG_LEN, MARKET_CONFIG_OFFSET, TERMS_DOMAIN, termsHash } from "../src/lib/terms";

// no request is sent: the client only encodes, decodes and builds here
const client = new MarketClient(new Connection("http://127.0.0.1:1"));
const key = () => Keypair.generate().publicKey;

const config = {
  minStake: 1_000_000_000n,
  collateralPerClaim: 100_000_000n,
  feeBps: 250,
  slashBountyBps: 1000,
  maxReplicas: 8,
  claimTimeout: 60,
  defaultCommitWindow: 300,
  maxCommitWindow: 86_400,
  revealWindow: 120,
  unstakeCooldown: 60,
};
type Config = typeof config;

/** A market account's bytes as the program writes them (the IDL's layout, through Anchor's coder). */
async function marketAccount(c: Config): Promise<Buffer> {
  const bn = (v: bigint | number) => new BN(v.toString());
  return client.program.coder.accounts.encode("market", {
    version: 1,
    bump: 254,
    escrowVaultBump: 253,
    stakeVaultBump: 252,
    paused: false,
    authority: key(),
    marketId: bn(7),
    paymentMint: key(),
    paymentTokenProgram: key(),
    stakeMint: key(),
    stakeTokenProgram: key(),
    escrowVault: key(),
    stakeVault: key(),
    treasury: key(),
    config: {
      minStake: bn(c.minStake),
      collateralPerClaim: bn(c.collateralPerClaim),
      feeBps: c.feeBps,
      slashBountyBps: c.slashBountyBps,
      maxReplicas: c.maxReplicas,
      claimTimeout: bn(c.claimTimeout),
      defaultCommitWindow: bn(c.defaultCommitWindow),
      maxCommitWindow: bn(c.maxCommitWindow),
      revealWindow: bn(c.revealWindow),
      unstakeCooldown: bn(c.unstakeCooldown),
    },
    reserved: new Array(64).fill(0),
  });
}

/** `borsh(MarketConfig)` written out field by field, as the Rust struct declares them. */
const borshConfig = (c: Config) =>
  concat(
    u64le(c.minStake),
    u64le(c.collateralPerClaim),
    Uint8Array.of(c.feeBps & 0xff, c.feeBps >> 8),
    Uint8Array.of(c.slashBountyBps & 0xff, c.slashBountyBps >> 8),
    Uint8Array.of(c.maxReplicas),
    i64le(BigInt(c.claimTimeout)),
    i64le(BigInt(c.defaultCommitWindow)),
    i64le(BigInt(c.maxCommitWindow)),
    i64le(BigInt(c.revealWindow)),
    i64le(BigInt(c.unstakeCooldown)),
  );

describe("the terms hash a post carries", () => {
  it("uses the program's domain separator", () => {
    expect(new TextDecoder().decode(TERMS_DOMAIN)).toBe("compute-market/terms/v1");
    expect(MARKET_CONFIG_OFFSET).toBe(277);
    expect(MARKET_CONFIG_LEN).toBe(61);
  });

  it("hashes the config's borsh bytes where the market account keeps them", async () => {
    const data = await marketAccount(config);
    const raw = data.subarray(MARKET_CONFIG_OFFSET, MARKET_CONFIG_OFFSET + MARKET_CONFIG_LEN);
    expect(equalBytes(raw, borshConfig(config))).toBe(true);
    expect(equalBytes(raw, client.program.coder.types.encode("marketConfig", client.program.coder.accounts.decode("market", data).config))).toBe(true);
    const expected = sha256(concat(utf8("compute-market/terms/v1"), borshConfig(config)));
    expect(equalBytes(termsHash(data), expected)).toBe(true);
    // a decoded market carries the hash of the bytes its terms were decoded from
    const m = client.decodeMarket(key(), data);
    expect(m.config.feeBps).toBe(config.feeBps);
    expect(equalBytes(m.termsHash, expected)).toBe(true);
  });

  it("changes with every field of the config, and with nothing else", async () => {
    const base = termsHash(await marketAccount(config));
    // another authority, mints and vaults: the same terms
    expect(equalBytes(termsHash(await marketAccount(config)), base)).toBe(true);
    for (const k of Object.keys(config) as (keyof Config)[]) {
      const changed = { ...config, [k]: typeof config[k] === "bigint" ? (config[k] as bigint) + 1n : (config[k] as number) + 1 };
      expect(equalBytes(termsHash(await marketAccount(changed)), base), k).toBe(false);
    }
  });

  it("refuses bytes too short to be a market", () => {
    expect(() => termsHash(new Uint8Array(300))).toThrow(/at least 338 bytes/);
  });
});

describe("the instructions a requester signs", () => {
  const market = async (): Promise<Market> => client.decodeMarket(key(), await marketAccount(config));

  it("post_job carries the reviewed market's terms hash, then no consumer", async () => {
    const m = await market();
    const requester = key();
    const ix = await client.postJobInstruction({
      market: m,
      requester,
      nonce: 42n,
      manifestHash: new Uint8Array(32).fill(9),
      manifestUri: "http://127.0.0.1/blobs/x",
      rewardPerReplica: 5n,
      minRewardPerReplica: 2n,
      rampDelay: 10,
      rampSeconds: 60,
      replicas: 3,
      quorum: 2,
      commitWindow: 0,
    });
    // the terms hash, then the consumer option's None tag
    expect(ix.data[ix.data.length - 1]).toBe(0);
    expect(equalBytes(ix.data.subarray(ix.data.length - 33, ix.data.length - 1), m.termsHash)).toBe(true);
    // the rising offer follows the maximum: min 2, start 10 s after the post, 60 s long
    const uri = 8 + 8 + 32 + 4 + "http://127.0.0.1/blobs/x".length;
    const view = new DataView(ix.data.buffer, ix.data.byteOffset);
    expect([0, 8, 16, 24].map((o) => view.getBigUint64(uri + o, true))).toEqual([5n, 2n, 10n, 60n]);
    const args = idl.types.find((t) => t.name === "JobPostArgs")!.type.fields!.map((f) => f.name);
    expect(args.slice(-2)).toEqual(["terms_hash", "consumer"]);
    expect(ix.keys[2].pubkey.equals(jobAddress(m.address, requester, 42n))).toBe(true);
    // every account in the IDL's order: the stake ledger, read only, scales the job's eligibility
    const names = idl.instructions.find((i) => i.name === "post_job")!.accounts.map((a) => a.name);
    expect(ix.keys.length).toBe(names.length);
    const at = (name: string) => ix.keys[names.indexOf(name)];
    expect(names.indexOf("stake_ledger")).toBe(names.indexOf("payment_mint") + 1);
    expect(at("stake_ledger").pubkey.equals(ledgerAddress(m.stakeVault))).toBe(true);
    expect(at("stake_ledger").isWritable).toBe(false);
    expect(at("escrow_ledger").pubkey.equals(ledgerAddress(m.escrowVault))).toBe(true);
    expect(at("escrow_ledger").isWritable).toBe(true);
    // the ledger PDA's seed is the program's
    const seed = idl.constants.find((c) => c.name === "SEED_LEDGER")!.value;
    expect(seed).toBe(JSON.stringify(Array.from(utf8("ledger"))).replace(/,/g, ", "));
    expect(at("payment_mint").pubkey.equals(m.paymentMint)).toBe(true);
    expect(at("escrow_vault").pubkey.equals(m.escrowVault)).toBe(true);
    expect(at("token_program").pubkey.equals(m.paymentTokenProgram)).toBe(true);
    expect(at("settlement").pubkey.equals(settlementAddress(jobAddress(m.address, requester, 42n)))).toBe(true);
  });

  it("cancel_job passes the settlement record it writes and the system program", async () => {
    const m = await market();
    const requester = key();
    const address = jobAddress(m.address, requester, 1n);
    const ix = await client.cancelJobInstruction(m, { address } as Job, requester);
    const names = idl.instructions.find((i) => i.name === "cancel_job")!.accounts.map((a) => a.name);
    expect(ix.keys.length).toBe(names.length);
    const at = (name: string) => ix.keys[names.indexOf(name)];
    expect(at("settlement").pubkey.equals(settlementAddress(address))).toBe(true);
    expect(at("settlement").isWritable).toBe(true);
    expect(at("system_program").pubkey.equals(SystemProgram.programId)).toBe(true);
    expect(at("job").pubkey.equals(address)).toBe(true);
    expect(at("escrow_ledger").pubkey.equals(ledgerAddress(m.escrowVault))).toBe(true);
    expect(at("escrow_ledger").isWritable).toBe(true);
  });
});

/**
 * A value of IDL type `t` with every field zero (the first variant of each enum), `vecs` entries
 * in each vec and `text` as each string: enough to lay out an account as the program does.
 */
function zeroValue(t: unknown, vecs: (field: string) => number, text: string, field = ""): unknown {
  if (typeof t === "string") {
    if (t === "pubkey") return key();
    if (t === "bytes") return Buffer.alloc(vecs(field));
    if (t === "bool") return false;
    if (t === "string") return text;
    return /^[ui](64|128)$/.test(t) ? new BN(0) : 0;
  }
  const o = t as { array?: [unknown, number]; vec?: unknown; option?: unknown; defined?: { name: string } };
  if (o.option !== undefined) return null;
  if (o.array) return new Array(o.array[1]).fill(0).map(() => zeroValue(o.array![0], vecs, text));
  if (o.vec) return new Array(vecs(field)).fill(0).map(() => zeroValue(o.vec, vecs, text));
  const def = idl.types.find((x) => x.name === o.defined!.name)!.type as {
    kind: string;
    fields?: { name: string; type: unknown }[];
    variants?: { name: string }[];
  };
  if (def.kind === "enum") return { [def.variants![0].name.charAt(0).toLowerCase() + def.variants![0].name.slice(1)]: {} };
  const camel = (n: string) => n.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
  return Object.fromEntries(def.fields!.map((f) => [camel(f.name), zeroValue(f.type, vecs, text, f.name)]));
}

/** Bytes of an account with its discriminator, through the coder's layout (its `encode` writes
 * into a 1000-byte buffer, too small for the larger jobs and settlements). */
function encodedLength(name: string, value: unknown): number {
  const layouts = (client.program.coder.accounts as unknown as {
    accountLayouts: Map<string, { layout: { encode(v: unknown, b: Buffer): number } }>;
  }).accountLayouts;
  return 8 + layouts.get(name)!.layout.encode(value, Buffer.alloc(10_240));
}

describe("account sizes", () => {
  it("match the accounts as the IDL lays them out", () => {
    for (const n of [1, 3, 8]) {
      const uri = "http://127.0.0.1:7878/blobs/" + "0".repeat(64);
      const job = zeroValue({ defined: { name: "Job" } }, (f) => (f === "slots" ? n : MAX_EXPIRED_CLAIMS), uri);
      expect(encodedLength("job", job), `job, n = ${n}`).toBe(jobSpace(n, uri.length));
      for (const expired of [0, 5, MAX_EXPIRED_CLAIMS]) {
        const s = zeroValue({ defined: { name: "Settlement" } }, (f) => (f === "verdicts" ? n : expired), "");
        expect(encodedLength("settlement", s), `settlement, n = ${n}, ${expired} expired`).toBe(settlementSpace(n, expired));
      }
    }
  });
});

describe("a job's consumer", () => {
  it("sizes the job and its settlement's delivery record as the IDL lays them out", () => {
    const uri = "data:,x";
    const consumer = { program: key(), dataPrefix: Buffer.alloc(8, 7), accounts: [{ pubkey: key(), writable: true }, { pubkey: key(), writable: false }] };
    const job = zeroValue({ defined: { name: "Job" } }, (f) => (f === "slots" ? 3 : MAX_EXPIRED_CLAIMS), uri) as Record<string, unknown>;
    job.consumer = consumer;
    expect(encodedLength("job", job)).toBe(jobSpace(3, uri.length, consumer));
    const s = zeroValue({ defined: { name: "Settlement" } }, (f) => (f === "verdicts" ? 3 : 2), "") as Record<string, unknown>;
    s.delivery = { consumer, deliveredSlot: new BN(9), deliveredAt: new BN(10), deliveredBy: key() };
    expect(encodedLength("settlement", s)).toBe(settlementSpace(3, 2, consumer));
  });

  it("decodes the consumer of a job and the delivery of a settlement", async () => {
    const program = key();
    const feed = key();
    const consumer = { program, dataPrefix: Buffer.from([1, 2, 3]), accounts: [{ pubkey: feed, writable: true }] };
    const job = zeroValue({ defined: { name: "Job" } }, (f) => (f === "slots" ? 1 : 0), "data:,x") as Record<string, unknown>;
    job.consumer = consumer;
    const j = client.decodeJob(key(), await client.program.coder.accounts.encode("job", job));
    expect(j.consumer!.program.equals(program)).toBe(true);
    expect(Array.from(j.consumer!.dataPrefix)).toEqual([1, 2, 3]);
    expect(j.consumer!.accounts[0].pubkey.equals(feed) && j.consumer!.accounts[0].writable).toBe(true);
    const by = key();
    const s = zeroValue({ defined: { name: "Settlement" } }, (f) => (f === "verdicts" ? 1 : 0), "") as Record<string, unknown>;
    s.delivery = { consumer, deliveredSlot: new BN(77), deliveredAt: new BN(1_750_000_000), deliveredBy: by };
    const d = client.decodeSettlement(key(), await client.program.coder.accounts.encode("settlement", s)).delivery!;
    expect([d.deliveredSlot, d.deliveredAt]).toEqual([77n, 1_750_000_000]);
    expect(d.deliveredBy.equals(by) && d.consumer.program.equals(program)).toBe(true);
    // no consumer: null, as the program writes None
    const plain = zeroValue({ defined: { name: "Job" } }, (f) => (f === "slots" ? 1 : 0), "data:,x");
    expect(client.decodeJob(key(), await client.program.coder.accounts.encode("job", plain)).consumer).toBeNull();
  });
});

describe("decoding a job", () => {
  it("reads the eligibility fields where the program writes them", async () => {
    const job = zeroValue({ defined: { name: "Job" } }, (f) => (f === "slots" ? 2 : 1), "data:,x") as Record<string, unknown>;
    Object.assign(job, {
      settlementDeposit: new BN(11),
      seedSlot: new BN("18446744073709551615"),
      seed: new Array(32).fill(0).map((_, i) => i + 1),
      stakeScale: new BN(123_456_789),
      minRewardPerReplica: new BN(5),
      rampStart: new BN(1_750_000_100),
      rampSeconds: new BN(300),
      reserved: new Array(8).fill(0xee),
    });
    const j = client.decodeJob(key(), await client.program.coder.accounts.encode("job", job));
    expect(j.seedSlot).toBe(2n ** 64n - 1n);
    expect(Array.from(j.seed)).toEqual(job.seed);
    expect(j.stakeScale).toBe(123_456_789n);
    expect(j.manifestUri).toBe("data:,x");
    expect([j.minRewardPerReplica, j.rampStart, j.rampSeconds]).toEqual([5n, 1_750_000_100, 300]);
    // seed_slot, seed and stake_scale sit between the settlement deposit and the reserved bytes,
    // then the rising offer's terms, carved out of the reserved bytes
    const fields = idl.types.find((t) => t.name === "Job")!.type.fields!.map((f) => f.name);
    expect(fields.slice(fields.indexOf("settlement_deposit"), fields.indexOf("reserved") + 1)).toEqual([
      "settlement_deposit", "seed_slot", "seed", "stake_scale", "min_reward_per_replica", "ramp_start", "ramp_seconds",
      "latest_commit_deadline", "reserved",
    ]);
  });
});

describe("quorum", () => {
  it("must be a strict majority of the replicas, as post_job requires", () => {
    for (const [k, n, ok] of [
      [1, 1, true], [1, 2, false], [2, 2, true], [1, 3, false], [2, 3, true], [3, 3, true],
      [2, 4, false], [3, 4, true], [3, 5, true], [6, 5, false], [0, 1, false],
    ] as const) {
      expect(isStrictMajority(k, n), `k = ${k}, n = ${n}`).toBe(ok);
    }
    expect([1, 2, 3, 4, 5, 8].map(minQuorum)).toEqual([1, 2, 2, 3, 3, 5]);
  });
});
