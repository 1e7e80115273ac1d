//! Exact money: an integer count of thousandths.
//!
//! Prices are decimal text in the source (`2.55`, `0.001` in the full data
//! set) and decimal in the warehouse, and the line total must be
//! `quantity × unit price` to the last digit. `f64` cannot hold `2.55`, so we
//! keep an `i64` of thousandths (scale 3, the finest price in the retailer's
//! data) and refuse more decimals rather than rounding them away. A
//! dedicated decimal crate would add a dependency to every function for one
//! multiplication; `i64` thousandths hold ±9.2 × 10^15 currency units,
//! far beyond the `DECIMAL(18,3)` warehouse column we check against.
//!
//! Money is written to JSON as its decimal text (a JSON number), never
//! through `f64`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// An exact amount of money, in thousandths of the currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money {
    thousandths: i64,
}

/// Why a text is not a money amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyParseError {
    NotADecimal,
    TooManyDecimals,
    OutOfRange,
}

impl Money {
    /// Fractional digits kept exactly.
    pub const SCALE: u32 = 3;
    const ONE: i64 = 1000;
    /// Largest magnitude the `DECIMAL(18,3)` warehouse column holds.
    pub const MAX_DECIMAL_18_3: Money = Money {
        thousandths: 999_999_999_999_999_999,
    };

    pub const ZERO: Money = Money { thousandths: 0 };

    pub const fn from_thousandths(thousandths: i64) -> Self {
        Money { thousandths }
    }

    pub const fn thousandths(self) -> i64 {
        self.thousandths
    }

    pub const fn is_negative(self) -> bool {
        self.thousandths < 0
    }

    /// `self × quantity`, or `None` on `i64` overflow.
    pub fn checked_mul(self, quantity: i64) -> Option<Money> {
        self.thousandths
            .checked_mul(quantity)
            .map(Money::from_thousandths)
    }

    /// Parses plain decimal text: an optional `-`, digits, optionally `.` and
    /// up to three digits (`13541.33`, `0.0`, `-1.5`, `.5`). No exponent, no
    /// `+`, no thousands separators.
    pub fn parse(text: &str) -> Result<Money, MoneyParseError> {
        let bytes = text.as_bytes();
        let (negative, digits) = match bytes.first() {
            Some(b'-') => (true, &bytes[1..]),
            _ => (false, bytes),
        };
        let (int_part, frac_part) = match digits.iter().position(|&b| b == b'.') {
            Some(dot) => (&digits[..dot], &digits[dot + 1..]),
            None => (digits, &digits[digits.len()..]),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(MoneyParseError::NotADecimal);
        }
        if !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
            return Err(MoneyParseError::NotADecimal);
        }
        // Trailing zeros beyond the scale carry no value (`2.5500`).
        let significant =
            frac_part.len() - frac_part.iter().rev().take_while(|&&b| b == b'0').count();
        if significant > Self::SCALE as usize {
            return Err(MoneyParseError::TooManyDecimals);
        }
        let mut units: i64 = 0;
        for &b in int_part {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(i64::from(b - b'0')))
                .ok_or(MoneyParseError::OutOfRange)?;
        }
        let mut fraction: i64 = 0;
        for position in 0..Self::SCALE as usize {
            let digit = frac_part.get(position).map_or(0, |b| i64::from(b - b'0'));
            fraction = fraction * 10 + digit;
        }
        let thousandths = units
            .checked_mul(Self::ONE)
            .and_then(|t| t.checked_add(fraction))
            .ok_or(MoneyParseError::OutOfRange)?;
        Ok(Money {
            thousandths: if negative { -thousandths } else { thousandths },
        })
    }
}

impl Money {
    /// Room for the longest text, `-9223372036854775.808`.
    pub const TEXT_LEN: usize = 24;

    /// Writes the shortest exact decimal text into `buf` and returns it;
    /// no allocation (this runs for every stored line).
    pub fn format_into(self, buf: &mut [u8; Self::TEXT_LEN]) -> &str {
        let magnitude = self.thousandths.unsigned_abs();
        let mut units = magnitude / Self::ONE as u64;
        let mut fraction = magnitude % Self::ONE as u64;
        let mut end = Self::TEXT_LEN;
        if fraction != 0 {
            let mut digits = Self::SCALE;
            while fraction.is_multiple_of(10) {
                fraction /= 10;
                digits -= 1;
            }
            for _ in 0..digits {
                end -= 1;
                buf[end] = b'0' + (fraction % 10) as u8;
                fraction /= 10;
            }
            end -= 1;
            buf[end] = b'.';
        }
        loop {
            end -= 1;
            buf[end] = b'0' + (units % 10) as u8;
            units /= 10;
            if units == 0 {
                break;
            }
        }
        if self.thousandths < 0 {
            end -= 1;
            buf[end] = b'-';
        }
        std::str::from_utf8(&buf[end..]).expect("ASCII digits")
    }
}

impl fmt::Display for Money {
    /// The shortest exact decimal text: `2.55`, `50`, `-7.5`, `0.001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.format_into(&mut [0; Money::TEXT_LEN]))
    }
}

impl Serialize for Money {
    /// A JSON number with the exact decimal text (`2.55`, not `2.5499999`).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Accepts a JSON number or a string holding one, read from its text so
    /// nothing passes through `f64`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = crate::json_scalar::scalar_text(&raw)
            .ok_or_else(|| serde::de::Error::custom("money must be a JSON number or string"))?;
        Money::parse(&text).map_err(|e| serde::de::Error::custom(format!("money {text:?}: {e:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prices_of_the_retailer_exactly() {
        for (text, thousandths) in [
            ("2.55", 2550),
            ("50.0", 50_000),
            ("0.0", 0),
            ("0", 0),
            ("13541.33", 13_541_330),
            ("0.001", 1),
            (".5", 500),
            ("-1.5", -1500),
            ("2.5500", 2550),
        ] {
            assert_eq!(
                Money::parse(text),
                Ok(Money::from_thousandths(thousandths)),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_text_that_is_not_plain_decimal() {
        for text in [
            "", "-", ".", "1e3", "+1", "1,000.00", "2.5.5", " 2", "NaN", "--1",
        ] {
            assert_eq!(
                Money::parse(text),
                Err(MoneyParseError::NotADecimal),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_to_round_a_fourth_decimal() {
        assert_eq!(
            Money::parse("0.0005"),
            Err(MoneyParseError::TooManyDecimals)
        );
    }

    #[test]
    fn refuses_amounts_beyond_i64() {
        assert_eq!(
            Money::parse("99999999999999999999"),
            Err(MoneyParseError::OutOfRange)
        );
    }

    #[test]
    fn displays_the_shortest_exact_decimal() {
        for (thousandths, text) in [
            (2550, "2.55"),
            (50_000, "50"),
            (0, "0"),
            (1, "0.001"),
            (-7500, "-7.5"),
            (-500, "-0.5"),
            (10, "0.01"),
            (1_000_010, "1000.01"),
            (i64::MIN, "-9223372036854775.808"),
            (i64::MAX, "9223372036854775.807"),
        ] {
            assert_eq!(Money::from_thousandths(thousandths).to_string(), text);
        }
    }

    #[test]
    fn json_round_trip_keeps_the_decimal_text() {
        let money = Money::from_thousandths(2550);
        let json = serde_json::to_string(&money).unwrap();
        assert_eq!(json, "2.55");
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        assert_eq!(
            serde_json::from_str::<Money>("\"0.1\"").unwrap(),
            Money::from_thousandths(100)
        );
    }
}
