//! The embedded default backend: one SQLite vault file, created on first use. Every multi-statement
//! change runs in one immediate transaction, so an interrupted write leaves the vault as it was.
//! Key records are stored as JSON (they hold no secrets); key material only ever arrives sealed.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::store::{AliasRecord, KeyRecord, SealedVersion, Store, StoredAuditRecord};
use crate::error::{KmsError, KmsResult};
use crate::types::{KeyId, RotationType};

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

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

/// A vault backed by a SQLite file.
///
/// ```
/// use kms_host::vault::{SqliteStore, Store};
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

fn missing_key(id: &KeyId) -> KmsError {
    KmsError::NotFound(format!("Key '{id}' does not exist"))
}

fn to_i64(v: u64) -> i64 {
    // Times and sequence numbers stay far below 2^63.
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens the vault file at `path`, creating it (owner-only on Unix) and its schema if needed.
    pub fn open(path: &Path) -> KmsResult<Self> {
        if !path.exists() {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(KmsError::Validation(format!(
                        "Cannot create vault file {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        let conn = Connection::open(path).map_err(|e| {
            KmsError::Validation(format!("Cannot open vault file {}: {e}", path.display()))
        })?;
        Self::init(conn)
    }

    /// A private in-memory SQLite database, for tests.
    pub fn open_in_memory() -> KmsResult<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> KmsResult<Self> {
        conn.busy_timeout(Duration::from_secs(10))?;
        // journal_mode answers with a row, so it is read rather than executed.
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        match version {
            0 => {
                tx.execute_batch(SCHEMA_V1)?;
                tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
            }
            SCHEMA_VERSION => {}
            newer => {
                return Err(KmsError::Internal(format!(
                    "The vault file has schema version {newer}, newer than this kms understands ({SCHEMA_VERSION}); upgrade kms"
                )));
            }
        }
        tx.commit()?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one immediate (write-locking) transaction, committed only if `f` succeeds.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> KmsResult<T>) -> KmsResult<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn record_json(key: &KeyRecord) -> KmsResult<String> {
    serde_json::to_string(key)
        .map_err(|e| KmsError::Internal(format!("cannot encode key {}: {e}", key.key_id)))
}

fn parse_record(key_id: &str, json: &str) -> KmsResult<KeyRecord> {
    serde_json::from_str(json)
        .map_err(|e| KmsError::Internal(format!("the record of key {key_id} is corrupt: {e}")))
}

fn put_record(tx: &Transaction<'_>, key: &KeyRecord, insert: bool) -> KmsResult<()> {
    let json = record_json(key)?;
    let due = key.due_at().map(to_i64);
    let id = key.key_id.to_string();
    if insert {
        tx.execute(
            "INSERT INTO keys (key_id, due_at, record) VALUES (?1, ?2, ?3)",
            params![id, due, json],
        )?;
    } else if tx.execute(
        "UPDATE keys SET due_at = ?2, record = ?3 WHERE key_id = ?1",
        params![id, due, json],
    )? == 0
    {
        return Err(missing_key(&key.key_id));
    }
    Ok(())
}

fn put_version(tx: &Transaction<'_>, v: &SealedVersion) -> KmsResult<()> {
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
    )?;
    Ok(())
}

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
            "version {version} of key {key_id} has a corrupt {what}"
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

fn alias_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn build_alias(
    (name, key_id, created_at, updated_at): (String, String, i64, i64),
) -> KmsResult<AliasRecord> {
    Ok(AliasRecord {
        key_id: key_id
            .parse()
            .map_err(|_| KmsError::Internal(format!("alias {name} has a corrupt key id")))?,
        name,
        created_at: created_at.max(0) as u64,
        updated_at: updated_at.max(0) as u64,
    })
}

const VERSION_COLUMNS: &str =
    "key_id, version, material_id, created_at, rotation_type, sealed_material";

impl Store for SqliteStore {
    fn meta(&self, name: &str) -> KmsResult<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn set_meta(&self, name: &str, value: &str) -> KmsResult<()> {
        self.conn().execute(
            "INSERT INTO meta (name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![name, value],
        )?;
        Ok(())
    }

    fn insert_key(&self, key: &KeyRecord, first_version: &SealedVersion) -> KmsResult<()> {
        self.write(|tx| {
            put_record(tx, key, true)?;
            put_version(tx, first_version)
        })
    }

    fn key(&self, key_id: &KeyId) -> KmsResult<Option<KeyRecord>> {
        let id = key_id.to_string();
        let json: Option<String> = self
            .conn()
            .query_row("SELECT record FROM keys WHERE key_id = ?1", [&id], |r| {
                r.get(0)
            })
            .optional()?;
        json.map(|j| parse_record(&id, &j)).transpose()
    }

    fn keys_after(&self, after: Option<&KeyId>, limit: usize) -> KmsResult<Vec<KeyRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT key_id, record FROM keys WHERE key_id > ?1 ORDER BY key_id LIMIT ?2",
        )?;
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        let rows = stmt.query_map(params![after, to_i64(limit as u64)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (id, json) = row?;
            parse_record(&id, &json)
        })
        .collect()
    }

    fn update_key(&self, key: &KeyRecord) -> KmsResult<()> {
        self.write(|tx| put_record(tx, key, false))
    }

    fn add_version(&self, key: &KeyRecord, version: &SealedVersion) -> KmsResult<()> {
        self.write(|tx| {
            put_record(tx, key, false)?;
            put_version(tx, version)
        })
    }

    fn version(&self, key_id: &KeyId, version: u32) -> KmsResult<Option<SealedVersion>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {VERSION_COLUMNS} FROM key_versions WHERE key_id = ?1 AND version = ?2"
        ))?;
        let row = stmt
            .query_row(params![key_id.to_string(), version], version_from_row)
            .optional()?;
        row.map(build_version).transpose()
    }

    fn versions(&self, key_id: &KeyId) -> KmsResult<Vec<SealedVersion>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {VERSION_COLUMNS} FROM key_versions WHERE key_id = ?1 ORDER BY version"
        ))?;
        let rows = stmt.query_map([key_id.to_string()], version_from_row)?;
        rows.map(|r| build_version(r?)).collect()
    }

    fn delete_key(&self, key_id: &KeyId) -> KmsResult<()> {
        self.write(|tx| {
            // Versions and aliases go with the key through ON DELETE CASCADE.
            if tx.execute("DELETE FROM keys WHERE key_id = ?1", [key_id.to_string()])? == 0 {
                return Err(missing_key(key_id));
            }
            Ok(())
        })
    }

    fn keys_due(&self, now: u64) -> KmsResult<Vec<KeyId>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT key_id FROM keys WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY key_id",
        )?;
        let rows = stmt.query_map([to_i64(now)], |r| r.get::<_, String>(0))?;
        rows.map(|r| {
            let id = r?;
            id.parse()
                .map_err(|_| KmsError::Internal(format!("key id '{id}' in the vault is corrupt")))
        })
        .collect()
    }

    fn insert_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM aliases WHERE name = ?1)",
                [&alias.name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(KmsError::AlreadyExists(format!(
                    "An alias with the name {} already exists",
                    alias.name
                )));
            }
            tx.execute(
                "INSERT INTO aliases (name, key_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    alias.name,
                    alias.key_id.to_string(),
                    to_i64(alias.created_at),
                    to_i64(alias.updated_at)
                ],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    missing_key(&alias.key_id)
                }
                other => other.into(),
            })?;
            Ok(())
        })
    }

    fn update_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        self.write(|tx| {
            let changed = tx
                .execute(
                    "UPDATE aliases SET key_id = ?2, updated_at = ?3 WHERE name = ?1",
                    params![
                        alias.name,
                        alias.key_id.to_string(),
                        to_i64(alias.updated_at)
                    ],
                )
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        missing_key(&alias.key_id)
                    }
                    other => other.into(),
                })?;
            if changed == 0 {
                return Err(KmsError::NotFound(format!(
                    "Alias {} is not found.",
                    alias.name
                )));
            }
            Ok(())
        })
    }

    fn delete_alias(&self, name: &str) -> KmsResult<()> {
        if self
            .conn()
            .execute("DELETE FROM aliases WHERE name = ?1", [name])?
            == 0
        {
            return Err(KmsError::NotFound(format!("Alias {name} is not found.")));
        }
        Ok(())
    }

    fn alias(&self, name: &str) -> KmsResult<Option<AliasRecord>> {
        let row = self
            .conn()
            .query_row(
                "SELECT name, key_id, created_at, updated_at FROM aliases WHERE name = ?1",
                [name],
                alias_from_row,
            )
            .optional()?;
        row.map(build_alias).transpose()
    }

    fn aliases_after(
        &self,
        after: Option<&str>,
        key_id: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<AliasRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT name, key_id, created_at, updated_at FROM aliases
             WHERE name > ?1 AND (?2 IS NULL OR key_id = ?2) ORDER BY name LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                after.unwrap_or(""),
                key_id.map(|k| k.to_string()),
                to_i64(limit as u64)
            ],
            alias_from_row,
        )?;
        rows.map(|r| build_alias(r?)).collect()
    }

    fn append_audit(&self, record: &StoredAuditRecord) -> KmsResult<()> {
        self.write(|tx| {
            let last: i64 =
                tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit_log", [], |r| {
                    r.get(0)
                })?;
            if to_i64(record.seq) != last + 1 {
                return Err(KmsError::Internal(format!(
                    "audit record {} does not follow {last}",
                    record.seq
                )));
            }
            tx.execute(
                "INSERT INTO audit_log (seq, event, hash) VALUES (?1, ?2, ?3)",
                params![
                    to_i64(record.seq),
                    record.event_json,
                    record.hash.as_slice()
                ],
            )?;
            Ok(())
        })
    }

    fn last_audit(&self) -> KmsResult<Option<StoredAuditRecord>> {
        Ok(self
            .audit_query(
                "SELECT seq, event, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                0,
                1,
            )?
            .pop())
    }

    fn audit_after(&self, after: u64, limit: usize) -> KmsResult<Vec<StoredAuditRecord>> {
        self.audit_query(
            "SELECT seq, event, hash FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            after,
            limit,
        )
    }
}

impl SqliteStore {
    fn audit_query(
        &self,
        sql: &str,
        after: u64,
        limit: usize,
    ) -> KmsResult<Vec<StoredAuditRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let bind = stmt.parameter_count();
        let map = |r: &rusqlite::Row<'_>| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        };
        let rows: Vec<_> = if bind == 2 {
            stmt.query_map(params![to_i64(after), to_i64(limit as u64)], map)?
                .collect::<Result<_, _>>()?
        } else {
            stmt.query_map([], map)?.collect::<Result<_, _>>()?
        };
        rows.into_iter()
            .map(|(seq, event_json, hash)| {
                Ok(StoredAuditRecord {
                    seq: seq.max(0) as u64,
                    event_json,
                    hash: hash.try_into().map_err(|_| {
                        KmsError::Internal(format!("audit record {seq} has a corrupt hash"))
                    })?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(err.message().contains("newer"), "{err:?}");
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
}
