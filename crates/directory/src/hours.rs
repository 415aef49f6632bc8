//! Opening hours: one interval (or closed) per weekday, in minutes from midnight.
//!
//! Registry files and merchants write hours the Korean way: `월-금 09:00-18:00, 토
//! 10:00-14:00`, `매일 11:00~22:00`, `평일 …`, `주말 …`, `연중무휴 24시간`, `일 휴무`.
//! [`OpeningHours::parse`] reads those (and `Mon-Fri`); [`fmt::Display`] writes a canonical
//! form that parses back to the same value, so a re-import never reports hours as changed
//! because they were spelled differently. Days not mentioned are closed. A close time
//! at or before the open time means the interval runs past midnight (a bar open
//! 18:00-02:00).

use std::fmt;

use crate::error::HoursError;

/// Minutes in a day; `24:00` is the only time equal to it.
pub const DAY_MIN: u16 = 1440;
/// The longest hours text accepted (a bound on outside input).
pub const HOURS_TEXT_MAX: usize = 200;

const DAY_NAMES_KO: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];
const DAY_NAMES_EN: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Monday = 0 … Sunday = 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    fn previous(self) -> Weekday {
        Weekday::ALL[(self.index() + 6) % 7]
    }
}

/// One day's opening: closed, or open from `open_min` to `close_min` (minutes from
/// midnight; `close_min <= open_min` means the next day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "DayHoursRaw")]
pub enum DayHours {
    Closed,
    Open { open_min: u16, close_min: u16 },
}

#[derive(serde::Deserialize)]
enum DayHoursRaw {
    Closed,
    Open { open_min: u16, close_min: u16 },
}

impl TryFrom<DayHoursRaw> for DayHours {
    type Error = HoursError;
    fn try_from(raw: DayHoursRaw) -> Result<Self, Self::Error> {
        match raw {
            DayHoursRaw::Closed => Ok(DayHours::Closed),
            DayHoursRaw::Open {
                open_min,
                close_min,
            } => DayHours::open(open_min, close_min),
        }
    }
}

impl DayHours {
    /// Validates: open before 24:00, close at most 24:00, and not an empty interval
    /// (`00:00-24:00` is the whole day; `09:00-09:00` is refused as ambiguous).
    pub fn open(open_min: u16, close_min: u16) -> Result<DayHours, HoursError> {
        if open_min >= DAY_MIN || close_min > DAY_MIN || open_min == close_min {
            return Err(HoursError::BadTime);
        }
        Ok(DayHours::Open {
            open_min,
            close_min,
        })
    }
}

/// A week of opening hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct OpeningHours {
    days: [DayHours; 7],
}

impl OpeningHours {
    pub fn new(days: [DayHours; 7]) -> OpeningHours {
        OpeningHours { days }
    }

    pub fn day(&self, d: Weekday) -> DayHours {
        self.days[d.index()]
    }

    pub fn days(&self) -> &[DayHours; 7] {
        &self.days
    }

    /// Open at `minute` (0..1440) of weekday `d`, counting yesterday's interval that runs
    /// past midnight. The caller turns its clock into local weekday and minute.
    pub fn is_open_at(&self, d: Weekday, minute: u16) -> bool {
        let today = match self.day(d) {
            DayHours::Closed => false,
            DayHours::Open {
                open_min,
                close_min,
            } => {
                if close_min > open_min {
                    (open_min..close_min).contains(&minute)
                } else {
                    minute >= open_min
                }
            }
        };
        let spill = match self.day(d.previous()) {
            DayHours::Open {
                open_min,
                close_min,
            } if close_min <= open_min => minute < close_min,
            _ => false,
        };
        today || spill
    }

