//! What makes a message a resend of one seen before: its MSH-3, MSH-4 and MSH-10 (HL7 v2
//! ch. 2, the sending application and facility with the message control id), hashed to 128
//! bits as two SipHash values under keys drawn at random when the endpoint starts.
//!
//! No two distinct keys share a hash in practice: the chance for two given keys is 2^-128,
//! and a sender cannot aim for a collision without the random keys. A hash with known keys
//! (or 64 bits) would let a sender craft a new message that is taken for an earlier one and
//! answered with that one's answer, an acceptance it never earned. (A SHA-256 of the key did
//! the same in about seven times the instructions.)

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

/// The keyed hash of resend keys; each endpoint draws its own.
#[derive(Debug, Clone)]
pub struct ResendKeys {
    hashers: [RandomState; 2],
}

impl Default for ResendKeys {
    fn default() -> Self {
        ResendKeys { hashers: [RandomState::new(), RandomState::new()] }
    }
}

impl ResendKeys {
    /// The key made of `parts` (MSH-3, MSH-4, MSH-10, as the caller reads them), each
    /// length-prefixed so that no two splits of the same bytes share a key.
    pub fn key(&self, parts: [&[u8]; 3]) -> u128 {
        let [low, high] = self.hashers.each_ref().map(|keyed| {
            let mut hasher = keyed.build_hasher();
            for part in parts {
                hasher.write_usize(part.len());
                hasher.write(part);
            }
            hasher.finish()
        });
        u128::from(high) << 64 | u128::from(low)
    }
}

/// A set of resend keys.
pub type KeySet = HashSet<u128, BuildHasherDefault<Spread>>;

/// A map from resend keys.
pub type KeyMap<V> = HashMap<u128, V, BuildHasherDefault<Spread>>;

/// The tables' hasher: resend keys are already uniformly spread random bits, so their low 64
/// bits serve as the table's hash without hashing them again.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread(u64);

impl Hasher for Spread {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_the_parts_apart_and_differ_between_endpoints() {
        let keys = ResendKeys::default();
        let key = keys.key([b"EHR", b"HOSP", b"M1"]);
        assert_eq!(key, keys.key([b"EHR", b"HOSP", b"M1"]));
        assert_ne!(key, keys.key([b"EHR", b"HOSP", b"M2"]));
        assert_ne!(key, keys.key([b"EHRH", b"OSP", b"M1"]), "the length prefix splits parts");
        assert_ne!(key, keys.key([b"EHR", b"HOSPM1", b""]));
        assert_ne!(key, ResendKeys::default().key([b"EHR", b"HOSP", b"M1"]), "keys are drawn");
    }

    #[test]
    fn tables_keyed_by_resend_keys_find_what_they_hold() {
        let keys = ResendKeys::default();
        let mut set = KeySet::default();
        let mut map = KeyMap::default();
        for n in 0..1000u32 {
            let id = n.to_string();
            assert!(set.insert(keys.key([b"A", b"B", id.as_bytes()])));
            map.insert(keys.key([b"A", b"B", id.as_bytes()]), n);
        }
        assert!(!set.insert(keys.key([b"A", b"B", b"7"])));
        assert_eq!(map.get(&keys.key([b"A", b"B", b"999"])), Some(&999));
        assert_eq!(map.get(&keys.key([b"A", b"B", b"1000"])), None);
    }
}
