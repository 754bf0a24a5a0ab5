import { PublicKey } from "@solana/web3.js";
import { useEffect, useState } from "react";
import { concat, toHex } from "../lib/bytes";
import { explain } from "../lib/errors";
import { settlementAddress, type Job, type Settlement } from "../lib/market";
import { parseExact, summaryFromJson, verifyOutput, type ResultSummary } from "../lib/merkle";
import { useApp } from "../state";
import { Amount, hexShort, Key, outcomeText, SlotChips, time } from "./common";
import { Eligibility } from "./Eligibility";
import { History } from "./History";
import { turnSlot } from "../lib/sortition";
import { isRising, priceAt } from "../lib/price";
import { PriceCurve } from "./PriceCurve";
import { stepMarks, type StepMark } from "../lib/events";
import { ConsumerInfo } from "./Delivery";
import { Why } from "./Why";

type Download =
  | { state: "idle" }
  | { state: "working"; note: string }
  | { state: "verified"; provider: PublicKey; summary: ResultSummary; bytes: Uint8Array; url: string; name: string; text: string | null }
  | { state: "failed"; reasons: string[] };

/** The most the page downloads into memory for verification. */
const MAX_RESULT_BYTES = 256n << 20n;

/** Reads at most `limit` bytes of a response; a longer body is an error, not a hung tab. */
async function readCapped(r: Response, limit: number): Promise<Uint8Array> {
  const reader = r.body?.getReader();
  if (!reader) return new Uint8Array(await r.arrayBuffer()).slice(0, limit + 1);
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return concat(...parts);
    n += value.length;
    if (n > limit) {
      await reader.cancel();
      throw new Error(`the provider sent more than the ${limit} bytes the summary announced`);
    }
    parts.push(value);
  }
}

const PNG = [0x89, 0x50, 0x4e, 0x47];
const isPng = (b: Uint8Array) => PNG.every((x, i) => b[i] === x);

function preview(bytes: Uint8Array): string | null {
  const head = bytes.subarray(0, 4000);
  const text = new TextDecoder("utf-8", { fatal: false }).decode(head);
  return /[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text) ? null : text + (bytes.length > head.length ? "\n…" : "");
}

const statusText = (s: ResultSummary) =>
  s.status.kind === "exited" ? `exited with code ${s.status.code}` : s.status.kind.replace(/_/g, " ");

