//! The base set: a follower's first copy of a currency's people and registry, made
//! while the old node still serves, so that the cutover's set carries only what
//! changed since (a **delta**) and the write pause does not grow with a million users.
//!
//! Making a base turns on the stores' change logs (migrations `0002_change_log`:
//! triggers note the key of every changed user, person, session, bank link and
//! merchant record) and keeps, beside the base set, the position the logs had when
//! its rows were read (`base-position.json`, never sent). At the cutover the old node
//! reads only the rows the logs name since: those still there are sent as they are
//! now, those gone are named in `removed.jsonl`. Its work in the pause is then the
//! size of the change, not of the currency.
//!
//! A follower imports a base by making its copy equal to it (rows put, rows of the
//! currency that the base lacks removed), so a base imported over an earlier one, or
//! over one cut short by a kill, leaves nothing stale behind; it imports a delta by
//! putting its rows and removing what it names.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::MigrateError;

/// Beside a base set (not in its manifest, so never served): where the change logs
/// stood when its rows were read.
pub const POSITION: &str = "base-position.json";

/// Where the change logs stood when a base set's rows were read, and how many alias
/// files the registry had (they are only ever added).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The service store's log (users, people, sessions, bank links).
    pub people_after: u64,
    /// The registry's log (merchant records).
    pub registry_after: u64,
    pub alias_files: u64,
}

impl Position {
    pub fn write(&self, path: &Path) -> Result<(), MigrateError> {
        let bytes = serde_json::to_vec(self).map_err(|e| MigrateError::Set(e.to_string()))?;
        let file = std::fs::File::create(path).map_err(MigrateError::io(path))?;
        use std::io::Write;
        let mut w = std::io::BufWriter::new(file);
        w.write_all(&bytes).map_err(MigrateError::io(path))?;
        let file = w
            .into_inner()
            .map_err(|e| MigrateError::io(path)(e.into_error()))?;
        file.sync_all().map_err(MigrateError::io(path))
    }

    pub fn read(path: &Path) -> Result<Position, MigrateError> {
        let bytes = std::fs::read(path).map_err(MigrateError::io(path))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| MigrateError::Set(format!("{}: {e}", path.display())))
    }
}

/// A row key's kind and the rest (`user:7` → `user`, `7`).
pub fn split_key(key: &str) -> Option<(&str, &str)> {
    key.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(POSITION);
        let p = Position {
            people_after: 7,
            registry_after: 9,
            alias_files: 2,
        };
        p.write(&path).unwrap();
        assert_eq!(Position::read(&path).unwrap(), p);
        std::fs::write(&path, b"{").unwrap();
        assert!(Position::read(&path).is_err());
    }

    #[test]
    fn keys_split_into_kind_and_id() {
        assert_eq!(split_key("session:ab"), Some(("session", "ab")));
        assert_eq!(split_key("nothing"), None);
    }
}
