//! What did the camera see? [`classify`] turns any scanned bytes into one [`ScanAnswer`]:
//! a payment target, or the specific reason it is not one — never a bare "invalid QR".
//!
//! The order of questions, and why:
//! 1. Size and encoding (empty, over [`SCAN_BYTES_MAX`], not UTF-8): cheap, and bounds
//!    the work every later step can do. Bytes that stop in the middle of a UTF-8
//!    character after the start of an EMV payload are a cut-off scan
//!    ([`ScanAnswer::IncompleteScan`]), not binary data.
//! 2. Consumer code prefix: a citizen's one-time code, verified and used up through the
//!    [`ScanContext`].
//! 3. EMV payloads (`000201…`): checksum, structure, then maeul's own template. A valid
//!    maeul code goes straight to the merchant registry. Four answers tell a bad scan
//!    apart, because each asks the person for something different (see [`crate::emv`]):
//!    `incomplete_scan` — the payload stops short (inside a field, before or inside its
//!    checksum): scan again, steadier and closer; `bad_checksum` — whole but damaged:
//!    scan again, else ask for a new code; `malformed_emv` — whole, checksum right, but
//!    badly made: ask for a new code; `not_payment_code` — not a payment code at all.
//! 4. Legacy aliases: the exact (normalised) string, then an EMV merchant account. An
//!    exact alias wins even over a checksum error, because some old generators wrote
//!    wrong checksums and the operator imported exactly what is on the sticker.
//! 5. Other schemes, recognised by EMV GUID, card-network tag, URL scheme or host, so the
//!    answer can say "this is a PromptPay code" rather than "unknown". Such an answer
//!    also gives the scheme as a stable lowercase code ([`ScanAnswer::scheme`]:
//!    `zeropay`, `pix`, `qris`, `promptpay`, …) for the server to put in a refusal, so an
//!    app never has to read the words.
//! 6. Everything else is named for what it looks like (a web address, Wi-Fi settings, a
//!    contact card, a number, text).
//!
//! The classifier itself is pure and allocation-free on the common paths; the context
//! supplies state (merchants, aliases, the replay guard) and the caller supplies `now`.

use std::borrow::Cow;
use std::fmt;

use crate::alias::{AliasHit, AliasMatch, AliasQuery, normalize};
use crate::consumer::{ConsumerError, VerifiedCode, looks_like_consumer_code};
use crate::emv::{EmvError, EmvPayload, FieldPath, MaeulView, PAYLOAD_BYTES_MAX, Problem};

/// Longest scan the classifier reads. Payment payloads are a few hundred bytes.
pub const SCAN_BYTES_MAX: usize = PAYLOAD_BYTES_MAX;

/// What the server knows, asked by [`classify`]. The server implements it over its
/// merchant registry, alias table and consumer-code verifier; [`crate::MemoryContext`] is
/// a ready-made in-memory one.
pub trait ScanContext {
    /// The currency this scan is paying in, e.g. `busan-dongbaek`.
    fn our_currency(&self) -> &str;

    /// The merchant's status and currency; `None` when the id is unknown.
    fn merchant(&self, merchant: u64) -> Option<MerchantInfo<'_>>;

    /// Legacy alias lookup; usually `self.table.lookup(query)` over an
    /// [`crate::AliasTable`]. The default knows no aliases.
    fn alias(&self, _query: &AliasQuery<'_, '_>) -> Option<AliasHit> {
        None
    }

    /// Verifies a consumer code and marks it used (usually `ConsumerCodes::redeem` behind
    /// a mutex). The default refuses: only merchant-side scanners accept consumer codes.
    fn redeem_consumer_code(
        &self,
        _code: &str,
        _now_us: u64,
    ) -> Result<VerifiedCode, ConsumerError> {
        Err(ConsumerError::NotAcceptedHere)
    }
}

/// A merchant as the registry sees it. Borrowed where the registry can lend, owned where
/// it cannot (e.g. behind a lock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantInfo<'a> {
    pub status: MerchantStatus<'a>,
    /// The currency the merchant belongs to.
    pub currency: Cow<'a, str>,
}

impl MerchantInfo<'_> {
    /// A borrowed copy, for registries that store `MerchantInfo<'static>`.
    pub fn reborrow(&self) -> MerchantInfo<'_> {
        MerchantInfo {
            status: match &self.status {
                MerchantStatus::Active => MerchantStatus::Active,
                MerchantStatus::Suspended { reason } => MerchantStatus::Suspended {
                    reason: Cow::Borrowed(reason),
                },
                MerchantStatus::Closed => MerchantStatus::Closed,
            },
            currency: Cow::Borrowed(&self.currency),
        }
    }
}

