import { Keypair, PublicKey } from "@solana/web3.js";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { audit, checkSettlement, filterSettlements, perProvider, reportRecord, toCsv, totals, type Snapshot } from "../src/lib/audit";
import { eligibilityDelay, ticket } from "../src/lib/sortition";
import type { Job, Ledger, Market, Provider, Settlement, SlotVerdict } from "../src/lib/market";

const key = () => Keypair.generate().publicKey;
const ZERO = new PublicKey(new Uint8Array(32));
const COLLATERAL = 100n;
const REWARD = 1_000n;
const FEE_BPS = 250;
const feeOn = (price: bigint) => (price * BigInt(FEE_BPS)) / 10_000n;
const FEE_EACH = feeOn(REWARD);

const market = { address: key(), escrowVault: key(), stakeVault: key() } as Market;

function provider(owner: PublicKey, over: Partial<Provider> = {}): Provider {
  return {
    address: key(), market: market.address, owner, stake: 1_000n, locked: 0n, pendingUnstake: 0n, activeClaims: 0,
    jobsCompleted: 0n, jobsFailed: 0n, totalSlashed: 0n, totalEarned: 0n, registeredAt: 100, endpoint: "http://p",
    capabilities: 3n, offer: { maxFuel: 0n, maxMemory: 0n, maxOutput: 0n, minPrice: 0n, pricePerGfuel: 0n, pricePerMib: 0n }, lastSeen: 0, ...over,
  };
}

const unclaimed: SlotVerdict = { provider: ZERO, verdict: "unclaimed", resultRoot: new Uint8Array(32), paid: 0n, slashed: 0n, claimedSlot: 0n, bonded: 0n, claimedAt: 0, price: 0n };
/** A claim at chain slot 500 with all the stake: past any turn (at most 150 slots after the seed slot, 0). */
const claim = { claimedSlot: 500n, bonded: 1_000n, claimedAt: 50, price: REWARD };

/** A settlement of a job of `verdicts.length` replicas; amounts follow from the verdicts. */
function settlement(outcome: Settlement["outcome"], verdicts: SlotVerdict[], expired: PublicKey[] = [], settledAt = 200): Settlement {
  const escrow = REWARD * BigInt(verdicts.length);
  const totalPaid = verdicts.reduce((a, v) => a + v.paid, 0n);
  const fee = verdicts.filter((v) => v.verdict === "agreed").reduce((a, v) => a + feeOn(v.price), 0n);
  return {
    address: key(), market: market.address, outcome, replicas: verdicts.length, quorum: Math.floor(verdicts.length / 2) + 1, job: key(),
    requester: key(), nonce: 1n, manifestHash: new Uint8Array(32), resultRoot: new Uint8Array(32).fill(outcome === "verified" ? 7 : 0),
    rewardPerReplica: REWARD, minRewardPerReplica: REWARD, rampStart: 0, rampSeconds: 0,
    feeBps: FEE_BPS, escrow, totalPaid, fee, refund: escrow - totalPaid - fee,
    totalSlashed: verdicts.reduce((a, v) => a + v.slashed, 0n), bounty: 0n,
    expiredSlashed: COLLATERAL * BigInt(expired.length), collateral: COLLATERAL, finalizer: key(), settledSlot: 10n, settledAt,
    seed: new Uint8Array(32).fill(3), seedSlot: 0n, stakeScale: 1_000n,
    verdicts, expired, delivery: null,
  };
}

const agreed = (p: PublicKey): SlotVerdict => ({ provider: p, verdict: "agreed", resultRoot: new Uint8Array(32).fill(7), paid: REWARD - FEE_EACH, slashed: 0n, ...claim });
const dissented = (p: PublicKey): SlotVerdict => ({ provider: p, verdict: "dissented", resultRoot: new Uint8Array(32).fill(8), paid: 0n, slashed: COLLATERAL, ...claim });

function openJob(expired: PublicKey[]): Job {
  return {
    address: key(), market: market.address, status: "open", replicas: 1, quorum: 1, requester: key(), nonce: 2n,
    manifestHash: new Uint8Array(32), manifestUri: "", rewardPerReplica: REWARD, minRewardPerReplica: REWARD, rampStart: 0, rampSeconds: 0,
    escrow: REWARD, feeBps: FEE_BPS,
    collateral: COLLATERAL, createdAt: 0, commitDeadline: 0, revealDeadline: 0, expiredSlashed: COLLATERAL * BigInt(expired.length),
    seedSlot: 0n, seed: new Uint8Array(32), stakeScale: 1n,
    slots: [{ provider: ZERO, state: "free", claimedAt: 0, commitment: new Uint8Array(32), resultRoot: new Uint8Array(32), price: 0n }],
    expired, claimTimeout: 60, latestCommitDeadline: 3_600, consumer: null,
  };
}

