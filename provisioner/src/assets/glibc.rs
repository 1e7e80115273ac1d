//! Does a Linux binary start on Lambda's OS? It must not need a glibc symbol
//! version newer than the one `provided.al2023` ships.
//!
//! The dynamic loader refuses to start a binary whose `.gnu.version_r`
//! (version needs) names a `GLIBC_x.y` the system's libc does not define.
//! We read the needs of every undefined dynamic symbol (`.dynsym` +
//! `.gnu.version`), so the error names the symbols, not just a version.

use std::fmt;

use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, Sym};
use object::{Endianness, SymbolIndex};

/// glibc of Amazon Linux 2023, the OS of the `provided.al2023` runtime
/// (https://docs.aws.amazon.com/linux/al2023/release-notes/all-packages-AL2023.html:
/// glibc 2.34).
pub const LAMBDA_GLIBC: GlibcVersion = GlibcVersion {
    major: 2,
    minor: 34,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion {
    pub major: u32,
    pub minor: u32,
}

impl GlibcVersion {
    /// Parses a version-need name: `GLIBC_2.34` → 2.34. Other names
    /// (`GLIBC_PRIVATE`, `GCC_3.0`) are not glibc release versions.
    pub fn from_version_name(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("GLIBC_")?;
        let mut parts = rest.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
        Some(Self { major, minor })
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "glibc {}.{}", self.major, self.minor)
    }
}

/// An undefined symbol bound to a glibc version newer than allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooNewSymbol {
    pub symbol: String,
    /// e.g. `GLIBC_2.38`.
    pub version: String,
}

impl fmt::Display for TooNewSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.symbol, self.version)
    }
}

/// Why a file could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not a 64-bit ELF file ({0})")]
    Parse(String),
    #[error("built for ELF machine {0}, not x86_64")]
    WrongMachine(u16),
}

/// The undefined dynamic symbols of an x86_64 ELF that need a glibc newer
/// than `max`, sorted by symbol. Empty means the binary loads on `max`.
pub fn symbols_newer_than(binary: &[u8], max: GlibcVersion) -> Result<Vec<TooNewSymbol>, ElfError> {
    let parse = |e: object::Error| ElfError::Parse(e.to_string());
    let header = FileHeader64::<Endianness>::parse(binary).map_err(parse)?;
    let endian = header.endian().map_err(parse)?;
    let machine = header.e_machine.get(endian);
    if machine != elf::EM_X86_64 {
        return Err(ElfError::WrongMachine(machine));
    }
    let sections = header.sections(endian, binary).map_err(parse)?;
    let Some(versions) = sections.versions(endian, binary).map_err(parse)? else {
        // No symbol versions at all: a static binary, nothing to check.
        return Ok(Vec::new());
    };
    let dynsym = sections
        .symbols(endian, binary, elf::SHT_DYNSYM)
        .map_err(parse)?;

    let mut too_new = Vec::new();
    for (index, symbol) in dynsym.symbols().iter().enumerate() {
        if !symbol.is_undefined(endian) {
            continue;
        }
        let version_index = versions.version_index(endian, SymbolIndex(index));
        let Some(version) = versions.version(version_index).map_err(parse)? else {
            continue;
        };
        let version_name = String::from_utf8_lossy(version.name());
        let Some(needed) = GlibcVersion::from_version_name(&version_name) else {
            continue;
        };
        if needed > max {
            let name = symbol.name(endian, dynsym.strings()).map_err(parse)?;
            too_new.push(TooNewSymbol {
                symbol: String::from_utf8_lossy(name).into_owned(),
                version: version_name.into_owned(),
            });
        }
    }
    too_new.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    too_new.dedup();
    Ok(too_new)
}

/// The newest glibc version any undefined symbol needs (`None` for a binary
/// without glibc symbol versions), e.g. to report it.
pub fn newest_needed(binary: &[u8]) -> Result<Option<GlibcVersion>, ElfError> {
    let floor = GlibcVersion { major: 0, minor: 0 };
    let needs = symbols_newer_than(binary, floor)?;
    Ok(needs
        .iter()
        .filter_map(|s| GlibcVersion::from_version_name(&s.version))
        .max())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_binary() -> Vec<u8> {
        let path = std::env::current_exe().expect("the test binary's path");
        std::fs::read(&path).expect("the test binary is readable")
    }

    #[test]
    fn parses_glibc_version_names() {
        assert_eq!(
            GlibcVersion::from_version_name("GLIBC_2.34"),
            Some(GlibcVersion {
                major: 2,
                minor: 34
            })
        );
        assert_eq!(
            GlibcVersion::from_version_name("GLIBC_2.2.5"),
            Some(GlibcVersion { major: 2, minor: 2 })
        );
        assert_eq!(GlibcVersion::from_version_name("GLIBC_PRIVATE"), None);
        assert_eq!(GlibcVersion::from_version_name("GCC_3.0"), None);
    }

    #[test]
    fn versions_order_numerically_not_as_text() {
        let v = |minor| GlibcVersion { major: 2, minor };
        assert!(v(9) < v(34));
        assert!(v(35) > LAMBDA_GLIBC);
    }

    // The host's own test binary is a fixture with real version needs: linked
    // by the system toolchain, it needs at least the GLIBC_2.2.5 baseline of
    // x86_64, and every symbol it needs is reported against an older limit.
    #[test]
    fn finds_the_symbols_of_the_hosts_own_binary_that_need_a_newer_glibc() {
        let binary = own_binary();
        let newest = newest_needed(&binary)
            .expect("the test binary is an x86_64 ELF")
            .expect("a dynamically linked test binary has glibc symbol versions");
        assert!(newest >= GlibcVersion { major: 2, minor: 2 });

        let all = symbols_newer_than(&binary, GlibcVersion { major: 2, minor: 0 }).unwrap();
        assert!(
            all.iter()
                .any(|s| s.symbol == "memcpy" || s.symbol == "malloc" || s.symbol == "write"),
            "expected a libc function among {all:?}"
        );
        assert!(all.iter().all(|s| s.version.starts_with("GLIBC_2.")));

        let none = symbols_newer_than(&binary, newest).unwrap();
        assert!(
            none.is_empty(),
            "nothing is newer than the newest: {none:?}"
        );
    }

    #[test]
    fn a_limit_just_below_the_newest_need_names_the_symbols_that_need_it() {
        let binary = own_binary();
        let newest = newest_needed(&binary).unwrap().unwrap();
        let below = GlibcVersion {
            major: newest.major,
            minor: newest.minor - 1,
        };
        let too_new = symbols_newer_than(&binary, below).unwrap();
        assert!(!too_new.is_empty());
        assert!(
            too_new
                .iter()
                .all(|s| GlibcVersion::from_version_name(&s.version) == Some(newest)),
            "only symbols of {newest} are newer than {below}: {too_new:?}"
        );
        assert!(too_new.iter().all(|s| !s.symbol.is_empty()));
    }

    #[test]
    fn rejects_a_file_that_is_not_an_elf() {
        let err = symbols_newer_than(b"#!/bin/sh\necho hello\n", LAMBDA_GLIBC).unwrap_err();
        assert!(matches!(err, ElfError::Parse(_)), "{err}");
    }

    #[test]
    fn rejects_an_elf_for_another_machine() {
        let mut binary = own_binary();
        // e_machine is the u16 at offset 18 of the ELF header; 183 = aarch64.
        binary[18..20].copy_from_slice(&183u16.to_le_bytes());
        assert_eq!(
            symbols_newer_than(&binary, LAMBDA_GLIBC),
            Err(ElfError::WrongMachine(183))
        );
    }
}
