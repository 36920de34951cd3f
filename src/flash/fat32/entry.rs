//! Directory entries: 32-byte short (8.3) entries, the long-file-name (LFN) entries before them,
//! short-name generation and the FAT date/time format.

use super::FatError;

/// Size of one directory slot.
pub const SLOT_BYTES: usize = 32;
/// Attribute bits.
pub const ATTR_READ_ONLY: u8 = 0x01;
pub const ATTR_HIDDEN: u8 = 0x02;
pub const ATTR_SYSTEM: u8 = 0x04;
pub const ATTR_VOLUME_ID: u8 = 0x08;
pub const ATTR_DIRECTORY: u8 = 0x10;
pub const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_LONG_NAME: u8 = ATTR_READ_ONLY | ATTR_HIDDEN | ATTR_SYSTEM | ATTR_VOLUME_ID;
const ATTR_LONG_NAME_MASK: u8 = 0x3F;
/// First name byte of a deleted entry, and of the end of the directory.
pub const DELETED: u8 = 0xE5;
pub const END_OF_DIRECTORY: u8 = 0x00;
/// NT "lowercase base" / "lowercase extension" flags in byte 12 (honoured by Linux and mtools).
const NT_LOWER_BASE: u8 = 0x08;
const NT_LOWER_EXT: u8 = 0x10;
/// UTF-16 code units held by one LFN entry.
const LFN_UNITS_PER_SLOT: usize = 13;
/// A long name is at most 255 UTF-16 code units.
pub const NAME_UNITS_MAX: usize = 255;
/// Numeric tails (`~1` …) tried before giving up on a directory.
const NUMERIC_TAIL_MAX: u32 = 999_999;
/// Characters allowed in a short name besides A–Z and 0–9.
const SHORT_SPECIALS: &[u8] = b"$%'-_@~`!(){}^#&";
/// Characters never allowed in a long name.
const LONG_FORBIDDEN: &[char] = &['"', '*', '/', ':', '<', '>', '?', '\\', '|'];

/// A point in time as FAT stores it (local time, 2-second resolution, years 1980–2107).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatTimestamp {
    /// Packed date: bits 15–9 year since 1980, 8–5 month, 4–0 day.
    pub date: u16,
    /// Packed time: bits 15–11 hours, 10–5 minutes, 4–0 seconds / 2.
    pub time: u16,
}

impl FatTimestamp {
    /// 1980-01-01 00:00:00, the FAT epoch.
    pub const EPOCH: FatTimestamp = FatTimestamp {
        date: (1 << 5) | 1,
        time: 0,
    };

    /// Packs a calendar date and time; years outside 1980–2107 are clamped.
    pub fn new(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> FatTimestamp {
        let year = (year.clamp(1980, 2107) - 1980) as u16;
        FatTimestamp {
            date: (year << 9) | (u16::from(month.clamp(1, 12)) << 5) | u16::from(day.clamp(1, 31)),
            time: (u16::from(hour.min(23)) << 11)
                | (u16::from(minute.min(59)) << 5)
                | u16::from(second.min(59) / 2),
        }
    }
}

/// A decoded directory entry (a file, a directory; never a volume label or an LFN slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The long name when a valid one precedes the short entry, else the short name.
    pub name: String,
    /// The raw 11-byte short name.
    pub short_name: [u8; 11],
    /// Attribute bits.
    pub attr: u8,
    /// First data cluster, 0 for an empty file.
    pub first_cluster: u32,
    /// File size in bytes (0 for directories).
    pub size_bytes: u32,
    /// Slot index of the first LFN slot (or of the short entry when there is no long name).
    pub first_slot: usize,
    /// Slot index of the short entry.
    pub short_slot: usize,
}

impl DirEntry {
    /// Whether the entry is a directory.
    pub fn is_dir(&self) -> bool {
        self.attr & ATTR_DIRECTORY != 0
    }

    /// Whether this is the `.` or `..` entry of a subdirectory.
    pub fn is_dot(&self) -> bool {
        self.short_name == *b".          " || self.short_name == *b"..         "
    }
}

