//! Storage content: `/nodes/{node}/storage/{storage}/…`.

use labforge_framework::StopSignal;
use reqwest::Method;
use serde_json::Value;

use super::vm::{kv, yes};
use super::{ApiError, Client, Form, enc, num};
use labforge_http::ApiErrorKind as _;

/// A volume in a storage's content list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Volume {
    /// `storage:content/file`, e.g. `local:import/noble.qcow2`.
    pub volid: String,
    /// Size in bytes.
    pub size: Option<i64>,
}

/// A storage as a node sees it (`GET /nodes/{node}/storage`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageInfo {
    /// The storage id, e.g. `local`.
    pub storage: String,
    /// The content types it holds (`iso`, `import`, `images`, ...).
    pub content: Vec<String>,
    /// Shared by several nodes (the same files on each).
    pub shared: bool,
}

/// A file for a node to download into a storage.
#[derive(Debug, Clone, Copy)]
pub struct Download<'a> {
    /// The node that downloads (the storage must be available there).
    pub node: &'a str,
    /// The storage id, e.g. `local`.
    pub storage: &'a str,
    /// Content type: `import` or `iso`.
    pub content: &'a str,
    /// File name in the storage.
    pub file_name: &'a str,
    /// Where to download from (`http(s)://`).
    pub url: &'a str,
    /// Verify the TLS certificate of `url`.
    pub verify_certificates: bool,
    /// The expected checksum, if any.
    pub checksum: Option<Checksum<'a>>,
}

/// An expected checksum and its algorithm (`sha256`, …).
#[derive(Debug, Clone, Copy)]
pub struct Checksum<'a> {
    /// The expected digest, hex.
    pub value: &'a str,
    /// The digest algorithm, as PVE names it (`md5`, `sha1`, `sha224`, `sha256`, `sha384`, `sha512`).
    pub algorithm: &'a str,
}

impl Client {
    /// A storage volume (from the storage's content list), or `None` if it
    /// (or the storage) is gone.
    pub async fn volume(
        &self,
        node: &str,
        storage: &str,
        volid: &str,
    ) -> Result<Option<Volume>, ApiError> {
        let path = format!("/nodes/{}/storage/{}/content", enc(node), enc(storage));
        let mut q = Vec::new();
        if let Some((content, _)) = volid.split_once(':').and_then(|(_, r)| r.split_once('/')) {
            q.push(("content".to_string(), content.to_string()));
        }
        match self.get(&path, &q).await {
            Ok(Value::Array(items)) => Ok(items
                .into_iter()
                .find(|v| v.get("volid").and_then(Value::as_str) == Some(volid))
                .map(|v| Volume {
                    volid: volid.to_string(),
                    size: v.get("size").and_then(num),
                })),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The storages available on `node`, in the order listed.
    pub async fn storages(&self, node: &str) -> Result<Vec<StorageInfo>, ApiError> {
        let path = format!("/nodes/{}/storage", enc(node));
        let Value::Array(items) = self.get(&path, &[]).await? else {
            return Ok(Vec::new());
        };
        Ok(items
            .iter()
            .filter_map(|v| {
                Some(StorageInfo {
                    storage: v.get("storage")?.as_str()?.to_string(),
                    content: v
                        .get("content")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect(),
                    shared: v.get("shared").and_then(num) == Some(1)
                        || v.get("shared").and_then(Value::as_bool) == Some(true),
                })
            })
            .collect())
    }

    /// The volumes of `content` type (`iso`, `import`, `images`, ...) in
    /// `storage` on `node`; empty when the storage is gone.
    pub async fn volumes(
        &self,
        node: &str,
        storage: &str,
        content: &str,
    ) -> Result<Vec<Volume>, ApiError> {
        let path = format!("/nodes/{}/storage/{}/content", enc(node), enc(storage));
        let q = vec![("content".to_string(), content.to_string())];
        match self.get(&path, &q).await {
            Ok(Value::Array(items)) => Ok(items
                .iter()
                .filter_map(|v| {
                    Some(Volume {
                        volid: v.get("volid")?.as_str()?.to_string(),
                        size: v.get("size").and_then(num),
                    })
                })
                .collect()),
            Ok(_) => Ok(Vec::new()),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Have the node download a file into a storage (`download-url`, an
    /// async task) and wait for it; retried while locked.
    pub async fn download_url(&self, stop: &StopSignal, d: &Download<'_>) -> Result<(), ApiError> {
        let mut form: Form = vec![
            kv("content", d.content),
            kv("filename", d.file_name),
            kv("url", d.url),
            kv("verify-certificates", yes(d.verify_certificates)),
        ];
        if let Some(cs) = &d.checksum {
            form.push(kv("checksum", cs.value));
            form.push(kv("checksum-algorithm", cs.algorithm));
        }
        let path = format!(
            "/nodes/{}/storage/{}/download-url",
            enc(d.node),
            enc(d.storage)
        );
        self.retry_locked(stop, || self.run(stop, Method::POST, &path, &form))
            .await
    }

    /// Delete a volume from a storage, waiting for the task; retried while
    /// locked. `Ok` when it is already gone.
    pub async fn delete_volume(
        &self,
        stop: &StopSignal,
        node: &str,
        storage: &str,
        volid: &str,
    ) -> Result<(), ApiError> {
        let path = format!(
            "/nodes/{}/storage/{}/content/{}",
            enc(node),
            enc(storage),
            enc(volid)
        );
        match self
            .retry_locked(stop, || self.run(stop, Method::DELETE, &path, &[]))
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use labforge_framework::StopSignal;

    use super::*;
    use crate::client::testing::sim_client;

    /// A download lands in the storage's content list with its size; a
    /// deleted volume is gone, and deleting it again succeeds.
    #[tokio::test]
    async fn downloads_appear_and_deletes_are_idempotent() {
        let (_sim, c) = sim_client();
        let stop = StopSignal::never();
        let volid = "local:iso/x.iso";
        assert_eq!(c.volume("pve1", "local", volid).await.expect("read"), None);
        let d = Download {
            node: "pve1",
            storage: "local",
            content: "iso",
            file_name: "x.iso",
            url: "https://example.com/x.iso",
            verify_certificates: true,
            checksum: None,
        };
        c.download_url(&stop, &d).await.expect("downloaded");
        let v = c
            .volume("pve1", "local", volid)
            .await
            .expect("read")
            .expect("the file");
        assert_eq!(v.volid, volid);
        assert!(v.size.is_some_and(|s| s > 0), "{v:?}");
        c.delete_volume(&stop, "pve1", "local", volid)
            .await
            .expect("deleted");
        assert_eq!(c.volume("pve1", "local", volid).await.expect("read"), None);
        c.delete_volume(&stop, "pve1", "local", volid)
            .await
            .expect("already gone");
    }
}
