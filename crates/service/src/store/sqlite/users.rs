//! Users and sessions in `service.sqlite` (`users`, `people`, `sessions`).

use rusqlite::{OptionalExtension, params};

use super::{SqliteService, is_constraint, store_error};
use crate::auth::Role;
use crate::store::{
    CarriedSession, Created, Credentials, ExportedUser, NewUserRecord, PendingSetup, Person,
    PinState, SeedUser, SessionStore, StoreError, StoredSession, UserRecord, UserStore,
    UsersOfCurrency,
};

/// The `currencies` column: comma-separated codes.
fn currencies_of(column: &str) -> Vec<String> {
    column
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn role_of(column: &str) -> Result<Role, StoreError> {
    Role::parse(column).ok_or_else(|| StoreError::Corrupt {
        what: "role",
        detail: format!("unknown role {column:?}"),
    })
}

impl UserStore for SqliteService {
    fn create_user(&self, u: &NewUserRecord) -> Result<Created, StoreError> {
        let db = self.db.lock();
        let inserted = db.execute(
            "INSERT INTO users (login, role, password, pin, currency, currencies, created, setup, login_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                u.login,
                u.role.as_str(),
                u.password_hash,
                u.pin_hash,
                u.currency,
                u.currencies.join(","),
                u.created_s as i64,
                u.setup,
                u.login_key
            ],
        );
        match inserted {
            Ok(_) => {
                let id = db.last_insert_rowid();
                // An id can come back in a store made before AUTOINCREMENT (SQLite
                // then reuses the largest rowid after a delete).
                self.pins.forget(id);
                Ok(Created::Id(id))
            }
            // The login, or one that folds to the same (`login_key` is unique).
            Err(e) if is_constraint(&e) => Ok(Created::LoginTaken),
            Err(e) => Err(store_error(e)),
        }
    }

    fn set_account(&self, user_id: i64, account: u64) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "UPDATE users SET account = ?1, setup = NULL WHERE id = ?2",
                params![account as i64, user_id],
            )
            .map(|_| ())
            .map_err(store_error)
    }

    fn pending_setup(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        self.db
            .lock()
            .query_row(
                "SELECT setup FROM users WHERE id = ?1 AND account IS NULL",
                params![user_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(store_error)
    }

    fn pending_setups(&self) -> Result<Vec<PendingSetup>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare(
                "SELECT id, setup, currency FROM users WHERE account IS NULL AND setup IS NOT NULL",
            )
            .map_err(store_error)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PendingSetup {
                    user_id: r.get(0)?,
                    setup: r.get(1)?,
                    currency: r.get(2)?,
                })
            })
            .map_err(store_error)?;
        Ok(rows.filter_map(Result::ok).collect())
    }

    fn delete_user(&self, user_id: i64) -> Result<(), StoreError> {
        let db = self.db.lock();
        let deleted = db.execute("DELETE FROM users WHERE id = ?1", params![user_id]);
        self.pins.forget(user_id);
        deleted.map(|_| ()).map_err(store_error)
    }

    fn sign_in_candidate(
        &self,
        login: &str,
        login_key: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        let row = self
            .db
            .lock()
            .query_row(
                "SELECT id, role, password, account, currency, currencies FROM users
                 WHERE login = ?1 OR login_key = ?2 ORDER BY login = ?1 DESC LIMIT 1",
                params![login, login_key],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(store_error)?;
        let Some((id, role, password_hash, account, currency, currencies)) = row else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            user: UserRecord {
                id,
                role: role_of(&role)?,
                account: account.map(|a| a as u64),
                currency,
                currencies: currencies_of(&currencies),
            },
            password_hash,
        }))
    }

    fn password_hash(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        self.db
            .lock()
            .query_row(
                "SELECT password FROM users WHERE id = ?1",
                params![user_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(store_error)
    }

    fn pin_state(&self, user_id: i64) -> Result<Option<PinState>, StoreError> {
        // Every payment asks: most answers come from memory (pin_cache.rs says why that
        // is safe), the rest from a statement parsed once.
        if let Some(state) = self.pins.get(user_id) {
            return Ok(Some(state));
        }
        let db = self.db.lock();
        let state = db
            .prepare_cached(
                "SELECT pin, pin_failures, pin_locked_until, login FROM users WHERE id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![user_id], |r| {
                    Ok(PinState {
                        pin_hash: r.get::<_, Option<String>>(0)?,
                        failures: r.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
                        locked_until_s: r.get::<_, i64>(2)?.max(0) as u64,
                        login: r.get::<_, String>(3)?,
                    })
                })
                .optional()
            })
            .map_err(store_error)?;
        if let Some(state) = &state {
            self.pins.put(user_id, state.clone());
        }
        Ok(state)
    }

    fn set_pin_failures(
        &self,
        user_id: i64,
        failures: u32,
        locked_until_s: u64,
    ) -> Result<(), StoreError> {
        let db = self.db.lock();
        let written = db.execute(
            "UPDATE users SET pin_failures = ?1, pin_locked_until = ?2 WHERE id = ?3",
            params![i64::from(failures), locked_until_s as i64, user_id],
        );
        self.pins.forget(user_id);
        written.map(|_| ()).map_err(store_error)
    }

    fn reset_pin_failures(&self, user_id: i64) -> Result<(), StoreError> {
        let db = self.db.lock();
        let written = db.execute(
            "UPDATE users SET pin_failures = 0 WHERE id = ?1",
            params![user_id],
        );
        self.pins.forget(user_id);
        written.map(|_| ()).map_err(store_error)
    }

    fn fold_login_keys(
        &self,
        fold: &dyn Fn(&str) -> String,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut db = self.lock_for_many_users();
        let tx = db.transaction().map_err(store_error)?;
        let mut collisions = Vec::new();
        {
            let mut unkeyed = tx
                .prepare("SELECT id, login FROM users WHERE login_key IS NULL ORDER BY id")
                .map_err(store_error)?;
            let rows = unkeyed
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(store_error)?;
            let mut owner_of = tx
                .prepare("SELECT id FROM users WHERE login_key = ?1")
                .map_err(store_error)?;
            let mut set = tx
                .prepare("UPDATE users SET login_key = ?1 WHERE id = ?2")
                .map_err(store_error)?;
            for (id, login) in rows {
                let key = fold(&login);
                match owner_of
                    .query_row(params![key], |r| r.get::<_, i64>(0))
                    .optional()
                    .map_err(store_error)?
                {
                    Some(owner) => collisions.push((id, owner)),
                    None => {
                        set.execute(params![key, id]).map_err(store_error)?;
                    }
                }
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(collisions)
    }

    fn seed_users(
        &self,
        role: Role,
        currency: &str,
        created_s: u64,
        users: &[SeedUser],
    ) -> Result<usize, StoreError> {
        let mut db = self.lock_for_many_users();
        let tx = db.transaction().map_err(store_error)?;
        let mut added = 0;
        {
            let mut user = tx
                .prepare(
                    "INSERT OR IGNORE INTO users
                         (login, role, password, pin, account, currency, created, login_key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(store_error)?;
            let mut person = tx
                .prepare(
                    "INSERT OR REPLACE INTO people (user_id, name, address) VALUES (?1, ?2, ?3)",
                )
                .map_err(store_error)?;
            for u in users {
                let inserted = user
                    .execute(params![
                        u.login,
                        role.as_str(),
                        u.password_hash,
                        u.pin_hash,
                        u.account as i64,
                        currency,
                        created_s as i64,
                        u.login_key
                    ])
                    .map_err(store_error)?;
                if inserted == 1 {
                    if let Some(p) = &u.person {
                        person
                            .execute(params![tx.last_insert_rowid(), p.name, p.address])
                            .map_err(store_error)?;
                    }
                    added += 1;
                }
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(added)
    }

    fn users_of(&self, currency: &str) -> Result<UsersOfCurrency, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare(
                "SELECT u.role, u.login, u.login_key, u.password, u.pin, u.account, u.created,
                        p.name, p.address, u.id
                 FROM users u LEFT JOIN people p ON p.user_id = u.id
                 WHERE u.currency = ?1 AND u.role IN ('citizen', 'merchant')
                 ORDER BY u.id",
            )
            .map_err(store_error)?;
        let mut rows = stmt.query(params![currency]).map_err(store_error)?;
        let mut out = UsersOfCurrency::default();
        while let Some(r) = rows.next().map_err(store_error)? {
            let Some(account) = r.get::<_, Option<i64>>(5).map_err(store_error)? else {
                out.unfinished_sign_ups += 1;
                continue;
            };
            let role: String = r.get(0).map_err(store_error)?;
            let name: Option<String> = r.get(7).map_err(store_error)?;
            let address: Option<String> = r.get(8).map_err(store_error)?;
            out.users.push(ExportedUser {
                id: r.get(9).map_err(store_error)?,
                role: role_of(&role)?,
                login: r.get(1).map_err(store_error)?,
                login_key: r.get(2).map_err(store_error)?,
                password_hash: r.get(3).map_err(store_error)?,
                pin_hash: r.get(4).map_err(store_error)?,
                account: account as u64,
                created_s: r.get::<_, i64>(6).map_err(store_error)? as u64,
                person: name.map(|name| Person {
                    name,
                    address: address.unwrap_or_default(),
                }),
            });
        }
        Ok(out)
    }

    fn restore_users(&self, currency: &str, users: &[ExportedUser]) -> Result<usize, StoreError> {
        self.put_users(currency, users, false)
    }

    fn upsert_users(&self, currency: &str, users: &[ExportedUser]) -> Result<usize, StoreError> {
        self.put_users(currency, users, true)
    }

    fn carried_user(&self, currency: &str, id: i64) -> Result<Option<ExportedUser>, StoreError> {
        let db = self.db.lock();
        let row = db
            .query_row(
                "SELECT u.role, u.login, u.login_key, u.password, u.pin, u.account, u.created,
                        p.name, p.address, u.id
                 FROM users u LEFT JOIN people p ON p.user_id = u.id
                 WHERE u.currency = ?1 AND u.id = ?2 AND u.role IN ('citizen', 'merchant')
                     AND u.account IS NOT NULL",
                params![currency, id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, i64>(9)?,
                    ))
                },
            )
            .optional()
            .map_err(store_error)?;
        let Some((
            role,
            login,
            login_key,
            password_hash,
            pin_hash,
            account,
            created,
            name,
            address,
            id,
        )) = row
        else {
            return Ok(None);
        };
        Ok(Some(ExportedUser {
            id,
            role: role_of(&role)?,
            login,
            login_key,
            password_hash,
            pin_hash,
            account: account as u64,
            created_s: created as u64,
            person: name.map(|name| Person {
                name,
                address: address.unwrap_or_default(),
            }),
        }))
    }

    fn remove_users(&self, currency: &str, ids: &[i64]) -> Result<usize, StoreError> {
        let mut db = self.lock_for_many_users();
        let tx = db.transaction().map_err(store_error)?;
        let mut removed = 0;
        for id in ids {
            let n = tx
                .execute(
                    "DELETE FROM users WHERE id = ?1 AND currency = ?2",
                    params![id, currency],
                )
                .map_err(store_error)?;
            if n > 0 {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", params![id])
                    .map_err(store_error)?;
                tx.execute("DELETE FROM people WHERE user_id = ?1", params![id])
                    .map_err(store_error)?;
                removed += n;
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(removed)
    }

    fn person(&self, user_id: i64) -> Result<Option<Person>, StoreError> {
        self.db
            .lock()
            .query_row(
                "SELECT name, address FROM people WHERE user_id = ?1",
                params![user_id],
                |r| {
                    Ok(Person {
                        name: r.get(0)?,
                        address: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(store_error)
    }
}

impl SqliteService {
    /// The database locked for writes to many users at once (rare): every remembered
    /// PIN state is forgotten, and the lock is held until the writes are done, so no
    /// reader can remember an old state meanwhile.
    fn lock_for_many_users(&self) -> parking_lot::MutexGuard<'_, rusqlite::Connection> {
        let db = self.db.lock();
        self.pins.forget_all();
        db
    }

    /// [`UserStore::restore_users`] (`replace` false: a user already there is left as
    /// it is) and [`UserStore::upsert_users`] (`replace` true: it takes the set's
    /// hashes, account and person), in one transaction.
    fn put_users(
        &self,
        currency: &str,
        users: &[ExportedUser],
        replace: bool,
    ) -> Result<usize, StoreError> {
        let mut db = self.lock_for_many_users();
        let tx = db.transaction().map_err(store_error)?;
        let mut written = 0;
        {
            let mut existing = tx
                .prepare("SELECT id, login, currency FROM users WHERE id = ?1 OR login = ?2")
                .map_err(store_error)?;
            let mut insert = tx
                .prepare(
                    "INSERT INTO users
                         (id, login, role, password, pin, account, currency, created, login_key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(store_error)?;
            let mut update = tx
                .prepare(
                    "UPDATE users SET role = ?2, password = ?3, pin = ?4, account = ?5,
                         created = ?6, login_key = ?7
                     WHERE id = ?1 AND NOT (role IS ?2 AND password IS ?3 AND pin IS ?4
                         AND account IS ?5 AND created IS ?6 AND login_key IS ?7)",
                )
                .map_err(store_error)?;
            let mut person = tx
                .prepare(
                    "INSERT INTO people (user_id, name, address) VALUES (?1, ?2, ?3)
                     ON CONFLICT(user_id) DO UPDATE SET name = excluded.name,
                         address = excluded.address
                     WHERE name IS NOT excluded.name OR address IS NOT excluded.address",
                )
                .map_err(store_error)?;
            let mut no_person = tx
                .prepare("DELETE FROM people WHERE user_id = ?1")
                .map_err(store_error)?;
            for u in users {
                let there: Vec<(i64, String, String)> = existing
                    .query_map(params![u.id, u.login], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(store_error)?
                    .collect::<Result<_, _>>()
                    .map_err(store_error)?;
                let changed = match there.as_slice() {
                    [] => insert
                        .execute(params![
                            u.id,
                            u.login,
                            u.role.as_str(),
                            u.password_hash,
                            u.pin_hash,
                            u.account as i64,
                            currency,
                            u.created_s as i64,
                            u.login_key
                        ])
                        .map_err(store_error)?,
                    [(id, login, _)] if !replace && *id == u.id && *login == u.login => continue,
                    [(id, login, c)] if *id == u.id && *login == u.login && c == currency => update
                        .execute(params![
                            u.id,
                            u.role.as_str(),
                            u.password_hash,
                            u.pin_hash,
                            u.account as i64,
                            u.created_s as i64,
                            u.login_key
                        ])
                        .map_err(store_error)?,
                    _ => {
                        return Err(StoreError::Failed(format!(
                            "user {} ({:?}) cannot be written: its id or login is another \
                             user's here ({there:?}); carried users go into a new data \
                             directory",
                            u.id, u.login
                        )));
                    }
                };
                let person_changed = match &u.person {
                    Some(p) => person
                        .execute(params![u.id, p.name, p.address])
                        .map_err(store_error)?,
                    None => no_person.execute(params![u.id]).map_err(store_error)?,
                };
                if changed + person_changed > 0 {
                    written += 1;
                }
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(written)
    }
}

impl SessionStore for SqliteService {
    fn insert_session(
        &self,
        token_hash: &[u8; 32],
        user_id: i64,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![&token_hash[..], user_id, expires_at_s as i64],
            )
            .map(|_| ())
            .map_err(store_error)
    }

    fn remove_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "DELETE FROM sessions WHERE token_hash = ?1",
                params![&token_hash[..]],
            )
            .map(|_| ())
            .map_err(store_error)
    }

    fn remove_user_sessions(&self, user_id: i64) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute("DELETE FROM sessions WHERE user_id = ?1", params![user_id])
            .map(|_| ())
            .map_err(store_error)
    }

    fn remove_expired_sessions(&self, now_s: u64) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "DELETE FROM sessions WHERE expires_at <= ?1",
                params![now_s as i64],
            )
            .map(|_| ())
            .map_err(store_error)
    }

    fn sessions_of(&self, currency: &str, now_s: u64) -> Result<Vec<CarriedSession>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare(
                "SELECT u.login, s.token_hash, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE u.currency = ?1 AND u.role IN ('citizen', 'merchant') AND s.expires_at > ?2
                 ORDER BY u.id, s.token_hash",
            )
            .map_err(store_error)?;
        let mut rows = stmt
            .query(params![currency, now_s as i64])
            .map_err(store_error)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(store_error)? {
            let hash: Vec<u8> = r.get(1).map_err(store_error)?;
            let token_hash =
                <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| StoreError::Corrupt {
                    what: "session",
                    detail: format!("a token hash of {} bytes", hash.len()),
                })?;
            out.push(CarriedSession {
                login: r.get(0).map_err(store_error)?,
                token_hash,
                expires_at_s: r.get::<_, i64>(2).map_err(store_error)?.max(0) as u64,
            });
        }
        Ok(out)
    }

    fn restore_sessions(&self, sessions: &[CarriedSession]) -> Result<usize, StoreError> {
        let mut db = self.db.lock();
        let tx = db.transaction().map_err(store_error)?;
        let mut added = 0;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR IGNORE INTO sessions (token_hash, user_id, expires_at)
                     SELECT ?1, id, ?3 FROM users WHERE login = ?2",
                )
                .map_err(store_error)?;
            for s in sessions {
                added += insert
                    .execute(params![
                        s.token_hash.as_slice(),
                        s.login,
                        s.expires_at_s as i64
                    ])
                    .map_err(store_error)?;
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(added)
    }

    fn carried_session(
        &self,
        currency: &str,
        token_hash: &[u8; 32],
        now_s: u64,
    ) -> Result<Option<CarriedSession>, StoreError> {
        self.db
            .lock()
            .query_row(
                "SELECT u.login, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND u.currency = ?2
                     AND u.role IN ('citizen', 'merchant') AND s.expires_at > ?3",
                params![&token_hash[..], currency, now_s as i64],
                |r| {
                    Ok(CarriedSession {
                        login: r.get(0)?,
                        token_hash: *token_hash,
                        expires_at_s: r.get::<_, i64>(1)?.max(0) as u64,
                    })
                },
            )
            .optional()
            .map_err(store_error)
    }

    fn remove_sessions(&self, token_hashes: &[[u8; 32]]) -> Result<usize, StoreError> {
        let mut db = self.db.lock();
        let tx = db.transaction().map_err(store_error)?;
        let mut removed = 0;
        {
            let mut delete = tx
                .prepare("DELETE FROM sessions WHERE token_hash = ?1")
                .map_err(store_error)?;
            for h in token_hashes {
                removed += delete.execute(params![&h[..]]).map_err(store_error)?;
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(removed)
    }

    fn live_sessions(&self, now_s: u64) -> Result<Vec<StoredSession>, StoreError> {
        let db = self.db.lock();
        db.execute(
            "DELETE FROM sessions WHERE expires_at <= ?1",
            params![now_s as i64],
        )
        .map_err(store_error)?;
        let mut stmt = db
            .prepare(
                "SELECT s.token_hash, s.expires_at, u.id, u.role, u.account, u.currency, u.currencies
                 FROM sessions s JOIN users u ON u.id = s.user_id",
            )
            .map_err(store_error)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(store_error)?;
        let mut sessions = Vec::new();
        for row in rows {
            let (hash, expires_at, id, role, account, currency, currencies) =
                row.map_err(store_error)?;
            let (Ok(token_hash), Ok(role)) =
                (<[u8; 32]>::try_from(hash.as_slice()), role_of(&role))
            else {
                continue;
            };
            sessions.push(StoredSession {
                token_hash,
                expires_at_s: expires_at.max(0) as u64,
                user: UserRecord {
                    id,
                    role,
                    account: account.map(|a| a as u64),
                    currency,
                    currencies: currencies_of(&currencies),
                },
            });
        }
        Ok(sessions)
    }
}
