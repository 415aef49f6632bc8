//! The waiting room: who could not be let in is handed a ticket and told their place
//! in line and how long the wait should be; they come back with the ticket when told.
//!
//! A ticket is signed and self-contained (`Ticket`): its class, when it was issued (its
//! place in line: tickets are let in in the order they were issued), the wait it was
//! told, and what it is bound to (the caller's credential, when there is one). The room
//! keeps only the issue stamps of the tickets not yet let in, 8 bytes each, and for a
//! ticket let in, how often it was used.
//!
//! Tickets are let in at the rate the class is measured to be served (its completions,
//! plus the places given back with nobody waiting), so the wait told is the line ahead
//! over that rate; when it turns out wrong, the next visit is told the corrected one.
//!
//! - **Refresh, restart, another node.** A ticket needs nothing but the key to be read.
//!   Every ticket issued before this process started is let in (it waited before the
//!   restart, and stays ahead of everyone who came after). A ticket issued by another
//!   node is let in here once this node has let in all of its own issued before it.
//! - **Forgery and jumping.** The stamp and the class are under the MAC; a new ticket is
//!   always behind every older one.
//! - **Sharing.** A ticket let in admits at most [`PASS_USES`] requests within
//!   [`PASS_LIFETIME`]; one bound to a credential admits only that credential.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use parking_lot::Mutex;

use super::classes::{CLASSES, Class};

/// A ticket is good for this long after it was issued (a sale day's line).
pub const TICKET_LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// A ticket let in admits at most this many requests (a form, its retry, the next page).
pub const PASS_USES: u8 = 5;
/// ... within this long after it was first used.
pub const PASS_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Tickets let in and remembered at most (a pass more is refused, not granted blind).
const PASSES_MAX: usize = 1_000_000;
/// Tickets waiting per class at most (8 bytes each).
pub const WAITING_MAX: usize = 4_000_000;
/// The line of a sale's purchases (held until the opening, drawn at it), apart from
/// the rest of their class, which goes on as usual.
const SALE_LINE: usize = CLASSES;
/// How long the rate waits are told from is averaged over (seconds).
const TOLD_RATE_TAU_S: f64 = 3.0;
/// Estimate errors kept per class for the median.
const ERRORS_KEPT: usize = 1024;

const VERSION: u8 = 1;
const PAYLOAD_LEN: usize = 18;
const MAC_LEN: usize = 16;

/// What a ticket says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub class: Class,
    /// Microseconds since the Unix epoch, strictly increasing on one node: the ticket's
    /// place in line.
    pub issued_us: u64,
    /// The wait it was told when issued.
    pub told_ms: u32,
    /// What it is bound to (0: nothing; see [`binding`]).
    pub binding: u32,
}

/// A short digest of the caller's credential, for binding a ticket; 0 for none.
pub fn binding(credential: Option<&[u8]>) -> u32 {
    credential.map_or(0, |c| {
        let h = blake3::hash(c);
        u32::from_le_bytes([
            h.as_bytes()[0],
            h.as_bytes()[1],
            h.as_bytes()[2],
            h.as_bytes()[3],
        ])
        .max(1)
    })
}

impl Ticket {
    fn payload(&self) -> [u8; PAYLOAD_LEN] {
        let mut p = [0u8; PAYLOAD_LEN];
        p[0] = VERSION;
        p[1] = self.class as u8;
        p[2..10].copy_from_slice(&self.issued_us.to_le_bytes());
        p[10..14].copy_from_slice(&self.told_ms.to_le_bytes());
        p[14..18].copy_from_slice(&self.binding.to_le_bytes());
        p
    }

