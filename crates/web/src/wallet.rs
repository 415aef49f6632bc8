//! `GET /wallet`: a signed-in citizen's balance, by source of money with what expires
//! when, and the latest history. Everything comes from the service's own use cases
//! (`citizen::wallet`, `citizen::history`), as the API's `/me/wallet` and `/me/history`
//! do; this only renders it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use maud::{Markup, html};
use service::Role;
use service::citizen::{Lot, Paging};
use service::history::Entry;

use crate::account::{see_other, words};
use crate::citizen::{Tab, tabs};
use crate::i18n::{Lang, M};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::{CSRF_FIELD, signed_in};
use crate::time::Kst;
use crate::{Pages, private_response};

/// History entries shown.
pub const HISTORY_SHOWN: usize = 10;

pub async fn wallet(State(pages): State<Pages>, parts: Parts) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let Some(session) = signed_in(&pages.service, &parts.headers) else {
        return see_other("/sign-in");
    };
    let caller = &session.caller;
    if caller.role != Role::Citizen {
        return citizens_only(prefs);
    }
    let answer = match service::citizen::wallet(&pages.service, caller).await {
        Ok(w) => service::citizen::history(
            &pages.service,
            caller,
            Paging {
                before: None,
                limit: Some(HISTORY_SHOWN),
            },
        )
        .await
        .map(|h| (w, h)),
        Err(e) => Err(e),
    };
    let csrf = pages.csrf.for_session(&session.token);
    let (w, history) = match answer {
        Ok(a) => a,
        Err(e) => {
            let body = html! {
                (tabs(lang, Tab::Wallet))
                h1 { (lang.t(M::ErrorTitle)) }
                p data-code=(e.code) { (words(lang, &e)) }
                p { a href="/" { (lang.t(M::GoHome)) } }
                (sign_out_form(lang, &csrf))
            };
            let mut response = private_response(page(
                prefs,
                "/wallet",
                Nav::Wallet,
                lang.t(M::ErrorTitle),
                body,
            ));
            *response.status_mut() = e.status;
            return response;
        }
    };
    let mut lots: Vec<&Lot> = w.lots.iter().filter(|l| l.amount != 0).collect();
    lots.sort_by_key(|l| (l.expires_at, source_order(&l.source)));
    let body = html! {
        (tabs(lang, Tab::Wallet))
        h1 { (lang.t(M::WalletTitle)) }
        section.card.balance aria-labelledby="wallet-summary" {
            h2 #wallet-summary .visually-hidden { (lang.t(M::WalletSummary)) }
            dl.amounts {
                div.main {
                    dt { (lang.t(M::Balance)) }
                    dd data-amount=(w.balance) #balance { (won(lang, w.balance)) }
                }
                div {
                    dt { (lang.t(M::AvailableNow)) }
                    dd data-amount=(w.available) #available { (won(lang, w.available)) }
                }
                div {
                    dt { (lang.t(M::Incoming)) }
                    dd data-amount=(w.incoming) #incoming { (won(lang, w.incoming)) }
                }
            }
        }
        section aria-labelledby="wallet-lots" {
            h2 #wallet-lots { (lang.t(M::LotsTitle)) }
            @if lots.is_empty() {
                p { (lang.t(M::NoLots)) }
            } @else {
                div.table-wrap {
                    table.lots {
                        caption { (lang.t(M::LotsCaption)) }
                        thead { tr {
                            th scope="col" { (lang.t(M::Source)) }
                            th scope="col" .num { (lang.t(M::Amount)) }
                            th scope="col" { (lang.t(M::UsableUntil)) }
                        } }
                        tbody {
                            @for l in &lots {
                                tr data-source=(l.source) {
                                    th scope="row" { (source_label(lang, &l.source)) }
                                    td.num data-amount=(l.amount) { (won(lang, l.amount)) }
                                    td { (usable_until(lang, l.expires_at)) }
                                }
                            }
                        }
                    }
                }
                p.meta { (lang.t(M::LotsNote)) }
            }
        }
        section aria-labelledby="wallet-history" {
            h2 #wallet-history { (lang.t(M::HistoryTitle)) }
            @if history.is_empty() {
                p { (lang.t(M::NoHistory)) }
            } @else {
                div.table-wrap {
                    table.history {
                        caption { (lang.t(M::HistoryCaption)) }
                        thead { tr {
                            th scope="col" { (lang.t(M::When)) }
                            th scope="col" { (lang.t(M::What)) }
                            th scope="col" .num { (lang.t(M::Amount)) }
                        } }
                        tbody {
                            @for e in &history {
                                (history_row(lang, e))
                            }
                        }
                    }
                }
            }
            p { a #all-history href=(Tab::History.href()) { (lang.t(Tab::History)) " →" } }
        }
        (sign_out_form(lang, &csrf))
    };
    private_response(page(
        prefs,
        "/wallet",
        Nav::Wallet,
        lang.t(M::WalletTitle),
        body,
    ))
}

/// The sign-out button, with the session's token.
fn sign_out_form(lang: Lang, csrf: &str) -> Markup {
    html! {
        form.sign-out method="post" action="/sign-out" {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            button.button.secondary type="submit" { (lang.t(M::SignOutButton)) }
        }
    }
}