/// Whether a known merchant can be paid. (An unknown one is `None` from
/// [`ScanContext::merchant`].)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MerchantStatus<'a> {
    Active,
    /// Temporarily not accepting payments; `reason` is for staff, not shown to citizens.
    Suspended {
        reason: Cow<'a, str>,
    },
    Closed,
}

/// How a payment target was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recognised {
    MaeulStatic,
    MaeulDynamic,
    Alias { matched: AliasMatch, line: u64 },
}

/// A merchant to pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentTarget {
    pub merchant: u64,
    /// Fixed by a dynamic code; `None` means the citizen enters the amount.
    pub amount_won: Option<u64>,
    pub via: Recognised,
    pub reference: Option<String>,
    pub terminal: Option<String>,
}

/// Payment schemes the classifier can name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    Maeul,
    ZeroPay,
    KakaoPay,
    NaverPay,
    Toss,
    Payco,
    /// An EMV payload for Korea (tag 58 `KR`) with no GUID we know.
    KoreanEmv,
    Pix,
    PayNow,
    PromptPay,
    DuitNow,
    Qris,
    VietQr,
    HongKongFps,
    Upi,
    Alipay,
    WeChatPay,
    Card(CardNetwork),
    /// `bitcoin:`, `lightning:`, `ethereum:` and similar.
    Crypto,
    /// An EMVCo consumer-presented code (base64 starting `hQ`): another wallet's
    /// customer code.
    EmvConsumerPresented,
    /// A valid EMV merchant payload of a scheme we do not name.
    OtherEmv {
        guid: Option<String>,
        country: Option<String>,
    },
}

/// Card networks by their reserved EMV merchant account tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardNetwork {
    Visa,
    Mastercard,
    Discover,
    Amex,
    Jcb,
    UnionPay,
}

impl Scheme {
    pub fn code(&self) -> &'static str {
        match self {
            Scheme::Maeul => "maeul",
            Scheme::ZeroPay => "zeropay",
            Scheme::KakaoPay => "kakaopay",
            Scheme::NaverPay => "naverpay",
            Scheme::Toss => "toss",
            Scheme::Payco => "payco",
            Scheme::KoreanEmv => "korean_emv",
            Scheme::Pix => "pix",
            Scheme::PayNow => "paynow",
            Scheme::PromptPay => "promptpay",
            Scheme::DuitNow => "duitnow",
            Scheme::Qris => "qris",
            Scheme::VietQr => "vietqr",
            Scheme::HongKongFps => "hk_fps",
            Scheme::Upi => "upi",
            Scheme::Alipay => "alipay",
            Scheme::WeChatPay => "wechat_pay",
            Scheme::Card(CardNetwork::Visa) => "visa",
            Scheme::Card(CardNetwork::Mastercard) => "mastercard",
            Scheme::Card(CardNetwork::Discover) => "discover",
            Scheme::Card(CardNetwork::Amex) => "amex",
            Scheme::Card(CardNetwork::Jcb) => "jcb",
            Scheme::Card(CardNetwork::UnionPay) => "unionpay",
            Scheme::Crypto => "crypto",
            Scheme::EmvConsumerPresented => "emv_consumer_presented",
            Scheme::OtherEmv { .. } => "other_emv",
        }
    }

    /// The name people know, in English.
    pub fn name_en(&self) -> &'static str {
        match self {
            Scheme::Maeul => "local currency",
            Scheme::ZeroPay => "ZeroPay",
            Scheme::KakaoPay => "Kakao Pay",
            Scheme::NaverPay => "Naver Pay",
            Scheme::Toss => "Toss",
            Scheme::Payco => "PAYCO",
            Scheme::KoreanEmv => "another Korean payment service",
            Scheme::Pix => "Pix (Brazil)",
            Scheme::PayNow => "PayNow (Singapore)",
            Scheme::PromptPay => "PromptPay (Thailand)",
            Scheme::DuitNow => "DuitNow (Malaysia)",
            Scheme::Qris => "QRIS (Indonesia)",
            Scheme::VietQr => "VietQR (Vietnam)",
            Scheme::HongKongFps => "FPS (Hong Kong)",
            Scheme::Upi => "UPI (India)",
            Scheme::Alipay => "Alipay",
            Scheme::WeChatPay => "WeChat Pay",
            Scheme::Card(CardNetwork::Visa) => "Visa",
            Scheme::Card(CardNetwork::Mastercard) => "Mastercard",
            Scheme::Card(CardNetwork::Discover) => "Discover",
            Scheme::Card(CardNetwork::Amex) => "American Express",
            Scheme::Card(CardNetwork::Jcb) => "JCB",
            Scheme::Card(CardNetwork::UnionPay) => "UnionPay",
            Scheme::Crypto => "a cryptocurrency",
            Scheme::EmvConsumerPresented => "another wallet's customer code",
            Scheme::OtherEmv { .. } => "another payment service",
        }
    }

    /// The name people know, in Korean.
    pub fn name_ko(&self) -> &'static str {
        match self {
            Scheme::Maeul => "지역화폐",
            Scheme::ZeroPay => "제로페이",
            Scheme::KakaoPay => "카카오페이",
            Scheme::NaverPay => "네이버페이",
            Scheme::Toss => "토스",
            Scheme::Payco => "페이코",
            Scheme::KoreanEmv => "다른 국내 간편결제",
            Scheme::Pix => "Pix(브라질)",
            Scheme::PayNow => "PayNow(싱가포르)",
            Scheme::PromptPay => "PromptPay(태국)",
            Scheme::DuitNow => "DuitNow(말레이시아)",
            Scheme::Qris => "QRIS(인도네시아)",
            Scheme::VietQr => "VietQR(베트남)",
            Scheme::HongKongFps => "FPS(홍콩)",
            Scheme::Upi => "UPI(인도)",
            Scheme::Alipay => "알리페이",
            Scheme::WeChatPay => "위챗페이",
            Scheme::Card(CardNetwork::Visa) => "비자",
            Scheme::Card(CardNetwork::Mastercard) => "마스터카드",
            Scheme::Card(CardNetwork::Discover) => "디스커버",
            Scheme::Card(CardNetwork::Amex) => "아메리칸 익스프레스",
            Scheme::Card(CardNetwork::Jcb) => "JCB",
            Scheme::Card(CardNetwork::UnionPay) => "유니온페이",
            Scheme::Crypto => "암호화폐",
            Scheme::EmvConsumerPresented => "다른 간편결제의 고객 결제 코드",
            Scheme::OtherEmv { .. } => "다른 결제 서비스",
        }
    }
}

