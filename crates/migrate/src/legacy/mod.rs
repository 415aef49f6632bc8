//! Legacy import: a town leaving another vendor brings that vendor's CSV dumps.
//!
//! [`run`] reads the dumps through a mapping file ([`mapping`]), reports every row it
//! does not import exactly as written ([`report`]), and brings the rest in: members
//! become users of the currency (people's data in the user store, logins
//! `legacy-<system>-<id>` that nobody can sign in with until claimed) with a wallet whose
//! lots are the old balances by source and expiry; merchants join the registry (keyed
//! by 사업자등록번호) with what the old system owed them, and their old QR payloads become
//! aliases. All value moves as journaled `Migrated` commands whose note names the file,
//! line and legacy id.
//!
//! **Deltas.** Every run plans from what the currency holds now: a member whose
//! balances already match gets no command, one whose balances changed has its imported
//! value returned and re-issued exactly as the newer dump says (one all-or-nothing
//! group), a new member is added. So a run killed at any point is rerun to the same
//! result, and later dumps of the same system follow the old operator for days.
//!
//! **Going live.** After each run the currency is halted (journaled, with the reason)
//! and a status file beside its journal records the control totals against what was
//! imported ([`totals`]). It goes live only through [`go_live`], which refuses while a
//! difference is not signed off; [`sign_off`] journals each sign-off. `maeul serve`
//! keeps a currency whose status is not live read-only, so a crash mid-run cannot
//! leave it taking payments.

mod apply;
pub mod mapping;
pub mod parse;
pub mod report;
pub mod synth;
pub mod totals;

use std::path::{Path, PathBuf};

use ledger::{Command, Envelope, HaltCause, Text};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use apply::{LegacyAccounts, LegacyImport, LegacyOutcome, run};
pub use mapping::Mapping;
pub use report::{ReportRow, report_csv};
pub use totals::{Comparison, ControlTotals, Imported, SignOff};

use crate::MigrateError;

/// Who halts and resumes a currency filled by a legacy import (journaled).
pub const HALTED_BY: &str = "legacy import";
/// The client of the import's ledger commands.
pub const CLIENT: ledger::ClientId = ledger::ClientId(u64::MAX - 0x4c45_4741);
/// Wallets of imported members are numbered from here (sign-ups use 1e9 + user id).
pub const WALLET_BASE: u64 = 5_000_000_000;
/// Registry ids of imported merchants (sign-ups use 2e9 + user id).
pub const MERCHANT_BASE: u64 = 6_000_000_000;
/// The status file, in the currency's directory.
pub const STATUS_FILE: &str = "legacy-import.json";

/// Where a legacy import stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A run is writing (or was killed while writing): rerun it.
    Importing,
    /// Imported and halted, waiting for the totals to agree or be signed off.
    Waiting,
    /// Gone live: the new operator is the record; no more legacy runs.
    Live,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub system: String,
    pub stage: Stage,
    pub runs: u64,
    /// Unix microseconds of the last run's end.
    pub last_run_us: u64,
    pub totals: Vec<Comparison>,
}

impl Status {
    pub fn blocking(&self) -> Vec<&Comparison> {
        self.totals.iter().filter(|c| c.blocking()).collect()
    }
}

pub fn status_path(currency_dir: &Path) -> PathBuf {
    currency_dir.join(STATUS_FILE)
}

/// The status, if a legacy import ever ran for this currency.
pub fn read_status(currency_dir: &Path) -> Result<Option<Status>, MigrateError> {
    let path = status_path(currency_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| MigrateError::Target(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MigrateError::Io { path, source: e }),
    }
}

