/**
 * The program as the app sees it: the committed IDL driven by `@anchor-lang/core`, PDAs,
 * decoded accounts with amounts as bigints, and the two instructions a requester signs.
 */
import { BN, Program, type Idl } from "@anchor-lang/core";
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { Connection, PublicKey, SystemProgram, type TransactionInstruction } from "@solana/web3.js";
import idlJson from "../../../idl/compute_market.json";
import { programUnits } from "./budget";
import { u64le, utf8 } from "./bytes";
import {
  decodeJob,
  decodeLedger,
  decodeMarket,
  decodeProvider,
  decodeSettlement,
  jobSpace,
  MAX_EXPIRED_CLAIMS,
  settlementSpace,
  SIGNATURE_FEE,
  type Job,
  type Ledger,
  type Market,
  type Provider,
  type Raw,
  type Settlement,
} from "./accounts";

export * from "./accounts";

export const IDL = idlJson as unknown as Idl;
export const PROGRAM_ID = new PublicKey(idlJson.address);

/** Byte offsets used by `memcmp` filters (after the 8-byte discriminator). */
const OFFSET_MARKET = 8;
const JOB_OFFSET_REQUESTER = 8 + 32 + 5;
const SETTLEMENT_OFFSET_REQUESTER = 8 + 32 + 5 + 32;

// ---- reading --------------------------------------------------------------------------------

const memcmp = (offset: number, key: PublicKey) => ({ memcmp: { offset, bytes: key.toBase58() } });

/** `memcmp` filters on the market (every account kind has it first) and on the requester. */
function filters(f: { market?: PublicKey; requester?: PublicKey }, requesterOffset?: number) {
  return [
    ...(f.market ? [memcmp(OFFSET_MARKET, f.market)] : []),
    ...(f.requester && requesterOffset !== undefined ? [memcmp(requesterOffset, f.requester)] : []),
  ];
}

type Kind = "job" | "settlement" | "provider" | "ledger";
/** The part of Anchor's untyped account namespace this client uses. */
type Accounts = Record<
  Kind,
  {
    all(filters: object[]): Promise<{ publicKey: PublicKey; account: Raw }[]>;
    fetchNullable(address: PublicKey): Promise<Raw | null>;
  }
>;

/** Reads and builds against one cluster. Needs no wallet. */
export class MarketClient {
  readonly program: Program;

  constructor(readonly connection: Connection) {
    this.program = new Program(IDL, { connection } as never);
  }

  /** Every account of `kind` matching `filters`, decoded. */
  private async all<T>(kind: Kind, decode: (a: PublicKey, raw: Raw) => T, filters: object[] = []): Promise<T[]> {
    const all = await (this.program.account as unknown as Accounts)[kind].all(filters);
    return all.map((x) => decode(x.publicKey, x.account));
  }

  /** The account of `kind` at `address`, decoded; null when it does not exist. */
  private async one<T>(kind: Kind, decode: (a: PublicKey, raw: Raw) => T, address: PublicKey): Promise<T | null> {
    const a = await (this.program.account as unknown as Accounts)[kind].fetchNullable(address);
    return a ? decode(address, a) : null;
  }

  /** Whether the program exists on this cluster (it does not on a wrong cluster). */
  async programDeployed(): Promise<boolean> {
    const info = await this.connection.getAccountInfo(PROGRAM_ID);
    return info !== null && info.executable;
  }

  // markets are read as raw accounts and decoded here: their terms hash is taken of the bytes

  async markets(): Promise<Market[]> {
    const all = await this.connection.getProgramAccounts(PROGRAM_ID, {
      filters: [{ memcmp: this.program.coder.accounts.memcmp("market") } as never],
    });
    return all.map((x) => this.decodeMarket(x.pubkey, x.account.data));
  }

  /** The market at `address`, read now; null when there is no market account there. */
  async market(address: PublicKey): Promise<Market | null> {
    const info = await this.connection.getAccountInfo(address);
    return info && info.owner.equals(PROGRAM_ID) && info.data.length > 0 ? this.decodeMarket(address, info.data) : null;
  }

  decodeMarket(address: PublicKey, data: Buffer): Market {
    return decodeMarket(address, this.program.coder.accounts.decode("market", data), data);
  }

  job(address: PublicKey): Promise<Job | null> {
    return this.one("job", decodeJob, address);
  }

  decodeJob(address: PublicKey, data: Buffer): Job {
    return decodeJob(address, this.program.coder.accounts.decode("job", data));
  }

  decodeSettlement(address: PublicKey, data: Buffer): Settlement {
    return decodeSettlement(address, this.program.coder.accounts.decode("settlement", data));
  }

  jobs(filter: { market?: PublicKey; requester?: PublicKey } = {}): Promise<Job[]> {
    return this.all("job", decodeJob, filters(filter, JOB_OFFSET_REQUESTER));
  }