/// What a scan that is not a payment code looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LooksLike {
    Empty,
    TooLong {
        bytes: usize,
    },
    /// Not UTF-8 text.
    Binary,
    /// A web or app address that is not a known payment service.
    Url {
        host: String,
    },
    WifiConfig,
    /// vCard or MeCard.
    Contact,
    Calendar,
    Email,
    Phone,
    Sms,
    Geo,
    Number,
    Text,
}

impl LooksLike {
    pub fn code(&self) -> &'static str {
        match self {
            LooksLike::Empty => "empty",
            LooksLike::TooLong { .. } => "too_long",
            LooksLike::Binary => "binary",
            LooksLike::Url { .. } => "url",
            LooksLike::WifiConfig => "wifi_config",
            LooksLike::Contact => "contact",
            LooksLike::Calendar => "calendar",
            LooksLike::Email => "email",
            LooksLike::Phone => "phone",
            LooksLike::Sms => "sms",
            LooksLike::Geo => "geo",
            LooksLike::Number => "number",
            LooksLike::Text => "text",
        }
    }

    fn ko(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            LooksLike::Empty => "빈 QR 코드입니다",
            LooksLike::TooLong { .. } => "결제 코드로 보기에는 너무 긴 내용입니다",
            LooksLike::Binary => "글자가 아닌 데이터입니다",
            LooksLike::Url { host } => return Cow::Owned(format!("웹 주소({host})입니다")),
            LooksLike::WifiConfig => "와이파이 설정입니다",
            LooksLike::Contact => "연락처입니다",
            LooksLike::Calendar => "일정입니다",
            LooksLike::Email => "이메일 주소입니다",
            LooksLike::Phone => "전화번호입니다",
            LooksLike::Sms => "문자 메시지입니다",
            LooksLike::Geo => "위치 정보입니다",
            LooksLike::Number => "등록되지 않은 번호입니다",
            LooksLike::Text => "일반 텍스트입니다",
        })
    }

    fn en(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            LooksLike::Empty => "it is empty",
            LooksLike::TooLong { .. } => "it is far too long for a payment code",
            LooksLike::Binary => "it is binary data, not text",
            LooksLike::Url { host } => return Cow::Owned(format!("it is a web address ({host})")),
            LooksLike::WifiConfig => "it holds Wi-Fi settings",
            LooksLike::Contact => "it is a contact card",
            LooksLike::Calendar => "it is a calendar event",
            LooksLike::Email => "it is an email address",
            LooksLike::Phone => "it is a phone number",
            LooksLike::Sms => "it is a text message",
            LooksLike::Geo => "it is a location",
            LooksLike::Number => "it is a number that is not registered",
            LooksLike::Text => "it is plain text",
        })
    }
}

