import { SYSVAR_SLOT_HASHES_PUBKEY } from "@solana/web3.js";
import { useEffect, useState } from "react";
import { explain as explainError } from "../lib/errors";
import { parseManifest, type Manifest } from "../lib/manifest";
import type { Job, Market, Provider } from "../lib/market";
import { isRising } from "../lib/price";
import { seedOf } from "../lib/sortition";
import { formatUnits } from "../lib/units";
import { explain, groups, label, priceThatHelps, type Now, type Reason } from "../lib/why";
import { useApp } from "../state";
import { Amount, Key } from "./common";

/** How often who would claim is worked out again (the price, the slot and turns move). */
const REFRESH_MS = 5000;
/** How often the market's providers (their stakes and published offers) are read again. */
const PROVIDERS_MS = 30_000;

function text(r: Reason, now: Now, d: number | undefined, sd: number | undefined) {
  const secs = (at: number) => Math.max(at - now.time, 0);
  switch (r.reason) {
    case "paused":
      return <>the market is paused: no claims</>;
    case "expiry_limit":
      return <>the job recorded the most expired claims it can: no more claims</>;
    case "holds":
      return <>holds a slot</>;
    case "expired_before":
      return <>its claim on this job expired: may not claim again</>;
    case "stake":
      return <>stake <Amount v={r.bonded} decimals={sd} /> is below the market minimum <Amount v={r.min_stake} decimals={sd} /></>;
    case "free_stake":
      return <>free stake <Amount v={r.free} decimals={sd} /> is less than the collateral <Amount v={r.collateral} decimals={sd} /></>;
    case "unpublished":
      return <>its worker never published what it accepts</>;
    case "offline":
      return <>offline: its worker last published {now.time - r.last_seen} s ago</>;
    case "runtime":
      return <>does not run {r.runtime}</>;
    case "limits":
      return <>accepts at most {r.max.toString()} {r.what}; the manifest asks for {r.asked.toString()}</>;
    case "price":
      return <>its floor <Amount v={r.floor} decimals={d} /> is above the most the job pays, <Amount v={r.max} decimals={d} /></>;
    case "too_late":
      return <>the price reaches its floor <Amount v={r.floor} decimals={d} /> in {secs(r.at)} s, too late for a claim window</>;
    case "waits_for_price":
      return <>claims when the price reaches its floor <Amount v={r.floor} decimals={d} />, in {secs(r.at)} s</>;
    case "turn":
      return <>its eligibility window opens at slot {r.from.toString()}, in {(r.from - now.slot).toString()} slots</>;
    case "seed_ahead":
      return <>eligibility is fixed a few slots after the post</>;
    case "ready":
      return <>would claim now at <Amount v={r.price} decimals={d} /></>;
  }
}