    fn mac(key: &[u8; 32], payload: &[u8]) -> [u8; MAC_LEN] {
        let full = blake3::keyed_hash(key, payload);
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&full.as_bytes()[..MAC_LEN]);
        mac
    }

    /// The ticket as given to the client (URL-safe, 46 characters).
    pub fn seal(&self, key: &[u8; 32]) -> String {
        let payload = self.payload();
        let mut bytes = [0u8; PAYLOAD_LEN + MAC_LEN];
        bytes[..PAYLOAD_LEN].copy_from_slice(&payload);
        bytes[PAYLOAD_LEN..].copy_from_slice(&Ticket::mac(key, &payload));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The ticket in `text`, if it is one this key signed.
    pub fn open(key: &[u8; 32], text: &str) -> Option<Ticket> {
        if text.len() > 64 {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        if bytes.len() != PAYLOAD_LEN + MAC_LEN || bytes[0] != VERSION {
            return None;
        }
        let (payload, mac) = bytes.split_at(PAYLOAD_LEN);
        let expected = Ticket::mac(key, payload);
        // Compared in constant time: the MAC is a secret until it matches.
        if !constant_time_eq(&expected, mac) {
            return None;
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&payload[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let u32_at = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&payload[i..i + 4]);
            u32::from_le_bytes(b)
        };
        Some(Ticket {
            class: *Class::ALL.get(usize::from(payload[1]))?,
            issued_us: u64_at(2),
            told_ms: u32_at(10),
            binding: u32_at(14),
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// How fast a class can be served, as the places measured it. A line lets tickets in,
/// and tells waits, at `now` averaged over a few seconds; a line that was empty starts
/// from `sustained` (the pace a crowd of the class was last served at), for places free
/// at that moment say nothing of how fast a crowd will be served.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// A second, now.
    pub now: f64,
    /// A second, the last time the class was saturated; `None` if it never was.
    pub sustained: Option<f64>,
}

impl From<f64> for Pace {
    fn from(now: f64) -> Pace {
        Pace {
            now,
            sustained: None,
        }
    }
}

/// What the room says to a request of a class that waits in it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go on to take a place: with the ticket that let it in, if any.
    Enter(Option<Ticket>),
    /// Wait: come back with this ticket.
    Wait(Waiting),
}

/// A place in line, as told to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub ticket: Ticket,
    /// Tickets ahead, plus this one (1: next). 0 when it is let in but no place was free.
    pub position: u64,
    /// The wait from now, as estimated now.
    pub estimate: Duration,
    /// When to come back.
    pub retry_after_s: u64,
    /// A sale not open yet: when it opens (Unix µs) and the order is drawn.
    pub opens_at: Option<u64>,
}

/// One class's line.
#[derive(Debug, Default)]
struct Line {
    /// Issue stamps of the tickets not yet let in, ascending.
    waiting: VecDeque<u64>,
    /// Every ticket issued at or before this was let in.
    served_until: u64,
    last_issued: u64,
    /// The rate the class can be served at now (measured by the places).
    rate: f64,
    /// `rate` averaged over the last seconds ([`TOLD_RATE_TAU_S`]): waits are told from
    /// it, for a wait lasts seconds and the rate of one moment is noisy, and tickets are
    /// let in at it, so that a holder is let in about when it was told to come back
    /// (let in faster, the places would stand free while holders sleep, and the rate
    /// measured from them would let in faster still).
    told_rate: f64,
    /// Fractions of a ticket carried to the next advance.
    carry: f64,
    last_advance: Option<Instant>,
    /// |told − waited| / waited of tickets let in, the latest last.
    errors: VecDeque<f64>,
    /// A sale's opening (Unix µs; 0: none): nobody is let in before it, and at it the
    /// order of every ticket issued before it is drawn.
    opening: u64,
    /// The draw: keyed digests of the tickets issued before the opening and not yet let
    /// in, ascending (the drawn order).
    draw: VecDeque<u64>,
    drawn: bool,
}

/// The waiting room of every class.
#[derive(Debug)]
pub struct Room {
    key: [u8; 32],
    started_us: u64,
    /// One line per class, and one for a sale's purchases ([`SALE_LINE`]).
    lines: Mutex<[Line; CLASSES + 1]>,
    /// Tickets let in: uses and when the pass ends (µs).
    passes: Mutex<HashMap<(u64, u32), (u8, u64)>>,
}

impl Room {
    pub fn new(key: [u8; 32]) -> Room {
        let started_us = now_us();
        Room {
            key,
            started_us,
            lines: Mutex::new(std::array::from_fn(|_| Line {
                served_until: started_us,
                ..Line::default()
            })),
            passes: Mutex::new(HashMap::new()),
        }
    }

    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Decides for a request of `class` (one that waits in the room) that presented
    /// `presented` (a ticket's text, if any) with a credential whose binding is
    /// `bound_to`. `pace` is how fast the class can be served (measured by the places):
    /// tickets are let in, and waits told, at it.
    pub fn check(
        &self,
        class: Class,
        presented: Option<&str>,
        bound_to: u32,
        pace: impl Into<Pace>,
        opening: Option<u64>,
    ) -> Verdict {
        let pace = pace.into();
        let now = now_us();
        let ticket = self
            .valid(presented, class, bound_to, now)
            .filter(|t| t.issued_us <= now.saturating_add(60_000_000));
        let mut lines = self.lines.lock();
        let line = &mut lines[line_of(class, opening)];
        line.expect_opening(opening);
        self.draw_if_due(line, now);
        line.advance(pace, now);
        // A ticket from before a sale's opening is judged by the draw: let in once its
        // lot has left the drawn line (or when it never was in it).
        let drawn = ticket
            .filter(|t| line.drawn && t.issued_us < line.opening)
            .map(|t| line.draw.binary_search(&self.lot(t.issued_us)));
        match ticket {
            Some(t) if matches!(drawn, Some(Ok(_))) => {
                let ahead = drawn.and_then(Result::ok).unwrap_or_default();
                Verdict::Wait(line.told_at(t, ahead as u64))
            }
            Some(t)
                if drawn.is_some()
                    || t.issued_us <= line.served_until
                    || t.issued_us < self.started_us =>
            {
                drop(lines);
                if self.pass_left(&t, now) {
                    Verdict::Enter(Some(t))
                } else {
                    // Used up: it goes to the back like anyone new.
                    Verdict::Wait(self.issue(class, bound_to, opening))
                }
            }
            Some(t) => Verdict::Wait(line.told(t)),
            None if line.nobody_waiting(now) => Verdict::Enter(None),
            None => {
                drop(lines);
                Verdict::Wait(self.issue(class, bound_to, opening))
            }
        }
    }

    /// The ticket in `presented`, if this room signed it for `class` and this holder and
    /// it has not expired.
    fn valid(
        &self,
        presented: Option<&str>,
        class: Class,
        bound_to: u32,
        now: u64,
    ) -> Option<Ticket> {
        presented
            .and_then(|t| Ticket::open(&self.key, t))
            .filter(|t| {
                t.class == class
                    && (t.binding == 0 || t.binding == bound_to)
                    && now.saturating_sub(t.issued_us) < TICKET_LIFETIME.as_micros() as u64
            })
    }

    /// A new ticket at the back of `class`'s line (of the sale's purchases, with the
    /// sale's `opening`).
    pub fn issue(&self, class: Class, bound_to: u32, opening: Option<u64>) -> Waiting {
        let now = now_us();
        let mut lines = self.lines.lock();
        let line = &mut lines[line_of(class, opening)];
        if line.waiting.len() >= WAITING_MAX {
            // Beyond what the room holds: told to come back later, with no place kept.
            let estimate = line.estimate(line.waiting.len() as u64);
            let ticket = Ticket {
                class,
                issued_us: now,
                told_ms: 0,
                binding: bound_to,
            };
            return Waiting {
                ticket,
                position: line.waiting.len() as u64 + 1,
                estimate,
                retry_after_s: retry_after(estimate),
                opens_at: None,
            };
        }
        if line.waiting.is_empty() {
            // Letting in starts with the first ticket, not at the last look.
            line.last_advance = Some(Instant::now());
            line.carry = 0.0;
        }
        let issued_us = now.max(line.last_issued + 1);
        line.last_issued = issued_us;
        line.waiting.push_back(issued_us);
        let position = (line.waiting.len() + line.draw.len()) as u64;
        let estimate = line.estimate(position);
        let ticket = Ticket {
            class,
            issued_us,
            told_ms: u32::try_from(estimate.as_millis()).unwrap_or(u32::MAX),
            binding: bound_to,
        };
        Waiting {
            ticket,
            position,
            estimate,
            retry_after_s: retry_after(estimate),
            opens_at: None,
        }
    }

    /// Before a sale opens at `opening`: the place of a request in the line that is
    /// drawn at the opening. A ticket issued before the opening keeps its place (and
    /// one from before a restart takes it again); anyone else is handed a new one. The
    /// position told is how many are in that line, for the order is not drawn yet.
    pub fn before_opening(
        &self,
        class: Class,
        presented: Option<&str>,
        bound_to: u32,
        opening: u64,
    ) -> Waiting {
        let now = now_us();
        let ticket = self
            .valid(presented, class, bound_to, now)
            .filter(|t| t.issued_us < opening);
        let mut lines = self.lines.lock();
        let line = &mut lines[SALE_LINE];
        line.expect_opening(Some(opening));
        let ticket = match ticket {
            Some(t) => {
                if let Err(at) = line.waiting.binary_search(&t.issued_us)
                    && line.waiting.len() < WAITING_MAX
                {
                    line.waiting.insert(at, t.issued_us);
                }
                t
            }
            None => {
                let issued_us = now.max(line.last_issued + 1).min(opening.saturating_sub(1));
                line.last_issued = line.last_issued.max(issued_us);
                if line.waiting.len() < WAITING_MAX
                    && let Err(at) = line.waiting.binary_search(&issued_us)
                {
                    line.waiting.insert(at, issued_us);
                }
                Ticket {
                    class,
                    issued_us,
                    told_ms: 0,
                    binding: bound_to,
                }
            }
        };
        let to_opening = Duration::from_micros(opening.saturating_sub(now));
        Waiting {
            ticket,
            position: line.waiting.len() as u64,
            estimate: to_opening,
            // Back at the opening, and at least every 5 minutes (a node that restarted
            // learns its line again from those who come back).
            retry_after_s: to_opening.as_secs().clamp(1, 300),
            opens_at: Some(opening),
        }
    }

    /// Lets everyone waiting for a sale in (it sold out: they are told so at the gate).
    pub fn clear_sale(&self) {
        let now = now_us();
        let mut lines = self.lines.lock();
        let line = &mut lines[SALE_LINE];
        line.waiting.clear();
        line.draw.clear();
        line.carry = 0.0;
        line.served_until = line.served_until.max(now);
    }

    /// A ticket's lot in a draw: a digest keyed with the room's key, so that nobody can
    /// pick a stamp that draws early, and every node draws alike.
    fn lot(&self, issued_us: u64) -> u64 {
        let mut input = [0u8; 12];
        input[..4].copy_from_slice(b"draw");
        input[4..].copy_from_slice(&issued_us.to_le_bytes());
        let h = blake3::keyed_hash(&self.key, &input);
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.as_bytes()[..8]);
        u64::from_le_bytes(b)
    }

    /// At the opening, the tickets issued before it leave the line in issue order and
    /// take the drawn order.
    fn draw_if_due(&self, line: &mut Line, now: u64) {
        if line.opening == 0 || line.drawn || now < line.opening {
            return;
        }
        let before = line.waiting.partition_point(|&s| s < line.opening);
        let mut lots: Vec<u64> = line.waiting.drain(..before).map(|s| self.lot(s)).collect();
        lots.sort_unstable();
        line.draw = lots.into();
        line.drawn = true;
        line.carry = 0.0;
        // Letting in started at the opening, not at the first request after it.
        let since_opening = Duration::from_micros(now - line.opening);
        line.last_advance = Instant::now().checked_sub(since_opening);
    }

    /// Whether a ticket let in has uses left (a use is counted only once its request has
    /// a place: see `used`).
    fn pass_left(&self, t: &Ticket, now: u64) -> bool {
        self.passes
            .lock()
            .get(&(t.issued_us, t.binding))
            .is_none_or(|(uses, until)| *until >= now && *uses < PASS_USES)
    }

    /// Counts a use of a ticket let in, now that its request has a place: `false` when
    /// it was used up meanwhile (or the room cannot remember one more), and the request
    /// must not go on.
    pub fn used(&self, t: &Ticket) -> bool {
        let now = now_us();
        match self.use_pass(t, now) {
            Some(true) => {
                self.record_error(t.class, t, now);
                true
            }
            Some(false) => true,
            None => false,
        }
    }

    /// Counts a use: `Some(true)` for its first, `Some(false)` for a later one, `None`
    /// when it is used up (or the room cannot remember one more).
    fn use_pass(&self, t: &Ticket, now: u64) -> Option<bool> {
        let mut passes = self.passes.lock();
        let key = (t.issued_us, t.binding);
        if let Some((uses, until)) = passes.get_mut(&key) {
            if *until < now || *uses >= PASS_USES {
                return None;
            }
            *uses += 1;
            return Some(false);
        }
        if passes.len() >= PASSES_MAX {
            passes.retain(|_, (_, until)| *until >= now);
            if passes.len() >= PASSES_MAX {
                return None;
            }
        }
        passes.insert(key, (1, now + PASS_LIFETIME.as_micros() as u64));
        Some(true)
    }

    fn record_error(&self, class: Class, t: &Ticket, now: u64) {
        let waited_ms = now.saturating_sub(t.issued_us) as f64 / 1000.0;
        if waited_ms < 1.0 {
            return;
        }
        let error = (f64::from(t.told_ms) - waited_ms).abs() / waited_ms;
        let mut lines = self.lines.lock();
        let errors = &mut lines[class.index()].errors;
        if errors.len() == ERRORS_KEPT {
            errors.pop_front();
        }
        errors.push_back(error);
    }

    /// Per class: tickets waiting, the rate they are let in at, the wait a newcomer
    /// would be told, and the median relative error of the waits told (of the latest
    /// tickets let in).
    pub fn report(&self) -> [LineReport; CLASSES] {
        let lines = self.lines.lock();
        let sale = &lines[SALE_LINE];
        std::array::from_fn(|c| {
            let line = &lines[c];
            let mut errors: Vec<f64> = line.errors.iter().copied().collect();
            errors.sort_by(f64::total_cmp);
            // A sale's purchases are their class's.
            let for_sale = if c == Class::Charge.index() {
                sale.waiting.len() + sale.draw.len()
            } else {
                0
            };
            LineReport {
                class: Class::ALL[c],
                waiting: line.waiting.len() + line.draw.len() + for_sale,
                rate: if line.told_rate > 0.0 {
                    line.told_rate
                } else {
                    line.rate
                },
                estimate: if line.waiting.is_empty() && line.draw.is_empty() {
                    Duration::ZERO
                } else {
                    line.estimate((line.waiting.len() + line.draw.len()) as u64 + 1)
                },
                median_error: errors.get(errors.len() / 2).copied(),
            }
        })
    }
}

/// One class's line, reported.
#[derive(Debug, Clone, PartialEq)]
pub struct LineReport {
    pub class: Class,
    pub waiting: usize,
    /// Tickets let in a second.
    pub rate: f64,
    pub estimate: Duration,
    pub median_error: Option<f64>,
}

impl Line {
    /// Lets in the tickets that the rate allows since the last advance.
    fn advance(&mut self, pace: Pace, now: u64) {
        let at = Instant::now();
        let elapsed = self
            .last_advance
            .map_or(0.0, |last| at.duration_since(last).as_secs_f64());
        self.last_advance = Some(at);
        self.rate = pace.now.max(1.0);
        // Nobody let in yet: the line empty, or held until a sale opens.
        let idle = (self.waiting.is_empty() && self.draw.is_empty())
            || (self.opening != 0 && now < self.opening);
        self.told_rate = if idle {
            // The first to wait is told from the pace a crowd was last served at.
            pace.sustained.unwrap_or(self.rate).max(1.0)
        } else if self.told_rate > 0.0 {
            let weight = 1.0 - (-elapsed / TOLD_RATE_TAU_S).exp();
            self.told_rate + (self.rate - self.told_rate) * weight
        } else {
            self.rate
        };
        if self.opening != 0 && now < self.opening {
            // Held until the sale opens.
            self.carry = 0.0;
            return;
        }
        if self.waiting.is_empty() && self.draw.is_empty() {
            self.carry = 0.0;
            self.served_until = self.served_until.max(now);
            return;
        }
        self.carry += self.told_rate * elapsed;
        while self.carry >= 1.0 {
            // The drawn go first: they came before the opening.
            if self.draw.pop_front().is_none() {
                let Some(stamp) = self.waiting.pop_front() else {
                    break;
                };
                self.served_until = self.served_until.max(stamp);
            }
            self.carry -= 1.0;
        }
        if self.waiting.is_empty() && self.draw.is_empty() {
            self.carry = 0.0;
            self.served_until = self.served_until.max(now);
        }
    }

    fn estimate(&self, position: u64) -> Duration {
        let rate = if self.told_rate > 0.0 {
            self.told_rate
        } else {
            self.rate
        };
        Duration::from_secs_f64(((position as f64 - self.carry).max(0.0)) / rate.max(1.0))
    }

    /// Where `t` (not yet let in, issued after any opening) stands now.
    fn told(&self, t: Ticket) -> Waiting {
        let ahead = self.waiting.partition_point(|&s| s < t.issued_us) + self.draw.len();
        self.told_at(t, ahead as u64)
    }

    /// `t` with `ahead` tickets in front of it.
    fn told_at(&self, t: Ticket, ahead: u64) -> Waiting {
        let estimate = self.estimate(ahead + 1);
        Waiting {
            ticket: t,
            position: ahead + 1,
            estimate,
            retry_after_s: retry_after(estimate),
            opens_at: None,
        }
    }

    /// Whether a newcomer can go straight on: nobody waits, and no sale holds the line.
    fn nobody_waiting(&self, now: u64) -> bool {
        self.waiting.is_empty()
            && self.draw.is_empty()
            && !(self.opening != 0 && now < self.opening)
    }

    /// Takes a sale's opening (or its absence); a new one is drawn afresh.
    fn expect_opening(&mut self, opening: Option<u64>) {
        let opening = opening.unwrap_or(0);
        if self.opening != opening {
            // Another sale, or none: whoever was drawn for the last one is let in.
            if self.drawn {
                self.served_until = self.served_until.max(self.opening);
                self.draw.clear();
            }
            self.opening = opening;
            self.drawn = false;
        }
    }
}

/// The line a request of `class` waits in: its class's, or during a sale (`opening`),
/// the sale's purchases'.
fn line_of(class: Class, opening: Option<u64>) -> usize {
    if opening.is_some() {
        SALE_LINE
    } else {
        class.index()
    }
}

/// When to come back: at the estimate while it is short (so most come back once); for a
/// long wait, at half of it (at most a minute), to be told a corrected estimate.
pub fn retry_after(estimate: Duration) -> u64 {
    let s = estimate.as_secs_f64();
    if s <= 10.0 {
        s.ceil().max(1.0) as u64
    } else {
        (s / 2.0).clamp(10.0, 60.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_ticket_opens_only_with_its_key_and_unchanged() {
        let t = Ticket {
            class: Class::SignUp,
            issued_us: 1_700_000_000_000_000,
            told_ms: 1234,
            binding: 99,
        };
        let sealed = t.seal(&KEY);
        assert_eq!(Ticket::open(&KEY, &sealed), Some(t));
        assert_eq!(Ticket::open(&[8; 32], &sealed), None, "another key");
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&sealed)
            .unwrap();
        bytes[3] ^= 1; // an earlier stamp: a jump in line
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(Ticket::open(&KEY, &forged), None);
        assert_eq!(Ticket::open(&KEY, "not a ticket"), None);
        assert_eq!(Ticket::open(&KEY, &"A".repeat(1000)), None);
    }

    #[test]
    fn those_who_came_before_a_sale_opens_are_let_in_in_a_drawn_order() {
        let room = Room::new(KEY);
        let opening = now_us() + 200_000;
        let sealed = |w: &Waiting| w.ticket.seal(&KEY);
        // Before the opening nobody is let in, ticket or not; each is told how many wait.
        let early: Vec<Waiting> = (0..40)
            .map(|n| room.before_opening(Class::Charge, None, n + 1, opening))
            .collect();
        for (n, w) in early.iter().enumerate() {
            assert_eq!(w.position, n as u64 + 1);
            assert_eq!(w.opens_at, Some(opening));
            assert!(w.ticket.issued_us < opening);
        }
        let again = room.before_opening(Class::Charge, Some(&sealed(&early[0])), 1, opening);
        assert_eq!(
            (again.ticket, again.position),
            (early[0].ticket, 40),
            "the same place"
        );
        assert!(
            matches!(
                room.check(Class::Charge, None, 0, 1.0, Some(opening)),
                Verdict::Wait(_)
            ),
            "a newcomer of the class is held too (and drawn with the rest: 41 in all)"
        );
        assert_eq!(
            room.check(Class::Charge, None, 0, 1000.0, None),
            Verdict::Enter(None),
            "the rest of the class (a gift, a bank account) is not held by the sale"
        );
        // Once open: each early ticket's position is its lot's place in the draw, and
        // every early ticket is ahead of anyone who came after the opening.
        std::thread::sleep(Duration::from_millis(250));
        let positions: Vec<u64> = early
            .iter()
            .enumerate()
            .map(|(n, w)| {
                match room.check(
                    Class::Charge,
                    Some(&sealed(w)),
                    n as u32 + 1,
                    1.0,
                    Some(opening),
                ) {
                    Verdict::Wait(w) => w.position,
                    Verdict::Enter(_) => 0,
                }
            })
            .collect();
        let mut sorted = positions.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 40, "each its own place: {positions:?}");
        assert!(sorted.iter().all(|p| (1..=41).contains(p)), "{positions:?}");
        assert_ne!(positions, sorted, "drawn, not in the order they came");
        // The draw depends on the key (so nobody can pick an early lot), not on chance.
        let other = Room::new([9; 32]);
        assert_ne!(
            room.lot(early[0].ticket.issued_us),
            other.lot(early[0].ticket.issued_us)
        );
        let Verdict::Wait(late) = room.check(Class::Charge, None, 0, 1.0, Some(opening)) else {
            panic!("a newcomer waits behind the drawn");
        };
        assert_eq!(late.position, 42, "behind every early ticket");
        assert!(late.opens_at.is_none());
        // A sold-out sale lets the line go: the early tickets go on (to be told at
        // the gate), and the room keeps nobody waiting.
        room.clear_sale();
        assert!(matches!(
            room.check(
                Class::Charge,
                Some(&sealed(&early[39])),
                40,
                1.0,
                Some(opening)
            ),
            Verdict::Enter(Some(_))
        ));
        assert_eq!(room.report()[Class::Charge.index()].waiting, 0);
    }

    #[test]
    fn tickets_are_let_in_in_order_at_the_rate() {
        let room = Room::new(KEY);
        // Someone is waiting, so a newcomer is handed a ticket.
        let first = room.issue(Class::SignUp, 0, None);
        let Verdict::Wait(second) = room.check(Class::SignUp, None, 0, 10.0, None) else {
            panic!("a newcomer waits behind the line");
        };
        assert_eq!((first.position, second.position), (1, 2));
        assert!(second.ticket.issued_us > first.ticket.issued_us);
        let sealed = |w: &Waiting| w.ticket.seal(&KEY);
        // Not yet: nothing was let in.
        let Verdict::Wait(again) = room.check(Class::SignUp, Some(&sealed(&second)), 0, 10.0, None)
        else {
            panic!("still waiting");
        };
        assert_eq!(again.position, 2);
        // 150 ms at 10 a second lets one in: the first, not the second.
        std::thread::sleep(Duration::from_millis(150));
        assert!(matches!(
            room.check(Class::SignUp, Some(&sealed(&second)), 0, 10.0, None),
            Verdict::Wait(Waiting { position: 1, .. })
        ));
        assert!(matches!(
            room.check(Class::SignUp, Some(&sealed(&first)), 0, 10.0, None),
            Verdict::Enter(Some(_))
        ));
        std::thread::sleep(Duration::from_millis(150));
        assert!(matches!(
            room.check(Class::SignUp, Some(&sealed(&second)), 0, 10.0, None),
            Verdict::Enter(Some(_))
        ));
        // The line is empty: a newcomer goes in.
        assert_eq!(
            room.check(Class::SignUp, None, 0, 10.0, None),
            Verdict::Enter(None)
        );
    }

    #[test]
    fn a_line_that_starts_is_told_and_let_in_at_the_pace_a_crowd_was_served() {
        let room = Room::new(KEY);
        // Places free now promise 200 a second; a crowd of sign-ups was served at 20.
        let pace = Pace {
            now: 200.0,
            sustained: Some(20.0),
        };
        assert_eq!(
            room.check(Class::SignUp, None, 0, pace, None),
            Verdict::Enter(None)
        );
        let tickets: Vec<Waiting> = (0..20)
            .map(|_| room.issue(Class::SignUp, 0, None))
            .collect();
        let last = tickets.last().expect("twenty");
        assert_eq!(last.position, 20);
        assert!(
            (Duration::from_millis(900)..=Duration::from_millis(1100)).contains(&last.estimate),
            "twenty at 20 a second: {:?}",
            last.estimate
        );
        // Let in at the pace told, not at the moment's 200 a second (which would have let
        // in 40 by now).
        std::thread::sleep(Duration::from_millis(200));
        let tenth = tickets[9].ticket.seal(&KEY);
        assert!(matches!(
            room.check(Class::SignUp, Some(&tenth), 0, pace, None),
            Verdict::Wait(_)
        ));
    }

    #[test]
    fn a_ticket_is_for_its_class_its_holder_and_a_few_uses() {
        let room = Room::new(KEY);
        let w = room.issue(Class::Charge, binding(Some(b"token-a")), None);
        let sealed = w.ticket.seal(&KEY);
        // Another class or another holder: a ticket of their own, at the back.
        assert!(matches!(
            room.check(Class::SignUp, Some(&sealed), 0, 1.0, None),
            Verdict::Enter(None)
        ));
        let Verdict::Wait(other) = room.check(
            Class::Charge,
            Some(&sealed),
            binding(Some(b"token-b")),
            1000.0,
            None,
        ) else {
            panic!("another holder's ticket is not theirs");
        };
        assert_ne!(other.ticket, w.ticket);
        // Both are let in after a while at a thousand a second.
        std::thread::sleep(Duration::from_millis(20));
        let rate = 1000.0;
        for _ in 0..PASS_USES {
            assert_eq!(
                room.check(
                    Class::Charge,
                    Some(&sealed),
                    binding(Some(b"token-a")),
                    rate,
                    None
                ),
                Verdict::Enter(Some(w.ticket))
            );
            assert!(room.used(&w.ticket), "a place was had: a use counts");
        }
        assert!(!room.used(&w.ticket), "no sixth use");
        assert!(
            matches!(
                room.check(
                    Class::Charge,
                    Some(&sealed),
                    binding(Some(b"token-a")),
                    rate,
                    None
                ),
                Verdict::Wait(_)
            ),
            "used up"
        );
    }

    #[test]
    fn a_ticket_from_before_a_restart_is_let_in() {
        let before = Room::new(KEY);
        let w = before.issue(Class::SignIn, 0, None);
        std::thread::sleep(Duration::from_millis(2));
        let after = Room::new(KEY);
        // The new process has its own line; the old ticket is ahead of it.
        let _newcomer = after.issue(Class::SignIn, 0, None);
        assert_eq!(
            after.check(Class::SignIn, Some(&w.ticket.seal(&KEY)), 0, 1.0, None),
            Verdict::Enter(Some(w.ticket))
        );
    }

    #[test]
    fn retry_after_follows_the_estimate() {
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_millis(3200)), 4);
        assert_eq!(retry_after(Duration::from_secs(30)), 15);
        assert_eq!(retry_after(Duration::from_secs(3600)), 60);
    }
}
