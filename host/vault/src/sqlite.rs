//! The embedded default backend: one SQLite vault file, created on first use. Every multi-statement
//! change runs in one immediate transaction, so an interrupted write leaves the vault as it was.
//! Key records are stored as JSON (they hold no secrets); key material only ever arrives sealed.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, ffi, params};

use super::identity::{
    AccessKeyRecord, AccessKeyStatus, AccountRecord, GrantRecord, PrincipalRecord,
};
use super::store::{
    self, AliasRecord, AliasStore, AuditStore, GrantStore, IdentityStore, KeyRecord, KeyStore,
    MetaStore, PluginAttachment, PluginScope, PluginStore, SealedVersion, StoredAuditRecord, Swap,
    check_same_key,
};
use kms_core::error::{KmsError, KmsResult};
use kms_core::types::{KeyId, RotationType};

use super::custom_key_store::{self, CustomKeyStoreRecord, CustomKeyStoreStore};
use super::key_usage::{KeyLastUse, KeyUsageStore};

/// The schema, one step per `PRAGMA user_version`: step `i` takes a vault from version `i` to
/// `i + 1`. Steps are only ever appended, never edited, since vault files in the field ran them.
const MIGRATIONS: &[&str] = &[
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7, SCHEMA_V8,
];

const SCHEMA_V1: &str = "
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE keys (key_id TEXT PRIMARY KEY, due_at INTEGER, record TEXT NOT NULL);
CREATE INDEX keys_due_at ON keys(due_at) WHERE due_at IS NOT NULL;
CREATE TABLE key_versions (
    key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    material_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    rotation_type TEXT,
    sealed_material BLOB NOT NULL,
    PRIMARY KEY (key_id, version)
);
CREATE TABLE aliases (
    name TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX aliases_key_id ON aliases(key_id);
CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, event TEXT NOT NULL, hash BLOB NOT NULL);
";

/// Policy plugins attached to keys and accounts.
const SCHEMA_V2: &str = "
CREATE TABLE policy_plugins (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    config TEXT NOT NULL,
    attached_at INTEGER NOT NULL,
    component BLOB NOT NULL,
    PRIMARY KEY (scope, name)
);
";

/// Accounts, principals, access keys and grants.
const SCHEMA_V3: &str = "
CREATE TABLE accounts (account_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE principals (
    arn TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(account_id),
    record TEXT NOT NULL
);
CREATE INDEX principals_account ON principals(account);
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    principal_arn TEXT NOT NULL REFERENCES principals(arn) ON DELETE CASCADE,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    sealed_secret BLOB NOT NULL
);
CREATE INDEX access_keys_principal ON access_keys(principal_arn);
CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    retiring_principal TEXT,
    created_at INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX grants_key ON grants(key_id, created_at);
CREATE INDEX grants_retiring ON grants(retiring_principal) WHERE retiring_principal IS NOT NULL;
";

/// Regions: a key record is kept per (region, key id), so that related multi-Region keys share
/// an id; backing-key versions stay per key id (related keys share their material); aliases
/// and grants belong to a key in one region. Existing rows move to the region their key
/// record names. Dependent tables are dropped before `keys`, so that no cascade fires.
const SCHEMA_V4: &str = "
CREATE TABLE keys_v4 (
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    due_at INTEGER,
    record TEXT NOT NULL,
    PRIMARY KEY (region, key_id)
);
INSERT INTO keys_v4 (region, key_id, due_at, record)
    SELECT json_extract(record, '$.region'), key_id, due_at, record FROM keys;
CREATE TABLE key_versions_v4 (
    key_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    material_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    rotation_type TEXT,
    sealed_material BLOB NOT NULL,
    PRIMARY KEY (key_id, version)
);
INSERT INTO key_versions_v4 SELECT key_id, version, material_id, created_at, rotation_type,
    sealed_material FROM key_versions;
CREATE TABLE aliases_v4 (
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (region, name),
    FOREIGN KEY (region, key_id) REFERENCES keys_v4 (region, key_id) ON DELETE CASCADE
);
INSERT INTO aliases_v4 (region, name, key_id, created_at, updated_at)
    SELECT json_extract(k.record, '$.region'), a.name, a.key_id, a.created_at, a.updated_at
    FROM aliases a JOIN keys k ON k.key_id = a.key_id;
CREATE TABLE grants_v4 (
    grant_id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    retiring_principal TEXT,
    created_at INTEGER NOT NULL,
    record TEXT NOT NULL,
    FOREIGN KEY (region, key_id) REFERENCES keys_v4 (region, key_id) ON DELETE CASCADE
);
INSERT INTO grants_v4 (grant_id, region, key_id, retiring_principal, created_at, record)
    SELECT g.grant_id, json_extract(k.record, '$.region'), g.key_id, g.retiring_principal,
        g.created_at, json_set(g.record, '$.region', json_extract(k.record, '$.region'))
    FROM grants g JOIN keys k ON k.key_id = g.key_id;
