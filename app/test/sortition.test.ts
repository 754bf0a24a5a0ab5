import { createHash } from "node:crypto";
import { Keypair, PublicKey } from "@solana/web3.js";
import { describe, expect, it } from "vitest";
import { toHex, u64le } from "../src/lib/bytes";
import type { Job, Provider } from "../src/lib/market";
import {
  ELIGIBILITY_CAP_SLOTS,
  ELIGIBILITY_UNIT_SLOTS,
  eligibilityDelay,
  eligibleFrom,
  jobSeed,
  negLog2Q32,
  SEED_DELAY_SLOTS,
  SEED_DOMAIN,
  seedEntry,
  seedOf,
  ticket,
  TICKET_DOMAIN,
  turns,
} from "../src/lib/sortition";

const U64_MAX = 2n ** 64n - 1n;
const key = () => Keypair.generate().publicKey;

/** The SlotHashes sysvar's data for `entries` (newest first), each hash 32 bytes of its tag. */
function slotHashes(entries: [bigint, number][]): Uint8Array {
  const out = [...u64le(BigInt(entries.length))];
  for (const [slot, tag] of entries) out.push(...u64le(slot), ...new Array(32).fill(tag));
  return Uint8Array.from(out);
}

const entry = (slot: bigint, tag: number) => ({ slot, hash: new Uint8Array(32).fill(tag) });

describe("the constants", () => {
  it("are the program's, read from the IDL", () => {
    expect(new TextDecoder().decode(SEED_DOMAIN)).toBe("compute-market/seed/v1");
    expect(new TextDecoder().decode(TICKET_DOMAIN)).toBe("compute-market/ticket/v1");
    expect([SEED_DELAY_SLOTS, ELIGIBILITY_UNIT_SLOTS, ELIGIBILITY_CAP_SLOTS]).toEqual([2n, 2n, 150n]);
  });
});

// the cases of `state/sortition.rs`'s unit tests, one for one
describe("neg_log2_q32", () => {
  it("is exact to its precision", () => {
    expect(negLog2Q32(U64_MAX), "a ticket of 2^64 - 1 is -log2(1)").toBe(0n);
    expect(negLog2Q32(0n)).toBe(64n << 32n);
    expect(negLog2Q32((1n << 63n) - 1n), "one half").toBe(1n << 32n);
    expect(negLog2Q32((1n << 62n) - 1n), "one quarter").toBe(2n << 32n);
    for (const t of [1n, 12_345n, 1n << 40n, 3n << 61n, U64_MAX / 3n, U64_MAX - 1000n]) {
      const want = -Math.log2((Number(t) + 1) / 2 ** 64);
      const got = Number(negLog2Q32(t)) / 2 ** 32;
      expect(Math.abs(want - got), `t = ${t}: ${got} vs ${want}`).toBeLessThan(1e-8);
    }
  });

  it("has the program's low bits", () => {
    // from a literal transcription of the Rust to Python's integers, not from this code: the
    // squaring truncates, so these are not the nearest Q32.32 values (u64::MAX - 1000 is 1, not 0)
    for (const [t, want] of [
      [1n, 270_582_939_648n],
      [12_345n, 216_501_759_103n],
      [1n << 40n, 103_079_215_104n],
      [3n << 61n, 6_077_539_783n],
      [U64_MAX / 3n, 6_807_362_106n],
      [U64_MAX - 1000n, 1n],
      [0xdeadbeefcafebaben, 864_062_718n],
    ] as const) {
      expect(negLog2Q32(t), `t = ${t}`).toBe(want);
    }
  });

  it("takes only u64s", () => {
    expect(() => negLog2Q32(-1n)).toThrow(/not a u64/);
    expect(() => negLog2Q32(2n ** 64n)).toThrow(/not a u64/);
  });
});

describe("the eligibility delay", () => {
  it("scales with the stake share and is capped", () => {
    const half = (1n << 63n) - 1n; // -log2 = 1
    expect(eligibilityDelay(half, 100n, 100n), "all the stake, -log2 = 1: one unit").toBe(ELIGIBILITY_UNIT_SLOTS);
    expect(eligibilityDelay(half, 25n, 100n), "a quarter of the stake waits four times as long").toBe(
      4n * ELIGIBILITY_UNIT_SLOTS,
    );
    expect(eligibilityDelay(U64_MAX, 1n, 1_000_000n)).toBe(0n);
    expect(eligibilityDelay(0n, 1n, 1_000_000n)).toBe(ELIGIBILITY_CAP_SLOTS);
    expect(eligibilityDelay(half, 0n, 100n)).toBe(ELIGIBILITY_CAP_SLOTS);
  });

  it("rounds up", () => {
    // -log2 = 1 with a third of the stake: 3 × 2 = 6 slots exactly; a hair more stake, still 6
    const half = (1n << 63n) - 1n;
    expect(eligibilityDelay(half, 100n, 300n)).toBe(6n);
    expect(eligibilityDelay(half, 101n, 300n)).toBe(6n);
    expect(eligibilityDelay(half, 99n, 300n)).toBe(7n);
  });
});

