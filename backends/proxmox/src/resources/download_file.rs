//! `homelab_proxmox_download_file`: a cloud image or ISO downloaded by the
//! node itself into a storage (`download-url`, an async task).

use crate::Client;
use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, Error, PlanChange, Resource, Result, Value,
};
use serde::{Deserialize, Serialize};

use crate::client::{ApiError, Checksum, Download};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct DownloadFile;

/// The state model of `homelab_proxmox_download_file`. Every attribute but
/// the computed `id` and `size` replaces the file when it changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DownloadModel {
    /// `id` (computed): volume ID, `storage:content_type/file_name`.
    pub id: Option<String>,
    /// `node`: node that downloads the file.
    pub node: String,
    /// `storage`: storage to put it in, e.g. `local`.
    pub storage: String,
    /// `content_type`: `import` (disk images for `import_from`: `.qcow2`,
    /// `.raw`, `.vmdk`, `.ova`) or `iso` (`.iso`, `.img`).
    pub content_type: String,
    /// `file_name`: file name in the storage, e.g. `noble.qcow2`; its
    /// extension must fit `content_type` ([`file_name_fits`]).
    pub file_name: String,
    /// `url`: http(s) URL to download from. Required to download (create);
    /// absent after an import (Proxmox VE does not record it), so it is
    /// optional in configuration.
    pub url: Option<String>,
    /// `checksum`: expected checksum of the file.
    pub checksum: Option<String>,
    /// `checksum_algorithm`: algorithm of `checksum` (`md5`, `sha1`,
    /// `sha224`, `sha256`, `sha384` or `sha512`).
    pub checksum_algorithm: Option<String>,
    /// `verify_certificates`: verify the TLS certificate of `url`. Default
    /// `true`.
    pub verify_certificates: Option<bool>,
    /// `size` (computed): size in bytes.
    pub size: Option<i64>,
}

impl DownloadModel {
    fn volid(&self) -> String {
        format!("{}:{}/{}", self.storage, self.content_type, self.file_name)
    }
}

fn api(what: impl std::fmt::Display, e: ApiError) -> Error {
    Error::msg(format!("{what}: {e}"))
}

/// File extensions `download-url` accepts per content type, from
/// pve-storage: `PVE/API2/Storage/Status.pm` download_url matches the
/// normalised file name against `PVE::Storage`'s `$ISO_EXT_RE_0 =
/// qr/\.(?:iso|img)/i` (`iso`) and, for `import`,
/// `${SAFE_CHAR_CLASS_RE}+$UPLOAD_IMPORT_EXT_RE_1` with
/// `$UPLOAD_IMPORT_EXT_RE_1 = qr/\.(ova|qcow2|raw|vmdk)/` (case-sensitive).
/// `(content type, extensions, case-insensitive)`.
pub const EXTENSIONS: &[(&str, &[&str], bool)] = &[
    ("import", &[".ova", ".qcow2", ".raw", ".vmdk"], false),
    ("iso", &[".iso", ".img"], true),
];

/// Whether `name` is a file name Proxmox VE accepts for `content`.
pub fn file_name_fits(content: &str, name: &str) -> std::result::Result<(), String> {
    let Some((_, exts, ci)) = EXTENSIONS.iter().find(|(c, _, _)| *c == content) else {
        return Ok(());
    };
    let cmp = if *ci {
        name.to_ascii_lowercase()
    } else {
        name.to_string()
    };
    if exts.iter().any(|e| cmp.ends_with(e) && cmp.len() > e.len()) {
        return Ok(());
    }
    Err(format!(
        "{name:?} does not end in {}{}, which Proxmox VE requires for content type `{content}`",
        exts.join(", "),
        if *ci { "" } else { " (lower case)" }
    ))
}

/// The error of a download without a URL (an imported file that is gone
/// from its storage, or a new one configured without `url`).
fn missing_url(volid: &str) -> String {
    format!(
        "url: {volid} must be downloaded, but no `url` is set (Proxmox VE does not record \
         where an imported file came from). Set `url` to where the file can be downloaded."
    )
}

fn rr(a: Attribute) -> Attribute {
    a.plan_modifier(modifiers::requires_replace())
}