    /// Parses the Korean notation described in the module doc.
    pub fn parse(text: &str) -> Result<OpeningHours, HoursError> {
        if text.len() > HOURS_TEXT_MAX {
            return Err(HoursError::TooLong);
        }
        let mut days: [Option<DayHours>; 7] = [None; 7];
        let mut any = false;
        for part in text.split([',', ';', '/', '\n']) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            any = true;
            let (day_spec, time_spec) = split_days_and_time(part)?;
            let selected = parse_days(day_spec)?;
            let value = parse_time_spec(time_spec)?;
            for (i, on) in selected.iter().enumerate() {
                if *on {
                    if days[i].is_some() {
                        return Err(HoursError::DuplicateDay);
                    }
                    days[i] = Some(value);
                }
            }
        }
        if !any {
            return Err(HoursError::Empty);
        }
        Ok(OpeningHours {
            days: days.map(|d| d.unwrap_or(DayHours::Closed)),
        })
    }
}

/// Splits `월-금 09:00-18:00` into the day part and the time part; `24시간`, `연중무휴`,
/// `휴무` may stand alone.
fn split_days_and_time(part: &str) -> Result<(&str, &str), HoursError> {
    if part == "연중무휴" || part == "24시간" {
        return Ok(("매일", "24시간"));
    }
    if let Some(rest) = part.strip_prefix("연중무휴") {
        return Ok(("매일", rest.trim()));
    }
    // The day part ends where the first digit or the words 휴무/24시간 begin.
    let cut = part
        .char_indices()
        .find(|(_, c)| c.is_ascii_digit())
        .map(|(i, _)| i)
        .or_else(|| part.find("휴무"))
        .or_else(|| part.find("closed"))
        .or_else(|| part.find("Closed"))
        .ok_or(HoursError::Syntax)?;
    let (d, t) = part.split_at(cut);
    let d = d.trim();
    if d.is_empty() {
        return Err(HoursError::Syntax);
    }
    Ok((d, t.trim()))
}

fn day_index(name: &str) -> Option<usize> {
    let lower = name.trim().to_ascii_lowercase();
    let key = lower.strip_suffix("요일").unwrap_or(&lower);
    DAY_NAMES_KO
        .iter()
        .position(|d| *d == key)
        .or_else(|| DAY_NAMES_EN.iter().position(|d| *d == key))
}

fn parse_days(spec: &str) -> Result<[bool; 7], HoursError> {
    let mut on = [false; 7];
    match spec {
        "매일" | "daily" | "Daily" => return Ok([true; 7]),
        "평일" | "weekdays" | "Weekdays" => {
            return Ok([true, true, true, true, true, false, false]);
        }
        "주말" | "weekends" | "Weekends" => {
            return Ok([false, false, false, false, false, true, true]);
        }
        _ => {}
    }
    for item in spec.split(['·', '.', ' ', '&']) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        if let Some((a, b)) = item.split_once(['-', '~']) {
            let a = day_index(a).ok_or(HoursError::UnknownDay)?;
            let b = day_index(b).ok_or(HoursError::UnknownDay)?;
            let mut i = a;
            loop {
                on[i] = true;
                if i == b {
                    break;
                }
                i = (i + 1) % 7;
            }
        } else {
            on[day_index(item).ok_or(HoursError::UnknownDay)?] = true;
        }
    }
    if on.iter().all(|d| !d) {
        return Err(HoursError::UnknownDay);
    }
    Ok(on)
}

fn parse_time_spec(spec: &str) -> Result<DayHours, HoursError> {
    match spec {
        "휴무" | "휴일" | "closed" | "Closed" => return Ok(DayHours::Closed),
        "24시간" | "24h" => return DayHours::open(0, DAY_MIN),
        _ => {}
    }
    let (a, b) = spec.split_once(['-', '~']).ok_or(HoursError::Syntax)?;
    DayHours::open(parse_clock(a)?, parse_clock(b)?)
}

fn parse_clock(text: &str) -> Result<u16, HoursError> {
    let (h, m) = text.trim().split_once(':').ok_or(HoursError::Syntax)?;
    let digits = |s: &str| -> Result<u16, HoursError> {
        if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HoursError::BadTime);
        }
        s.parse::<u16>().map_err(|_| HoursError::BadTime)
    };
    let (h, m) = (digits(h)?, digits(m)?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(HoursError::BadTime);
    }
    Ok(h * 60 + m)
}