DROP TABLE grants;
DROP TABLE aliases;
DROP TABLE key_versions;
DROP TABLE keys;
ALTER TABLE keys_v4 RENAME TO keys;
ALTER TABLE key_versions_v4 RENAME TO key_versions;
ALTER TABLE aliases_v4 RENAME TO aliases;
ALTER TABLE grants_v4 RENAME TO grants;
CREATE INDEX keys_due_at ON keys(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX keys_id ON keys(key_id);
CREATE INDEX aliases_key_id ON aliases(region, key_id);
CREATE INDEX grants_key ON grants(region, key_id, created_at);
CREATE INDEX grants_retiring ON grants(retiring_principal) WHERE retiring_principal IS NOT NULL;
";

/// The last successful cryptographic use of each key in each region (GetKeyLastUsage), written
/// in batches.
const SCHEMA_V5: &str = "
CREATE TABLE key_last_use (
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (region, key_id)
);
";

/// Policy plugins on keys name the key's region (`key/<region>/<id>`): related multi-Region keys
/// share an id but never their plugins. A plugin of a key that no longer exists is dropped.
const SCHEMA_V6: &str = "
UPDATE policy_plugins
    SET scope = 'key/' || (SELECT k.region FROM keys k WHERE k.key_id = substr(scope, 5))
        || '/' || substr(scope, 5)
    WHERE scope LIKE 'key/%' AND EXISTS (SELECT 1 FROM keys k WHERE k.key_id = substr(scope, 5));
DELETE FROM policy_plugins
    WHERE scope LIKE 'key/%' AND substr(scope, 5) NOT LIKE '%/%';
";

/// The vault's generation: a counter that every change of what the hot path caches (keys, their
/// versions, aliases, plugins, accounts, principals, access keys, grants) moves on, in the
/// changing transaction itself, whichever process or `kms` version writes it. Caches compare it
/// to drop what another process changed. The audit trail, key usage and meta do not move it.
const SCHEMA_V7: &str = "
CREATE TABLE generation (id INTEGER PRIMARY KEY CHECK (id = 0), value INTEGER NOT NULL);
INSERT INTO generation (id, value) VALUES (0, 0);
CREATE TRIGGER keys_insert_generation AFTER INSERT ON keys
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER keys_update_generation AFTER UPDATE ON keys
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER keys_delete_generation AFTER DELETE ON keys
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER key_versions_insert_generation AFTER INSERT ON key_versions
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER key_versions_update_generation AFTER UPDATE ON key_versions
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER key_versions_delete_generation AFTER DELETE ON key_versions
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER aliases_insert_generation AFTER INSERT ON aliases
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER aliases_update_generation AFTER UPDATE ON aliases
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER aliases_delete_generation AFTER DELETE ON aliases
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER policy_plugins_insert_generation AFTER INSERT ON policy_plugins
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER policy_plugins_update_generation AFTER UPDATE ON policy_plugins
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER policy_plugins_delete_generation AFTER DELETE ON policy_plugins
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER accounts_insert_generation AFTER INSERT ON accounts
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER accounts_update_generation AFTER UPDATE ON accounts
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER accounts_delete_generation AFTER DELETE ON accounts
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER principals_insert_generation AFTER INSERT ON principals
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER principals_update_generation AFTER UPDATE ON principals
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER principals_delete_generation AFTER DELETE ON principals
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER access_keys_insert_generation AFTER INSERT ON access_keys
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER access_keys_update_generation AFTER UPDATE ON access_keys
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER access_keys_delete_generation AFTER DELETE ON access_keys
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER grants_insert_generation AFTER INSERT ON grants
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER grants_update_generation AFTER UPDATE ON grants
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER grants_delete_generation AFTER DELETE ON grants
    BEGIN UPDATE generation SET value = value + 1; END;
";

/// Custom key stores, per region, their names unique there; their changes move the generation
/// (a key's store's connection state is read on the hot path).
const SCHEMA_V8: &str = "
CREATE TABLE custom_key_stores (
    region TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (region, id),
    UNIQUE (region, name)
);
CREATE TRIGGER custom_key_stores_insert_generation AFTER INSERT ON custom_key_stores
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER custom_key_stores_update_generation AFTER UPDATE ON custom_key_stores
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER custom_key_stores_delete_generation AFTER DELETE ON custom_key_stores
    BEGIN UPDATE generation SET value = value + 1; END;
";

/// How long a write waits for another process holding the vault file before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A vault backed by a SQLite file.
///
/// ```
/// use kms_vault::{MetaStore, SqliteStore};
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(&dir.path().join("vault.db")).unwrap();
/// store.set_meta("greeting", "hello").unwrap();
/// drop(store);
/// let store = SqliteStore::open(&dir.path().join("vault.db")).unwrap();
/// assert_eq!(store.meta("greeting").unwrap().as_deref(), Some("hello"));
/// ```
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens the vault file at `path`, creating it (owner-only on Unix) and its schema if needed.
    /// Refuses a file written by a newer `kms` whose schema this one does not know.
    pub fn open(path: &Path) -> KmsResult<Self> {
        if !path.exists() {
            // SQLite gives the -wal and -shm files the main file's mode, so this covers them too.
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(path) {
                Ok(_) => {}
                // Another process created it in between: open theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(KmsError::invalid(
                        "vault file",
                        format!("Cannot create vault file {}: {e}", path.display()),
                    ));
                }
            }
        }
        let conn = Connection::open(path).map_err(|e| {
            KmsError::invalid(
                "vault file",
                format!("Cannot open vault file {}: {e}", path.display()),
            )
        })?;
        Self::init(conn)
    }

    /// A private in-memory SQLite database, for tests.
    pub fn open_in_memory() -> KmsResult<Self> {
        Self::init(Connection::open_in_memory().db()?)
    }

    fn init(mut conn: Connection) -> KmsResult<Self> {
        conn.busy_timeout(BUSY_TIMEOUT).db()?;
        // journal_mode answers with a row, so it is read rather than executed.
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .db()?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .db()?;
        // Immediate, so that two processes opening a new file do not both create the schema.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        migrate(&tx)?;
        tx.commit().db()?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock drops its open transaction, which rolls it back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one immediate (write-locking) transaction, committed only if `f` succeeds.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> KmsResult<T>) -> KmsResult<T> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        let out = f(&tx)?;
        tx.commit().db()?;
        Ok(out)
    }
}

/// Whether `region` holds a key `key_id`, or with no region, whether any region does.
fn key_exists(conn: &Connection, region: Option<&str>, key_id: &KeyId) -> KmsResult<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM keys WHERE key_id = ?1 AND (?2 IS NULL OR region = ?2))",
        params![key_id.to_string(), region],
        |r| r.get(0),
    )
    .db()
}

/// The outcome of a compare-and-swap statement that changed `changed` rows: done when it
/// changed its row; otherwise stale while the row `still_stored` says is there, and `missing`
/// when it is gone.
fn swapped(
    changed: usize,
    still_stored: impl FnOnce() -> KmsResult<bool>,
    missing: impl FnOnce() -> KmsError,
) -> KmsResult<Swap> {
    if changed == 1 {
        Ok(Swap::Done)
    } else if still_stored()? {
        Ok(Swap::Stale)
    } else {
        Err(missing())
    }
}

/// A storage failure, as the service reports it: internal, never caused by the request.
fn db_error(err: rusqlite::Error) -> KmsError {
    KmsError::Internal(format!("vault storage error: {err}"))
}

/// `.db()?` turns a SQLite failure into [`db_error`] where `?` alone would not.
trait Db<T> {
    fn db(self) -> KmsResult<T>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> KmsResult<T> {
        self.map_err(db_error)
    }
}

fn insert_access_key_in(tx: &Transaction<'_>, key: &AccessKeyRecord) -> KmsResult<()> {
    let result = tx.execute(
        "INSERT INTO access_keys (access_key_id, principal_arn, status, created_at, sealed_secret)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            key.access_key_id,
            key.principal_arn,
            access_key_status_name(key.status),
            to_i64(key.created_at),
            key.sealed_secret
        ],
    );
    match result {
        Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
            Err(KmsError::AlreadyExists(format!(
                "The access key '{}' already exists",
                key.access_key_id
            )))
        }
        Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
            Err(KmsError::principal_not_found(&key.principal_arn))
        }
        other => other.map(|_| ()).map_err(db_error),
    }
}

/// Brings the schema up to the last of [`MIGRATIONS`], inside the caller's transaction.
fn migrate(tx: &Transaction<'_>) -> KmsResult<()> {
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).db()?;
    let known = MIGRATIONS.len();
    let from = usize::try_from(found)
        .ok()
        .filter(|v| *v <= known)
        .ok_or_else(|| {
            KmsError::Internal(format!(
                "The vault file has schema version {found}, newer than this kms understands \
                 ({known}); upgrade kms to open it"
            ))
        })?;
    for (done, step) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(step).db()?;
        tx.pragma_update(None, "user_version", done as i64 + 1)
            .db()?;
    }
    Ok(())
}