/** The providers whose claims on the job expired, in order: each lost the job's collateral. */
function ExpiredClaims({ owners, collateral, decimals }: { owners: PublicKey[]; collateral: bigint; decimals: number | undefined }) {
  if (owners.length === 0) return null;
  return (
    <div data-testid="expired-claims">
      <h4>Expired claims ({owners.length})</h4>
      <p className="muted">
        These providers claimed a slot and did not commit in time: each lost its collateral, and none may claim this job again.
      </p>
      <table>
        <thead>
          <tr><th>#</th><th>Provider (owner)</th><th>Collateral lost</th></tr>
        </thead>
        <tbody>
          {owners.map((k, i) => (
            <tr key={i}>
              <td>{i + 1}</td>
              <td><Key k={k} /></td>
              <td><Amount v={collateral} decimals={decimals} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function JobPage({ address }: { address: string }) {
  const { client, cluster, connection, markets, mintDecimals } = useApp();
  const [job, setJob] = useState<Job | null | undefined>(undefined);
  const [settlement, setSettlement] = useState<Settlement | null>(null);
  const [error, setError] = useState("");
  const [download, setDownload] = useState<Download>({ state: "idle" });
  const [steps, setSteps] = useState<StepMark[]>([]);

  let key: PublicKey | null = null;
  try {
    key = new PublicKey(address);
  } catch {
    /* shown below */
  }

  useEffect(() => {
    if (!key) return;
    let on = true;
    const k = key;
    const sAddr = settlementAddress(k);
    // subscribe, then read: the job account's changes and the settlement's creation arrive live
    const a = connection.onAccountChange(
      k,
      (info) => {
        if (!on) return;
        setJob(info.data.length > 0 && info.lamports > 0 ? client.decodeJob(k, info.data) : null);
      },
      { commitment: "confirmed" },
    );
    const b = connection.onAccountChange(
      sAddr,
      (info) => on && info.data.length > 0 && setSettlement(client.decodeSettlement(sAddr, info.data)),
      { commitment: "confirmed" },
    );
    Promise.all([client.job(k), client.settlement(k)]).then(
      ([j, s]) => {
        if (!on) return;
        setJob((prev) => (prev === undefined ? j : prev));
        setSettlement((prev) => prev ?? s);
      },
      (e) => {
        if (!on) return;
        setError(explain(e, cluster.rpc));
        setJob((prev) => (prev === undefined ? null : prev));
      },
    );
    return () => {
      on = false;
      void connection.removeAccountChangeListener(a);
      void connection.removeAccountChangeListener(b);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [address, client, connection, cluster.rpc]);

  useEffect(() => () => {
    if (download.state === "verified") URL.revokeObjectURL(download.url);
  }, [download]);

  /** Tries each provider that agreed until one serves bytes that verify against the settled root. */
  async function fetchAndVerify(s: Settlement) {
    const reasons: string[] = [];
    const winners = s.verdicts.filter((v) => v.verdict === "agreed");
    for (const w of winners) {
      const who = w.provider.toBase58().slice(0, 8);
      try {
        setDownload({ state: "working", note: `asking provider ${who}…` });
        const p = await client.provider(s.market, w.provider);
        if (!p) throw new Error("its provider account is closed");
        const base = `${p.endpoint.replace(/\/+$/, "")}/results/${toHex(s.resultRoot)}`;
        const sr = await fetch(`${base}/summary`);
        if (!sr.ok) throw new Error(`summary: HTTP ${sr.status}`);
        const summary = summaryFromJson(parseExact(await sr.text()));
        if (summary.outputLen > MAX_RESULT_BYTES) {
          throw new Error(`the output is ${summary.outputLen} bytes, more than this page downloads (${MAX_RESULT_BYTES}); use cmkt job result`);
        }
        setDownload({ state: "working", note: `downloading ${summary.outputLen} bytes from ${who}…` });
        const or = await fetch(base);
        if (!or.ok) throw new Error(`output: HTTP ${or.status}`);
        const bytes = await readCapped(or, Number(summary.outputLen));
        // the root is bound to the job: a result settled for another job does not verify here
        const v = verifyOutput(s.job, s.resultRoot, summary, bytes);
        if (!v.ok) throw new Error(v.reason);
        const png = isPng(bytes);
        const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: png ? "image/png" : "application/octet-stream" }));
        setDownload({
          state: "verified",
          provider: w.provider,
          summary,
          bytes,
          url,
          name: `result-${toHex(s.resultRoot).slice(0, 12)}.${png ? "png" : "bin"}`,
          text: png ? null : preview(bytes),
        });
        return;
      } catch (e) {
        const msg = e instanceof TypeError ? `${e.message} (endpoint unreachable or blocked by CORS)` : explain(e, cluster.rpc);
        reasons.push(`provider ${who}: ${msg}`);
      }
    }
    if (winners.length === 0) reasons.push("no provider agreed on a result: there is nothing to download");
    setDownload({ state: "failed", reasons });
  }

  const marketKey = job?.market ?? settlement?.market;
  const market = marketKey ? markets.find((m) => m.address.equals(marketKey)) : undefined;
  const decimals = market ? mintDecimals(market.paymentMint) : undefined;
  const stakeDecimals = market ? mintDecimals(market.stakeMint) : undefined;

  if (!key) return <div className="error" role="alert">{address} is not a job address.</div>;
  return (
    <section>
      <h2>Job <code data-testid="job-address">{address}</code></h2>
      {error && <div className="error" role="alert">{error}</div>}
      {job === undefined && !settlement && <p className="muted">Loading…</p>}
      {job === null && !settlement && <p>No such job on this cluster, and no settlement for it (wrong cluster?).</p>}
      {job && (
        <div data-testid="job-live">
          <p>
            Status <b data-testid="job-status">{job.status}</b> · n {job.replicas} / k {job.quorum} ·{" "}
            {isRising(job) ? (
              <>
                price now <b data-testid="price-now"><Amount v={priceAt(job, Math.floor(Date.now() / 1000))} decimals={decimals} /></b> (from{" "}
                <Amount v={job.minRewardPerReplica} decimals={decimals} /> to <Amount v={job.rewardPerReplica} decimals={decimals} />,{" "}
                {time(job.rampStart)} to {time(job.rampStart + job.rampSeconds)})
              </>
            ) : (
              <>
                reward per replica <b data-testid="price-now"><Amount v={job.rewardPerReplica} decimals={decimals} /></b>
              </>
            )}{" "}
            · escrow <Amount v={job.escrow} decimals={decimals} />
          </p>
          <PriceCurve
            ramp={job}
            from={job.createdAt}
            until={job.commitDeadline}
            now={Math.floor(Date.now() / 1000)}
            decimals={decimals}
            claims={job.slots.flatMap((s, i) => (s.state === "free" ? [] : [{ slot: i, at: s.claimedAt, price: s.price }]))}
            steps={steps}
          />
          <p className="muted">
            Posted {time(job.createdAt)} · commit by {time(job.commitDeadline)} · reveal by {time(job.revealDeadline)} · manifest{" "}
            {/^https?:\/\//.test(job.manifestUri) ? (
              <a href={job.manifestUri} rel="noreferrer noopener" target="_blank">{hexShort(job.manifestHash)}</a>
            ) : (
              // any other scheme is shown, not linked: the URI is whatever the requester wrote
              <code title={job.manifestUri}>{hexShort(job.manifestHash)}</code>
            )}
          </p>
          <SlotChips job={job} />
          <table>
            <thead>
              <tr><th>Slot</th><th>Provider</th><th>State</th><th>Claimed</th><th title="what the slot earns if it agrees (before the fee), locked at its claim">Price</th><th>Commitment</th><th>Revealed root</th></tr>
            </thead>
            <tbody>
              {job.slots.map((s, i) => (
                <tr key={i}>
                  <td>{i}</td>
                  <td>{s.state === "free" ? "–" : <Key k={s.provider} />}</td>
                  <td>{s.state}</td>
                  <td>{s.state === "free" ? "–" : time(s.claimedAt)}</td>
                  <td>{s.state === "free" ? "–" : <Amount v={s.price} decimals={decimals} />}</td>
                  <td><code>{hexShort(s.commitment)}</code></td>
                  <td><code>{hexShort(s.resultRoot)}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
          {/* only an open job has free slots to claim; keyed so nothing of another job stays shown */}
          {job.status === "open" && !settlement && <Eligibility key={job.address.toBase58()} job={job} market={market} />}
          {job.status === "open" && !settlement && <Why key={`why-${job.address.toBase58()}`} job={job} market={market} />}
          {job.consumer && !settlement && <ConsumerInfo consumer={job.consumer} />}
          <ExpiredClaims owners={job.expired} collateral={job.collateral} decimals={stakeDecimals} />
        </div>
      )}
      {settlement && (
        <div data-testid="settlement">
          <h3>Settlement: <span data-testid="outcome">{outcomeText(settlement)}</span></h3>
          <p className="muted">
            {settlement.outcome === "cancelled" ? "Cancelled" : "Settled"} {time(settlement.settledAt)} at slot{" "}
            {settlement.settledSlot.toString()} by <Key k={settlement.finalizer} /> · record <Key k={settlement.address} />
          </p>
          {settlement.outcome === "cancelled" ? (
            <p data-testid="cancelled">
              The requester cancelled the job while no slot was held: the whole escrow was refunded, and this record keeps what happened.
            </p>
          ) : (
            <p>
              Result root <code data-testid="result-root">{toHex(settlement.resultRoot)}</code>
            </p>
          )}
          {settlement.outcome === "noQuorum" && settlement.verdicts.some((v) => v.verdict === "dissented") && (
            <p className="muted">
              No root reached the quorum, but a majority of the {settlement.replicas} slots revealed the same one: the slots that
              revealed another were slashed, the others' collateral returned.
            </p>
          )}
          <table>
            <tbody>
              <tr><th>Escrow</th><td><Amount v={settlement.escrow} decimals={decimals} /></td></tr>
              <tr><th>Paid to providers</th><td><Amount v={settlement.totalPaid} decimals={decimals} /></td></tr>
              <tr><th>Protocol fee</th><td><Amount v={settlement.fee} decimals={decimals} /></td></tr>
              <tr><th>Refunded to you</th><td><Amount v={settlement.refund} decimals={decimals} /></td></tr>
              <tr><th>Slashed (incl. expired claims)</th><td><Amount v={settlement.totalSlashed + settlement.expiredSlashed} decimals={stakeDecimals} /></td></tr>
            </tbody>
          </table>
          <ExpiredClaims owners={settlement.expired} collateral={settlement.collateral} decimals={stakeDecimals} />
          {settlement.delivery && <ConsumerInfo consumer={settlement.delivery.consumer} delivery={settlement.delivery} />}
          {settlement.verdicts.some((v) => v.verdict !== "unclaimed") && (
            <PriceCurve
              ramp={settlement}
              from={settlement.rampStart}
              until={settlement.rampStart + settlement.rampSeconds}
              decimals={decimals}
              claims={settlement.verdicts.flatMap((v, i) => (v.verdict === "unclaimed" ? [] : [{ slot: i, at: v.claimedAt, price: v.price }]))}
              steps={steps}
            />
          )}
          <table>
            <thead>
              <tr><th>Slot</th><th>Provider</th><th>Verdict</th><th>Revealed root</th><th title="locked at the claim, before the fee">Price</th><th>Paid</th><th>Slashed</th>
                <th title="the chain slot of the claim, and the first slot of the provider's turn (rechecked from the record)">Claimed at slot (turn from)</th></tr>
            </thead>
            <tbody>
              {settlement.verdicts.map((v, i) => (
                <tr key={i}>
                  <td>{i}</td>
                  <td>{v.verdict === "unclaimed" ? "–" : <Key k={v.provider} />}</td>
                  <td>{v.verdict}</td>
                  <td><code>{hexShort(v.resultRoot)}</code></td>
                  <td>{v.verdict === "unclaimed" ? "–" : <Amount v={v.price} decimals={decimals} />}</td>
                  <td><Amount v={v.paid} decimals={decimals} /></td>
                  <td><Amount v={v.slashed} decimals={stakeDecimals} /></td>
                  <td>
                    {v.verdict === "unclaimed"
                      ? "–"
                      : `${v.claimedSlot} (${turnSlot(settlement.seed, settlement.seedSlot, settlement.stakeScale, v.provider, v.bonded)})`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {settlement.outcome === "verified" && (
            <div className="download">
              <button onClick={() => fetchAndVerify(settlement)} disabled={download.state === "working"}>
                Download and verify the result
              </button>
              {download.state === "working" && <span className="muted"> {download.note}</span>}
              {download.state === "verified" && (
                <div className="ok" data-testid="verified">
                  <p>
                    ✔ Verified: {download.bytes.length} bytes from provider <Key k={download.provider} /> hash to the settled root
                    ({statusText(download.summary)}, {download.summary.fuelUsed.toString()} fuel).{" "}
                    <a href={download.url} download={download.name} data-testid="save-result">Save {download.name}</a>
                  </p>
                  {isPng(download.bytes) && <img src={download.url} alt="result" className="result-image" />}
                  {download.text !== null && <pre className="result-text">{download.text}</pre>}
                </div>
              )}
              {download.state === "failed" && (
                <div className="error" role="alert" data-testid="not-verified">
                  ✘ Not verified: no provider served bytes that match the settled root.
                  <ul>{download.reasons.map((r) => <li key={r}>{r}</li>)}</ul>
                </div>
              )}
            </div>
          )}
          <p className="muted">Amounts are in tokens of the market's payment mint (slashes: its stake mint).</p>
        </div>
      )}
      {(job || settlement) && (
        <History
          job={key}
          version={settlement ? "settled" : (job?.slots.map((s) => s.state).join(",") ?? "")}
          settled={settlement !== null}
          onEvents={(events) => setSteps(stepMarks(events))}
        />
      )}
    </section>
  );
}
