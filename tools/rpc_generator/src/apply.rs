//! Writing a plan to disk, and the repository read from disk.

use crate::plan::{Change, Plan, Repository};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository under `root`.
pub(crate) struct FsRepository {
    root: PathBuf,
}

impl FsRepository {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }
}

impl Repository for FsRepository {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(path)).ok()
    }

    fn proto_files(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for folder in entries.flatten() {
            let folder_name = folder.file_name().to_string_lossy().into_owned();
            let Ok(protos) = std::fs::read_dir(folder.path().join("proto")) else {
                continue;
            };
            for proto in protos.flatten() {
                let file_name = proto.file_name().to_string_lossy().into_owned();
                if file_name.ends_with(".proto") {
                    found.push(format!("{folder_name}/proto/{file_name}"));
                }
            }
        }
        found.sort();
        found
    }
}

/// Writes every file of `plan` under `root`. A file to create that appeared since planning
/// stops the write before anything is written.
pub(crate) fn write(root: &Path, plan: &Plan) -> anyhow::Result<()> {
    for (path, (change, _)) in &plan.files {
        if *change == Change::Create && root.join(path).exists() {
            bail!("{path} appeared while planning: nothing written");
        }
    }
    for (path, (_, text)) in &plan.files {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

/// Formats the edited Rust files as `cargo fmt --check` expects and records a new crate in
/// Cargo.lock (without changing any other package's version).
///
/// Not `--offline`: `cargo metadata` reads the manifest of every locked package, those of other
/// platforms too, which a machine that only built for Linux has not downloaded.
pub(crate) fn settle_with_cargo(root: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for arguments in [
        &["metadata", "--format-version", "1"][..],
        &["fmt", "--all"][..],
    ] {
        let output = Command::new(&cargo)
            .args(arguments)
            .current_dir(root)
            .output()
            .with_context(|| format!("running cargo {}", arguments.join(" ")))?;
        if !output.status.success() {
            bail!(
                "cargo {} failed: {}",
                arguments.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::{Owner, ServiceName};

    #[test]
    fn the_repository_lists_protos_of_top_level_proto_folders_only() {
        let root = tempfile::tempdir().unwrap();
        for path in [
            "a/proto/x.proto",
            "a/proto/notes.md",
            "b/proto/y.proto",
            "c/deep/proto/z.proto",
        ] {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let repo = FsRepository::new(root.path());
        assert_eq!(repo.proto_files(), ["a/proto/x.proto", "b/proto/y.proto"]);
        assert_eq!(repo.read("a/proto/x.proto").as_deref(), Some(""));
        assert_eq!(repo.read("nope"), None);
    }

    #[test]
    fn a_refused_plan_writes_nothing() {
        let root = tempfile::tempdir().unwrap();
        // Not a repository root: the plan fails before any file is written.
        let repo = FsRepository::new(root.path());
        let result = crate::plan::plan(
            &repo,
            &ServiceName::parse("inventory").unwrap(),
            &Owner::parse("inventory_service").unwrap(),
        );
        assert!(result.is_err());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