/** A sound market: a verified job whose minority dissented, a cancelled one after an expired
 * claim, and an open job with an expired claim. */
function ledger(vault: PublicKey, books: bigint, swept = 0n): Ledger {
  return { address: key(), market: market.address, vault, books, swept };
}

function sound() {
  const [a, b, c] = [key(), key(), key()];
  const settlements = [
    settlement("verified", [agreed(a), agreed(b), dissented(c)]),
    settlement("cancelled", [unclaimed, unclaimed], [c]),
  ];
  const jobs = [openJob([b])];
  const providers = [
    provider(a),
    provider(b, { totalSlashed: COLLATERAL }),
    provider(c, { totalSlashed: 2n * COLLATERAL }),
  ];
  const snap: Snapshot = {
    market,
    escrowVaultBalance: REWARD,
    stakeVaultBalance: 3_000n,
    escrowLedger: ledger(market.escrowVault, REWARD),
    stakeLedger: ledger(market.stakeVault, 3_000n),
    jobs,
    providers,
    settlements,
  };
  return { snap, a, b, c };
}

describe("the audit of a market", () => {
  it("finds a sound market sound, attributing expired claims to their providers", () => {
    const { snap, a, b, c } = sound();
    const r = audit(snap);
    expect(r.violations).toEqual([]);
    expect([r.settlements, r.verified, r.noQuorum, r.cancelled, r.openJobs]).toEqual([2, 1, 0, 1, 1]);
    expect(r.providers.get(a.toBase58())!.slashed).toBe(0n);
    expect(r.providers.get(b.toBase58())!.slashed).toBe(COLLATERAL);
    expect(r.providers.get(c.toBase58())).toMatchObject({ slashed: 2n * COLLATERAL, accountSlashed: 2n * COLLATERAL, settledSlots: 1 });
    expect(r.totalSlashed).toBe(2n * COLLATERAL);
    expect([r.escrowSurplus, r.stakeSurplus]).toEqual([0n, 0n]);
  });

  it("reports a vault surplus and flags only a shortfall", () => {
    const { snap } = sound();
    const r = audit({ ...snap, escrowVaultBalance: REWARD + 5n, stakeVaultBalance: 3_007n });
    expect(r.violations).toEqual([]);
    expect([r.escrowSurplus, r.stakeSurplus]).toEqual([5n, 7n]);
    const short = audit({ ...snap, escrowVaultBalance: REWARD - 1n, stakeVaultBalance: 2_999n });
    expect(short.violations).toHaveLength(2);
    expect(short.violations[0]).toMatch(/escrow vault holds 999 but open jobs escrow 1000/);
    expect(short.violations[1]).toMatch(/stake vault holds 2999 but providers' stakes sum to 3000/);
  });

  it("holds the program's ledgers to the sums of the accounts they book", () => {
    const { snap } = sound();
    const swept = audit({ ...snap, escrowLedger: ledger(market.escrowVault, REWARD, 4n) });
    expect(swept.violations).toEqual([]);
    expect([swept.escrowBooks, swept.stakeBooks, swept.escrowSwept, swept.stakeSwept]).toEqual([REWARD, 3_000n, 4n, 0n]);
    const off = audit({ ...snap, escrowLedger: ledger(market.escrowVault, REWARD + 1n), stakeLedger: null });
    expect(off.violations).toHaveLength(2);
    expect(off.violations[0]).toMatch(/escrow ledger books 1001 but open jobs escrow 1000/);
    expect(off.violations[1]).toMatch(/the stake vault has no ledger account/);
  });

  it("flags a provider account whose slashes the records do not explain, unless a record predates it", () => {
    const { snap, b } = sound();
    const providers = snap.providers.map((p) => (p.owner.equals(b) ? { ...p, totalSlashed: 3n * COLLATERAL } : p));
    const r = audit({ ...snap, providers });
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]).toMatch(/records attribute 100 slashed, the account counts 300/);
    // b registered again after a settlement that names it: its records include an earlier account
    const earlier = settlement("verified", [agreed(b)], [], 50);
    const again = audit({ ...snap, providers, settlements: [...snap.settlements, earlier], escrowVaultBalance: REWARD });
    expect(again.violations).toEqual([]);
    expect(again.earlierAccount.has(b.toBase58())).toBe(true);
  });

  it("requires every claim to have come in its provider's turn", () => {
    const p = key();
    const s = settlement("verified", [agreed(p)]);
    // a tenth of the scale: a turn some slots after the seed slot
    const bonded = 100n;
    const turn = s.seedSlot + eligibilityDelay(ticket(s.seed, p), bonded, s.stakeScale);
    expect(turn).toBeGreaterThan(0n);
    const at = (claimedSlot: bigint) => ({ ...s, verdicts: [{ ...s.verdicts[0], bonded, claimedSlot }] });
    expect(checkSettlement(at(turn))).toEqual([]);
    expect(checkSettlement(at(turn - 1n)).join("\n")).toMatch(new RegExp(`slot 0 was claimed at chain slot ${turn - 1n} before its provider's turn at ${turn}`));
  });

  it("pays each agreeing slot the price its claim locked on the ramp and refunds the rest of the maximum", () => {
    // from 400 at t = 0 to 1000 at t = 100: a claim at 50 locked 700, one at 100 the maximum
    const [p, q] = [key(), key()];
    const early = { ...agreed(p), claimedAt: 50, price: 700n, paid: 700n - feeOn(700n) };
    const late = { ...agreed(q), claimedAt: 100 };
    const s = { ...settlement("verified", [early, late]), minRewardPerReplica: 400n, rampSeconds: 100 };
    expect(checkSettlement(s)).toEqual([]);
    expect(s.refund).toBe(300n);
    const offCurve = { ...early, price: 701n, paid: 701n - feeOn(701n) };
    expect(checkSettlement({ ...s, verdicts: [offCurve, s.verdicts[1]] }).join("\n")).toMatch(
      /slot 0 locked price 701 but the ramp gave 700 at its claim time 50/,
    );
    // the fee is taken from the locked price, not from the maximum
    const feeOnMax = 2n * FEE_EACH;
    expect(checkSettlement({ ...s, fee: feeOnMax, refund: s.refund + s.fee - feeOnMax }).join("\n")).toMatch(
      new RegExp(`fee ${feeOnMax} instead of ${s.fee}`),
    );
    // the program never accepts a starting price above the maximum
    expect(checkSettlement({ ...s, minRewardPerReplica: REWARD + 1n }).join("\n")).toMatch(/starting price 1001 above the maximum 1000/);
  });

  it("requires a cancellation to refund everything with every slot unclaimed", () => {
    const ok = settlement("cancelled", [unclaimed], [key()]);
    expect(checkSettlement(ok)).toEqual([]);
    const p = key();
    const bad = settlement("cancelled", [agreed(p)]);
    expect(checkSettlement(bad).join("\n")).toMatch(/cancelled but not a full refund with every slot unclaimed/);
    expect(checkSettlement({ ...ok, refund: ok.refund - 1n, fee: 1n }).join("\n")).toMatch(/cancelled but not a full refund/);
  });

  it("requires the expired claims' slashes to be the collateral of each listed claim", () => {
    const s = settlement("noQuorum", [unclaimed], [key(), key()]);
    expect(checkSettlement(s)).toEqual([]);
    expect(checkSettlement({ ...s, expiredSlashed: COLLATERAL }).join("\n")).toMatch(/amounts do not add up/);
  });
});

