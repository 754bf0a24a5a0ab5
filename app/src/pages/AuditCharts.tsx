import { barWidth, cumulative, polyline } from "../lib/charts";
import type { ProviderFigures } from "../lib/audit";
import type { Settlement } from "../lib/market";
import { formatUnits } from "../lib/units";
import { short } from "../state";

const W = 300;
const H = 90;

/** One cumulative series over time, with its final value. */
function Series({ name, points, unit }: { name: string; points: { at: number; v: bigint }[]; unit: (v: bigint) => string }) {
  const last = points.length ? points[points.length - 1].v : 0n;
  return (
    <figure className="chart" data-testid={`chart-${name}`}>
      <svg width={W} height={H} role="img" aria-label={`${name} over time, ${unit(last)} in all`}>
        <rect x={0} y={0} width={W} height={H} fill="none" stroke="currentColor" strokeOpacity={0.2} />
        <polyline points={polyline(points, W, H)} fill="none" stroke="currentColor" strokeWidth={2} />
      </svg>
      <figcaption>
        {name}: <b>{unit(last)}</b>
      </figcaption>
    </figure>
  );
}

/**
 * Charts of the settlements shown (after the filters): paid, fees and slashed over time, and paid
 * and slashed per provider. `decimals`/`stakeDecimals`: the mints of the one market shown, if known.
 */
export function AuditCharts(p: {
  shown: Settlement[];
  figures: Map<string, ProviderFigures>;
  decimals?: number;
  stakeDecimals?: number;
}) {
  if (p.shown.length === 0) return null;
  const pts = cumulative(p.shown);
  const fmt = (d?: number) => (v: bigint) => (d === undefined ? `${v} units` : `${formatUnits(v, d)} tokens`);
  const providers = [...p.figures.entries()].sort((a, b) => (b[1].paid > a[1].paid ? 1 : b[1].paid < a[1].paid ? -1 : 0));
  const maxPaid = providers.reduce((m, [, f]) => (f.paid > m ? f.paid : m), 0n);
  const maxSlashed = providers.reduce((m, [, f]) => (f.slashed > m ? f.slashed : m), 0n);
  return (
    <div className="charts" data-testid="audit-charts">
      <div className="chart-row">
        <Series name="paid" points={pts.map((x) => ({ at: x.at, v: x.paid }))} unit={fmt(p.decimals)} />
        <Series name="fees" points={pts.map((x) => ({ at: x.at, v: x.fees }))} unit={fmt(p.decimals)} />
        <Series name="slashed" points={pts.map((x) => ({ at: x.at, v: x.slashed }))} unit={fmt(p.stakeDecimals)} />
      </div>
      <table className="bars" data-testid="provider-bars">
        <thead>
          <tr><th>Provider</th><th>Paid</th><th>Slashed</th></tr>
        </thead>
        <tbody>
          {providers.map(([owner, f]) => (
            <tr key={owner}>
              <td title={owner}>{short(owner)}</td>
              <td>
                <svg width={160} height={12} aria-label={`paid ${fmt(p.decimals)(f.paid)}`}>
                  <rect width={barWidth(f.paid, maxPaid, 160)} height={12} fill="currentColor" />
                </svg>{" "}
                {fmt(p.decimals)(f.paid)}
              </td>
              <td>
                <svg width={160} height={12} aria-label={`slashed ${fmt(p.stakeDecimals)(f.slashed)}`}>
                  <rect width={barWidth(f.slashed, maxSlashed, 160)} height={12} fill="currentColor" fillOpacity={0.5} />
                </svg>{" "}
                {fmt(p.stakeDecimals)(f.slashed)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
