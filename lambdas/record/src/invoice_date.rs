//! The invoice timestamp in both formats the retailer's data uses:
//! `2010-12-01 08:26:00` (the by-day files) and `12/1/2010 8:26` (the
//! original Kaggle file, US month/day order, no seconds). Both are local
//! time of the UK shop without a zone, so they stay naive.
//!
//! Parsed by hand: this runs for every row and `chrono`'s format parser
//! would cost a large share of the one-microsecond-per-row budget.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::error::Reason;

/// Parses either format; the reason says whether the shape or the calendar
/// was wrong.
pub fn parse_invoice_date(text: &str) -> Result<NaiveDateTime, Reason> {
    let bytes = text.as_bytes();
    let (year, month, day, hour, minute, second) = if bytes.get(4) == Some(&b'-') {
        parse_iso(bytes)?
    } else {
        parse_us(bytes)?
    };
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(Reason::NoSuchDateTime)?;
    let time = NaiveTime::from_hms_opt(hour, minute, second).ok_or(Reason::NoSuchDateTime)?;
    Ok(NaiveDateTime::new(date, time))
}

/// Writes `YYYY-MM-DD HH:MM:SS`, the text Redshift's `json 'auto'` COPY
/// loads into a `TIMESTAMP` column.
pub fn write_invoice_date<W: fmt::Write>(out: &mut W, at: &NaiveDateTime) -> fmt::Result {
    match timestamp_bytes(at) {
        Some(bytes) => out.write_str(std::str::from_utf8(&bytes).expect("ASCII digits")),
        None => write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        ),
    }
}

/// `YYYY-MM-DD HH:MM:SS` as a new string.
pub fn format_invoice_date(at: &NaiveDateTime) -> String {
    let mut out = String::with_capacity(19);
    write_invoice_date(&mut out, at).expect("writing to a String cannot fail");
    out
}

/// The 19 ASCII bytes of `YYYY-MM-DD HH:MM:SS` for years 0 to 9999 (all the
/// parsers produce), without the formatting machinery: this runs for every
/// stored line.
pub(crate) fn timestamp_bytes(at: &NaiveDateTime) -> Option<[u8; 19]> {
    let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
    let digit = |n: u32| b'0' + (n % 10) as u8;
    let (month, day, hour, minute, second) =
        (at.month(), at.day(), at.hour(), at.minute(), at.second());
    Some([
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        digit(month / 10),
        digit(month),
        b'-',
        digit(day / 10),
        digit(day),
        b' ',
        digit(hour / 10),
        digit(hour),
        b':',
        digit(minute / 10),
        digit(minute),
        b':',
        digit(second / 10),
        digit(second),
    ])
}

type Parts = (u32, u32, u32, u32, u32, u32);

/// `YYYY-MM-DD HH:MM:SS` (also `T` as separator).
fn parse_iso(b: &[u8]) -> Result<Parts, Reason> {
    if b.len() != 19
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(Reason::UnknownDateFormat);
    }
    Ok((
        fixed_digits(&b[0..4])?,
        fixed_digits(&b[5..7])?,
        fixed_digits(&b[8..10])?,
        fixed_digits(&b[11..13])?,
        fixed_digits(&b[14..16])?,
        fixed_digits(&b[17..19])?,
    ))
}

/// `M/D/YYYY H:MM`, one or two digits for month, day and hour.
fn parse_us(b: &[u8]) -> Result<Parts, Reason> {
    let mut rest = b;
    let month = take_number(&mut rest, 1, 2, Some(b'/'))?;
    let day = take_number(&mut rest, 1, 2, Some(b'/'))?;
    let year = take_number(&mut rest, 4, 4, Some(b' '))?;
    let hour = take_number(&mut rest, 1, 2, Some(b':'))?;
    let minute = take_number(&mut rest, 2, 2, None)?;
    if !rest.is_empty() {
        return Err(Reason::UnknownDateFormat);
    }
    Ok((year, month, day, hour, minute, 0))
}

fn fixed_digits(digits: &[u8]) -> Result<u32, Reason> {
    digits.iter().try_fold(0u32, |acc, &d| {
        if d.is_ascii_digit() {
            Ok(acc * 10 + u32::from(d - b'0'))
        } else {
            Err(Reason::UnknownDateFormat)
        }
    })
}

/// Takes `min..=max` digits then the separator (if any) from the front.
fn take_number(
    rest: &mut &[u8],
    min: usize,
    max: usize,
    separator: Option<u8>,
) -> Result<u32, Reason> {
    let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if len < min || len > max {
        return Err(Reason::UnknownDateFormat);
    }
    let value = fixed_digits(&rest[..len])?;
    *rest = &rest[len..];
    if let Some(separator) = separator {
        match rest.split_first() {
            Some((&b, tail)) if b == separator => *rest = tail,
            _ => return Err(Reason::UnknownDateFormat),
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap()
    }

    #[test]
    fn reads_both_formats_of_the_retailer() {
        for (text, expected) in [
            ("2010-12-01 08:26:00", at(2010, 12, 1, 8, 26, 0)),
            ("2010-12-01T08:26:00", at(2010, 12, 1, 8, 26, 0)),
            ("12/1/2010 8:26", at(2010, 12, 1, 8, 26, 0)),
            ("12/01/2010 08:26", at(2010, 12, 1, 8, 26, 0)),
            ("1/31/2011 17:05", at(2011, 1, 31, 17, 5, 0)),
        ] {
            assert_eq!(parse_invoice_date(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn tells_an_unknown_format_from_an_impossible_date() {
        for text in [
            "",
            "2010-12-01",
            "01.12.2010 08:26",
            "2010/12/01 08:26:00",
            "12/1/10 8:26",
            "12/1/2010 8:26:00",
            "12/1/2010 8:6",
        ] {
            assert_eq!(
                parse_invoice_date(text),
                Err(Reason::UnknownDateFormat),
                "{text}"
            );
        }
        for text in [
            "2010-02-30 08:26:00",
            "13/1/2010 8:26",
            "12/1/2010 24:00",
            "2010-12-01 08:60:00",
        ] {
            assert_eq!(
                parse_invoice_date(text),
                Err(Reason::NoSuchDateTime),
                "{text}"
            );
        }
    }

    #[test]
    fn formats_for_the_warehouse() {
        assert_eq!(
            format_invoice_date(&at(2010, 12, 1, 8, 26, 0)),
            "2010-12-01 08:26:00"
        );
    }
}