describe("filters, figures and exports", () => {
  it("counts cancellations and finds a provider by its expired claims", () => {
    const { snap, c } = sound();
    expect(totals(snap.settlements)).toMatchObject({ settlements: 2, verified: 1, noQuorum: 0, cancelled: 1 });
    expect(filterSettlements(snap.settlements, { outcome: "cancelled" })).toHaveLength(1);
    expect(filterSettlements(snap.settlements, { provider: c.toBase58() })).toHaveLength(2);
    expect(perProvider(snap.settlements).get(c.toBase58())).toMatchObject({ slots: 1, slashed: 2n * COLLATERAL });
  });

  it("exports the cancelled outcome, the collateral and the expired claims", () => {
    const { snap, c } = sound();
    const [header, , cancelled] = toCsv(snap.settlements).trim().split("\n");
    const cols = header.split(",");
    const cell = (name: string) => cancelled.split(",")[cols.indexOf(name)];
    expect(cell("outcome")).toBe("cancelled");
    expect(cell("collateral")).toBe(String(COLLATERAL));
    expect(cell("expired")).toBe(c.toBase58());
  });

  it("names the report's fields as cmkt audit --format json does", () => {
    // the serde names are the Rust field names: read them from the Rust source
    const rust = readFileSync(new URL("../../client/src/audit.rs", import.meta.url), "utf8");
    const fields = (name: string) => {
      const body = new RegExp(`pub struct ${name} \\{([\\s\\S]*?)\\n\\}`).exec(rust)?.[1] ?? "";
      return [...body.matchAll(/^\s*pub (\w+):/gm)].map((m) => m[1]).sort();
    };
    const { snap, a } = sound();
    const record = reportRecord(audit(snap));
    expect(Object.keys(record).sort()).toEqual(fields("Report"));
    expect(Object.keys(record.providers[a.toBase58()]).sort()).toEqual(fields("ProviderTotals"));
    expect(Object.keys(Object.values(record.requesters)[0]).sort()).toEqual(fields("RequesterTotals"));
    expect(fields("Report")).toEqual(expect.arrayContaining(["escrow_surplus", "stake_surplus", "cancelled"]));
    expect(fields("ProviderTotals")).toContain("account_slashed");
  });
});
