//! Languages and the message catalog.
//!
//! Korean is the default; English is a switch away. Every fixed text of the pages is a
//! [`Words`] value, [`M`] for the shared ones, whose Korean and English words sit side by
//! side in one `match`, so a message without a translation does not compile and nothing
//! is loaded from files at run time.

use serde::{Deserialize, Serialize};

/// The language a page is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Ko,
    En,
}

impl Lang {
    /// The BCP 47 tag, as in `<html lang>` and the `lang` cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// `ko` or `en` (exactly; the cookie and the switch use these).
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "ko" => Some(Lang::Ko),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }

    /// The language's own name, for the switch (written in that language).
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::Ko => "한국어",
            Lang::En => "English",
        }
    }

    /// The words of `m` in this language.
    pub fn t(self, m: impl Words) -> &'static str {
        let (ko, en) = m.words();
        match self {
            Lang::Ko => ko,
            Lang::En => en,
        }
    }
}

/// Chooses the page language: the `lang` cookie if it names one we have, else the
/// first of Korean or English in the `Accept-Language` header by preference (quality,
/// then order), else Korean.
pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
    if let Some(lang) = cookie.and_then(Lang::parse) {
        return lang;
    }
    accept_language
        .and_then(from_accept_language)
        .unwrap_or_default()
}

/// The most preferred of `ko` and `en` in an `Accept-Language` value (RFC 9110 12.5.4);
/// a range with `q=0` is refused, `*` counts as neither.
fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(u16, Lang)> = None;
    // A bound on the work one header can cause.
    for range in header.split(',').take(32) {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
        let Some(lang) = Lang::parse(&primary) else {
            continue;
        };
        let mut quality = 1000u16;
        for p in parts {
            let p = p.trim();
            if let Some(q) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                quality = parse_quality(q).unwrap_or(0);
            }
        }
        if quality == 0 {
            continue;
        }
        // Strictly better only: among equals the earlier range wins.
        if best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// A quality value (`0`, `0.8`, `1.000`) in thousandths.
pub(crate) fn parse_quality(q: &str) -> Option<u16> {
    let q = q.trim();
    let (whole, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u16 = match whole {
        "0" => 0,
        "1" => 1,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    let value = whole * 1000 + thousandths;
    (value <= 1000).then_some(value)
}

/// Text given at run time in both languages (a notice an operator wrote, say).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub ko: String,
    pub en: String,
}

impl Text {
    pub fn new(ko: impl Into<String>, en: impl Into<String>) -> Text {
        Text {
            ko: ko.into(),
            en: en.into(),
        }
    }

    /// The words in `lang`; the other language's when these are empty.
    pub fn get(&self, lang: Lang) -> &str {
        let (first, second) = match lang {
            Lang::Ko => (&self.ko, &self.en),
            Lang::En => (&self.en, &self.ko),
        };
        if first.trim().is_empty() {
            second
        } else {
            first
        }
    }
}

/// A fixed text in both languages. The shared words of every page are [`M`]; a page
/// with many words of its own keeps them in its own enum beside it (one `match` with
/// Korean and English side by side, so a missing translation does not compile).
pub trait Words: Copy {
    /// (Korean, English).
    fn words(self) -> (&'static str, &'static str);
}

/// The shared fixed texts of the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum M {
    SiteTagline,
    SkipToMain,
    NavLabel,
    NavHome,
    NavStatus,
    PrefsLabel,
    LargeTextOn,
    LargeTextOff,
    FooterAbout,
    FooterDevelopers,
    StatusJson,
    OpenApi,
    HomeTitle,
    HomeLead,
    HomeWelcome,
    HomeWhatTitle,
    HomeWhat1,
    HomeWhat2,
    HomeWhat3,
    HomeStatusTitle,
    HomeStatusMore,
    HomeDevelopersTitle,
    HomeDevelopersText,
    StatusTitle,
    StatusLead,
    StatusAllRunning,
    StatusSomeNotRunning,
    StatusNoCurrencies,
    StatusLastUpdated,
    StatusRefresh,
    StatusAutoRefresh,
    StateRunning,
    StateDegraded,
    StateHalted,
    Since,
    SinceUnknown,
    Reason,
    OperatorNote,
    WorksTitle,
    Payments,
    Charging,
    Redemption,
    Available,
    Unavailable,
    NoticesTitle,
    NoNotices,
    KindNotice,
    KindIncident,
    ReasonOperatorHalt,
    ReasonLedgerCheck,
    ReasonRecovering,
    ReasonStorageFailed,
    ReasonReadOnly,
    ReasonAuditFailed,
    ReasonStopped,
    NotFoundTitle,
    NotFoundText,
    NotFoundWhatNow,
    GoHome,
    GoStatus,
    CurrencyLabel,
    KstSuffix,
    NavMine,
    SignInTitle,
    SignInLead,
    LoginLabel,
    PasswordLabel,
    SignInButton,
    SignInFailed,
    SignOutButton,
    RefusedTitle,
    RefusedText,
    CitizensOnlyTitle,
    CitizensOnlyText,
    GoSignIn,
    ErrorTitle,
    WalletTitle,
    WalletSummary,
    Balance,
    AvailableNow,
    Incoming,
    LotsTitle,
    LotsCaption,
    LotsNote,
    Source,
    Amount,
    UsableUntil,
    NoExpiry,
    NoLots,
    SourcePurchased,
    SourceAllowance,
    SourceCashback,
    SourceGift,
    SourceCorrection,
    HistoryTitle,
    HistoryCaption,
    When,
    What,
    NoHistory,
    EntryPayment,
    EntryPaymentReceived,
    EntryCashback,
    EntryCharge,
    EntryGiftSent,
    EntryGiftReceived,
    EntryRefund,
    EntryPaymentRefund,
    EntryPaymentRefunded,
    EntryRedemption,
    EntryExpiry,
}

