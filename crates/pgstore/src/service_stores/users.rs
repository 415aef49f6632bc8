//! Users and their people (`maeul_users`, `maeul_people`), as `service.sqlite` keeps
//! them (`service::store::sqlite`'s `users.rs`).

use serde::Deserialize;
use serde::de::IntoDeserializer;
use service::Role;
use service::store::{
    Created, Credentials, ExportedUser, NewUserRecord, PendingSetup, Person, PinState, SeedUser,
    StoreError, UserRecord, UserStore, UsersOfCurrency,
};
use tokio_postgres::Row;

use super::{PgService, get, get_u32, get_u64, int8, run, unsigned};

/// The `currencies` column: comma-separated codes.
pub(super) fn currencies_of(column: &str) -> Vec<String> {
    column
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A role by its stored name (the service's serde name, which `Role::as_str` writes).
pub(super) fn role_of(column: &str) -> Result<Role, StoreError> {
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        column.into_deserializer();
    Role::deserialize(de).map_err(|_| StoreError::Corrupt {
        what: "role",
        detail: format!("unknown role {column:?}"),
    })
}

/// The columns an exported user is read from, `u` being the user and `p` the person.
const EXPORTED: &str = "u.role, u.login, u.login_key, u.password, u.pin, u.account, u.created, \
                        p.name, p.address, u.id";

/// A user as an operator change carries them, from [`EXPORTED`]; `account` read apart.
fn exported(r: &Row, account: u64) -> Result<ExportedUser, StoreError> {
    let name: Option<String> = get(r, 7, "person")?;
    let address: Option<String> = get(r, 8, "person")?;
    Ok(ExportedUser {
        id: get(r, 9, "user id")?,
        role: role_of(get(r, 0, "role")?)?,
        login: get(r, 1, "login")?,
        login_key: get(r, 2, "login key")?,
        password_hash: get(r, 3, "password hash")?,
        pin_hash: get(r, 4, "PIN hash")?,
        account,
        created_s: get_u64(r, 6, "user's creation time")?,
        person: name.map(|name| Person {
            name,
            address: address.unwrap_or_default(),
        }),
    })
}

impl UserStore for PgService {
    fn create_user(&self, u: &NewUserRecord) -> Result<Created, StoreError> {
        let conn = self.db.conn()?;
        // A login, or one that folds to the same key, already there inserts nothing.
        let row = run(
            "add a user",
            conn.query_opt(
                "INSERT INTO maeul_users
                     (login, role, password, pin, currency, currencies, created, setup, login_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT DO NOTHING RETURNING id",
                &[
                    &u.login,
                    &u.role.as_str(),
                    &u.password_hash,
                    &u.pin_hash,
                    &u.currency,
                    &u.currencies.join(","),
                    &int8(u.created_s, "creation time")?,
                    &u.setup,
                    &u.login_key,
                ],
            ),
        )?;
        match row {
            Some(row) => Ok(Created::Id(get(&row, 0, "user id")?)),
            None => Ok(Created::LoginTaken),
        }
    }

    fn set_account(&self, user_id: i64, account: u64) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "record a user's account",
            conn.execute(
                "UPDATE maeul_users SET account = $1, setup = NULL WHERE id = $2",
                &[&int8(account, "account")?, &user_id],
            ),
        )?;
        Ok(())
    }

    fn pending_setup(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "read a user's set-up",
            conn.query_opt(
                "SELECT setup FROM maeul_users WHERE id = $1 AND account IS NULL",
                &[&user_id],
            ),
        )?;
        match row {
            Some(row) => get(&row, 0, "set-up"),
            None => Ok(None),
        }
    }

    fn pending_setups(&self) -> Result<Vec<PendingSetup>, StoreError> {
        let conn = self.db.conn()?;
        let rows = run(
            "read the set-ups owed",
            conn.query(
                "SELECT id, setup, currency FROM maeul_users
                  WHERE account IS NULL AND setup IS NOT NULL",
                &[],
            ),
        )?;
        // An unreadable row is left out, as SQLite's store does.
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(PendingSetup {
                    user_id: r.try_get(0).ok()?,
                    setup: r.try_get(1).ok()?,
                    currency: r.try_get(2).ok()?,
                })
            })
            .collect())
    }

    fn delete_user(&self, user_id: i64) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "remove a user",
            conn.execute("DELETE FROM maeul_users WHERE id = $1", &[&user_id]),
        )?;
        Ok(())
    }

    fn sign_in_candidate(
        &self,
        login: &str,
        login_key: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "find a user signing in",
            conn.query_opt(
                "SELECT id, role, password, account, currency, currencies FROM maeul_users
                  WHERE login = $1 OR login_key = $2 ORDER BY login = $1 DESC LIMIT 1",
                &[&login, &login_key],
            ),
        )?;
        let Some(r) = row else {
            return Ok(None);
        };
        let account: Option<i64> = get(&r, 3, "account")?;
        Ok(Some(Credentials {
            user: UserRecord {
                id: get(&r, 0, "user id")?,
                role: role_of(get(&r, 1, "role")?)?,
                account: account.map(|a| unsigned(a, "account")).transpose()?,
                currency: get(&r, 4, "currency")?,
                currencies: currencies_of(get(&r, 5, "currencies")?),
            },
            password_hash: get(&r, 2, "password hash")?,
        }))
    }

    fn password_hash(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "read a password hash",
            conn.query_opt(
                "SELECT password FROM maeul_users WHERE id = $1",
                &[&user_id],
            ),
        )?;
        row.map(|r| get(&r, 0, "password hash")).transpose()
    }

    fn pin_state(&self, user_id: i64) -> Result<Option<PinState>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "read a PIN state",
            conn.query_opt(
                "SELECT pin, pin_failures, pin_locked_until, login FROM maeul_users
                  WHERE id = $1",
                &[&user_id],
            ),
        )?;
        row.map(|r| {
            Ok(PinState {
                pin_hash: get(&r, 0, "PIN hash")?,
                failures: get_u32(&r, 1, "PIN failures")?,
                locked_until_s: get_u64(&r, 2, "PIN lock")?,
                login: get(&r, 3, "login")?,
            })
        })
        .transpose()
    }

    fn set_pin_failures(
        &self,
        user_id: i64,
        failures: u32,
        locked_until_s: u64,
    ) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "count PIN failures",
            conn.execute(
                "UPDATE maeul_users SET pin_failures = $1, pin_locked_until = $2 WHERE id = $3",
                &[
                    &i64::from(failures),
                    &int8(locked_until_s, "PIN lock")?,
                    &user_id,
                ],
            ),
        )?;
        Ok(())
    }

    fn reset_pin_failures(&self, user_id: i64) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "forget PIN failures",
            conn.execute(
                "UPDATE maeul_users SET pin_failures = 0 WHERE id = $1",
                &[&user_id],
            ),
        )?;
        Ok(())
    }

    fn fold_login_keys(
        &self,
        fold: &dyn Fn(&str) -> String,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut conn = self.db.conn()?;
        let tx = run("begin folding logins", conn.transaction())?;
        let rows = run(
            "read users without a login key",
            tx.query(
                "SELECT id, login FROM maeul_users WHERE login_key IS NULL ORDER BY id",
                &[],
            ),
        )?;
        let owner_of = run(
            "prepare to find a key's owner",
            tx.prepare("SELECT id FROM maeul_users WHERE login_key = $1"),
        )?;
        let set = run(
            "prepare to set login keys",
            tx.prepare("UPDATE maeul_users SET login_key = $1 WHERE id = $2"),
        )?;
        let mut collisions = Vec::new();
        for r in &rows {
            let id: i64 = get(r, 0, "user id")?;
            let login: String = get(r, 1, "login")?;
            let key = fold(&login);
            match run("find a key's owner", tx.query_opt(&owner_of, &[&key]))? {
                Some(owner) => collisions.push((id, get(&owner, 0, "user id")?)),
                None => {
                    run("set a login key", tx.execute(&set, &[&key, &id]))?;
                }
            }
        }
        run("commit the login keys", tx.commit())?;
        Ok(collisions)
    }

    fn seed_users(
        &self,
        role: Role,
        currency: &str,
        created_s: u64,
        users: &[SeedUser],
    ) -> Result<usize, StoreError> {
        let created = int8(created_s, "creation time")?;
        let mut conn = self.db.conn()?;
        let tx = run("begin seeding users", conn.transaction())?;
        let user = run(
            "prepare to seed users",
            tx.prepare(
                "INSERT INTO maeul_users
                     (login, role, password, pin, account, currency, created, login_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT DO NOTHING RETURNING id",
            ),
        )?;
        let person = run(
            "prepare to seed people",
            tx.prepare(
                "INSERT INTO maeul_people (user_id, name, address) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO UPDATE
                    SET name = EXCLUDED.name, address = EXCLUDED.address",
            ),
        )?;
        let mut added = 0;
        for u in users {
            let inserted = run(
                "seed a user",
                tx.query_opt(
                    &user,
                    &[
                        &u.login,
                        &role.as_str(),
                        &u.password_hash,
                        &u.pin_hash,
                        &int8(u.account, "account")?,
                        &currency,
                        &created,
                        &u.login_key,
                    ],
                ),
            )?;
            if let Some(row) = inserted {
                if let Some(p) = &u.person {
                    let id: i64 = get(&row, 0, "user id")?;
                    run(
                        "seed a person",
                        tx.execute(&person, &[&id, &p.name, &p.address]),
                    )?;
                }
                added += 1;
            }
        }
        run("commit the seeded users", tx.commit())?;
        Ok(added)
    }

    fn users_of(&self, currency: &str) -> Result<UsersOfCurrency, StoreError> {
        let conn = self.db.conn()?;
        let rows = run(
            "read a currency's users",
            conn.query(
                &format!(
                    "SELECT {EXPORTED}
                       FROM maeul_users u LEFT JOIN maeul_people p ON p.user_id = u.id
                      WHERE u.currency = $1 AND u.role IN ('citizen', 'merchant')
                      ORDER BY u.id"
                ),
                &[&currency],
            ),
        )?;
        let mut out = UsersOfCurrency::default();
        for r in &rows {
            match get::<Option<i64>>(r, 5, "account")? {
                None => out.unfinished_sign_ups += 1,
                Some(account) => out.users.push(exported(r, unsigned(account, "account")?)?),
            }
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
        let conn = self.db.conn()?;
        let row = run(
            "read a carried user",
            conn.query_opt(
                &format!(
                    "SELECT {EXPORTED}
                       FROM maeul_users u LEFT JOIN maeul_people p ON p.user_id = u.id
                      WHERE u.currency = $1 AND u.id = $2
                        AND u.role IN ('citizen', 'merchant') AND u.account IS NOT NULL"
                ),
                &[&currency, &id],
            ),
        )?;
        row.map(|r| exported(&r, get_u64(&r, 5, "account")?))
            .transpose()
    }

    fn remove_users(&self, currency: &str, ids: &[i64]) -> Result<usize, StoreError> {
        let mut conn = self.db.conn()?;
        let tx = run("begin removing users", conn.transaction())?;
        let user = run(
            "prepare to remove users",
            tx.prepare("DELETE FROM maeul_users WHERE id = $1 AND currency = $2"),
        )?;
        let sessions = run(
            "prepare to remove sessions",
            tx.prepare("DELETE FROM maeul_sessions WHERE user_id = $1"),
        )?;
        let person = run(
            "prepare to remove people",
            tx.prepare("DELETE FROM maeul_people WHERE user_id = $1"),
        )?;
        let mut removed = 0;
        for id in ids {
            let n = run("remove a user", tx.execute(&user, &[id, &currency]))?;
            if n > 0 {
                run("remove a user's sessions", tx.execute(&sessions, &[id]))?;
                run("remove a user's person", tx.execute(&person, &[id]))?;
                removed += n as usize;
            }
        }
        run("commit the removal", tx.commit())?;
        Ok(removed)
    }

    fn person(&self, user_id: i64) -> Result<Option<Person>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "read a person",
            conn.query_opt(
                "SELECT name, address FROM maeul_people WHERE user_id = $1",
                &[&user_id],
            ),
        )?;
        row.map(|r| {
            Ok(Person {
                name: get(&r, 0, "person")?,
                address: get(&r, 1, "person")?,
            })
        })
        .transpose()
    }
}

