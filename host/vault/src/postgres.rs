//! The shared backend: one PostgreSQL database that several `kms` nodes use at once. No process
//! holds a lock of its own: every change is one transaction, read-modify-writes are
//! compare-and-swap on a revision column (re-checked by PostgreSQL after it waits for a row
//! lock, so no update is lost), unique names are primary keys, and the audit trail's tail is a
//! locked row, so that appends from every node make one chain. Every change to what caches hold
//! moves the `generation` row in its own transaction and notifies channel
//! [`CHANNEL`], which [`MetaStore::change_feed`] listens to.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement, Transaction};

use super::custom_key_store::{self, CustomKeyStoreRecord, CustomKeyStoreStore};
use super::identity::{
    AccessKeyRecord, AccessKeyStatus, AccountRecord, GrantRecord, PrincipalRecord,
};
use super::key_usage::{KeyLastUse, KeyUsageStore};
use super::store::{
    self, AliasRecord, AliasStore, AuditBatch, AuditStore, AuditTail, ChangeFeed, GrantStore,
    IdentityStore, KeyRecord, KeyStore, MetaStore, PluginAttachment, PluginScope, PluginStore,
    SealedVersion, StoredAuditRecord, Swap, check_same_key,
};
use kms_core::error::{KmsError, KmsResult};
use kms_core::types::{KeyId, RotationType};

/// The channel every change to cached records is notified on, with the schema as payload.
pub const CHANNEL: &str = "kms_generation";

/// The schema, one step per version in `kms_schema`: step `i` takes a database from version `i`
/// to `i + 1`. Steps are only ever appended, never edited, since databases in the field ran them.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2];