/// Appends one audit record inside `tx`, refusing anything but the next sequence number
/// (checked inside the write lock, so two processes cannot both append the same one).
fn append_audit_in(tx: &Transaction<'_>, record: &StoredAuditRecord) -> KmsResult<()> {
    append_audit_records_in(tx, std::slice::from_ref(record))
}

/// Appends consecutive records inside `tx`, refusing anything but the next sequence numbers
/// (checked inside the write lock, so two processes cannot both append the same ones).
fn append_audit_records_in(tx: &Transaction<'_>, records: &[StoredAuditRecord]) -> KmsResult<()> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    let last: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
        .db()?
        .query_row([], |r| r.get(0))
        .db()?;
    if to_i64(first.seq) != last + 1 {
        return Err(KmsError::Internal(format!(
            "Audit record {} does not follow {last}",
            first.seq
        )));
    }
    let mut insert = tx
        .prepare_cached("INSERT INTO audit_log (seq, event, hash) VALUES (?1, ?2, ?3)")
        .db()?;
    for (i, record) in records.iter().enumerate() {
        if record.seq != first.seq + i as u64 {
            return Err(KmsError::Internal(format!(
                "Audit record {} does not follow {}",
                record.seq,
                first.seq + i as u64 - 1
            )));
        }
        insert
            .execute(params![
                to_i64(record.seq),
                record.event_json,
                record.hash.as_slice()
            ])
            .db()?;
    }
    Ok(())
}

fn to_i64(v: u64) -> i64 {
    // Times, sequence numbers and limits stay far below 2^63.
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Whether `err` is the given extended SQLite constraint failure (e.g. a foreign key).
fn is_constraint(err: &rusqlite::Error, extended_code: i32) -> bool {
    err.sqlite_error()
        .is_some_and(|e| e.extended_code == extended_code)
}

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> KmsResult<String> {
    serde_json::to_string(value)
        .map_err(|e| KmsError::Internal(format!("cannot encode {what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> KmsResult<T> {
    serde_json::from_str(json)
        .map_err(|e| KmsError::Internal(format!("The record of {what} is corrupt: {e}")))
}

/// Runs a query whose rows are single JSON records and decodes them.
fn json_rows<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    what: &str,
    sql: &str,
    args: impl rusqlite::Params,
) -> KmsResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt.query_map(args, |r| r.get::<_, String>(0)).db()?;
    rows.map(|json| from_json(what, &json.db()?)).collect()
}

fn access_key_status_name(status: AccessKeyStatus) -> &'static str {
    match status {
        AccessKeyStatus::Active => "Active",
        AccessKeyStatus::Inactive => "Inactive",
    }
}

fn access_key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccessKeyRecord> {
    let status: String = r.get(2)?;
    Ok(AccessKeyRecord {
        access_key_id: r.get(0)?,
        principal_arn: r.get(1)?,
        status: if status == "Active" {
            AccessKeyStatus::Active
        } else {
            AccessKeyStatus::Inactive
        },
        created_at: u64::try_from(r.get::<_, i64>(3)?).unwrap_or_default(),
        sealed_secret: r.get(4)?,
    })
}

const ACCESS_KEY_COLUMNS: &str = "access_key_id, principal_arn, status, created_at, sealed_secret";

fn record_json(key: &KeyRecord) -> KmsResult<String> {
    serde_json::to_string(key)
        .map_err(|e| KmsError::Internal(format!("cannot encode key {}: {e}", key.key_id)))
}

fn parse_record(key_id: &str, json: &str) -> KmsResult<KeyRecord> {
    serde_json::from_str(json)
        .map_err(|e| KmsError::Internal(format!("The record of key {key_id} is corrupt: {e}")))
}

/// Inserts a key record; `AlreadyExists` if its region holds its id, or with `replica` false,
/// if any region does.
fn insert_record(tx: &Transaction<'_>, key: &KeyRecord, replica: bool) -> KmsResult<()> {
    let region = Some(key.region.as_str());
    if key_exists(tx, if replica { region } else { None }, &key.key_id)? {
        return Err(KmsError::AlreadyExists(format!(
            "Key '{}' already exists",
            key.key_id
        )));
    }
    tx.execute(
        "INSERT INTO keys (region, key_id, due_at, record) VALUES (?4, ?1, ?2, ?3)",
        params![
            key.key_id.to_string(),
            key.due_at().map(to_i64),
            record_json(key)?,
            key.region
        ],
    )
    .db()?;
    Ok(())
}

/// The revision of the stored record of `key` (records written before revisions existed read
/// as 0); `None` if it is not stored.
fn stored_revision(tx: &Transaction<'_>, key: &KeyRecord) -> KmsResult<Option<u64>> {
    tx.query_row(
        "SELECT coalesce(json_extract(record, '$.revision'), 0) FROM keys
         WHERE region = ?1 AND key_id = ?2",
        params![key.region, key.key_id.to_string()],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .db()
    .map(|r| r.map(|v| u64::try_from(v).unwrap_or_default()))
}

/// Replaces a key record if the stored one still has `key.revision` (records written before
/// revisions existed read as revision 0), storing it one revision on.
fn replace_record(tx: &Transaction<'_>, key: &KeyRecord) -> KmsResult<Swap> {
    let next = KeyRecord {
        revision: key.revision + 1,
        ..key.clone()
    };
    let changed = tx
        .execute(
            "UPDATE keys SET due_at = ?2, record = ?3
             WHERE region = ?5 AND key_id = ?1
               AND coalesce(json_extract(record, '$.revision'), 0) = ?4",
            params![
                key.key_id.to_string(),
                key.due_at().map(to_i64),
                record_json(&next)?,
                to_i64(key.revision),
                key.region
            ],
        )
        .db()?;
    swapped(
        changed,
        || key_exists(tx, Some(&key.region), &key.key_id),
        || KmsError::key_not_found(key.key_id),
    )
}

fn insert_version(tx: &Transaction<'_>, v: &SealedVersion) -> KmsResult<()> {
    tx.execute(
        "INSERT INTO key_versions (key_id, version, material_id, created_at, rotation_type, sealed_material)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            v.key_id.to_string(),
            v.version,
            v.material_id,
            to_i64(v.created_at),
            v.rotation_type.map(|t| t.as_aws_str()),
            v.sealed_material
        ],
    )
    .map_err(|e| {
        if is_constraint(&e, ffi::SQLITE_CONSTRAINT_PRIMARYKEY) {
            KmsError::Internal(format!(
                "Key '{}' already has version {}",
                v.key_id, v.version
            ))
        } else {
            db_error(e)
        }
    })?;
    Ok(())
}

const VERSION_COLUMNS: &str =
    "key_id, version, material_id, created_at, rotation_type, sealed_material";

/// The columns of a `key_versions` row, in `VERSION_COLUMNS` order.
type VersionRow = (String, u32, String, i64, Option<String>, Vec<u8>);

fn version_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn build_version(
    (key_id, version, material_id, created_at, rotation_type, sealed_material): VersionRow,
) -> KmsResult<SealedVersion> {
    let corrupt = |what: &str| {
        KmsError::Internal(format!(
            "Version {version} of key {key_id} has a corrupt {what}"
        ))
    };
    Ok(SealedVersion {
        key_id: key_id.parse().map_err(|_| corrupt("key id"))?,
        version,
        material_id,
        created_at: u64::try_from(created_at).map_err(|_| corrupt("creation time"))?,
        rotation_type: rotation_type
            .map(|t| t.parse::<RotationType>())
            .transpose()
            .map_err(|_| corrupt("rotation type"))?,
        sealed_material,
    })
}

const ALIAS_COLUMNS: &str = "name, key_id, created_at, updated_at, region";

type AliasRow = (String, String, i64, i64, String);

fn alias_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AliasRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn build_alias((name, key_id, created_at, updated_at, region): AliasRow) -> KmsResult<AliasRecord> {
    let corrupt = |what: &str| KmsError::Internal(format!("Alias {name} has a corrupt {what}"));
    Ok(AliasRecord {
        region,
        key_id: key_id.parse().map_err(|_| corrupt("key id"))?,
        created_at: u64::try_from(created_at).map_err(|_| corrupt("creation time"))?,
        updated_at: u64::try_from(updated_at).map_err(|_| corrupt("update time"))?,
        name,
    })
}

/// Maps a failed alias write: the only foreign key an alias has is its target key.
fn alias_write_error(alias: &AliasRecord) -> impl FnOnce(rusqlite::Error) -> KmsError + '_ {
    move |e| {
        if is_constraint(&e, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
            KmsError::key_not_found(alias.key_id)
        } else {
            db_error(e)
        }
    }
}