/// Written whole and renamed into place, then the directory synced.
pub(crate) fn write_status(currency_dir: &Path, status: &Status) -> Result<(), MigrateError> {
    let path = status_path(currency_dir);
    let tmp = currency_dir.join(format!("{STATUS_FILE}.tmp"));
    let bytes =
        serde_json::to_vec_pretty(status).map_err(|e| MigrateError::Target(e.to_string()))?;
    std::fs::write(&tmp, bytes).map_err(MigrateError::io(&tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(MigrateError::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(MigrateError::io(&path))?;
    if let Ok(d) = std::fs::File::open(currency_dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Why a currency must not take writes yet, if a legacy import says so.
pub fn not_live_reason(currency_dir: &Path) -> Option<String> {
    match read_status(currency_dir) {
        Ok(None) => None,
        Ok(Some(s)) if s.stage == Stage::Live => None,
        Ok(Some(s)) => Some(format!(
            "legacy import from {} not live yet ({:?}); `maeul migrate go-live` when the totals are signed off",
            s.system, s.stage
        )),
        Err(e) => Some(format!("legacy import status unreadable: {e}")),
    }
}

pub(crate) fn text(s: &str) -> Text {
    let mut end = s.len().min(Text::BYTES_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    // A non-empty prefix of valid text is valid; an empty note becomes a dash.
    Text::new(&s[..end]).unwrap_or_else(|_| Text::new("-").expect("a dash is valid text"))
}

/// A key from what a command is for: each part length-prefixed, so no two lists of
/// parts give the same bytes.
pub(crate) fn key(parts: &[&[u8]]) -> ledger::IdempotencyKey {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    ledger::IdempotencyKey(u128::from_le_bytes(k))
}

fn halted_by_us(l: &ledger::Ledger) -> Option<bool> {
    l.halted().map(|h| match &h.cause {
        HaltCause::Operator { operator, .. } => operator.as_str() == HALTED_BY,
        HaltCause::Violation(_) => false,
    })
}

fn execute_one(engine: &engine::Engine, env: Envelope) -> Result<(), MigrateError> {
    let out = engine
        .execute(vec![env])
        .map_err(|e| MigrateError::Ledger(e.to_string()))?;
    match out.into_iter().next().map(|o| o.result) {
        Some(Ok(_)) => Ok(()),
        Some(Err(r)) => Err(MigrateError::Ledger(format!(
            "refused: {}",
            r.code().as_str()
        ))),
        None => Err(MigrateError::Ledger("no outcome".into())),
    }
}

/// Signs off one difference: journaled as a statement, then kept in the status.
pub fn sign_off(
    engine: &engine::Engine,
    currency_dir: &Path,
    name: &str,
    operator: &str,
    reason: &str,
    now_us: u64,
) -> Result<Status, MigrateError> {
    let mut status = read_status(currency_dir)?
        .ok_or_else(|| MigrateError::Usage("no legacy import ran for this currency".into()))?;
    if status.stage == Stage::Live {
        return Err(MigrateError::Usage("the currency is live already".into()));
    }
    if operator.trim().is_empty() || reason.trim().is_empty() {
        return Err(MigrateError::Usage(
            "a sign-off names the operator and the reason".into(),
        ));
    }
    let Some(c) = status.totals.iter_mut().find(|c| c.name == name) else {
        let names: Vec<&str> = status.totals.iter().map(|c| c.name.as_str()).collect();
        return Err(MigrateError::Usage(format!(
            "no total \"{name}\"; the totals are {}",
            names.join(", ")
        )));
    };
    if !c.differs() {
        return Err(MigrateError::Usage(format!(
            "\"{name}\" matches: nothing to sign off"
        )));
    }
    let stated = c
        .stated
        .map_or_else(|| "not stated".to_owned(), |s| s.to_string());
    let note = format!(
        "sign-off {} {name}: stated {stated}, imported {}, by {operator}: {reason}",
        status.system, c.imported
    );
    execute_one(
        engine,
        Envelope {
            client: CLIENT,
            key: key(&[b"sign-off", note.as_bytes(), &now_us.to_le_bytes()]),
            command: Command::Migrated {
                note: text(&note),
                transfers: vec![],
            },
        },
    )?;
    c.sign_off = Some(SignOff {
        operator: operator.to_owned(),
        reason: reason.to_owned(),
        at_us: now_us,
        stated: c.stated,
        imported: c.imported,
    });
    write_status(currency_dir, &status)?;
    Ok(status)
}

/// Takes the currency live: refused while a difference is not signed off; otherwise the
/// import's halt ends (journaled) and no more legacy runs are taken.
pub fn go_live(
    engine: &engine::Engine,
    currency_dir: &Path,
    operator: &str,
) -> Result<Status, MigrateError> {
    let mut status = read_status(currency_dir)?
        .ok_or_else(|| MigrateError::Usage("no legacy import ran for this currency".into()))?;
    if status.stage == Stage::Importing {
        return Err(MigrateError::Usage(
            "the last import did not finish: run it again first".into(),
        ));
    }
    let blocking: Vec<String> = status
        .blocking()
        .iter()
        .map(|c| {
            format!(
                "{} (stated {}, imported {})",
                c.name,
                c.stated
                    .map_or_else(|| "nothing".to_owned(), |s| s.to_string()),
                c.imported
            )
        })
        .collect();
    if !blocking.is_empty() {
        return Err(MigrateError::Usage(format!(
            "differences not signed off: {} / 승인되지 않은 차이가 있습니다",
            blocking.join("; ")
        )));
    }
    if engine.read(halted_by_us) == Some(true) {
        execute_one(
            engine,
            Envelope {
                client: CLIENT,
                key: key(&[
                    b"go-live",
                    status.system.as_bytes(),
                    &status.runs.to_le_bytes(),
                ]),
                command: Command::Resume {
                    operator: text(operator),
                },
            },
        )?;
    }
    status.stage = Stage::Live;
    write_status(currency_dir, &status)?;
    Ok(status)
}
