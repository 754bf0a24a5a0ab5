import { SYSVAR_SLOT_HASHES_PUBKEY } from "@solana/web3.js";
import { useEffect, useState } from "react";
import { toHex } from "../lib/bytes";
import { explain } from "../lib/errors";
import type { Job, Market, Provider } from "../lib/market";
import { ELIGIBILITY_CAP_SLOTS, turns, type Turns } from "../lib/sortition";
import { useApp } from "../state";
import { Amount, Key } from "./common";

/** How often the slot (and, until the seed is fixed, the SlotHashes sysvar) is read again: the
 * slot moves every ~0.4 s, but who is eligible now only needs to be roughly current. */
const REFRESH_MS = 4000;
/** How often the market's providers are read again between the job's own updates (a
 * `getProgramAccounts`, heavier than the slot; stakes change rarely). */
const PROVIDERS_MS = 30_000;

/**
 * Whose turn it is to claim an open job (stake-weighted eligibility, `lib/sortition`), as
 * `cmkt job status` prints it: the seed, the current slot, and from which slot each staked
 * provider of the market may claim, earliest first. Read again whenever `job` changes (a claim
 * fixes the seed and takes a slot) and every few seconds while claims are open.
 */
export function Eligibility({ job, market }: { job: Job; market: Market | undefined }) {
  const { client, connection, cluster, mintDecimals } = useApp();
  const [view, setView] = useState<Turns | null>(null);
  const [closed, setClosed] = useState(false);
  const [error, setError] = useState("");
  const minStake = market?.config.minStake;

  useEffect(() => {
    if (minStake === undefined) return;
    let on = true;
    let providers: Provider[] | null = null;
    let providersAt = 0;
    let busy = false; // a slow RPC does not pile up reads
    const refresh = async () => {
      // no claim is accepted from the commit deadline on: nothing left to watch
      if (Date.now() / 1000 >= job.commitDeadline) {
        setClosed(true);
        clearInterval(timer);
        return;
      }
      if (busy) return;
      busy = true;
      try {
        const fixed = job.seed.some((b) => b !== 0);
        const stale = providers === null || Date.now() - providersAt > PROVIDERS_MS;
        const [slot, hashes, ps] = await Promise.all([
          connection.getSlot(),
          // a fixed seed is on the job: the sysvar (20 KB) is only read while it is not
          fixed ? null : connection.getAccountInfo(SYSVAR_SLOT_HASHES_PUBKEY),
          stale ? client.providers(job.market) : providers!,
        ]);
        if (!on) return;
        if (stale) [providers, providersAt] = [ps, Date.now()];
        setView(turns(job, minStake, ps, hashes?.data ?? null, BigInt(slot)));
        setError("");
      } catch (e) {
        if (on) setError(explain(e, cluster.rpc));
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(refresh, REFRESH_MS);
    void refresh();
    return () => {
      on = false;
      clearInterval(timer);
    };
  }, [client, connection, cluster.rpc, job, minStake]);

  const stakeDecimals = market ? mintDecimals(market.stakeMint) : undefined;
  return (
    <div data-testid="eligibility">
      <h4>Eligibility</h4>
      <p className="muted">
        Providers take turns by a stake-weighted lottery: each may claim from its own slot on, sooner the larger its share of
        the stake (<Amount v={job.stakeScale} decimals={stakeDecimals} /> staked in the market at posting);{" "}
        {ELIGIBILITY_CAP_SLOTS.toString()} slots after the seed slot every staked provider may.
      </p>
      {error && <div className="error" role="alert">{error}</div>}
      {closed ? (
        <p>The commit deadline passed: no provider may claim a slot any more.</p>
      ) : !view ? (
        <p className="muted">{minStake === undefined ? "Reading the market…" : "Reading the slot…"}</p>
      ) : !view.seed ? (
        <p data-testid="seed">
          The seed comes from slot {job.seedSlot.toString()} (now slot {view.slot.toString()}): no provider may claim before it.
        </p>
      ) : (
        <>
          <p>
            Seed <code data-testid="seed">{toHex(view.seed)}</code> (
            {view.fixed ? "fixed by the first claim" : "the next claim fixes it"}), now slot{" "}
            <span data-testid="current-slot">{view.slot.toString()}</span>
          </p>
          {view.providers.length === 0 ? (
            <p className="muted">No provider of the market has the minimum stake bonded.</p>
          ) : (
            <table data-testid="turns">
              <thead>
                <tr><th>Provider (owner)</th><th>Bonded stake</th><th>May claim from slot</th><th>When</th></tr>
              </thead>
              <tbody>
                {view.providers.map((p) => (
                  <tr key={p.owner.toBase58()} className={p.from <= view.slot ? "eligible" : undefined}>
                    <td><Key k={p.owner} /></td>
                    <td><Amount v={p.bonded} decimals={stakeDecimals} /></td>
                    <td>{p.from.toString()}</td>
                    <td>{p.from <= view.slot ? <b>eligible now</b> : `in ${p.from - view.slot} slots`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </div>
  );
}