/// The answer to one scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanAnswer {
    /// Pay this merchant.
    Merchant(PaymentTarget),
    /// A citizen's consumer code, verified and now used: charge the citizen the server
    /// maps `token` to.
    Payer(VerifiedCode),
    /// The scan stopped short: the payload ends inside a field, or before or inside its
    /// checksum. The camera read part of a code; scanning again (steadier, closer) is the
    /// remedy, not a new code. `field`, `offset` and `problem` say where it was cut.
    IncompleteScan {
        field: Option<FieldPath>,
        offset: usize,
        problem: Problem,
    },
    /// The code's checksum disagrees with its content.
    BadChecksum {
        expected: u16,
        found: u16,
    },
    /// An EMV payload that breaks the format; `field` says where.
    MalformedEmv {
        field: Option<FieldPath>,
        offset: usize,
        problem: Problem,
    },
    /// Not a payment code at all.
    NotPayment {
        looks_like: LooksLike,
    },
    /// A payment code, but for no merchant we know: `scheme` says whose it is.
    /// `merchant` is set when it is a maeul code for an id the registry does not have.
    UnknownMerchant {
        scheme: Scheme,
        merchant: Option<u64>,
    },
    MerchantSuspended {
        merchant: u64,
        reason: String,
    },
    MerchantClosed {
        merchant: u64,
    },
    /// A maeul merchant of another currency.
    OtherCurrency {
        merchant: Option<u64>,
        currency: String,
    },
    /// A consumer code that cannot be honoured.
    ConsumerRejected(ConsumerError),
}

impl ScanAnswer {
    /// Whether the scan found someone to pay or charge.
    pub fn is_payable(&self) -> bool {
        matches!(self, ScanAnswer::Merchant(_) | ScanAnswer::Payer(_))
    }

