//! The Lambda deployment package: a zip with one entry, `bootstrap`, the
//! executable the `provided.al2023` runtime starts
//! (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-provided.html).
//!
//! The zip's bytes depend on the binary's bytes and nothing else, so its
//! sha256 (the asset's S3 key) is the same on every machine:
//! - the one entry's timestamp is fixed at 1980-01-01 00:00 (the earliest
//!   MS-DOS date a zip can hold) instead of the file's mtime;
//! - its permissions are fixed at 0o755 (Lambda needs `bootstrap`
//!   executable) instead of the file's mode and the builder's umask;
//! - compression is deflate at a fixed level, done in pure Rust
//!   (miniz_oxide, pinned by Cargo.lock), not by a system zlib whose output
//!   may differ between versions;
//! - no extra fields (extended timestamps, uid/gid), no comment, no
//!   directory entries, and the entry name is a constant.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The file the custom runtime executes.
pub const ENTRY_NAME: &str = "bootstrap";

/// `rwxr-xr-x`: Lambda must be able to execute the entry.
pub const ENTRY_MODE: u32 = 0o755;

/// Deflate level 9: the zips are built once and downloaded on every cold
/// start, so a few more milliseconds of compression are well spent.
const DEFLATE_LEVEL: i64 = 9;

/// The deployment zip of `binary`, byte for byte reproducible.
pub fn zip_bootstrap(binary: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(DEFLATE_LEVEL))
        .last_modified_time(DateTime::default())
        .unix_permissions(ENTRY_MODE)
        .large_file(false);
    let mut zip = ZipWriter::new(Cursor::new(Vec::with_capacity(binary.len() / 2)));
    zip.start_file(ENTRY_NAME, options)?;
    zip.write_all(binary)?;
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample_binary() -> Vec<u8> {
        // Compressible but not trivial, like machine code.
        (0..200_000u32)
            .flat_map(|i| (i.wrapping_mul(2_654_435_761) >> 24).to_le_bytes())
            .collect()
    }

    #[test]
    fn the_same_binary_gives_the_same_bytes() {
        let binary = sample_binary();
        assert_eq!(
            zip_bootstrap(&binary).unwrap(),
            zip_bootstrap(&binary).unwrap()
        );
    }

    #[test]
    fn a_different_binary_gives_different_bytes() {
        let mut other = sample_binary();
        other[1000] ^= 1;
        assert_ne!(
            zip_bootstrap(&sample_binary()).unwrap(),
            zip_bootstrap(&other).unwrap()
        );
    }

    #[test]
    fn holds_one_executable_bootstrap_entry_dated_1980_with_the_binary_inside() {
        let binary = sample_binary();
        let bytes = zip_bootstrap(&binary).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(entry.compression(), CompressionMethod::Deflated);
        let modified = entry.last_modified().unwrap();
        assert_eq!(
            (modified.year(), modified.month(), modified.day()),
            (1980, 1, 1)
        );
        assert_eq!(
            (modified.hour(), modified.minute(), modified.second()),
            (0, 0, 0)
        );
        assert!(entry.extra_data().is_none_or(|extra| extra.is_empty()));
        let mut unpacked = Vec::new();
        entry.read_to_end(&mut unpacked).unwrap();
        assert_eq!(unpacked, binary);
    }
}
