//! Which class each request belongs to: one table for the API and the pages, read in
//! order of importance on a hard day. A request not in the table is browsing.

use axum::http::Method;

/// The classes of requests, most important first: under overload a free place goes to
/// the first class with someone waiting (after the reserved shares, see
/// [`super::Policy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Payments at the counter: pay, pay by code, consumer payments, scans, the till.
    Counter = 0,
    /// Operators and auditors running the scheme: few, and needed most on a hard day.
    Operate = 1,
    /// Refunds and cancels.
    Refund = 2,
    /// Charges, gifts, redemptions, bank accounts.
    Charge = 3,
    /// Sign-in and sign-out.
    SignIn = 4,
    /// Sign-up.
    SignUp = 5,
    /// Everything else: search, history, reports, pages.
    Browse = 6,
}

/// How many classes there are.
pub const CLASSES: usize = 7;

impl Class {
    pub const ALL: [Class; CLASSES] = [
        Class::Counter,
        Class::Operate,
        Class::Refund,
        Class::Charge,
        Class::SignIn,
        Class::SignUp,
        Class::Browse,
    ];

    /// The stable name (metrics, tickets, settings).
    pub fn name(self) -> &'static str {
        match self {
            Class::Counter => "counter",
            Class::Operate => "operate",
            Class::Refund => "refund",
            Class::Charge => "charge",
            Class::SignIn => "sign_in",
            Class::SignUp => "sign_up",
            Class::Browse => "browse",
        }
    }

    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether those who cannot be let in now are given a place in the waiting room.
    /// A payment at the counter cannot wait minutes (the customer leaves): it is told
    /// "busy, retry in a second". An operator is never queued behind citizens.
    pub fn waits_in_room(self) -> bool {
        !matches!(self, Class::Counter | Class::Operate)
    }
}

/// How a request passes the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passage {
    /// Never held: probes, the metrics, static assets, writes forwarded by another node
    /// (admitted at that node's gate, and bounded by its forwarder).
    Exempt,
    /// An upload of megabytes: its route checks the caller before reading the body, and
    /// its own permits bound how many run (image decodes, one registry file at a time).
    /// It takes no place, so a slow upload never holds one.
    Upload,
    /// Received whole (at most `BODY_BYTES_MAX`), then given a place in its class.
    Gated(Class),
}

