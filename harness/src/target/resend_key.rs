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
        // SipHash reads its input as one stream, however it is cut into writes, and each write
        // costs a good deal besides its bytes. The usual key (a few dozen bytes) is laid out
        // once and hashed in one write by each hasher; a longer one is streamed part by part.
        // Both give the same hash.
        let mut joined = [0u8; JOINED_BYTES];
        let [low, high] = match lay_out(parts, &mut joined) {
            Some(stream) => self.hashers.each_ref().map(|keyed| {
                let mut hasher = keyed.build_hasher();
                hasher.write(stream);
                hasher.finish()
            }),
            None => self.hashers.each_ref().map(|keyed| streamed(keyed, parts)),
        };
        u128::from(high) << 64 | u128::from(low)
    }
}

/// Room for a key hashed in one write: length prefixes and all.
const JOINED_BYTES: usize = 160;

/// The stream [`streamed`] hashes (each part after its length, as `write_usize` writes it),
/// laid out in `room`; `None` when it does not fit.
fn lay_out<'r>(parts: [&[u8]; 3], room: &'r mut [u8; JOINED_BYTES]) -> Option<&'r [u8]> {
    let mut at = 0;
    for part in parts {
        let length = part.len().to_ne_bytes();
        for piece in [&length[..], part] {
            let end = at + piece.len();
            room.get_mut(at..end)?.copy_from_slice(piece);
            at = end;
        }
    }
    room.get(..at)
}

/// The hash of `parts` written one after another, each after its length.
fn streamed(keyed: &RandomState, parts: [&[u8]; 3]) -> u64 {
    let mut hasher = keyed.build_hasher();
    for part in parts {
        hasher.write_usize(part.len());
        hasher.write(part);
    }
    hasher.finish()
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

    /// The key hashed in one write is the key streamed part by part, for keys that fit the
    /// room and keys that do not (a hostile MSH-10 of any length still gets a key).
    #[test]
    fn a_key_laid_out_in_one_write_is_the_key_streamed() {
        let keys = ResendKeys::default();
        let streamed_key = |parts: [&[u8]; 3]| {
            let [low, high] = keys.hashers.each_ref().map(|keyed| streamed(keyed, parts));
            u128::from(high) << 64 | u128::from(low)
        };
        let long = vec![b'9'; 10_000];
        let mut fitted = 0;
        for length in [0, 1, 7, 8, 9, 60, 100, 135, 136, 137, 200, 10_000] {
            let id = &long[..length];
            for parts in [[&b"EHR"[..], b"HOSP", id], [id, b"", b"M1"], [b"", id, id]] {
                let mut room = [0u8; JOINED_BYTES];
                fitted += usize::from(lay_out(parts, &mut room).is_some());
                assert_eq!(keys.key(parts), streamed_key(parts), "{:?}", parts.map(<[u8]>::len));
            }
        }
        assert!(fitted > 10 && fitted < 36, "both ways are taken ({fitted} of 36 fit)");
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