fn write_clock(f: &mut fmt::Formatter<'_>, min: u16) -> fmt::Result {
    write!(f, "{:02}:{:02}", min / 60, min % 60)
}

impl fmt::Display for OpeningHours {
    /// Canonical form: runs of consecutive days with the same hours, `월-금 09:00-18:00, 토
    /// 10:00-14:00`; closed days are left out; a week with no open day is `매일 휴무`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < 7 {
            let value = self.days[i];
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] == value {
                j += 1;
            }
            if let DayHours::Open {
                open_min,
                close_min,
            } = value
            {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                if i == 0 && j == 6 {
                    f.write_str("매일")?;
                } else if i == j {
                    f.write_str(DAY_NAMES_KO[i])?;
                } else {
                    write!(f, "{}-{}", DAY_NAMES_KO[i], DAY_NAMES_KO[j])?;
                }
                f.write_str(" ")?;
                write_clock(f, open_min)?;
                f.write_str("-")?;
                write_clock(f, close_min)?;
            }
            i = j + 1;
        }
        if first {
            f.write_str("매일 휴무")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expected: Result<&str, HoursError>) {
        assert_eq!(
            OpeningHours::parse(input).map(|h| h.to_string()),
            expected.map(str::to_string),
            "{input}"
        );
    }

    #[test]
    fn parse_examples() {
        check(
            "월-금 09:00-18:00, 토 10:00-14:00",
            Ok("월-금 09:00-18:00, 토 10:00-14:00"),
        );
        check("매일 11:00~22:00", Ok("매일 11:00-22:00"));
        check("연중무휴 24시간", Ok("매일 00:00-24:00"));
        check("24시간", Ok("매일 00:00-24:00"));
        check("평일 9:00-18:00; 주말 휴무", Ok("월-금 09:00-18:00"));
        check("화-일 10:00-20:00, 월 휴무", Ok("화-일 10:00-20:00"));
        check("Mon-Fri 09:00-18:00", Ok("월-금 09:00-18:00"));
        check("월요일 09:00-12:00", Ok("월 09:00-12:00"));
        check("금-월 18:00-02:00", Ok("월 18:00-02:00, 금-일 18:00-02:00"));
        check(
            "월·수·금 09:00-13:00",
            Ok("월 09:00-13:00, 수 09:00-13:00, 금 09:00-13:00"),
        );
        check("일 휴무", Ok("매일 휴무"));
        check(
            "월-금 09:00-18:00, 금 10:00-12:00",
            Err(HoursError::DuplicateDay),
        );
        check("월-금 25:00-18:00", Err(HoursError::BadTime));
        check("월-금 09:00-09:00", Err(HoursError::BadTime));
        check("쉬는날 09:00-10:00", Err(HoursError::UnknownDay));
        check("09:00-18:00", Err(HoursError::Syntax));
        check("월-금 0900-1800", Err(HoursError::Syntax));
        check("", Err(HoursError::Empty));
    }

    #[test]
    fn open_past_midnight_counts_for_the_next_morning() {
        let h = OpeningHours::parse("금 18:00-02:00").unwrap();
        assert!(h.is_open_at(Weekday::Fri, 23 * 60));
        assert!(h.is_open_at(Weekday::Sat, 60));
        assert!(!h.is_open_at(Weekday::Sat, 3 * 60));
        assert!(!h.is_open_at(Weekday::Fri, 60));
    }

    fn day_hours() -> impl Strategy<Value = DayHours> {
        prop_oneof![
            Just(DayHours::Closed),
            (0u16..1440, 0u16..=1440)
                .prop_filter_map("empty interval", |(o, c)| DayHours::open(o, c).ok()),
        ]
    }

    proptest! {
        #[test]
        fn display_parses_back(days in proptest::array::uniform7(day_hours())) {
            let h = OpeningHours::new(days);
            prop_assert_eq!(OpeningHours::parse(&h.to_string()), Ok(h));
        }

        #[test]
        fn parse_never_panics(s in ".{0,60}") {
            let _ = OpeningHours::parse(&s);
        }
    }
}