/// One row: the method (`None` for any), the path pattern (axum's, `{x}` for one
/// segment, a trailing `/*` for any rest), and the passage.
struct Row(Option<Method>, &'static str, Passage);

const fn gated(class: Class) -> Passage {
    Passage::Gated(class)
}

/// The table. Rows are read in order; the first that matches decides.
fn rows() -> Vec<Row> {
    use Class::*;
    let (get, post, put, delete) = (
        Some(Method::GET),
        Some(Method::POST),
        Some(Method::PUT),
        Some(Method::DELETE),
    );
    vec![
        // Never held.
        Row(get.clone(), "/healthz", Passage::Exempt),
        Row(get.clone(), "/readyz", Passage::Exempt),
        Row(get.clone(), "/metrics", Passage::Exempt),
        Row(get.clone(), "/api/v1/waiting-room", Passage::Exempt),
        Row(
            post.clone(),
            "/internal/v1/forward/{currency}",
            Passage::Exempt,
        ),
        Row(get.clone(), "/assets/{file}", Passage::Exempt),
        Row(get.clone(), "/manifest.webmanifest", Passage::Exempt),
        // Uploads (checked and bounded by their routes).
        Row(post.clone(), "/api/v1/me/scan-image", Passage::Upload),
        Row(post.clone(), "/pay/scan", Passage::Upload),
        Row(post.clone(), "/shop/sales", Passage::Upload),
        Row(
            post.clone(),
            "/api/v1/operator/{currency}/registry-sync",
            Passage::Upload,
        ),
        Row(
            post.clone(),
            "/api/v1/operator/{currency}/qr-aliases",
            Passage::Upload,
        ),
        Row(post.clone(), "/console/registry/preview", Passage::Upload),
        Row(post.clone(), "/console/registry/apply", Passage::Upload),
        Row(post.clone(), "/console/aliases", Passage::Upload),
        // At the counter.
        Row(post.clone(), "/api/v1/me/payments", gated(Counter)),
        Row(post.clone(), "/api/v1/me/consumer-payments", gated(Counter)),
        Row(post.clone(), "/api/v1/me/consumer-code", gated(Counter)),
        Row(post.clone(), "/api/v1/me/scan", gated(Counter)),
        Row(None, "/pay/shop/{id}", gated(Counter)),
        Row(get.clone(), "/pay/done", gated(Counter)),
        Row(post.clone(), "/pay/scan-text", gated(Counter)),
        Row(None, "/wallet/code", gated(Counter)),
        Row(get.clone(), "/shop", gated(Counter)),
        Row(post.clone(), "/shop/charge", gated(Counter)),
        // Running the scheme.
        Row(None, "/api/v1/operator/*", gated(Operate)),
        Row(None, "/api/v1/audit/*", gated(Operate)),
        Row(None, "/api/v1/handover/*", gated(Operate)),
        Row(None, "/console", gated(Operate)),
        Row(None, "/console/*", gated(Operate)),
        Row(None, "/audit", gated(Operate)),
        Row(None, "/audit/*", gated(Operate)),
        // Refunds and cancels.
        Row(
            post.clone(),
            "/api/v1/me/payments/{payment}/refund",
            gated(Refund),
        ),
        Row(None, "/api/v1/me/purchases/*", gated(Refund)),
        Row(None, "/api/v1/me/refund", gated(Refund)),
        Row(None, "/api/v1/me/refund/quote", gated(Refund)),
        Row(None, "/shop/refund/{payment}", gated(Refund)),
        Row(None, "/wallet/refund", gated(Refund)),
        Row(None, "/wallet/refund/*", gated(Refund)),
        // Charges and other money moved.
        Row(post.clone(), "/api/v1/me/charges", gated(Charge)),
        Row(post.clone(), "/api/v1/me/charges/quote", gated(Charge)),
        Row(put, "/api/v1/me/auto-charge", gated(Charge)),
        Row(post.clone(), "/api/v1/me/gifts", gated(Charge)),
        Row(post.clone(), "/api/v1/me/redemptions", gated(Charge)),
        Row(None, "/api/v1/me/bank-account", gated(Charge)),
        Row(None, "/api/v1/me/bank-account/*", gated(Charge)),
        Row(None, "/wallet/charge", gated(Charge)),
        Row(None, "/wallet/charge/*", gated(Charge)),
        Row(None, "/wallet/gift", gated(Charge)),
        Row(None, "/wallet/auto-charge", gated(Charge)),
        Row(None, "/wallet/bank", gated(Charge)),
        Row(None, "/wallet/bank/*", gated(Charge)),
        Row(None, "/shop/money/*", gated(Charge)),
        // Signing in and out.
        Row(post.clone(), "/api/v1/sessions", gated(SignIn)),
        Row(delete, "/api/v1/sessions/current", gated(SignIn)),
        Row(None, "/sign-in", gated(SignIn)),
        Row(post.clone(), "/sign-out", gated(SignIn)),
        // Signing up.
        Row(post.clone(), "/api/v1/citizens", gated(SignUp)),
        Row(post, "/api/v1/merchants", gated(SignUp)),
        Row(None, "/sign-up", gated(SignUp)),
    ]
}

/// What a sale day does to a request (see `service::sale`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaleRoute {
    /// A discounted purchase: held until the opening, told "sold out" at once after.
    Purchase,
    /// A feature the operator may pause for the day.
    Feature(service::sale::Feature),
}

/// The sale-day side of a request, by its method and path.
pub fn sale_route(method: &Method, path: &str) -> Option<SaleRoute> {
    use service::sale::Feature;
    let post = *method == Method::POST;
    match path {
        "/api/v1/me/charges" | "/wallet/charge" if post => Some(SaleRoute::Purchase),
        "/api/v1/me/gifts" if post => Some(SaleRoute::Feature(Feature::Gifts)),
        "/wallet/gift" => Some(SaleRoute::Feature(Feature::Gifts)),
        "/nearby" => Some(SaleRoute::Feature(Feature::Search)),
        p if p.starts_with("/api/v1/directory/")
            && (p.ends_with("/search") || p.ends_with("/nearby")) =>
        {
            Some(SaleRoute::Feature(Feature::Search))
        }
        _ => None,
    }
}

/// A row made ready to match: the pattern's segments.
struct Compiled {
    method: Option<Method>,
    segments: Vec<Segment>,
    rest: bool,
    passage: Passage,
}

enum Segment {
    Literal(&'static str),
    Any,
}

fn table() -> &'static [Compiled] {
    static TABLE: std::sync::OnceLock<Vec<Compiled>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        rows()
            .into_iter()
            .map(|Row(method, pattern, passage)| {
                let (pattern, rest) = match pattern.strip_suffix("/*") {
                    Some(p) => (p, true),
                    None => (pattern, false),
                };
                let segments = pattern
                    .split('/')
                    .skip(1)
                    .map(|s| {
                        if s.starts_with('{') {
                            Segment::Any
                        } else {
                            Segment::Literal(s)
                        }
                    })
                    .collect();
                Compiled {
                    method,
                    segments,
                    rest,
                    passage,
                }
            })
            .collect()
    })
}

