import { toHex } from "../lib/bytes";
import type { Consumer, Delivery } from "../lib/market";
import { Key, time } from "./common";

/** The program a job's result is delivered to (`deliver_result`), and whether it was. */
export function ConsumerInfo({ consumer, delivery }: { consumer: Consumer; delivery?: Delivery | null }) {
  return (
    <div data-testid="consumer">
      <h4>Delivered to a program</h4>
      <p>
        Once settled, the outcome goes to program <Key k={consumer.program} /> (data{" "}
        <code>{consumer.dataPrefix.length ? toHex(consumer.dataPrefix) : "–"}</code>, accounts{" "}
        {consumer.accounts.length === 0
          ? "none"
          : consumer.accounts.map((a, i) => (
              <span key={i}>
                {i > 0 && ", "}
                <Key k={a.pubkey} />
                {a.writable ? " (writable)" : ""}
              </span>
            ))}
        ), signed by the market's delivery authority so the program can tell it from a forgery.
      </p>
      {delivery &&
        (delivery.deliveredSlot === 0n ? (
          <p data-testid="delivery-pending">
            Not delivered yet: anyone may deliver it (workers that agreed do), and retry after a refusal with{" "}
            <code>cmkt job deliver</code>.
          </p>
        ) : (
          <p data-testid="delivered">
            Delivered {time(delivery.deliveredAt)} at slot {delivery.deliveredSlot.toString()} by <Key k={delivery.deliveredBy} />.
          </p>
        ))}
    </div>
  );
}
