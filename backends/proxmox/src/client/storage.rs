//! Storage content: `/nodes/{node}/storage/{storage}/…`.

use serde_json::Value;

use super::{ApiError, Client, enc};

impl Client {
    /// A storage volume (from the storage's content list), or `None` if it
    /// (or the storage) is gone.
    pub async fn volume(
        &self,
        node: &str,
        storage: &str,
        volid: &str,
    ) -> Result<Option<Value>, ApiError> {
        let path = format!("/nodes/{}/storage/{}/content", enc(node), enc(storage));
        let mut q = Vec::new();
        if let Some((content, _)) = volid.split_once(':').and_then(|(_, r)| r.split_once('/')) {
            q.push(("content".to_string(), content.to_string()));
        }
        match self.get(&path, &q).await {
            Ok(Value::Array(items)) => Ok(items
                .into_iter()
                .find(|v| v.get("volid").and_then(Value::as_str) == Some(volid))),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
