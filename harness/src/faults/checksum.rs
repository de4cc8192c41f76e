//! The `bad_checksum` fault's one byte-level change: an HLLP block whose checksum is wrong and
//! everything else right. Pure.

/// Changes the three checksum digits of an encoded HLLP block (`… ccc <EB> <CR>`) to another
/// valid checksum, so only the checksum is wrong.
pub fn damage_checksum(block: &mut [u8]) {
    let Some(end) = block.len().checked_sub(2) else { return };
    let Some(start) = end.checked_sub(3) else { return };
    let Some(digits) = block.get_mut(start..end) else { return };
    let value = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<u16>().ok()).unwrap_or(0);
    let damaged = format!("{:03}", (value + 1) % 256);
    digits.copy_from_slice(damaged.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_checksum_is_another_valid_one() {
        let mut block = b"\x0bD21\rMSH|x\r00006255\x1c\r".to_vec();
        damage_checksum(&mut block);
        assert_eq!(block, b"\x0bD21\rMSH|x\r00006000\x1c\r");
        let mut short = b"\x1c\r".to_vec();
        damage_checksum(&mut short);
        assert_eq!(short, b"\x1c\r", "too short to hold a checksum: unchanged");
    }
}