/// Parses all entries of a directory given as its raw bytes (whole clusters).
pub fn parse_directory(bytes: &[u8]) -> Vec<DirEntry> {
    let mut entries = Vec::new();
    let mut lfn = LfnCollector::default();
    for (slot, raw) in bytes.chunks_exact(SLOT_BYTES).enumerate() {
        match raw[0] {
            END_OF_DIRECTORY => break,
            DELETED => {
                lfn = LfnCollector::default();
                continue;
            }
            _ => {}
        }
        let attr = raw[11];
        if attr & ATTR_LONG_NAME_MASK == ATTR_LONG_NAME {
            lfn.push(slot, raw);
            continue;
        }
        let collected = std::mem::take(&mut lfn);
        if attr & ATTR_VOLUME_ID != 0 {
            continue;
        }
        let mut short_name = [0u8; 11];
        short_name.copy_from_slice(&raw[..11]);
        let long = collected.finish(short_name_checksum(&short_name));
        let (name, first_slot) = match long {
            Some((name, first)) => (name, first),
            None => (display_short_name(&short_name, raw[12]), slot),
        };
        let hi = u32::from(u16::from_le_bytes([raw[20], raw[21]]));
        let lo = u32::from(u16::from_le_bytes([raw[26], raw[27]]));
        entries.push(DirEntry {
            name,
            short_name,
            attr,
            first_cluster: (hi << 16) | lo,
            size_bytes: u32::from_le_bytes([raw[28], raw[29], raw[30], raw[31]]),
            first_slot,
            short_slot: slot,
        });
    }
    entries
}

/// Accumulates LFN slots; a sequence is only used when complete, in order and checksummed.
#[derive(Default)]
struct LfnCollector {
    units: Vec<u16>,
    expected_ord: u8,
    checksum: u8,
    first_slot: usize,
    valid: bool,
}

impl LfnCollector {
    fn push(&mut self, slot: usize, raw: &[u8]) {
        let ord = raw[0] & 0x1F;
        let checksum = raw[13];
        if raw[0] & 0x40 != 0 {
            *self = LfnCollector {
                units: vec![0; usize::from(ord) * LFN_UNITS_PER_SLOT],
                expected_ord: ord,
                checksum,
                first_slot: slot,
                valid: ord >= 1 && usize::from(ord) * LFN_UNITS_PER_SLOT < NAME_UNITS_MAX + 13,
            };
        } else if !self.valid || ord != self.expected_ord || checksum != self.checksum {
            self.valid = false;
            return;
        }
        if !self.valid {
            return;
        }
        let base = (usize::from(ord) - 1) * LFN_UNITS_PER_SLOT;
        for (i, at) in LFN_OFFSETS.iter().enumerate() {
            self.units[base + i] = u16::from_le_bytes([raw[*at], raw[*at + 1]]);
        }
        self.expected_ord = ord - 1;
    }

    fn finish(self, short_checksum: u8) -> Option<(String, usize)> {
        if !self.valid || self.expected_ord != 0 || self.checksum != short_checksum {
            return None;
        }
        let end = self
            .units
            .iter()
            .position(|&u| u == 0x0000)
            .unwrap_or(self.units.len());
        let name = String::from_utf16_lossy(&self.units[..end]);
        (!name.is_empty()).then_some((name, self.first_slot))
    }
}

/// Byte offsets of the 13 UTF-16 units inside an LFN slot.
const LFN_OFFSETS: [usize; 13] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/// The checksum of a short name stored in each of its LFN slots.
pub fn short_name_checksum(short: &[u8; 11]) -> u8 {
    short.iter().fold(0u8, |sum, &b| {
        ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(b)
    })
}

