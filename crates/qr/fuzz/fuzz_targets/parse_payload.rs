//! Any bytes into every reader a scan reaches: the classifier (with aliases and a
//! consumer-code verifier), the EMV payload reader, maeul's merchant-code parser, the
//! alias normaliser and the CSV importer. None may panic; the classifier must answer.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qr::{
    AliasTable, ConsumerCodes, ConsumerConfig, ConsumerSecret, EmvPayload, MemoryContext,
    MerchantCode, classify,
};

const NOW_US: u64 = 1_790_000_000_000_000;

fn aliases() -> &'static AliasTable {
    static TABLE: OnceLock<AliasTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = AliasTable::new();
        t.import_csv(
            b"https://pay.example.kr/m?id=1,1\n0012345678,2\n\
              00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D,3\n",
        );
        t
    })
}

fuzz_target!(|data: &[u8]| {
    // A fresh context per input keeps runs independent (the replay guard is state).
    let codes = ConsumerCodes::new(
        &ConsumerSecret([1; 32]),
        "busan-dongbaek",
        ConsumerConfig::default(),
    );
    let mut ctx = MemoryContext::new("busan-dongbaek");
    if let Ok(codes) = codes {
        ctx = ctx.with_consumer_codes(codes);
    }
    ctx.aliases = aliases().clone();
    for id in 0..4 {
        ctx.add_active(id);
    }
    let answer = classify(data, &ctx, NOW_US);
    assert!(!answer.code().is_empty());
    let _ = answer.message_ko();

    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = EmvPayload::parse(text) {
            let _ = p.accounts().count();
            let _ = p.sub(62, 5);
        }
        let _ = MerchantCode::parse(text);
        let _ = qr::alias::normalize(text);
    }
    if data.len() < 4096 {
        let mut table = AliasTable::new();
        let _ = table.import_csv(data);
    }
});
