//! Resource quantities (`100m`, `0.5`, `128Mi`, `1G`, `1e3`) parsed exactly as Kubernetes'
//! `resource.ParseQuantity` does, with its canonical string form, `MilliValue` and `Value`.
//!
//! The value is kept as an exact decimal (`unscaled × 10^scale`), never as a float. Parsing
//! works on the decimal digits themselves, so the rounding (up to the nearest nano) and the
//! binary-suffix cap (2^63 − 1) happen exactly where Kubernetes applies them.
//!
//! Where Flotilla differs, on purpose: a quantity is always printed in canonical form
//! (Kubernetes echoes some inputs verbatim, so `+1` stays `+1` there and is `1` here); input
//! longer than 128 characters or with more than 38 significant digits is refused rather than
//! carried as an arbitrary-precision number; `value()` and `milli_value()` saturate at the
//! `i64` range where Kubernetes wraps.
use std::cmp::Ordering;
use std::fmt;

/// Longest quantity string accepted. Kubernetes has no limit; a bound keeps the digit
/// arithmetic below trivially cheap, and no real quantity comes near it.
pub const QUANTITY_MAX_LEN: usize = 128;

/// Most significant decimal digits a quantity keeps (what fits in an `i128`).
const DIGITS_MAX: usize = 38;

/// The smallest unit a quantity can represent: 10^-9.
const NANO_SCALE: i64 = -9;

/// How a quantity is written, remembered from parsing and used again when it is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantityFormat {
    /// `12e6`
    DecimalExponent,
    /// `12Mi` (12 × 2^20)
    BinarySI,
    /// `12M` (12 × 10^6), `100m`
    DecimalSI,
}

/// A string that is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    FormatWrong,
    /// the suffix is not one of Ki Mi Gi Ti Pi Ei, n u m k M G T P E or an exponent
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// longer than `QUANTITY_MAX_LEN`, more significant digits than Flotilla keeps, or an
    /// exponent out of range
    #[error("quantity out of the supported range")]
    OutOfRange,
}

/// A fixed-point quantity of a resource (cpu cores, bytes).
///
/// Equality and ordering compare values: `1` equals `1000m`.
#[derive(Clone, Copy)]
pub struct Quantity {
    /// Digits of the value, without trailing zeros (zero is `0` with scale 0).
    unscaled: i128,
    /// Power of ten the digits are multiplied by; never below -9.
    scale: i32,
    format: QuantityFormat,
}

impl Quantity {
    /// Zero, written `0`.
    pub const ZERO: Quantity = Quantity {
        unscaled: 0,
        scale: 0,
        format: QuantityFormat::DecimalSI,
    };

