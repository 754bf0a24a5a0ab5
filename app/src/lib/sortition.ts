/**
 * Stake-weighted slot eligibility: who may claim a job's slots, and from when, computed exactly
 * as `programs/compute-market/src/state/sortition.rs` checks it (and `cmkt job status` shows it):
 *
 * ```text
 * seed        = sha256(SEED_DOMAIN || job || u64le(s) || slot_hash(s))
 *               s: the first slot at or after job.seed_slot that the SlotHashes sysvar lists
 *               when the job's first claim lands
 * ticket(p)   = u64le(sha256(TICKET_DOMAIN || seed || p)[..8])      p: the provider's owner wallet
 * delay(p)    = min(ELIGIBILITY_CAP_SLOTS,
 *                   ceil(-log2((ticket + 1) / 2^64) × stake_scale × ELIGIBILITY_UNIT_SLOTS / bonded))
 * p may claim once the chain's slot ≥ seed_slot + delay(p)
 * ```
 *
 * Everything is bigint arithmetic, and `-log2` is the program's Q32.32 fixed point bit for bit:
 * a float would put a provider's turn a slot early or late near a window's edge.
 */
import { sha256 } from "@noble/hashes/sha2";
import type { PublicKey } from "@solana/web3.js";
import { concat, u64le } from "./bytes";
import type { Job, Provider } from "./market";
import { idlConstant } from "./terms";

const idlBytes = (name: string) => Uint8Array.from(JSON.parse(idlConstant(name)) as number[]);

/** `b"compute-market/seed/v1"` and `b"compute-market/ticket/v1"`, as the IDL lists them. */
export const SEED_DOMAIN = idlBytes("SEED_DOMAIN");
export const TICKET_DOMAIN = idlBytes("TICKET_DOMAIN");
/** Slots between a post and its seed slot, whose hash nobody knows when the post is signed. */
export const SEED_DELAY_SLOTS = BigInt(idlConstant("SEED_DELAY_SLOTS"));
/** Delay of a provider holding all the stake, with the median ticket. */
export const ELIGIBILITY_UNIT_SLOTS = BigInt(idlConstant("ELIGIBILITY_UNIT_SLOTS"));
/** After this many slots past the seed slot every staked provider may claim. */
export const ELIGIBILITY_CAP_SLOTS = BigInt(idlConstant("ELIGIBILITY_CAP_SLOTS"));

const U64_MAX = (1n << 64n) - 1n;
/** Bytes of one SlotHashes entry: `u64le(slot) || hash`. */
const SLOT_HASH_ENTRY = 40;

const readU64 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset + at, 8).getBigUint64(0, true);

/**
 * The entry of the SlotHashes sysvar (raw account data: `u64le(len)`, then entries newest first)
 * that seeds a job whose seed slot is `seedSlot`: the oldest listed slot at or after it. Null
 * while no listed slot has reached `seedSlot`; once `seedSlot` has dropped out of the list (512
 * slots, about 3 minutes) the oldest entry listed, as the program takes it.
 */
export function seedEntry(data: Uint8Array, seedSlot: bigint): { slot: bigint; hash: Uint8Array } | null {
  if (data.length < 8) return null;
  const listed = readU64(data, 0);
  const fits = BigInt(Math.floor((data.length - 8) / SLOT_HASH_ENTRY));
  const len = Number(listed < fits ? listed : fits);
  const slot = (i: number) => readU64(data, 8 + i * SLOT_HASH_ENTRY);
  if (len === 0 || slot(0) < seedSlot) return null;
  // entries are sorted newest first: find the last one whose slot is >= seedSlot
  let [lo, hi] = [0, len - 1];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (slot(mid) >= seedSlot) lo = mid;
    else hi = mid - 1;
  }
  const at = 8 + lo * SLOT_HASH_ENTRY;
  return { slot: slot(lo), hash: data.slice(at + 8, at + SLOT_HASH_ENTRY) };
}

/** The seed of the job at `job` from the SlotHashes entry `(slot, hash)`. */
export const jobSeed = (job: PublicKey, slot: bigint, hash: Uint8Array): Uint8Array =>
  sha256(concat(SEED_DOMAIN, job.toBytes(), u64le(slot), hash));

/** The lottery ticket of `owner` (a provider's owner wallet) in a job with `seed`. */
export function ticket(seed: Uint8Array, owner: PublicKey): bigint {
  const h = sha256(concat(TICKET_DOMAIN, seed, owner.toBytes()));
  return readU64(h, 0);
}

