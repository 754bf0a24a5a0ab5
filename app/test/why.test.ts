import { PublicKey } from "@solana/web3.js";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fromHex } from "../src/lib/bytes";
import type { Manifest } from "../src/lib/manifest";
import type { Job, Provider } from "../src/lib/market";
import { explain, floorOf, groups, label, priceThatHelps, type Reason } from "../src/lib/why";

type S = Record<string, string>;
interface Case {
  name: string;
  job: S & { slots: { provider: string; state: string }[]; expired: string[] };
  manifest: S | null;
  min_stake: string;
  now: { time: string; slot: string; seed: string | null; paused: boolean };
  provider: S & { offer: S };
  reason: S;
  label: string;
}
const vectors = JSON.parse(readFileSync(new URL("./vectors/why.json", import.meta.url), "utf8")) as { cases: Case[] };

const job = (j: Case["job"]): Job =>
  ({
    address: new PublicKey(new Uint8Array(32).fill(9)),
    market: new PublicKey(j.market),
    status: j.status,
    slots: j.slots.map((s) => ({ provider: new PublicKey(s.provider), state: s.state })),
    expired: j.expired.map((e) => new PublicKey(e)),
    collateral: BigInt(j.collateral),
    rewardPerReplica: BigInt(j.reward_per_replica),
    minRewardPerReplica: BigInt(j.min_reward_per_replica),
    rampStart: Number(j.ramp_start),
    rampSeconds: Number(j.ramp_seconds),
    claimTimeout: Number(j.claim_timeout),
    commitDeadline: Number(j.commit_deadline),
    seedSlot: BigInt(j.seed_slot),
    stakeScale: BigInt(j.stake_scale),
  }) as unknown as Job;

const provider = (p: Case["provider"]): Provider =>
  ({
    market: new PublicKey(p.market),
    owner: new PublicKey(p.owner),
    stake: BigInt(p.stake),
    locked: BigInt(p.locked),
    pendingUnstake: BigInt(p.pending_unstake),
    capabilities: BigInt(p.capabilities),
    lastSeen: Number(p.last_seen),
    offer: {
      maxFuel: BigInt(p.offer.max_fuel),
      maxMemory: BigInt(p.offer.max_memory),
      maxOutput: BigInt(p.offer.max_output),
      minPrice: BigInt(p.offer.min_price),
      pricePerGfuel: BigInt(p.offer.price_per_gfuel),
      pricePerMib: BigInt(p.offer.price_per_mib),
    },
  }) as unknown as Provider;

const manifest = (m: S | null): Manifest | null =>
  m &&
  ({
    runtime: m.runtime,
    maxFuel: BigInt(m.max_fuel),
    maxMemory: BigInt(m.max_memory),
    maxOutput: BigInt(m.max_output),
  } as unknown as Manifest);

/** A reason with every number as a decimal string, as the vectors hold it. */
const flat = (r: Reason) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === "string" ? v : String(v)]));

describe("why a provider would or would not claim", () => {
  it("gives the client's reason on every generated case", () => {
    expect(vectors.cases.length).toBeGreaterThan(20);
    for (const c of vectors.cases) {
      const now = {
        time: Number(c.now.time),
        slot: BigInt(c.now.slot),
        seed: c.now.seed ? fromHex(c.now.seed) : null,
        paused: c.now.paused,
      };
      const [r] = explain(job(c.job), manifest(c.manifest), { minStake: BigInt(c.min_stake) }, [provider(c.provider)], now);
      expect(flat(r.reason), c.name).toEqual(c.reason);
      expect(label(r.reason), c.name).toBe(c.label);
    }
    // every reason is among them
    expect(new Set(vectors.cases.map((c) => c.reason.reason)).size).toBe(16);
  });

  it("prices a manifest's fuel and memory, never below the minimum", () => {
    const o = { maxFuel: 0n, maxMemory: 0n, maxOutput: 0n, minPrice: 10n, pricePerGfuel: 120n, pricePerMib: 5n };
    // 10^9 fuel at 120 and 16 MiB at 5; a part of a GFuel or a MiB counts whole
    expect(floorOf(o, 1_000_000_000n, 16n << 20n)).toBe(200n);
    expect(floorOf(o, 1n, 1n)).toBe(10n);
    expect(floorOf({ ...o, minPrice: 0n }, 1n, 1n)).toBe(6n);
  });

  it("names the price that brings the missing providers, and only when price keeps them away", () => {
    const c = vectors.cases.find((x) => x.name === "price")!;
    const j = job(c.job);
    const priced = [{ reason: { reason: "price", floor: 250n, max: 200n } as Reason }, { reason: { reason: "price", floor: 300n, max: 200n } as Reason }];
    expect(priceThatHelps(j, priced)).toBe(250n);
    expect(priceThatHelps(j, [...priced, { reason: { reason: "ready", price: 100n } }])).toBeNull();
    expect(groups(priced)).toEqual([["price", 2]]);
  });
});
