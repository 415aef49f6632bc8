//! A follower taking a base set or a delta set ([`crate::base`]) into its data
//! directory: the currency's people and registry made equal to the old node's, with
//! upserts and removals, so that a rerun, or a base taken over an earlier one, leaves
//! nothing stale (a session signed out at the old node is not alive here).

use std::collections::HashSet;

use service::store::sqlite::{SqliteRegistry, SqliteService};
use service::store::{BankLinkStore, RegistryStore, SessionStore, UserStore};

use crate::MigrateError;
use crate::base::split_key;
use crate::format::{Manifest, PeopleRow, RemovedRow};
use crate::import::{
    ImportOptions, ImportReport, PeopleRows, hash_of, import_registry, sort_people,
};

/// What a delta set says is gone, by kind.
#[derive(Default)]
struct Gone {
    users: Vec<i64>,
    links: Vec<u64>,
    sessions: Vec<[u8; 32]>,
    merchants: Vec<u64>,
}

fn gone(removed: &[RemovedRow]) -> Result<Gone, MigrateError> {
    let mut g = Gone::default();
    let bad = |k: &str| MigrateError::Set(format!("removed.jsonl: {k:?} is not a row key"));
    for r in removed {
        let (kind, id) = split_key(&r.key).ok_or_else(|| bad(&r.key))?;
        match kind {
            "user" => g.users.push(id.parse().map_err(|_| bad(&r.key))?),
            "bank_link" => g.links.push(id.parse().map_err(|_| bad(&r.key))?),
            "session" => g.sessions.push(hash_of(id).ok_or_else(|| bad(&r.key))?),
            "merchant" => g.merchants.push(id.parse().map_err(|_| bad(&r.key))?),
            // A key file is never taken away: PIN hashes are keyed by it.
            "key" => {}
            _ => return Err(bad(&r.key)),
        }
    }
    Ok(g)
}

/// The registry: the set's merchants put; with `delta`, those `removed` names taken
/// away, otherwise every merchant of the currency the set lacks.
pub(crate) fn registry(
    options: &ImportOptions,
    manifest: &Manifest,
    registry: &SqliteRegistry,
    delta: bool,
    removed: &[RemovedRow],
    report: &mut ImportReport,
) -> Result<(), MigrateError> {
    let code = manifest.currency.as_str();
    let in_set = import_registry(options, manifest, report)?;
    let remove: Vec<u64> = if delta {
        gone(removed)?.merchants
    } else {
        registry
            .merchants(code)
            .map_err(MigrateError::store)?
            .iter()
            .map(|m| m.id.0)
            .filter(|id| !in_set.contains(id))
            .collect()
    };
    report.merchants_removed = remove.len();
    for id in remove {
        registry
            .remove_merchant(code, id)
            .map_err(MigrateError::store)?;
    }
    Ok(())
}

/// People: the set's users, links and sessions put; with `removed` (a delta), what it
/// names taken away, otherwise every user, session and link of the currency here that
/// the set lacks.
pub(crate) fn people(
    options: &ImportOptions,
    store: &SqliteService,
    registry: &SqliteRegistry,
    code: &str,
    rows: Vec<PeopleRow>,
    removed: Option<&[RemovedRow]>,
    report: &mut ImportReport,
) -> Result<(), MigrateError> {
    let PeopleRows {
        users,
        links,
        sessions,
    } = sort_people(options, rows, report)?;
    let gone = match removed {
        Some(removed) => gone(removed)?,
        None => {
            let now_s = service::now_us() / 1_000_000;
            let here = store.users_of(code).map_err(MigrateError::store)?.users;
            let user_ids: HashSet<i64> = users.iter().map(|u| u.id).collect();
            let session_hashes: HashSet<[u8; 32]> = sessions.iter().map(|s| s.token_hash).collect();
            let linked: HashSet<u64> = links.iter().map(|l| l.account).collect();
            // This currency's accounts here: its users' and its merchants'.
            let mut accounts: HashSet<u64> = here.iter().map(|u| u.account).collect();
            accounts.extend(users.iter().map(|u| u.account));
            accounts.extend(
                registry
                    .merchants(code)
                    .map_err(MigrateError::store)?
                    .iter()
                    .map(|m| m.id.0),
            );
            Gone {
                users: here
                    .iter()
                    .map(|u| u.id)
                    .filter(|id| !user_ids.contains(id))
                    .collect(),
                sessions: store
                    .sessions_of(code, now_s)
                    .map_err(MigrateError::store)?
                    .into_iter()
                    .map(|s| s.token_hash)
                    .filter(|h| !session_hashes.contains(h))
                    .collect(),
                links: store
                    .verified_links()
                    .map_err(MigrateError::store)?
                    .into_iter()
                    .map(|l| l.account)
                    .filter(|a| accounts.contains(a) && !linked.contains(a))
                    .collect(),
                merchants: Vec::new(),
            }
        }
    };
    // A session in the set is put as it is there now (its expiry may have moved).
    let mut stale_sessions = gone.sessions;
    stale_sessions.extend(sessions.iter().map(|s| s.token_hash));
    store
        .remove_users(code, &gone.users)
        .map_err(MigrateError::store)?;
    report.users_added = store
        .upsert_users(code, &users)
        .map_err(MigrateError::store)?;
    report.links_added = store
        .replace_links(&links, &gone.links)
        .map_err(MigrateError::store)?;
    store
        .remove_sessions(&stale_sessions)
        .map_err(MigrateError::store)?;
    report.sessions_added = store
        .restore_sessions(&sessions)
        .map_err(MigrateError::store)?;
    Ok(())
}
