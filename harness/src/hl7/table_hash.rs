//! The hasher of the lookup tables built once from the embedded standard (segment and data type
//! definitions, structures, trigger events, coded tables).
//!
//! Validation looks a segment id up for every segment of every message, and the standard
//! library's SipHash cost more there than the lookup itself. SipHash exists to stop an attacker
//! from filling a table with colliding keys; these tables are filled only from the embedded
//! data, never from input, so a lookup with a hostile key costs one probe sequence of a fixed
//! table, like any miss. Tables keyed by input (the matcher's segment counts) keep SipHash.
//!
//! The function is FxHash as rustc uses it (rustc-hash 2: add, multiply, and a final rotation
//! so the high bits hashbrown uses for its tags are well mixed), written here rather than added
//! as a dependency for twenty lines.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map over the embedded tables (not for keys read from input; see the module docs).
pub(crate) type TableMap<K, V> = HashMap<K, V, BuildHasherDefault<TableHasher>>;

const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TableHasher(u64);

impl TableHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = self.0.wrapping_add(word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for TableHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("chunks_exact yields 8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_map_finds_what_it_holds_and_nothing_else() {
        let mut map: TableMap<&str, usize> = TableMap::default();
        let ids = ["MSH", "PID", "PV1", "OBX", "ZZ1", "", "A", "LONGER_THAN_EIGHT", "PID\0"];
        for (i, id) in ids.iter().enumerate() {
            map.insert(id, i);
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.get(id), Some(&i), "{id:?}");
        }
        assert_eq!(map.get("PI"), None);
        assert_eq!(map.get("PID "), None);
    }
}