type AuditRow = (i64, String, Vec<u8>);

fn audit_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn build_audit((seq, event_json, hash): AuditRow) -> KmsResult<StoredAuditRecord> {
    let corrupt =
        |what: &str| KmsError::Internal(format!("Audit record {seq} has a corrupt {what}"));
    Ok(StoredAuditRecord {
        seq: u64::try_from(seq).map_err(|_| corrupt("sequence number"))?,
        event_json,
        hash: hash.try_into().map_err(|_| corrupt("hash"))?,
    })
}

impl MetaStore for SqliteStore {
    fn generation(&self) -> KmsResult<Option<u64>> {
        let value: i64 = self
            .conn()
            .query_row("SELECT value FROM generation WHERE id = 0", [], |r| {
                r.get(0)
            })
            .db()?;
        Ok(Some(value as u64))
    }

    fn meta(&self, name: &str) -> KmsResult<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .db()
    }

    fn set_meta(&self, name: &str, value: &str) -> KmsResult<()> {
        self.conn()
            .execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .db()?;
        Ok(())
    }
}

impl KeyStore for SqliteStore {
    fn insert_key(&self, key: &KeyRecord, first_version: Option<&SealedVersion>) -> KmsResult<()> {
        if let Some(first_version) = first_version {
            check_same_key(key, first_version)?;
        }
        self.write(|tx| {
            insert_record(tx, key, false)?;
            first_version.map_or(Ok(()), |v| insert_version(tx, v))
        })
    }

    fn insert_replica(&self, key: &KeyRecord) -> KmsResult<()> {
        self.write(|tx| {
            if !key_exists(tx, None, &key.key_id)? {
                return Err(KmsError::key_not_found(key.key_id));
            }
            insert_record(tx, key, true)
        })
    }

    fn key(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyRecord>> {
        let id = key_id.to_string();
        let json: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM keys WHERE region = ?1 AND key_id = ?2",
                [region, &id],
                |r| r.get(0),
            )
            .optional()
            .db()?;
        json.map(|j| parse_record(&id, &j)).transpose()
    }

    fn related_keys(&self, key_id: &KeyId) -> KmsResult<Vec<KeyRecord>> {
        json_rows(
            &self.conn(),
            "a key",
            "SELECT record FROM keys WHERE key_id = ?1 ORDER BY region",
            [key_id.to_string()],
        )
    }

    fn key_count(&self, region: &str) -> KmsResult<u64> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM keys WHERE region = ?1",
                [region],
                |r| r.get(0),
            )
            .db()?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    fn keys_after(
        &self,
        region: &str,
        after: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<KeyRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key_id, record FROM keys WHERE region = ?1 AND key_id > ?2
                 ORDER BY key_id LIMIT ?3",
            )
            .db()?;
        // Every key id sorts after the empty string, and text order is KeyId order: the
        // canonical forms are fixed-width lowercase hex, and `mrk-` ids sort after the others.
        let after = after.map(KeyId::to_string).unwrap_or_default();
        let rows = stmt
            .query_map(params![region, after, to_i64(limit as u64)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .db()?;
        rows.map(|row| {
            let (id, json) = row.db()?;
            parse_record(&id, &json)
        })
        .collect()
    }

    fn update_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
        self.write(|tx| replace_record(tx, key))
    }

    fn update_keys(&self, keys: &[KeyRecord]) -> KmsResult<Swap> {
        self.write(|tx| {
            // Checked before anything is written: the immediate transaction holds the write
            // lock, so what is checked is what is replaced.
            for key in keys {
                match stored_revision(tx, key)? {
                    None => return Err(KmsError::key_not_found(key.key_id)),
                    Some(revision) if revision != key.revision => return Ok(Swap::Stale),
                    Some(_) => {}
                }
            }
            for key in keys {
                if replace_record(tx, key)? == Swap::Stale {
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
        self.write(|tx| {
            if replace_record(tx, key)? == Swap::Stale {
                return Ok(Swap::Stale);
            }
            insert_version(tx, version)?;
            Ok(Swap::Done)
        })
    }

    fn replace_versions(&self, key: &KeyRecord, versions: &[SealedVersion]) -> KmsResult<Swap> {
        for version in versions {
            check_same_key(key, version)?;
        }
        self.write(|tx| {
            if replace_record(tx, key)? == Swap::Stale {
                return Ok(Swap::Stale);
            }
            tx.execute(
                "DELETE FROM key_versions WHERE key_id = ?1",
                [key.key_id.to_string()],
            )
            .db()?;
            for version in versions {
                insert_version(tx, version)?;
            }
            Ok(Swap::Done)
        })
    }

    fn version(&self, key_id: &KeyId, version: u32) -> KmsResult<Option<SealedVersion>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM key_versions WHERE key_id = ?1 AND version = ?2"
            ))
            .db()?;
        let row = stmt
            .query_row(params![key_id.to_string(), version], version_from_row)
            .optional()
            .db()?;
        row.map(build_version).transpose()
    }

    fn versions(&self, key_id: &KeyId) -> KmsResult<Vec<SealedVersion>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM key_versions WHERE key_id = ?1 ORDER BY version"
            ))
            .db()?;
        let rows = stmt
            .query_map([key_id.to_string()], version_from_row)
            .db()?;
        rows.map(|r| build_version(r.db()?)).collect()
    }

    fn delete_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
        let key_id = &key.key_id;
        self.write(|tx| {
            // Aliases and grants go with the key through ON DELETE CASCADE.
            let deleted = tx
                .execute(
                    "DELETE FROM keys WHERE region = ?3 AND key_id = ?1
                       AND coalesce(json_extract(record, '$.revision'), 0) = ?2",
                    params![key_id.to_string(), to_i64(key.revision), key.region],
                )
                .db()?;
            let swap = swapped(
                deleted,
                || key_exists(tx, Some(&key.region), key_id),
                || KmsError::key_not_found(key_id),
            )?;
            if swap == Swap::Stale {
                return Ok(Swap::Stale);
            }
            tx.execute(
                "DELETE FROM policy_plugins WHERE scope = ?1",
                [PluginScope::of_key(key).as_stored()],
            )
            .db()?;
            // Material belongs to the key id, which related keys share.
            if !key_exists(tx, None, key_id)? {
                tx.execute(
                    "DELETE FROM key_versions WHERE key_id = ?1",
                    [key_id.to_string()],
                )
                .db()?;
            }
            Ok(Swap::Done)
        })
    }

    fn keys_due(&self, now: u64) -> KmsResult<Vec<(String, KeyId)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT region, key_id FROM keys WHERE due_at IS NOT NULL AND due_at <= ?1
                 ORDER BY region, key_id",
            )
            .db()?;
        let rows = stmt
            .query_map([to_i64(now)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .db()?;
        rows.map(|r| {
            let (region, id) = r.db()?;
            let id = id.parse().map_err(|_| {
                KmsError::Internal(format!("Key id '{id}' in the vault is corrupt"))
            })?;
            Ok((region, id))
        })
        .collect()
    }
}

