//! A transaction's JSON object read in one pass: the stream path's parser.
//!
//! Every Kinesis record is one flat object of scalars
//! ([`crate::Transaction::to_json`]), and reading it through serde's derive
//! (alias matching, a `RawValue` per field, then a second scan of each
//! value's text) was most of the stream path's time. This reads that shape
//! directly: keys in either naming, values that are strings, numbers or
//! `null`, JSON whitespace between tokens.
//!
//! Anything else (an unknown or repeated key, a boolean, array or object
//! value, an exponent, any syntax error) is declined with `None`, and the
//! caller parses it the general way, so every error keeps serde_json's
//! exact message and position. The reader only has to agree with that path
//! on what it accepts, never on how to explain a refusal.

use std::borrow::Cow;

use crate::error::Field;
use crate::json_plain;

/// The text of each field in [`Field::JSON`] order, `""` when absent or
/// `null`: strings unescaped, numbers as written.
pub(crate) type FieldTexts<'a> = [Cow<'a, str>; 9];

/// The field texts of a flat object of scalars, or `None` when `json` is
/// anything else (see the module documentation).
pub(crate) fn read_flat_object(json: &str) -> Option<FieldTexts<'_>> {
    let mut reader = Reader { json, at: 0 };
    let mut texts: FieldTexts<'_> = Default::default();
    let mut seen = [false; 9];
    reader.skip_whitespace();
    reader.expect(b'{')?;
    reader.skip_whitespace();
    if !reader.eat(b'}') {
        loop {
            let field = field_index(reader.key()?)?;
            reader.skip_whitespace();
            reader.expect(b':')?;
            reader.skip_whitespace();
            if std::mem::replace(&mut seen[field], true) {
                return None; // a repeated field: serde names it
            }
            texts[field] = reader.scalar()?;
            reader.skip_whitespace();
            match reader.next()? {
                b',' => reader.skip_whitespace(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    reader.skip_whitespace();
    (reader.at == json.len()).then_some(texts)
}

/// The position in [`Field::JSON`] of a key in either naming.
fn field_index(key: &str) -> Option<usize> {
    Field::JSON
        .iter()
        .position(|field| key == field.normalised() || key == field.header())
}

struct Reader<'a> {
    json: &'a str,
    /// Byte offset of the next unread byte; always on a `char` boundary
    /// between tokens.
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.json.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// JSON's whitespace only (RFC 8259 §2), as serde_json skips it.
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A key without escapes (serde would unescape one; declined instead).
    fn key(&mut self) -> Option<&'a str> {
        match self.string()? {
            Cow::Borrowed(key) => Some(key),
            Cow::Owned(_) => None,
        }
    }

    fn scalar(&mut self) -> Option<Cow<'a, str>> {
        match self.peek()? {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number().map(Cow::Borrowed),
            b'n' => {
                let rest = &self.json.as_bytes()[self.at..];
                rest.starts_with(b"null").then(|| {
                    self.at += 4;
                    Cow::Borrowed("")
                })
            }
            _ => None,
        }
    }

    /// A string token's content: borrowed when it has no escape, else
    /// unescaped by serde_json (rare: a `"` in a description).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at;
        self.expect(b'"')?;
        let mut escaped = false;
        loop {
            self.at += json_plain::plain_len(&self.json.as_bytes()[self.at..]);
            match self.next()? {
                b'"' => break,
                // The escaped byte cannot close the string; serde_json
                // checks the escape itself below.
                b'\\' => {
                    escaped = true;
                    self.next()?;
                }
                // A raw control character is invalid JSON: serde explains.
                _ => return None,
            }
        }
        if escaped {
            let token = &self.json[start..self.at];
            serde_json::from_str::<String>(token).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&self.json[start + 1..self.at - 1]))
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?` as written. An exponent is left
    /// unread, so the object declines it (serde passes it to validation).
    fn number(&mut self) -> Option<&'a str> {
        let start = self.at;
        self.eat(b'-');
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.skip_digits(),
            _ => return None,
        }
        if self.eat(b'.') {
            let fraction = self.at;
            self.skip_digits();
            if self.at == fraction {
                return None;
            }
        }
        Some(&self.json[start..self.at])
    }

    fn skip_digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::fields_via_serde;
    use crate::{CsvTransactions, RecordError, Transaction};

    const VALID: &str = r#""StockCode":"85123A","Quantity":6,"InvoiceDate":"2010-12-01 08:26:00","UnitPrice":2.55,"Country":"United Kingdom""#;

    fn texts(json: &str) -> Option<Vec<String>> {
        read_flat_object(json).map(|texts| texts.map(Cow::into_owned).to_vec())
    }

    fn serde_texts(json: &str) -> Vec<String> {
        fields_via_serde(json)
            .unwrap_or_else(|error| panic!("{json}: serde refuses it: {error}"))
            .map(Cow::into_owned)
            .to_vec()
    }

    #[test]
    fn reads_every_accepted_shape_exactly_as_serde_does() {
        for json in [
            format!(r#"{{"InvoiceNo":"536365",{VALID}}}"#),
            r#"{"invoice_no":"536365","stock_code":"85123A","quantity":"6","invoice_date":"12/1/2010 8:26","unit_price":"2.55","customer_id":17850.0,"country":"UK","description":null}"#.to_owned(),
            // Mixed naming, any order, whitespace of all four kinds.
            format!(" \r\n\t{{ \"Description\" :\t\"A\" ,\r\n \"invoice_no\": \"1\" ,{VALID}}}\n "),
            format!(r#"{{"InvoiceNo":536365,{VALID},"CustomerID":-0.50}}"#),
            format!(
                r#"{{"InvoiceNo":"1",{VALID},"Description":"RECORD FRAME 7\" SINGLE \\ \/ \u00e9 \ud83d\ude00 \n"}}"#
            ),
            format!(r#"{{"InvoiceNo":"1",{VALID},"Description":"£ é 😀 unescaped"}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"Description":"  "}}"#),
            "{}".to_owned(),
            "{ }".to_owned(),
        ] {
            assert_eq!(texts(&json), Some(serde_texts(&json)), "{json}");
        }
    }

    /// Input the one-pass reader leaves to serde: errors of every kind, and
    /// valid JSON in a shape it does not read (an escaped key, an exponent).
    fn declined() -> Vec<String> {
        vec![
            String::new(),
            "[1,2]".to_owned(),
            "{".to_owned(),
            r#"{"InvoiceNo":"#.to_owned(),
            r#"{"InvoiceNo":"1""#.to_owned(),
            format!(r#"{{"InvoiceNo":"1",{VALID},}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID}}} x"#),
            format!(r#"{{"InvoiceNo":"1",{VALID}}}{{}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"CustomerId":"17850"}}"#),
            format!(r#"{{"invoice_no":"1",{VALID},"InvoiceNo":"2"}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"Quantity":7}}"#),
            format!(r#"{{"InvoiceNo":true,{VALID}}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"Description":["a"]}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"Description":{{"a":1}}}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"CustomerID":017850}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"CustomerID":17850.}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"CustomerID":1.785e4}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"CustomerID":+17850}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"CustomerID":-}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"CustomerID":nul}}"#),
            format!("{{\"InvoiceNo\":\"1\",{VALID},\"Description\":\"tab\there\"}}"),
            format!(r#"{{"InvoiceNo":"1",{VALID},"Description":"\ud800"}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"Description":"bad \x escape"}}"#),
            format!(r#"{{"InvoiceNo":"1",{VALID},"Description":"ends in a backslash\"#),
            format!(r#"{{"invoice\u005fno":"1",{VALID}}}"#),
            format!(r#"{{'InvoiceNo':"1",{VALID}}}"#),
            format!(r#"{{"InvoiceNo" "1",{VALID}}}"#),
            format!("\u{feff}{{\"InvoiceNo\":\"1\",{VALID}}}"),
            format!("\u{a0}{{\"InvoiceNo\":\"1\",{VALID}}}"),
        ]
    }

    #[test]
    fn declines_what_only_the_general_path_can_explain_or_read() {
        for json in declined() {
            assert_eq!(texts(&json), None, "{json}");
        }
    }

    /// `Transaction::from_json` before the one-pass reader.
    fn from_json_via_serde(json: &str) -> Result<Transaction, RecordError> {
        Transaction::from_texts(&fields_via_serde(json)?)
    }

    #[test]
    fn reads_every_record_of_the_sample_in_both_namings_as_serde_does() {
        let mut records = 0;
        for path in crate::sample::files() {
            let file = std::fs::File::open(&path).unwrap();
            for row in CsvTransactions::new(file).unwrap() {
                let Ok(transaction) = row.unwrap().result else {
                    continue;
                };
                let normalised = transaction.to_json();
                let mut original = normalised.clone();
                for field in Field::ALL {
                    // A quote inside a JSON string is escaped, so this
                    // pattern can only be a key.
                    let key = format!("\"{}\":", field.normalised());
                    assert!(original.contains(&key), "{normalised} has no {key}");
                    original = original.replacen(&key, &format!("\"{}\":", field.header()), 1);
                }
                for json in [&normalised, &original] {
                    let texts = read_flat_object(json).map(|texts| texts.map(Cow::into_owned));
                    let expected = fields_via_serde(json).unwrap().map(Cow::into_owned);
                    assert_eq!(texts.as_ref(), Some(&expected), "{json}");
                    assert_eq!(Transaction::from_json(json), from_json_via_serde(json));
                    assert_eq!(Transaction::from_json(json).as_ref(), Ok(&transaction));
                }
                records += 1;
            }
        }
        assert_eq!(records, 42_481, "every row of the sample is a valid record");
    }

    #[test]
    fn what_is_declined_gets_the_serde_path_result_and_error() {
        for json in declined() {
            assert_eq!(
                Transaction::from_json(&json),
                from_json_via_serde(&json),
                "{json}"
            );
        }
    }

    #[test]
    fn knows_both_names_of_every_field() {
        for (index, field) in Field::JSON.into_iter().enumerate() {
            assert_eq!(field_index(field.header()), Some(index));
            assert_eq!(field_index(field.normalised()), Some(index));
        }
        assert_eq!(field_index("CustomerId"), None);
    }
}
