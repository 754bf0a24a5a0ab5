/**
 * The market terms a requester accepts when posting (`MarketConfig::terms_hash` in
 * `programs/compute-market/src/state/market.rs`):
 *
 * ```text
 * terms_hash = sha256(TERMS_DOMAIN || market account bytes [MARKET_CONFIG_OFFSET, +MARKET_CONFIG_LEN))
 * ```
 *
 * The config's borsh bytes sit at a fixed offset of the market account, so the hash is taken of the
 * very bytes the app decoded the fee, collateral and windows from: what the review shows is what
 * the post binds, and `post_job` fails with `TermsChanged` if the market changed since.
 */
import { sha256 } from "@noble/hashes/sha2";
import idlJson from "../../../idl/compute_market.json";
import { concat } from "./bytes";

/** A constant of the IDL by name (the program's `#[constant]`s). */
export function idlConstant(name: string): string {
  const c = idlJson.constants.find((x) => x.name === name);
  if (!c) throw new Error(`the IDL has no constant ${name}`);
  return c.value;
}

/** `b"compute-market/terms/v1"`, as the IDL lists it (`[99, 111, …]`). */
export const TERMS_DOMAIN = Uint8Array.from(JSON.parse(idlConstant("TERMS_DOMAIN")) as number[]);

/** Byte offset of `Market::config`: discriminator, 4 × u8 and a bool, authority, market_id, 7 keys. */
export const MARKET_CONFIG_OFFSET = 8 + 5 + 32 + 8 + 32 * 7;
/** Bytes of a borsh `MarketConfig`: 2 × u64, 2 × u16, u8, 5 × i64. */
export const MARKET_CONFIG_LEN = 8 + 8 + 2 + 2 + 1 + 8 * 5;

/** The terms hash of the market account whose raw bytes are `data`. */
export function termsHash(data: Uint8Array): Uint8Array {
  if (data.length < MARKET_CONFIG_OFFSET + MARKET_CONFIG_LEN) {
    throw new Error(`a market account is at least ${MARKET_CONFIG_OFFSET + MARKET_CONFIG_LEN} bytes, not ${data.length}`);
  }
  return sha256(concat(TERMS_DOMAIN, data.subarray(MARKET_CONFIG_OFFSET, MARKET_CONFIG_OFFSET + MARKET_CONFIG_LEN)));
}
