//! One legacy import run: dumps read, people and registry written, the ledger brought
//! to what the dumps say, totals compared, the currency halted until it goes live.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use directory::{Actor, Merchant, MerchantId as RegistryId, StatusChange};
use engine::{Engine, Ticket};
use ledger::scheme::SchemeCommand;
use ledger::{
    AccountId, AccountKind, AccountState, BudgetId, Command, Envelope, Ledger, LotSpec, ReserveId,
    Source, SourceSet, Timestamp, Transfer, TransferSpec, WalletId, Won,
};
use service::merchants::Merchants;
use service::store::{Person, SeedUser, UserStore};

use super::parse::{Dump, InDump, MemberRow, read_dump};
use super::report::{Outcome, Problem, ReportRow};
use super::totals::{ControlTotals, Imported, compare};
use super::{
    CLIENT, HALTED_BY, MERCHANT_BASE, Mapping, Stage, Status, WALLET_BASE, halted_by_us, key,
    read_status, text, write_status,
};
use crate::{MigrateError, Progress};

/// The accounts imported value is issued from (the currency's own numbers).
#[derive(Clone, Copy, Debug)]
pub struct LegacyAccounts {
    pub reserve: u64,
    /// Policy money is issued through this budget (funded from the reserve first).
    pub allowance_budget: u64,
    pub cashback_budget: u64,
}

/// What a run is given.
#[derive(Clone, Debug)]
pub struct LegacyImport {
    /// The folder holding the dump files the mapping names.
    pub dumps: PathBuf,
    pub mapping: Mapping,
    pub totals: ControlTotals,
    pub currency: String,
    /// The currency's directory (its journal's): the status file lives there.
    pub currency_dir: PathBuf,
    pub accounts: LegacyAccounts,
    pub now_us: u64,
}

#[derive(Debug)]
pub struct LegacyOutcome {
    pub report: Vec<ReportRow>,
    pub in_dump: InDump,
    pub imported: Imported,
    pub status: Status,
    pub members_added: usize,
    pub merchants_added: usize,
    pub aliases_added: usize,
    /// Ledger commands this run applied (0 when a rerun found everything in place).
    pub commands: u64,
    pub steps: Vec<(String, Duration)>,
}

/// A user who cannot sign in: the hash parses as nothing, so every password is wrong.
/// Imported citizens claim their account later.
const UNCLAIMED: &str = "!legacy-unclaimed";
/// Users per store transaction.
const USERS_PER_WRITE: usize = 50_000;
/// Envelopes per submission, and submissions in flight.
const CHUNK: usize = 4_096;
const IN_FLIGHT: usize = 8;
/// Debits that return imported value name this (journaled with the note).
const AUDITOR: &str = "legacy import";

fn login(system: &str, legacy_id: &str) -> String {
    format!("legacy-{system}-{legacy_id}")
}

/// What the dump says a wallet holds: (source, expiry) → won.
type Lots = BTreeMap<(u8, u64), i64>;

fn target_lots(m: &MemberRow) -> Lots {
    let mut lots = Lots::new();
    for l in &m.lots {
        *lots
            .entry((l.source as u8, l.expires_at.as_micros()))
            .or_default() += l.amount.get();
    }
    lots
}

/// The spendable lots the ledger holds (expired ones leave by the expiry job).
fn ledger_lots(l: &Ledger, account: AccountId, now: Timestamp) -> Lots {
    let mut lots = Lots::new();
    if let Some(a) = l.account(account) {
        for lot in a.lots.iter().filter(|x| x.expires_at > now) {
            *lots
                .entry((lot.source as u8, lot.expires_at.as_micros()))
                .or_default() += lot.amount.get();
        }
    }
    lots
}