  provider(market: PublicKey, owner: PublicKey): Promise<Provider | null> {
    return this.one("provider", decodeProvider, providerAddress(market, owner));
  }

  /** The books of a market vault (`ledgerAddress`); null for a market without them. */
  ledger(vault: PublicKey): Promise<Ledger | null> {
    return this.one("ledger", decodeLedger, ledgerAddress(vault));
  }

  settlement(job: PublicKey): Promise<Settlement | null> {
    return this.one("settlement", decodeSettlement, settlementAddress(job));
  }

  settlements(filter: { market?: PublicKey; requester?: PublicKey } = {}): Promise<Settlement[]> {
    return this.all("settlement", decodeSettlement, filters(filter, SETTLEMENT_OFFSET_REQUESTER));
  }

  providers(market?: PublicKey): Promise<Provider[]> {
    return this.all("provider", decodeProvider, filters({ market }));
  }

  /** Token balance of a token account in base units (0 when it does not exist). */
  async tokenBalance(account: PublicKey): Promise<bigint> {
    const info = await this.connection.getAccountInfo(account);
    if (!info) return 0n;
    const r = await this.connection.getTokenAccountBalance(account);
    return BigInt(r.value.amount);
  }

  async mintDecimals(mint: PublicKey): Promise<number> {
    const r = await this.connection.getTokenSupply(mint);
    return r.value.decimals;
  }

  /** Subscribes to every job and settlement of `requester`; returns the unsubscribe function. */
  watchRequester(
    requester: PublicKey,
    onJob: (job: Job) => void,
    onSettlement: (s: Settlement) => void,
  ): () => void {
    const jobDisc = this.program.coder.accounts.memcmp("job");
    const setDisc = this.program.coder.accounts.memcmp("settlement");
    const a = this.connection.onProgramAccountChange(
      PROGRAM_ID,
      (k) => {
        if (k.accountInfo.data.length > 0) onJob(this.decodeJob(k.accountId, k.accountInfo.data));
      },
      { commitment: "confirmed", filters: [{ memcmp: jobDisc } as never, memcmp(JOB_OFFSET_REQUESTER, requester)] },
    );
    const b = this.connection.onProgramAccountChange(
      PROGRAM_ID,
      (k) => onSettlement(this.decodeSettlement(k.accountId, k.accountInfo.data)),
      {
        commitment: "confirmed",
        filters: [{ memcmp: setDisc } as never, memcmp(SETTLEMENT_OFFSET_REQUESTER, requester)],
      },
    );
    return () => {
      void this.connection.removeProgramAccountChangeListener(a);
      void this.connection.removeProgramAccountChangeListener(b);
    };
  }

  // ---- building -----------------------------------------------------------------------------

  /** Posts a job on the terms of `market` as it was read (`market.termsHash`): pass the market
   * object whose terms the requester reviewed, not one read again. */
  async postJobInstruction(p: {
    market: Market;
    requester: PublicKey;
    nonce: bigint;
    manifestHash: Uint8Array;
    manifestUri: string;
    /** The most each agreeing replica can earn (escrowed per replica). */
    rewardPerReplica: bigint;
    /** A rising offer's starting price, its start (seconds after the post) and length; a fixed
     * offer has `minRewardPerReplica = rewardPerReplica` and `rampSeconds = 0`. */
    minRewardPerReplica: bigint;
    rampDelay: number;
    rampSeconds: number;
    replicas: number;
    quorum: number;
    commitWindow: number;
  }): Promise<TransactionInstruction> {
    const job = jobAddress(p.market.address, p.requester, p.nonce);
    return this.program.methods
      .postJob({
        nonce: new BN(p.nonce.toString()),
        manifestHash: Array.from(p.manifestHash),
        manifestUri: p.manifestUri,
        rewardPerReplica: new BN(p.rewardPerReplica.toString()),
        minRewardPerReplica: new BN(p.minRewardPerReplica.toString()),
        rampDelay: new BN(p.rampDelay),
        rampSeconds: new BN(p.rampSeconds),
        replicas: p.replicas,
        quorum: p.quorum,
        commitWindow: new BN(p.commitWindow),
        termsHash: Array.from(p.market.termsHash),
        // the app posts no consumer (`cmkt job post --feed|--consumer` does)
        consumer: null,
      })
      .accountsPartial({
        requester: p.requester,
        market: p.market.address,
        job,
        settlement: settlementAddress(job),
        requesterToken: requesterTokenAccount(p.market, p.requester),
        escrowVault: p.market.escrowVault,
        escrowLedger: ledgerAddress(p.market.escrowVault),
        paymentMint: p.market.paymentMint,
        // read only: the stake it books scales the job's eligibility windows
        stakeLedger: ledgerAddress(p.market.stakeVault),
        tokenProgram: p.market.paymentTokenProgram,
      })
      .instruction();
  }