describe("the seed entry", () => {
  it("is the first listed slot at or after the seed slot", () => {
    // newest first; slot 12 was skipped
    const d = slotHashes([[15n, 5], [14n, 4], [13n, 3], [11n, 1], [10n, 0]]);
    expect(seedEntry(d, 13n)).toEqual(entry(13n, 3));
    expect(seedEntry(d, 12n), "skipped: the next").toEqual(entry(13n, 3));
    expect(seedEntry(d, 15n)).toEqual(entry(15n, 5));
    expect(seedEntry(d, 16n), "not reached yet").toBeNull();
    expect(seedEntry(d, 3n), "aged out: the oldest").toEqual(entry(10n, 0));
    expect(seedEntry(slotHashes([]), 3n)).toBeNull();
    expect(seedEntry(Uint8Array.of(1, 2), 3n), "malformed").toBeNull();
    for (let n = 1n; n < 8n; n++) {
      const entries: [bigint, number][] = [];
      for (let s = n - 1n; s >= 0n; s--) entries.push([100n + 2n * s, Number(s)]);
      const d = slotHashes(entries);
      for (let want = 0n; want < n; want++) {
        expect(seedEntry(d, 100n + 2n * want)!.slot).toBe(100n + 2n * want);
        expect(seedEntry(d, 99n + 2n * want)!.slot).toBe(100n + 2n * want);
      }
    }
  });

  it("reads no further than the data holds, whatever the count says", () => {
    const d = slotHashes([[15n, 5], [14n, 4]]);
    d.set(u64le(1000n), 0);
    expect(seedEntry(d, 3n)).toEqual(entry(14n, 4));
    // and from a view into a larger buffer, as an RPC response's Buffer may be
    const big = new Uint8Array(d.length + 5);
    big.set(d, 5);
    expect(seedEntry(big.subarray(5), 15n)).toEqual(entry(15n, 5));
  });
});