    /// Parses a quantity the way Kubernetes' `resource.ParseQuantity` does.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        parse(s)
    }

    /// `milli` thousandths (`Quantity::from_milli(250)` is `250m` cpu).
    pub fn from_milli(milli: i64) -> Quantity {
        Quantity::from_parts(i128::from(milli), -3, QuantityFormat::DecimalSI)
    }

    /// A whole number in the given format (`from_int(512 << 20, BinarySI)` is `512Mi`).
    pub fn from_int(value: i64, format: QuantityFormat) -> Quantity {
        Quantity::from_parts(i128::from(value), 0, format)
    }

    /// A byte count, written with binary suffixes.
    pub fn from_bytes(bytes: i64) -> Quantity {
        Quantity::from_int(bytes, QuantityFormat::BinarySI)
    }

    fn from_parts(mut unscaled: i128, mut scale: i32, format: QuantityFormat) -> Quantity {
        if unscaled == 0 {
            return Quantity {
                unscaled: 0,
                scale: 0,
                format,
            };
        }
        while unscaled % 10 == 0 {
            unscaled /= 10;
            scale += 1;
        }
        Quantity {
            unscaled,
            scale,
            format,
        }
    }

    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    pub fn is_zero(&self) -> bool {
        self.unscaled == 0
    }

    /// -1, 0 or 1.
    pub fn signum(&self) -> i32 {
        self.unscaled.signum() as i32
    }

    /// The value in units of 10^`scale`, rounded away from zero, saturating at the `i64`
    /// range (Kubernetes' `ScaledValue`, which wraps instead).
    pub fn scaled_value(&self, scale: i32) -> i64 {
        let shift = i64::from(self.scale) - i64::from(scale);
        let magnitude = self.unscaled.unsigned_abs();
        let result: u128 = if shift >= 0 {
            10u128
                .checked_pow(shift as u32)
                .and_then(|p| magnitude.checked_mul(p))
                .unwrap_or(u128::MAX)
        } else {
            let divisor = 10u128.checked_pow((-shift) as u32);
            match divisor {
                Some(d) => magnitude / d + u128::from(magnitude % d != 0),
                // Dividing by more than 10^38 leaves only the rounding.
                None => u128::from(magnitude != 0),
            }
        };
        if self.unscaled < 0 {
            i64::try_from(result).map(|v| -v).unwrap_or(i64::MIN)
        } else {
            i64::try_from(result).unwrap_or(i64::MAX)
        }
    }

    /// The value in thousandths, rounded up (Kubernetes' `MilliValue`): cpu in millicores.
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The value as a whole number, rounded up (Kubernetes' `Value`): memory in bytes.
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// Canonical mantissa digits and decimal exponent (a multiple of three).
    fn canonical_decimal(&self) -> (String, i64) {
        let mut exponent = i64::from(self.scale);
        let mut digits = self.unscaled.unsigned_abs().to_string();
        while exponent % 3 != 0 {
            digits.push('0');
            exponent -= 1;
        }
        (digits, exponent)
    }

    /// Magnitude comparison with a small integer.
    fn abs_lt(&self, bound: u128) -> bool {
        let magnitude = self.unscaled.unsigned_abs();
        if self.scale >= 0 {
            match 10u128
                .checked_pow(self.scale as u32)
                .and_then(|p| magnitude.checked_mul(p))
            {
                Some(v) => v < bound,
                None => false,
            }
        } else {
            // A fraction: compare the integer part (rounded down) conservatively.
            match 10u128.checked_pow((-self.scale) as u32) {
                Some(d) => magnitude / d < bound,
                None => true,
            }
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Normalised digits and scale identify the value.
        self.unscaled.hash(state);
        if self.unscaled != 0 {
            self.scale.hash(state);
        }
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        let by_sign = self.unscaled.signum().cmp(&other.unscaled.signum());
        if by_sign != Ordering::Equal || self.unscaled == 0 {
            return by_sign;
        }
        let magnitude = cmp_magnitude(self, other);
        if self.unscaled < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

/// Compares |a| and |b|, both non-zero.
fn cmp_magnitude(a: &Quantity, b: &Quantity) -> Ordering {
    let (ma, mb) = (a.unscaled.unsigned_abs(), b.unscaled.unsigned_abs());
    // Position of the most significant digit decides unless it is the same.
    let top_a = ma.ilog10() as i64 + i64::from(a.scale);
    let top_b = mb.ilog10() as i64 + i64::from(b.scale);
    if top_a != top_b {
        return top_a.cmp(&top_b);
    }
    // Same leading position: align scales; both then have at most 39 digits, which a u128
    // holds whenever the original values had at most 38.
    let diff = i64::from(a.scale) - i64::from(b.scale);
    let widen = |m: u128, by: i64| m.checked_mul(10u128.pow(by as u32));
    match diff.cmp(&0) {
        Ordering::Equal => ma.cmp(&mb),
        Ordering::Greater => match widen(ma, diff) {
            Some(w) => w.cmp(&mb),
            None => Ordering::Greater,
        },
        Ordering::Less => match widen(mb, -diff) {
            Some(w) => ma.cmp(&w),
            None => Ordering::Less,
        },
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({self})")
    }
}

impl Default for Quantity {
    fn default() -> Quantity {
        Quantity::ZERO
    }
}

/// The canonical form (Kubernetes' `Quantity.String`): no fractional digits, the largest
/// suffix that loses nothing, binary suffixes kept for binary quantities of at least 1Ki.
/// `1.5` → `1500m`, `1.5Gi` → `1536Mi`, `0.5Gi` → `512Mi`, `1000m` → `1`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unscaled == 0 {
            return f.write_str("0");
        }
        let sign = if self.unscaled < 0 { "-" } else { "" };
        let mut format = self.format;
        if format == QuantityFormat::BinarySI {
            if self.abs_lt(1024) || self.scale < 0 {
                format = QuantityFormat::DecimalSI;
            } else if let Some(mut whole) = 10i128
                .checked_pow(self.scale as u32)
                .and_then(|p| self.unscaled.checked_mul(p))
            {
                let mut power = 0;
                while whole.unsigned_abs() >= 1024 && whole % 1024 == 0 {
                    whole /= 1024;
                    power += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                    .get(power)
                    .copied()
                    .unwrap_or("");
                return write!(f, "{whole}{suffix}");
            } else {
                format = QuantityFormat::DecimalSI;
            }
        }
        let (digits, exponent) = self.canonical_decimal();
        let si = match exponent {
            -9 => Some("n"),
            -6 => Some("u"),
            -3 => Some("m"),
            0 => Some(""),
            3 => Some("k"),
            6 => Some("M"),
            9 => Some("G"),
            12 => Some("T"),
            15 => Some("P"),
            18 => Some("E"),
            _ => None,
        };
        match (format, si) {
            (QuantityFormat::DecimalSI, Some(suffix)) => write!(f, "{sign}{digits}{suffix}"),
            (_, _) if exponent == 0 => write!(f, "{sign}{digits}"),
            _ => write!(f, "{sign}{digits}e{exponent}"),
        }
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Quantity, QuantityError> {
        parse(s)
    }
}

impl TryFrom<&str> for Quantity {
    type Error = QuantityError;
    fn try_from(s: &str) -> Result<Quantity, QuantityError> {
        parse(s)
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Quantity, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as 100m, 0.5, 128Mi or 1G")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                // Kubernetes trims surrounding white space before parsing.
                parse(v.trim()).map_err(|e| E::custom(format!("quantity {v:?}: {e}")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                if !v.is_finite() {
                    return Err(E::custom(format!("quantity {v}: not a finite number")));
                }
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

/// The parts of a quantity string, as Kubernetes' `parseQuantityString` scans them.
struct Scanned<'a> {
    positive: bool,
    /// Integer digits without leading zeros (`"0"` when there are none).
    num: &'a str,
    /// Fraction digits.
    denom: &'a str,
    suffix: &'a str,
}

/// A transcription of Kubernetes' scanner, quirks included: a lone sign or `.` reads as 0,
/// `1.` and `.5` are numbers, the suffix is letters from `eEinumkKMGTP` then an optional sign
/// and digits.
fn scan(s: &str) -> Result<Scanned<'_>, QuantityError> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    if pos < end {
        match b[0] {
            b'-' => {
                positive = false;
                pos += 1;
            }
            b'+' => pos += 1,
            _ => {}
        }
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(Scanned {
            positive,
            num: "0",
            denom: "",
            suffix: "",
        });
    }
    let num_start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let mut num = &s[num_start..pos];
    if pos >= end {
        return Ok(Scanned {
            positive,
            num,
            denom: "",
            suffix: "",
        });
    }
    if num.is_empty() {
        num = "0";
    }
    let mut denom = "";
    if b[pos] == b'.' {
        pos += 1;
        let denom_start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[denom_start..pos];
        if pos >= end {
            return Ok(Scanned {
                positive,
                num,
                denom,
                suffix: "",
            });
        }
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(QuantityError::FormatWrong);
    }
    Ok(Scanned {
        positive,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// Base (2 or 10), exponent and format of a suffix.
fn interpret(suffix: &str) -> Result<(u32, i64, QuantityFormat), QuantityError> {
    let decimal = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = decimal {
        return Ok((10, e, QuantityFormat::DecimalSI));
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(e) = binary {
        return Ok((2, e, QuantityFormat::BinarySI));
    }
    let b = suffix.as_bytes();
    if b.len() > 1 && (b[0] == b'e' || b[0] == b'E') {
        let parsed: i64 = suffix[1..].parse().map_err(|_| QuantityError::Suffix)?;
        // Kubernetes truncates the exponent to 32 bits.
        return Ok((
            10,
            i64::from(parsed as i32),
            QuantityFormat::DecimalExponent,
        ));
    }
    Err(QuantityError::Suffix)
}

/// Multiplies a big-endian decimal digit vector by two.
fn double(digits: &mut Vec<u8>) {
    let mut carry = 0;
    for d in digits.iter_mut().rev() {
        let v = *d * 2 + carry;
        *d = v % 10;
        carry = v / 10;
    }
    if carry > 0 {
        digits.insert(0, carry);
    }
}

/// Adds one to a big-endian decimal digit vector.
fn increment(digits: &mut Vec<u8>) {
    for d in digits.iter_mut().rev() {
        if *d == 9 {
            *d = 0;
        } else {
            *d += 1;
            return;
        }
    }
    digits.insert(0, 1);
}

fn digits_to_i128(digits: &[u8]) -> i128 {
    digits
        .iter()
        .fold(0i128, |acc, &d| acc * 10 + i128::from(d))
}

fn parse(s: &str) -> Result<Quantity, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::FormatWrong);
    }
    if s.len() > QUANTITY_MAX_LEN {
        return Err(QuantityError::OutOfRange);
    }
    if s == "0" {
        return Ok(Quantity::ZERO);
    }
    let scanned = scan(s)?;
    let (base, exponent, mut format) = interpret(scanned.suffix)?;

    let mut digits: Vec<u8> = scanned
        .num
        .bytes()
        .chain(scanned.denom.bytes())
        .map(|c| c - b'0')
        .collect();
    let mut scale: i64 = -(scanned.denom.len() as i64);
    if base == 10 {
        scale += exponent;
    } else {
        for _ in 0..exponent {
            double(&mut digits);
        }
    }

    let is_zero = digits.iter().all(|&d| d == 0);
    if !is_zero && scale < NANO_SCALE {
        // Round up (away from zero) to the nearest nano: asking for a sliver of a resource
        // gets the smallest representable amount, never nothing.
        let drop = (NANO_SCALE - scale) as usize;
        let keep = digits.len().saturating_sub(drop);
        let dropped_nonzero = digits[keep..].iter().any(|&d| d != 0);
        digits.truncate(keep);
        if dropped_nonzero {
            increment(&mut digits);
        }
        scale = NANO_SCALE;
    }

    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else {
        return Ok(Quantity {
            unscaled: 0,
            scale: 0,
            format,
        });
    };
    digits.drain(..first);
    while digits.len() > 1 && digits[digits.len() - 1] == 0 {
        digits.pop();
        scale += 1;
    }

    if format == QuantityFormat::BinarySI {
        // Kubernetes caps binary quantities at 2^63 - 1 and prints fractions below one in
        // decimal form.
        let top = digits.len() as i64 + scale;
        let exceeds_cap = top > 19
            || (top > 0 && {
                let cap = i128::from(i64::MAX);
                let v = digits_to_i128(&digits);
                if scale >= 0 {
                    v * 10i128.pow(scale as u32) > cap
                } else {
                    v > cap * 10i128.pow((-scale) as u32)
                }
            });
        if exceeds_cap {
            let q = Quantity::from_parts(i128::from(i64::MAX), 0, format);
            return Ok(if scanned.positive {
                q
            } else {
                Quantity {
                    unscaled: -q.unscaled,
                    ..q
                }
            });
        }
        if top <= 0 {
            format = QuantityFormat::DecimalSI;
        }
    }

    if digits.len() > DIGITS_MAX {
        return Err(QuantityError::OutOfRange);
    }
    let scale = i32::try_from(scale).map_err(|_| QuantityError::OutOfRange)?;
    let magnitude = digits_to_i128(&digits);
    Ok(Quantity {
        unscaled: if scanned.positive {
            magnitude
        } else {
            -magnitude
        },
        scale,
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn quantities_parse_and_print_like_kubernetes() {
        // (input, canonical form, milli value, value)
        let table: &[(&str, &str, i64, i64)] = &[
            ("0", "0", 0, 0),
            ("100m", "100m", 100, 1),
            ("0.5", "500m", 500, 1),
            (".5", "500m", 500, 1),
            ("1.5", "1500m", 1500, 2),
            ("1", "1", 1000, 1),
            ("+1", "1", 1000, 1),
            ("1000m", "1", 1000, 1),
            ("1.", "1", 1000, 1),
            ("250m", "250m", 250, 1),
            ("0.1m", "100u", 1, 1),
            ("1n", "1n", 1, 1),
            ("0.0000000001", "1n", 1, 1),
            ("128Mi", "128Mi", 134_217_728_000, 134_217_728),
            ("1.5Gi", "1536Mi", 1_610_612_736_000, 1_610_612_736),
            ("0.5Gi", "512Mi", 536_870_912_000, 536_870_912),
            ("1024Mi", "1Gi", 1_073_741_824_000, 1_073_741_824),
            ("1.5Ki", "1536", 1_536_000, 1536),
            ("1Ki", "1Ki", 1_024_000, 1024),
            ("1G", "1G", 1_000_000_000_000, 1_000_000_000),
            ("1000M", "1G", 1_000_000_000_000, 1_000_000_000),
            ("1e3", "1e3", 1_000_000, 1000),
            ("1E3", "1e3", 1_000_000, 1000),
            ("1e-3", "1e-3", 1, 1),
            ("1.5e3", "1500", 1_500_000, 1500),
            ("10e3", "10e3", 10_000_000, 10_000),
            ("1000e3", "1e6", 1_000_000_000, 1_000_000),
            ("1k", "1k", 1_000_000, 1000),
            ("12k", "12k", 12_000_000, 12_000),
            ("-1", "-1", -1000, -1),
            ("-100m", "-100m", -100, -1),
            ("-1.5Gi", "-1536Mi", -1_610_612_736_000, -1_610_612_736),
            ("1.1Gi", "1181116006400m", 1_181_116_006_400, 1_181_116_007),
            ("0.0001Ki", "102400u", 103, 1),
            ("10E", "10E", i64::MAX, i64::MAX),
            ("8Ei", "9223372036854775807", i64::MAX, i64::MAX),
            ("007", "7", 7000, 7),
            ("-", "0", 0, 0),
            (".", "0", 0, 0),
            ("0Ki", "0", 0, 0),
        ];
        for (input, canonical, milli, value) in table {
            let parsed = q(input);
            assert_eq!(parsed.to_string(), *canonical, "canonical form of {input}");
            assert_eq!(parsed.milli_value(), *milli, "milli value of {input}");
            assert_eq!(parsed.value(), *value, "value of {input}");
        }
    }

    #[test]
    fn garbage_is_not_a_quantity() {
        let table: &[(&str, QuantityError)] = &[
            ("", QuantityError::FormatWrong),
            ("aoeu", QuantityError::FormatWrong),
            (" 1", QuantityError::FormatWrong),
            ("1 ", QuantityError::FormatWrong),
            ("1.1.M", QuantityError::FormatWrong),
            ("1+1.0M", QuantityError::FormatWrong),
            ("0.1mi", QuantityError::Suffix),
            ("0.1am", QuantityError::FormatWrong),
            (".5i", QuantityError::Suffix),
            ("1i", QuantityError::Suffix),
            ("-3.01i", QuantityError::Suffix),
            ("-3.01e-", QuantityError::Suffix),
            ("1K", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1Mb", QuantityError::FormatWrong),
            ("100mm", QuantityError::Suffix),
        ];
        for (input, want) in table {
            assert_eq!(Quantity::parse(input), Err(want.clone()), "{input:?}");
        }
    }

    #[test]
    fn quantities_compare_by_value() {
        assert_eq!(q("1"), q("1000m"));
        assert_eq!(q("1Ki"), q("1024"));
        assert!(q("500m") < q("1"));
        assert!(q("-1") < q("1n"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("1e300") > q("10E"));
        assert!(q("-2") < q("-1"));
    }

    #[test]
    fn quantities_deserialise_from_strings_and_numbers() {
        let s: Quantity = serde_json::from_str("\"128Mi\"").unwrap();
        assert_eq!(s.value(), 128 << 20);
        let n: Quantity = serde_json::from_str("0.5").unwrap();
        assert_eq!(n.to_string(), "500m");
        let i: Quantity = serde_json::from_str("2").unwrap();
        assert_eq!(serde_json::to_string(&i).unwrap(), "\"2\"");
        assert!(serde_json::from_str::<Quantity>("\"lots\"").is_err());
    }

    #[test]
    fn constructors_pick_the_expected_format() {
        assert_eq!(Quantity::from_milli(250).to_string(), "250m");
        assert_eq!(Quantity::from_milli(4000).to_string(), "4");
        assert_eq!(Quantity::from_bytes(512 << 20).to_string(), "512Mi");
        assert_eq!(Quantity::from_bytes(1000).to_string(), "1k");
    }

    fn suffix() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "", "m", "n", "u", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti", "e3", "e-2", "E6",
        ])
    }

    proptest! {
        #[test]
        fn printing_then_parsing_gives_the_same_value(
            negative in any::<bool>(),
            int in 0u64..10_000_000,
            frac in prop::option::of(0u32..1000),
            suffix in suffix(),
        ) {
            let text = match frac {
                Some(f) => format!("{}{int}.{f:03}{suffix}", if negative { "-" } else { "" }),
                None => format!("{}{int}{suffix}", if negative { "-" } else { "" }),
            };
            let parsed = Quantity::parse(&text).unwrap();
            let printed = parsed.to_string();
            let reparsed = Quantity::parse(&printed).unwrap();
            prop_assert_eq!(parsed, reparsed, "{} printed as {}", text, printed);
            // The canonical form is a fixed point.
            prop_assert_eq!(reparsed.to_string(), printed);
        }
    }
}
