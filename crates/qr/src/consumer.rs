//! Consumer-presented codes: the citizen's app shows one, the merchant scans it.
//!
//! A code is a bearer token for "charge this citizen", so it is short-lived (at most
//! [`TTL_S_MAX`] seconds), signed with a server secret, used once, and carries nothing
//! personal: the server keeps the token → citizen mapping, this crate only answers which
//! token a scanned code is and whether it may be honoured now.
//!
//! **Wire form** — `MC1:` then 52 Crockford base-32 characters (digits and uppercase
//! letters, all in the QR alphanumeric set, so the code fits a version-3 QR at level M)
//! encoding 32 bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 4  | currency tag: first 4 bytes of BLAKE3(currency id) |
//! | 10 | token id, random bytes chosen by the caller |
//! | 5  | issued-at, whole seconds since the Unix epoch (big-endian, good to year 36812) |
//! | 1  | lifetime in seconds (1–180) |
//! | 12 | MAC: BLAKE3 keyed hash of the 20 bytes above, truncated to 96 bits |
//!
//! The MAC key is derived from the caller's 32-byte secret with BLAKE3's key derivation
//! and a context string, so the same deployment secret can serve other purposes without
//! one use forging another. MACs are compared in constant time.
//!
//! **Wrong currency vs forged**: the currency tag is inside the MAC, so with one secret per
//! deployment a code from a sibling currency verifies and is answered "wrong currency".
//! With a secret per currency it cannot verify and is answered "forged"; that is correct,
//! just less helpful.
//!
//! **Replay guard**: [`ConsumerCodes::redeem`] remembers each redeemed token until the
//! moment its code could no longer pass the expiry check anyway. The memory has a hard
//! capacity; when it is full of unexpired tokens new codes are refused with
//! [`ConsumerError::ReplayGuardFull`]. Forgetting an unexpired token would let a replayed
//! code through, and refusing is the safe failure.
//!
//! **Giving a code back**: when the till redeemed a code but the sale did not happen (the
//! ledger refused it, e.g. the amount is over the customer's balance), the server calls
//! [`ConsumerCodes::release`] and the same code can be redeemed again until it expires.
//! A released token keeps its place in the guard until then, so the bound holds exactly as
//! before and a second redeem of a released code never finds the guard full. Releasing a
//! token that is not redeemed (never was, already released, or forgotten because its code
//! expired) changes nothing; an expired code stays expired, because expiry is checked
//! from the code itself before the guard is asked.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

use rustc_hash::FxHashMap;

/// Text prefix of every consumer code (version 1).
pub const CONSUMER_PREFIX: &str = "MC1:";
/// Bytes of a token id.
pub const TOKEN_BYTES: usize = 10;
/// Longest lifetime a code may have: three minutes.
pub const TTL_S_MAX: u32 = 180;
/// Largest clock-skew tolerance the verifier accepts as configuration.
pub const SKEW_US_MAX: u64 = 30 * SECOND_US;
/// Length of the text form: prefix plus 52 base-32 characters.
pub const CONSUMER_CODE_CHARS: usize = 4 + BODY_CHARS;

const SECOND_US: u64 = 1_000_000;
const BODY_BYTES: usize = 32;
const SIGNED_BYTES: usize = 20;
const MAC_BYTES: usize = 12;
const BODY_CHARS: usize = (BODY_BYTES * 8).div_ceil(5);
const KEY_CONTEXT: &str = "maeul qr consumer code v1 2026-11 MAC key";

/// Random bytes naming one code. The caller draws them from a CSPRNG (or a fixed value in
/// tests); the crate never reads randomness itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub [u8; TOKEN_BYTES]);

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

impl fmt::Display for TokenId {
    /// 16 Crockford base-32 characters, for logs and for the server's token table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; 16];
        base32_encode(&self.0, &mut text);
        f.write_str(std::str::from_utf8(&text).unwrap_or("?"))
    }
}

/// The 32-byte server secret. `Debug` does not show it.
#[derive(Clone)]
pub struct ConsumerSecret(pub [u8; 32]);

impl fmt::Debug for ConsumerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsumerSecret(..)")
    }
}