fn lots_bytes(lots: &Lots) -> Vec<u8> {
    let mut out = Vec::with_capacity(lots.len() * 17);
    for ((s, e), w) in lots {
        out.push(*s);
        out.extend_from_slice(&e.to_le_bytes());
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// The provenance note: file, lines, the legacy id.
fn note(system: &str, file: &str, lines: &[u64], legacy_id: &str) -> String {
    let mut s = format!("legacy {system} {file}:");
    for (i, line) in lines.iter().enumerate() {
        let next = format!("{}{line}", if i > 0 { "," } else { "" });
        if s.len() + next.len() + legacy_id.len() + 8 > ledger::Text::BYTES_MAX {
            s.push('…');
            break;
        }
        s.push_str(&next);
    }
    s.push_str(" id=");
    s.push_str(legacy_id);
    s
}

/// Where a planned command came from, for the report if the ledger refuses it.
#[derive(Clone, Debug)]
struct From {
    file: String,
    line: u64,
    legacy_id: String,
}

struct Planned {
    envelope: Envelope,
    from: From,
}

/// Sends everything planned, a few submissions in flight; refusals go to the report.
fn execute(
    engine: &Engine,
    planned: Vec<Planned>,
    report: &mut Vec<ReportRow>,
    progress: Progress<'_>,
    what: &str,
) -> Result<u64, MigrateError> {
    let total = planned.len() as u64;
    let mut applied = 0u64;
    let mut done = 0u64;
    let mut flight: VecDeque<(Ticket, Vec<From>)> = VecDeque::new();
    let mut settle = |t: Ticket, froms: Vec<From>, report: &mut Vec<ReportRow>| {
        let outs = t.wait().map_err(|e| MigrateError::Ledger(e.to_string()))?;
        for (o, from) in outs.into_iter().zip(froms) {
            match o.result {
                Ok(_) => applied += 1,
                Err(r) => report.push(ReportRow::new(
                    &from.file,
                    from.line,
                    &from.legacy_id,
                    "",
                    Outcome::Rejected,
                    &Problem::Refused(format!("{} ({r:?})", r.code().as_str())),
                )),
            }
        }
        Ok::<(), MigrateError>(())
    };
    let mut rest = planned.into_iter().peekable();
    while rest.peek().is_some() {
        let (envs, froms): (Vec<Envelope>, Vec<From>) = rest
            .by_ref()
            .take(CHUNK)
            .map(|p| (p.envelope, p.from))
            .unzip();
        let n = envs.len() as u64;
        loop {
            // Cloned so a busy queue can be waited out and the same commands sent again.
            match engine.submit(envs.clone()) {
                Ok(t) => {
                    flight.push_back((t, froms));
                    break;
                }
                Err(engine::SubmitError::Busy { retry_after }) => match flight.pop_front() {
                    Some((t, f)) => settle(t, f, report)?,
                    None => std::thread::sleep(retry_after),
                },
                Err(e) => return Err(MigrateError::Ledger(e.to_string())),
            }
        }
        while flight.len() >= IN_FLIGHT {
            if let Some((t, f)) = flight.pop_front() {
                settle(t, f, report)?;
            }
        }
        done += n;
        progress(what, done, total);
    }
    while let Some((t, f)) = flight.pop_front() {
        settle(t, f, report)?;
    }
    Ok(applied)
}

/// One run. Rerunnable at every point; see the module's docs.
pub fn run(
    o: &LegacyImport,
    engine: &Engine,
    merchants: &Merchants,
    users: &dyn UserStore,
    progress: Progress<'_>,
) -> Result<LegacyOutcome, MigrateError> {
    let system = o.mapping.system.as_str();
    let mut steps = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, steps: &mut Vec<(String, Duration)>| {
        steps.push((name.to_owned(), clock.elapsed()));
        clock = Instant::now();
    };
    let earlier = read_status(&o.currency_dir)?;
    if let Some(s) = &earlier {
        if s.stage == Stage::Live {
            return Err(MigrateError::Usage(
                "the currency went live: the new operator is the record now, and legacy \
                 dumps are no longer imported"
                    .into(),
            ));
        }
        if s.system != system {
            return Err(MigrateError::Usage(format!(
                "this currency was imported from \"{}\", not \"{system}\"",
                s.system
            )));
        }
    }
    if earlier.is_none() {
        // A first import fills an empty currency: value already in wallets or with
        // merchants would be overwritten by the dump's figures.
        let held = engine.read(|l| {
            l.accounts()
                .iter()
                .filter(|a| matches!(a.kind, AccountKind::CitizenWallet | AccountKind::Merchant))
                .any(|a| a.balance() != Some(Won::ZERO) || a.debits_pending != Won::ZERO)
        });
        if held {
            return Err(MigrateError::Usage(
                "the currency already holds value in wallets or with merchants: a legacy \
                 import goes into a new currency"
                    .into(),
            ));
        }
    }
    let halted = engine.read(halted_by_us);
    if halted == Some(false) {
        return Err(MigrateError::Usage(
            "the currency is halted by someone else: resolve that first".into(),
        ));
    }
    let now = Timestamp::from_micros(o.now_us);
    // Read and checked before anything is written: a mapping or file problem stops here.
    progress("reading the dumps", 0, 0);
    let Dump {
        members,
        merchants: shops,
        mut report,
        in_dump,
    } = read_dump(&o.dumps, &o.mapping, now)?;
    lap("read the dumps", &mut steps);

    let mut status = earlier.clone().unwrap_or(Status {
        system: system.to_owned(),
        stage: Stage::Importing,
        runs: 0,
        last_run_us: 0,
        totals: Vec::new(),
    });
    status.stage = Stage::Importing;
    write_status(&o.currency_dir, &status)?;
    // Part of every key: a later run that asks for the same change again (a balance
    // that went back to what an earlier dump said) is a new command, while a rerun of
    // a killed run (the count moves only at the end) repeats the same keys.
    let run = status.runs.to_le_bytes();
    let mut commands = 0;
    if halted == Some(true) {
        commands += execute(
            engine,
            vec![Planned {
                envelope: Envelope {
                    client: CLIENT,
                    key: key(&[
                        b"resume",
                        &status.runs.to_le_bytes(),
                        &o.now_us.to_le_bytes(),
                    ]),
                    command: Command::Resume {
                        operator: text(HALTED_BY),
                    },
                },
                from: From {
                    file: String::new(),
                    line: 0,
                    legacy_id: String::new(),
                },
            }],
            &mut report,
            progress,
            "resuming to import",
        )?;
        if engine.read(|l| l.halted().is_some()) {
            return Err(MigrateError::Ledger(
                "the import's halt could not be lifted to import".into(),
            ));
        }
    }

    // People: the user store is the map from legacy id to wallet.
    progress("members", 0, members.len() as u64);
    let existing = users.users_of(&o.currency).map_err(MigrateError::store)?;
    let mut wallet_of: HashMap<String, u64> = HashMap::with_capacity(members.len());
    let mut next = WALLET_BASE;
    for u in &existing.users {
        if (WALLET_BASE..MERCHANT_BASE).contains(&u.account) {
            next = next.max(u.account);
        }
        wallet_of.insert(u.login.clone(), u.account);
    }
    let created_s = o.now_us / 1_000_000;
    let mut fresh = Vec::new();
    for m in &members {
        let l = login(system, &m.legacy_id);
        if !wallet_of.contains_key(&l) {
            next += 1;
            wallet_of.insert(l.clone(), next);
            fresh.push(SeedUser {
                login_key: service::auth::login_key(&l),
                login: l,
                password_hash: UNCLAIMED.to_owned(),
                pin_hash: None,
                account: next,
                person: (m.name.is_some() || m.address.is_some()).then(|| Person {
                    name: m.name.clone().unwrap_or_default(),
                    address: m.address.clone().unwrap_or_default(),
                }),
            });
        }
    }
    let mut members_added = 0;
    for chunk in fresh.chunks(USERS_PER_WRITE) {
        let added = users
            .seed_users(service::Role::Citizen, &o.currency, created_s, chunk)
            .map_err(MigrateError::store)?;
        members_added += added;
        if added != chunk.len() {
            // Logins are unique across the data directory: another currency imported
            // the same system's members under this name.
            return Err(MigrateError::Target(format!(
                "{} of {} logins legacy-{system}-… are another currency's: give this \
                 import another `system` name in the mapping",
                chunk.len() - added,
                chunk.len()
            )));
        }
        progress("members", members_added as u64, fresh.len() as u64);
    }
    drop(fresh);
    let wallet = |m: &MemberRow| wallet_of.get(&login(system, &m.legacy_id)).copied();
    lap("members in the user store", &mut steps);

    // Merchants: the registry is the map from 사업자등록번호 to merchant.
    let mut next_id = MERCHANT_BASE;
    merchants.read(|r| {
        for m in r.records() {
            if m.id.0 > next_id {
                next_id = m.id.0;
            }
        }
    });
    let mut new_records = Vec::new();
    let mut shop_ids: Vec<u64> = Vec::with_capacity(shops.len());
    let mut moves = Vec::new();
    for s in &shops {
        let why = format!(
            "imported from {system} ({}:{}, id {})",
            o.mapping.merchants.file, s.line, s.legacy_id
        );
        match merchants.read(|r| r.get_by_brn(s.brn).map(|m| (m.id.0, m.status))) {
            Some((id, st)) => {
                shop_ids.push(id);
                if st != s.status {
                    moves.push((id, s, why));
                }
            }
            None => {
                next_id += 1;
                shop_ids.push(next_id);
                new_records.push(Merchant {
                    id: RegistryId(next_id),
                    brn: s.brn,
                    profile: s.profile.clone(),
                    status: s.status,
                    last_change: StatusChange {
                        from: None,
                        reason: why,
                        at_us: o.now_us,
                        by: Actor::Operator,
                    },
                    brn_unverified: false,
                });
            }
        }
    }
    let merchants_added = merchants
        .create_many(new_records)
        .map_err(|e| MigrateError::Store(format!("{}: {}", e.code, e.en)))?;
    for (id, s, why) in moves {
        if let Err(e) = merchants.transition(id, s.status, &why, o.now_us) {
            report.push(ReportRow::new(
                &o.mapping.merchants.file,
                s.line,
                &s.legacy_id,
                o.mapping.merchants.status.as_deref().unwrap_or(""),
                Outcome::Warning,
                &Problem::Refused(format!("{}: {}", e.code, e.en)),
            ));
        }
    }
    // Old stickers become aliases in the same run.
    let mut alias_rows = Vec::new();
    let mut w = csv::Writer::from_writer(Vec::new());
    for (s, id) in shops.iter().zip(&shop_ids) {
        if let Some(qr) = &s.qr {
            let id = id.to_string();
            let note = format!("{system} {}", s.legacy_id);
            w.write_record([qr.as_str(), id.as_str(), note.as_str()])
                .map_err(|e| MigrateError::Target(e.to_string()))?;
            alias_rows.push(s);
        }
    }
    let alias_csv = w
        .into_inner()
        .map_err(|e| MigrateError::Target(e.to_string()))?;
    let mut aliases_added = 0;
    if !alias_rows.is_empty() {
        let r = merchants
            .import_aliases(&alias_csv, o.now_us)
            .map_err(|e| MigrateError::Store(format!("{}: {}", e.code, e.en)))?;
        aliases_added = r.added;
        for rej in &r.rejected {
            if let Some(s) = usize::try_from(rej.line)
                .ok()
                .and_then(|l| l.checked_sub(1))
                .and_then(|i| alias_rows.get(i))
            {
                report.push(ReportRow::new(
                    &o.mapping.merchants.file,
                    s.line,
                    &s.legacy_id,
                    o.mapping.merchants.qr.as_deref().unwrap_or(""),
                    Outcome::Warning,
                    &Problem::QrRefused(rej.problem.code().to_owned()),
                ));
            }
        }
    }
    lap("merchants in the registry, old QR codes", &mut steps);

    // The ledger, in three passes, each planned from what it holds now.
    let wf = &o.mapping.wallets.file;
    let sf = &o.mapping.merchants.file;
    let mf = &o.mapping.members.file;
    let from = |file: &str, line: u64, id: &str| From {
        file: file.to_owned(),
        line,
        legacy_id: id.to_owned(),
    };
    // 1. accounts: wallets opened (and registered), merchants following the registry,
    //    and frozen wallets whose value must change unfrozen for the change.
    let records: Vec<Merchant> = shop_ids
        .iter()
        .filter_map(|id| merchants.get(*id))
        .collect();
    let planned = engine.read(|l| {
        let mut p = Vec::new();
        for m in &members {
            let Some(a) = wallet(m) else { continue };
            let account = AccountId(a);
            match l.account(account) {
                None => {
                    p.push(Planned {
                        envelope: Envelope {
                            client: CLIENT,
                            key: key(&[b"open", &run, &a.to_le_bytes()]),
                            command: Command::OpenAccount {
                                account,
                                kind: AccountKind::CitizenWallet,
                                accepts: SourceSet::ALL,
                            },
                        },
                        from: from(mf, m.line, &m.legacy_id),
                    });
                    if let Some(birth_year) = m.birth_year {
                        p.push(Planned {
                            envelope: Envelope {
                                client: CLIENT,
                                key: key(&[b"register", &run, &a.to_le_bytes()]),
                                command: Command::Scheme(Box::new(
                                    SchemeCommand::RegisterCitizen {
                                        wallet: WalletId::new(a),
                                        birth_year,
                                    },
                                )),
                            },
                            from: from(mf, m.line, &m.legacy_id),
                        });
                    }
                }
                Some(acc) if acc.state == AccountState::Frozen => {
                    if ledger_lots(l, account, now) != target_lots(m) {
                        p.push(state_change(
                            account,
                            AccountState::Active,
                            &run,
                            from(mf, m.line, &m.legacy_id),
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        let mirror = service::mirror::mirror_commands(l, &records);
        for (i, command) in mirror.into_iter().enumerate() {
            p.push(Planned {
                envelope: Envelope {
                    client: CLIENT,
                    key: key(&[b"mirror", &run, &o.now_us.to_le_bytes(), &i.to_le_bytes()]),
                    command,
                },
                from: from(sf, 0, ""),
            });
        }
        p
    });
    commands += execute(engine, planned, &mut report, progress, "opening accounts")?;
    lap("ledger accounts", &mut steps);

    // 2. value: each wallet's lots and each merchant's unpaid balance as the dump says.
    let acc = o.accounts;
    let planned = engine.read(|l| {
        let mut p = Vec::new();
        for m in &members {
            let Some(a) = wallet(m) else { continue };
            let account = AccountId(a);
            if l.account(account).is_none() {
                continue; // its opening was refused: reported
            }
            let have = ledger_lots(l, account, now);
            let want = target_lots(m);
            if have == want {
                continue;
            }
            let mut transfers = Vec::new();
            let held: i64 = have.values().sum();
            let lines: Vec<u64> = m.lots.iter().map(|x| x.line).collect();
            let why = note(system, wf, &lines, &m.legacy_id);
            if held > 0 {
                // The earlier dump's value goes back; the newer dump's is issued below.
                transfers.push(Transfer::posted(TransferSpec::Correction {
                    debit: account,
                    credit: AccountId(acc.reserve),
                    amount: Won::new(held),
                    auditor: text(AUDITOR),
                    reason: text(&why),
                    lot: LotSpec {
                        tag: 0,
                        expires_at: Timestamp::MAX,
                    },
                }));
            }
            for (&(source, expires), &amount) in &want {
                let lot = LotSpec {
                    tag: 0,
                    expires_at: Timestamp::from_micros(expires),
                };
                let amount = Won::new(amount);
                let wallet = WalletId::new(a);
                let reserve = ReserveId::new(acc.reserve);
                // Policy money and cash-back come from their budget, funded from the
                // reserve in the same group; purchased value straight from the reserve.
                let budget = match Source::from_u8(source) {
                    Some(Source::Allowance) => Some(BudgetId::new(acc.allowance_budget)),
                    Some(Source::Cashback) => Some(BudgetId::new(acc.cashback_budget)),
                    _ => None,
                };
                let Some(budget) = budget else {
                    transfers.push(Transfer::posted(TransferSpec::Charge {
                        reserve,
                        wallet,
                        amount,
                        lot,
                    }));
                    continue;
                };
                transfers.push(Transfer::posted(TransferSpec::BudgetFunding {
                    reserve,
                    budget,
                    amount,
                }));
                transfers.push(Transfer::posted(
                    if Source::from_u8(source) == Some(Source::Allowance) {
                        TransferSpec::Allowance {
                            budget,
                            wallet,
                            amount,
                            lot,
                        }
                    } else {
                        TransferSpec::Cashback {
                            budget,
                            wallet,
                            amount,
                            lot,
                        }
                    },
                ));
            }
            p.push(Planned {
                envelope: Envelope {
                    client: CLIENT,
                    key: key(&[
                        b"value",
                        &run,
                        &a.to_le_bytes(),
                        &lots_bytes(&have),
                        &lots_bytes(&want),
                    ]),
                    command: Command::Migrated {
                        note: text(&why),
                        transfers,
                    },
                },
                from: from(wf, m.lots.first().map_or(m.line, |x| x.line), &m.legacy_id),
            });
        }
        for (s, id) in shops.iter().zip(&shop_ids) {
            let account = AccountId(*id);
            let Some(have) = l.account(account).and_then(|a| a.balance()) else {
                continue;
            };
            let diff = s.unpaid.get() - have.get();
            if diff == 0 {
                continue;
            }
            let why = note(system, sf, &[s.line], &s.legacy_id);
            let (debit, credit) = if diff > 0 {
                (AccountId(acc.reserve), account)
            } else {
                (account, AccountId(acc.reserve))
            };
            p.push(Planned {
                envelope: Envelope {
                    client: CLIENT,
                    key: key(&[
                        b"unpaid",
                        &run,
                        &id.to_le_bytes(),
                        &have.get().to_le_bytes(),
                        &s.unpaid.get().to_le_bytes(),
                    ]),
                    command: Command::Migrated {
                        note: text(&why),
                        transfers: vec![Transfer::posted(TransferSpec::Correction {
                            debit,
                            credit,
                            amount: Won::new(diff.abs()),
                            auditor: text(AUDITOR),
                            reason: text(&why),
                            lot: LotSpec {
                                tag: 0,
                                expires_at: Timestamp::MAX,
                            },
                        })],
                    },
                },
                from: from(sf, s.line, &s.legacy_id),
            });
        }
        p
    });
    commands += execute(
        engine,
        planned,
        &mut report,
        progress,
        "bringing value over",
    )?;
    lap("ledger value", &mut steps);

    // 3. states: frozen as the dump says.
    let planned = engine.read(|l| {
        let mut p = Vec::new();
        for m in &members {
            let Some(a) = wallet(m) else { continue };
            let Some(acc) = l.account(AccountId(a)) else {
                continue;
            };
            let want = if m.frozen {
                AccountState::Frozen
            } else {
                AccountState::Active
            };
            if acc.state != want {
                p.push(state_change(
                    AccountId(a),
                    want,
                    &run,
                    from(mf, m.line, &m.legacy_id),
                ));
            }
        }
        p
    });
    commands += execute(engine, planned, &mut report, progress, "member states")?;

    // What the currency now holds of the import.
    let registry_ids: Vec<u64> = shop_ids
        .iter()
        .copied()
        .filter(|id| merchants.get(*id).is_some())
        .collect();
    let imported = engine.read(|l| {
        let mut t = Imported::default();
        for m in &members {
            let Some(a) = wallet(m) else { continue };
            let Some(acc) = l.account(AccountId(a)) else {
                continue;
            };
            t.members += 1;
            for lot in acc.lots.iter().filter(|x| x.expires_at > now) {
                let slot = match lot.source {
                    Source::Allowance => &mut t.outstanding_allowance,
                    Source::Cashback => &mut t.outstanding_cashback,
                    _ => &mut t.outstanding_purchased,
                };
                *slot = slot.saturating_add(lot.amount.get());
            }
        }
        for id in &registry_ids {
            if let Some(b) = l.account(AccountId(*id)).and_then(|a| a.balance()) {
                t.merchants += 1;
                t.unpaid_to_merchants = t.unpaid_to_merchants.saturating_add(b.get());
            }
        }
        t
    });
    status.totals = compare(&o.totals, &imported, &status.totals);
    lap("ledger states and totals", &mut steps);

    // Not live until an operator takes it live.
    if engine.read(|l| l.halted().is_none()) {
        let blocking: Vec<&str> = status
            .totals
            .iter()
            .filter(|c| c.blocking())
            .map(|c| c.name.as_str())
            .collect();
        let reason = if blocking.is_empty() {
            format!("imported from {system}: totals agree; not live until go-live")
        } else {
            format!(
                "imported from {system}: totals differ ({}); not live until signed off",
                blocking.join(", ")
            )
        };
        commands += execute(
            engine,
            vec![Planned {
                envelope: Envelope {
                    client: CLIENT,
                    key: key(&[b"halt", &status.runs.to_le_bytes(), &o.now_us.to_le_bytes()]),
                    command: Command::Halt {
                        operator: text(HALTED_BY),
                        reason: text(&reason),
                    },
                },
                from: from("", 0, ""),
            }],
            &mut report,
            progress,
            "halting until go-live",
        )?;
    }
    status.stage = Stage::Waiting;
    status.runs += 1;
    status.last_run_us = o.now_us;
    write_status(&o.currency_dir, &status)?;
    report.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(LegacyOutcome {
        report,
        in_dump,
        imported,
        status,
        members_added,
        merchants_added,
        aliases_added,
        commands,
        steps,
    })
}

fn state_change(account: AccountId, state: AccountState, run: &[u8], from: From) -> Planned {
    Planned {
        envelope: Envelope {
            client: CLIENT,
            key: key(&[b"state", run, &account.0.to_le_bytes(), &[state as u8]]),
            command: Command::SetAccountState { account, state },
        },
        from,
    }
}