impl AliasStore for SqliteStore {
    fn insert_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        self.write(|tx| {
            let exists: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM aliases WHERE region = ?1 AND name = ?2)",
                    [&alias.region, &alias.name],
                    |r| r.get(0),
                )
                .db()?;
            if exists {
                return Err(KmsError::AlreadyExists(format!(
                    "An alias with the name {} already exists",
                    alias.name
                )));
            }
            tx.execute(
                &format!("INSERT INTO aliases ({ALIAS_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                params![
                    alias.name,
                    alias.key_id.to_string(),
                    to_i64(alias.created_at),
                    to_i64(alias.updated_at),
                    alias.region
                ],
            )
            .map_err(alias_write_error(alias))?;
            Ok(())
        })
    }

    fn update_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        self.write(|tx| {
            // The creation time is the alias's, not the caller's to change.
            let changed = tx
                .execute(
                    "UPDATE aliases SET key_id = ?2, updated_at = ?3 WHERE region = ?4 AND name = ?1",
                    params![
                        alias.name,
                        alias.key_id.to_string(),
                        to_i64(alias.updated_at),
                        alias.region
                    ],
                )
                .map_err(alias_write_error(alias))?;
            if changed == 0 {
                return Err(KmsError::alias_not_found(&alias.name));
            }
            Ok(())
        })
    }

    fn delete_alias(&self, region: &str, name: &str) -> KmsResult<()> {
        if self
            .conn()
            .execute(
                "DELETE FROM aliases WHERE region = ?1 AND name = ?2",
                [region, name],
            )
            .db()?
            == 0
        {
            return Err(KmsError::alias_not_found(name));
        }
        Ok(())
    }

    fn alias(&self, region: &str, name: &str) -> KmsResult<Option<AliasRecord>> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {ALIAS_COLUMNS} FROM aliases WHERE region = ?1 AND name = ?2"),
                [region, name],
                alias_from_row,
            )
            .optional()
            .db()?;
        row.map(build_alias).transpose()
    }

    fn aliases_after(
        &self,
        region: &str,
        after: Option<&str>,
        key_id: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<AliasRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {ALIAS_COLUMNS} FROM aliases
             WHERE region = ?4 AND name > ?1 AND (?2 IS NULL OR key_id = ?2)
             ORDER BY name LIMIT ?3"
            ))
            .db()?;
        let rows = stmt
            .query_map(
                params![
                    after.unwrap_or(""),
                    key_id.map(KeyId::to_string),
                    to_i64(limit as u64),
                    region
                ],
                alias_from_row,
            )
            .db()?;
        rows.map(|r| build_alias(r.db()?)).collect()
    }
}

impl AuditStore for SqliteStore {
    fn append_audit(&self, record: &StoredAuditRecord) -> KmsResult<()> {
        self.write(|tx| append_audit_in(tx, record))
    }

    fn append_audit_anchored(&self, record: &StoredAuditRecord, head: &str) -> KmsResult<()> {
        self.write(|tx| {
            append_audit_in(tx, record)?;
            tx.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
                params![store::AUDIT_HEAD_META, head],
            )
            .db()?;
            Ok(())
        })
    }

    fn append_audit_batch(
        &self,
        records: &[StoredAuditRecord],
        head: Option<&str>,
    ) -> KmsResult<()> {
        self.write(|tx| {
            append_audit_records_in(tx, records)?;
            if let Some(head) = head {
                // An update in place changes one page; INSERT OR REPLACE would delete and
                // insert the row, changing the table's page and its name index's too, in
                // every batch.
                let updated = tx
                    .prepare_cached("UPDATE meta SET value = ?2 WHERE name = ?1")
                    .db()?
                    .execute(params![store::AUDIT_HEAD_META, head])
                    .db()?;
                if updated == 0 {
                    tx.prepare_cached("INSERT INTO meta (name, value) VALUES (?1, ?2)")
                        .db()?
                        .execute(params![store::AUDIT_HEAD_META, head])
                        .db()?;
                }
            }
            Ok(())
        })
    }

    fn last_audit(&self) -> KmsResult<Option<StoredAuditRecord>> {
        let row = self
            .conn()
            .query_row(
                "SELECT seq, event, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                audit_from_row,
            )
            .optional()
            .db()?;
        row.map(build_audit).transpose()
    }

    fn audit_after(&self, after: u64, limit: usize) -> KmsResult<Vec<StoredAuditRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, event, hash FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .db()?;
        let rows = stmt
            .query_map(params![to_i64(after), to_i64(limit as u64)], audit_from_row)
            .db()?;
        rows.map(|r| build_audit(r.db()?)).collect()
    }
}