    /// The payment scheme of a code that belongs to another service, as a stable
    /// lowercase code ([`Scheme::code`]: `zeropay`, `kakaopay`, `pix`, `qris`,
    /// `promptpay`, `visa`, `other_emv`, …), for a refusal an app can act on without
    /// reading the words. `None` for every other answer, including maeul's own codes
    /// (an unregistered maeul merchant, another local currency).
    pub fn scheme(&self) -> Option<&'static str> {
        match self {
            ScanAnswer::UnknownMerchant { scheme, .. } if *scheme != Scheme::Maeul => {
                Some(scheme.code())
            }
            _ => None,
        }
    }

    /// A stable snake_case code for logs, metrics and API clients.
    pub fn code(&self) -> &'static str {
        match self {
            ScanAnswer::Merchant(_) => "merchant_found",
            ScanAnswer::Payer(_) => "payer_found",
            ScanAnswer::IncompleteScan { .. } => "incomplete_scan",
            ScanAnswer::BadChecksum { .. } => "bad_checksum",
            ScanAnswer::MalformedEmv { .. } => "malformed_emv",
            ScanAnswer::NotPayment { .. } => "not_payment_code",
            ScanAnswer::UnknownMerchant { .. } => "unknown_merchant",
            ScanAnswer::MerchantSuspended { .. } => "merchant_suspended",
            ScanAnswer::MerchantClosed { .. } => "merchant_closed",
            ScanAnswer::OtherCurrency { .. } => "other_currency",
            ScanAnswer::ConsumerRejected(e) => e.code(),
        }
    }

    /// A short message for the person holding the phone, in Korean: what happened and
    /// what to do.
    pub fn message_ko(&self) -> Cow<'static, str> {
        let s: &'static str = match self {
            ScanAnswer::Merchant(_) => "결제할 가맹점을 찾았습니다. 금액을 확인하고 결제하세요.",
            ScanAnswer::Payer(_) => "손님의 결제 코드를 확인했습니다. 결제를 진행하세요.",
            ScanAnswer::IncompleteScan { .. } => {
                "QR 코드를 끝까지 읽지 못했습니다. 카메라를 흔들리지 않게 잡고 QR 코드에 조금 더 가까이 대어 다시 스캔하세요."
            }
            ScanAnswer::BadChecksum { .. } => {
                "QR 코드가 손상되었거나 변조되었습니다. 다시 스캔하고, 계속 안 되면 가맹점에 새 QR을 요청하세요."
            }
            ScanAnswer::MalformedEmv { .. } => {
                "결제 QR 코드의 형식이 올바르지 않습니다. 가맹점에 새 QR을 요청하세요."
            }
            ScanAnswer::NotPayment { looks_like } => {
                return Cow::Owned(format!(
                    "결제용 QR이 아닙니다({}). 가맹점의 지역화폐 결제 QR을 스캔하세요.",
                    looks_like.ko()
                ));
            }
            ScanAnswer::UnknownMerchant {
                scheme: Scheme::Maeul,
                ..
            } => "등록되지 않은 가맹점입니다. 가맹점에 지역화폐 가맹 여부를 문의하세요.",
            ScanAnswer::UnknownMerchant { scheme, .. } => {
                return Cow::Owned(format!(
                    "{} 결제용 QR이라 지역화폐로는 결제할 수 없습니다. 가맹점에 지역화폐 QR을 요청하세요.",
                    scheme.name_ko()
                ));
            }
            ScanAnswer::MerchantSuspended { .. } => {
                "이 가맹점은 지금 지역화폐 결제가 중지되어 있습니다. 다른 결제 수단을 이용하세요."
            }
            ScanAnswer::MerchantClosed { .. } => {
                "더 이상 지역화폐를 받지 않는 가맹점입니다. 다른 결제 수단을 이용하세요."
            }
            ScanAnswer::OtherCurrency { currency, .. } => {
                return Cow::Owned(format!(
                    "다른 지역화폐({currency})의 가맹점입니다. 그 지역화폐로 결제하세요."
                ));
            }
            ScanAnswer::ConsumerRejected(e) => match e {
                ConsumerError::Malformed => "결제 코드를 읽지 못했습니다. 다시 스캔하세요.",
                ConsumerError::Forged => {
                    "확인할 수 없는 결제 코드입니다. 이 코드로는 결제를 받지 마세요."
                }
                ConsumerError::WrongCurrency => {
                    "다른 지역화폐의 결제 코드입니다. 손님 앱에서 이 지역화폐를 선택해 달라고 하세요."
                }
                ConsumerError::NotYetValid { .. } => {
                    "결제 코드의 시각이 맞지 않습니다. 잠시 후 손님에게 새 코드를 받아 다시 스캔하세요."
                }
                ConsumerError::Expired { .. } => {
                    "결제 코드의 유효 시간이 지났습니다. 손님에게 앱에서 코드를 새로 고쳐 달라고 하세요."
                }
                ConsumerError::AlreadyUsed => {
                    "이미 사용된 결제 코드입니다. 손님에게 새 코드를 요청하세요."
                }
                ConsumerError::ReplayGuardFull { .. } => {
                    "결제가 몰려 지금은 처리할 수 없습니다. 잠시 후 다시 시도하세요."
                }
                ConsumerError::NotAcceptedHere => {
                    "다른 사람의 결제 코드입니다. 가맹점의 결제 QR을 스캔하세요."
                }
            },
        };
        Cow::Borrowed(s)
    }

    /// The same message in English.
    pub fn message_en(&self) -> Cow<'static, str> {
        let s: &'static str = match self {
            ScanAnswer::Merchant(_) => "Shop found. Check the amount and pay.",
            ScanAnswer::Payer(_) => "Customer's payment code accepted. Go ahead with the sale.",
            ScanAnswer::IncompleteScan { .. } => {
                "Only part of the QR code was read. Hold the camera steady, a little closer to the code, and scan again."
            }
            ScanAnswer::BadChecksum { .. } => {
                "This QR code is damaged or has been altered. Scan again; if it keeps failing, ask the shop for a new code."
            }
            ScanAnswer::MalformedEmv { .. } => {
                "This payment QR code is not in a valid format. Ask the shop for a new code."
            }
            ScanAnswer::NotPayment { looks_like } => {
                return Cow::Owned(format!(
                    "This is not a payment code: {}. Scan the shop's local-currency QR code.",
                    looks_like.en()
                ));
            }
            ScanAnswer::UnknownMerchant {
                scheme: Scheme::Maeul,
                ..
            } => "This shop is not registered for the local currency. Please ask the shop.",
            ScanAnswer::UnknownMerchant { scheme, .. } => {
                return Cow::Owned(format!(
                    "This is a {} code, which the local currency cannot pay. Ask the shop for its local-currency QR code.",
                    scheme.name_en()
                ));
            }
            ScanAnswer::MerchantSuspended { .. } => {
                "This shop cannot take local-currency payments right now. Please use another way to pay."
            }
            ScanAnswer::MerchantClosed { .. } => {
                "This shop no longer takes the local currency. Please use another way to pay."
            }
            ScanAnswer::OtherCurrency { currency, .. } => {
                return Cow::Owned(format!(
                    "This shop takes another local currency ({currency}). Pay with that currency."
                ));
            }
            ScanAnswer::ConsumerRejected(e) => match e {
                ConsumerError::Malformed => "The payment code could not be read. Scan it again.",
                ConsumerError::Forged => {
                    "This payment code could not be verified. Do not accept it."
                }
                ConsumerError::WrongCurrency => {
                    "This payment code is for another local currency. Ask the customer to switch currency in the app."
                }
                ConsumerError::NotYetValid { .. } => {
                    "The payment code's time does not match. Wait a moment and scan a fresh code."
                }
                ConsumerError::Expired { .. } => {
                    "The payment code has expired. Ask the customer to refresh it in the app."
                }
                ConsumerError::AlreadyUsed => {
                    "This payment code was already used. Ask the customer for a new one."
                }
                ConsumerError::ReplayGuardFull { .. } => {
                    "Too many payments at once. Please try again in a moment."
                }
                ConsumerError::NotAcceptedHere => {
                    "This is someone's payment code. Scan the shop's payment QR code instead."
                }
            },
        };
        Cow::Borrowed(s)
    }
}

