//! Finding where a JSON string's text stops being plain: the next `"`,
//! `\` or control character (the bytes RFC 8259 §7 does not allow raw).
//! Both the stream reader and the warehouse writer scan every byte of every
//! string, so this looks at eight bytes at a time (a byte-by-byte loop was
//! the largest cost of reading a record).

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);

/// The length of the longest prefix of `bytes` without a special byte.
pub(crate) fn plain_len(bytes: &[u8]) -> usize {
    let mut len = 0;
    loop {
        let word = match bytes.get(len..len + 8) {
            Some(chunk) => u64::from_le_bytes(chunk.try_into().expect("eight bytes")),
            None => {
                // The last few bytes, padded with plain spaces.
                let mut padded = [b' '; 8];
                padded[..bytes.len() - len].copy_from_slice(&bytes[len..]);
                u64::from_le_bytes(padded)
            }
        };
        let special = special_bytes(word);
        if special != 0 {
            return len + special.trailing_zeros() as usize / 8;
        }
        len += 8;
        if len >= bytes.len() {
            return bytes.len();
        }
    }
}

/// The high bit of each special byte of `word` (little-endian), exact up to
/// the first special byte, which is all [`plain_len`] reads ("Determine if
/// a word has a byte less than n", Bit Twiddling Hacks: below the first
/// such byte nothing borrows, so no bit is set).
fn special_bytes(word: u64) -> u64 {
    let below = |n: u8, word: u64| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH_BITS;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    below(0x20, word) | below(1, quote) | below(1, backslash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_special(byte: u8) -> bool {
        matches!(byte, b'"' | b'\\' | 0..=0x1f)
    }

    #[test]
    fn finds_the_first_special_byte_at_every_position_of_a_word() {
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for len in 0..20 {
                for at in 0..len {
                    // Non-ASCII before it; after it, bytes that would
                    // confuse a sloppy word test.
                    let mut bytes = vec![0xc3; len];
                    bytes[at] = special;
                    for (byte, after) in bytes[at + 1..]
                        .iter_mut()
                        .zip([0x00, 0x01, 0xa0, 0xff].iter().cycle())
                    {
                        *byte = *after;
                    }
                    assert_eq!(plain_len(&bytes), at, "{special:#x} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn every_other_byte_is_plain() {
        let plain: Vec<u8> = (0..=255u8).filter(|&byte| !is_special(byte)).collect();
        assert_eq!(plain.len(), 256 - 34);
        assert_eq!(plain_len(&plain), plain.len());
        for window in plain.windows(8) {
            assert_eq!(
                special_bytes(u64::from_le_bytes(window.try_into().unwrap())),
                0
            );
        }
        let text = "£ é 😀 text of more than eight bytes";
        assert_eq!(plain_len(text.as_bytes()), text.len());
    }
}
