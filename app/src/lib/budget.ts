/**
 * The compute-unit limit of the app's transactions, from the units the runtime measured for each
 * instruction of the program (`client/src/budget.rs` writes `compute-budget.json`; a Rust test
 * fails when it is stale), as `cmkt` and the worker set theirs.
 */
import { ComputeBudgetProgram, type TransactionInstruction } from "@solana/web3.js";
import table from "./compute-budget.json";

export type Instruction = keyof typeof table.limits;

/**
 * Units one instruction of the program needs: its measured limit for `held` slots, plus the
 * bumps its PDAs need beyond the first try (`find_program_address` tries 255, 254, …).
 */
export function programUnits(name: Instruction, bumps: number[] = [], held = 0): number {
  const l = table.limits[name];
  return l.base + l.per_slot * held + bumps.reduce((s, b) => s + table.pda_try_units * (255 - b), 0);
}

/** The compute-budget instruction asking for `units` (and the budget instruction itself). */
export function computeUnitLimit(units: number): TransactionInstruction {
  return ComputeBudgetProgram.setComputeUnitLimit({ units: units + table.builtin_units });
}
