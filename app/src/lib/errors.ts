/** Turns what wallets, RPC nodes and the program throw into sentences a person can act on. */
import { IDL } from "./market";

/** The program's errors by code, as the IDL lists them: codes shift when the program's error
 * enum changes, so none is written down here (the advice below goes by name). */
const PROGRAM_ERRORS = new Map<number, { name: string; msg: string }>(
  ((IDL as unknown as { errors?: { code: number; name: string; msg: string }[] }).errors ?? []).map((e) => [e.code, e]),
);

/** What a requester should do about a program error, said instead of the program's message. */
const ADVICE: Record<string, string> = {
  TermsChanged:
    "The market's terms (fee, collateral or time windows) changed after you reviewed them, so the program refused the job (TermsChanged). Nothing was posted and no escrow was taken: review the job again to see the new terms, then sign.",
};

/** Anchor's own account-validation errors that a requester can meet. */
const ANCHOR_ERRORS: Record<number, string> = {
  2006: "an account address does not match the program's seeds (ConstraintSeeds)",
  3007: "an account is owned by the wrong program (AccountOwnedByWrongProgram)",
  3012:
    "an account the instruction needs does not exist: the job may be closed already, or your wallet has no token account for the market's payment mint (AccountNotInitialized)",
};

function customCode(text: string): number | undefined {
  const hex = /custom program error: 0x([0-9a-f]+)/i.exec(text);
  if (hex) return parseInt(hex[1], 16);
  const json = /"Custom"\s*:\s*(\d+)|Custom\((\d+)\)/.exec(text);
  if (json) return Number(json[1] ?? json[2]);
  return undefined;
}

/** The error and the ones it wraps (wallet adapters wrap the wallet's or the RPC's error in `.error`). */
function chain(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let x = e, i = 0; x !== undefined && x !== null && i < 5; i++) {
    out.push(x);
    x = (x as { error?: unknown; cause?: unknown }).error ?? (x as { cause?: unknown }).cause;
  }
  return out;
}

const messageOf = (x: unknown) =>
  x instanceof Error || (typeof x === "object" && x !== null && "message" in x)
    ? [String((x as Error).message ?? ""), ...(((x as { logs?: string[] }).logs ?? []) as string[])].join("\n")
    : String(x);

/** A person declined in the wallet: EIP-1193 style code 4001, or a message saying so. */
function declined(errors: unknown[]): boolean {
  return errors.some(
    (x) =>
      (x as { code?: unknown }).code === 4001 ||
      /user rejected|rejected the request|request rejected|denied|declined|cancel+ed by (the )?user/i.test(messageOf(x)),
  );
}

/** The name of the program error `e` carries (`TermsChanged`, …), if it carries one. */
export function programErrorName(e: unknown): string | undefined {
  const code = customCode(chain(e).map(messageOf).join("\n"));
  return code === undefined ? undefined : PROGRAM_ERRORS.get(code)?.name;
}

export function explain(e: unknown, rpc: string): string {
  const errors = chain(e);
  const text = errors.map(messageOf).join("\n");
  const name = (e as { name?: string })?.name ?? "";
  // what the chain said comes first: a wrapped program error is not a declined signature
  const code = customCode(text);
  if (code !== undefined) {
    if (code === 1) return "Your token account holds less than the escrow this job needs (token program: insufficient funds).";
    const program = PROGRAM_ERRORS.get(code);
    if (program && ADVICE[program.name]) return ADVICE[program.name];
    const msg = program ? `${program.msg} (${program.name})` : ANCHOR_ERRORS[code];
    // the account Anchor names in its log line, when the logs came with the error
    const account = /AnchorError caused by account: (\w+)\./.exec(text)?.[1];
    if (msg) return `The program refused the transaction: ${msg}${account ? ` (account: ${account})` : ""}.`;
    return `The transaction failed with error code ${code}.`;
  }
  if (/no record of a prior credit|insufficient lamports|insufficient funds for (fee|rent)/i.test(text)) {
    return "Your wallet does not have enough SOL on this cluster for the fee and the accounts' rent. Fund it (on localnet: solana airdrop) and try again.";
  }
  if (/Blockhash not found|block height exceeded/i.test(text)) {
    return "The transaction expired before the cluster accepted it. Nothing was charged; try again.";
  }
  if (/WalletNotConnected/.test(name)) return "Connect a wallet first.";
  if (declined(errors)) return "You declined the request in your wallet: nothing was sent and nothing was charged.";
  if (/Failed to fetch|fetch failed|NetworkError|ECONNREFUSED|Load failed/i.test(text)) {
    return `Cannot reach the RPC endpoint ${rpc}. Is the validator running (cmkt localnet), and is the cluster setting right?`;
  }
  const first = errors.map(messageOf).find((m) => m.trim() !== "");
  return first ?? (name || "Unknown error");
}
