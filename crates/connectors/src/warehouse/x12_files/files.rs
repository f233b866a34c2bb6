//! The partner's folders and the file operations that survive a crash: atomic writes, renames and directory syncs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::client::X12Error;

/// The folders of one trading partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerFolders {
    pub root: PathBuf,
}

impl PartnerFolders {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn outbound(&self) -> PathBuf {
        self.root.join("outbound")
    }
    pub fn inbound(&self) -> PathBuf {
        self.root.join("inbound")
    }
    pub fn archive(&self) -> PathBuf {
        self.root.join("archive")
    }
    pub fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
    }
    pub fn pending(&self) -> PathBuf {
        self.root.join("pending")
    }
    pub fn control_file(&self) -> PathBuf {
        self.root.join("control.json")
    }

    /// Creates every folder (idempotent).
    pub async fn create(&self) -> Result<(), X12Error> {
        for dir in [
            self.outbound(),
            self.inbound(),
            self.archive(),
            self.quarantine(),
            self.pending(),
        ] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| X12Error::io(&dir, e))?;
        }
        Ok(())
    }
}

/// The first 16 hex digits of the SHA-256 of `bytes`.
pub fn sha256_prefix(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(8).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A control number or id reduced to file-name-safe characters.
pub(super) fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Regular files of `dir`, sorted, without dot files and `.tmp` files.
pub(super) async fn list_files(dir: &Path) -> Result<Vec<String>, X12Error> {
    let mut rd = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| X12Error::io(dir, e))?;
    let mut names = BTreeMap::new();
    while let Some(entry) = rd.next_entry().await.map_err(|e| X12Error::io(dir, e))? {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || name.ends_with(".tmp") {
            continue;
        }
        let is_file = entry
            .file_type()
            .await
            .map_err(|e| X12Error::io(&entry.path(), e))?
            .is_file();
        if is_file {
            names.insert(name, ());
        }
    }
    Ok(names.into_keys().collect())
}

/// Writes `.<name>.tmp` next to `path`, fsyncs it, renames it over `path`
/// and fsyncs the folder: readers see the whole file or nothing.
pub async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), X12Error> {
    let dir = path
        .parent()
        .ok_or_else(|| X12Error::Invalid(format!("{} has no folder", path.display())))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| X12Error::Invalid(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| X12Error::io(&tmp, e))?;
    let f = tokio::fs::File::open(&tmp)
        .await
        .map_err(|e| X12Error::io(&tmp, e))?;
    f.sync_all().await.map_err(|e| X12Error::io(&tmp, e))?;
    drop(f);
    rename(&tmp, path).await?;
    sync_dir(dir).await
}

pub(super) async fn rename(from: &Path, to: &Path) -> Result<(), X12Error> {
    tokio::fs::rename(from, to)
        .await
        .map_err(|e| X12Error::io(from, e))
}

pub(super) async fn remove_file(path: &Path) -> Result<(), X12Error> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(X12Error::io(path, e)),
    }
}

/// Makes renames and deletions in `dir` durable.
pub(super) async fn sync_dir(dir: &Path) -> Result<(), X12Error> {
    let d = tokio::fs::File::open(dir)
        .await
        .map_err(|e| X12Error::io(dir, e))?;
    d.sync_all().await.map_err(|e| X12Error::io(dir, e))
}