/// Limits for issuing and verifying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Lifetime of issued codes, 1–[`TTL_S_MAX`] seconds.
    pub ttl_s: u32,
    /// How far the verifier's clock may be behind or ahead of the issuer's.
    pub skew_us: u64,
    /// Most redeemed-and-unexpired tokens remembered at once.
    pub replay_capacity: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            ttl_s: TTL_S_MAX,
            skew_us: 5 * SECOND_US,
            // A three-minute window at 1,000 payments/s per currency (180,000 tokens), with
            // room to spare; about 60 bytes a token, so 30 MB at most.
            replay_capacity: 500_000,
        }
    }
}

/// A code just issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCode {
    /// What the app renders as a QR code.
    pub text: String,
    pub token: TokenId,
    pub issued_at_us: u64,
    pub expires_at_us: u64,
}

/// A code that verified (and, from [`ConsumerCodes::redeem`], is now used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedCode {
    pub token: TokenId,
    pub issued_at_us: u64,
    pub expires_at_us: u64,
}

/// Why a consumer code is refused. Each has its own answer for the people at the till.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerError {
    /// Not a well-formed consumer code (wrong length or characters after the prefix).
    #[error("consumer code is damaged or incomplete")]
    Malformed,
    /// The MAC does not verify: not issued by this server, or altered.
    #[error("consumer code signature does not verify")]
    Forged,
    #[error("consumer code belongs to another currency")]
    WrongCurrency,
    #[error("consumer code is not valid yet (issued {ahead_us} µs in the future)")]
    NotYetValid { ahead_us: u64 },
    #[error("consumer code expired {ago_us} µs ago")]
    Expired { ago_us: u64 },
    #[error("consumer code was already used")]
    AlreadyUsed,
    /// The replay guard holds `capacity` unexpired tokens and cannot take another.
    #[error("too many codes in use at once ({capacity}); try again shortly")]
    ReplayGuardFull { capacity: usize },
    /// This scanner does not accept consumer codes (e.g. a citizen scanned another
    /// citizen's screen).
    #[error("consumer codes are not accepted here")]
    NotAcceptedHere,
}

impl ConsumerError {
    pub fn code(&self) -> &'static str {
        match self {
            ConsumerError::Malformed => "consumer_code_malformed",
            ConsumerError::Forged => "consumer_code_forged",
            ConsumerError::WrongCurrency => "consumer_code_wrong_currency",
            ConsumerError::NotYetValid { .. } => "consumer_code_not_yet_valid",
            ConsumerError::Expired { .. } => "consumer_code_expired",
            ConsumerError::AlreadyUsed => "consumer_code_already_used",
            ConsumerError::ReplayGuardFull { .. } => "consumer_replay_guard_full",
            ConsumerError::NotAcceptedHere => "consumer_code_not_accepted_here",
        }
    }
}

/// A configuration the verifier cannot work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerConfigError {
    #[error("ttl_s must be 1..={TTL_S_MAX}")]
    Ttl,
    #[error("skew_us must be at most {SKEW_US_MAX}")]
    Skew,
    #[error("replay_capacity must be at least 1")]
    Capacity,
    #[error("currency id is not valid")]
    Currency,
}

impl ConsumerConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            ConsumerConfigError::Ttl => "consumer_config_ttl",
            ConsumerConfigError::Skew => "consumer_config_skew",
            ConsumerConfigError::Capacity => "consumer_config_capacity",
            ConsumerConfigError::Currency => "consumer_config_currency",
        }
    }
}

/// Issues and verifies one currency's consumer codes and guards against replay.
///
/// Pure: the caller passes the time and the random token bytes. Not internally
/// synchronised: the server wraps it in a mutex (redeeming is a few hundred nanoseconds).
pub struct ConsumerCodes {
    mac_key: [u8; 32],
    currency_tag: [u8; 4],
    config: ConsumerConfig,
    guard: ReplayGuard,
}

impl fmt::Debug for ConsumerCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerCodes")
            .field("currency_tag", &self.currency_tag)
            .field("config", &self.config)
            .field("remembered", &self.guard.len())
            .finish_non_exhaustive()
    }
}

