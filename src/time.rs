//! UTC calendar arithmetic for days (`YYYY-MM-DD`: budgets, usage rows, transcript keys) and
//! RFC 3339 timestamps, from milliseconds since the epoch.
//!
//! Pure: the caller reads the clock (it does not exist in std on wasm32) and passes the time.

/// `YYYY-MM-DD` (UTC) of milliseconds since the epoch.
pub fn day(ms: u64) -> String {
    let (y, m, d) = civil_from_days(i64::try_from(ms / 86_400_000).unwrap_or(0));
    format!("{y:04}-{m:02}-{d:02}")
}

/// RFC 3339 (UTC, milliseconds) of milliseconds since the epoch: `2025-07-07T19:42:18.123Z`.
pub fn rfc3339(ms: u64) -> String {
    let in_day = ms % 86_400_000;
    let secs = in_day / 1000;
    format!("{}T{:02}:{:02}:{:02}.{:03}Z", day(ms), secs / 3600, secs % 3600 / 60, secs % 60, in_day % 1000)
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm, proleptic
/// Gregorian; exact for every `i64` day a `u64` of milliseconds can name).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe.saturating_add(era.saturating_mul(400)) + i64::from(m <= 2);
    (y, u32::try_from(m).unwrap_or(1), u32::try_from(d).unwrap_or(1))
}


/// `day` of a signed millisecond time (before 1970 reads as 1970-01-01).
pub fn day_of(ms: i64) -> String {
    day(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_dates() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(951_782_400_000), "2000-02-29");
        assert_eq!(day(1_795_737_599_999), "2026-11-26");
        assert_eq!(day(1_795_737_600_000), "2026-11-27");
        assert_eq!(day_of(-5), "1970-01-01");
        assert_eq!(rfc3339(1_751_918_538_123), "2025-07-07T20:02:18.123Z");
    }
}