/// How a short name reads (`CONFIG.TXT`, or `config.txt` with the NT lowercase flags).
fn display_short_name(short: &[u8; 11], nt_flags: u8) -> String {
    let decode = |bytes: &[u8], lower: bool| -> String {
        let mut s: String = bytes
            .iter()
            .map(|&b| char::from(if b == 0x05 { 0xE5 } else { b }))
            .collect::<String>()
            .trim_end_matches(' ')
            .to_string();
        if lower {
            s = s.to_lowercase();
        }
        s
    };
    let base = decode(&short[..8], nt_flags & NT_LOWER_BASE != 0);
    let ext = decode(&short[8..], nt_flags & NT_LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// Checks a path component for use as a long name.
pub fn validate_name(name: &str) -> Result<(), FatError> {
    let invalid = |reason: &'static str| FatError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(invalid("empty, '.' or '..'"));
    }
    if name.encode_utf16().count() > NAME_UNITS_MAX {
        return Err(invalid("longer than 255 characters"));
    }
    if name
        .chars()
        .any(|c| (c as u32) < 0x20 || LONG_FORBIDDEN.contains(&c))
    {
        return Err(invalid("contains a character FAT forbids"));
    }
    if name.ends_with(' ') || name.ends_with('.') {
        return Err(invalid("ends with a space or a dot"));
    }
    Ok(())
}

/// The short name to store for `name` in a directory whose short names are `taken`, and
/// whether LFN slots are needed (they are unless `name` already is an upper-case 8.3 name).
pub fn short_name_for(name: &str, taken: &[[u8; 11]]) -> Result<([u8; 11], bool), FatError> {
    if let Some(exact) = exact_short_name(name) {
        return Ok((exact, false));
    }
    let upper = name.to_uppercase();
    let trimmed = upper.trim_start_matches('.');
    let (base_part, ext_part) = match trimmed.rfind('.') {
        Some(dot) => (&trimmed[..dot], &trimmed[dot + 1..]),
        None => (trimmed, ""),
    };
    let mut lossy = trimmed.len() != upper.len();
    let mut convert = |part: &str, limit: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for c in part.chars() {
            if c == ' ' || c == '.' {
                lossy = true;
                continue;
            }
            if out.len() == limit {
                lossy = true;
                break;
            }
            let b = if c.is_ascii() && is_short_char(c as u8) {
                c as u8
            } else {
                lossy = true;
                b'_'
            };
            out.push(b);
        }
        out
    };
    let mut base = convert(base_part, 8);
    let ext = convert(ext_part, 3);
    if base.is_empty() {
        base = b"_".to_vec();
        lossy = true;
    }
    let compose = |base: &[u8]| -> [u8; 11] {
        let mut short = [b' '; 11];
        short[..base.len()].copy_from_slice(base);
        short[8..8 + ext.len()].copy_from_slice(&ext);
        short
    };
    let plain = compose(&base);
    if !lossy && !taken.contains(&plain) {
        return Ok((plain, true));
    }
    for n in 1..=NUMERIC_TAIL_MAX {
        let tail = format!("~{n}");
        let keep = base.len().min(8 - tail.len());
        let mut tailed = base[..keep].to_vec();
        tailed.extend_from_slice(tail.as_bytes());
        let candidate = compose(&tailed);
        if !taken.contains(&candidate) {
            return Ok((candidate, true));
        }
    }
    Err(FatError::InvalidName {
        name: name.to_string(),
        reason: "no free short name left in the directory",
    })
}

fn is_short_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || SHORT_SPECIALS.contains(&b) || b >= 0x80
}

