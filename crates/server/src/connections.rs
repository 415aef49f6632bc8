//! Open connections, counted per client address and in total.
//!
//! A connection costs a socket, a task and buffers even when it sends nothing, so the
//! accept loop (`crate::serve`) asks for a [`Ticket`] before serving one and closes
//! the connection at once when there is none: one machine cannot hold every socket the
//! server has, and the server never holds more than it can serve. Addresses are counted
//! as the sign-in limits count them (`limits::address_key`: IPv4 whole, IPv6 per /64).
//! The per-address default is generous because Korean mobile carriers put many phones
//! behind one address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

/// Connections open at once from one address (IPv4) or one /64 (IPv6), by default.
pub const CONNECTIONS_PER_ADDRESS_MAX: usize = 256;
/// Connections open at once in total, by default. Each may hold a request body of up to
/// `BODY_BYTES_MAX` while it arrives (bounded in total by `PENDING_BODY_BYTES_MAX`).
pub const CONNECTIONS_MAX: usize = 4096;

#[derive(Debug)]
pub struct Connections {
    per_address_max: usize,
    max: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Only addresses with a connection open: at most `max` entries.
    by_address: HashMap<u128, usize>,
}

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This address (or /64) has its most connections open.
    Address,
    /// The server has its most connections open.
    Total,
}

/// One open connection; counted until dropped.
#[derive(Debug)]
pub struct Ticket {
    connections: Arc<Connections>,
    key: u128,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_address.remove(&self.key);
            }
        }
    }
}

impl Connections {
    pub fn new(per_address_max: usize, max: usize) -> Connections {
        Connections {
            per_address_max: per_address_max.max(1),
            max: max.max(1),
            open: Mutex::new(Open::default()),
        }
    }

    /// A ticket for one more connection from `ip`, or why not.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refused> {
        let key = crate::limits::address_key(ip);
        let mut open = self.open.lock();
        if open.total >= self.max {
            return Err(Refused::Total);
        }
        let n = open.by_address.entry(key).or_insert(0);
        if *n >= self.per_address_max {
            return Err(Refused::Address);
        }
        *n += 1;
        open.total += 1;
        Ok(Ticket {
            connections: Arc::clone(self),
            key,
        })
    }

    /// Connections open now, and the most allowed at once.
    pub fn load(&self) -> (usize, usize) {
        (self.open.lock().total, self.max)
    }

    /// The most connections allowed from one address.
    pub fn per_address_max(&self) -> usize {
        self.per_address_max
    }
}

/// What a refused connection is sent before it is closed: a complete HTTP/1.1 answer
/// (503, `Retry-After`, a problem body in Korean and English), written without waiting
/// and without reading the request.
pub fn refusal(why: Refused) -> Vec<u8> {
    let detail = match why {
        Refused::Address => "too many connections from this address",
        Refused::Total => "the server has its most connections open",
    };
    let problem = service::ServiceError {
        retry_after_s: Some(1),
        ..service::ServiceError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            "연결이 너무 많습니다. 잠시 후 다시 시도해 주세요. 결제는 이뤄지지 않았습니다.",
            "Too many connections. Please try again shortly; nothing was charged.",
        )
    }
    .detail(detail)
    .problem();
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_and_total_caps_and_tickets_give_their_place_back() {
        let c = Arc::new(Connections::new(2, 3));
        let a: IpAddr = IpAddr::from([10, 0, 0, 1]);
        let b: IpAddr = IpAddr::from([10, 0, 0, 2]);
        let a1 = c.open(a);
        let a2 = c.open(a);
        assert!(a1.is_ok() && a2.is_ok());
        assert_eq!(c.open(a).err(), Some(Refused::Address));
        let b1 = c.open(b);
        assert!(b1.is_ok());
        assert_eq!(c.load(), (3, 3));
        assert_eq!(c.open(b).err(), Some(Refused::Total));
        drop(a1);
        assert_eq!(c.load(), (2, 3));
        assert!(c.open(a).is_ok(), "a place came back (and went again)");
        drop((a2, b1));
        assert_eq!(c.load(), (0, 3));
        assert!(
            c.open.lock().by_address.is_empty(),
            "no entry kept for idle addresses"
        );
    }

    #[test]
    fn ipv6_counts_per_64() {
        let c = Arc::new(Connections::new(1, 10));
        let x: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(IpAddr::from([0; 4]));
        let y: IpAddr = "2001:db8:1:2::2".parse().unwrap_or(IpAddr::from([0; 4]));
        let z: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        let _x = c.open(x);
        assert_eq!(c.open(y).err(), Some(Refused::Address));
        assert!(c.open(z).is_ok());
    }

    #[test]
    fn the_refusal_is_a_whole_http_answer() {
        let r = String::from_utf8(refusal(Refused::Address)).unwrap_or_default();
        assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
        let (head, body) = r.split_once("\r\n\r\n").unwrap_or_default();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{r}"
        );
        assert!(body.contains("\"code\":\"too_many_connections\""), "{r}");
    }
}
