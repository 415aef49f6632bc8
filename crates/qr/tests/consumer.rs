//! Consumer codes: lifetime, signature, currency, and the bounded replay guard.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use qr::{ConsumerCodes, ConsumerConfig, ConsumerError, ConsumerSecret, TokenId};

const SECOND_US: u64 = 1_000_000;
const T0: u64 = 1_790_000_000 * SECOND_US;

fn codes(config: ConsumerConfig) -> ConsumerCodes {
    ConsumerCodes::new(&ConsumerSecret([11; 32]), "busan-dongbaek", config).unwrap()
}

fn token(n: u32) -> TokenId {
    let mut t = [0u8; 10];
    t[..4].copy_from_slice(&n.to_be_bytes());
    TokenId(t)
}

#[test]
fn valid_from_issue_to_expiry_within_skew() {
    let config = ConsumerConfig {
        ttl_s: 60,
        skew_us: 2 * SECOND_US,
        replay_capacity: 10,
    };
    let c = codes(config);
    let issued = c.issue(token(1), T0 + 400_000);
    // Issue time is kept in whole seconds.
    assert_eq!(issued.issued_at_us, T0);
    assert_eq!(issued.expires_at_us, T0 + 60 * SECOND_US);
    let at = |t| c.verify(&issued.text, t);
    assert!(at(T0 - 2 * SECOND_US).is_ok(), "skew before issue");
    assert!(matches!(
        at(T0 - 2 * SECOND_US - 1),
        Err(ConsumerError::NotYetValid { .. })
    ));
    assert!(at(T0 + 62 * SECOND_US).is_ok(), "skew after expiry");
    assert_eq!(
        at(T0 + 62 * SECOND_US + 1),
        Err(ConsumerError::Expired {
            ago_us: 2 * SECOND_US + 1
        })
    );
}

#[test]
fn any_altered_character_is_refused() {
    let c = codes(ConsumerConfig::default());
    let issued = c.issue(token(2), T0);
    let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for i in 4..issued.text.len() {
        let mut bytes = issued.text.clone().into_bytes();
        let original = bytes[i];
        bytes[i] = *alphabet.iter().find(|&&a| a != original).unwrap();
        let altered = String::from_utf8(bytes).unwrap();
        let result = c.verify(&altered, T0);
        assert!(
            matches!(
                result,
                Err(ConsumerError::Forged | ConsumerError::Malformed)
            ),
            "position {i}: {result:?}"
        );
    }
}

#[test]
fn redeemed_tokens_are_remembered_until_they_expire() {
    let config = ConsumerConfig {
        ttl_s: 30,
        skew_us: SECOND_US,
        replay_capacity: 10,
    };
    let mut c = codes(config);
    let issued = c.issue(token(3), T0);
    assert!(c.redeem(&issued.text, T0).is_ok());
    assert_eq!(
        c.redeem(&issued.text, T0 + SECOND_US),
        Err(ConsumerError::AlreadyUsed)
    );
    // Still refused at the very last moment the code itself would pass.
    assert_eq!(
        c.redeem(&issued.text, T0 + 31 * SECOND_US),
        Err(ConsumerError::AlreadyUsed)
    );
    // After that it is refused as expired and the guard may forget it.
    assert!(matches!(
        c.redeem(&issued.text, T0 + 31 * SECOND_US + 1),
        Err(ConsumerError::Expired { .. })
    ));
    let later = c.issue(token(4), T0 + 40 * SECOND_US);
    assert!(c.redeem(&later.text, T0 + 40 * SECOND_US).is_ok());
    assert_eq!(c.remembered(), 1, "the expired token was forgotten");
}

#[test]
fn a_full_guard_refuses_rather_than_forgets() {
    let config = ConsumerConfig {
        ttl_s: 180,
        skew_us: 0,
        replay_capacity: 3,
    };
    let mut c = codes(config);
    let issued: Vec<_> = (0..4).map(|n| c.issue(token(n), T0)).collect();
    for code in &issued[..3] {
        assert!(c.redeem(&code.text, T0).is_ok());
    }
    assert_eq!(
        c.redeem(&issued[3].text, T0 + SECOND_US),
        Err(ConsumerError::ReplayGuardFull { capacity: 3 })
    );
    // A refused redeem did not use the code: it works once there is room.
    for code in &issued[..3] {
        assert_eq!(
            c.redeem(&code.text, T0 + SECOND_US),
            Err(ConsumerError::AlreadyUsed)
        );
    }
    let fresh = c.issue(token(9), T0 + 181 * SECOND_US);
    assert!(c.redeem(&fresh.text, T0 + 181 * SECOND_US).is_ok());
    assert_eq!(c.remembered(), 1);
    assert_eq!(
        c.redeem(&issued[3].text, T0 + 181 * SECOND_US),
        Err(ConsumerError::Expired { ago_us: SECOND_US })
    );
}

#[test]
fn verification_is_deterministic_and_lowercase_tolerant() {
    let c = codes(ConsumerConfig::default());
    let a = c.issue(token(7), T0);
    let b = c.issue(token(7), T0);
    assert_eq!(a, b, "same inputs, same code");
    let lower = a.text.to_ascii_lowercase();
    assert_eq!(c.verify(&lower, T0).map(|v| v.token), Ok(token(7)));
    assert_eq!(token(7).to_string().len(), 16);
}

