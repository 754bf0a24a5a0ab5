/**
 * The program's accounts as the app sees them: types with amounts as bigints, decoded from what
 * Anchor's coder reads with the committed IDL, and the sizes `Job::space` and
 * `Settlement::space` compute.
 */
import type { BN } from "@anchor-lang/core";
import type { PublicKey } from "@solana/web3.js";
import type { Ramp } from "./price";
import { idlConstant, termsHash } from "./terms";

/** Most expired claims one job records; a job account is posted with room for that many. */
export const MAX_EXPIRED_CLAIMS = Number(idlConstant("MAX_EXPIRED_CLAIMS"));

/** Account sizes, as `Job::space` and `Settlement::space` compute them (`Job::FIXED_SIZE`). */
const JOB_FIXED = 281;
const SLOT_SIZE = 129;
const SETTLEMENT_FIXED = 383;
const VERDICT_SIZE = 113;
/** Bytes of a consumer (`Consumer::size`), and what a settlement adds for its delivery record. */
export const consumerSize = (c: Consumer) => 32 + 4 + c.dataPrefix.length + 4 + c.accounts.length * 33;
const DELIVERY_RECORD = 8 + 8 + 32;
export const jobSpace = (replicas: number, uriLen: number, consumer: Consumer | null = null) =>
  JOB_FIXED + 4 + uriLen + 4 + replicas * SLOT_SIZE + 4 + MAX_EXPIRED_CLAIMS * 32 + 1 + (consumer ? consumerSize(consumer) : 0);
export const settlementSpace = (replicas: number, expired: number, consumer: Consumer | null = null) =>
  SETTLEMENT_FIXED + 4 + replicas * VERDICT_SIZE + 4 + expired * 32 + 1 + (consumer ? consumerSize(consumer) + DELIVERY_RECORD : 0);
/** Lamports per signature on every cluster today. */
export const SIGNATURE_FEE = 5000n;
export const MAX_MANIFEST_URI_LEN = 200;

export type SlotState = "free" | "claimed" | "committed" | "revealed";
export type Verdict = "unclaimed" | "agreed" | "dissented" | "unverified" | "withheld" | "absent";
export type Outcome = "verified" | "noQuorum" | "cancelled";

/**
 * Whether a quorum of `k` agreeing results is a strict majority of `n` replicas (`n / 2 < k <= n`),
 * as `post_job` requires: below a majority two different roots could each reach the quorum, and a
 * 1–1 split of n = 2, k = 1 would void the job with nobody at fault.
 */
export const isStrictMajority = (k: number, n: number) => Number.isInteger(k) && k <= n && 2 * k > n;
/** The smallest quorum allowed for `n` replicas. */
export const minQuorum = (n: number) => Math.floor(n / 2) + 1;

export interface MarketConfig {
  minStake: bigint;
  collateralPerClaim: bigint;
  feeBps: number;
  slashBountyBps: number;
  maxReplicas: number;
  claimTimeout: number;
  defaultCommitWindow: number;
  maxCommitWindow: number;
  revealWindow: number;
  unstakeCooldown: number;
}

export interface Market {
  address: PublicKey;
  authority: PublicKey;
  marketId: bigint;
  paused: boolean;
  paymentMint: PublicKey;
  paymentTokenProgram: PublicKey;
  stakeMint: PublicKey;
  stakeTokenProgram: PublicKey;
  escrowVault: PublicKey;
  stakeVault: PublicKey;
  treasury: PublicKey;
  config: MarketConfig;
  /** `terms_hash` of the account bytes `config` was decoded from: what a post built with this
   * market accepts (`post_job` refuses it with `TermsChanged` once the terms changed). */
  termsHash: Uint8Array;
}

/** A program a job's result is delivered to (`deliver_result`), with the accounts it needs. */
export interface Consumer {
  program: PublicKey;
  dataPrefix: Uint8Array;
  accounts: { pubkey: PublicKey; writable: boolean }[];
}