/**
 * `-log2((t + 1) / 2^64)` in Q32.32 fixed point (between 0 and 64 × 2^32), as the program
 * computes it: the integer part from the bit length, the fraction bit by bit by repeated squaring
 * of the mantissa in Q62 (truncating, so the low bits are the program's, not the exact log's).
 */
export function negLog2Q32(t: bigint): bigint {
  if (t < 0n || t > U64_MAX) throw new Error(`${t} is not a u64`);
  const v = t + 1n; // 1 ..= 2^64
  const int = BigInt(v.toString(2).length - 1); // floor(log2 v), 0 ..= 64
  // the mantissa v / 2^int in [1, 2), as Q62
  let y = int >= 62n ? v >> (int - 62n) : v << (62n - int);
  let frac = 0n;
  for (let bit = 31n; bit >= 0n; bit--) {
    y = (y * y) >> 62n;
    if (y >= 2n << 62n) {
      y >>= 1n;
      frac |= 1n << bit;
    }
  }
  return (64n << 32n) - ((int << 32n) | frac);
}

/** Slots after the seed slot from which a provider with `ticket` and `bonded` stake may claim,
 * in a job whose windows are scaled by `stakeScale` (at most `ELIGIBILITY_CAP_SLOTS`). */
export function eligibilityDelay(ticket: bigint, bonded: bigint, stakeScale: bigint): bigint {
  if (bonded === 0n) return ELIGIBILITY_CAP_SLOTS;
  const num = negLog2Q32(ticket) * stakeScale * ELIGIBILITY_UNIT_SLOTS;
  const den = bonded << 32n;
  const delay = (num + den - 1n) / den;
  return delay < ELIGIBILITY_CAP_SLOTS ? delay : ELIGIBILITY_CAP_SLOTS;
}

/** Stake that counts for eligibility: stake less pending withdrawals. */
export const bonded = (p: Provider): bigint => (p.stake > p.pendingUnstake ? p.stake - p.pendingUnstake : 0n);

/**
 * The job's seed: the one its first claim fixed, or the one the next claim would fix given the
 * SlotHashes sysvar's raw data (null while the seed slot is ahead, or when the sysvar was not
 * read). An unfixed seed is a forecast: once the seed slot ages out of the sysvar it moves with
 * every slot until a claim fixes it.
 */
export function seedOf(job: Job, slotHashes: Uint8Array | null): Uint8Array | null {
  if (job.seed.some((b) => b !== 0)) return job.seed;
  const e = slotHashes ? seedEntry(slotHashes, job.seedSlot) : null;
  return e ? jobSeed(job.address, e.slot, e.hash) : null;
}

/** The first slot in which `owner` with `bonded` stake could claim a job with `seed`, `seedSlot`
 * and `stakeScale`: what a settlement records, so every settled claim can be rechecked. */
export function turnSlot(seed: Uint8Array, seedSlot: bigint, stakeScale: bigint, owner: PublicKey, bonded: bigint): bigint {
  return seedSlot + eligibilityDelay(ticket(seed, owner), bonded, stakeScale);
}

/** The first slot in which `owner`, with `bonded` stake, may claim `job` with `seed`. */
export function eligibleFrom(job: Job, seed: Uint8Array, owner: PublicKey, bonded: bigint): bigint {
  const from = job.seedSlot + eligibilityDelay(ticket(seed, owner), bonded, job.stakeScale);
  return from < U64_MAX ? from : U64_MAX;
}

/** Who may claim an open job from when, as `cmkt job status` prints it. */
export interface Turns {
  /** Null while the seed slot is ahead. */
  seed: Uint8Array | null;
  /** Whether the first claim fixed the seed (otherwise the next claim fixes it). */
  fixed: boolean;
  /** The cluster's slot when it was read. */
  slot: bigint;
  /** Each provider of the market with at least the minimum stake bonded, earliest first. */
  providers: { owner: PublicKey; bonded: bigint; from: bigint }[];
}

/** The turns of `job` among `providers` (its market's), given the SlotHashes sysvar's data and
 * the current slot. */
export function turns(job: Job, minStake: bigint, providers: Provider[], slotHashes: Uint8Array | null, slot: bigint): Turns {
  const seed = seedOf(job, slotHashes);
  const staked = seed
    ? providers
        .filter((p) => p.market.equals(job.market) && bonded(p) >= minStake)
        .map((p) => ({ owner: p.owner, bonded: bonded(p), from: eligibleFrom(job, seed, p.owner, bonded(p)) }))
    : [];
  // earliest first; ties keep the order read, as the CLI's stable sort does
  staked.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  return { seed, fixed: job.seed.some((b) => b !== 0), slot, providers: staked };
}
