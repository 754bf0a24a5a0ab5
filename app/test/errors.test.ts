import { WalletSendTransactionError, WalletSignTransactionError } from "@solana/wallet-adapter-base";
import { describe, expect, it } from "vitest";
import idl from "../../idl/compute_market.json";
import { explain, programErrorName } from "../src/lib/errors";

const RPC = "http://127.0.0.1:8899";

/** The program's error code of `name`, from the IDL: codes shift when the error enum changes. */
function code(name: string): number {
  const e = idl.errors.find((x) => x.name === name);
  if (!e) throw new Error(`the IDL has no error ${name}`);
  return e.code;
}
const hex = (name: string) => `0x${code(name).toString(16)}`;

/** What web3.js throws when preflight fails, as the wallet adapter wraps it. */
function preflight(logs: string[], message: string) {
  const inner = Object.assign(new Error(`Simulation failed. \nMessage: ${message}`), { logs });
  return new WalletSendTransactionError(inner.message, inner);
}

describe("explain", () => {
  it("names the program's error from the IDL even when the wallet adapter wraps it", () => {
    const e = preflight([`Program CMkt… failed: custom program error: ${hex("ZeroReward")}`], `custom program error: ${hex("ZeroReward")}`);
    expect(explain(e, RPC)).toBe("The program refused the transaction: Reward per replica must be positive (ZeroReward).");
    expect(programErrorName(e)).toBe("ZeroReward");
  });

  it("names every error of the IDL by its own code, in either form the code arrives", () => {
    for (const { code, name, msg } of idl.errors) {
      const text = explain(preflight([], `custom program error: 0x${code.toString(16)}`), RPC);
      expect(text).toContain(`(${name})`);
      if (name !== "TermsChanged") expect(text).toContain(msg);
      expect(explain(new Error(`{"InstructionError":[1,{"Custom":${code}}]}`), RPC)).toBe(text);
    }
    // the codes after a removed error moved down: nothing here may assume the old ones
    expect(idl.errors.some((e) => e.name === "DuplicateCommitment")).toBe(false);
    expect(new Set(idl.errors.map((e) => e.code)).size).toBe(idl.errors.length);
  });

  it("tells a requester whose reviewed terms changed to review again", () => {
    const e = preflight(
      [
        "Program log: AnchorError occurred. Error Code: TermsChanged.",
        `Program CMkt… failed: custom program error: ${hex("TermsChanged")}`,
      ],
      `custom program error: ${hex("TermsChanged")}`,
    );
    expect(programErrorName(e)).toBe("TermsChanged");
    const text = explain(e, RPC);
    expect(text).toMatch(/terms \(fee, collateral or time windows\) changed after you reviewed them/);
    expect(text).toMatch(/review the job again/);
  });

  it("explains the quorum rule the program enforces", () => {
    const text = explain(preflight([], `custom program error: ${hex("InvalidQuorum")}`), RPC);
    expect(text).toMatch(/strict majority of the replicas \(n \/ 2 < k <= n\) \(InvalidQuorum\)/);
  });

  it("names the account Anchor's log line blames", () => {
    // 2006 = ConstraintSeeds, as the sBPF program logs it
    const e = preflight(
      [
        "Program CMktmwEXZcTnCWNEdsbnZga5M6fAPPSB51D1zx64Bepp invoke [1]",
        "Program log: Instruction: PostJob",
        "Program log: AnchorError caused by account: settlement. Error Code: ConstraintSeeds. Error Number: 2006. Error Message: A seeds constraint was violated.",
        "Program CMktmwEXZcTnCWNEdsbnZga5M6fAPPSB51D1zx64Bepp failed: custom program error: 0x7d6",
      ],
      "custom program error: 0x7d6",
    );
    expect(explain(e, RPC)).toBe(
      "The program refused the transaction: an account address does not match the program's seeds (ConstraintSeeds) (account: settlement).",
    );
  });

  it("reports a token shortfall and a SOL shortfall as such, not as a declined signature", () => {
    expect(explain(preflight([], "Error processing Instruction 1: custom program error: 0x1"), RPC)).toMatch(/less than the escrow/);
    expect(explain(preflight([], "Attempt to debit an account but found no record of a prior credit."), RPC)).toMatch(
      /not have enough SOL/,
    );
  });

  it("calls a decline a decline, whichever way the wallet says it", () => {
    const coded = Object.assign(new Error("whatever"), { code: 4001 });
    expect(explain(new WalletSignTransactionError(coded.message, coded), RPC)).toMatch(/You declined/);
    expect(explain(new WalletSignTransactionError("User rejected the request."), RPC)).toMatch(/You declined/);
    // a bare send error with no reason is not a decline
    expect(explain(new WalletSendTransactionError("Unexpected error"), RPC)).toBe("Unexpected error");
  });

  it("explains an unreachable endpoint and an expired blockhash", () => {
    expect(explain(new TypeError("Failed to fetch"), RPC)).toBe(
      `Cannot reach the RPC endpoint ${RPC}. Is the validator running (cmkt localnet), and is the cluster setting right?`,
    );
    expect(explain(new Error("Blockhash not found"), RPC)).toMatch(/expired/);
  });
});