  /** Cancels `job`, signed by `requester` (the program checks it posted the job); the job's
   * settlement record (`Cancelled`) is created with the requester paying its rent. */
  async cancelJobInstruction(market: Market, job: Job, requester: PublicKey): Promise<TransactionInstruction> {
    return this.program.methods
      .cancelJob()
      .accountsPartial({
        requester,
        market: market.address,
        job: job.address,
        settlement: settlementAddress(job.address),
        refundTo: requesterTokenAccount(market, requester),
        escrowVault: market.escrowVault,
        escrowLedger: ledgerAddress(market.escrowVault),
        paymentMint: market.paymentMint,
        tokenProgram: market.paymentTokenProgram,
        systemProgram: SystemProgram.programId,
      })
      .instruction();
  }
}

// ---- addresses ------------------------------------------------------------------------------

/** The job PDA and its bump. */
export function jobPda(market: PublicKey, requester: PublicKey, nonce: bigint): [PublicKey, number] {
  return PublicKey.findProgramAddressSync([utf8("job"), market.toBytes(), requester.toBytes(), u64le(nonce)], PROGRAM_ID);
}

export function jobAddress(market: PublicKey, requester: PublicKey, nonce: bigint): PublicKey {
  return jobPda(market, requester, nonce)[0];
}

/** The settlement PDA of `job` and its bump. */
export function settlementPda(job: PublicKey): [PublicKey, number] {
  return PublicKey.findProgramAddressSync([utf8("settlement"), job.toBytes()], PROGRAM_ID);
}

export function settlementAddress(job: PublicKey): PublicKey {
  return settlementPda(job)[0];
}

/** Compute units a `post_job` needs: the measured limit and the bump searches of the job and
 * settlement PDAs it creates. */
export function postJobUnits(market: PublicKey, requester: PublicKey, nonce: bigint): number {
  const [job, jobBump] = jobPda(market, requester, nonce);
  return programUnits("post_job", [jobBump, settlementPda(job)[1]]);
}

/** Compute units a `cancel_job` needs: the measured limit and the bump search of the settlement
 * record it creates. */
export function cancelJobUnits(job: PublicKey): number {
  return programUnits("cancel_job", [settlementPda(job)[1]]);
}

/** The ledger PDA `["ledger", vault]`: the program's books of a market vault. */
export function ledgerAddress(vault: PublicKey): PublicKey {
  return PublicKey.findProgramAddressSync([utf8("ledger"), vault.toBytes()], PROGRAM_ID)[0];
}

export function providerAddress(market: PublicKey, owner: PublicKey): PublicKey {
  return PublicKey.findProgramAddressSync([utf8("provider"), market.toBytes(), owner.toBytes()], PROGRAM_ID)[0];
}

export function requesterTokenAccount(market: Market, requester: PublicKey): PublicKey {
  return getAssociatedTokenAddressSync(market.paymentMint, requester, true, market.paymentTokenProgram);
}

// ---- money ----------------------------------------------------------------------------------

/** The protocol fee taken from one agreeing replica's reward (rounded down, as the program does). */
export const feePerReplica = (reward: bigint, feeBps: number) => (reward * BigInt(feeBps)) / 10_000n;

/** What posting a job costs and locks, shown before the wallet signs. */
export interface PostCost {
  escrow: bigint;
  feePerReplica: bigint;
  providersGetPerReplica: bigint;
  maxFee: bigint;
  jobRent: bigint;
  /** Prepaid for the settlement record, sized for `MAX_EXPIRED_CLAIMS` expired claims. */
  settlementDeposit: bigint;
  /** The record's rent when no claim expired: what settling or cancelling keeps of the deposit
   * (32 bytes' rent more per expired claim it lists). */
  settlementRent: bigint;
  signatureFee: bigint;
  /** SOL locked while the job is open (job rent + deposit); all but the record's rent comes back
   * when it settles or is cancelled. */
  lamportsLocked: bigint;
}

export async function postCost(
  connection: Connection,
  market: Market,
  rewardPerReplica: bigint,
  replicas: number,
  uriLen: number,
): Promise<PostCost> {
  const fee = feePerReplica(rewardPerReplica, market.config.feeBps);
  const [jobRent, settlementDeposit, settlementRent] = await Promise.all([
    connection.getMinimumBalanceForRentExemption(jobSpace(replicas, uriLen)),
    connection.getMinimumBalanceForRentExemption(settlementSpace(replicas, MAX_EXPIRED_CLAIMS)),
    connection.getMinimumBalanceForRentExemption(settlementSpace(replicas, 0)),
  ]);
  return {
    escrow: rewardPerReplica * BigInt(replicas),
    feePerReplica: fee,
    providersGetPerReplica: rewardPerReplica - fee,
    maxFee: fee * BigInt(replicas),
    jobRent: BigInt(jobRent),
    settlementDeposit: BigInt(settlementDeposit),
    settlementRent: BigInt(settlementRent),
    signatureFee: SIGNATURE_FEE,
    lamportsLocked: BigInt(jobRent) + BigInt(settlementDeposit),
  };
}