/** Fetches the job's manifest over http(s) and checks its hash; null with the reason otherwise. */
async function readManifest(job: Job): Promise<[Manifest | null, string]> {
  if (!/^https?:\/\//.test(job.manifestUri)) return [null, `the manifest URI ${job.manifestUri} is not http(s)`];
  try {
    const r = await fetch(job.manifestUri);
    if (!r.ok) return [null, `fetching the manifest: HTTP ${r.status}`];
    return [parseManifest(new Uint8Array(await r.arrayBuffer()), job.manifestHash), ""];
  } catch (e) {
    return [null, `fetching the manifest: ${e instanceof Error ? e.message : String(e)}`];
  }
}

/**
 * "Why is nobody taking my job?", as `cmkt job why` prints it: for each staked provider of the
 * market, what stands between it and a claim (from the chain and the offers their workers
 * publish), grouped, and the price that would bring the missing providers.
 */
export function Why({ job, market }: { job: Job; market: Market | undefined }) {
  const { client, connection, cluster, mintDecimals } = useApp();
  const [view, setView] = useState<{ now: Now; reasons: { provider: Provider["owner"]; reason: Reason }[] } | null>(null);
  const [manifestNote, setManifestNote] = useState("");
  const [error, setError] = useState("");
  const config = market?.config;
  const paused = market?.paused ?? false;

  useEffect(() => {
    if (!config) return;
    let on = true;
    let providers: Provider[] | null = null;
    let providersAt = 0;
    let manifest: Manifest | null | undefined;
    let busy = false;
    const refresh = async () => {
      if (busy) return;
      busy = true;
      try {
        if (manifest === undefined) {
          const [m, note] = await readManifest(job);
          manifest = m;
          if (on) setManifestNote(note);
        }
        const stale = providers === null || Date.now() - providersAt > PROVIDERS_MS;
        const fixed = job.seed.some((b) => b !== 0);
        const [slot, hashes, ps] = await Promise.all([
          connection.getSlot(),
          fixed ? null : connection.getAccountInfo(SYSVAR_SLOT_HASHES_PUBKEY),
          stale ? client.providers(job.market) : providers!,
        ]);
        if (!on) return;
        if (stale) [providers, providersAt] = [ps, Date.now()];
        const now: Now = {
          time: Math.floor(Date.now() / 1000),
          slot: BigInt(slot),
          seed: seedOf(job, hashes?.data ?? null),
          paused,
        };
        setView({ now, reasons: explain(job, manifest ?? null, config, ps, now) });
        setError("");
      } catch (e) {
        if (on) setError(explainError(e, cluster.rpc));
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
  }, [client, connection, cluster.rpc, job, config, paused]);

  const d = market ? mintDecimals(market.paymentMint) : undefined;
  const sd = market ? mintDecimals(market.stakeMint) : undefined;
  const helps = view ? priceThatHelps(job, view.reasons) : null;
  const tooLate = view !== null && job.commitDeadline - view.now.time <= job.claimTimeout;
  const noneHeld = job.slots.every((s) => s.state === "free");
  return (
    <div data-testid="why">
      <h4>Who would take it</h4>
      {error && <div className="error" role="alert">{error}</div>}
      {manifestNote && <p className="muted">Limits and runtime not checked: {manifestNote}</p>}
      {!view ? (
        <p className="muted">Reading the providers…</p>
      ) : view.reasons.length === 0 ? (
        <p>No provider is registered in this market.</p>
      ) : (
        <>
          <p data-testid="why-groups">
            {view.reasons.length} provider(s): {groups(view.reasons).map(([k, n]) => `${k}: ${n}`).join(" · ")}
          </p>
          <table data-testid="why-table">
            <thead>
              <tr><th>Provider (owner)</th><th>Group</th><th>Why</th></tr>
            </thead>
            <tbody>
              {view.reasons.map((r) => (
                <tr key={r.provider.toBase58()} data-reason={r.reason.reason}>
                  <td><Key k={r.provider} /></td>
                  <td>{label(r.reason)}</td>
                  <td>{text(r.reason, view.now, d, sd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {helps !== null && (
            <p data-testid="why-suggestion">
              More providers would take it at <Amount v={helps} decimals={d} /> per replica
              {isRising(job) && view.now.time >= job.rampStart + job.rampSeconds ? " (the ramp ended below their floors)" : ""}:{" "}
              {noneHeld ? (
                <>
                  raise the maximum with{" "}
                  <code>
                    cmkt job extend {job.address.toBase58()} --max-reward {d === undefined ? "…" : formatUnits(helps, d)}
                  </code>
                </>
              ) : (
                <>a slot is held, so the price cannot change in place: post again with a higher maximum</>
              )}
            </p>
          )}
          {tooLate && (
            <p data-testid="why-too-late">
              The claim window no longer fits before the commit deadline: nobody can claim.{" "}
              {job.latestCommitDeadline - job.commitDeadline > job.claimTimeout ? (
                <>
                  <code>
                    cmkt job extend {job.address.toBase58()} --by{" "}
                    {Math.min(job.claimTimeout * 5, job.latestCommitDeadline - job.commitDeadline)}
                  </code> gives it more time (up to{" "}
                  {job.latestCommitDeadline - job.commitDeadline} s more).
                </>
              ) : (
                <>The job's longest commit window is used up: cancel it once no slot is held, or let it end for a full refund.</>
              )}
            </p>
          )}
        </>
      )}
    </div>
  );
}