fn history_row(lang: Lang, e: &Entry) -> Markup {
    let at = Kst::from_ms(e.at / 1000);
    html! {
        tr data-kind=(e.kind) {
            td { time datetime=(at.rfc3339()) { (at.display()) } }
            td { (entry_label(lang, &e.kind)) }
            td.num data-amount=(e.amount) { (signed_won(lang, e.amount)) }
        }
    }
}

/// 403 for a merchant, operator or auditor: the wallet page is a citizen's.
pub(crate) fn citizens_only(prefs: Prefs) -> Response {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(M::CitizensOnlyTitle)) }
        p { (lang.t(M::CitizensOnlyText)) }
        p { a href="/" { (lang.t(M::GoHome)) } }
    };
    let mut response = private_response(page(
        prefs,
        "/wallet",
        Nav::Wallet,
        lang.t(M::CitizensOnlyTitle),
        body,
    ));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// The last day a lot can be spent (it expires just before `expires_at_us`), in KST.
fn usable_until(lang: Lang, expires_at_us: u64) -> Markup {
    if expires_at_us == u64::MAX {
        return html! { (lang.t(M::NoExpiry)) };
    }
    let last = Kst::from_ms(expires_at_us.saturating_sub(1) / 1000);
    html! { time datetime=(last.date()) { (last.date()) } }
}

/// Sources in the order the scheme spends them in the table when they expire together.
fn source_order(source: &str) -> u8 {
    match source {
        "allowance" => 0,
        "cashback" => 1,
        "gift" => 2,
        "purchased" => 3,
        _ => 4,
    }
}

pub fn source_label(lang: Lang, source: &str) -> &str {
    let m = match source {
        "purchased" => M::SourcePurchased,
        "allowance" => M::SourceAllowance,
        "cashback" => M::SourceCashback,
        "gift" => M::SourceGift,
        "correction" => M::SourceCorrection,
        other => return other,
    };
    lang.t(m)
}

pub fn entry_label(lang: Lang, kind: &str) -> &str {
    let m = match kind {
        "payment" => M::EntryPayment,
        "payment_received" => M::EntryPaymentReceived,
        "cashback" => M::EntryCashback,
        "charge" => M::EntryCharge,
        "gift_sent" => M::EntryGiftSent,
        "gift_received" => M::EntryGiftReceived,
        "refund" => M::EntryRefund,
        "payment_refund" => M::EntryPaymentRefund,
        "payment_refunded" => M::EntryPaymentRefunded,
        "redemption" => M::EntryRedemption,
        "expiry" => M::EntryExpiry,
        other => return other,
    };
    lang.t(m)
}

/// Groups of three digits: `12345` → `12,345`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount of won as people read it: `12,345원` (Korean), `₩12,345` (English); a
/// negative one with a minus sign.
pub fn won(lang: Lang, amount: i64) -> String {
    let sign = if amount < 0 { "−" } else { "" };
    let n = grouped(amount.unsigned_abs());
    match lang {
        Lang::Ko => format!("{sign}{n}원"),
        Lang::En => format!("{sign}₩{n}"),
    }
}

/// The same with `+` on money coming in.
pub fn signed_won(lang: Lang, amount: i64) -> String {
    if amount > 0 {
        format!("+{}", won(lang, amount))
    } else {
        won(lang, amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn won_is_grouped_by_thousands() {
        assert_eq!(won(Lang::Ko, 0), "0원");
        assert_eq!(won(Lang::Ko, 999), "999원");
        assert_eq!(won(Lang::Ko, 1000), "1,000원");
        assert_eq!(won(Lang::Ko, 12_345), "12,345원");
        assert_eq!(won(Lang::Ko, 1_234_567), "1,234,567원");
        assert_eq!(won(Lang::Ko, -50_000), "−50,000원");
        assert_eq!(won(Lang::En, 12_345), "₩12,345");
        assert_eq!(signed_won(Lang::Ko, 5_000), "+5,000원");
        assert_eq!(signed_won(Lang::En, -5_000), "−₩5,000");
        assert_eq!(won(Lang::Ko, i64::MIN), "−9,223,372,036,854,775,808원");
    }

    #[test]
    fn a_lot_is_usable_through_the_day_before_it_expires_in_korea() {
        // 2027-01-01T00:00:00+09:00: usable through 2026-12-31.
        let midnight_us = 1_798_729_200_000_000;
        let s = usable_until(Lang::Ko, midnight_us).into_string();
        assert!(s.contains(">2026-12-31<"), "{s}");
        let s = usable_until(Lang::Ko, midnight_us + 1).into_string();
        assert!(s.contains(">2027-01-01<"), "{s}");
        assert_eq!(usable_until(Lang::En, u64::MAX).into_string(), "No limit");
    }

    #[test]
    fn sources_and_kinds_have_words_in_both_languages() {
        assert_eq!(source_label(Lang::Ko, "allowance"), "정책지원금");
        assert_eq!(source_label(Lang::Ko, "purchased"), "구매");
        assert_eq!(source_label(Lang::Ko, "cashback"), "캐시백");
        assert_eq!(source_label(Lang::Ko, "gift"), "선물");
        assert_eq!(source_label(Lang::Ko, "correction"), "정정");
        assert_eq!(source_label(Lang::En, "gift"), "Gift");
        assert_eq!(source_label(Lang::En, "new_kind"), "new_kind");
        assert_eq!(entry_label(Lang::Ko, "payment"), "결제");
        assert_eq!(entry_label(Lang::En, "expiry"), "Expired");
    }
}