/// The 4-byte tag of a currency id inside consumer codes.
pub fn currency_tag(currency: &str) -> [u8; 4] {
    let hash = blake3::hash(currency.as_bytes());
    let mut tag = [0u8; 4];
    tag.copy_from_slice(&hash.as_bytes()[..4]);
    tag
}

impl ConsumerCodes {
    pub fn new(
        secret: &ConsumerSecret,
        currency: &str,
        config: ConsumerConfig,
    ) -> Result<ConsumerCodes, ConsumerConfigError> {
        if config.ttl_s == 0 || config.ttl_s > TTL_S_MAX {
            return Err(ConsumerConfigError::Ttl);
        }
        if config.skew_us > SKEW_US_MAX {
            return Err(ConsumerConfigError::Skew);
        }
        if config.replay_capacity == 0 {
            return Err(ConsumerConfigError::Capacity);
        }
        if crate::emv::check_currency_id(currency).is_err() {
            return Err(ConsumerConfigError::Currency);
        }
        Ok(ConsumerCodes {
            mac_key: blake3::derive_key(KEY_CONTEXT, &secret.0),
            currency_tag: currency_tag(currency),
            config,
            guard: ReplayGuard::new(config.replay_capacity),
        })
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Issues a code for `token`, valid from `now_us` for the configured lifetime.
    pub fn issue(&self, token: TokenId, now_us: u64) -> IssuedCode {
        let issued_at_s = now_us / SECOND_US;
        let mut body = [0u8; BODY_BYTES];
        body[0..4].copy_from_slice(&self.currency_tag);
        body[4..14].copy_from_slice(&token.0);
        // 40 bits of seconds: the low five bytes of the big-endian u64.
        body[14..19].copy_from_slice(&issued_at_s.to_be_bytes()[3..8]);
        body[19] = u8::try_from(self.config.ttl_s).unwrap_or(u8::MAX);
        let mac = self.mac(&body[..SIGNED_BYTES]);
        body[SIGNED_BYTES..].copy_from_slice(&mac);

        let mut text = String::with_capacity(CONSUMER_CODE_CHARS);
        text.push_str(CONSUMER_PREFIX);
        let mut chars = [0u8; BODY_CHARS];
        base32_encode(&body, &mut chars);
        text.extend(chars.iter().map(|&c| char::from(c)));
        let issued_at_us = issued_at_s * SECOND_US;
        IssuedCode {
            text,
            token,
            issued_at_us,
            expires_at_us: issued_at_us.saturating_add(u64::from(self.config.ttl_s) * SECOND_US),
        }
    }

    /// Checks a scanned code without using it up.
    pub fn verify(&self, text: &str, now_us: u64) -> Result<VerifiedCode, ConsumerError> {
        let body = decode_text(text)?;
        let mac = self.mac(&body[..SIGNED_BYTES]);
        if !constant_time_eq::constant_time_eq(&mac, &body[SIGNED_BYTES..]) {
            return Err(ConsumerError::Forged);
        }
        if body[0..4] != self.currency_tag {
            return Err(ConsumerError::WrongCurrency);
        }
        let ttl_s = u64::from(body[19]);
        if ttl_s == 0 || ttl_s > u64::from(TTL_S_MAX) {
            // Signed by us but outside what we ever issue: treat as not ours.
            return Err(ConsumerError::Forged);
        }
        let mut seconds = [0u8; 8];
        seconds[3..8].copy_from_slice(&body[14..19]);
        let issued_at_us = u64::from_be_bytes(seconds).saturating_mul(SECOND_US);
        let expires_at_us = issued_at_us.saturating_add(ttl_s * SECOND_US);
        let skew = self.config.skew_us;
        if now_us.saturating_add(skew) < issued_at_us {
            return Err(ConsumerError::NotYetValid {
                ahead_us: issued_at_us - now_us,
            });
        }
        if now_us > expires_at_us.saturating_add(skew) {
            return Err(ConsumerError::Expired {
                ago_us: now_us - expires_at_us,
            });
        }
        let mut token = [0u8; TOKEN_BYTES];
        token.copy_from_slice(&body[4..14]);
        Ok(VerifiedCode {
            token: TokenId(token),
            issued_at_us,
            expires_at_us,
        })
    }

    /// Verifies a scanned code and marks it used. A second redeem of the same code is
    /// [`ConsumerError::AlreadyUsed`] until it would have expired anyway.
    pub fn redeem(&mut self, text: &str, now_us: u64) -> Result<VerifiedCode, ConsumerError> {
        let verified = self.verify(text, now_us)?;
        let forget_after_us = verified.expires_at_us.saturating_add(self.config.skew_us);
        self.guard.insert(verified.token, forget_after_us, now_us)?;
        Ok(verified)
    }

    /// Gives back a code that [`ConsumerCodes::redeem`] used up, because the sale it was
    /// redeemed for did not happen: the same code may then be redeemed again until it
    /// expires. Returns whether a used token was given back; releasing a token that is
    /// not currently used (never redeemed, already released, or expired and forgotten)
    /// changes nothing and returns `false`.
    ///
    /// The token keeps its slot in the replay guard until the code expires, so the
    /// guard's bound is unchanged and the next redeem of this code cannot be refused as
    /// [`ConsumerError::ReplayGuardFull`].
    pub fn release(&mut self, token: TokenId, now_us: u64) -> bool {
        self.guard.release(token, now_us)
    }

    /// Tokens the replay guard holds: used ones, and released ones whose slot is kept
    /// until their code expires. At most `replay_capacity`.
    pub fn remembered(&self) -> usize {
        self.guard.len()
    }

    fn mac(&self, signed: &[u8]) -> [u8; MAC_BYTES] {
        let hash = blake3::keyed_hash(&self.mac_key, signed);
        let mut mac = [0u8; MAC_BYTES];
        mac.copy_from_slice(&hash.as_bytes()[..MAC_BYTES]);
        mac
    }
}

/// Whether `text` has the shape of a consumer code (prefix), for the classifier.
pub fn looks_like_consumer_code(text: &str) -> bool {
    text.len() >= CONSUMER_PREFIX.len()
        && text.as_bytes()[..CONSUMER_PREFIX.len()].eq_ignore_ascii_case(CONSUMER_PREFIX.as_bytes())
}

fn decode_text(text: &str) -> Result<[u8; BODY_BYTES], ConsumerError> {
    if text.len() != CONSUMER_CODE_CHARS || !looks_like_consumer_code(text) {
        return Err(ConsumerError::Malformed);
    }
    let mut body = [0u8; BODY_BYTES];
    base32_decode(&text.as_bytes()[CONSUMER_PREFIX.len()..], &mut body)
        .ok_or(ConsumerError::Malformed)?;
    Ok(body)
}

/// Redeemed tokens, each until its `forget_after_us`. A hash map answers "used?"; a
/// min-heap on the forget time lets expired entries be dropped in order without a scan.
/// The map and the heap hold exactly the same tokens: a released token stays in both
/// (marked not used) until it is forgotten, so neither can grow past `capacity`.
struct ReplayGuard {
    /// Token → used; `false` once released (it may be redeemed again).
    slots: FxHashMap<TokenId, bool>,
    by_expiry: BinaryHeap<Reverse<(u64, TokenId)>>,
    capacity: usize,
}

impl ReplayGuard {
    fn new(capacity: usize) -> ReplayGuard {
        ReplayGuard {
            slots: FxHashMap::default(),
            by_expiry: BinaryHeap::new(),
            capacity,
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn insert(
        &mut self,
        token: TokenId,
        forget_after_us: u64,
        now_us: u64,
    ) -> Result<(), ConsumerError> {
        self.forget_expired(now_us);
        if let Some(used) = self.slots.get_mut(&token) {
            if *used {
                return Err(ConsumerError::AlreadyUsed);
            }
            // Released earlier: the same code again, in the slot it kept.
            *used = true;
            return Ok(());
        }
        if self.slots.len() >= self.capacity {
            return Err(ConsumerError::ReplayGuardFull {
                capacity: self.capacity,
            });
        }
        self.slots.insert(token, true);
        self.by_expiry.push(Reverse((forget_after_us, token)));
        debug_assert_eq!(self.slots.len(), self.by_expiry.len());
        Ok(())
    }

    fn release(&mut self, token: TokenId, now_us: u64) -> bool {
        self.forget_expired(now_us);
        match self.slots.get_mut(&token) {
            Some(used) if *used => {
                *used = false;
                true
            }
            _ => false,
        }
    }

    fn forget_expired(&mut self, now_us: u64) {
        while let Some(Reverse((forget_after_us, token))) = self.by_expiry.peek().copied() {
            if forget_after_us >= now_us {
                break;
            }
            self.by_expiry.pop();
            self.slots.remove(&token);
        }
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Big-endian bit stream to base-32 characters; `out.len()` is `ceil(bits / 5)`.
fn base32_encode(bytes: &[u8], out: &mut [u8]) {
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut i = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out[i] = CROCKFORD[((acc >> bits) & 31) as usize];
            i += 1;
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out[i] = CROCKFORD[((acc << (5 - bits)) & 31) as usize];
    }
}

/// Inverse of [`base32_encode`]. Accepts lowercase and Crockford's look-alikes (O→0,
/// I/L→1); rejects anything else and non-zero padding bits, so each code has one spelling.
fn base32_decode(text: &[u8], out: &mut [u8]) -> Option<()> {
    if text.len() != (out.len() * 8).div_ceil(5) {
        return None;
    }
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut i = 0;
    for &c in text {
        let v = match c.to_ascii_uppercase() {
            c @ b'0'..=b'9' => c - b'0',
            b'O' => 0,
            b'I' | b'L' => 1,
            c => u8::try_from(CROCKFORD.iter().position(|&x| x == c)?).ok()?,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(i)? = (acc >> bits) as u8;
            i += 1;
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 || i != out.len() {
        return None;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_790_000_000 * SECOND_US;

    fn codes() -> ConsumerCodes {
        ConsumerCodes::new(
            &ConsumerSecret([7; 32]),
            "busan-dongbaek",
            ConsumerConfig::default(),
        )
        .unwrap()
    }

    #[test]
    fn text_is_short_and_alphanumeric() {
        let issued = codes().issue(TokenId([1; 10]), T0);
        assert_eq!(issued.text.len(), CONSUMER_CODE_CHARS);
        assert_eq!(CONSUMER_CODE_CHARS, 56);
        assert!(
            issued
                .text
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b':')
        );
        assert_eq!(issued.expires_at_us - issued.issued_at_us, 180 * SECOND_US);
    }

    #[test]
    fn base32_round_trip() {
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        let mut text = [0u8; 52];
        base32_encode(&bytes, &mut text);
        let mut back = [0u8; 32];
        assert_eq!(base32_decode(&text, &mut back), Some(()));
        assert_eq!(back, bytes);
        let lower: Vec<u8> = text.iter().map(u8::to_ascii_lowercase).collect();
        assert_eq!(base32_decode(&lower, &mut back), Some(()));
        assert_eq!(back, bytes);
        // The last character carries one data bit; the other four must be zero.
        let mut padded = text;
        padded[51] = b'Z';
        assert_eq!(base32_decode(&padded, &mut back), None);
        assert_eq!(base32_decode(b"U", &mut [0u8; 0]), None);
    }

    #[test]
    fn config_is_checked() {
        let secret = ConsumerSecret([0; 32]);
        let bad = |config| ConsumerCodes::new(&secret, "c", config).err();
        let ok = ConsumerConfig::default();
        assert_eq!(
            bad(ConsumerConfig { ttl_s: 181, ..ok }),
            Some(ConsumerConfigError::Ttl)
        );
        assert_eq!(
            bad(ConsumerConfig { ttl_s: 0, ..ok }),
            Some(ConsumerConfigError::Ttl)
        );
        assert_eq!(
            bad(ConsumerConfig {
                skew_us: SKEW_US_MAX + 1,
                ..ok
            }),
            Some(ConsumerConfigError::Skew)
        );
        assert_eq!(
            bad(ConsumerConfig {
                replay_capacity: 0,
                ..ok
            }),
            Some(ConsumerConfigError::Capacity)
        );
        assert_eq!(
            ConsumerCodes::new(&secret, "", ok).err(),
            Some(ConsumerConfigError::Currency)
        );
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        assert_eq!(
            format!("{:?}", ConsumerSecret([9; 32])),
            "ConsumerSecret(..)"
        );
        assert!(!format!("{:?}", codes()).contains("mac_key"));
    }
}
