//! The corner provider's "API": a JSON file, read and written whole under a
//! mutex on every operation (Terraform may call the provider concurrently).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use labforge_framework::{Error, Result};
use serde::{Deserialize, Serialize};

/// One stored object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The object's attributes, as cty JSON text of `corner_everything`'s
    /// schema (the shape of a state file's `attributes`). Text, so numbers
    /// keep every digit; edit it with `Record::model` / `Record::set_model`.
    pub state: String,
    /// Fingerprint of the last write-only `password_wo` received, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Private-state counter as of the last write (so import can restore it).
    #[serde(default)]
    pub counter: i64,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreData {
    pub next_id: u64,
    pub objects: BTreeMap<String, Record>,
    /// Every token `corner_token` handed out, in order.
    pub tokens: Vec<String>,
    /// How many times `corner_token` was closed.
    pub closed: u64,
}

/// The client: a JSON file plus a lock.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    lock: Arc<Mutex<()>>,
}

impl Store {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// Reads the file (missing or empty: an empty store).
    pub fn load(&self) -> Result<StoreData> {
        read_file(&self.path)
    }

    /// Runs `f` on the data and writes the result back, atomically for this process.
    pub fn update<T>(&self, f: impl FnOnce(&mut StoreData) -> Result<T>) -> Result<T> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut data = read_file(&self.path)?;
        let out = f(&mut data)?;
        let text = serde_json::to_string_pretty(&data)?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| {
                Error::new(
                    "Store write failed",
                    format!("{}: {e}", self.path.display()),
                )
            })?;
        Ok(out)
    }
}

fn read_file(path: &std::path::Path) -> Result<StoreData> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().is_empty() => Ok(StoreData::default()),
        Ok(s) => serde_json::from_str(&s)
            .map_err(|e| Error::new("Store unreadable", format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreData::default()),
        Err(e) => Err(Error::new(
            "Store unreadable",
            format!("{}: {e}", path.display()),
        )),
    }
}

/// A stable fingerprint (FNV-1a, hex) of a secret, so tests can check what
/// a write-only attribute carried without the store keeping it.
pub fn fingerprint(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
