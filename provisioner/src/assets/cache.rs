//! Built zips by source hash, under the target folder:
//! `<target>/lambda-assets/cache/<function>/<source hash>.zip`, beside a
//! `<source hash>.json` with the zip's sha256 and size.
//!
//! An entry is complete once its `.json` exists: the zip is renamed into
//! place first, the `.json` last, so an interrupted build leaves nothing a
//! later run would trust.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AssetError;

/// Entries kept per function: enough to switch between a few branches
/// without rebuilding, without letting the cache grow with every edit.
const KEEP_PER_FUNCTION: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedZip {
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache inside cargo's target folder (`target/lambda-assets/cache`).
    pub fn in_target_dir(target_dir: &Path) -> Self {
        Self {
            dir: target_dir.join("lambda-assets").join("cache"),
        }
    }

    pub fn zip_path(&self, function: &str, source_hash: &str) -> PathBuf {
        self.dir.join(function).join(format!("{source_hash}.zip"))
    }

    fn meta_path(&self, function: &str, source_hash: &str) -> PathBuf {
        self.dir.join(function).join(format!("{source_hash}.json"))
    }

    /// The complete entry for these sources, if one was stored.
    pub fn lookup(
        &self,
        function: &str,
        source_hash: &str,
    ) -> Result<Option<CachedZip>, AssetError> {
        let meta = self.meta_path(function, source_hash);
        let bytes = match fs::read(&meta) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(AssetError::Read { path: meta, source }),
        };
        if !self.zip_path(function, source_hash).is_file() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| AssetError::CorruptCache { path: meta, source })
    }

    /// Stores `zip` for these sources and drops the function's oldest entries.
    pub fn store(
        &self,
        function: &str,
        source_hash: &str,
        zip: &[u8],
    ) -> Result<CachedZip, AssetError> {
        let dir = self.dir.join(function);
        fs::create_dir_all(&dir).map_err(|source| AssetError::Write {
            path: dir.clone(),
            source,
        })?;
        let entry = CachedZip {
            sha256: hex::encode(Sha256::digest(zip)),
            size: zip.len() as u64,
        };
        let meta = serde_json::to_vec_pretty(&entry).expect("plain data serialises");
        write_atomically(&self.zip_path(function, source_hash), zip)?;
        write_atomically(&self.meta_path(function, source_hash), &meta)?;
        self.prune(function)?;
        Ok(entry)
    }

    fn prune(&self, function: &str) -> Result<(), AssetError> {
        let dir = self.dir.join(function);
        let read_error = |source| AssetError::Read {
            path: dir.clone(),
            source,
        };
        let mut entries = Vec::new();
        for entry in fs::read_dir(&dir).map_err(read_error)? {
            let path = entry.map_err(read_error)?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let modified =
                    fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .map_err(|source| AssetError::Read {
                            path: path.clone(),
                            source,
                        })?;
                entries.push((modified, path));
            }
        }
        entries.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        for (_, meta) in entries.into_iter().skip(KEEP_PER_FUNCTION) {
            // The `.json` first: without it the zip is no longer an entry.
            for path in [meta.clone(), meta.with_extension("zip")] {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(AssetError::Write { path, source }),
                }
            }
        }
        Ok(())
    }
}

/// Writes beside `path` and renames, so readers see the old file or the
/// whole new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AssetError> {
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let write_error = |source| AssetError::Write {
        path: path.to_path_buf(),
        source,
    };
    fs::write(&partial, bytes).map_err(write_error)?;
    fs::rename(&partial, path).map_err(|source| {
        let _ = fs::remove_file(&partial);
        write_error(source)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> String {
        format!("{n:064x}")
    }

    #[test]
    fn a_stored_zip_is_found_by_function_and_source_hash() {
        let target = tempfile::tempdir().unwrap();
        let cache = Cache::in_target_dir(target.path());
        assert_eq!(cache.lookup("ingest", &hash(1)).unwrap(), None);
        let stored = cache.store("ingest", &hash(1), b"zip bytes").unwrap();
        assert_eq!(stored.size, 9);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(b"zip bytes")));
        assert_eq!(cache.lookup("ingest", &hash(1)).unwrap(), Some(stored));
        assert_eq!(cache.lookup("query", &hash(1)).unwrap(), None);
        assert_eq!(cache.lookup("ingest", &hash(2)).unwrap(), None);
    }

    #[test]
    fn an_entry_without_its_zip_is_a_miss() {
        let target = tempfile::tempdir().unwrap();
        let cache = Cache::in_target_dir(target.path());
        cache.store("ingest", &hash(1), b"zip").unwrap();
        fs::remove_file(cache.zip_path("ingest", &hash(1))).unwrap();
        assert_eq!(cache.lookup("ingest", &hash(1)).unwrap(), None);
    }

    #[test]
    fn a_corrupt_entry_is_an_error_naming_the_file() {
        let target = tempfile::tempdir().unwrap();
        let cache = Cache::in_target_dir(target.path());
        cache.store("ingest", &hash(1), b"zip").unwrap();
        fs::write(cache.meta_path("ingest", &hash(1)), "{").unwrap();
        let err = cache.lookup("ingest", &hash(1)).unwrap_err();
        assert!(err.to_string().contains(&hash(1)), "{err}");
    }

    #[test]
    fn keeps_only_the_newest_entries_of_a_function() {
        let target = tempfile::tempdir().unwrap();
        let cache = Cache::in_target_dir(target.path());
        let count = KEEP_PER_FUNCTION as u8 + 2;
        for n in 0..count {
            cache.store("ingest", &hash(n), &[n]).unwrap();
            // Distinct modification times, whatever the file system's resolution.
            let meta = cache.meta_path("ingest", &hash(n));
            let at = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(1_000 + u64::from(n));
            fs::File::options()
                .write(true)
                .open(&meta)
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
        cache.store("query", &hash(0), b"q").unwrap();
        cache.prune("ingest").unwrap();
        let kept: Vec<_> = (0..count)
            .filter(|n| cache.lookup("ingest", &hash(*n)).unwrap().is_some())
            .collect();
        assert_eq!(kept, (2..count).collect::<Vec<_>>());
        assert!(!cache.zip_path("ingest", &hash(0)).exists());
        assert!(cache.lookup("query", &hash(0)).unwrap().is_some());
    }
}