/// Text columns that are paged or sorted by use the "C" collation: byte order, as SQLite's and
/// the key-id order the API pages in, whatever the database's locale.
const SCHEMA_V1: &str = r#"
CREATE TABLE meta (name TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE generation (id INTEGER PRIMARY KEY CHECK (id = 0), value BIGINT NOT NULL);
INSERT INTO generation (id, value) VALUES (0, 0);
CREATE TABLE keys (
    region TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    due_at BIGINT,
    record TEXT NOT NULL,
    PRIMARY KEY (region, key_id)
);
CREATE INDEX keys_due_at ON keys (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX keys_id ON keys (key_id);
CREATE TABLE key_versions (
    key_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    material_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    rotation_type TEXT,
    sealed_material BYTEA NOT NULL,
    PRIMARY KEY (key_id, version)
);
CREATE TABLE aliases (
    region TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (region, name),
    FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
);
CREATE INDEX aliases_key ON aliases (region, key_id);
CREATE TABLE audit_log (seq BIGINT PRIMARY KEY, event TEXT NOT NULL, hash BYTEA NOT NULL);
CREATE TABLE audit_tail (id INTEGER PRIMARY KEY CHECK (id = 0), seq BIGINT NOT NULL, hash BYTEA);
INSERT INTO audit_tail (id, seq, hash) VALUES (0, 0, NULL);
CREATE TABLE policy_plugins (
    scope TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    digest TEXT NOT NULL,
    config TEXT NOT NULL,
    attached_at BIGINT NOT NULL,
    component BYTEA NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE TABLE accounts (account_id TEXT COLLATE "C" PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE principals (
    arn TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    revision BIGINT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX principals_account ON principals (account);
CREATE TABLE access_keys (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    principal_arn TEXT COLLATE "C" NOT NULL REFERENCES principals (arn) ON DELETE CASCADE,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sealed_secret BYTEA NOT NULL
);
CREATE INDEX access_keys_principal ON access_keys (principal_arn);
CREATE TABLE grants (
    grant_id TEXT COLLATE "C" PRIMARY KEY,
    region TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    retiring_principal TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    record TEXT NOT NULL,
    FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
);
CREATE INDEX grants_key ON grants (region, key_id, created_at);
CREATE INDEX grants_retiring ON grants (retiring_principal) WHERE retiring_principal IS NOT NULL;
CREATE TABLE key_last_use (
    region TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    audit_seq BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (region, key_id)
);
CREATE FUNCTION kms_generation_moves() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE generation SET value = value + 1 WHERE id = 0;
    PERFORM pg_notify('kms_generation', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;
CREATE TRIGGER keys_generation AFTER INSERT OR UPDATE OR DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION kms_generation_moves();
CREATE TRIGGER key_versions_generation AFTER INSERT OR UPDATE OR DELETE ON key_versions
    FOR EACH ROW EXECUTE FUNCTION kms_generation_moves();
CREATE TRIGGER aliases_generation AFTER INSERT OR UPDATE OR DELETE ON aliases
    FOR EACH ROW EXECUTE FUNCTION kms_generation_moves();
CREATE TRIGGER policy_plugins_generation AFTER INSERT OR UPDATE OR DELETE ON policy_plugins
    FOR EACH ROW EXECUTE FUNCTION kms_generation_moves();
CREATE TRIGGER accounts_generation AFTER INSERT OR UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION kms_generation_moves();
CREATE TRIGGER principals_generation AFTER INSERT OR UPDATE OR DELETE ON principals
    FOR EACH ROW EXECUTE FUNCTION kms_generation_moves();
CREATE TRIGGER access_keys_generation AFTER INSERT OR UPDATE OR DELETE ON access_keys
    FOR EACH ROW EXECUTE FUNCTION kms_generation_moves();
CREATE TRIGGER grants_generation AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION kms_generation_moves();
"#;

/// Custom key stores, per region, their names unique there.
const SCHEMA_V2: &str = r#"
CREATE TABLE custom_key_stores (
    region TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    revision BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (region, id),
    CONSTRAINT custom_key_stores_name UNIQUE (region, name)
);
CREATE TRIGGER custom_key_stores_generation AFTER INSERT OR UPDATE OR DELETE ON custom_key_stores
    FOR EACH ROW EXECUTE FUNCTION kms_generation_moves();
"#;

/// Connections one store opens at most; callers past this wait for one to come back.
const MAX_CONNECTIONS: usize = 16;
/// How many times an audit batch is built on the tail its append last saw before the append
/// takes the tail's lock instead.
const OPTIMISTIC_APPENDS: usize = 3;
/// How often a transaction that PostgreSQL aborted for a deadlock or a serialization failure
/// (and rolled back whole) is run again.
const RETRIES: usize = 5;

/// One connection with the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// The connections of one store.
struct Pool {
    url: String,
    idle: Mutex<(Vec<Conn>, usize)>,
    returned: Condvar,
}

/// A connection taken from the pool, given back when dropped (unless it broke).
struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let mut idle = self.pool.lock();
        match self.conn.take() {
            Some(conn) if !conn.client.is_closed() => idle.0.push(conn),
            _ => idle.1 -= 1,
        }
        self.pool.returned.notify_one();
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, (Vec<Conn>, usize)> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self) -> KmsResult<Pooled<'_>> {
        let mut idle = self.lock();
        loop {
            if let Some(conn) = idle.0.pop() {
                return Ok(Pooled {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if idle.1 < MAX_CONNECTIONS {
                idle.1 += 1;
                drop(idle);
                return match connect(&self.url) {
                    Ok(client) => Ok(Pooled {
                        pool: self,
                        conn: Some(Conn {
                            client,
                            statements: HashMap::new(),
                        }),
                    }),
                    Err(e) => {
                        self.lock().1 -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn connect(url: &str) -> KmsResult<Client> {
    Client::connect(url, NoTls).map_err(|e| {
        KmsError::Internal(format!(
            "Cannot connect to the PostgreSQL vault at {}: {e}",
            redacted(url)
        ))
    })
}

/// `url` with any password replaced, for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Statements of one connection, run on a client or in a transaction of it.
struct Session<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<&'static str, Statement>,
    /// Set when PostgreSQL aborted the transaction in a way that running it again may cure.
    retry: bool,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl<C: GenericClient> Session<'_, C> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn seen(&mut self, e: postgres::Error) -> postgres::Error {
        if matches!(
            e.code(),
            Some(&SqlState::T_R_DEADLOCK_DETECTED | &SqlState::T_R_SERIALIZATION_FAILURE)
        ) {
            self.retry = true;
        }
        e
    }

    /// Runs a statement, answering PostgreSQL's own error (to tell constraint failures apart).
    fn try_execute(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql).map_err(|e| self.seen(e))?;
        self.client
            .execute(&statement, params)
            .map_err(|e| self.seen(e))
    }

    fn execute(&mut self, sql: &'static str, params: Params<'_>) -> KmsResult<u64> {
        self.try_execute(sql, params).map_err(db_error)
    }

    fn rows(&mut self, sql: &'static str, params: Params<'_>) -> KmsResult<Vec<Row>> {
        let statement = self.statement(sql).map_err(|e| db_error(self.seen(e)))?;
        self.client
            .query(&statement, params)
            .map_err(|e| db_error(self.seen(e)))
    }

    fn row(&mut self, sql: &'static str, params: Params<'_>) -> KmsResult<Option<Row>> {
        let statement = self.statement(sql).map_err(|e| db_error(self.seen(e)))?;
        self.client
            .query_opt(&statement, params)
            .map_err(|e| db_error(self.seen(e)))
    }

    fn exists(&mut self, sql: &'static str, params: Params<'_>) -> KmsResult<bool> {
        Ok(self.row(sql, params)?.is_some())
    }
}

/// A vault in a PostgreSQL database that several `kms` nodes share.
///
/// The URL is libpq's (`postgres://user:password@host:port/database`, with options such as
/// `options=-csearch_path%3Dkms` to keep the vault in its own schema). Opening creates the schema,
/// or brings it up to date, under a lock so that nodes starting together do it once.
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &redacted(&self.pool.url))
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url`, creating or upgrading the vault's schema there.
    /// Refuses a schema written by a newer `kms` that this one does not know.
    pub fn open(url: &str) -> KmsResult<Self> {
        let store = PostgresStore {
            pool: Pool {
                url: url.to_string(),
                idle: Mutex::new((Vec::new(), 0)),
                returned: Condvar::new(),
            },
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> KmsResult<()> {
        let mut pooled = self.pool.get()?;
        let conn = pooled
            .conn
            .as_mut()
            .expect("a pooled connection is present until dropped");
        let mut tx = conn.client.transaction().map_err(db_error)?;
        // One node at a time creates or upgrades the schema; the others find it done.
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.kms_schema'));
             CREATE TABLE IF NOT EXISTS kms_schema (
                 id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL);
             INSERT INTO kms_schema (id, version) VALUES (0, 0) ON CONFLICT (id) DO NOTHING;",
        )
        .map_err(db_error)?;
        let found: i32 = tx
            .query_one("SELECT version FROM kms_schema WHERE id = 0", &[])
            .map_err(db_error)?
            .get(0);
        let known = MIGRATIONS.len();
        let from = usize::try_from(found)
            .ok()
            .filter(|v| *v <= known)
            .ok_or_else(|| {
                KmsError::Internal(format!(
                    "The PostgreSQL vault has schema version {found}, newer than this kms \
                     understands ({known}); upgrade kms to open it"
                ))
            })?;
        for (done, step) in MIGRATIONS.iter().enumerate().skip(from) {
            tx.batch_execute(step).map_err(db_error)?;
            tx.execute(
                "UPDATE kms_schema SET version = $1 WHERE id = 0",
                &[&(done as i32 + 1)],
            )
            .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)
    }

    /// Runs `f` on a pooled connection, outside any transaction.
    fn read<T>(&self, f: impl FnOnce(&mut Session<'_, Client>) -> KmsResult<T>) -> KmsResult<T> {
        let mut pooled = self.pool.get()?;
        let conn = pooled
            .conn
            .as_mut()
            .expect("a pooled connection is present until dropped");
        let mut session = Session {
            client: &mut conn.client,
            statements: &mut conn.statements,
            retry: false,
        };
        f(&mut session)
    }

    /// Runs `f` in one transaction, committed only if `f` succeeds; run again (from the start,
    /// PostgreSQL having rolled the first attempt back) if PostgreSQL aborted it for a deadlock
    /// or a serialization failure.
    fn write<T>(
        &self,
        mut f: impl FnMut(&mut Session<'_, Transaction<'_>>) -> KmsResult<T>,
    ) -> KmsResult<T> {
        let mut pooled = self.pool.get()?;
        let conn = pooled
            .conn
            .as_mut()
            .expect("a pooled connection is present until dropped");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = conn.client.transaction().map_err(db_error)?;
            let mut session = Session {
                client: &mut tx,
                statements: &mut conn.statements,
                retry: false,
            };
            let out = f(&mut session);
            let retry = session.retry;
            match out {
                Ok(value) => match tx.commit() {
                    Ok(()) => return Ok(value),
                    Err(e) if retryable(&e) && attempt < RETRIES => continue,
                    Err(e) => return Err(db_error(e)),
                },
                // Dropping the transaction rolls it back.
                Err(_) if retry && attempt < RETRIES => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED | &SqlState::T_R_SERIALIZATION_FAILURE)
    )
}

/// A storage failure, as the service reports it: internal, never caused by the request.
fn db_error(err: postgres::Error) -> KmsError {
    KmsError::Internal(format!("vault storage error: {err}"))
}

/// The outcome of an insert that a primary or unique key (`taken`) or a foreign key
/// (`missing`) may refuse, as the service reports each.
fn inserted(
    result: Result<u64, postgres::Error>,
    taken: impl FnOnce() -> KmsError,
    missing: impl FnOnce() -> KmsError,
) -> KmsResult<()> {
    match result {
        Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => Err(taken()),
        Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => Err(missing()),
        other => other.map(drop).map_err(db_error),
    }
}

fn is(err: &postgres::Error, state: &SqlState) -> bool {
    err.code() == Some(state)
}

fn to_i64(v: u64) -> i64 {
    // Times, sequence numbers and limits stay far below 2^63.
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> KmsResult<String> {
    serde_json::to_string(value)
        .map_err(|e| KmsError::Internal(format!("cannot encode {what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> KmsResult<T> {
    serde_json::from_str(json)
        .map_err(|e| KmsError::Internal(format!("The record of {what} is corrupt: {e}")))
}

fn parse_key_id(id: &str) -> KmsResult<KeyId> {
    id.parse()
        .map_err(|_| KmsError::Internal(format!("Key id '{id}' in the vault is corrupt")))
}

/// Decodes rows whose first column is one JSON record.
fn json_records<T: serde::de::DeserializeOwned>(what: &str, rows: Vec<Row>) -> KmsResult<Vec<T>> {
    rows.iter()
        .map(|row| from_json(what, row.get::<_, &str>(0)))
        .collect()
}

fn key_from_row(row: &Row) -> KmsResult<KeyRecord> {
    let key_id: &str = row.get(0);
    from_json(&format!("key {key_id}"), row.get::<_, &str>(1))
}

/// Whether `region` holds a key `key_id`, or with no region, whether any region does.
fn key_exists<C: GenericClient>(
    s: &mut Session<'_, C>,
    region: Option<&str>,
    key_id: &KeyId,
) -> KmsResult<bool> {
    s.exists(
        "SELECT 1 FROM keys WHERE key_id = $1 AND ($2::text IS NULL OR region = $2) LIMIT 1",
        &[&key_id.to_string(), &region],
    )
}

/// Serializes writers that create or remove the records of one key id (in any region) with
/// each other: "no region holds this id" stays true until the transaction ends.
fn lock_key_id(s: &mut Session<'_, Transaction<'_>>, key_id: &KeyId) -> KmsResult<()> {
    s.execute(
        "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.key.' || $1))",
        &[&key_id.to_string()],
    )
    .map(drop)
}

/// Inserts a key record; `AlreadyExists` if its region holds its id, or with `replica` false,
/// if any region does.
fn insert_record(
    s: &mut Session<'_, Transaction<'_>>,
    key: &KeyRecord,
    replica: bool,
) -> KmsResult<()> {
    let region = key.region.as_str();
    if key_exists(s, if replica { Some(region) } else { None }, &key.key_id)? {
        return Err(KmsError::AlreadyExists(format!(
            "Key '{}' already exists",
            key.key_id
        )));
    }
    s.execute(
        "INSERT INTO keys (region, key_id, revision, due_at, record) VALUES ($1, $2, $3, $4, $5)",
        &[
            &region,
            &key.key_id.to_string(),
            &to_i64(key.revision),
            &key.due_at().map(to_i64),
            &to_json("a key", key)?,
        ],
    )
    .map(drop)
}

/// Replaces a key record if the stored one still has `key.revision`, storing it one revision
/// on. PostgreSQL re-checks the revision after waiting for a concurrent writer's row lock, so
/// of two writers over one revision exactly one succeeds.
fn replace_record<C: GenericClient>(s: &mut Session<'_, C>, key: &KeyRecord) -> KmsResult<Swap> {
    let next = KeyRecord {
        revision: key.revision + 1,
        ..key.clone()
    };
    let changed = s.execute(
        "UPDATE keys SET revision = $4, due_at = $5, record = $6
         WHERE region = $1 AND key_id = $2 AND revision = $3",
        &[
            &key.region,
            &key.key_id.to_string(),
            &to_i64(key.revision),
            &to_i64(next.revision),
            &key.due_at().map(to_i64),
            &to_json("a key", &next)?,
        ],
    )?;
    if changed == 1 {
        Ok(Swap::Done)
    } else if key_exists(s, Some(&key.region), &key.key_id)? {
        Ok(Swap::Stale)
    } else {
        Err(KmsError::key_not_found(key.key_id))
    }
}

fn insert_version(s: &mut Session<'_, Transaction<'_>>, v: &SealedVersion) -> KmsResult<()> {
    let result = s.try_execute(
        "INSERT INTO key_versions
             (key_id, version, material_id, created_at, rotation_type, sealed_material)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &v.key_id.to_string(),
            &i64::from(v.version),
            &v.material_id,
            &to_i64(v.created_at),
            &v.rotation_type.map(|t| t.as_aws_str()),
            &v.sealed_material,
        ],
    );
    match result {
        Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => Err(KmsError::Internal(format!(
            "Key '{}' already has version {}",
            v.key_id, v.version
        ))),
        other => other.map(drop).map_err(db_error),
    }
}

fn version_from_row(row: &Row) -> KmsResult<SealedVersion> {
    let key_id: &str = row.get(0);
    let version: i64 = row.get(1);
    let corrupt = |what: &str| {
        KmsError::Internal(format!(
            "Version {version} of key {key_id} has a corrupt {what}"
        ))
    };
    Ok(SealedVersion {
        key_id: key_id.parse().map_err(|_| corrupt("key id"))?,
        version: u32::try_from(version).map_err(|_| corrupt("version number"))?,
        material_id: row.get(2),
        created_at: u64::try_from(row.get::<_, i64>(3)).map_err(|_| corrupt("creation time"))?,
        rotation_type: row
            .get::<_, Option<&str>>(4)
            .map(|t| t.parse::<RotationType>())
            .transpose()
            .map_err(|_| corrupt("rotation type"))?,
        sealed_material: row.get(5),
    })
}

fn alias_from_row(row: &Row) -> KmsResult<AliasRecord> {
    let name: String = row.get(1);
    let corrupt = |what: &str| KmsError::Internal(format!("Alias {name} has a corrupt {what}"));
    Ok(AliasRecord {
        region: row.get(0),
        key_id: row
            .get::<_, &str>(2)
            .parse()
            .map_err(|_| corrupt("key id"))?,
        created_at: u64::try_from(row.get::<_, i64>(3)).map_err(|_| corrupt("creation time"))?,
        updated_at: u64::try_from(row.get::<_, i64>(4)).map_err(|_| corrupt("update time"))?,
        name,
    })
}

fn audit_from_row(row: &Row) -> KmsResult<StoredAuditRecord> {
    let seq: i64 = row.get(0);
    let corrupt =
        |what: &str| KmsError::Internal(format!("Audit record {seq} has a corrupt {what}"));
    Ok(StoredAuditRecord {
        seq: u64::try_from(seq).map_err(|_| corrupt("sequence number"))?,
        event_json: row.get(1),
        hash: row
            .get::<_, Vec<u8>>(2)
            .try_into()
            .map_err(|_| corrupt("hash"))?,
    })
}

/// Locks the audit trail's tail (every appender, on every node, waits here in turn) and reads it.
fn lock_audit_tail(s: &mut Session<'_, Transaction<'_>>) -> KmsResult<AuditTail> {
    let row = s
        .row(
            "SELECT seq, hash FROM audit_tail WHERE id = 0 FOR UPDATE",
            &[],
        )?
        .ok_or_else(|| KmsError::Internal("The audit trail's tail row is missing".into()))?;
    tail_from(&row, 0)
}

/// What [`append_after`] did.
enum Appended {
    /// The records are in and the tail moved to the last of them.
    Done,
    /// The tail was not where the caller saw it; nothing was written. This is the tail as the
    /// statement saw it (it may already be stale again).
    Moved(AuditTail),
}

/// Appends consecutive records after the tail `tail`, moves the tail to the last of them and,
/// if given, sets the anchored head, in one statement (one round trip): only if the stored
/// tail is still `tail`, else nothing is written. Refuses records that are not the next
/// sequence numbers.
fn append_after<C: GenericClient>(
    s: &mut Session<'_, C>,
    tail: AuditTail,
    records: &[StoredAuditRecord],
    head: Option<&str>,
) -> KmsResult<Appended> {
    let Some(last) = records.last() else {
        return Ok(Appended::Done);
    };
    let last_seq = tail.map_or(0, |(seq, _)| seq);
    for (i, record) in records.iter().enumerate() {
        let expected = last_seq + 1 + i as u64;
        if record.seq != expected {
            return Err(KmsError::Internal(format!(
                "Audit record {} does not follow {}",
                record.seq,
                expected - 1
            )));
        }
    }
    let seqs: Vec<i64> = records.iter().map(|r| to_i64(r.seq)).collect();
    let events: Vec<&str> = records.iter().map(|r| r.event_json.as_str()).collect();
    let hashes: Vec<&[u8]> = records.iter().map(|r| r.hash.as_slice()).collect();
    // Statements in WITH run once each, whether or not the main query reads them; the inserts
    // happen only if the tail moved from where the caller saw it (re-checked by PostgreSQL
    // after waiting for another appender's lock on the row).
    let row = s
        .row(
            "WITH moved AS (
                 UPDATE audit_tail SET seq = $2, hash = $3 WHERE id = 0 AND seq = $1 RETURNING 1
             ), appended AS (
                 INSERT INTO audit_log (seq, event, hash)
                 SELECT * FROM unnest($4::bigint[], $5::text[], $6::bytea[])
                 WHERE EXISTS (SELECT 1 FROM moved)
             ), anchored AS (
                 INSERT INTO meta (name, value)
                 SELECT $7, $8 WHERE $8::text IS NOT NULL AND EXISTS (SELECT 1 FROM moved)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value
             )
             SELECT (SELECT count(*) FROM moved), seq, hash FROM audit_tail WHERE id = 0",
            &[
                &to_i64(last_seq),
                &to_i64(last.seq),
                &last.hash.as_slice(),
                &seqs,
                &events,
                &hashes,
                &store::AUDIT_HEAD_META,
                &head,
            ],
        )?
        .ok_or_else(|| KmsError::Internal("The audit trail's tail row is missing".into()))?;
    if row.get::<_, i64>(0) == 1 {
        return Ok(Appended::Done);
    }
    Ok(Appended::Moved(tail_from(&row, 1)?))
}

/// The tail in columns `at` (sequence number) and `at + 1` (hash) of `row`.
fn tail_from(row: &Row, at: usize) -> KmsResult<AuditTail> {
    let seq = to_u64(row.get(at));
    if seq == 0 {
        return Ok(None);
    }
    let hash: Vec<u8> = row.get::<_, Option<Vec<u8>>>(at + 1).unwrap_or_default();
    let hash = hash
        .try_into()
        .map_err(|_| KmsError::Internal("The audit trail's tail hash is corrupt".into()))?;
    Ok(Some((seq, hash)))
}

/// [`append_after`] the tail locked in `s`'s transaction, which cannot have moved.
fn append_after_locked(
    s: &mut Session<'_, Transaction<'_>>,
    tail: AuditTail,
    records: &[StoredAuditRecord],
    head: Option<&str>,
) -> KmsResult<()> {
    match append_after(s, tail, records, head)? {
        Appended::Done => Ok(()),
        Appended::Moved(_) => Err(KmsError::Internal(
            "The audit trail's tail moved while it was locked".into(),
        )),
    }
}

fn set_meta_in<C: GenericClient>(s: &mut Session<'_, C>, name: &str, value: &str) -> KmsResult<()> {
    s.execute(
        "INSERT INTO meta (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        &[&name, &value],
    )
    .map(drop)
}

impl MetaStore for PostgresStore {
    fn meta(&self, name: &str) -> KmsResult<Option<String>> {
        self.read(|s| {
            Ok(s.row("SELECT value FROM meta WHERE name = $1", &[&name])?
                .map(|row| row.get(0)))
        })
    }

    fn generation(&self) -> KmsResult<Option<u64>> {
        self.read(|s| {
            let row = s
                .row("SELECT value FROM generation WHERE id = 0", &[])?
                .ok_or_else(|| {
                    KmsError::Internal("The vault's generation row is missing".into())
                })?;
            Ok(Some(to_u64(row.get(0))))
        })
    }

    fn set_meta(&self, name: &str, value: &str) -> KmsResult<()> {
        self.read(|s| set_meta_in(s, name, value))
    }

    fn change_feed(&self) -> KmsResult<Option<Box<dyn ChangeFeed>>> {
        let mut client = connect(&self.pool.url)?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(db_error)?;
        Ok(Some(Box::new(Listener { client })))
    }
}

/// A connection that listens to [`CHANNEL`].
struct Listener {
    client: Client,
}

impl ChangeFeed for Listener {
    fn wait(&mut self, timeout: Duration) -> KmsResult<bool> {
        let first = self
            .client
            .notifications()
            .timeout_iter(timeout)
            .next()
            .map_err(db_error)?;
        if first.is_none() {
            if self.client.is_closed() {
                return Err(KmsError::Internal(
                    "The PostgreSQL notification connection closed".into(),
                ));
            }
            return Ok(false);
        }
        // Notices that arrived together are one change to the reader.
        let mut notifications = self.client.notifications();
        let mut pending = notifications.iter();
        while pending.next().map_err(db_error)?.is_some() {}
        Ok(true)
    }
}

impl KeyStore for PostgresStore {
    fn insert_key(&self, key: &KeyRecord, first_version: Option<&SealedVersion>) -> KmsResult<()> {
        if let Some(first_version) = first_version {
            check_same_key(key, first_version)?;
        }
        self.write(|s| {
            lock_key_id(s, &key.key_id)?;
            insert_record(s, key, false)?;
            first_version.map_or(Ok(()), |v| insert_version(s, v))
        })
    }

    fn insert_replica(&self, key: &KeyRecord) -> KmsResult<()> {
        self.write(|s| {
            lock_key_id(s, &key.key_id)?;
            if !key_exists(s, None, &key.key_id)? {
                return Err(KmsError::key_not_found(key.key_id));
            }
            insert_record(s, key, true)
        })
    }

    fn key(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyRecord>> {
        self.read(|s| {
            s.row(
                "SELECT key_id, record FROM keys WHERE region = $1 AND key_id = $2",
                &[&region, &key_id.to_string()],
            )?
            .map(|row| key_from_row(&row))
            .transpose()
        })
    }

    fn related_keys(&self, key_id: &KeyId) -> KmsResult<Vec<KeyRecord>> {
        self.read(|s| {
            s.rows(
                "SELECT key_id, record FROM keys WHERE key_id = $1 ORDER BY region",
                &[&key_id.to_string()],
            )?
            .iter()
            .map(key_from_row)
            .collect()
        })
    }

    fn key_count(&self, region: &str) -> KmsResult<u64> {
        self.read(|s| {
            let row = s.row("SELECT count(*) FROM keys WHERE region = $1", &[&region])?;
            Ok(row.map_or(0, |r| to_u64(r.get(0))))
        })
    }

    fn keys_after(
        &self,
        region: &str,
        after: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<KeyRecord>> {
        let after = after.map(KeyId::to_string).unwrap_or_default();
        self.read(|s| {
            s.rows(
                "SELECT key_id, record FROM keys WHERE region = $1 AND key_id > $2
                 ORDER BY key_id LIMIT $3",
                &[&region, &after, &to_i64(limit as u64)],
            )?
            .iter()
            .map(key_from_row)
            .collect()
        })
    }

    fn update_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
        self.read(|s| replace_record(s, key))
    }

    fn update_keys(&self, keys: &[KeyRecord]) -> KmsResult<Swap> {
        // Rows are locked in one order, so two writers of overlapping sets cannot deadlock.
        let mut ordered: Vec<&KeyRecord> = keys.iter().collect();
        ordered.sort_by(|a, b| (&a.region, a.key_id).cmp(&(&b.region, b.key_id)));
        self.write(|s| {
            for key in &ordered {
                let row = s.row(
                    "SELECT revision FROM keys WHERE region = $1 AND key_id = $2 FOR UPDATE",
                    &[&key.region, &key.key_id.to_string()],
                )?;
                match row.map(|r| to_u64(r.get(0))) {
                    None => return Err(KmsError::key_not_found(key.key_id)),
                    Some(revision) if revision != key.revision => return Ok(Swap::Stale),
                    Some(_) => {}
                }
            }
            for key in &ordered {
                if replace_record(s, key)? == Swap::Stale {
                    return Err(KmsError::Internal(format!(
                        "Key {} changed inside its own transaction",
                        key.key_id
                    )));
                }
            }
            Ok(Swap::Done)
        })
    }

    fn add_version(&self, key: &KeyRecord, version: &SealedVersion) -> KmsResult<Swap> {
        check_same_key(key, version)?;
        self.write(|s| {
            if replace_record(s, key)? == Swap::Stale {
                return Ok(Swap::Stale);
            }
            insert_version(s, version)?;
            Ok(Swap::Done)
        })
    }

    fn replace_versions(&self, key: &KeyRecord, versions: &[SealedVersion]) -> KmsResult<Swap> {
        for version in versions {
            check_same_key(key, version)?;
        }
        self.write(|s| {
            if replace_record(s, key)? == Swap::Stale {
                return Ok(Swap::Stale);
            }
            s.execute(
                "DELETE FROM key_versions WHERE key_id = $1",
                &[&key.key_id.to_string()],
            )?;
            for version in versions {
                insert_version(s, version)?;
            }
            Ok(Swap::Done)
        })
    }

    fn version(&self, key_id: &KeyId, version: u32) -> KmsResult<Option<SealedVersion>> {
        self.read(|s| {
            s.row(
                "SELECT key_id, version, material_id, created_at, rotation_type, sealed_material
                 FROM key_versions WHERE key_id = $1 AND version = $2",
                &[&key_id.to_string(), &i64::from(version)],
            )?
            .map(|row| version_from_row(&row))
            .transpose()
        })
    }

    fn versions(&self, key_id: &KeyId) -> KmsResult<Vec<SealedVersion>> {
        self.read(|s| {
            s.rows(
                "SELECT key_id, version, material_id, created_at, rotation_type, sealed_material
                 FROM key_versions WHERE key_id = $1 ORDER BY version",
                &[&key_id.to_string()],
            )?
            .iter()
            .map(version_from_row)
            .collect()
        })
    }

    fn delete_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
        let key_id = key.key_id.to_string();
        self.write(|s| {
            lock_key_id(s, &key.key_id)?;
            // Aliases and grants go with the key through ON DELETE CASCADE.
            let deleted = s.execute(
                "DELETE FROM keys WHERE region = $1 AND key_id = $2 AND revision = $3",
                &[&key.region, &key_id, &to_i64(key.revision)],
            )?;
            if deleted == 0 {
                return if key_exists(s, Some(&key.region), &key.key_id)? {
                    Ok(Swap::Stale)
                } else {
                    Err(KmsError::key_not_found(key.key_id))
                };
            }
            s.execute(
                "DELETE FROM policy_plugins WHERE scope = $1",
                &[&PluginScope::of_key(key).as_stored()],
            )?;
            // Material belongs to the key id, which related keys share.
            if !key_exists(s, None, &key.key_id)? {
                s.execute("DELETE FROM key_versions WHERE key_id = $1", &[&key_id])?;
            }
            Ok(Swap::Done)
        })
    }

    fn keys_due(&self, now: u64) -> KmsResult<Vec<(String, KeyId)>> {
        self.read(|s| {
            s.rows(
                "SELECT region, key_id FROM keys WHERE due_at IS NOT NULL AND due_at <= $1
                 ORDER BY region, key_id",
                &[&to_i64(now)],
            )?
            .iter()
            .map(|row| Ok((row.get(0), parse_key_id(row.get(1))?)))
            .collect()
        })
    }
}

impl AliasStore for PostgresStore {
    fn insert_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        self.read(|s| {
            let result = s.try_execute(
                "INSERT INTO aliases (region, name, key_id, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &alias.region,
                    &alias.name,
                    &alias.key_id.to_string(),
                    &to_i64(alias.created_at),
                    &to_i64(alias.updated_at),
                ],
            );
            inserted(
                result,
                || {
                    KmsError::AlreadyExists(format!(
                        "An alias with the name {} already exists",
                        alias.name
                    ))
                },
                || KmsError::key_not_found(alias.key_id),
            )
        })
    }

    fn update_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        self.read(|s| {
            // The creation time is the alias's, not the caller's to change.
            let result = s.try_execute(
                "UPDATE aliases SET key_id = $3, updated_at = $4 WHERE region = $1 AND name = $2",
                &[
                    &alias.region,
                    &alias.name,
                    &alias.key_id.to_string(),
                    &to_i64(alias.updated_at),
                ],
            );
            match result {
                Ok(0) => Err(KmsError::alias_not_found(&alias.name)),
                Ok(_) => Ok(()),
                Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => {
                    Err(KmsError::key_not_found(alias.key_id))
                }
                Err(e) => Err(db_error(e)),
            }
        })
    }

    fn delete_alias(&self, region: &str, name: &str) -> KmsResult<()> {
        self.read(|s| {
            match s.execute(
                "DELETE FROM aliases WHERE region = $1 AND name = $2",
                &[&region, &name],
            )? {
                0 => Err(KmsError::alias_not_found(name)),
                _ => Ok(()),
            }
        })
    }

    fn alias(&self, region: &str, name: &str) -> KmsResult<Option<AliasRecord>> {
        self.read(|s| {
            s.row(
                "SELECT region, name, key_id, created_at, updated_at FROM aliases
                 WHERE region = $1 AND name = $2",
                &[&region, &name],
            )?
            .map(|row| alias_from_row(&row))
            .transpose()
        })
    }

    fn aliases_after(
        &self,
        region: &str,
        after: Option<&str>,
        key_id: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<AliasRecord>> {
        let key_id = key_id.map(KeyId::to_string);
        self.read(|s| {
            s.rows(
                "SELECT region, name, key_id, created_at, updated_at FROM aliases
                 WHERE region = $1 AND name > $2 AND ($3::text IS NULL OR key_id = $3)
                 ORDER BY name LIMIT $4",
                &[
                    &region,
                    &after.unwrap_or(""),
                    &key_id,
                    &to_i64(limit as u64),
                ],
            )?
            .iter()
            .map(alias_from_row)
            .collect()
        })
    }
}

impl AuditStore for PostgresStore {
    fn append_audit(&self, record: &StoredAuditRecord) -> KmsResult<()> {
        self.append_audit_batch(std::slice::from_ref(record), None)
    }

    fn append_audit_anchored(&self, record: &StoredAuditRecord, head: &str) -> KmsResult<()> {
        self.append_audit_batch(std::slice::from_ref(record), Some(head))
    }

    fn append_audit_batch(
        &self,
        records: &[StoredAuditRecord],
        head: Option<&str>,
    ) -> KmsResult<()> {
        self.write(|s| {
            let tail = lock_audit_tail(s)?;
            append_after_locked(s, tail, records, head)
        })
    }

    /// With a `hint` (the tail this node wrote last), one statement appends if no other node
    /// appended since: one round trip, its commit included. When another node did, the batch
    /// is built again on the tail that statement saw, a few times; then on the tail locked in
    /// a transaction (appenders queue on the lock in turn, so none starves).
    fn append_audit_chained(
        &self,
        hint: AuditTail,
        build: &dyn Fn(AuditTail) -> AuditBatch,
    ) -> KmsResult<AuditBatch> {
        let mut seen = hint.map(Some);
        for _ in 0..OPTIMISTIC_APPENDS {
            let Some(tail) = seen else {
                break;
            };
            let batch = build(tail);
            match self.read(|s| append_after(s, tail, &batch.records, batch.head.as_deref()))? {
                Appended::Done => return Ok(batch),
                Appended::Moved(now) => seen = Some(now),
            }
        }
        self.write(|s| {
            let tail = lock_audit_tail(s)?;
            let batch = build(tail);
            append_after_locked(s, tail, &batch.records, batch.head.as_deref())?;
            Ok(batch)
        })
    }

    fn last_audit(&self) -> KmsResult<Option<StoredAuditRecord>> {
        self.read(|s| {
            s.row(
                "SELECT seq, event, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                &[],
            )?
            .map(|row| audit_from_row(&row))
            .transpose()
        })
    }

    fn audit_after(&self, after: u64, limit: usize) -> KmsResult<Vec<StoredAuditRecord>> {
        self.read(|s| {
            s.rows(
                "SELECT seq, event, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&to_i64(after), &to_i64(limit as u64)],
            )?
            .iter()
            .map(audit_from_row)
            .collect()
        })
    }
}

impl PluginStore for PostgresStore {
    fn put_plugin(&self, plugin: &PluginAttachment) -> KmsResult<()> {
        let config = serde_json::to_string(&plugin.config)
            .map_err(|e| KmsError::Internal(format!("plugin settings: {e}")))?;
        self.write(|s| {
            // The key row stays locked (against its deletion) until the plugin is in.
            if let PluginScope::Key { region, key_id } = &plugin.scope
                && !s.exists(
                    "SELECT 1 FROM keys WHERE region = $1 AND key_id = $2 FOR SHARE",
                    &[region, &key_id.to_string()],
                )?
            {
                return Err(KmsError::key_not_found(key_id));
            }
            s.execute(
                "INSERT INTO policy_plugins (scope, name, digest, config, attached_at, component)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (scope, name) DO UPDATE SET digest = excluded.digest,
                     config = excluded.config, attached_at = excluded.attached_at,
                     component = excluded.component",
                &[
                    &plugin.scope.as_stored(),
                    &plugin.name,
                    &plugin.digest,
                    &config,
                    &to_i64(plugin.attached_at),
                    &plugin.component,
                ],
            )
            .map(drop)
        })
    }

    fn delete_plugin(&self, scope: &PluginScope, name: &str) -> KmsResult<()> {
        self.read(|s| {
            match s.execute(
                "DELETE FROM policy_plugins WHERE scope = $1 AND name = $2",
                &[&scope.as_stored(), &name],
            )? {
                0 => Err(store::missing_plugin(scope, name)),
                _ => Ok(()),
            }
        })
    }

    fn plugins(&self, scope: &PluginScope) -> KmsResult<Vec<PluginAttachment>> {
        self.read(|s| {
            s.rows(
                "SELECT scope, name, digest, config, attached_at, component FROM policy_plugins
                 WHERE scope = $1 ORDER BY name",
                &[&scope.as_stored()],
            )?
            .iter()
            .map(|row| {
                Ok(PluginAttachment {
                    scope: PluginScope::from_stored(row.get(0))?,
                    name: row.get(1),
                    digest: row.get(2),
                    config: serde_json::from_str(row.get(3))
                        .map_err(|e| KmsError::Internal(format!("plugin settings: {e}")))?,
                    attached_at: to_u64(row.get(4)),
                    component: row.get(5),
                })
            })
            .collect()
        })
    }
}

fn access_key_status_name(status: AccessKeyStatus) -> &'static str {
    match status {
        AccessKeyStatus::Active => "Active",
        AccessKeyStatus::Inactive => "Inactive",
    }
}

fn access_key_from_row(row: &Row) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: row.get(0),
        principal_arn: row.get(1),
        status: if row.get::<_, &str>(2) == "Active" {
            AccessKeyStatus::Active
        } else {
            AccessKeyStatus::Inactive
        },
        created_at: to_u64(row.get(3)),
        sealed_secret: row.get(4),
    }
}

impl IdentityStore for PostgresStore {
    fn insert_account(&self, account: &AccountRecord) -> KmsResult<()> {
        let json = to_json("account", account)?;
        self.read(|s| {
            inserted(
                s.try_execute(
                    "INSERT INTO accounts (account_id, record) VALUES ($1, $2)",
                    &[&account.account_id, &json],
                ),
                || {
                    KmsError::AlreadyExists(format!(
                        "Account {} already exists",
                        account.account_id
                    ))
                },
                || KmsError::Internal("accounts have no foreign key".into()),
            )
        })
    }

    fn accounts(&self) -> KmsResult<Vec<AccountRecord>> {
        self.read(|s| {
            json_records(
                "an account",
                s.rows("SELECT record FROM accounts ORDER BY account_id", &[])?,
            )
        })
    }

    fn insert_principal(&self, principal: &PrincipalRecord) -> KmsResult<()> {
        let json = to_json("principal", principal)?;
        self.read(|s| {
            inserted(
                s.try_execute(
                    "INSERT INTO principals (arn, account, revision, record)
                     VALUES ($1, $2, $3, $4)",
                    &[
                        &principal.arn,
                        &principal.account,
                        &to_i64(principal.revision),
                        &json,
                    ],
                ),
                || {
                    KmsError::AlreadyExists(format!(
                        "The principal '{}' already exists",
                        principal.arn
                    ))
                },
                || KmsError::account_not_found(&principal.account),
            )
        })
    }

    fn update_principal(&self, principal: &PrincipalRecord) -> KmsResult<Swap> {
        let next = PrincipalRecord {
            revision: principal.revision + 1,
            ..principal.clone()
        };
        let json = to_json("principal", &next)?;
        self.read(|s| {
            let changed = s.execute(
                "UPDATE principals SET revision = $3, record = $4 WHERE arn = $1 AND revision = $2",
                &[
                    &principal.arn,
                    &to_i64(principal.revision),
                    &to_i64(next.revision),
                    &json,
                ],
            )?;
            if changed == 1 {
                Ok(Swap::Done)
            } else if s.exists("SELECT 1 FROM principals WHERE arn = $1", &[&principal.arn])? {
                Ok(Swap::Stale)
            } else {
                Err(KmsError::principal_not_found(&principal.arn))
            }
        })
    }

    fn delete_principal(&self, arn: &str) -> KmsResult<()> {
        // Its access keys go with it through ON DELETE CASCADE.
        self.read(
            |s| match s.execute("DELETE FROM principals WHERE arn = $1", &[&arn])? {
                0 => Err(KmsError::principal_not_found(arn)),
                _ => Ok(()),
            },
        )
    }

    fn principal(&self, arn: &str) -> KmsResult<Option<PrincipalRecord>> {
        self.read(|s| {
            s.row("SELECT record FROM principals WHERE arn = $1", &[&arn])?
                .map(|row| from_json(arn, row.get::<_, &str>(0)))
                .transpose()
        })
    }

    fn principals(&self, account: &str) -> KmsResult<Vec<PrincipalRecord>> {
        self.read(|s| {
            json_records(
                "a principal",
                s.rows(
                    "SELECT record FROM principals WHERE account = $1 ORDER BY arn",
                    &[&account],
                )?,
            )
        })
    }

    fn insert_access_key(&self, key: &AccessKeyRecord, max_per_principal: usize) -> KmsResult<()> {
        self.write(|s| {
            // The principal's row stays locked until the key is in: two nodes adding keys to
            // one principal count one after the other.
            if !s.exists(
                "SELECT 1 FROM principals WHERE arn = $1 FOR UPDATE",
                &[&key.principal_arn],
            )? {
                return Err(KmsError::principal_not_found(&key.principal_arn));
            }
            let held = s
                .row(
                    "SELECT count(*) FROM access_keys WHERE principal_arn = $1",
                    &[&key.principal_arn],
                )?
                .map_or(0, |r| to_u64(r.get(0)));
            if usize::try_from(held).unwrap_or(usize::MAX) >= max_per_principal {
                return Err(store::too_many_access_keys(
                    &key.principal_arn,
                    max_per_principal,
                ));
            }
            inserted(
                s.try_execute(
                    "INSERT INTO access_keys
                     (access_key_id, principal_arn, status, created_at, sealed_secret)
                 VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &key.access_key_id,
                        &key.principal_arn,
                        &access_key_status_name(key.status),
                        &to_i64(key.created_at),
                        &key.sealed_secret,
                    ],
                ),
                || {
                    KmsError::AlreadyExists(format!(
                        "The access key '{}' already exists",
                        key.access_key_id
                    ))
                },
                || KmsError::principal_not_found(&key.principal_arn),
            )
        })
    }

    fn set_access_key_status(&self, access_key_id: &str, status: AccessKeyStatus) -> KmsResult<()> {
        self.read(|s| {
            match s.execute(
                "UPDATE access_keys SET status = $2 WHERE access_key_id = $1",
                &[&access_key_id, &access_key_status_name(status)],
            )? {
                0 => Err(KmsError::access_key_not_found(access_key_id)),
                _ => Ok(()),
            }
        })
    }

    fn delete_access_key(&self, access_key_id: &str) -> KmsResult<()> {
        self.read(|s| {
            match s.execute(
                "DELETE FROM access_keys WHERE access_key_id = $1",
                &[&access_key_id],
            )? {
                0 => Err(KmsError::access_key_not_found(access_key_id)),
                _ => Ok(()),
            }
        })
    }

    fn access_key(&self, access_key_id: &str) -> KmsResult<Option<AccessKeyRecord>> {
        self.read(|s| {
            Ok(s.row(
                "SELECT access_key_id, principal_arn, status, created_at, sealed_secret
                 FROM access_keys WHERE access_key_id = $1",
                &[&access_key_id],
            )?
            .map(|row| access_key_from_row(&row)))
        })
    }

    fn access_keys(&self, principal_arn: &str) -> KmsResult<Vec<AccessKeyRecord>> {
        self.read(|s| {
            Ok(s.rows(
                "SELECT access_key_id, principal_arn, status, created_at, sealed_secret
                 FROM access_keys WHERE principal_arn = $1 ORDER BY created_at, access_key_id",
                &[&principal_arn],
            )?
            .iter()
            .map(access_key_from_row)
            .collect())
        })
    }
}

impl GrantStore for PostgresStore {
    fn insert_grant(&self, grant: &GrantRecord) -> KmsResult<()> {
        let json = to_json("grant", grant)?;
        self.read(|s| {
            inserted(
                s.try_execute(
                    "INSERT INTO grants
                         (grant_id, region, key_id, retiring_principal, created_at, record)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &grant.grant_id,
                        &grant.region,
                        &grant.key_id.to_string(),
                        &grant.retiring_principal,
                        &to_i64(grant.created_at),
                        &json,
                    ],
                ),
                || KmsError::AlreadyExists(format!("Grant '{}' already exists", grant.grant_id)),
                || KmsError::key_not_found(grant.key_id),
            )
        })
    }

    fn delete_grant(&self, grant_id: &str) -> KmsResult<()> {
        self.read(
            |s| match s.execute("DELETE FROM grants WHERE grant_id = $1", &[&grant_id])? {
                0 => Err(KmsError::grant_not_found(grant_id)),
                _ => Ok(()),
            },
        )
    }

    fn grant(&self, grant_id: &str) -> KmsResult<Option<GrantRecord>> {
        self.read(|s| {
            s.row(
                "SELECT record FROM grants WHERE grant_id = $1",
                &[&grant_id],
            )?
            .map(|row| from_json(grant_id, row.get::<_, &str>(0)))
            .transpose()
        })
    }

    fn grants(&self, region: &str, key_id: &KeyId) -> KmsResult<Vec<GrantRecord>> {
        self.read(|s| {
            json_records(
                "a grant",
                s.rows(
                    "SELECT record FROM grants WHERE region = $1 AND key_id = $2
                     ORDER BY created_at, grant_id",
                    &[&region, &key_id.to_string()],
                )?,
            )
        })
    }

    fn retirable_grants(&self, principal: &str) -> KmsResult<Vec<GrantRecord>> {
        self.read(|s| {
            json_records(
                "a grant",
                s.rows(
                    "SELECT record FROM grants WHERE retiring_principal = $1
                     ORDER BY created_at, grant_id",
                    &[&principal],
                )?,
            )
        })
    }
}

/// Maps a failed write of a custom key store: its name or its id taken.
fn custom_key_store_written(
    result: Result<u64, postgres::Error>,
    store: &CustomKeyStoreRecord,
) -> KmsResult<u64> {
    match result {
        Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => {
            let on_name = e
                .as_db_error()
                .and_then(|db| db.constraint())
                .is_some_and(|c| c == "custom_key_stores_name");
            Err(if on_name {
                custom_key_store::name_in_use(&store.name)
            } else {
                KmsError::AlreadyExists(format!("Custom key store '{}' already exists", store.id))
            })
        }
        other => other.map_err(db_error),
    }
}

impl CustomKeyStoreStore for PostgresStore {
    fn insert_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<()> {
        let json = to_json("a custom key store", store)?;
        self.read(|s| {
            let result = s.try_execute(
                "INSERT INTO custom_key_stores (region, id, name, revision, record)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &store.region,
                    &store.id,
                    &store.name,
                    &to_i64(store.revision),
                    &json,
                ],
            );
            custom_key_store_written(result, store).map(drop)
        })
    }

    fn custom_key_store(&self, region: &str, id: &str) -> KmsResult<Option<CustomKeyStoreRecord>> {
        self.read(|s| {
            s.row(
                "SELECT record FROM custom_key_stores WHERE region = $1 AND id = $2",
                &[&region, &id],
            )?
            .map(|row| from_json(id, row.get::<_, &str>(0)))
            .transpose()
        })
    }

    fn custom_key_stores(&self, region: &str) -> KmsResult<Vec<CustomKeyStoreRecord>> {
        self.read(|s| {
            json_records(
                "a custom key store",
                s.rows(
                    "SELECT record FROM custom_key_stores WHERE region = $1 ORDER BY id",
                    &[&region],
                )?,
            )
        })
    }

    fn update_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
        let next = CustomKeyStoreRecord {
            revision: store.revision + 1,
            ..store.clone()
        };
        let json = to_json("a custom key store", &next)?;
        self.read(|s| {
            let result = s.try_execute(
                "UPDATE custom_key_stores SET name = $3, revision = $5, record = $6
                 WHERE region = $1 AND id = $2 AND revision = $4",
                &[
                    &store.region,
                    &store.id,
                    &store.name,
                    &to_i64(store.revision),
                    &to_i64(next.revision),
                    &json,
                ],
            );
            if custom_key_store_written(result, store)? == 1 {
                return Ok(Swap::Done);
            }
            custom_key_store_swap_missed(s, store)
        })
    }

    fn delete_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
        self.read(|s| {
            let deleted = s.execute(
                "DELETE FROM custom_key_stores WHERE region = $1 AND id = $2 AND revision = $3",
                &[&store.region, &store.id, &to_i64(store.revision)],
            )?;
            if deleted == 1 {
                return Ok(Swap::Done);
            }
            custom_key_store_swap_missed(s, store)
        })
    }
}

/// A compare-and-swap on a custom key store that changed nothing: stale if it is still there.
fn custom_key_store_swap_missed(
    s: &mut Session<'_, Client>,
    store: &CustomKeyStoreRecord,
) -> KmsResult<Swap> {
    if s.exists(
        "SELECT 1 FROM custom_key_stores WHERE region = $1 AND id = $2",
        &[&store.region, &store.id],
    )? {
        Ok(Swap::Stale)
    } else {
        Err(custom_key_store::store_not_found(&store.id))
    }
}

impl KeyUsageStore for PostgresStore {
    fn record_key_uses(&self, uses: &[KeyLastUse]) -> KmsResult<()> {
        self.write(|s| {
            for key_use in uses {
                // The later use wins, whichever node writes first.
                s.execute(
                    "INSERT INTO key_last_use (region, key_id, at, audit_seq, record)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (region, key_id) DO UPDATE SET
                         at = excluded.at, audit_seq = excluded.audit_seq, record = excluded.record
                     WHERE (excluded.at, excluded.audit_seq)
                         > (key_last_use.at, key_last_use.audit_seq)",
                    &[
                        &key_use.region,
                        &key_use.key_id.to_string(),
                        &to_i64(key_use.at),
                        &to_i64(key_use.audit_seq),
                        &to_json("a key use", key_use)?,
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn key_last_use(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyLastUse>> {
        self.read(|s| {
            s.row(
                "SELECT record FROM key_last_use WHERE region = $1 AND key_id = $2",
                &[&region, &key_id.to_string()],
            )?
            .map(|row| {
                from_json(
                    &format!("the last use of key {key_id}"),
                    row.get::<_, &str>(0),
                )
            })
            .transpose()
        })
    }
}

/// For test suites: the PostgreSQL server to run against, and a scratch schema per test.
pub mod testing {
    use std::io::Write;
    use std::sync::Once;

    use super::{Client, NoTls, db_error};
    use kms_core::error::KmsResult;

    /// The server named by `KMS_TEST_POSTGRES` (a `postgres://` URL that may create schemas).
    /// Without it, PostgreSQL tests are skipped, which is said once per test binary on the
    /// terminal (past the test harness's capture) — unless `KMS_CI` is set: CI always runs
    /// them, and `.ci/run` starts the server, so there a missing server fails the test.
    pub fn test_server() -> Option<String> {
        match std::env::var("KMS_TEST_POSTGRES") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                assert!(
                    std::env::var_os("KMS_CI").is_none(),
                    "KMS_CI is set but KMS_TEST_POSTGRES is not: CI runs the PostgreSQL tests \
                     (.ci/run starts a server and sets it)"
                );
                static SAID: Once = Once::new();
                SAID.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: PostgreSQL tests skipped: no server (set KMS_TEST_POSTGRES=\
                         postgres://user@host:port/db to run them; .ci/run starts one)"
                    );
                });
                None
            }
        }
    }

    /// A schema of its own on the test server, dropped with everything in it when this is.
    #[derive(Debug)]
    pub struct ScratchSchema {
        server: String,
        schema: String,
        url: String,
    }

    impl ScratchSchema {
        /// Creates an empty schema with a random name on `server`.
        pub fn create(server: &str) -> KmsResult<Self> {
            let mut name = [0u8; 8];
            kms_crypto::fill_random(&mut name)?;
            let schema = format!("kms_test_{}", hex::encode(name));
            let mut admin = Client::connect(server, NoTls).map_err(db_error)?;
            admin
                .batch_execute(&format!("CREATE SCHEMA {schema}"))
                .map_err(db_error)?;
            let separator = if server.contains('?') { '&' } else { '?' };
            Ok(ScratchSchema {
                url: format!("{server}{separator}options=-csearch_path%3D{schema}"),
                server: server.to_string(),
                schema,
            })
        }

        /// The URL of the server with this schema as the search path: a vault opened on it
        /// keeps its tables here.
        pub fn url(&self) -> &str {
            &self.url
        }
    }

    impl Drop for ScratchSchema {
        fn drop(&mut self) {
            if let Ok(mut admin) = Client::connect(&self.server, NoTls) {
                let _ = admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::testing::{ScratchSchema, test_server};
    use super::*;
    use crate::Store;
    use crate::conformance::{R, audit_record, key_record, sealed_version};
    use kms_core::types::Tag;

    fn run(test: fn(&dyn Store)) {
        let Some(server) = test_server() else {
            return;
        };
        let scratch = ScratchSchema::create(&server).unwrap();
        test(&PostgresStore::open(scratch.url()).unwrap());
    }

    /// The shared store specification, against a real PostgreSQL server.
    mod on_server {
        crate::conformance::store_conformance_tests!(super::run);
    }

    /// Two stores on one schema: what two nodes of a cluster hold.
    fn two_nodes() -> Option<(ScratchSchema, Arc<PostgresStore>, Arc<PostgresStore>)> {
        let scratch = ScratchSchema::create(&test_server()?).unwrap();
        let a = Arc::new(PostgresStore::open(scratch.url()).unwrap());
        let b = Arc::new(PostgresStore::open(scratch.url()).unwrap());
        Some((scratch, a, b))
    }

    #[test]
    fn nodes_opening_a_new_database_together_create_the_schema_once() {
        let Some(server) = test_server() else {
            return;
        };
        let scratch = ScratchSchema::create(&server).unwrap();
        let barrier = Arc::new(Barrier::new(4));
        let opened: Vec<_> = (0..4)
            .map(|_| {
                let (url, barrier) = (scratch.url().to_string(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    PostgresStore::open(&url).map(drop)
                })
            })
            .collect();
        for node in opened {
            node.join().unwrap().unwrap();
        }
        let store = PostgresStore::open(scratch.url()).unwrap();
        let version: i32 = store
            .read(|s| {
                Ok(s.row("SELECT version FROM kms_schema", &[])?
                    .unwrap()
                    .get(0))
            })
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let Some((scratch, a, _b)) = two_nodes() else {
            return;
        };
        a.read(|s| {
            s.execute("UPDATE kms_schema SET version = 99", &[])
                .map(drop)
        })
        .unwrap();
        let err = PostgresStore::open(scratch.url()).unwrap_err();
        assert!(err.message().contains("newer"), "{err:?}");
    }

    #[test]
    fn concurrent_read_modify_writes_on_two_nodes_lose_no_update() {
        let Some((scratch, a, b)) = two_nodes() else {
            return;
        };
        let id = KeyId::random();
        a.insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        // Each writer adds its own tags one at a time, re-reading after every stale write.
        let writers: Vec<_> = [a.clone(), b.clone(), a, b]
            .into_iter()
            .enumerate()
            .map(|(n, store)| {
                std::thread::spawn(move || {
                    let mut stale = 0;
                    for i in 0..15 {
                        loop {
                            let mut key = store.key(R, &id).unwrap().unwrap();
                            key.tags.push(Tag {
                                tag_key: format!("w{n}-{i}"),
                                tag_value: String::new(),
                            });
                            match store.update_key(&key).unwrap() {
                                Swap::Done => break,
                                Swap::Stale => stale += 1,
                            }
                        }
                    }
                    stale
                })
            })
            .collect();
        let stale: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let key = PostgresStore::open(scratch.url())
            .unwrap()
            .key(R, &id)
            .unwrap()
            .unwrap();
        // Two tags from the fixture, and all sixty written.
        assert_eq!(key.tags.len(), 2 + 60, "{stale} stale writes were retried");
        assert_eq!(key.revision, 60);
    }

    #[test]
    fn an_alias_created_on_two_nodes_at_once_exists_once() {
        let Some((_scratch, a, b)) = two_nodes() else {
            return;
        };
        for round in 0..10 {
            let (first, second) = (KeyId::random(), KeyId::random());
            a.insert_key(&key_record(first), Some(&sealed_version(first, 1)))
                .unwrap();
            b.insert_key(&key_record(second), Some(&sealed_version(second, 1)))
                .unwrap();
            let name = format!("alias/race-{round}");
            let barrier = Arc::new(Barrier::new(2));
            let racers: Vec<_> = [(a.clone(), first), (b.clone(), second)]
                .into_iter()
                .map(|(store, target)| {
                    let (name, barrier) = (name.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        store.insert_alias(&AliasRecord {
                            region: R.into(),
                            name,
                            key_id: target,
                            created_at: 1,
                            updated_at: 1,
                        })
                    })
                })
                .collect();
            let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            assert_eq!(
                results.iter().filter(|r| r.is_ok()).count(),
                1,
                "{results:?}"
            );
            assert!(
                results
                    .iter()
                    .any(|r| matches!(r, Err(KmsError::AlreadyExists(_)))),
                "{results:?}"
            );
        }
    }

    #[test]
    fn chained_appends_from_two_nodes_make_one_gapless_chain() {
        let Some((_scratch, a, b)) = two_nodes() else {
            return;
        };
        // Each record's hash names its predecessor's, as the audit log's chain does.
        let link = |prev: &[u8; 32], seq: u64| {
            let mut hash = *prev;
            hash[0] = hash[0].wrapping_add(1);
            hash[1..9].copy_from_slice(&seq.to_be_bytes());
            hash
        };
        let appenders: Vec<_> = [a.clone(), b.clone(), a.clone(), b]
            .into_iter()
            .map(|store| {
                std::thread::spawn(move || {
                    // The tail this appender wrote last, as the audit log remembers it: stale
                    // whenever another appender came in between.
                    let mut hint = None;
                    for _ in 0..20 {
                        let written = store
                            .append_audit_chained(hint, &|tail| {
                                let (seq, prev) = tail.unwrap_or((0, [0; 32]));
                                let records: Vec<_> = (1..=3)
                                    .scan(prev, |prev, i| {
                                        let seq = seq + i;
                                        *prev = link(prev, seq);
                                        Some(StoredAuditRecord {
                                            seq,
                                            event_json: format!("{{\"seq\":{seq}}}"),
                                            hash: *prev,
                                        })
                                    })
                                    .collect();
                                AuditBatch {
                                    head: records.last().map(|r| r.seq.to_string()),
                                    records,
                                }
                            })
                            .unwrap();
                        let last = written.records.last().unwrap();
                        hint = Some((last.seq, last.hash));
                    }
                })
            })
            .collect();
        for appender in appenders {
            appender.join().unwrap();
        }
        let records = a.audit_after(0, 1000).unwrap();
        assert_eq!(records.len(), 4 * 20 * 3);
        let mut prev = [0u8; 32];
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.seq, i as u64 + 1);
            assert_eq!(
                record.hash,
                link(&prev, record.seq),
                "record {}",
                record.seq
            );
            prev = record.hash;
        }
        assert_eq!(
            a.meta(store::AUDIT_HEAD_META).unwrap().as_deref(),
            Some("240")
        );
        // A plain append must still follow the chained ones.
        assert!(a.append_audit(&audit_record(240)).is_err());
        a.append_audit(&audit_record(241)).unwrap();
    }

    #[test]
    fn the_change_feed_tells_of_another_nodes_change_at_once() {
        let Some((_scratch, a, b)) = two_nodes() else {
            return;
        };
        let mut feed = a.change_feed().unwrap().expect("PostgreSQL has a feed");
        assert!(
            !feed.wait(Duration::from_millis(50)).unwrap(),
            "nothing changed yet"
        );
        let id = KeyId::random();
        let before = a.generation().unwrap().unwrap();
        b.insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        let started = std::time::Instant::now();
        assert!(feed.wait(Duration::from_secs(5)).unwrap());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(a.generation().unwrap().unwrap() > before);
        // Audit records are not a change caches care about.
        b.append_audit(&audit_record(1)).unwrap();
        assert!(!feed.wait(Duration::from_millis(200)).unwrap());
    }

    #[test]
    fn an_unreachable_server_is_an_error_naming_it_without_its_password() {
        let err = PostgresStore::open("postgres://kms:secret@127.0.0.1:1/kms").unwrap_err();
        assert!(err.message().contains("127.0.0.1:1"), "{err:?}");
        assert!(!err.message().contains("secret"), "{err:?}");
        assert_eq!(
            redacted("postgres://kms:secret@db:5432/kms"),
            "postgres://kms:****@db:5432/kms"
        );
    }

    #[test]
    fn rows_are_paged_in_byte_order_whatever_the_locale() {
        let Some((_scratch, a, _b)) = two_nodes() else {
            return;
        };
        // Under a natural-language collation "alias/a-b" sorts after "alias/ab".
        let id = KeyId::random();
        a.insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        for name in ["alias/ab", "alias/a-b", "alias/B"] {
            a.insert_alias(&AliasRecord {
                region: R.into(),
                name: name.into(),
                key_id: id,
                created_at: 1,
                updated_at: 1,
            })
            .unwrap();
        }
        let names: Vec<String> = a
            .aliases_after(R, None, None, 10)
            .unwrap()
            .into_iter()
            .map(|alias| alias.name)
            .collect();
        assert_eq!(names, ["alias/B", "alias/a-b", "alias/ab"]);
    }
}