impl fmt::Display for ScanAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message_en())
    }
}

/// Classifies scanned bytes: the QR decoder's output, whatever it is.
pub fn classify(scanned: &[u8], ctx: &impl ScanContext, now_us: u64) -> ScanAnswer {
    if scanned.len() > SCAN_BYTES_MAX {
        return not_payment(LooksLike::TooLong {
            bytes: scanned.len(),
        });
    }
    match std::str::from_utf8(scanned) {
        Ok(text) => classify_str(text, ctx, now_us),
        // The bytes end inside a character (`error_len` is `None`): if what came before
        // is the start of an EMV payload, the scan was cut in the middle of a Korean
        // name or city.
        Err(e) if e.error_len().is_none() => scanned
            .get(..e.valid_up_to())
            .and_then(|prefix| std::str::from_utf8(prefix).ok())
            .and_then(cut_emv)
            .unwrap_or(not_payment(LooksLike::Binary)),
        Err(_) => not_payment(LooksLike::Binary),
    }
}

/// [`ScanAnswer::IncompleteScan`] when `text` is the start of an EMV payload that stops
/// short; `None` otherwise.
fn cut_emv(text: &str) -> Option<ScanAnswer> {
    let text = normalize(text);
    if !looks_like_emv(&text) {
        return None;
    }
    match EmvPayload::parse(&text) {
        Err(e @ EmvError::Incomplete { .. }) => Some(emv_error_answer(e)),
        _ => None,
    }
}

/// Classifies scanned text.
pub fn classify_str(scanned: &str, ctx: &impl ScanContext, now_us: u64) -> ScanAnswer {
    if scanned.len() > SCAN_BYTES_MAX {
        return not_payment(LooksLike::TooLong {
            bytes: scanned.len(),
        });
    }
    let normalized = normalize(scanned);
    let text: &str = &normalized;
    if text.is_empty() {
        return not_payment(LooksLike::Empty);
    }
    if looks_like_consumer_code(text) {
        return match ctx.redeem_consumer_code(text, now_us) {
            Ok(verified) => ScanAnswer::Payer(verified),
            Err(e) => ScanAnswer::ConsumerRejected(e),
        };
    }
    if looks_like_emv(text) {
        return classify_emv(text, ctx);
    }
    if let Some(hit) = ctx.alias(&AliasQuery {
        normalized: text,
        emv: None,
    }) {
        return alias_answer(hit, ctx);
    }
    classify_other(text)
}

/// `000201…`, or `0002…` ending in a CRC field: worth reading as EMV. A bare number that
/// merely starts with `0002` is left to be a number.
fn looks_like_emv(text: &str) -> bool {
    text.starts_with("000201")
        || (text.starts_with("0002")
            && text.len() >= 8
            && text.as_bytes()[text.len() - 8..].starts_with(b"6304"))
}

fn classify_emv(text: &str, ctx: &impl ScanContext) -> ScanAnswer {
    let payload = match EmvPayload::parse(text) {
        Ok(p) => p,
        Err(e) => {
            return match ctx.alias(&AliasQuery {
                normalized: text,
                emv: None,
            }) {
                Some(hit) => alias_answer(hit, ctx),
                None => emv_error_answer(e),
            };
        }
    };
    match MaeulView::from_payload(&payload) {
        Ok(Some(view)) => maeul_answer(&view, ctx),
        Ok(None) => match ctx.alias(&AliasQuery {
            normalized: text,
            emv: Some(&payload),
        }) {
            Some(hit) => alias_answer(hit, ctx),
            None => ScanAnswer::UnknownMerchant {
                scheme: emv_scheme(&payload),
                merchant: None,
            },
        },
        Err(e) => match ctx.alias(&AliasQuery {
            normalized: text,
            emv: None,
        }) {
            Some(hit) => alias_answer(hit, ctx),
            None => emv_error_answer(e),
        },
    }
}