/// The passage of a request, by its method and path.
pub fn passage(method: &Method, path: &str) -> Passage {
    // At most this many segments are compared; longer paths are browsing (or 404).
    let mut parts: [&str; 10] = [""; 10];
    let mut n = 0;
    for part in path.split('/').skip(1) {
        if n == parts.len() {
            return gated(Class::Browse);
        }
        parts[n] = part;
        n += 1;
    }
    let parts = &parts[..n];
    for row in table() {
        if row.method.as_ref().is_some_and(|m| m != method) {
            continue;
        }
        let fits = if row.rest {
            parts.len() > row.segments.len()
        } else {
            parts.len() == row.segments.len()
        };
        if fits
            && row.segments.iter().zip(parts).all(|(s, p)| match s {
                Segment::Any => !p.is_empty(),
                Segment::Literal(l) => l == p,
            })
        {
            return row.passage;
        }
    }
    gated(Class::Browse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(method: Method, path: &str) -> Passage {
        passage(&method, path)
    }

    #[test]
    fn a_sale_day_knows_purchases_and_the_features_it_may_pause() {
        use service::sale::Feature;
        let route = |m: Method, p: &str| sale_route(&m, p);
        assert_eq!(
            route(Method::POST, "/api/v1/me/charges"),
            Some(SaleRoute::Purchase)
        );
        assert_eq!(
            route(Method::POST, "/wallet/charge"),
            Some(SaleRoute::Purchase)
        );
        // Looking is not buying: the form and the quote are never held.
        assert_eq!(route(Method::GET, "/wallet/charge"), None);
        assert_eq!(route(Method::POST, "/api/v1/me/charges/quote"), None);
        let gifts = Some(SaleRoute::Feature(Feature::Gifts));
        assert_eq!(route(Method::POST, "/api/v1/me/gifts"), gifts);
        assert_eq!(route(Method::GET, "/wallet/gift"), gifts);
        let search = Some(SaleRoute::Feature(Feature::Search));
        assert_eq!(route(Method::GET, "/api/v1/directory/busan/search"), search);
        assert_eq!(route(Method::GET, "/api/v1/directory/busan/nearby"), search);
        assert_eq!(route(Method::GET, "/nearby"), search);
        // Paying goes on whatever is paused.
        assert_eq!(route(Method::POST, "/api/v1/me/payments"), None);
        assert_eq!(
            route(Method::GET, "/api/v1/directory/busan/merchants/7"),
            None
        );
    }

    #[test]
    fn the_table_sorts_requests() {
        assert_eq!(class(Method::GET, "/healthz"), Passage::Exempt);
        assert_eq!(
            class(Method::POST, "/api/v1/me/payments"),
            gated(Class::Counter)
        );
        assert_eq!(
            class(Method::GET, "/api/v1/me/payments/live"),
            gated(Class::Browse),
            "the live stream is not a payment"
        );
        assert_eq!(
            class(Method::POST, "/api/v1/me/payments/p-1/refund"),
            gated(Class::Refund)
        );
        assert_eq!(
            class(Method::POST, "/api/v1/operator/seoul/halt"),
            gated(Class::Operate)
        );
        assert_eq!(
            class(Method::POST, "/api/v1/operator/seoul/registry-sync"),
            Passage::Upload
        );
        assert_eq!(
            class(Method::POST, "/api/v1/citizens"),
            gated(Class::SignUp)
        );
        assert_eq!(class(Method::GET, "/api/v1/citizens"), gated(Class::Browse));
        assert_eq!(class(Method::POST, "/sign-in"), gated(Class::SignIn));
        assert_eq!(class(Method::GET, "/console"), gated(Class::Operate));
        assert_eq!(
            class(Method::GET, "/console/merchants/7"),
            gated(Class::Operate)
        );
        assert_eq!(class(Method::GET, "/pay/shop/42"), gated(Class::Counter));
        assert_eq!(class(Method::GET, "/pay/shop/"), gated(Class::Browse));
        assert_eq!(
            class(Method::GET, "/api/v1/directory/seoul/search"),
            gated(Class::Browse)
        );
        assert_eq!(
            class(Method::GET, "/a/b/c/d/e/f/g/h/i/j/k/l"),
            gated(Class::Browse)
        );
        assert_eq!(class(Method::GET, ""), gated(Class::Browse));
    }

    #[test]
    fn names_round_trip() {
        for c in Class::ALL {
            assert_eq!(Class::from_name(c.name()), Some(c));
            assert_eq!(Class::ALL[c.index()], c);
        }
        assert_eq!(Class::from_name("vip"), None);
    }
}