/// Replace only when a recorded value changes: after an import, Proxmox VE
/// has no record of the URL or checksum (state holds null), so writing them
/// into configuration then only records them.
fn rr_if_recorded(a: Attribute) -> Attribute {
    a.plan_modifier(modifiers::requires_replace_if(
        "Changing a recorded value downloads the file again (a new resource); after an \
         import, setting it only records it.",
        |req, _| !req.state.is_null(),
    ))
}

impl DownloadFile {
    async fn read_file(
        &self,
        ctx: &Ctx<Client>,
        mut m: DownloadModel,
    ) -> Result<Option<DownloadModel>> {
        let c = ctx.client();
        let volid = m.volid();
        let Some(v) = c
            .volume(&m.node, &m.storage, &volid)
            .await
            .map_err(|e| api(format!("reading {volid} on {}", m.node), e))?
        else {
            return Ok(None);
        };
        m.size = v.size;
        m.id = Some(volid);
        m.verify_certificates.get_or_insert(true);
        Ok(Some(m))
    }
}

impl Resource for DownloadFile {
    type Client = Client;
    type Model = DownloadModel;
    const NAME: &'static str = "proxmox_download_file";

    fn schema(&self) -> Schema {
        Schema::new(
            "A file (cloud image or ISO) that a Proxmox VE node downloads into one of its \
             storages. Use the `id` (a volume ID such as `local:import/noble.qcow2`) as a disk's \
             `import_from`. If the file disappears from the storage it is downloaded again.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("Volume ID, `storage:content_type/file_name`.")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute("node", rr(Attribute::string().required().describe("Node that downloads the file.").validator(crate::node_name())))
        .attribute("storage", rr(Attribute::string().required().describe("Storage to put it in, e.g. `local`.")))
        .attribute(
            "content_type",
            rr(Attribute::string()
                .required()
                .describe("`import` (disk images for `import_from`: `.qcow2`, `.raw`, `.vmdk`, `.ova`) or `iso` (`.iso`, `.img`).")
                .validator(validators::one_of(&["import", "iso"]))),
        )
        .attribute(
            "file_name",
            rr(Attribute::string()
                .required()
                .describe("File name in the storage, e.g. `noble.qcow2`: letters, digits, `_`, `.` and `-` (Proxmox VE turns anything else into `_`). For `import` it must end in `.qcow2`, `.raw`, `.vmdk` or `.ova` (lower case; an Ubuntu `.img` cloud image is a qcow2: name it `.qcow2`), for `iso` in `.iso` or `.img`.")
                .validator(validators::matches("^[A-Za-z0-9][A-Za-z0-9._-]*$", "a plain file name of letters, digits, `_`, `.` and `-`"))),
        )
        .attribute(
            "url",
            rr_if_recorded(Attribute::string()
                .optional()
                .describe("http(s) URL to download from. Required to download the file; an imported file has none (Proxmox VE does not record it) until you set it, which then changes nothing but state. Without it, a file missing from the storage cannot be downloaded again.")
                .validator(validators::matches("^https?://\\S+$", "an http:// or https:// URL"))
                .after_import("Proxmox VE does not record where the file came from; set it so that a missing file can be downloaded again (setting it changes nothing but state).")),
        )
        .attribute("checksum", rr_if_recorded(Attribute::string().optional().describe("Expected checksum of the file.")))
        .attribute(
            "checksum_algorithm",
            rr_if_recorded(Attribute::string()
                .optional()
                .describe("Algorithm of `checksum`.")
                .validator(validators::one_of(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]))),
        )
        .attribute(
            "verify_certificates",
            rr(Attribute::bool().default(true).describe("Verify the TLS certificate of `url`.")),
        )
        .attribute(
            "size",
            Attribute::int()
                .computed()
                .describe("Size in bytes.")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
    }

    async fn modify_plan(&self, _ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        if plan.creating() && plan.planned_attr("url").is_null() {
            let volid = match (
                plan.planned_attr("storage").as_str(),
                plan.planned_attr("content_type").as_str(),
                plan.planned_attr("file_name").as_str(),
            ) {
                (Some(s), Some(c), Some(f)) => format!("{s}:{c}/{f}"),
                _ => "the file".to_string(),
            };
            plan.diagnostics.attribute_error(
                AttributePath::attr("url"),
                "Missing URL",
                missing_url(&volid),
            );
        }
        Ok(())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let (Some(Value::String(content)), Some(Value::String(name))) =
            (config.get("content_type"), config.get("file_name"))
        else {
            return d;
        };
        if let Err(why) = file_name_fits(content, name) {
            d.attribute_error(
                AttributePath::attr("file_name"),
                "File name not allowed for this content type",
                format!("file_name: {why}"),
            );
        }
        d
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: DownloadModel) -> Result<DownloadModel> {
        let c = ctx.client();
        let Some(url) = plan.url.clone() else {
            return Err(Error::new("Missing URL", missing_url(&plan.volid()))
                .at(AttributePath::attr("url")));
        };
        let download = Download {
            node: &plan.node,
            storage: &plan.storage,
            content: &plan.content_type,
            file_name: &plan.file_name,
            url: &url,
            verify_certificates: plan.verify_certificates.unwrap_or(true),
            checksum: plan.checksum.as_deref().map(|value| Checksum {
                value,
                algorithm: plan.checksum_algorithm.as_deref().unwrap_or("sha256"),
            }),
        };
        let volid = plan.volid();
        // Not `until_stopped`: the wait watches the stop signal, and a
        // download given up on is kept in state (tainted) rather than lost.
        let stop = ctx.stop_signal();
        match c.download_url(stop, &download).await {
            Ok(()) => {}
            Err(e) if e.is_abandoned() => {
                let mut partial = plan.clone();
                partial.id = Some(volid.clone());
                return Err(api(
                    format!("downloading {volid} (the download may still finish; kept in state as tainted)"),
                    e,
                )
                .with_partial_state(&partial));
            }
            Err(e) => return Err(api(format!("downloading {volid}"), e)),
        }
        self.read_file(ctx, plan).await?.ok_or_else(|| {
            Error::msg(format!(
                "{volid} is not in the storage after the download finished"
            ))
        })
    }

    async fn read(&self, ctx: &Ctx<Client>, state: DownloadModel) -> Result<Option<DownloadModel>> {
        self.read_file(ctx, state).await
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        _prior: DownloadModel,
        plan: DownloadModel,
    ) -> Result<DownloadModel> {
        // Every attribute forces replacement; nothing to do in place.
        let volid = plan.volid();
        self.read_file(ctx, plan)
            .await?
            .ok_or_else(|| Error::msg(format!("{volid} no longer exists")))
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: DownloadModel) -> Result<()> {
        let c = ctx.client();
        let volid = state.volid();
        c.delete_volume(ctx.stop_signal(), &state.node, &state.storage, &volid)
            .await
            .map_err(|e| api(format!("deleting {volid}"), e))
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<DownloadModel> {
        // `node/storage:content/file`
        let err = || {
            Error::new(
                "Invalid import ID",
                format!(
                    "expected `node/storage:content_type/file_name`, e.g. `pve/local:iso/x.iso`, got {id:?}"
                ),
            )
        };
        let (node, volid) = id.split_once('/').ok_or_else(err)?;
        let (storage, rest) = volid.split_once(':').ok_or_else(err)?;
        let (content, file) = rest.split_once('/').ok_or_else(err)?;
        let m = DownloadModel {
            node: node.into(),
            storage: storage.into(),
            content_type: content.into(),
            file_name: file.into(),
            ..DownloadModel::default()
        };
        self.read_file(ctx, m)
            .await?
            .ok_or_else(|| Error::new("Cannot import", format!("{volid} does not exist on {node}")))
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("`node/storage:content_type/file_name`, e.g. `pve/local:import/noble.qcow2`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_follow_pve_storage() {
        for ok in ["noble.qcow2", "a.raw", "b.vmdk", "c.ova"] {
            assert!(file_name_fits("import", ok).is_ok(), "{ok}");
        }
        for bad in ["noble.img", "x.QCOW2", ".qcow2", "x.iso", "x.qcow2.gz"] {
            assert!(file_name_fits("import", bad).is_err(), "{bad}");
        }
        for ok in ["a.iso", "B.ISO", "c.img"] {
            assert!(file_name_fits("iso", ok).is_ok(), "{ok}");
        }
        assert!(file_name_fits("iso", "x.qcow2").is_err());
    }
}
