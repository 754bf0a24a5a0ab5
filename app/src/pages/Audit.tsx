import { PublicKey } from "@solana/web3.js";
import { useEffect, useMemo, useRef, useState } from "react";
import {
  audit,
  checkSettlement,
  filterSettlements,
  perProvider,
  reportsToJson,
  toCsv,
  toJson,
  totals,
  type Report,
  type SettlementFilter,
} from "../lib/audit";
import { explain } from "../lib/errors";
import { type Market, type Provider, type Settlement } from "../lib/market";
import { short, useApp } from "../state";
import { Amount, Key, outcomeText, time } from "./common";
import { AuditCharts } from "./AuditCharts";

/** A market and its audit, over every record of the market (the filters below do not apply). */
interface MarketView {
  market: Market;
  report: Report;
}

interface Loaded {
  markets: MarketView[];
  settlements: Settlement[];
  providers: Provider[];
  violations: string[];
  at: Date;
}

function save(name: string, type: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** `datetime-local` value to unix seconds. */
const unix = (v: string) => (v ? Math.floor(new Date(v).getTime() / 1000) : undefined);

export function AuditPage() {
  const { client, cluster, health, mintDecimals } = useApp();
  const [data, setData] = useState<Loaded | null>(null);
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(false);
  const [f, setF] = useState<{ market: string; requester: string; provider: string; outcome: SettlementFilter["outcome"]; from: string; to: string }>(
    { market: "", requester: "", provider: "", outcome: "", from: "", to: "" },
  );

  const generation = useRef(0);

  async function load() {
    const mine = ++generation.current;
    setLoading(true);
    setError("");
    try {
      // the vault checks compare reads taken moments apart, so a job posted or settled in between
      // shows as a mismatch: read again (up to three times, a second apart) as cmkt audit does
      let loaded = await read();
      for (let attempt = 1; attempt < 3 && loaded.violations.length > 0; attempt++) {
        await new Promise((r) => setTimeout(r, 1000));
        if (mine !== generation.current) return;
        loaded = await read();
      }
      if (mine === generation.current) setData(loaded);
    } catch (e) {
      if (mine === generation.current) setError(explain(e, cluster.rpc));
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }

  /** One read of every market, vault, settlement, provider and open job, checked. */
  async function read(): Promise<Loaded> {
    const [markets, settlements, providers, jobs] = await Promise.all([
      client.markets(),
      client.settlements(),
      client.providers(),
      client.jobs(),
    ]);
    const views: MarketView[] = await Promise.all(
      markets.map(async (m) => {
        const [escrowVaultBalance, stakeVaultBalance, escrowLedger, stakeLedger] = await Promise.all([
          client.tokenBalance(m.escrowVault),
          client.tokenBalance(m.stakeVault),
          client.ledger(m.escrowVault),
          client.ledger(m.stakeVault),
        ]);
        const of = <T extends { market: PublicKey }>(xs: T[]) => xs.filter((x) => x.market.equals(m.address));
        const report = audit({
          market: m,
          escrowVaultBalance,
          stakeVaultBalance,
          escrowLedger,
          stakeLedger,
          jobs: of(jobs),
          providers: of(providers),
          settlements: of(settlements),
        });
        return { market: m, report };
      }),
    );
    const known = new Set(markets.map((m) => m.address.toBase58()));
    const orphans = settlements.filter((s) => !known.has(s.market.toBase58()));
    const violations = [
      ...views.flatMap((v) => v.report.violations),
      ...orphans.flatMap(checkSettlement),
      ...orphans.map((s) => `settlement ${s.address.toBase58()}: its market ${s.market.toBase58()} does not exist`),
    ];
    settlements.sort((a, b) => b.settledAt - a.settledAt || Number(b.settledSlot - a.settledSlot));
    return { markets: views, settlements, providers, violations, at: new Date() };
  }

  useEffect(() => {
    // another cluster: forget what was read from the previous one
    generation.current++;
    setData(null);
    if (health.state === "ok") void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, health.state]);

  const filter: SettlementFilter = { ...f, from: unix(f.from), to: unix(f.to) };
  const shown = useMemo(() => (data ? filterSettlements(data.settlements, filter) : []), [data, JSON.stringify(filter)]);
  const t = totals(shown);
  const figures = perProvider(shown);
  const providers = (data?.providers ?? []).filter((p) => !f.market || p.market.toBase58() === f.market);
  const viewOf = (k: PublicKey) => data?.markets.find((m) => m.market.address.equals(k));
  const marketOf = (k: PublicKey) => viewOf(k)?.market;
  const reports = (data?.markets ?? []).filter((m) => !f.market || m.market.address.toBase58() === f.market).map((m) => m.report);
  const pay = (k: PublicKey) => {
    const m = marketOf(k);
    return m ? mintDecimals(m.paymentMint) : undefined;
  };
  const stk = (k: PublicKey) => {
    const m = marketOf(k);
    return m ? mintDecimals(m.stakeMint) : undefined;
  };
  // totals add amounts of one mint only: with markets on different mints, pick a market first
  const shownMarkets = [...new Set(shown.map((x) => x.market.toBase58()))].map((k) => marketOf(new PublicKey(k)));
  const oneMint =
    new Set(shownMarkets.map((m) => m?.paymentMint.toBase58())).size <= 1 &&
    new Set(shownMarkets.map((m) => m?.stakeMint.toBase58())).size <= 1;
  const first = shown[0]?.market;
  const tot = (v: bigint) => <Amount v={v} decimals={first ? pay(first) : undefined} />;
  const totStake = (v: bigint) => <Amount v={v} decimals={first ? stk(first) : undefined} />;
  const set = (k: keyof typeof f) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setF({ ...f, [k]: e.target.value });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");

  return (
    <section>
      <h2>Audit</h2>
      <p className="muted">
        No wallet needed: everything below is read from the chain at {cluster.rpc} and checked in your browser.{" "}
        <button onClick={load} disabled={loading}>{loading ? "Reading…" : "Reload"}</button>
        {data && <> · read {data.at.toLocaleTimeString()}</>}
      </p>
      {error && <div className="error" role="alert">{error}</div>}
      {data && (
        <>
          <div className={data.violations.length === 0 ? "ok" : "error"} data-testid="conservation" role="status">
            {data.violations.length === 0
              ? `✔ Conservation holds: in every market the escrow vault covers the open jobs' escrow and the stake vault the providers' stakes, the program's own books (ledgers) of each vault equal those sums (a surplus someone sent to a vault is shown below, owed to nobody, and the authority may sweep it to the treasury), every slash a provider account counts is attributed by a record, and all ${data.settlements.length} settlements add up.`
              : `✘ ${data.violations.length} rule(s) broken:`}
            {data.violations.length > 0 && <ul>{data.violations.map((v) => <li key={v}>{v}</li>)}</ul>}
          </div>
          <h3>Markets</h3>
          <table data-testid="markets">
            <thead>
              <tr>
                <th>Market</th><th>Open jobs</th><th>Open escrow</th><th>Escrow vault</th><th>Escrow surplus</th>
                <th>Stakes</th><th>Stake vault</th><th>Stake surplus</th><th>Swept (escrow / stake)</th><th>Fee</th>
              </tr>
            </thead>
            <tbody>
              {data.markets.map(({ market: m, report: r }) => (
                <tr key={m.address.toBase58()}>
                  <td><Key k={m.address} /></td>
                  <td>{r.openJobs}</td>
                  <td><Amount v={r.openEscrow} decimals={pay(m.address)} /></td>
                  <td><Amount v={r.escrowVaultBalance} decimals={pay(m.address)} /></td>
                  <td data-testid="escrow-surplus"><Amount v={r.escrowSurplus} decimals={pay(m.address)} /></td>
                  <td><Amount v={r.totalStake} decimals={stk(m.address)} /></td>
                  <td><Amount v={r.stakeVaultBalance} decimals={stk(m.address)} /></td>
                  <td data-testid="stake-surplus"><Amount v={r.stakeSurplus} decimals={stk(m.address)} /></td>
                  <td data-testid="swept">
                    <Amount v={r.escrowSwept} decimals={pay(m.address)} /> / <Amount v={r.stakeSwept} decimals={stk(m.address)} />
                  </td>
                  <td>{m.config.feeBps / 100}%</td>
                </tr>
              ))}
            </tbody>
          </table>

          <h3>Settlements</h3>
          <div className="filters">
            <label>Market <select aria-label="filter market" value={f.market} onChange={set("market")}>
              <option value="">all</option>
              {data.markets.map((m) => <option key={m.market.address.toBase58()} value={m.market.address.toBase58()}>{short(m.market.address)}</option>)}
            </select></label>
            <label>Requester <input aria-label="filter requester" value={f.requester} onChange={set("requester")} placeholder="wallet address" /></label>
            <label>Provider <input aria-label="filter provider" value={f.provider} onChange={set("provider")} placeholder="owner wallet" /></label>
            <label>Outcome <select aria-label="filter outcome" value={f.outcome} onChange={set("outcome")}>
              <option value="">all</option>
              <option value="verified">verified</option>
              <option value="noQuorum">no quorum</option>
              <option value="cancelled">cancelled</option>
            </select></label>
            <label>From <input type="datetime-local" aria-label="filter from" value={f.from} onChange={set("from")} /></label>
            <label>To <input type="datetime-local" aria-label="filter to" value={f.to} onChange={set("to")} /></label>
            <button onClick={() => save(`settlements-${stamp}.csv`, "text/csv", toCsv(shown))}>Export CSV</button>
            <button onClick={() => save(`settlements-${stamp}.json`, "application/json", toJson(shown))}>Export JSON</button>
            <button onClick={() => save(`audit-${stamp}.json`, "application/json", reportsToJson(reports))}>Export report</button>
          </div>
          {!oneMint && (
            <p className="error" role="status">The settlements shown are in several mints: pick a market to see totals.</p>
          )}
          <table className="totals" data-testid="totals">
            <tbody>
              <tr>
                <th>Settlements</th><td data-testid="total-count">{t.settlements}</td>
                <th>Verified</th><td>{t.verified}</td>
                <th>No quorum</th><td>{t.noQuorum}</td>
                <th>Cancelled</th><td data-testid="total-cancelled">{t.cancelled}</td>
              </tr>
              <tr>
                <th>Escrowed</th><td>{oneMint ? tot(t.escrow) : "–"}</td>
                <th>Paid</th><td data-testid="total-paid">{oneMint ? tot(t.paid) : "–"}</td>
                <th>Fees</th><td>{oneMint ? tot(t.fees) : "–"}</td>
              </tr>
              <tr>
                <th>Refunded</th><td>{oneMint ? tot(t.refunded) : "–"}</td>
                <th>Slashed</th><td>{oneMint ? totStake(t.slashed) : "–"}</td>
                <th>Bounties</th><td>{oneMint ? tot(t.bounties) : "–"}</td>
              </tr>
            </tbody>
          </table>
          {oneMint && (
            <AuditCharts
              shown={shown}
              figures={figures}
              decimals={first ? pay(first) : undefined}
              stakeDecimals={first ? stk(first) : undefined}
            />
          )}
          <table data-testid="settlements">
            <thead>
              <tr><th>Settled</th><th>Job</th><th>Requester</th><th>Outcome</th><th>n / k</th><th>Escrow</th><th>Paid</th><th>Fee</th><th>Refund</th><th>Slashed</th><th>Providers</th></tr>
            </thead>
            <tbody>
              {shown.slice(0, 500).map((s) => (
                <tr key={s.address.toBase58()}>
                  <td>{time(s.settledAt)}</td>
                  <td><a href={`#/job/${s.job.toBase58()}`}><Key k={s.job} /></a></td>
                  <td><Key k={s.requester} /></td>
                  <td>{outcomeText(s)}</td>
                  <td>{s.replicas} / {s.quorum}</td>
                  <td><Amount v={s.escrow} decimals={pay(s.market)} /></td>
                  <td><Amount v={s.totalPaid} decimals={pay(s.market)} /></td>
                  <td><Amount v={s.fee} decimals={pay(s.market)} /></td>
                  <td><Amount v={s.refund} decimals={pay(s.market)} /></td>
                  <td><Amount v={s.totalSlashed + s.expiredSlashed} decimals={stk(s.market)} /></td>
                  <td>
                    {[
                      ...s.verdicts.filter((v) => v.verdict !== "unclaimed").map((v) => `${short(v.provider)} ${v.verdict}`),
                      ...s.expired.map((k) => `${short(k)} claim expired`),
                    ].join(", ")}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown.length > 500 && <p className="muted">Showing 500 of {shown.length}; the exports hold all of them.</p>}

          <h3>Providers</h3>
          <table data-testid="providers">
            <thead>
              <tr>
                <th>Owner</th><th>Endpoint</th><th>Stake</th><th>Locked</th><th>Earned (all time)</th>
                <th>Slashed: account</th><th>Slashed: records</th><th>Completed / failed</th>
                <th>Slots in filter</th><th>Agreed</th><th>Paid in filter</th><th>Slashed in filter</th>
              </tr>
            </thead>
            <tbody>
              {providers.map((p) => {
                const owner = p.owner.toBase58();
                const x = figures.get(owner);
                const r = viewOf(p.market)?.report;
                const records = r?.providers.get(owner)?.slashed ?? 0n;
                // the account's all-time slashes against the market's records (settlement verdicts
                // and expired claims), which must agree unless a record predates this account
                const check = r?.earlierAccount.has(owner)
                  ? { mark: "~", note: "records include an earlier account of this owner: not compared" }
                  : records === p.totalSlashed
                    ? { mark: "✔", note: "every slash the account counts is attributed by a record" }
                    : { mark: "✘", note: "the records and the account disagree" };
                return (
                  <tr key={p.address.toBase58()}>
                    <td><Key k={p.owner} /></td>
                    <td><code>{p.endpoint}</code></td>
                    <td><Amount v={p.stake} decimals={stk(p.market)} /></td>
                    <td><Amount v={p.locked} decimals={stk(p.market)} /></td>
                    <td><Amount v={p.totalEarned} decimals={pay(p.market)} /></td>
                    <td><Amount v={p.totalSlashed} decimals={stk(p.market)} /></td>
                    <td data-testid="provider-slashed-records" title={check.note}>
                      <Amount v={records} decimals={stk(p.market)} /> {check.mark}
                    </td>
                    <td>{p.jobsCompleted.toString()} / {p.jobsFailed.toString()}</td>
                    <td>{x?.slots ?? 0}</td>
                    <td>{x?.agreed ?? 0}</td>
                    <td><Amount v={x?.paid ?? 0n} decimals={pay(p.market)} /></td>
                    <td><Amount v={x?.slashed ?? 0n} decimals={stk(p.market)} /></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <p className="muted">
            Amounts are in tokens of each market's mints (slashes and stakes: its stake mint); the exports carry exact base units.
            Slashes include the collateral of expired claims, attributed to each provider by the jobs and settlements that list them.
            The report export has the fields of <code>cmkt audit --format json</code>, one entry per market shown.
          </p>
        </>
      )}
    </section>
  );
}
