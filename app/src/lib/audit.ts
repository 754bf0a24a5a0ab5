/**
 * The auditor's checks, the same rules as `client/src/audit.rs`: each settlement's arithmetic
 * and verdicts, and per market that the vaults hold exactly the open escrows and the stakes.
 */
import { toHex as hex } from "./bytes";
import { feePerReplica, type Job, type Market, type Provider, type Settlement } from "./market";

export interface MarketBalances {
  market: Market;
  escrowVaultBalance: bigint;
  stakeVaultBalance: bigint;
  openJobs: Job[];
  providers: Provider[];
}

const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

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
    s.verdicts.length !== s.replicas
  ) {
    fail(`amounts do not add up: escrow ${s.escrow} != paid ${s.totalPaid} + fee ${s.fee} + refund ${s.refund} (or slashes/verdicts disagree)`);
  }
  if (s.escrow !== s.rewardPerReplica * BigInt(s.replicas)) fail(`escrow ${s.escrow} is not reward × replicas`);
  const feeEach = feePerReplica(s.rewardPerReplica, s.feeBps);
  const agreed = s.verdicts.filter((x) => x.verdict === "agreed").length;
  s.verdicts.forEach((x, i) => {
    const expect = x.verdict === "agreed" ? s.rewardPerReplica - feeEach : 0n;
    if (x.paid !== expect) fail(`slot ${i} (${x.verdict}) paid ${x.paid} instead of ${expect}`);
    const slashable = x.verdict === "dissented" || x.verdict === "withheld" || x.verdict === "absent";
    if (slashable !== x.slashed > 0n) fail(`slot ${i} (${x.verdict}) slashed ${x.slashed}`);
    if (x.verdict === "agreed" && x.resultRoot.some((b, j) => b !== s.resultRoot[j])) {
      fail(`slot ${i} agreed on a different root`);
    }
  });
  if (s.fee !== BigInt(agreed) * feeEach) fail(`fee ${s.fee} instead of ${agreed} × ${feeEach}`);
  if (s.outcome === "verified" && agreed < s.quorum) fail(`verified with ${agreed} < quorum ${s.quorum}`);
  if (s.outcome === "noQuorum" && (s.totalPaid !== 0n || s.refund !== s.escrow)) fail("no quorum but not a full refund");
  return v;
}

/** The conservation check of one market: vault balances against what the accounts say. */
export function checkConservation(b: MarketBalances): { openEscrow: bigint; totalStake: bigint; violations: string[] } {
  const openEscrow = sum(b.openJobs.map((j) => j.escrow));
  const totalStake = sum(b.providers.map((p) => p.stake));
  const violations: string[] = [];
  const m = b.market.address.toBase58();
  if (b.escrowVaultBalance !== openEscrow) {
    violations.push(`market ${m}: escrow vault holds ${b.escrowVaultBalance} but open jobs escrow ${openEscrow}`);
  }
  if (b.stakeVaultBalance !== totalStake) {
    violations.push(`market ${m}: stake vault holds ${b.stakeVaultBalance} but providers' stakes sum to ${totalStake}`);
  }
  for (const p of b.providers) {
    if (p.locked + p.pendingUnstake > p.stake) {
      violations.push(`provider ${p.address.toBase58()}: locked ${p.locked} + pending ${p.pendingUnstake} > stake ${p.stake}`);
    }
  }
  return { openEscrow, totalStake, violations };
}

export interface Totals {
  settlements: number;
  verified: number;
  noQuorum: number;
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
  outcome?: "" | "verified" | "noQuorum";
  /** Unix seconds, inclusive. */
  from?: number;
  to?: number;
}

export function filterSettlements(list: Settlement[], f: SettlementFilter): Settlement[] {
  return list.filter(
    (s) =>
      (!f.market || s.market.toBase58() === f.market) &&
      (!f.requester || s.requester.toBase58() === f.requester.trim()) &&
      (!f.provider || s.verdicts.some((v) => v.provider.toBase58() === f.provider!.trim())) &&
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
  }
  return m;
}

// ---- export ---------------------------------------------------------------------------------

/** One flat record per settlement; amounts are decimal strings of base units (exact). */
export function settlementRecord(s: Settlement) {
  return {
    settlement: s.address.toBase58(),
    market: s.market.toBase58(),
    job: s.job.toBase58(),
    requester: s.requester.toBase58(),
    nonce: s.nonce.toString(),
    outcome: s.outcome === "verified" ? "verified" : "no_quorum",
    replicas: s.replicas,
    quorum: s.quorum,
    result_root: hex(s.resultRoot),
    manifest_hash: hex(s.manifestHash),
    reward_per_replica: s.rewardPerReplica.toString(),
    fee_bps: s.feeBps,
    escrow: s.escrow.toString(),
    total_paid: s.totalPaid.toString(),
    fee: s.fee.toString(),
    refund: s.refund.toString(),
    total_slashed: s.totalSlashed.toString(),
    expired_slashed: s.expiredSlashed.toString(),
    bounty: s.bounty.toString(),
    finalizer: s.finalizer.toBase58(),
    settled_slot: s.settledSlot.toString(),
    settled_at: new Date(s.settledAt * 1000).toISOString(),
    verdicts: s.verdicts.map((v) => ({
      provider: v.provider.toBase58(),
      verdict: v.verdict,
      result_root: hex(v.resultRoot),
      paid: v.paid.toString(),
      slashed: v.slashed.toString(),
    })),
  };
}

export function toJson(list: Settlement[]): string {
  return JSON.stringify(list.map(settlementRecord), null, 2) + "\n";
}

const CSV_COLUMNS = [
  "settlement", "market", "job", "requester", "nonce", "outcome", "replicas", "quorum", "result_root",
  "reward_per_replica", "fee_bps", "escrow", "total_paid", "fee", "refund", "total_slashed",
  "expired_slashed", "bounty", "finalizer", "settled_slot", "settled_at", "verdicts",
] as const;

const csvCell = (v: unknown) => {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** CSV with one row per settlement; `verdicts` is `provider:verdict:paid:slashed` joined by `;`. */
export function toCsv(list: Settlement[]): string {
  const rows = list.map((s) => {
    const r = settlementRecord(s);
    const verdicts = r.verdicts.map((v) => `${v.provider}:${v.verdict}:${v.paid}:${v.slashed}`).join(";");
    return CSV_COLUMNS.map((c) => csvCell(c === "verdicts" ? verdicts : r[c])).join(",");
  });
  return [CSV_COLUMNS.join(","), ...rows].join("\n") + "\n";
}
