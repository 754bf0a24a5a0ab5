/** Signing and confirming the app's transactions through the connected wallet. */
import type { WalletContextState } from "@solana/wallet-adapter-react";
import { Connection, PublicKey, Transaction, type TransactionInstruction } from "@solana/web3.js";

/**
 * Sends `ixs` in one transaction paid by `feePayer`, signed by the wallet, and waits until it is
 * confirmed; throws when it failed on-chain. `onSent` runs once the wallet has signed and sent.
 */
export async function sendAndConfirm(
  connection: Connection,
  sendTransaction: WalletContextState["sendTransaction"],
  feePayer: PublicKey,
  ixs: TransactionInstruction[],
  onSent?: () => void,
): Promise<string> {
  const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash();
  const tx = new Transaction({ feePayer, blockhash, lastValidBlockHeight }).add(...ixs);
  const signature = await sendTransaction(tx, connection);
  onSent?.();
  const r = await connection.confirmTransaction({ signature, blockhash, lastValidBlockHeight }, "confirmed");
  if (r.value.err) {
    // the logs say which error and, for a constraint, which account (`explain` reads them)
    const tx = await connection
      .getTransaction(signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 })
      .catch(() => null);
    throw Object.assign(new Error(`the transaction failed: ${JSON.stringify(r.value.err)}`), {
      logs: tx?.meta?.logMessages ?? [],
    });
  }
  return signature;
}
