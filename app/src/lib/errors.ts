/** Turns what wallets, RPC nodes and the program throw into sentences a person can act on. */
import { IDL } from "./market";

const PROGRAM_ERRORS = new Map<number, string>(
  ((IDL as unknown as { errors?: { code: number; name: string; msg: string }[] }).errors ?? []).map((e) => [
    e.code,
    `${e.msg} (${e.name})`,
  ]),
);

/** Anchor's own account-validation errors that a requester can meet. */
const ANCHOR_ERRORS: Record<number, string> = {
  2006: "an account address does not match the program's seeds (ConstraintSeeds)",
  3007: "an account is owned by the wrong program (AccountOwnedByWrongProgram)",
  3012: "your wallet has no token account for this market's payment mint: get payment tokens first (AccountNotInitialized)",
};

function customCode(text: string): number | undefined {
  const hex = /custom program error: 0x([0-9a-f]+)/i.exec(text);
  if (hex) return parseInt(hex[1], 16);
  const json = /"Custom"\s*:\s*(\d+)|Custom\((\d+)\)/.exec(text);
  if (json) return Number(json[1] ?? json[2]);
  return undefined;
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const logs = (e as { logs?: string[] }).logs;
    return [e.name, e.message, ...(logs ?? [])].join("\n");
  }
  return String(e);
}

export function explain(e: unknown, rpc: string): string {
  const text = describe(e);
  if (/WalletNotConnected/i.test(text)) return "Connect a wallet first.";
  if (/WalletSign|WalletSend|reject|denied|declined|cancel+ed by (the )?user/i.test(text)) {
    return "You declined the request in your wallet: nothing was sent and nothing was charged.";
  }
  if (/Failed to fetch|fetch failed|NetworkError|ECONNREFUSED|Load failed/i.test(text)) {
    return `Cannot reach the RPC endpoint ${rpc}. Is the validator running (cmkt localnet), and is the cluster setting right?`;
  }
  if (/no record of a prior credit|insufficient lamports|insufficient funds for (fee|rent)/i.test(text)) {
    return "Your wallet does not have enough SOL on this cluster for the fee and the accounts' rent. Fund it (on localnet: solana airdrop) and try again.";
  }
  const code = customCode(text);
  if (code !== undefined) {
    if (code === 1) return "Your token account holds less than the escrow this job needs (token program: insufficient funds).";
    const msg = PROGRAM_ERRORS.get(code) ?? ANCHOR_ERRORS[code];
    if (msg) return `The program refused the transaction: ${msg}.`;
    return `The transaction failed with error code ${code}.`;
  }
  if (/Blockhash not found|block height exceeded/i.test(text)) {
    return "The transaction expired before the cluster accepted it. Nothing was charged; try again.";
  }
  return e instanceof Error ? e.message : text;
}