fn emv_error_answer(e: EmvError) -> ScanAnswer {
    match e {
        EmvError::BadChecksum { expected, found } => ScanAnswer::BadChecksum { expected, found },
        EmvError::Incomplete {
            field,
            offset,
            problem,
        } => ScanAnswer::IncompleteScan {
            field,
            offset,
            problem,
        },
        EmvError::Malformed {
            field,
            offset,
            problem,
        } => ScanAnswer::MalformedEmv {
            field,
            offset,
            problem,
        },
        // `from_payload` reports "not ours" as `Ok(None)`; kept total for safety.
        EmvError::NotMaeul => ScanAnswer::UnknownMerchant {
            scheme: Scheme::OtherEmv {
                guid: None,
                country: None,
            },
            merchant: None,
        },
    }
}

fn maeul_answer(view: &MaeulView<'_>, ctx: &impl ScanContext) -> ScanAnswer {
    if view.currency != ctx.our_currency() {
        return ScanAnswer::OtherCurrency {
            merchant: Some(view.merchant),
            currency: view.currency.to_owned(),
        };
    }
    let via = match view.amount_won {
        Some(_) => Recognised::MaeulDynamic,
        None => Recognised::MaeulStatic,
    };
    merchant_answer(
        PaymentTarget {
            merchant: view.merchant,
            amount_won: view.amount_won,
            via,
            reference: view.reference.map(str::to_owned),
            terminal: view.terminal.map(str::to_owned),
        },
        ctx,
    )
}

fn alias_answer(hit: AliasHit, ctx: &impl ScanContext) -> ScanAnswer {
    merchant_answer(
        PaymentTarget {
            merchant: hit.merchant,
            amount_won: None,
            via: Recognised::Alias {
                matched: hit.matched,
                line: hit.line,
            },
            reference: None,
            terminal: None,
        },
        ctx,
    )
}

fn merchant_answer(target: PaymentTarget, ctx: &impl ScanContext) -> ScanAnswer {
    let Some(info) = ctx.merchant(target.merchant) else {
        return ScanAnswer::UnknownMerchant {
            scheme: Scheme::Maeul,
            merchant: Some(target.merchant),
        };
    };
    if info.currency != ctx.our_currency() {
        return ScanAnswer::OtherCurrency {
            merchant: Some(target.merchant),
            currency: info.currency.into_owned(),
        };
    }
    match info.status {
        MerchantStatus::Active => ScanAnswer::Merchant(target),
        MerchantStatus::Suspended { reason } => ScanAnswer::MerchantSuspended {
            merchant: target.merchant,
            reason: reason.into_owned(),
        },
        MerchantStatus::Closed => ScanAnswer::MerchantClosed {
            merchant: target.merchant,
        },
    }
}

/// GUIDs of merchant account templates (compared without ASCII case). Sources: each
/// scheme's published QR specification as reproduced in open-source encoders and in
/// published sample payloads (PromptPay 0111 is the merchant/personal AID, 0112 bill
/// payment).
const GUIDS: &[(&str, Scheme)] = &[
    ("KR.MAEUL", Scheme::Maeul),
    ("BR.GOV.BCB.PIX", Scheme::Pix),
    ("SG.PAYNOW", Scheme::PayNow),
    ("A000000677010111", Scheme::PromptPay),
    ("A000000677010112", Scheme::PromptPay),
    ("A0000006150001", Scheme::DuitNow),
    ("ID.CO.QRIS.WWW", Scheme::Qris),
    ("A000000727", Scheme::VietQr),
    ("HK.COM.HKICL", Scheme::HongKongFps),
];

/// Names the scheme of a valid EMV payload that is not a maeul code.
pub fn emv_scheme(p: &EmvPayload<'_>) -> Scheme {
    let mut first_guid = None;
    let mut card = None;
    for account in p.accounts() {
        if let Some(guid) = account.guid() {
            if let Some((_, scheme)) = GUIDS.iter().find(|(g, _)| g.eq_ignore_ascii_case(guid)) {
                return scheme.clone();
            }
            first_guid.get_or_insert(guid);
        } else if card.is_none() {
            card = card_network(account.tag);
        }
    }
    if let Some(network) = card {
        return Scheme::Card(network);
    }
    let country = p.get(58);
    if country.is_some_and(|c| c.eq_ignore_ascii_case("KR")) {
        return Scheme::KoreanEmv;
    }
    Scheme::OtherEmv {
        guid: first_guid.map(|g| g.chars().take(40).collect()),
        country: country.map(|c| c.chars().take(3).collect()),
    }
}