impl Words for M {
    fn words(self) -> (&'static str, &'static str) {
        use M::*;
        match self {
            SiteTagline => ("우리 동네 지역화폐", "Regional digital currencies"),
            SkipToMain => ("본문으로 바로가기", "Skip to main content"),
            NavLabel => ("주 메뉴", "Main menu"),
            NavHome => ("홈", "Home"),
            NavStatus => ("서비스 상태", "Service status"),
            PrefsLabel => ("언어와 글씨 크기", "Language and text size"),
            LargeTextOn => ("큰글씨 모드 켜기", "Turn on large text"),
            LargeTextOff => ("큰글씨 모드 끄기", "Turn off large text"),
            FooterAbout => (
                "maeul은 지역화폐를 운영하는 오픈소스 플랫폼입니다 (Apache-2.0).",
                "maeul is an open-source platform for regional digital currencies (Apache-2.0).",
            ),
            FooterDevelopers => ("개발자용", "For developers"),
            StatusJson => ("서비스 상태 (JSON)", "Service status (JSON)"),
            OpenApi => ("API 명세 (OpenAPI)", "API description (OpenAPI)"),
            HomeTitle => (
                "maeul, 우리 동네 지역화폐",
                "maeul, money for your neighbourhood",
            ),
            HomeLead => (
                "maeul은 지역화폐를 발행하고 운영하는 오픈소스 플랫폼입니다. 시민은 지역화폐를 충전해 동네 가게에서 결제하고, 가게는 받은 지역화폐를 은행 계좌로 환전합니다.",
                "maeul is an open-source platform for issuing and running regional digital currencies. Citizens charge their wallet and pay at local shops; shops redeem what they receive to their bank account.",
            ),
            HomeWelcome => (
                "반갑습니다. 지금은 누구나 로그인 없이 각 지역화폐의 서비스 상태를 확인할 수 있습니다.",
                "Welcome. Anyone can check the service status of each currency here, without signing in.",
            ),
            HomeWhatTitle => ("maeul이 하는 일", "What maeul does"),
            HomeWhat1 => (
                "결제·충전·환전의 모든 거래를 위변조를 확인할 수 있는 장부에 기록합니다.",
                "Every payment, charge and redemption is written to a ledger whose records can be checked for tampering.",
            ),
            HomeWhat2 => (
                "할인 충전, 구매 한도, 캐시백 같은 지역의 규칙을 장부가 직접 지킵니다.",
                "The ledger itself keeps each town's rules: discounted charges, purchase limits, cash-back.",
            ),
            HomeWhat3 => (
                "문제가 생기면 결제를 멈추고, 무엇이 되고 무엇이 안 되는지 이 페이지에 알립니다.",
                "When something goes wrong it stops payments and says on these pages what works and what does not.",
            ),
            HomeStatusTitle => ("지금 서비스 상태", "Service status now"),
            HomeStatusMore => (
                "서비스 상태 자세히 보기",
                "See the service status in detail",
            ),
            HomeDevelopersTitle => ("다른 서비스와 연결하기", "Connecting other services"),
            HomeDevelopersText => (
                "다른 웹사이트와 앱은 같은 내용을 JSON으로 받아 갈 수 있습니다.",
                "Other websites and apps can fetch the same information as JSON.",
            ),
            StatusTitle => ("서비스 상태", "Service status"),
            StatusLead => (
                "지역화폐마다 지금 운영 상태와 결제·충전·환전 가능 여부, 공지와 장애 내역을 보여 드립니다.",
                "For each currency: whether it is running, whether payments, charging and redemption work now, and its notices and incidents.",
            ),
            StatusAllRunning => (
                "모든 지역화폐가 정상 운영 중입니다.",
                "Every currency is running normally.",
            ),
            StatusSomeNotRunning => (
                "일부 지역화폐에 문제가 있습니다. 아래에서 확인해 주세요.",
                "Some currencies have a problem. See below.",
            ),
            StatusNoCurrencies => (
                "아직 운영 중인 지역화폐가 없습니다.",
                "No currency is served yet.",
            ),
            StatusLastUpdated => ("마지막 확인", "Last updated"),
            StatusRefresh => ("새로 고침", "Refresh"),
            StatusAutoRefresh => (
                "이 내용은 15초마다 자동으로 새로 고침됩니다.",
                "This information refreshes itself every 15 seconds.",
            ),
            StateRunning => ("정상 운영", "Running"),
            StateDegraded => ("일부 장애", "Degraded"),
            StateHalted => ("중단됨", "Halted"),
            Since => ("이 상태가 된 시각", "In this state since"),
            SinceUnknown => ("알 수 없음", "unknown"),
            Reason => ("이유", "Reason"),
            OperatorNote => ("운영자 안내", "Operator's note"),
            WorksTitle => ("지금 이용 가능 여부", "What works now"),
            Payments => ("결제", "Payments"),
            Charging => ("충전", "Charging"),
            Redemption => ("환전", "Redemption"),
            Available => ("가능", "Available"),
            Unavailable => ("불가", "Unavailable"),
            NoticesTitle => ("공지와 장애 내역", "Notices and incidents"),
            NoNotices => ("공지나 장애 내역이 없습니다.", "No notices or incidents."),
            KindNotice => ("공지", "Notice"),
            KindIncident => ("장애", "Incident"),
            ReasonOperatorHalt => (
                "운영자가 서비스를 일시 중단했습니다.",
                "An operator has paused the service.",
            ),
            ReasonLedgerCheck => (
                "장부 점검에서 문제가 발견되어 안전을 위해 멈췄습니다. 운영자가 확인한 뒤 다시 시작합니다. 잔액은 안전하게 보관되어 있습니다.",
                "A ledger check found a problem, so the service stopped to be safe. It restarts once an operator has checked. Balances are kept safe.",
            ),
            ReasonRecovering => (
                "저장 장치 문제로 장부를 다시 읽는 중입니다. 잔액 조회는 되지만 결제는 잠시 기다려 주세요.",
                "The ledger is being re-read after a storage problem. Balances can be viewed; please wait a little before paying.",
            ),
            ReasonStorageFailed => (
                "저장 장치 문제로 결제를 받을 수 없습니다. 자동으로 다시 시도하고 있습니다.",
                "Payments cannot be taken because of a storage problem. Recovery is being retried automatically.",
            ),
            ReasonReadOnly => (
                "새 버전 점검 중 장부 기록이 달라 읽기 전용으로 운영합니다. 운영자가 확인하고 있습니다.",
                "After an upgrade check found differing records the service is read-only. An operator is looking into it.",
            ),
            ReasonAuditFailed => (
                "정기 장부 점검에서 문제가 발견되었습니다. 운영자가 확인하고 있습니다.",
                "A routine ledger check found a problem. An operator is looking into it.",
            ),
            ReasonStopped => ("서비스가 멈춰 있습니다.", "The service is stopped."),
            NotFoundTitle => ("페이지를 찾을 수 없습니다", "Page not found"),
            NotFoundText => (
                "주소가 바뀌었거나 잘못 입력되었을 수 있습니다.",
                "The address may have changed or may have been mistyped.",
            ),
            NotFoundWhatNow => (
                "주소를 다시 확인하시거나 아래 링크로 이동해 주세요.",
                "Check the address, or go to one of these pages:",
            ),
            GoHome => ("홈으로 가기", "Go to the home page"),
            GoStatus => ("서비스 상태 보기", "See the service status"),
            CurrencyLabel => ("지역화폐", "Currency"),
            KstSuffix => ("한국 시간", "Korea time"),
            NavMine => ("내 화면", "My page"),
            SignInTitle => ("로그인", "Sign in"),
            SignInLead => (
                "아이디와 비밀번호로 로그인하면 내 지갑의 잔액과 거래 내역을 볼 수 있습니다.",
                "Sign in with your login and password to see your wallet's balance and activity.",
            ),
            LoginLabel => ("아이디", "Login"),
            PasswordLabel => ("비밀번호", "Password"),
            SignInButton => ("로그인", "Sign in"),
            SignInFailed => ("로그인하지 못했습니다", "Could not sign in"),
            SignOutButton => ("로그아웃", "Sign out"),
            RefusedTitle => (
                "요청을 확인할 수 없습니다",
                "This request could not be checked",
            ),
            RefusedText => (
                "안전을 위해 이 사이트의 화면에서 보낸 요청만 받습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
                "To keep you safe, only requests sent from this site's own pages are accepted. Please reload the page and try again.",
            ),
            CitizensOnlyTitle => ("시민 회원 전용 페이지입니다", "This page is for citizens"),
            CitizensOnlyText => (
                "지갑은 시민 회원만 볼 수 있습니다. 가맹점과 운영자는 각자의 화면을 이용해 주세요.",
                "Only citizens have a wallet here. Merchants and operators have their own screens.",
            ),
            GoSignIn => ("로그인 화면으로 가기", "Go to the sign-in page"),
            ErrorTitle => (
                "요청을 처리하지 못했습니다",
                "Your request could not be completed",
            ),
            WalletTitle => ("내 지갑", "My wallet"),
            WalletSummary => ("잔액 요약", "Balance summary"),
            Balance => ("잔액", "Balance"),
            AvailableNow => ("지금 쓸 수 있는 금액", "Available to spend now"),
            Incoming => ("충전 처리 중인 금액", "Charges on their way in"),
            LotsTitle => ("출처별 잔액과 사용 기한", "Balance by source and validity"),
            LotsCaption => (
                "출처별 잔액 (사용 기한이 빠른 순)",
                "Balance by source (soonest to expire first)",
            ),
            LotsNote => (
                "사용 기한 날짜까지(한국 시간) 쓸 수 있습니다.",
                "Each can be spent until the end of the date shown (Korea time).",
            ),
            Source => ("출처", "Source"),
            Amount => ("금액", "Amount"),
            UsableUntil => ("사용 기한", "Use by"),
            NoExpiry => ("기한 없음", "No limit"),
            NoLots => (
                "지갑에 남은 금액이 없습니다.",
                "There is nothing in the wallet.",
            ),
            SourcePurchased => ("구매", "Purchased"),
            SourceAllowance => ("정책지원금", "Allowance"),
            SourceCashback => ("캐시백", "Cash-back"),
            SourceGift => ("선물", "Gift"),
            SourceCorrection => ("정정", "Correction"),
            HistoryTitle => ("최근 거래", "Recent activity"),
            HistoryCaption => (
                "최근 거래 10건 (최신순)",
                "The last 10 entries (newest first)",
            ),
            When => ("일시", "When"),
            What => ("내용", "What"),
            NoHistory => ("아직 거래가 없습니다.", "No activity yet."),
            EntryPayment => ("결제", "Payment"),
            EntryPaymentReceived => ("결제 받음", "Payment received"),
            EntryCashback => ("캐시백 적립", "Cash-back"),
            EntryCharge => ("충전", "Charge"),
            EntryGiftSent => ("선물 보냄", "Gift sent"),
            EntryGiftReceived => ("선물 받음", "Gift received"),
            EntryRefund => ("잔액 환불", "Balance refund"),
            EntryPaymentRefund => ("결제 취소 환불", "Payment refunded"),
            EntryPaymentRefunded => ("결제 취소", "Payment cancelled"),
            EntryRedemption => ("환전", "Redemption"),
            EntryExpiry => ("사용 기한 만료", "Expired"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(cookie: Option<&str>, accept: Option<&str>, expected: Lang) {
        assert_eq!(choose(cookie, accept), expected, "{cookie:?} {accept:?}");
    }

    #[test]
    fn the_cookie_decides_when_it_names_a_language() {
        check(Some("en"), Some("ko-KR,ko;q=0.9"), Lang::En);
        check(Some("ko"), Some("en-US,en;q=0.9"), Lang::Ko);
        // An unknown cookie value is ignored, not obeyed.
        check(Some("fr"), Some("en-US"), Lang::En);
        check(Some("EN"), None, Lang::Ko);
    }

    #[test]
    fn accept_language_decides_without_a_cookie() {
        check(None, Some("en-US,en;q=0.9,ko;q=0.8"), Lang::En);
        check(None, Some("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"), Lang::Ko);
        check(None, Some("fr-FR, en;q=0.5, ko;q=0.7"), Lang::Ko);
        check(None, Some("fr, de;q=0.9, en;q=0.1"), Lang::En);
        check(None, Some("EN-gb"), Lang::En);
        // Equal quality: the first listed wins.
        check(None, Some("en;q=0.8, ko;q=0.8"), Lang::En);
        // q=0 means "not this one".
        check(None, Some("en;q=0, fr"), Lang::Ko);
    }

    #[test]
    fn korean_is_the_default() {
        check(None, None, Lang::Ko);
        check(None, Some(""), Lang::Ko);
        check(None, Some("fr-FR,fr;q=0.9"), Lang::Ko);
        check(None, Some("*"), Lang::Ko);
        check(None, Some("en;q=garbage"), Lang::Ko);
        check(None, Some(";;;,,,=="), Lang::Ko);
    }

    #[test]
    fn qualities_parse_as_thousandths() {
        assert_eq!(parse_quality("1"), Some(1000));
        assert_eq!(parse_quality("0.5"), Some(500));
        assert_eq!(parse_quality("0.125"), Some(125));
        assert_eq!(parse_quality("1.000"), Some(1000));
        assert_eq!(parse_quality("1.5"), None);
        assert_eq!(parse_quality("0.1234"), None);
        assert_eq!(parse_quality("2"), None);
    }

    #[test]
    fn text_falls_back_to_the_other_language_when_empty() {
        let t = Text::new("공지", "");
        assert_eq!(t.get(Lang::Ko), "공지");
        assert_eq!(t.get(Lang::En), "공지");
        assert_eq!(Text::new("공지", "Notice").get(Lang::En), "Notice");
    }
}
