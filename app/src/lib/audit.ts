/**
 * The auditor's checks, the same rules as `client/src/audit.rs`: each settlement's arithmetic
 * and verdicts; per market that the vaults hold at least the open escrows and the stakes (anyone
 * can send tokens to a vault, so a surplus is reported and only a shortfall is a violation), and
 * that the program's own books of each vault (its `Ledger`) equal those sums; and
 * that every slash a live provider account counts is attributed by a record: settlement verdicts,
 * and the expired claims open jobs and settlements list (each lost the job's collateral).
 */
import type { PublicKey } from "@solana/web3.js";
import { toHex as hex } from "./bytes";
import { priceAt } from "./price";
import { turnSlot } from "./sortition";
import { feePerReplica, type Job, type Ledger, type Market, type Outcome, type Provider, type Settlement } from "./market";

/** Everything the audit of one market reads (`audit::Snapshot`). */
export interface Snapshot {
  market: Market;
  escrowVaultBalance: bigint;
  stakeVaultBalance: bigint;
  /** The program's books of the escrow vault (null: the market has no ledger). */
  escrowLedger: Ledger | null;
  /** The program's books of the stake vault. */
  stakeLedger: Ledger | null;
  /** The market's open jobs. */
  jobs: Job[];
  providers: Provider[];
  settlements: Settlement[];
}

/** Totals of one provider, by owner wallet (`audit::ProviderTotals`). */
export interface ProviderTotals {
  stake: bigint;
  locked: bigint;
  settledSlots: number;
  agreed: number;
  paid: bigint;
  /** Slashed at settlement and from expired claims, by the records (settlements and open jobs). */
  slashed: bigint;
  /** `Provider.total_slashed` of the live account (0 when the provider closed its account). */
  accountSlashed: bigint;
}

/** Totals of one requester (`audit::RequesterTotals`). */
export interface RequesterTotals {
  jobs: number;
  escrowed: bigint;
  paidToProviders: bigint;
  fees: bigint;
  refunded: bigint;
}

/** The audit of one market (`audit::Report`). */
export interface Report {
  market: string;
  settlements: number;
  verified: number;
  noQuorum: number;
  cancelled: number;
  openJobs: number;
  openEscrow: bigint;
  escrowVaultBalance: bigint;
  totalStake: bigint;
  stakeVaultBalance: bigint;
  totalPaid: bigint;
  totalFees: bigint;
  totalRefunded: bigint;
  totalSlashed: bigint;
  totalBounties: bigint;
  /** Tokens in the escrow vault beyond the open jobs' escrow: owed to nobody, not a violation. */
  escrowSurplus: bigint;
  /** Tokens in the stake vault beyond the providers' stakes. */
  stakeSurplus: bigint;
  /** The escrow vault's books as its on-chain ledger keeps them (equal to `openEscrow`). */
  escrowBooks: bigint;
  /** The stake vault's books as its on-chain ledger keeps them (equal to `totalStake`). */
  stakeBooks: bigint;
  /** Surplus the authority swept from the escrow vault to the treasury so far. */
  escrowSwept: bigint;
  /** Surplus the authority swept from the stake vault to the treasury so far. */
  stakeSwept: bigint;
  providers: Map<string, ProviderTotals>;
  requesters: Map<string, RequesterTotals>;
  /** Live providers whose records include a settlement from before the account was registered
   * (an earlier account of the same owner): their account's slashes are not compared. */
  earlierAccount: Set<string>;
  /** Every rule that does not hold, one line each. Empty when the market is sound. */
  violations: string[];
}

const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
const has = (keys: PublicKey[], k: PublicKey) => keys.some((x) => x.equals(k));

