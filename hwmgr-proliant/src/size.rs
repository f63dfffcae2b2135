//! Size text from ssacli (`558.9 GB`, `2048 MB`, `1.1 TB`) to bytes and whole GiB.
//!
//! The rules follow what proliantutils does (`hpssa/objects.py: PhysicalDrive.__init__`,
//! `LogicalDrive.__init__`, through oslo's `strutils.string_to_bytes`) because the
//! returned `size_gb` values are part of the contract with the conductor: every unit
//! prefix is a power of 1024 (so `GB` is treated as GiB), the number may have a fraction,
//! a unit ending in `B` is mandatory, and `b`/`bit` means bits. We compute with exact
//! integer arithmetic (numerator over a power of ten) instead of floats, then round up to
//! a whole byte.

/// Why a size text was rejected; the caller adds which object it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSize;

/// Parses a size text into bytes (rounded up). Spaces anywhere are ignored, as
/// `558.9 GB` and `558.9GB` are the same size.
pub fn parse_bytes(text: &str) -> Result<u128, BadSize> {
    let s: String = text.chars().filter(|c| *c != ' ').collect();
    // The unit: optional prefix, optional `i`, then `B` (bytes) or `b`/`bit` (bits).
    let (rest, bits) = if let Some(r) = s.strip_suffix("bit") {
        (r, true)
    } else if let Some(r) = s.strip_suffix('b') {
        (r, true)
    } else if let Some(r) = s.strip_suffix('B') {
        (r, false)
    } else {
        return Err(BadSize);
    };
    let rest = rest.strip_suffix('i').unwrap_or(rest);
    let (number, exponent) = match rest.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let exp = "KMGTPEZYRQ".find(c).ok_or(BadSize)? as u32 + 1;
            (&rest[..rest.len() - 1], exp)
        }
        _ => (rest, 0),
    };
    let number = number.strip_prefix('+').unwrap_or(number);
    let (numerator, decimals) = parse_decimal(number)?;
    let multiplier = 1024u128.checked_pow(exponent).ok_or(BadSize)?;
    let mut denominator = 10u128.checked_pow(decimals).ok_or(BadSize)?;
    if bits {
        denominator = denominator.checked_mul(8).ok_or(BadSize)?;
    }
    let scaled = numerator.checked_mul(multiplier).ok_or(BadSize)?;
    Ok(scaled.div_ceil(denominator))
}

/// `\d*\.?\d+` as (digits without the dot, number of digits after the dot). A sign other
/// than `+` is rejected: a negative size is never a real answer from ssacli.
fn parse_decimal(s: &str) -> Result<(u128, u32), BadSize> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => ("", s),
    };
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    // At least one digit after the dot (or in a plain integer); `5.` is not accepted.
    if frac.is_empty() || !all_digits(int) || !all_digits(frac) || frac.len() + int.len() > 30 {
        return Err(BadSize);
    }
    let mut n: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        n = n * 10 + u128::from(b - b'0');
    }
    let decimals = if s.contains('.') {
        frac.len() as u32
    } else {
        0
    };
    Ok((n, decimals))
}

const GIB: u128 = 1 << 30;

/// Whole GiB of a physical drive (truncated).
pub fn drive_gib(text: &str) -> Result<u64, BadSize> {
    let gib = parse_bytes(text)? / GIB;
    u64::try_from(gib).map_err(|_| BadSize)
}

/// Whole GiB of a logical drive, minus one: proliantutils reports one GiB less than the
/// controller does so that a config drive still fits behind the image, and the conductor
/// stores what we return. A drive smaller than 1 GiB reports 0 instead of going negative.
pub fn logical_drive_gib(text: &str) -> Result<u64, BadSize> {
    Ok(drive_gib(text)?.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_values_as_proliantutils_computes_them() {
        assert_eq!(parse_bytes("558.9 GB"), Ok(600_114_305_434));
        assert_eq!(parse_bytes("100.0 GB"), Ok(107_374_182_400));
        assert_eq!(parse_bytes("2.7 TB"), Ok(2_968_681_394_996));
        assert_eq!(parse_bytes("2048 MB"), Ok(2_147_483_648));
        assert_eq!(drive_gib("558.9 GB"), Ok(558));
        assert_eq!(logical_drive_gib("558.9 GB"), Ok(557));
        assert_eq!(logical_drive_gib("50.0 GB"), Ok(49));
        assert_eq!(logical_drive_gib("1.1 TB"), Ok(1125));
        assert_eq!(drive_gib("1.1 TB"), Ok(1126));
        assert_eq!(logical_drive_gib("838.3 GB"), Ok(837));
        assert_eq!(drive_gib("2.7 TB"), Ok(2764));
        assert_eq!(drive_gib("600 GB"), Ok(600));
        assert_eq!(drive_gib("2048 MB"), Ok(2));
        assert_eq!(drive_gib("1000 MB"), Ok(0));
        assert_eq!(logical_drive_gib("1000 MB"), Ok(0));
    }

    #[test]
    fn units_and_prefixes() {
        assert_eq!(parse_bytes("1 KiB"), Ok(1024));
        assert_eq!(parse_bytes("16 b"), Ok(2));
        assert_eq!(parse_bytes("1 Kbit"), Ok(128));
        assert_eq!(parse_bytes(".5 KB"), Ok(512));
        assert_eq!(parse_bytes("+3 B"), Ok(3));
        assert_eq!(parse_bytes("1 PB"), Ok(1 << 50));
    }

    #[test]
    fn rejects_what_is_not_a_size() {
        for bad in [
            "500foo",
            "558.9foo",
            "500",
            "",
            "GB",
            "-5 GB",
            "5. GB",
            "1.2.3 GB",
            "5 XB",
            "5 kB",
            "1 QB1",
            "99999999999999999999999999999999 QB",
            "５ GB",
        ] {
            assert_eq!(parse_bytes(bad), Err(BadSize), "{bad:?}");
        }
    }
}