/** A settlement's consumer and whether a delivery to it succeeded (slot 0: not yet). */
export interface Delivery {
  consumer: Consumer;
  deliveredSlot: bigint;
  deliveredAt: number;
  deliveredBy: PublicKey;
}

export interface Slot {
  provider: PublicKey;
  state: SlotState;
  claimedAt: number;
  commitment: Uint8Array;
  resultRoot: Uint8Array;
  /** What the slot earns if it agrees (before the fee): the job's price at the claim. */
  price: bigint;
}

export interface Job extends Ramp {
  address: PublicKey;
  market: PublicKey;
  status: "open" | "full" | "revealing";
  replicas: number;
  quorum: number;
  requester: PublicKey;
  nonce: bigint;
  manifestHash: Uint8Array;
  manifestUri: string;
  escrow: bigint;
  feeBps: number;
  collateral: bigint;
  createdAt: number;
  commitDeadline: number;
  revealDeadline: number;
  /** Collateral slashed from expired claims so far: `collateral × expired.length`. */
  expiredSlashed: bigint;
  /** The eligibility seed comes from the first slot at or after this one (`lib/sortition`). */
  seedSlot: bigint;
  /** The eligibility seed, fixed by the first claim; all zero until then. */
  seed: Uint8Array;
  /** Stake that scales the eligibility windows: what the stake vault's ledger booked at posting. */
  stakeScale: bigint;
  slots: Slot[];
  /** Owners of the providers whose claims expired, in order; each lost `collateral` and may
   * not claim this job again. */
  expired: PublicKey[];
  /** Seconds a claimer has to commit. */
  claimTimeout: number;
  /** The latest commit deadline an extension may set (the market's longest window at the post). */
  latestCommitDeadline: number;
  /** The program the result goes to once the job settled, if any. */
  consumer: Consumer | null;
}

export interface SlotVerdict {
  provider: PublicKey;
  verdict: Verdict;
  resultRoot: Uint8Array;
  paid: bigint;
  slashed: bigint;
  /** Chain slot of the provider's claim (0 if unclaimed). */
  claimedSlot: bigint;
  /** The provider's stake less pending withdrawals at the claim, which set its turn. */
  bonded: bigint;
  /** Unix time of the claim (0 if unclaimed). */
  claimedAt: number;
  /** The price the claim locked: the job's ramp at `claimedAt`. */
  price: bigint;
}

export interface Settlement extends Ramp {
  address: PublicKey;
  market: PublicKey;
  outcome: Outcome;
  replicas: number;
  quorum: number;
  job: PublicKey;
  requester: PublicKey;
  nonce: bigint;
  manifestHash: Uint8Array;
  resultRoot: Uint8Array;
  feeBps: number;
  escrow: bigint;
  totalPaid: bigint;
  fee: bigint;
  refund: bigint;
  totalSlashed: bigint;
  bounty: bigint;
  /** `collateral × expired.length`, slashed before settlement by `expire_claim`. */
  expiredSlashed: bigint;
  /** Collateral per claim of the job. */
  collateral: bigint;
  /** Who finalized; the requester for a cancelled job. */
  finalizer: PublicKey;
  settledSlot: bigint;
  settledAt: number;
  /** The job's eligibility seed, seed slot and stake scale: with each verdict's `bonded`, the
   * slot from which its provider could claim. */
  seed: Uint8Array;
  seedSlot: bigint;
  stakeScale: bigint;
  verdicts: SlotVerdict[];
  /** Owners of the providers whose claims expired before settlement; each lost `collateral`. */
  expired: PublicKey[];
  /** The job's consumer and whether it was served. */
  delivery: Delivery | null;
}

export interface Provider {
  address: PublicKey;
  market: PublicKey;
  owner: PublicKey;
  stake: bigint;
  locked: bigint;
  pendingUnstake: bigint;
  activeClaims: number;
  jobsCompleted: bigint;
  jobsFailed: bigint;
  totalSlashed: bigint;
  totalEarned: bigint;
  registeredAt: number;
  endpoint: string;
  /** Capability bits: the runtimes its worker runs (bit 0 `wasi-p1`, bit 1 `wasi-p1v2`, bit 2 `wasi-p1v3`). */
  capabilities: bigint;
  /** What its worker accepts, as it last published it (all zero until then). */
  offer: ProviderOffer;
  /** Unix time of its worker's latest `publish_offer` (0: never). */
  lastSeen: number;
}