/** Broken rules of one settlement, one line each (empty when it is sound). */
export function checkSettlement(s: Settlement): string[] {
  const v: string[] = [];
  const fail = (m: string) => v.push(`settlement ${s.address.toBase58()}: ${m}`);
  const paid = sum(s.verdicts.map((x) => x.paid));
  const slashed = sum(s.verdicts.map((x) => x.slashed));
  if (
    paid !== s.totalPaid ||
    slashed !== s.totalSlashed ||
    s.totalPaid + s.fee + s.refund !== s.escrow ||
    s.bounty > s.totalSlashed ||
    s.verdicts.length !== s.replicas ||
    BigInt(s.expired.length) * s.collateral !== s.expiredSlashed
  ) {
    fail(`amounts do not add up: escrow ${s.escrow} != paid ${s.totalPaid} + fee ${s.fee} + refund ${s.refund} (or slashes/verdicts disagree)`);
  }
  if (s.escrow !== s.rewardPerReplica * BigInt(s.replicas)) fail(`escrow ${s.escrow} is not the maximum reward × replicas`);
  if (s.minRewardPerReplica > s.rewardPerReplica) {
    fail(`starting price ${s.minRewardPerReplica} above the maximum ${s.rewardPerReplica}`);
  }
  const agreed = s.verdicts.filter((x) => x.verdict === "agreed").length;
  let fee = 0n;
  s.verdicts.forEach((x, i) => {
    // each claim locked the price of the job's ramp at its claim time
    const price = x.verdict === "unclaimed" ? 0n : priceAt(s, x.claimedAt);
    if (x.price !== price) {
      fail(`slot ${i} locked price ${x.price} but the ramp gave ${price} at its claim time ${x.claimedAt}`);
    }
    const feeEach = feePerReplica(x.price, s.feeBps);
    if (x.verdict === "agreed") fee += feeEach;
    const expect = x.verdict === "agreed" ? x.price - feeEach : 0n;
    if (x.paid !== expect) fail(`slot ${i} (${x.verdict}) paid ${x.paid} instead of ${expect}`);
    const slashable = x.verdict === "dissented" || x.verdict === "withheld" || x.verdict === "absent";
    if (slashable !== x.slashed > 0n) fail(`slot ${i} (${x.verdict}) slashed ${x.slashed}`);
    if (x.verdict === "agreed" && x.resultRoot.some((b, j) => b !== s.resultRoot[j])) {
      fail(`slot ${i} agreed on a different root`);
    }
    // every claim came in the provider's turn, as the program checked at the time
    if (x.verdict !== "unclaimed") {
      const turn = turnSlot(s.seed, s.seedSlot, s.stakeScale, x.provider, x.bonded);
      if (x.claimedSlot < turn) fail(`slot ${i} was claimed at chain slot ${x.claimedSlot} before its provider's turn at ${turn}`);
    }
  });
  if (s.fee !== fee) fail(`fee ${s.fee} instead of ${fee}, the fee on the agreeing slots' prices`);
  if (s.outcome === "verified" && agreed < s.quorum) fail(`verified with ${agreed} < quorum ${s.quorum}`);
  if (s.outcome === "noQuorum" && (s.totalPaid !== 0n || s.refund !== s.escrow)) fail("no quorum but not a full refund");
  if (
    s.outcome === "cancelled" &&
    (s.refund !== s.escrow || s.totalSlashed !== 0n || s.verdicts.some((x) => x.verdict !== "unclaimed"))
  ) {
    fail("cancelled but not a full refund with every slot unclaimed");
  }
  return v;
}

const emptyProvider = (): ProviderTotals => ({
  stake: 0n, locked: 0n, settledSlots: 0, agreed: 0, paid: 0n, slashed: 0n, accountSlashed: 0n,
});
const emptyRequester = (): RequesterTotals => ({ jobs: 0, escrowed: 0n, paidToProviders: 0n, fees: 0n, refunded: 0n });

function entry<T>(m: Map<string, T>, k: PublicKey, empty: () => T): T {
  const key = k.toBase58();
  let t = m.get(key);
  if (!t) m.set(key, (t = empty()));
  return t;
}

/** Adds `collateral` for each expired claim to its provider's slashes. */
function attributeExpiries(providers: Map<string, ProviderTotals>, expired: PublicKey[], collateral: bigint) {
  for (const owner of expired) entry(providers, owner, emptyProvider).slashed += collateral;
}

