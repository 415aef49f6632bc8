//! Civil dates in Korea Standard Time (UTC+9, no daylight saving) from journal time.
//!
//! Monthly limits, purchase windows by day and auto-charge days are all judged by the
//! Korean calendar, whatever the server's time zone: a limit that resets at midnight
//! UTC would reset at 09:00 for the citizen.

use crate::money::{DAY_US, Timestamp};

const KST_OFFSET_US: u64 = 9 * 3_600 * 1_000_000;

/// A civil date in KST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KstDate {
    pub year: i32,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
}

impl KstDate {
    pub fn of(t: Timestamp) -> KstDate {
        let days = (t.as_micros().saturating_add(KST_OFFSET_US) / DAY_US) as i64;
        civil_from_days(days)
    }

    /// A month number that increases by one each month: what monthly counters key on.
    pub fn month_index(self) -> u32 {
        (self.year.max(0) as u32) * 12 + u32::from(self.month) - 1
    }

    /// The instant this date begins in KST.
    pub fn start(self) -> Timestamp {
        let days = days_from_civil(self.year, self.month, self.day);
        let us = (days.max(0) as u64)
            .saturating_mul(DAY_US)
            .saturating_sub(KST_OFFSET_US);
        Timestamp::from_micros(us)
    }

    /// The first day of the following month.
    pub fn next_month_start(self) -> KstDate {
        if self.month == 12 {
            KstDate {
                year: self.year + 1,
                month: 1,
                day: 1,
            }
        } else {
            KstDate {
                year: self.year,
                month: self.month + 1,
                day: 1,
            }
        }
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(z: i64) -> KstDate {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    KstDate { year, month, day }
}

fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kst_midnight_is_15h_utc_the_day_before() {
        // 2026-03-01 00:00 KST = 2026-02-28 15:00 UTC = 1772290800 s.
        let t = Timestamp::from_micros(1_772_290_800 * 1_000_000);
        assert_eq!(
            KstDate::of(t),
            KstDate {
                year: 2026,
                month: 3,
                day: 1
            }
        );
        assert_eq!(KstDate::of(t.minus_micros(1)).day, 28);
        assert_eq!(KstDate::of(t).start(), t);
    }

    #[test]
    fn round_trips_every_day_for_a_century() {
        for days in 0..36_600i64 {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(d.year, d.month, d.day), days);
        }
    }
}