impl PluginStore for SqliteStore {
    fn put_plugin(&self, plugin: &PluginAttachment) -> KmsResult<()> {
        let config = serde_json::to_string(&plugin.config)
            .map_err(|e| KmsError::Internal(format!("plugin settings: {e}")))?;
        self.write(|tx| {
            if let PluginScope::Key { region, key_id } = &plugin.scope
                && !key_exists(tx, Some(region), key_id)?
            {
                return Err(KmsError::key_not_found(key_id));
            }
            tx.execute(
                "INSERT OR REPLACE INTO policy_plugins
                 (scope, name, digest, config, attached_at, component)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    plugin.scope.as_stored(),
                    plugin.name,
                    plugin.digest,
                    config,
                    to_i64(plugin.attached_at),
                    plugin.component
                ],
            )
            .db()?;
            Ok(())
        })
    }

    fn delete_plugin(&self, scope: &PluginScope, name: &str) -> KmsResult<()> {
        let deleted = self
            .conn()
            .execute(
                "DELETE FROM policy_plugins WHERE scope = ?1 AND name = ?2",
                params![scope.as_stored(), name],
            )
            .db()?;
        if deleted == 0 {
            return Err(store::missing_plugin(scope, name));
        }
        Ok(())
    }

    fn plugins(&self, scope: &PluginScope) -> KmsResult<Vec<PluginAttachment>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT scope, name, digest, config, attached_at, component FROM policy_plugins
             WHERE scope = ?1 ORDER BY name",
            )
            .db()?;
        let rows = stmt
            .query_map([scope.as_stored()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })
            .db()?;
        rows.map(|row| {
            let (scope, name, digest, config, attached_at, component) = row.db()?;
            Ok(PluginAttachment {
                scope: PluginScope::from_stored(&scope)?,
                name,
                digest,
                config: serde_json::from_str(&config)
                    .map_err(|e| KmsError::Internal(format!("plugin settings: {e}")))?,
                attached_at: u64::try_from(attached_at).unwrap_or_default(),
                component,
            })
        })
        .collect()
    }
}

impl IdentityStore for SqliteStore {
    fn insert_account(&self, account: &AccountRecord) -> KmsResult<()> {
        let json = to_json("account", account)?;
        let result = self.conn().execute(
            "INSERT INTO accounts (account_id, record) VALUES (?1, ?2)",
            params![account.account_id, json],
        );
        match result {
            Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => Err(
                KmsError::AlreadyExists(format!("Account {} already exists", account.account_id)),
            ),
            other => other.map(|_| ()).map_err(db_error),
        }
    }

    fn accounts(&self) -> KmsResult<Vec<AccountRecord>> {
        json_rows(
            &self.conn(),
            "an account",
            "SELECT record FROM accounts ORDER BY account_id",
            [],
        )
    }

    fn insert_principal(&self, principal: &PrincipalRecord) -> KmsResult<()> {
        let json = to_json("principal", principal)?;
        let result = self.conn().execute(
            "INSERT INTO principals (arn, account, record) VALUES (?1, ?2, ?3)",
            params![principal.arn, principal.account, json],
        );
        match result {
            Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                Err(KmsError::AlreadyExists(format!(
                    "The principal '{}' already exists",
                    principal.arn
                )))
            }
            Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                Err(KmsError::account_not_found(&principal.account))
            }
            other => other.map(|_| ()).map_err(db_error),
        }
    }

    fn update_principal(&self, principal: &PrincipalRecord) -> KmsResult<Swap> {
        let next = PrincipalRecord {
            revision: principal.revision + 1,
            ..principal.clone()
        };
        let json = to_json("principal", &next)?;
        self.write(|tx| {
            let changed = tx
                .execute(
                    "UPDATE principals SET record = ?2
                     WHERE arn = ?1 AND coalesce(json_extract(record, '$.revision'), 0) = ?3",
                    params![principal.arn, json, to_i64(principal.revision)],
                )
                .db()?;
            swapped(
                changed,
                || {
                    tx.query_row(
                        "SELECT EXISTS(SELECT 1 FROM principals WHERE arn = ?1)",
                        [&principal.arn],
                        |r| r.get(0),
                    )
                    .db()
                },
                || KmsError::principal_not_found(&principal.arn),
            )
        })
    }

    fn delete_principal(&self, arn: &str) -> KmsResult<()> {
        // Its access keys go with it through ON DELETE CASCADE.
        if self
            .conn()
            .execute("DELETE FROM principals WHERE arn = ?1", [arn])
            .db()?
            == 0
        {
            return Err(KmsError::principal_not_found(arn));
        }
        Ok(())
    }

    fn principal(&self, arn: &str) -> KmsResult<Option<PrincipalRecord>> {
        let json: Option<String> = self
            .conn()
            .query_row("SELECT record FROM principals WHERE arn = ?1", [arn], |r| {
                r.get(0)
            })
            .optional()
            .db()?;
        json.map(|j| from_json(arn, &j)).transpose()
    }

    fn principals(&self, account: &str) -> KmsResult<Vec<PrincipalRecord>> {
        json_rows(
            &self.conn(),
            "a principal",
            "SELECT record FROM principals WHERE account = ?1 ORDER BY arn",
            [account],
        )
    }

    fn insert_access_key(&self, key: &AccessKeyRecord, max_per_principal: usize) -> KmsResult<()> {
        self.write(|tx| {
            let held: i64 = tx
                .query_row(
                    "SELECT count(*) FROM access_keys WHERE principal_arn = ?1",
                    [&key.principal_arn],
                    |r| r.get(0),
                )
                .db()?;
            if usize::try_from(held).unwrap_or(usize::MAX) >= max_per_principal {
                return Err(store::too_many_access_keys(
                    &key.principal_arn,
                    max_per_principal,
                ));
            }
            insert_access_key_in(tx, key)
        })
    }

    fn set_access_key_status(&self, access_key_id: &str, status: AccessKeyStatus) -> KmsResult<()> {
        let changed = self
            .conn()
            .execute(
                "UPDATE access_keys SET status = ?2 WHERE access_key_id = ?1",
                params![access_key_id, access_key_status_name(status)],
            )
            .db()?;
        if changed == 0 {
            return Err(KmsError::access_key_not_found(access_key_id));
        }
        Ok(())
    }

    fn delete_access_key(&self, access_key_id: &str) -> KmsResult<()> {
        if self
            .conn()
            .execute(
                "DELETE FROM access_keys WHERE access_key_id = ?1",
                [access_key_id],
            )
            .db()?
            == 0
        {
            return Err(KmsError::access_key_not_found(access_key_id));
        }
        Ok(())
    }

    fn access_key(&self, access_key_id: &str) -> KmsResult<Option<AccessKeyRecord>> {
        self.conn()
            .query_row(
                &format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?1"),
                [access_key_id],
                access_key_from_row,
            )
            .optional()
            .db()
    }

    fn access_keys(&self, principal_arn: &str) -> KmsResult<Vec<AccessKeyRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE principal_arn = ?1
             ORDER BY created_at, access_key_id"
            ))
            .db()?;
        let rows = stmt.query_map([principal_arn], access_key_from_row).db()?;
        rows.map(|r| r.map_err(db_error)).collect()
    }
}

