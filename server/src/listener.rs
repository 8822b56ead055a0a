//! Unix socket creation (`plugin<random>` in `PLUGIN_UNIX_SOCKET_DIR` or the
//! temp dir) and removal at exit, including on panic.
//!
//! The socket is the only thing the plugin listens on (no TCP port), and its
//! file is made owner-only (`0600`) right after `bind`: connecting to a unix
//! socket needs write permission on its file, so no other user can reach the
//! server at all, whatever the umask (go-plugin's `serverListener_unix`
//! relies on the umask: "By default, unix sockets are only writable by the
//! owner"). mTLS then pins the host's certificate on top.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::net::UnixListener;

/// Sockets currently owned by this process, removed by the panic hook.
static LIVE_SOCKETS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes the socket file when dropped.
#[derive(Debug)]
pub(crate) struct SocketGuard {
    path: PathBuf,
}

impl SocketGuard {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Ok(mut live) = LIVE_SOCKETS.lock() {
            live.retain(|p| p != &self.path);
        }
    }
}

/// Best effort, for the panic hook: remove every socket we still own.
pub(crate) fn remove_live_sockets() {
    if let Ok(live) = LIVE_SOCKETS.lock() {
        for path in live.iter() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn random_suffix() -> u64 {
    // RandomState is seeded from the OS; good enough for a unique file name.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Permissions of the socket file: read and write for the owner only.
pub(crate) const SOCKET_MODE: u32 = 0o600;

/// Binds `dir/plugin<random>` (dir defaults to the temp dir), owner-only.
pub(crate) fn bind_unix(dir: Option<&Path>) -> io::Result<(UnixListener, SocketGuard)> {
    let dir = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let mut last_err = io::Error::other("no attempt made");
    for _ in 0..32 {
        let path = dir.join(format!("plugin{}", random_suffix() % 10_000_000_000));
        match UnixListener::bind(&path) {
            Ok(listener) => {
                if let Ok(mut live) = LIVE_SOCKETS.lock() {
                    live.push(path.clone());
                }
                let guard = SocketGuard { path };
                // On failure the guard removes the socket file.
                std::fs::set_permissions(
                    guard.path(),
                    std::fs::Permissions::from_mode(SOCKET_MODE),
                )?;
                return Ok((listener, guard));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = e,
            Err(e) => return Err(e),
        }
    }
    Err(last_err)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn socket_is_created_in_dir_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let (listener, guard) = bind_unix(Some(dir.path())).unwrap();
        let path = guard.path().to_path_buf();
        assert!(path.starts_with(dir.path()));
        assert!(
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("plugin")
        );
        assert!(path.exists());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, SOCKET_MODE, "{mode:o}");
        drop(listener);
        drop(guard);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn two_sockets_get_different_names() {
        let dir = tempfile::tempdir().unwrap();
        let (_l1, g1) = bind_unix(Some(dir.path())).unwrap();
        let (_l2, g2) = bind_unix(Some(dir.path())).unwrap();
        assert_ne!(g1.path(), g2.path());
    }
}
