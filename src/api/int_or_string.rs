//! `IntOrString`: a field that holds either a number or a string (`targetPort: 8080` or
//! `targetPort: http`, `maxSurge: 1` or `maxSurge: 25%`), with Kubernetes' percent scaling.
use std::fmt;

/// A number or a string, serialised as whichever it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

/// An `IntOrString` that cannot be used as an absolute value or a percentage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntOrStringError {
    /// the string does not end in `%`
    #[error("invalid value for IntOrString: invalid type: string is not a percentage")]
    NotAPercentage,
    /// the digits before `%` are not a number
    #[error("invalid value {0:?}: not a number before '%'")]
    BadPercentage(String),
}

impl IntOrString {
    /// A percentage (`25%`).
    pub fn percent(p: i32) -> IntOrString {
        IntOrString::String(format!("{p}%"))
    }

    /// The percentage if this is a string ending in `%` with a number before it.
    pub fn as_percent(&self) -> Option<i32> {
        match self {
            IntOrString::String(s) => s.strip_suffix('%')?.parse().ok(),
            IntOrString::Int(_) => None,
        }
    }

    /// Kubernetes' `GetScaledValueFromIntOrPercent`: a number is itself; `N%` is N percent
    /// of `total`, rounded up or down.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, IntOrStringError> {
        match self {
            IntOrString::Int(v) => Ok(*v),
            IntOrString::String(s) => {
                let digits = s
                    .strip_suffix('%')
                    .ok_or(IntOrStringError::NotAPercentage)?;
                let percent: i64 = digits
                    .parse()
                    .map_err(|_| IntOrStringError::BadPercentage(s.clone()))?;
                let product = percent * i64::from(total);
                // Integer arithmetic, identical to Kubernetes' float ceil/floor for the
                // magnitudes a replica count can have.
                let scaled = if round_up {
                    product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
                } else {
                    product.div_euclid(100)
                };
                Ok(scaled.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
            }
        }
    }
}

impl From<i32> for IntOrString {
    fn from(v: i32) -> IntOrString {
        IntOrString::Int(v)
    }
}

impl From<&str> for IntOrString {
    fn from(v: &str) -> IntOrString {
        IntOrString::String(v.to_string())
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(v) => write!(f, "{v}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

impl serde::Serialize for IntOrString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Int(v) => s.serialize_i32(*v),
            IntOrString::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> serde::Deserialize<'de> for IntOrString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IntOrString, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("integer {v} out of range")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("integer {v} out of range")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_scale_with_rounding_like_kubernetes() {
        let table: &[(IntOrString, i32, bool, i32)] = &[
            (IntOrString::Int(3), 10, true, 3),
            (IntOrString::percent(25), 10, true, 3),
            (IntOrString::percent(25), 10, false, 2),
            (IntOrString::percent(25), 4, true, 1),
            (IntOrString::percent(25), 1, false, 0),
            (IntOrString::percent(25), 1, true, 1),
            (IntOrString::percent(100), 7, false, 7),
            (IntOrString::percent(0), 7, true, 0),
            (IntOrString::percent(50), 3, true, 2),
            (IntOrString::percent(50), 3, false, 1),
        ];
        for (v, total, up, want) in table {
            assert_eq!(v.scaled_value(*total, *up), Ok(*want), "{v} of {total}");
        }
        assert_eq!(
            IntOrString::from("http").scaled_value(10, true),
            Err(IntOrStringError::NotAPercentage)
        );
        assert!(IntOrString::from("x%").scaled_value(10, true).is_err());
    }

    #[test]
    fn int_or_string_serialises_as_whichever_it_holds() {
        let n: IntOrString = serde_json::from_str("8080").unwrap();
        assert_eq!(n, IntOrString::Int(8080));
        let s: IntOrString = serde_json::from_str("\"25%\"").unwrap();
        assert_eq!(s.as_percent(), Some(25));
        assert_eq!(serde_json::to_string(&n).unwrap(), "8080");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"25%\"");
    }
}
