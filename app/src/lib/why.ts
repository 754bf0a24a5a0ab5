/**
 * "Why is nobody taking my job?": for an open job, what stands between each staked provider of
 * the market and a claim, in the order a worker checks, from what the program keeps (stake, the
 * job's expiries, eligibility) and what each provider's worker publishes (`publish_offer`). The
 * same rules as `client/src/why.rs` (`cmkt job why`), checked against the same vectors
 * (`test/vectors/why.json`).
 */
import type { PublicKey } from "@solana/web3.js";
import type { Job, MarketConfig, Provider, ProviderOffer } from "./market";
import type { Manifest } from "./manifest";
import { priceAt, reachesAt } from "./price";
import { bonded, eligibleFrom } from "./sortition";

/** A provider whose worker has not published within this many seconds is taken to be offline. */
export const OFFLINE_AFTER_SECS = 1_800;
/** The capability bit of each runtime (`manifest::capability_bit`). */
export const CAPABILITY_BITS: Record<string, bigint> = { "wasi-p1": 1n, "wasi-p1v2": 2n, "wasi-p1v3": 4n };
const MAX_EXPIRED_CLAIMS = 16;

export type Reason =
  | { reason: "paused" }
  | { reason: "expiry_limit" }
  | { reason: "holds" }
  | { reason: "expired_before" }
  | { reason: "stake"; bonded: bigint; min_stake: bigint }
  | { reason: "free_stake"; free: bigint; collateral: bigint }
  | { reason: "unpublished" }
  | { reason: "offline"; last_seen: number }
  | { reason: "runtime"; runtime: string }
  | { reason: "limits"; what: string; asked: bigint; max: bigint }
  | { reason: "price"; floor: bigint; max: bigint }
  | { reason: "too_late"; floor: bigint; at: number }
  | { reason: "waits_for_price"; floor: bigint; at: number }
  | { reason: "turn"; from: bigint }
  | { reason: "seed_ahead" }
  | { reason: "ready"; price: bigint };

/** The group a reason is counted in (`Reason::label`). */
export function label(r: Reason): string {
  switch (r.reason) {
    case "paused":
      return "market paused";
    case "expiry_limit":
      return "too many expired claims";
    case "holds":
      return "holds a slot";
    case "expired_before":
      return "claim expired before";
    case "stake":
    case "free_stake":
      return "stake";
    case "unpublished":
      return "no offer published";
    case "offline":
      return "offline";
    case "runtime":
      return "runtime";
    case "limits":
      return "limits";
    case "price":
    case "too_late":
      return "price";
    case "waits_for_price":
      return "waits for its price";
    case "turn":
    case "seed_ahead":
      return "eligibility window";
    case "ready":
      return "would take it now";
  }
}

/** Where the chain stands: unix time, slot, the job's seed if known, whether the market is paused. */
export interface Now {
  time: number;
  slot: bigint;
  seed: Uint8Array | null;
  paused: boolean;
}

/** A provider's price floor for a manifest's limits (`ProviderOffer::floor`). */
export function floorOf(o: ProviderOffer, maxFuel: bigint, maxMemory: bigint): bigint {
  const ceil = (a: bigint, b: bigint) => (a + b - 1n) / b;
  const byUnits = ceil(maxFuel * o.pricePerGfuel, 1_000_000_000n) + ceil(maxMemory, 1n << 20n) * o.pricePerMib;
  const capped = byUnits > 0xffff_ffff_ffff_ffffn ? 0xffff_ffff_ffff_ffffn : byUnits;
  return capped > o.minPrice ? capped : o.minPrice;
}

const held = (job: Job, owner: PublicKey) => job.slots.some((s) => s.state !== "free" && s.provider.equals(owner));
const count = (job: Job, state: string) => job.slots.filter((s) => s.state === state).length;

/** Why `p` would or would not claim `job` now. `manifest`: the job's manifest when it could be
 * read (otherwise limits and runtime are not checked and the floor is the provider's minimum). */
export function reason(job: Job, manifest: Manifest | null, config: Pick<MarketConfig, "minStake">, p: Provider, now: Now): Reason {
  if (now.paused) return { reason: "paused" };
  if (held(job, p.owner)) return { reason: "holds" };
  if (job.expired.length + count(job, "claimed") >= MAX_EXPIRED_CLAIMS) return { reason: "expiry_limit" };
  if (job.expired.some((e) => e.equals(p.owner))) return { reason: "expired_before" };
  const b = bonded(p);
  if (b < config.minStake) return { reason: "stake", bonded: b, min_stake: config.minStake };
  const free = b > p.locked ? b - p.locked : 0n;
  if (free < job.collateral) return { reason: "free_stake", free, collateral: job.collateral };
  if (p.lastSeen === 0) return { reason: "unpublished" };
  if (now.time - p.lastSeen > OFFLINE_AFTER_SECS) return { reason: "offline", last_seen: p.lastSeen };
  const o = p.offer;
  let floor = o.minPrice;
  if (manifest) {
    const bit = CAPABILITY_BITS[manifest.runtime];
    if (bit === undefined || (p.capabilities & bit) === 0n) return { reason: "runtime", runtime: manifest.runtime };
    for (const [what, asked, max] of [
      ["fuel", manifest.maxFuel, o.maxFuel],
      ["memory", manifest.maxMemory, o.maxMemory],
      ["output", manifest.maxOutput, o.maxOutput],
    ] as const) {
      if (asked > max) return { reason: "limits", what, asked, max };
    }
    floor = floorOf(o, manifest.maxFuel, manifest.maxMemory);
  }
  const reaches = reachesAt(job, floor);
  if (reaches === null) return { reason: "price", floor, max: job.rewardPerReplica };
  // the program wants the whole claim window before the commit deadline
  const at = Math.max(reaches, now.time);
  if (at + job.claimTimeout >= job.commitDeadline) return { reason: "too_late", floor, at };
  if (at > now.time) return { reason: "waits_for_price", floor, at };
  if (!now.seed) return { reason: "seed_ahead" };
  const from = eligibleFrom(job, now.seed, p.owner, b);
  if (from > now.slot) return { reason: "turn", from };
  return { reason: "ready", price: priceAt(job, now.time) };
}

/** Each provider's reason, in the order given. */
export const explain = (job: Job, manifest: Manifest | null, config: Pick<MarketConfig, "minStake">, providers: Provider[], now: Now) =>
  providers.map((p) => ({ provider: p.owner, reason: reason(job, manifest, config, p, now) }));

/** How many providers each group holds, in the order of first appearance. */
export function groups(reasons: { reason: Reason }[]): [string, number][] {
  const out = new Map<string, number>();
  for (const r of reasons) out.set(label(r.reason), (out.get(label(r.reason)) ?? 0) + 1);
  return [...out];
}

/** The smallest maximum that `missing` more providers would take the job at (the floors of the
 * ones priced out), or null when price is not what keeps them away. */
export function priceThatHelps(job: Job, reasons: { reason: Reason }[]): bigint | null {
  const free = count(job, "free");
  if (job.status !== "open" || free === 0) return null;
  const coming = reasons.filter((r) => ["ready", "turn", "seed_ahead", "waits_for_price"].includes(r.reason.reason)).length;
  if (coming >= free) return null;
  const floors = reasons
    .flatMap((r) => (r.reason.reason === "price" || r.reason.reason === "too_late" ? [r.reason.floor] : []))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const f = floors[Math.max(free - coming - 1, 0)];
  if (f === undefined) return null;
  return f > job.rewardPerReplica ? f : job.rewardPerReplica;
}