impl GrantStore for SqliteStore {
    fn insert_grant(&self, grant: &GrantRecord) -> KmsResult<()> {
        let json = to_json("grant", grant)?;
        let result = self.conn().execute(
            "INSERT INTO grants (grant_id, key_id, retiring_principal, created_at, record, region)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                grant.grant_id,
                grant.key_id.to_string(),
                grant.retiring_principal,
                to_i64(grant.created_at),
                json,
                grant.region
            ],
        );
        match result {
            Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => Err(
                KmsError::AlreadyExists(format!("Grant '{}' already exists", grant.grant_id)),
            ),
            Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                Err(KmsError::key_not_found(grant.key_id))
            }
            other => other.map(|_| ()).map_err(db_error),
        }
    }

    fn delete_grant(&self, grant_id: &str) -> KmsResult<()> {
        if self
            .conn()
            .execute("DELETE FROM grants WHERE grant_id = ?1", [grant_id])
            .db()?
            == 0
        {
            return Err(KmsError::grant_not_found(grant_id));
        }
        Ok(())
    }

    fn grant(&self, grant_id: &str) -> KmsResult<Option<GrantRecord>> {
        let json: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM grants WHERE grant_id = ?1",
                [grant_id],
                |r| r.get(0),
            )
            .optional()
            .db()?;
        json.map(|j| from_json(grant_id, &j)).transpose()
    }

    fn grants(&self, region: &str, key_id: &KeyId) -> KmsResult<Vec<GrantRecord>> {
        json_rows(
            &self.conn(),
            "a grant",
            "SELECT record FROM grants WHERE region = ?1 AND key_id = ?2
             ORDER BY created_at, grant_id",
            [region, &key_id.to_string()],
        )
    }

    fn retirable_grants(&self, principal: &str) -> KmsResult<Vec<GrantRecord>> {
        json_rows(
            &self.conn(),
            "a grant",
            "SELECT record FROM grants WHERE retiring_principal = ?1 ORDER BY created_at, grant_id",
            [principal],
        )
    }
}

/// Maps a failed write of a custom key store: the only unique key besides its id is its name.
fn custom_key_store_write_error(
    store: &CustomKeyStoreRecord,
) -> impl FnOnce(rusqlite::Error) -> KmsError + '_ {
    move |e| {
        let unique = e.sqlite_error().is_some_and(|e| {
            e.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        });
        if !unique {
            return db_error(e);
        }
        if e.to_string().contains("custom_key_stores.name") {
            custom_key_store::name_in_use(&store.name)
        } else {
            KmsError::AlreadyExists(format!("Custom key store '{}' already exists", store.id))
        }
    }
}

impl CustomKeyStoreStore for SqliteStore {
    fn insert_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<()> {
        let json = to_json("a custom key store", store)?;
        self.conn()
            .execute(
                "INSERT INTO custom_key_stores (region, id, name, revision, record)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    store.region,
                    store.id,
                    store.name,
                    to_i64(store.revision),
                    json
                ],
            )
            .map_err(custom_key_store_write_error(store))?;
        Ok(())
    }

    fn custom_key_store(&self, region: &str, id: &str) -> KmsResult<Option<CustomKeyStoreRecord>> {
        let json: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM custom_key_stores WHERE region = ?1 AND id = ?2",
                [region, id],
                |r| r.get(0),
            )
            .optional()
            .db()?;
        json.map(|j| from_json(id, &j)).transpose()
    }

    fn custom_key_stores(&self, region: &str) -> KmsResult<Vec<CustomKeyStoreRecord>> {
        json_rows(
            &self.conn(),
            "a custom key store",
            "SELECT record FROM custom_key_stores WHERE region = ?1 ORDER BY id",
            [region],
        )
    }

    fn update_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
        let next = CustomKeyStoreRecord {
            revision: store.revision + 1,
            ..store.clone()
        };
        let json = to_json("a custom key store", &next)?;
        self.write(|tx| {
            let changed = tx
                .execute(
                    "UPDATE custom_key_stores SET name = ?3, revision = ?5, record = ?6
                     WHERE region = ?1 AND id = ?2 AND revision = ?4",
                    params![
                        store.region,
                        store.id,
                        store.name,
                        to_i64(store.revision),
                        to_i64(next.revision),
                        json
                    ],
                )
                .map_err(custom_key_store_write_error(store))?;
            swapped(
                changed,
                || custom_key_store_exists(tx, store),
                || custom_key_store::store_not_found(&store.id),
            )
        })
    }

    fn delete_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
        self.write(|tx| {
            let deleted = tx
                .execute(
                    "DELETE FROM custom_key_stores WHERE region = ?1 AND id = ?2 AND revision = ?3",
                    params![store.region, store.id, to_i64(store.revision)],
                )
                .db()?;
            swapped(
                deleted,
                || custom_key_store_exists(tx, store),
                || custom_key_store::store_not_found(&store.id),
            )
        })
    }
}

fn custom_key_store_exists(tx: &Transaction<'_>, store: &CustomKeyStoreRecord) -> KmsResult<bool> {
    tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM custom_key_stores WHERE region = ?1 AND id = ?2)",
        [&store.region, &store.id],
        |r| r.get(0),
    )
    .db()
}

impl KeyUsageStore for SqliteStore {
    fn record_key_uses(&self, uses: &[KeyLastUse]) -> KmsResult<()> {
        self.write(|tx| {
            for key_use in uses {
                // The later use wins, whichever node writes first.
                tx.execute(
                    "INSERT INTO key_last_use (key_id, at, audit_seq, record, region)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(region, key_id) DO UPDATE SET
                         at = excluded.at, audit_seq = excluded.audit_seq, record = excluded.record
                     WHERE (excluded.at, excluded.audit_seq)
                         > (key_last_use.at, key_last_use.audit_seq)",
                    params![
                        key_use.key_id.to_string(),
                        key_use.at as i64,
                        key_use.audit_seq as i64,
                        to_json("a key use", key_use)?,
                        key_use.region
                    ],
                )
                .db()?;
            }
            Ok(())
        })
    }

    fn key_last_use(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyLastUse>> {
        let record: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM key_last_use WHERE region = ?1 AND key_id = ?2",
                [region, &key_id.to_string()],
                |r| r.get(0),
            )
            .optional()
            .db()?;
        record
            .map(|json| from_json(&format!("the last use of key {key_id}"), &json))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::conformance::{self, key_record, sealed_version};

    fn run_on_file(test: fn(&dyn Store)) {
        let dir = tempfile::tempdir().unwrap();
        test(&SqliteStore::open(&dir.path().join("vault.db")).unwrap());
    }

    fn run_in_memory(test: fn(&dyn Store)) {
        test(&SqliteStore::open_in_memory().unwrap());
    }

    /// The shared store specification, against the real file-backed vault.
    mod on_file {
        crate::conformance::store_conformance_tests!(super::run_on_file);
    }

    /// The shared store specification, against the in-memory database tests may use.
    mod in_memory {
        crate::conformance::store_conformance_tests!(super::run_in_memory);
    }

    fn user_version(store: &SqliteStore) -> i64 {
        store
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_vault_file_gets_the_current_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("v.db")).unwrap();
        assert_eq!(user_version(&store), MIGRATIONS.len() as i64);
    }

