//! A column's pre-encoded key, the one piece of a table's schema the batch needs to write
//! rows. It lives here, below the tables, so that the batch knows nothing of them.

/// `,"Name":` for one column, padded to a fixed size: appending it is one fixed-size copy
/// and a length change. A `memcpy` call per key (a row has 14-30) showed in `perf`.
#[derive(Debug)]
pub struct Key {
    padded: [u8; Key::ROOM],
    len: usize,
}

impl Key {
    /// Room for the longest column name (26 bytes) with its quotes, colon and comma.
    const ROOM: usize = 32;

    /// The key of the column `name`. Panics when the name does not fit: column names are
    /// the tables' own constants, checked by the tests.
    pub fn new(name: &str) -> Key {
        let text = format!(",\"{name}\":");
        assert!(text.len() <= Key::ROOM, "column name {name} is too long");
        let mut padded = [b' '; Key::ROOM];
        padded[..text.len()].copy_from_slice(text.as_bytes());
        Key {
            padded,
            len: text.len(),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.padded[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the key to `out`.
    #[inline(always)]
    pub fn write(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&self.padded);
        out.truncate(at + self.len);
    }
}