/** What a provider's worker accepts (`publish_offer`): largest limits and price floors. */
export interface ProviderOffer {
  maxFuel: bigint;
  maxMemory: bigint;
  maxOutput: bigint;
  minPrice: bigint;
  pricePerGfuel: bigint;
  pricePerMib: bigint;
}

/** The program's books of one market vault (`Ledger`): what of the vault's tokens is owed. */
export interface Ledger {
  address: PublicKey;
  market: PublicKey;
  vault: PublicKey;
  books: bigint;
  /** Surplus the authority swept to the treasury so far. */
  swept: bigint;
}

// ---- decoding -------------------------------------------------------------------------------

export type Raw = Record<string, unknown>;
const big = (v: unknown): bigint => BigInt((v as BN).toString());
const num = (v: unknown): number => Number((v as BN).toString());
const bytes = (v: unknown): Uint8Array => Uint8Array.from(v as number[]);
function decodeConsumer(c: unknown): Consumer | null {
  if (!c) return null;
  const r = c as Raw;
  return {
    program: r.program as PublicKey,
    dataPrefix: Uint8Array.from(r.dataPrefix as ArrayLike<number>),
    accounts: (r.accounts as Raw[]).map((a) => ({ pubkey: a.pubkey as PublicKey, writable: a.writable as boolean })),
  };
}

function decodeDelivery(d: unknown): Delivery | null {
  if (!d) return null;
  const r = d as Raw;
  return {
    consumer: decodeConsumer(r.consumer)!,
    deliveredSlot: big(r.deliveredSlot),
    deliveredAt: num(r.deliveredAt),
    deliveredBy: r.deliveredBy as PublicKey,
  };
}
/** Anchor decodes an enum as `{ variantName: {} }`. */
const variant = <T extends string>(v: unknown): T => Object.keys(v as object)[0] as T;

/** `data` is the account's raw bytes, which the terms hash is taken of. */
export function decodeMarket(address: PublicKey, a: Raw, data: Uint8Array): Market {
  const c = a.config as Raw;
  return {
    address,
    authority: a.authority as PublicKey,
    marketId: big(a.marketId),
    paused: a.paused as boolean,
    paymentMint: a.paymentMint as PublicKey,
    paymentTokenProgram: a.paymentTokenProgram as PublicKey,
    stakeMint: a.stakeMint as PublicKey,
    stakeTokenProgram: a.stakeTokenProgram as PublicKey,
    escrowVault: a.escrowVault as PublicKey,
    stakeVault: a.stakeVault as PublicKey,
    treasury: a.treasury as PublicKey,
    config: {
      minStake: big(c.minStake),
      collateralPerClaim: big(c.collateralPerClaim),
      feeBps: c.feeBps as number,
      slashBountyBps: c.slashBountyBps as number,
      maxReplicas: c.maxReplicas as number,
      claimTimeout: num(c.claimTimeout),
      defaultCommitWindow: num(c.defaultCommitWindow),
      maxCommitWindow: num(c.maxCommitWindow),
      revealWindow: num(c.revealWindow),
      unstakeCooldown: num(c.unstakeCooldown),
    },
    termsHash: termsHash(data),
  };
}

function decodeRamp(a: Raw): Ramp {
  return {
    minRewardPerReplica: big(a.minRewardPerReplica),
    rewardPerReplica: big(a.rewardPerReplica),
    rampStart: num(a.rampStart),
    rampSeconds: num(a.rampSeconds),
  };
}

