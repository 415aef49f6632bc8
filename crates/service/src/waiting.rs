//! What a person held at the gate on a hard day is told: the gate (`server::gate`)
//! decides, the pages (`web::waiting`) say it in the site's own layout.

use crate::sale::Feature;

#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// In the waiting room: `position` 1 is next (0: let in, waiting for a place).
    Waiting {
        position: u64,
        estimate_s: f64,
        retry_after_s: u64,
    },
    /// A purchase before a sale opens: `waiting` are in the line drawn at the opening.
    BeforeSale {
        waiting: u64,
        opens_at_us: u64,
        to_opening_s: f64,
    },
    /// The sale's discount budget is spent.
    SoldOut,
    /// A feature paused for the sale day, back at `back_at_us`.
    Paused { feature: Feature, back_at_us: u64 },
}

/// A wait as people say it, in Korean and English: "about 1 min 5 s", "about 2 h 3 min",
/// "any moment" under a second. Rounded up to whole seconds first, so that 59.5 s reads
/// "1 min 0 s", never "60 s".
pub fn wait_words(seconds: f64) -> (String, String) {
    if seconds.is_nan() || seconds < 1.0 {
        return ("곧".to_owned(), "any moment".to_owned());
    }
    let total = seconds.ceil() as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m) {
        (0, 0) => (format!("약 {s}초"), format!("about {s} s")),
        (0, _) => (format!("약 {m}분 {s}초"), format!("about {m} min {s} s")),
        _ => (format!("약 {h}시간 {m}분"), format!("about {h} h {m} min")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_said_in_whole_units() {
        assert_eq!(wait_words(0.4).1, "any moment");
        assert_eq!(
            wait_words(4.2),
            ("약 5초".to_owned(), "about 5 s".to_owned())
        );
        assert_eq!(wait_words(59.5).1, "about 1 min 0 s");
        assert_eq!(wait_words(119.5).1, "about 2 min 0 s");
        assert_eq!(wait_words(3.0 * 3600.0 + 125.0).0, "약 3시간 2분");
    }
}
