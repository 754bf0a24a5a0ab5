//! Stake-weighted slot eligibility: who may claim a job's slots, and from when.
//!
//! ```text
//! seed        = sha256(SEED_DOMAIN || job || u64le(s) || slot_hash(s))
//!               s: the first slot at or after job.seed_slot (the post's slot + SEED_DELAY_SLOTS)
//!               that the SlotHashes sysvar lists when the job's first claim lands
//! ticket(p)   = u64le(sha256(TICKET_DOMAIN || seed || p)[..8])      p: the provider's owner wallet
//! delay(p)    = min(ELIGIBILITY_CAP_SLOTS,
//!                   ceil(-log2((ticket + 1) / 2^64) × stake_scale × ELIGIBILITY_UNIT_SLOTS / bonded))
//! p may claim once the chain's slot ≥ seed_slot + delay(p)
//! ```
//!
//! `-log2` of a uniform ticket is exponentially distributed, so a provider's delay is
//! exponential with a rate proportional to its bonded stake: among several providers the first
//! to become eligible is each one with probability equal to its share of their stake, and a
//! party's earliest wallet becomes eligible at the same time whether it holds its stake in one
//! wallet or in many (the minimum of exponentials is the exponential of the summed rate).
//! `stake_scale` (the stake vault's balance when the job was posted) only sets how fast the
//! windows open for everyone alike: a stale or inflated value never changes the order.

use crate::constants::*;
use anchor_lang::prelude::*;

/// Bytes of one SlotHashes entry: `u64le(slot) || hash`.
const SLOT_HASH_ENTRY: usize = 40;

/// The entry of the SlotHashes sysvar (raw account data: `u64le(len)`, then entries newest
/// first) that seeds a job whose seed slot is `seed_slot`: the oldest listed slot at or after
/// it. `None` while no listed slot has reached `seed_slot`. When `seed_slot` itself has dropped
/// out of the list (512 slots, about 3 minutes), the oldest entry listed is used.
pub fn seed_entry(data: &[u8], seed_slot: u64) -> Option<(u64, [u8; 32])> {
    let len = u64::from_le_bytes(data.get(..8)?.try_into().ok()?) as usize;
    let len = len.min(data.len().saturating_sub(8) / SLOT_HASH_ENTRY);
    let entry = |i: usize| -> (u64, [u8; 32]) {
        let e = &data[8 + i * SLOT_HASH_ENTRY..8 + (i + 1) * SLOT_HASH_ENTRY];
        let slot = u64::from_le_bytes(e[..8].try_into().expect("8 bytes"));
        (slot, e[8..].try_into().expect("32 bytes"))
    };
    if len == 0 || entry(0).0 < seed_slot {
        return None;
    }
    // entries are sorted newest first: find the last one whose slot is >= seed_slot
    let (mut lo, mut hi) = (0, len - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if entry(mid).0 >= seed_slot {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(entry(lo))
}

/// The seed of `job` from the SlotHashes entry `(slot, hash)`.
pub fn job_seed(job: &Pubkey, slot: u64, hash: &[u8; 32]) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[SEED_DOMAIN, job.as_ref(), &slot.to_le_bytes(), hash]).to_bytes()
}

/// The lottery ticket of `provider` (owner wallet) in a job with `seed`.
pub fn ticket(seed: &[u8; 32], provider: &Pubkey) -> u64 {
    let h = solana_sha256_hasher::hashv(&[TICKET_DOMAIN, seed, provider.as_ref()]).to_bytes();
    u64::from_le_bytes(h[..8].try_into().expect("8 bytes"))
}

/// `-log2((t + 1) / 2^64)` in Q32.32 fixed point (between 0 and 64 × 2^32), exact to 2^-32:
/// the integer part from the leading zeros, the fraction bit by bit by repeated squaring.
pub fn neg_log2_q32(t: u64) -> u64 {
    let v = t as u128 + 1; // 1 ..= 2^64
    let int = 127 - v.leading_zeros() as u64; // floor(log2 v), 0 ..= 64
                                              // the mantissa v / 2^int in [1, 2), as Q62
    let mut y = if int >= 62 {
        v >> (int - 62)
    } else {
        v << (62 - int)
    };
    let mut frac = 0u64;
    for bit in (0..32).rev() {
        y = (y * y) >> 62;
        if y >= 2 << 62 {
            y >>= 1;
            frac |= 1 << bit;
        }
    }
    (64u64 << 32) - ((int << 32) | frac)
}