/** Runs every check of one market and sums up (`audit::audit`). */
export function audit(snap: Snapshot): Report {
  const m = snap.market.address.toBase58();
  const r: Report = {
    market: m,
    settlements: 0, verified: 0, noQuorum: 0, cancelled: 0, openJobs: 0,
    openEscrow: 0n,
    escrowVaultBalance: snap.escrowVaultBalance,
    totalStake: 0n,
    stakeVaultBalance: snap.stakeVaultBalance,
    totalPaid: 0n, totalFees: 0n, totalRefunded: 0n, totalSlashed: 0n, totalBounties: 0n,
    escrowSurplus: 0n, stakeSurplus: 0n,
    escrowBooks: 0n, stakeBooks: 0n, escrowSwept: 0n, stakeSwept: 0n,
    providers: new Map(),
    requesters: new Map(),
    earlierAccount: new Set(),
    violations: [],
  };
  for (const j of snap.jobs) {
    r.openJobs += 1;
    r.openEscrow += j.escrow;
    const req = entry(r.requesters, j.requester, emptyRequester);
    req.jobs += 1;
    req.escrowed += j.escrow;
    attributeExpiries(r.providers, j.expired, j.collateral);
  }
  for (const p of snap.providers) {
    r.totalStake += p.stake;
    if (p.locked + p.pendingUnstake > p.stake) {
      r.violations.push(`provider ${p.address.toBase58()}: locked ${p.locked} + pending ${p.pendingUnstake} > stake ${p.stake}`);
    }
    const t = entry(r.providers, p.owner, emptyProvider);
    t.stake = p.stake;
    t.locked = p.locked;
    t.accountSlashed = p.totalSlashed;
  }
  for (const s of snap.settlements) {
    r.settlements += 1;
    if (s.outcome === "verified") r.verified += 1;
    else if (s.outcome === "noQuorum") r.noQuorum += 1;
    else if (s.outcome === "cancelled") r.cancelled += 1;
    r.totalPaid += s.totalPaid;
    r.totalFees += s.fee;
    r.totalRefunded += s.refund;
    r.totalSlashed += s.totalSlashed + s.expiredSlashed;
    r.totalBounties += s.bounty;
    r.violations.push(...checkSettlement(s));
    const req = entry(r.requesters, s.requester, emptyRequester);
    req.jobs += 1;
    req.escrowed += s.escrow;
    req.paidToProviders += s.totalPaid;
    req.fees += s.fee;
    req.refunded += s.refund;
    for (const x of s.verdicts) {
      if (x.verdict === "unclaimed") continue;
      const t = entry(r.providers, x.provider, emptyProvider);
      t.settledSlots += 1;
      t.agreed += x.verdict === "agreed" ? 1 : 0;
      t.paid += x.paid;
      t.slashed += x.slashed;
    }
    attributeExpiries(r.providers, s.expired, s.collateral);
  }
  // every slash a live provider account counts is explained by a record, and the other way round
  // (the records of a provider that closed and registered again include its earlier account's
  // slashes: compared only when no record predates the registration)
  for (const p of snap.providers) {
    const owner = p.owner.toBase58();
    const earlier = snap.settlements.some(
      (s) => s.settledAt < p.registeredAt && (has(s.expired, p.owner) || s.verdicts.some((x) => x.provider.equals(p.owner))),
    );
    const t = r.providers.get(owner)!;
    if (earlier) r.earlierAccount.add(owner);
    else if (t.slashed !== p.totalSlashed) {
      r.violations.push(`provider ${p.address.toBase58()}: records attribute ${t.slashed} slashed, the account counts ${p.totalSlashed}`);
    }
  }
  // the program's own books of each vault equal what the accounts add up to
  const books = (name: string, l: Ledger | null, sum: bigint, what: string): [bigint, bigint] => {
    if (!l) {
      r.violations.push(`market ${m}: the ${name} vault has no ledger account`);
      return [0n, 0n];
    }
    if (l.books !== sum) r.violations.push(`market ${m}: the ${name} ledger books ${l.books} but ${what} ${sum}`);
    return [l.books, l.swept];
  };
  [r.escrowBooks, r.escrowSwept] = books("escrow", snap.escrowLedger, r.openEscrow, "open jobs escrow");
  [r.stakeBooks, r.stakeSwept] = books("stake", snap.stakeLedger, r.totalStake, "providers' stakes sum to");
  if (r.escrowVaultBalance >= r.openEscrow) r.escrowSurplus = r.escrowVaultBalance - r.openEscrow;
  else r.violations.push(`market ${m}: escrow vault holds ${r.escrowVaultBalance} but open jobs escrow ${r.openEscrow}`);
  if (r.stakeVaultBalance >= r.totalStake) r.stakeSurplus = r.stakeVaultBalance - r.totalStake;
  else r.violations.push(`market ${m}: stake vault holds ${r.stakeVaultBalance} but providers' stakes sum to ${r.totalStake}`);
  return r;
}

