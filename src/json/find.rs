//! Finding the end of a JSON string's run: the next `"` or `\`.
//!
//! Most strings in AWS records are short (keys, ids, regions: 5 to 30 bytes), where calling
//! `memchr2` costs more in setup than the search. The first 32 bytes are checked eight at a
//! time with the classic "has zero byte" word trick (SWAR); longer runs go to `memchr2`'s SIMD
//! search.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bytes of `w` equal to `b` get their high bit set (exact for the lowest match; higher
/// bytes may have false positives only above a true match, which `trailing_zeros` ignores).
#[inline(always)]
fn eq_mask(w: u64, b: u8) -> u64 {
    let x = w ^ (LO * b as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// Position of the first `"` or `\` in `s`.
#[inline]
pub fn quote_or_backslash(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 8 <= s.len() && i < 32 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&s[i..i + 8]);
        let w = u64::from_le_bytes(word);
        let m = eq_mask(w, b'"') | eq_mask(w, b'\\');
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i < 32 {
        // Fewer than 8 bytes left.
        return s[i..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')
            .map(|p| p + i);
    }
    memchr::memchr2(b'"', b'\\', &s[i..]).map(|p| p + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_a_plain_search() {
        let mut cases: Vec<Vec<u8>> = vec![b"".to_vec(), b"\"".to_vec(), b"abc".to_vec()];
        for len in 0..80 {
            for pos in 0..len {
                for c in [b'"', b'\\'] {
                    let mut v = vec![b'a'; len];
                    v[pos] = c;
                    // Bytes that trip naive SWAR checks (0x80+, values just above the target).
                    if pos + 1 < len {
                        v[pos + 1] = 0xA3;
                    }
                    if pos > 0 {
                        v[pos - 1] = 0x21;
                    }
                    cases.push(v);
                }
            }
            cases.push(vec![0xff; len]);
            cases.push((0..len as u8).collect());
        }
        for c in cases {
            let want = c.iter().position(|&b| b == b'"' || b == b'\\');
            assert_eq!(quote_or_backslash(&c), want, "{c:?}");
        }
    }
}