/// Slots after the seed slot from which a provider with `ticket` and `bonded` stake may claim,
/// in a job whose windows are scaled by `stake_scale` (at most `ELIGIBILITY_CAP_SLOTS`).
pub fn eligibility_delay(ticket: u64, bonded: u64, stake_scale: u64) -> u64 {
    if bonded == 0 {
        return ELIGIBILITY_CAP_SLOTS;
    }
    let num = neg_log2_q32(ticket) as u128 * stake_scale as u128 * ELIGIBILITY_UNIT_SLOTS as u128;
    let den = (bonded as u128) << 32;
    num.div_ceil(den).min(ELIGIBILITY_CAP_SLOTS as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neg_log2_is_exact_to_its_precision() {
        assert_eq!(
            neg_log2_q32(u64::MAX),
            0,
            "a ticket of 2^64 - 1 is -log2(1)"
        );
        assert_eq!(neg_log2_q32(0), 64 << 32);
        assert_eq!(neg_log2_q32((1 << 63) - 1), 1 << 32, "one half");
        assert_eq!(neg_log2_q32((1 << 62) - 1), 2 << 32, "one quarter");
        for t in [
            1u64,
            12_345,
            1 << 40,
            3 << 61,
            u64::MAX / 3,
            u64::MAX - 1000,
        ] {
            let want = -(((t as f64) + 1.0) / 2f64.powi(64)).log2();
            let got = neg_log2_q32(t) as f64 / 2f64.powi(32);
            assert!((want - got).abs() < 1e-8, "t = {t}: {got} vs {want}");
        }
    }

    #[test]
    fn delay_scales_with_the_stake_share_and_is_capped() {
        let half = (1u64 << 63) - 1; // -log2 = 1
        assert_eq!(
            eligibility_delay(half, 100, 100),
            ELIGIBILITY_UNIT_SLOTS,
            "all the stake, -log2 = 1: one unit"
        );
        assert_eq!(
            eligibility_delay(half, 25, 100),
            4 * ELIGIBILITY_UNIT_SLOTS,
            "a quarter of the stake waits four times as long"
        );
        assert_eq!(eligibility_delay(u64::MAX, 1, 1_000_000), 0);
        assert_eq!(eligibility_delay(0, 1, 1_000_000), ELIGIBILITY_CAP_SLOTS);
        assert_eq!(eligibility_delay(half, 0, 100), ELIGIBILITY_CAP_SLOTS);
    }

    fn slot_hashes(entries: &[(u64, u8)]) -> Vec<u8> {
        let mut d = (entries.len() as u64).to_le_bytes().to_vec();
        for (slot, tag) in entries {
            d.extend_from_slice(&slot.to_le_bytes());
            d.extend_from_slice(&[*tag; 32]);
        }
        d
    }

    #[test]
    fn the_seed_entry_is_the_first_listed_slot_at_or_after_the_seed_slot() {
        // newest first; slot 12 was skipped
        let d = slot_hashes(&[(15, 5), (14, 4), (13, 3), (11, 1), (10, 0)]);
        assert_eq!(seed_entry(&d, 13), Some((13, [3; 32])));
        assert_eq!(seed_entry(&d, 12), Some((13, [3; 32])), "skipped: the next");
        assert_eq!(seed_entry(&d, 15), Some((15, [5; 32])));
        assert_eq!(seed_entry(&d, 16), None, "not reached yet");
        assert_eq!(
            seed_entry(&d, 3),
            Some((10, [0; 32])),
            "aged out: the oldest"
        );
        assert_eq!(seed_entry(&slot_hashes(&[]), 3), None);
        assert_eq!(seed_entry(&[1, 2], 3), None, "malformed");
        for n in 1..8u64 {
            let entries: Vec<(u64, u8)> = (0..n).rev().map(|s| (100 + 2 * s, s as u8)).collect();
            let d = slot_hashes(&entries);
            for want in 0..n {
                assert_eq!(seed_entry(&d, 100 + 2 * want).unwrap().0, 100 + 2 * want);
                assert_eq!(seed_entry(&d, 99 + 2 * want).unwrap().0, 100 + 2 * want);
            }
        }
    }
}