impl PgService {
    /// [`UserStore::restore_users`] (`replace` false: a user already there is left as
    /// it is) and [`UserStore::upsert_users`] (`replace` true: it takes the set's
    /// hashes, account and person), in one transaction.
    ///
    /// The table is locked against other writers for the transaction (SQLite's one
    /// connection did the same): the ids written here are explicit, so a sign-up must
    /// not take one from the sequence before it has been moved past them.
    fn put_users(
        &self,
        currency: &str,
        users: &[ExportedUser],
        replace: bool,
    ) -> Result<usize, StoreError> {
        let mut conn = self.db.conn()?;
        let tx = run("begin putting users", conn.transaction())?;
        run(
            "lock the users",
            tx.batch_execute("LOCK TABLE maeul_users IN SHARE ROW EXCLUSIVE MODE"),
        )?;
        let existing = run(
            "prepare to find users",
            tx.prepare("SELECT id, login, currency FROM maeul_users WHERE id = $1 OR login = $2"),
        )?;
        let insert = run(
            "prepare to add users",
            tx.prepare(
                "INSERT INTO maeul_users
                     (id, login, role, password, pin, account, currency, created, login_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            ),
        )?;
        let update = run(
            "prepare to change users",
            tx.prepare(
                "UPDATE maeul_users SET role = $2, password = $3, pin = $4, account = $5,
                        created = $6, login_key = $7
                  WHERE id = $1 AND NOT (role IS NOT DISTINCT FROM $2
                        AND password IS NOT DISTINCT FROM $3 AND pin IS NOT DISTINCT FROM $4
                        AND account IS NOT DISTINCT FROM $5 AND created IS NOT DISTINCT FROM $6
                        AND login_key IS NOT DISTINCT FROM $7)",
            ),
        )?;
        let person = run(
            "prepare to put people",
            tx.prepare(
                "INSERT INTO maeul_people AS p (user_id, name, address) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO UPDATE
                    SET name = EXCLUDED.name, address = EXCLUDED.address
                  WHERE p.name IS DISTINCT FROM EXCLUDED.name
                     OR p.address IS DISTINCT FROM EXCLUDED.address",
            ),
        )?;
        let no_person = run(
            "prepare to remove people",
            tx.prepare("DELETE FROM maeul_people WHERE user_id = $1"),
        )?;
        let mut written = 0;
        let mut inserted_any = false;
        for u in users {
            let rows = run("find a user", tx.query(&existing, &[&u.id, &u.login]))?;
            let there = rows
                .iter()
                .map(|r| {
                    Ok((
                        get::<i64>(r, 0, "user id")?,
                        get::<String>(r, 1, "login")?,
                        get::<String>(r, 2, "currency")?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let account = int8(u.account, "account")?;
            let created = int8(u.created_s, "creation time")?;
            let changed = match there.as_slice() {
                [] => {
                    inserted_any = true;
                    run(
                        "add a carried user",
                        tx.execute(
                            &insert,
                            &[
                                &u.id,
                                &u.login,
                                &u.role.as_str(),
                                &u.password_hash,
                                &u.pin_hash,
                                &account,
                                &currency,
                                &created,
                                &u.login_key,
                            ],
                        ),
                    )?
                }
                [(id, login, _)] if !replace && *id == u.id && *login == u.login => continue,
                [(id, login, c)] if *id == u.id && *login == u.login && c == currency => run(
                    "change a carried user",
                    tx.execute(
                        &update,
                        &[
                            &u.id,
                            &u.role.as_str(),
                            &u.password_hash,
                            &u.pin_hash,
                            &account,
                            &created,
                            &u.login_key,
                        ],
                    ),
                )?,
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
                Some(p) => run(
                    "put a carried person",
                    tx.execute(&person, &[&u.id, &p.name, &p.address]),
                )?,
                None => run("remove a person", tx.execute(&no_person, &[&u.id]))?,
            };
            if changed + person_changed > 0 {
                written += 1;
            }
        }
        if inserted_any {
            // Later sign-ups take ids after every id here (as SQLite's AUTOINCREMENT
            // does); the sequence only ever moves forward.
            run(
                "move the user id sequence",
                tx.query(
                    "SELECT setval(s.seq, m.id)
                       FROM (SELECT pg_get_serial_sequence('maeul_users', 'id')::regclass) AS s(seq),
                            (SELECT max(id) FROM maeul_users) AS m(id)
                      WHERE m.id > coalesce(pg_sequence_last_value(s.seq), 0)",
                    &[],
                ),
            )?;
        }
        run("commit the carried users", tx.commit())?;
        Ok(written)
    }
}