export interface Totals {
  settlements: number;
  verified: number;
  noQuorum: number;
  cancelled: number;
  escrow: bigint;
  paid: bigint;
  fees: bigint;
  refunded: bigint;
  slashed: bigint;
  bounties: bigint;
}

export function totals(list: Settlement[]): Totals {
  return {
    settlements: list.length,
    verified: list.filter((s) => s.outcome === "verified").length,
    noQuorum: list.filter((s) => s.outcome === "noQuorum").length,
    cancelled: list.filter((s) => s.outcome === "cancelled").length,
    escrow: sum(list.map((s) => s.escrow)),
    paid: sum(list.map((s) => s.totalPaid)),
    fees: sum(list.map((s) => s.fee)),
    refunded: sum(list.map((s) => s.refund)),
    slashed: sum(list.map((s) => s.totalSlashed + s.expiredSlashed)),
    bounties: sum(list.map((s) => s.bounty)),
  };
}

export interface SettlementFilter {
  market?: string;
  requester?: string;
  provider?: string;
  outcome?: "" | Outcome;
  /** Unix seconds, inclusive. */
  from?: number;
  to?: number;
}

export function filterSettlements(list: Settlement[], f: SettlementFilter): Settlement[] {
  return list.filter(
    (s) =>
      (!f.market || s.market.toBase58() === f.market) &&
      (!f.requester || s.requester.toBase58() === f.requester.trim()) &&
      (!f.provider ||
        s.verdicts.some((v) => v.provider.toBase58() === f.provider!.trim()) ||
        s.expired.some((k) => k.toBase58() === f.provider!.trim())) &&
      (!f.outcome || s.outcome === f.outcome) &&
      (f.from === undefined || s.settledAt >= f.from) &&
      (f.to === undefined || s.settledAt <= f.to),
  );
}

/** Per provider owner, over the given settlements. */
export interface ProviderFigures {
  slots: number;
  agreed: number;
  paid: bigint;
  /** At settlement and from the expired claims the settlements list. */
  slashed: bigint;
}

export function perProvider(list: Settlement[]): Map<string, ProviderFigures> {
  const m = new Map<string, ProviderFigures>();
  for (const s of list) {
    for (const v of s.verdicts) {
      if (v.verdict === "unclaimed") continue;
      const k = v.provider.toBase58();
      const t = m.get(k) ?? { slots: 0, agreed: 0, paid: 0n, slashed: 0n };
      t.slots += 1;
      t.agreed += v.verdict === "agreed" ? 1 : 0;
      t.paid += v.paid;
      t.slashed += v.slashed;
      m.set(k, t);
    }
    for (const owner of s.expired) {
      const k = owner.toBase58();
      const t = m.get(k) ?? { slots: 0, agreed: 0, paid: 0n, slashed: 0n };
      t.slashed += s.collateral;
      m.set(k, t);
    }
  }
  return m;
}

// ---- export ---------------------------------------------------------------------------------

const OUTCOME_NAMES: Record<Outcome, string> = { verified: "verified", noQuorum: "no_quorum", cancelled: "cancelled" };

/** One flat record per settlement; amounts are decimal strings of base units (exact). */
export function settlementRecord(s: Settlement) {
  return {
    settlement: s.address.toBase58(),
    market: s.market.toBase58(),
    job: s.job.toBase58(),
    requester: s.requester.toBase58(),
    nonce: s.nonce.toString(),
    outcome: OUTCOME_NAMES[s.outcome],
    replicas: s.replicas,
    quorum: s.quorum,
    result_root: hex(s.resultRoot),
    manifest_hash: hex(s.manifestHash),
    reward_per_replica: s.rewardPerReplica.toString(),
    min_reward_per_replica: s.minRewardPerReplica.toString(),
    ramp_start: s.rampStart,
    ramp_seconds: s.rampSeconds,
    fee_bps: s.feeBps,
    escrow: s.escrow.toString(),
    total_paid: s.totalPaid.toString(),
    fee: s.fee.toString(),
    refund: s.refund.toString(),
    total_slashed: s.totalSlashed.toString(),
    expired_slashed: s.expiredSlashed.toString(),
    collateral: s.collateral.toString(),
    bounty: s.bounty.toString(),
    finalizer: s.finalizer.toBase58(),
    settled_slot: s.settledSlot.toString(),
    settled_at: new Date(s.settledAt * 1000).toISOString(),
    verdicts: s.verdicts.map((v) => ({
      provider: v.provider.toBase58(),
      verdict: v.verdict,
      result_root: hex(v.resultRoot),
      claimed_at: v.claimedAt,
      price: v.price.toString(),
      paid: v.paid.toString(),
      slashed: v.slashed.toString(),
    })),
    expired: s.expired.map((k) => k.toBase58()),
  };
}