    #[test]
    fn reopening_a_current_vault_file_migrates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        SqliteStore::open(&path)
            .unwrap()
            .set_meta("account", "111122223333")
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(user_version(&store), MIGRATIONS.len() as i64);
        assert_eq!(
            store.meta("account").unwrap().as_deref(),
            Some("111122223333")
        );
    }

    #[test]
    fn a_single_region_vault_file_moves_its_rows_to_their_keys_region() {
        // A vault as releases before regions left it: schema version 3, rows without a region.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let id = KeyId::random();
        let record = record_json(&key_record(id)).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&MIGRATIONS[..3].concat()).unwrap();
            conn.execute_batch("PRAGMA user_version = 3").unwrap();
            conn.execute(
                "INSERT INTO keys (key_id, due_at, record) VALUES (?1, NULL, ?2)",
                params![id.to_string(), record],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO key_versions VALUES (?1, 1, 'm', 5, NULL, x'0102')",
                [id.to_string()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO aliases VALUES ('alias/old', ?1, 5, 6)",
                [id.to_string()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO policy_plugins VALUES (?1, 'p', 'd', '{}', 5, x'00')",
                [format!("key/{id}")],
            )
            .unwrap();
            let mut grant = serde_json::to_value(conformance::grant("g1", id, None, 7)).unwrap();
            grant.as_object_mut().unwrap().remove("region");
            conn.execute(
                "INSERT INTO grants VALUES ('g1', ?1, NULL, 7, ?2)",
                params![id.to_string(), grant.to_string()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(user_version(&store), MIGRATIONS.len() as i64);
        let region = conformance::R;
        assert_eq!(store.key(region, &id).unwrap(), Some(key_record(id)));
        assert_eq!(store.versions(&id).unwrap()[0].sealed_material, [1, 2]);
        let alias = store.alias(region, "alias/old").unwrap().unwrap();
        assert_eq!(
            (alias.key_id, alias.created_at, alias.updated_at),
            (id, 5, 6)
        );
        assert_eq!(
            store.grants(region, &id).unwrap(),
            [conformance::grant("g1", id, None, 7)]
        );
        let scope = crate::PluginScope::Key {
            region: region.into(),
            key_id: id,
        };
        assert_eq!(store.plugins(&scope).unwrap()[0].name, "p");
        // The cascades still hold after the move.
        let key = store.key(region, &id).unwrap().unwrap();
        assert_eq!(store.delete_key(&key).unwrap(), Swap::Done);
        assert_eq!(store.alias(region, "alias/old").unwrap(), None);
        assert_eq!(store.grant("g1").unwrap(), None);
        assert!(store.versions(&id).unwrap().is_empty());
        assert!(store.plugins(&scope).unwrap().is_empty());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(err, KmsError::Internal(_)), "{err:?}");
        assert!(err.message().contains("newer"), "{err:?}");
    }

    #[test]
    fn a_file_that_is_not_a_vault_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        assert!(SqliteStore::open(&path).is_err());
    }

    #[test]
    fn the_connection_uses_wal_full_sync_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("v.db")).unwrap();
        let conn = store.conn();
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("synchronous"), "2", "FULL");
        assert_eq!(pragma("foreign_keys"), "1");
        assert!(pragma("busy_timeout").parse::<u64>().unwrap() >= 1000);
    }

    #[test]
    #[cfg(unix)]
    fn the_vault_file_is_created_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        drop(SqliteStore::open(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0);
    }

    #[test]
    #[cfg(unix)]
    fn the_write_ahead_log_is_owner_only_too() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let store = SqliteStore::open(&path).unwrap();
        store.set_meta("account", "111122223333").unwrap();
        for sibling in ["v.db-wal", "v.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(sibling))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{sibling}");
        }
    }

    #[test]
    fn two_stores_on_one_file_see_each_others_writes() {
        // As two `kms` processes sharing one vault file would.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let first = SqliteStore::open(&path).unwrap();
        let second = SqliteStore::open(&path).unwrap();
        let id = KeyId::random();
        first
            .insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        assert_eq!(
            second.key(conformance::R, &id).unwrap(),
            Some(key_record(id))
        );
        second.append_audit(&conformance::audit_record(1)).unwrap();
        assert!(first.append_audit(&conformance::audit_record(1)).is_err());
    }

    #[test]
    fn records_written_before_revisions_existed_are_revision_zero() {
        let store = SqliteStore::open_in_memory().unwrap();
        let id = KeyId::random();
        store
            .insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        // As an older release wrote it: the same record without a revision field.
        let mut old: serde_json::Value =
            serde_json::from_str(&record_json(&key_record(id)).unwrap()).unwrap();
        old.as_object_mut().unwrap().remove("revision");
        store
            .conn()
            .execute(
                "UPDATE keys SET record = ?1 WHERE key_id = ?2",
                params![old.to_string(), id.to_string()],
            )
            .unwrap();
        let read = store.key(conformance::R, &id).unwrap().unwrap();
        assert_eq!(read.revision, 0);
        let renamed = KeyRecord {
            description: "after the upgrade".into(),
            ..read
        };
        assert_eq!(store.update_key(&renamed).unwrap(), Swap::Done);
        assert_eq!(store.key(conformance::R, &id).unwrap().unwrap().revision, 1);
        assert_eq!(store.update_key(&renamed).unwrap(), Swap::Stale);
    }

    #[test]
    fn rotation_type_is_stored_as_its_aws_name() {
        let store = SqliteStore::open_in_memory().unwrap();
        let id = KeyId::random();
        store
            .insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        let v2 = SealedVersion {
            rotation_type: Some(RotationType::Automatic),
            ..sealed_version(id, 2)
        };
        assert_eq!(store.add_version(&key_record(id), &v2).unwrap(), Swap::Done);
        let stored: Vec<Option<String>> = store
            .conn()
            .prepare("SELECT rotation_type FROM key_versions ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, [None, Some("AUTOMATIC".to_string())]);
    }

    #[test]
    fn a_corrupt_key_record_is_reported_with_its_key_id() {
        let store = SqliteStore::open_in_memory().unwrap();
        let id = KeyId::random();
        store
            .insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        store
            .conn()
            .execute("UPDATE keys SET record = '{\"key_id\": 7'", [])
            .unwrap();
        for err in [
            store.key(conformance::R, &id).unwrap_err(),
            store.keys_after(conformance::R, None, 10).unwrap_err(),
        ] {
            assert!(matches!(err, KmsError::Internal(_)), "{err:?}");
            assert!(err.message().contains(&id.to_string()), "{err:?}");
        }
    }
}