describe("the seed and the ticket", () => {
  // an independent implementation of the definitions, with Node's sha256
  const nodeSeed = (job: Uint8Array, slot: bigint, hash: Uint8Array) => {
    const s = Buffer.alloc(8);
    s.writeBigUInt64LE(slot);
    return createHash("sha256").update("compute-market/seed/v1").update(job).update(s).update(hash).digest();
  };
  const nodeTicket = (seed: Uint8Array, owner: Uint8Array) =>
    createHash("sha256").update("compute-market/ticket/v1").update(seed).update(owner).digest().readBigUInt64LE(0);

  const job = new PublicKey(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
  const owner = new PublicKey(new Uint8Array(32).fill(0xab));
  const hash = new Uint8Array(32).fill(0x5a);

  it("match values computed with Node's crypto from the definitions", () => {
    // computed once with `node -e` and `crypto.createHash("sha256")`, not with this code
    const SEED = "c3fbbc3ec6dad6fdb2823fa14e5b739ae96944c871005dda5fa6584657791b9a";
    const TICKET = 5_225_522_847_889_356_071n;
    expect(nodeSeed(job.toBytes(), 123_456_789n, hash).toString("hex")).toBe(SEED);
    expect(toHex(jobSeed(job, 123_456_789n, hash))).toBe(SEED);
    expect(nodeTicket(Buffer.from(SEED, "hex"), owner.toBytes())).toBe(TICKET);
    expect(ticket(jobSeed(job, 123_456_789n, hash), owner)).toBe(TICKET);
    // its -log2 (transcribed Rust, in Python) and the delays it gives
    expect(negLog2Q32(TICKET)).toBe(7_815_633_149n);
    expect(eligibilityDelay(TICKET, 3_000_000_000n, 10_000_000_000n)).toBe(13n);
    expect(eligibilityDelay(TICKET, 1n, 1_000_000_000n)).toBe(ELIGIBILITY_CAP_SLOTS);
  });

  it("match the independent implementation for random inputs", () => {
    for (let i = 0; i < 20; i++) {
      const [j, o] = [key(), key()];
      const h = Uint8Array.from({ length: 32 }, () => Math.floor(Math.random() * 256));
      const slot = BigInt(Math.floor(Math.random() * 2 ** 40));
      const seed = jobSeed(j, slot, h);
      expect(toHex(seed)).toBe(nodeSeed(j.toBytes(), slot, h).toString("hex"));
      expect(ticket(seed, o)).toBe(nodeTicket(seed, o.toBytes()));
    }
  });
});

const job = (over: Partial<Job> = {}): Job =>
  ({ address: key(), market: key(), seedSlot: 100n, seed: new Uint8Array(32), stakeScale: 1000n, ...over }) as Job;
const provider = (market: PublicKey, stake: bigint, pendingUnstake = 0n): Provider =>
  ({ address: key(), market, owner: key(), stake, pendingUnstake }) as Provider;

describe("a job's seed", () => {
  it("is the fixed one once a claim fixed it, else the sysvar's", () => {
    const j = job({ seedSlot: 10n });
    const hashes = slotHashes([[10n, 7]]);
    expect(seedOf(j, hashes)).toEqual(jobSeed(j.address, 10n, new Uint8Array(32).fill(7)));
    expect(seedOf({ ...j, seed: new Uint8Array(32).fill(1) }, hashes)).toEqual(new Uint8Array(32).fill(1));
    expect(seedOf({ ...j, seed: new Uint8Array(32).fill(1) }, null), "a fixed seed needs no sysvar").toEqual(
      new Uint8Array(32).fill(1),
    );
    expect(seedOf({ ...j, seedSlot: 11n }, hashes), "slot 11 not reached").toBeNull();
  });
});

describe("the turns", () => {
  it("list the providers with the minimum stake bonded, earliest first", () => {
    const seed = new Uint8Array(32).fill(3);
    const j = job({ seed, stakeScale: 1000n });
    const ps = [
      provider(j.market, 100n),
      provider(j.market, 400n),
      provider(j.market, 500n, 450n), // 50 bonded: below the minimum
      provider(j.market, 99n),
      provider(key(), 1000n), // another market's
      provider(j.market, 300n, 100n),
    ];
    const t = turns(j, 100n, ps, null, 120n);
    expect(t.seed).toEqual(seed);
    expect(t.fixed).toBe(true);
    expect(t.slot).toBe(120n);
    const owners = (xs: { owner: PublicKey }[]) => xs.map((x) => x.owner.toBase58()).sort();
    expect(owners(t.providers)).toEqual(owners([ps[0], ps[1], ps[5]]));
    for (const p of t.providers) {
      const b = p.owner.equals(ps[5].owner) ? 200n : p.owner.equals(ps[1].owner) ? 400n : 100n;
      expect(p.bonded).toBe(b);
      expect(p.from).toBe(100n + eligibilityDelay(ticket(seed, p.owner), b, 1000n));
      expect(p.from).toBe(eligibleFrom(j, seed, p.owner, b));
    }
    expect(t.providers.map((p) => p.from)).toEqual(t.providers.map((p) => p.from).sort((a, b) => (a < b ? -1 : 1)));
  });

  it("wait for the seed slot", () => {
    const j = job({ seedSlot: 50n });
    const t = turns(j, 1n, [provider(j.market, 10n)], slotHashes([[49n, 1], [48n, 2]]), 49n);
    expect(t.seed).toBeNull();
    expect(t.fixed).toBe(false);
    expect(t.providers).toEqual([]);
    const later = turns(j, 1n, [provider(j.market, 10n)], slotHashes([[51n, 1], [49n, 2]]), 51n);
    expect(later.seed).toEqual(jobSeed(j.address, 51n, new Uint8Array(32).fill(1)));
    expect(later.fixed).toBe(false);
    expect(later.providers.length).toBe(1);
  });

  it("open for everyone by the cap, never past u64", () => {
    const j = job({ seedSlot: U64_MAX - 10n });
    expect(eligibleFrom(j, new Uint8Array(32).fill(9), key(), 0n)).toBe(U64_MAX);
    expect(eligibleFrom({ ...j, seedSlot: 7n }, new Uint8Array(32).fill(9), key(), 0n)).toBe(7n + ELIGIBILITY_CAP_SLOTS);
  });
});
