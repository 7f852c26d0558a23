//! UTC timestamps for file provenance attributes, without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as an ISO 8601 UTC timestamp with second resolution,
/// e.g. `2026-11-25T08:12:03Z`.
pub fn iso8601_now_utc() -> String {
    let secs = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // A clock set before 1970 is odd but representable.
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    iso8601_from_unix(secs)
}

/// Formats seconds since the Unix epoch (UTC, leap seconds ignored as in
/// POSIX time) as `YYYY-MM-DDTHH:MM:SSZ`. Split out of [`iso8601_now_utc`]
/// so the calendar arithmetic can be tested against fixed instants.
pub fn iso8601_from_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Proleptic Gregorian (year, month, day) of a day count relative to
/// 1970-01-01.
///
/// The calendar repeats every 400 years (146 097 days), so we shift the
/// origin to 0000-03-01: with years starting in March, the leap day is the
/// last day of the year and month lengths within a year follow the fixed
/// pattern 31,30,31,30,31 (Mar..Jul), 31,30,31,30,31 (Aug..Dec), 31,28/29,
/// which `(153 * mp + 2) / 5` maps to day-of-year offsets.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // 719 468 = days from 0000-03-01 to 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
                                     // Year of era, 0..=399: remove the leap days accumulated so far
                                     // (one per 4 years, minus one per 100, plus one per 400).
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from March 1
    let mp = (5 * doy + 2) / 153; // month index from March, 0..=11
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(iso8601_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_from_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_from_unix(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(iso8601_from_unix(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(iso8601_from_unix(1_790_000_000), "2026-09-21T14:13:20Z");
        assert_eq!(iso8601_from_unix(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(iso8601_from_unix(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(iso8601_from_unix(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn every_day_follows_the_previous() {
        // Walk 1900..2200 day by day and check the date increments sanely.
        let mut prev = civil_from_days(-25_567); // 1900-01-01
        assert_eq!(prev, (1900, 1, 1));
        for days in -25_566..84_000 {
            let cur = civil_from_days(days);
            let (py, pm, pd) = prev;
            let next_day = (py, pm, pd + 1);
            let next_month = (py, pm + 1, 1);
            let next_year = (py + 1, 1, 1);
            assert!(
                cur == next_day || cur == next_month || cur == next_year,
                "{prev:?} -> {cur:?}"
            );
            if cur != next_day {
                let leap = (py % 4 == 0 && py % 100 != 0) || py % 400 == 0;
                let len = [
                    31,
                    if leap { 29 } else { 28 },
                    31,
                    30,
                    31,
                    30,
                    31,
                    31,
                    30,
                    31,
                    30,
                    31,
                ];
                assert_eq!(pd, len[pm as usize - 1], "month {py}-{pm} ended early");
            }
            prev = cur;
        }
    }

    #[test]
    fn now_is_well_formed() {
        let s = iso8601_now_utc();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z'), "{s}");
    }
}