export function decodeJob(address: PublicKey, a: Raw): Job {
  return {
    address,
    market: a.market as PublicKey,
    status: variant(a.status),
    replicas: a.replicas as number,
    quorum: a.quorum as number,
    requester: a.requester as PublicKey,
    nonce: big(a.nonce),
    manifestHash: bytes(a.manifestHash),
    manifestUri: a.manifestUri as string,
    ...decodeRamp(a),
    escrow: big(a.escrow),
    feeBps: a.feeBps as number,
    collateral: big(a.collateral),
    createdAt: num(a.createdAt),
    commitDeadline: num(a.commitDeadline),
    revealDeadline: num(a.revealDeadline),
    expiredSlashed: big(a.expiredSlashed),
    seedSlot: big(a.seedSlot),
    seed: bytes(a.seed),
    stakeScale: big(a.stakeScale),
    slots: (a.slots as Raw[]).map((s) => ({
      provider: s.provider as PublicKey,
      state: variant(s.state),
      claimedAt: num(s.claimedAt),
      commitment: bytes(s.commitment),
      resultRoot: bytes(s.resultRoot),
      price: big(s.price),
    })),
    expired: a.expired as PublicKey[],
    claimTimeout: num(a.claimTimeout),
    latestCommitDeadline: num(a.latestCommitDeadline),
    consumer: decodeConsumer(a.consumer),
  };
}

export function decodeSettlement(address: PublicKey, a: Raw): Settlement {
  return {
    address,
    market: a.market as PublicKey,
    outcome: variant(a.outcome),
    replicas: a.replicas as number,
    quorum: a.quorum as number,
    job: a.job as PublicKey,
    requester: a.requester as PublicKey,
    nonce: big(a.nonce),
    manifestHash: bytes(a.manifestHash),
    resultRoot: bytes(a.resultRoot),
    ...decodeRamp(a),
    feeBps: a.feeBps as number,
    escrow: big(a.escrow),
    totalPaid: big(a.totalPaid),
    fee: big(a.fee),
    refund: big(a.refund),
    totalSlashed: big(a.totalSlashed),
    bounty: big(a.bounty),
    expiredSlashed: big(a.expiredSlashed),
    collateral: big(a.collateral),
    finalizer: a.finalizer as PublicKey,
    settledSlot: big(a.settledSlot),
    settledAt: num(a.settledAt),
    seed: bytes(a.seed),
    seedSlot: big(a.seedSlot),
    stakeScale: big(a.stakeScale),
    verdicts: (a.verdicts as Raw[]).map((v) => ({
      provider: v.provider as PublicKey,
      verdict: variant(v.verdict),
      resultRoot: bytes(v.resultRoot),
      paid: big(v.paid),
      slashed: big(v.slashed),
      claimedSlot: big(v.claimedSlot),
      bonded: big(v.bonded),
      claimedAt: num(v.claimedAt),
      price: big(v.price),
    })),
    expired: a.expired as PublicKey[],
    delivery: decodeDelivery(a.delivery),
  };
}

export function decodeLedger(address: PublicKey, a: Raw): Ledger {
  return {
    address,
    market: a.market as PublicKey,
    vault: a.vault as PublicKey,
    books: big(a.books),
    swept: big(a.swept),
  };
}

export function decodeProvider(address: PublicKey, a: Raw): Provider {
  return {
    address,
    market: a.market as PublicKey,
    owner: a.owner as PublicKey,
    stake: big(a.stake),
    locked: big(a.locked),
    pendingUnstake: big(a.pendingUnstake),
    activeClaims: a.activeClaims as number,
    jobsCompleted: big(a.jobsCompleted),
    jobsFailed: big(a.jobsFailed),
    totalSlashed: big(a.totalSlashed),
    totalEarned: big(a.totalEarned),
    registeredAt: num(a.registeredAt),
    endpoint: a.endpoint as string,
    capabilities: big(a.capabilities),
    offer: {
      maxFuel: big((a.offer as Raw).maxFuel),
      maxMemory: big((a.offer as Raw).maxMemory),
      maxOutput: big((a.offer as Raw).maxOutput),
      minPrice: big((a.offer as Raw).minPrice),
      pricePerGfuel: big((a.offer as Raw).pricePerGfuel),
      pricePerMib: big((a.offer as Raw).pricePerMib),
    },
    lastSeen: num(a.lastSeen),
  };
}

