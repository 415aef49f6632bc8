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