/// EMVCo MPM reserved merchant account tags for card networks.
fn card_network(tag: u8) -> Option<CardNetwork> {
    match tag {
        2 | 3 => Some(CardNetwork::Visa),
        4 | 5 => Some(CardNetwork::Mastercard),
        9 | 10 => Some(CardNetwork::Discover),
        11 | 12 => Some(CardNetwork::Amex),
        13 | 14 => Some(CardNetwork::Jcb),
        15 | 16 => Some(CardNetwork::UnionPay),
        _ => None,
    }
}

/// URL schemes that are payment apps by themselves.
const PAYMENT_URL_SCHEMES: &[(&str, Scheme)] = &[
    ("upi", Scheme::Upi),
    ("wxp", Scheme::WeChatPay),
    ("weixin", Scheme::WeChatPay),
    ("alipay", Scheme::Alipay),
    ("alipays", Scheme::Alipay),
    ("supertoss", Scheme::Toss),
    ("kakaotalk", Scheme::KakaoPay),
    ("payco", Scheme::Payco),
];

/// Hosts (and their subdomains) of payment services' QR links.
const PAYMENT_HOSTS: &[(&str, Scheme)] = &[
    ("qr.kakaopay.com", Scheme::KakaoPay),
    ("kakaopay.com", Scheme::KakaoPay),
    ("pay.naver.com", Scheme::NaverPay),
    ("toss.me", Scheme::Toss),
    ("toss.im", Scheme::Toss),
    ("zeropay.or.kr", Scheme::ZeroPay),
    ("payco.com", Scheme::Payco),
    ("qr.alipay.com", Scheme::Alipay),
    ("alipay.com", Scheme::Alipay),
    ("wx.tenpay.com", Scheme::WeChatPay),
    ("tenpay.com", Scheme::WeChatPay),
];

/// Schemes written without `//` (RFC 3986 "opaque" URIs).
const CRYPTO_SCHEMES: &[&str] = &["bitcoin:", "lightning:", "ethereum:", "litecoin:"];

/// Everything that is not EMV, a consumer code or an alias.
fn classify_other(text: &str) -> ScanAnswer {
    let starts = |prefix: &str| {
        text.len() >= prefix.len()
            && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    if starts("hQ") && text.len() >= 8 && text.bytes().all(is_base64) {
        // 0x85 0x05 "CPV01" in base64: EMVCo consumer-presented mode.
        return unknown(Scheme::EmvConsumerPresented);
    }
    if CRYPTO_SCHEMES.iter().any(|s| starts(s)) {
        return unknown(Scheme::Crypto);
    }
    if let Some((scheme, rest)) = text.split_once("://")
        && !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        // `normalize` already lowercased the scheme and host of URLs.
        if let Some((_, s)) = PAYMENT_URL_SCHEMES.iter().find(|(name, _)| *name == scheme) {
            return unknown(s.clone());
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        let host = host.split(':').next().unwrap_or("");
        if let Some((_, s)) = PAYMENT_HOSTS.iter().find(|(domain, _)| {
            host == *domain || host.strip_suffix(domain).is_some_and(|h| h.ends_with('.'))
        }) {
            return unknown(s.clone());
        }
        return not_payment(LooksLike::Url {
            host: host.chars().take(64).collect(),
        });
    }
    let looks_like = if starts("WIFI:") {
        LooksLike::WifiConfig
    } else if starts("BEGIN:VCARD") || starts("MECARD:") {
        LooksLike::Contact
    } else if starts("BEGIN:VCALENDAR") || starts("BEGIN:VEVENT") {
        LooksLike::Calendar
    } else if starts("mailto:") || starts("MATMSG:") {
        LooksLike::Email
    } else if starts("tel:") {
        LooksLike::Phone
    } else if starts("sms:") || starts("smsto:") {
        LooksLike::Sms
    } else if starts("geo:") {
        LooksLike::Geo
    } else if starts("www.") {
        LooksLike::Url {
            host: text
                .split(['/', '?', '#'])
                .next()
                .unwrap_or("")
                .chars()
                .take(64)
                .collect::<String>()
                .to_lowercase(),
        }
    } else if text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'-' || b == b' ')
    {
        LooksLike::Number
    } else {
        LooksLike::Text
    };
    not_payment(looks_like)
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

fn unknown(scheme: Scheme) -> ScanAnswer {
    ScanAnswer::UnknownMerchant {
        scheme,
        merchant: None,
    }
}

fn not_payment(looks_like: LooksLike) -> ScanAnswer {
    ScanAnswer::NotPayment { looks_like }
}