#[test]
fn a_released_code_can_be_redeemed_again_until_it_expires() {
    let config = ConsumerConfig {
        ttl_s: 60,
        skew_us: SECOND_US,
        replay_capacity: 10,
    };
    let mut c = codes(config);
    let issued = c.issue(token(20), T0);
    let first = c.redeem(&issued.text, T0).unwrap();
    // The ledger refused the sale: the till gives the code back.
    assert!(c.release(first.token, T0 + SECOND_US));
    let second = c.redeem(&issued.text, T0 + 2 * SECOND_US).unwrap();
    assert_eq!(second, first);
    // Used again: a replay is refused as before.
    assert_eq!(
        c.redeem(&issued.text, T0 + 3 * SECOND_US),
        Err(ConsumerError::AlreadyUsed)
    );
    // Released and redeemed any number of times, it holds one slot.
    for i in 0..5 {
        assert!(c.release(first.token, T0 + (4 + i) * SECOND_US));
        assert!(c.redeem(&issued.text, T0 + (4 + i) * SECOND_US).is_ok());
    }
    assert_eq!(c.remembered(), 1);
}

#[test]
fn releasing_what_was_not_redeemed_or_twice_changes_nothing() {
    let mut c = codes(ConsumerConfig {
        ttl_s: 60,
        skew_us: 0,
        replay_capacity: 10,
    });
    let never = c.issue(token(30), T0);
    assert!(!c.release(never.token, T0));
    assert_eq!(c.remembered(), 0);
    // Releasing a code that was never redeemed does not block or pre-use it.
    assert!(c.redeem(&never.text, T0).is_ok());
    assert_eq!(c.redeem(&never.text, T0), Err(ConsumerError::AlreadyUsed));

    let twice = c.issue(token(31), T0);
    c.redeem(&twice.text, T0).unwrap();
    assert!(c.release(twice.token, T0));
    assert!(
        !c.release(twice.token, T0),
        "a second release gives nothing back"
    );
    // One release is one more redemption, not two.
    assert!(c.redeem(&twice.text, T0).is_ok());
    assert_eq!(c.redeem(&twice.text, T0), Err(ConsumerError::AlreadyUsed));
    assert_eq!(c.remembered(), 2);
}

#[test]
fn an_expired_code_stays_expired_when_released() {
    let config = ConsumerConfig {
        ttl_s: 30,
        skew_us: SECOND_US,
        replay_capacity: 10,
    };
    let mut c = codes(config);
    // Released in time, redeemed too late: expired.
    let a = c.issue(token(40), T0);
    c.redeem(&a.text, T0).unwrap();
    assert!(c.release(a.token, T0 + 20 * SECOND_US));
    assert!(matches!(
        c.redeem(&a.text, T0 + 31 * SECOND_US + 1),
        Err(ConsumerError::Expired { .. })
    ));
    // Released after expiry: nothing to give back, and still expired.
    let b = c.issue(token(41), T0);
    c.redeem(&b.text, T0).unwrap();
    assert!(!c.release(b.token, T0 + 31 * SECOND_US + 1));
    assert!(matches!(
        c.redeem(&b.text, T0 + 31 * SECOND_US + 1),
        Err(ConsumerError::Expired { .. })
    ));
    assert_eq!(c.remembered(), 0, "both expired tokens were forgotten");
}

#[test]
fn release_keeps_the_guard_bounded_and_refusing_when_full() {
    let config = ConsumerConfig {
        ttl_s: 180,
        skew_us: 0,
        replay_capacity: 3,
    };
    let mut c = codes(config);
    let issued: Vec<_> = (0..4).map(|n| c.issue(token(50 + n), T0)).collect();
    for code in &issued[..3] {
        c.redeem(&code.text, T0).unwrap();
    }
    // A released token keeps its slot: a new code is still refused, not let in by
    // forgetting something unexpired.
    assert!(c.release(issued[0].token, T0 + SECOND_US));
    assert_eq!(c.remembered(), 3);
    assert_eq!(
        c.redeem(&issued[3].text, T0 + SECOND_US),
        Err(ConsumerError::ReplayGuardFull { capacity: 3 })
    );
    for code in &issued[1..3] {
        assert_eq!(
            c.redeem(&code.text, T0 + SECOND_US),
            Err(ConsumerError::AlreadyUsed)
        );
    }
    // The released code itself is redeemed again even though the guard is full.
    assert!(c.redeem(&issued[0].text, T0 + 2 * SECOND_US).is_ok());
    assert_eq!(c.remembered(), 3);
    // When they expire every slot is freed, released ones included.
    assert!(c.release(issued[1].token, T0 + 3 * SECOND_US));
    let fresh = c.issue(token(60), T0 + 181 * SECOND_US);
    assert!(c.redeem(&fresh.text, T0 + 181 * SECOND_US).is_ok());
    assert_eq!(c.remembered(), 1);
}
