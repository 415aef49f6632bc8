//! Times as people in Korea read them: Korea Standard Time, UTC+9 all year (Korea has
//! had no daylight saving time since 1988), so a fixed offset is exact and no time zone
//! database is needed.

use std::time::{SystemTime, UNIX_EPOCH};

const KST_OFFSET_MS: i64 = 9 * 3_600_000;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A moment split into KST calendar fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kst {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Kst {
    pub fn from_ms(ms: u64) -> Kst {
        let local = i64::try_from(ms).unwrap_or(i64::MAX - KST_OFFSET_MS) + KST_OFFSET_MS;
        let days = local.div_euclid(86_400_000);
        let in_day = local.rem_euclid(86_400_000) / 1000;
        let (year, month, day) = civil_from_days(days);
        Kst {
            year,
            month,
            day,
            hour: (in_day / 3600) as u32,
            minute: (in_day / 60 % 60) as u32,
            second: (in_day % 60) as u32,
        }
    }

    /// `2026-12-03T18:05:09+09:00`, for `<time datetime>` and JSON.
    pub fn rfc3339(self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+09:00",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2026-12-03`.
    pub fn date(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `2026-12-03 18:05:09`: the same in both languages, and unambiguous.
    pub fn display(self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(ms: u64, expected: &str) {
        assert_eq!(Kst::from_ms(ms).rfc3339(), expected);
    }

    #[test]
    fn utc_moments_are_shown_nine_hours_later() {
        check(0, "1970-01-01T09:00:00+09:00");
        // 2024-02-29T15:00:00Z is already 1 March in Korea.
        check(1_709_218_800_000, "2024-03-01T00:00:00+09:00");
        // 2026-12-31T14:59:59.999Z is the last moment of the year in Korea.
        check(1_798_729_199_999, "2026-12-31T23:59:59+09:00");
        check(1_798_729_200_000, "2027-01-01T00:00:00+09:00");
        assert_eq!(
            Kst::from_ms(1_709_218_800_000).display(),
            "2024-03-01 00:00:00"
        );
        assert_eq!(Kst::from_ms(1_709_218_800_000).date(), "2024-03-01");
    }

    #[test]
    fn the_far_future_does_not_overflow() {
        let k = Kst::from_ms(u64::MAX);
        assert!(k.year > 2026, "{k:?}");
    }
}