export function toJson(list: Settlement[]): string {
  return JSON.stringify(list.map(settlementRecord), null, 2) + "\n";
}

const CSV_COLUMNS = [
  "settlement", "market", "job", "requester", "nonce", "outcome", "replicas", "quorum", "result_root",
  "reward_per_replica", "min_reward_per_replica", "ramp_start", "ramp_seconds", "fee_bps", "escrow", "total_paid", "fee", "refund", "total_slashed",
  "expired_slashed", "collateral", "bounty", "finalizer", "settled_slot", "settled_at", "verdicts", "expired",
] as const;

const csvCell = (v: unknown) => {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/**
 * CSV with one row per settlement; `verdicts` is `provider:verdict:paid:slashed` joined by `;`,
 * `expired` the owners whose claims expired (each lost `collateral`) joined by `;`.
 */
export function toCsv(list: Settlement[]): string {
  const rows = list.map((s) => {
    const r = settlementRecord(s);
    const verdicts = r.verdicts.map((v) => `${v.provider}:${v.verdict}:${v.paid}:${v.slashed}`).join(";");
    const cell = (c: (typeof CSV_COLUMNS)[number]) => (c === "verdicts" ? verdicts : c === "expired" ? r.expired.join(";") : r[c]);
    return CSV_COLUMNS.map((c) => csvCell(cell(c))).join(",");
  });
  return [CSV_COLUMNS.join(","), ...rows].join("\n") + "\n";
}

/**
 * A market's report with the field names of `cmkt audit --format json` (the Rust `Report` and
 * `ProviderTotals` serde names); amounts are decimal strings of base units (exact), counts numbers.
 */
export function reportRecord(r: Report) {
  const byKey = <T, U>(m: Map<string, T>, f: (t: T) => U) => Object.fromEntries([...m].map(([k, t]) => [k, f(t)]));
  return {
    market: r.market,
    settlements: r.settlements,
    verified: r.verified,
    no_quorum: r.noQuorum,
    cancelled: r.cancelled,
    open_jobs: r.openJobs,
    open_escrow: r.openEscrow.toString(),
    escrow_vault_balance: r.escrowVaultBalance.toString(),
    total_stake: r.totalStake.toString(),
    stake_vault_balance: r.stakeVaultBalance.toString(),
    total_paid: r.totalPaid.toString(),
    total_fees: r.totalFees.toString(),
    total_refunded: r.totalRefunded.toString(),
    total_slashed: r.totalSlashed.toString(),
    total_bounties: r.totalBounties.toString(),
    escrow_surplus: r.escrowSurplus.toString(),
    stake_surplus: r.stakeSurplus.toString(),
    escrow_books: r.escrowBooks.toString(),
    stake_books: r.stakeBooks.toString(),
    escrow_swept: r.escrowSwept.toString(),
    stake_swept: r.stakeSwept.toString(),
    providers: byKey(r.providers, (t) => ({
      stake: t.stake.toString(),
      locked: t.locked.toString(),
      settled_slots: t.settledSlots,
      agreed: t.agreed,
      paid: t.paid.toString(),
      slashed: t.slashed.toString(),
      account_slashed: t.accountSlashed.toString(),
    })),
    requesters: byKey(r.requesters, (t) => ({
      jobs: t.jobs,
      escrowed: t.escrowed.toString(),
      paid_to_providers: t.paidToProviders.toString(),
      fees: t.fees.toString(),
      refunded: t.refunded.toString(),
    })),
    violations: r.violations,
  };
}

/** The reports of several markets, one JSON array. */
export function reportsToJson(list: Report[]): string {
  return JSON.stringify(list.map(reportRecord), null, 2) + "\n";
}
