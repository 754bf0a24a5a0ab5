//! Checked arithmetic that fails with a named error instead of panicking or wrapping.

use crate::constants::BPS_DENOMINATOR;
use crate::error::MarketError;
use anchor_lang::prelude::*;

/// `a + b`, or `MathOverflow`.
pub fn add(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| error!(MarketError::MathOverflow))
}

/// `a - b`, or `MathOverflow` when `b > a`.
pub fn sub(a: u64, b: u64) -> Result<u64> {
    a.checked_sub(b)
        .ok_or_else(|| error!(MarketError::MathOverflow))
}

/// `a * b`, or `MathOverflow`.
pub fn mul(a: u64, b: u64) -> Result<u64> {
    a.checked_mul(b)
        .ok_or_else(|| error!(MarketError::MathOverflow))
}

/// `a + b` for signed timestamps, or `MathOverflow`.
pub fn add_i64(a: i64, b: i64) -> Result<i64> {
    a.checked_add(b)
        .ok_or_else(|| error!(MarketError::MathOverflow))
}

/// `amount × bps / 10_000`, rounded down, computed in u128 so it cannot overflow.
pub fn bps_of(amount: u64, bps: u16) -> Result<u64> {
    let v = (amount as u128)
        .checked_mul(bps as u128)
        .ok_or_else(|| error!(MarketError::MathOverflow))?
        / BPS_DENOMINATOR as u128;
    u64::try_from(v).map_err(|_| error!(MarketError::MathOverflow))
}

/// The price of a rising offer at unix time `now`: `min` until `start`, then linear (rounded
/// down) to `max` at `start + len`, and `max` from then on. A ramp of length 0 is a fixed offer of
/// `max`. Never below `min` or above `max` when `min <= max`.
pub fn ramp_price(min: u64, max: u64, start: i64, len: i64, now: i64) -> u64 {
    if len <= 0 || now >= start.saturating_add(len) {
        return max;
    }
    if now <= start || max <= min {
        return min;
    }
    // 0 < now - start < len, so the quotient is below max - min
    let rise = (max - min) as u128 * (now as i128 - start as i128) as u128 / len as u128;
    min + rise as u64
}

/// [`ramp_price`] rounded up instead of down: the least whole price at or above the exact curve
/// at `now`. A new curve that starts here never falls below the old one between whole units.
pub fn ramp_price_ceil(min: u64, max: u64, start: i64, len: i64, now: i64) -> u64 {
    if len <= 0 || now >= start.saturating_add(len) {
        return max;
    }
    if now <= start || max <= min {
        return min;
    }
    let rise = ((max - min) as u128 * (now as i128 - start as i128) as u128).div_ceil(len as u128);
    min + rise as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sub_mul_report_overflow() {
        assert_eq!(add(2, 3).unwrap(), 5);
        assert!(add(u64::MAX, 1).is_err());
        assert_eq!(sub(5, 3).unwrap(), 2);
        assert!(sub(3, 5).is_err());
        assert_eq!(mul(4, 5).unwrap(), 20);
        assert!(mul(u64::MAX, 2).is_err());
        assert!(add_i64(i64::MAX, 1).is_err());
    }

    #[test]
    fn bps_rounds_down_and_never_overflows() {
        assert_eq!(bps_of(1_000, 250).unwrap(), 25);
        assert_eq!(bps_of(999, 1).unwrap(), 0);
        assert_eq!(bps_of(u64::MAX, 10_000).unwrap(), u64::MAX);
        assert_eq!(bps_of(u64::MAX, 5_000).unwrap(), u64::MAX / 2);
        assert_eq!(bps_of(0, 10_000).unwrap(), 0);
    }

    #[test]
    fn ramp_price_ceil_is_the_whole_price_at_or_above_the_curve() {
        // 3 × 1 / 7 = 0.43: down 0, up 1; exact points agree
        assert_eq!(
            (ramp_price(0, 3, 0, 7, 1), ramp_price_ceil(0, 3, 0, 7, 1)),
            (0, 1)
        );
        assert_eq!(ramp_price_ceil(100, 200, 1_000, 100, 1_050), 150);
        for t in [0, 1_000, 1_100, 5_000] {
            assert_eq!(
                ramp_price_ceil(100, 200, 1_000, 100, t),
                ramp_price(100, 200, 1_000, 100, t)
            );
        }
        assert_eq!(ramp_price_ceil(0, 500, 1_000, 0, 0), 500);
        // one above the rounded-down u64::MAX - 3 of the same moment, without overflow
        assert_eq!(
            ramp_price_ceil(0, u64::MAX, 0, i64::MAX, i64::MAX - 1),
            u64::MAX - 2
        );
    }

    #[test]
    fn ramp_price_edges() {
        // before, at and after the start; halfway; one second short of the end; at the end
        assert_eq!(ramp_price(100, 200, 1_000, 100, 0), 100);
        assert_eq!(ramp_price(100, 200, 1_000, 100, 1_000), 100);
        assert_eq!(ramp_price(100, 200, 1_000, 100, 1_001), 101);
        assert_eq!(ramp_price(100, 200, 1_000, 100, 1_050), 150);
        assert_eq!(ramp_price(100, 200, 1_000, 100, 1_099), 199);
        assert_eq!(ramp_price(100, 200, 1_000, 100, 1_100), 200);
        assert_eq!(ramp_price(100, 200, 1_000, 100, i64::MAX), 200);
        // rounds down: 3 × 1 / 7 = 0
        assert_eq!(ramp_price(0, 3, 0, 7, 1), 0);
        // a fixed offer ignores min and start
        assert_eq!(ramp_price(0, 500, 1_000, 0, 0), 500);
        // no overflow at the extremes
        assert_eq!(
            ramp_price(0, u64::MAX, 0, i64::MAX, i64::MAX / 2),
            u64::MAX / 2 - 1
        );
        assert_eq!(
            ramp_price(0, u64::MAX, 0, i64::MAX, i64::MAX - 1),
            u64::MAX - 3
        );
    }
}