/// `Some` when `name` is already a valid upper-case 8.3 name (stored without LFN slots).
fn exact_short_name(name: &str) -> Option<[u8; 11]> {
    let (base, ext) = match name.split_once('.') {
        Some((b, e)) => (b, e),
        None => (name, ""),
    };
    let ok = |part: &str, max: usize| {
        part.len() <= max && part.bytes().all(|b| b.is_ascii() && is_short_char(b))
    };
    if base.is_empty() || !ok(base, 8) || !ok(ext, 3) || ext.contains('.') {
        return None;
    }
    if name.contains('.') && ext.is_empty() {
        return None;
    }
    let mut short = [b' '; 11];
    short[..base.len()].copy_from_slice(base.as_bytes());
    short[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
    Some(short)
}

/// Encodes the slots for `long_name` (LFN slots when `with_lfn`) followed by the short entry.
pub fn encode_entry(
    long_name: &str,
    short_name: [u8; 11],
    with_lfn: bool,
    attr: u8,
    first_cluster: u32,
    size_bytes: u32,
    at: FatTimestamp,
) -> Vec<[u8; SLOT_BYTES]> {
    let mut slots = Vec::new();
    if with_lfn {
        let units: Vec<u16> = long_name.encode_utf16().collect();
        let count = units.len().div_ceil(LFN_UNITS_PER_SLOT);
        let checksum = short_name_checksum(&short_name);
        for ord in (1..=count).rev() {
            let mut slot = [0u8; SLOT_BYTES];
            slot[0] = ord as u8 | if ord == count { 0x40 } else { 0 };
            slot[11] = ATTR_LONG_NAME;
            slot[13] = checksum;
            for (i, at) in LFN_OFFSETS.iter().enumerate() {
                let index = (ord - 1) * LFN_UNITS_PER_SLOT + i;
                let unit = match index.cmp(&units.len()) {
                    std::cmp::Ordering::Less => units[index],
                    std::cmp::Ordering::Equal => 0x0000,
                    std::cmp::Ordering::Greater => 0xFFFF,
                };
                slot[*at..*at + 2].copy_from_slice(&unit.to_le_bytes());
            }
            slots.push(slot);
        }
    }
    let mut short = [0u8; SLOT_BYTES];
    short[..11].copy_from_slice(&short_name);
    short[11] = attr;
    write_short_fields(&mut short, first_cluster, size_bytes, at, true);
    slots.push(short);
    slots
}

/// Sets the cluster, size and timestamps of a short entry (creation ones only when `created`).
pub fn write_short_fields(
    slot: &mut [u8],
    first_cluster: u32,
    size_bytes: u32,
    at: FatTimestamp,
    created: bool,
) {
    if created {
        slot[13] = 0;
        slot[14..16].copy_from_slice(&at.time.to_le_bytes());
        slot[16..18].copy_from_slice(&at.date.to_le_bytes());
    }
    slot[18..20].copy_from_slice(&at.date.to_le_bytes());
    slot[20..22].copy_from_slice(&((first_cluster >> 16) as u16).to_le_bytes());
    slot[22..24].copy_from_slice(&at.time.to_le_bytes());
    slot[24..26].copy_from_slice(&at.date.to_le_bytes());
    slot[26..28].copy_from_slice(&(first_cluster as u16).to_le_bytes());
    slot[28..32].copy_from_slice(&size_bytes.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(s: &str) -> [u8; 11] {
        s.as_bytes().try_into().unwrap()
    }

    #[test]
    fn upper_case_eight_three_names_need_no_long_name() {
        assert_eq!(
            short_name_for("CONFIG.TXT", &[]).unwrap(),
            (short("CONFIG  TXT"), false)
        );
        assert_eq!(
            short_name_for("EDGED", &[]).unwrap(),
            (short("EDGED      "), false)
        );
    }

    #[test]
    fn lower_case_names_get_a_long_name_and_a_plain_short_name() {
        assert_eq!(
            short_name_for("config.txt", &[]).unwrap(),
            (short("CONFIG  TXT"), true)
        );
    }

    #[test]
    fn long_names_get_numeric_tails_that_avoid_taken_short_names() {
        let (first, lfn) = short_name_for("edged-agent.service", &[]).unwrap();
        assert!(lfn);
        assert_eq!(first, short("EDGED-~1SER"));
        let (second, _) = short_name_for("edged-server.service", &[first]).unwrap();
        assert_eq!(second, short("EDGED-~2SER"));
    }

    #[test]
    fn names_with_leading_dots_and_odd_characters_are_made_short_safely() {
        let (s, lfn) = short_name_for(".hidden file+x", &[]).unwrap();
        assert!(lfn);
        assert_eq!(&s[..2], b"HI");
        assert!(s.iter().all(|&b| b == b' ' || is_short_char(b)));
    }

    #[test]
    fn forbidden_names_are_rejected_with_the_reason() {
        for bad in ["", ".", "..", "a:b", "x?", "ends.", "ends ", "tab\there"] {
            assert!(validate_name(bad).is_err(), "{bad:?} should be invalid");
        }
        let long = "n".repeat(256);
        assert!(validate_name(&long).is_err());
        assert!(validate_name(&"n".repeat(255)).is_ok());
    }

    #[test]
    fn encoded_long_names_parse_back_with_their_slots() {
        let name = "a rather long name with ünïcödé.txt";
        let (short_name, lfn) = short_name_for(name, &[]).unwrap();
        let slots = encode_entry(
            name,
            short_name,
            lfn,
            ATTR_ARCHIVE,
            77,
            1234,
            FatTimestamp::EPOCH,
        );
        assert_eq!(slots.len(), 1 + name.encode_utf16().count().div_ceil(13));
        let bytes: Vec<u8> = slots.iter().flatten().copied().collect();
        let entries = parse_directory(&bytes);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, name);
        assert_eq!(entries[0].first_cluster, 77);
        assert_eq!(entries[0].size_bytes, 1234);
        assert_eq!(entries[0].first_slot, 0);
        assert_eq!(entries[0].short_slot, slots.len() - 1);
    }

    #[test]
    fn long_name_with_a_wrong_checksum_falls_back_to_the_short_name() {
        let (short_name, _) = short_name_for("long-name.txt", &[]).unwrap();
        let mut slots = encode_entry(
            "long-name.txt",
            short_name,
            true,
            0,
            0,
            0,
            FatTimestamp::EPOCH,
        );
        slots[0][13] ^= 0xFF;
        let bytes: Vec<u8> = slots.iter().flatten().copied().collect();
        assert_eq!(parse_directory(&bytes)[0].name, "LONG-N~1.TXT");
    }

    #[test]
    fn nt_lowercase_flags_are_honoured_when_reading() {
        let mut slot = [0u8; 32];
        slot[..11].copy_from_slice(b"CMDLINE TXT");
        slot[12] = NT_LOWER_BASE | NT_LOWER_EXT;
        assert_eq!(parse_directory(&slot)[0].name, "cmdline.txt");
    }

    #[test]
    fn timestamps_pack_as_fat_expects() {
        let t = FatTimestamp::new(2024, 5, 17, 13, 45, 31);
        assert_eq!(t.date >> 9, 44);
        assert_eq!((t.date >> 5) & 0xF, 5);
        assert_eq!(t.date & 0x1F, 17);
        assert_eq!(t.time >> 11, 13);
        assert_eq!((t.time >> 5) & 0x3F, 45);
        assert_eq!(t.time & 0x1F, 15);
    }
}
