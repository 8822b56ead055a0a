//! What an update (or the configuration of a fresh clone) changes: the
//! output of every part's [`Part::diff`](super::Part::diff), and the helpers
//! the parts use to fill it.

use crate::client::VmConfig;

/// What an update (or the configuration of a fresh clone) changes.
#[derive(Debug, Default)]
pub struct Changes {
    /// Config keys to set, with their new values (`POST config`).
    pub set: Vec<(String, String)>,
    /// Config keys to delete (the `delete` parameter of `POST config`).
    pub delete: Vec<String>,
    /// Disks to grow: slot and new size in GiB (`PUT resize`).
    pub resize: Vec<(String, i64)>,
    /// Disks to move: slot and target storage (`POST move_disk`).
    pub moves: Vec<(String, String)>,
    /// Volumes of disks being removed (their `unusedN` leftovers are destroyed).
    pub removed_volumes: Vec<String>,
}

impl Changes {
    /// Nothing to set, delete, resize or move (`removed_volumes` only
    /// follows deletions).
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.delete.is_empty()
            && self.resize.is_empty()
            && self.moves.is_empty()
    }
    /// Config keys touched (for messages).
    pub fn keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self.set.iter().map(|(k, _)| k.clone()).collect();
        v.extend(self.delete.iter().cloned());
        v
    }
}

pub(crate) fn yes(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

pub(crate) fn set_if(ch: &mut Changes, cfg: &VmConfig, key: &str, want: Option<String>) {
    match want {
        Some(v) if cfg.get(key) != Some(v.as_str()) => ch.set.push((key.to_string(), v)),
        None if cfg.get(key).is_some() => ch.delete.push(key.to_string()),
        _ => {}
    }
}
