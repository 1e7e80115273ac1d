//! The exact messages `Transaction::from_json` gives for malformed records,
//! pinned word for word (positions included) as they were before the
//! stream path got its one-pass reader: a client that fixes its JSON by the
//! message must keep getting the same message.

use record::Transaction;

/// The fields every case shares: 122 bytes, so positions below are stable.
const VALID: &str = r#""StockCode":"85123A","Quantity":6,"InvoiceDate":"2010-12-01 08:26:00","UnitPrice":2.55,"Country":"United Kingdom""#;

const EXPECTED_AN_OBJECT: &str = r#"not a transaction object: expected a JSON object such as {"InvoiceNo":"536365","StockCode":"85123A","Description":"WHITE HANGING HEART T-LIGHT HOLDER","Quantity":6,"InvoiceDate":"2010-12-01 08:26:00","UnitPrice":2.55,"CustomerID":"17850","Country":"United Kingdom"}"#;

fn error_of(json: &str) -> String {
    match Transaction::from_json(json) {
        Ok(transaction) => panic!("{json} was read as {transaction:?}"),
        Err(error) => error.to_string(),
    }
}

fn assert_errors(cases: &[(String, &str)]) {
    for (json, message) in cases {
        assert_eq!(error_of(json), *message, "{json}");
    }
}

#[test]
fn a_body_that_is_not_an_object_is_shown_an_example() {
    for json in ["", "   ", "[1,2]", "\u{feff}{}"] {
        assert_eq!(error_of(json), EXPECTED_AN_OBJECT, "{json:?}");
    }
}

#[test]
fn broken_json_is_named_with_its_position() {
    assert_errors(&[
        (
            "{".to_owned(),
            "not a transaction object: EOF while parsing an object at line 1 column 1",
        ),
        (
            r#"{"InvoiceNo":"#.to_owned(),
            "not a transaction object: EOF while parsing a value at line 1 column 13",
        ),
        (
            r#"{"InvoiceNo":"536365""#.to_owned(),
            "not a transaction object: EOF while parsing an object at line 1 column 21",
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},}}"#),
            "not a transaction object: trailing comma at line 1 column 137",
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID}}} x"#),
            "not a transaction object: trailing characters at line 1 column 138",
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID}}}{{}}"#),
            "not a transaction object: trailing characters at line 1 column 137",
        ),
        (
            format!(r#"{{'InvoiceNo':"536365",{VALID}}}"#),
            "not a transaction object: key must be a string at line 1 column 2",
        ),
        (
            format!(r#"{{"InvoiceNo" "536365",{VALID}}}"#),
            "not a transaction object: expected `:` at line 1 column 14",
        ),
        (
            format!("\u{a0}{{\"InvoiceNo\":\"536365\",{VALID}}}"),
            "not a transaction object: expected value at line 1 column 1",
        ),
    ]);
}

#[test]
fn unknown_and_repeated_fields_are_named() {
    assert_errors(&[
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"CustomerId":"17850"}}"#),
            "not a transaction object: unknown field `CustomerId`, expected one of `InvoiceNo`, \
             `invoice_no`, `StockCode`, `stock_code`, `Description`, `description`, `Quantity`, \
             `quantity`, `InvoiceDate`, `invoice_date`, `UnitPrice`, `unit_price`, `CustomerID`, \
             `customer_id`, `Country`, `country`, `IdempotencyKey`, `idempotency_key` at line 1 column 148",
        ),
        (
            format!(r#"{{"invoice_no":"1",{VALID},"InvoiceNo":"2"}}"#),
            "not a transaction object: duplicate field `invoice_no` at line 1 column 143",
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"Quantity":-6}}"#),
            "not a transaction object: duplicate field `quantity` at line 1 column 146",
        ),
    ]);
}

#[test]
fn values_that_are_not_json_scalars_are_named() {
    assert_errors(&[
        (
            format!(r#"{{"InvoiceNo":true,{VALID}}}"#),
            r#"InvoiceNo "true" must be a JSON string or number"#,
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"Description":["a"]}}"#),
            r#"Description "[\"a\"]" must be a JSON string or number"#,
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"Description":{{"a":1}}}}"#),
            r#"Description "{\"a\":1}" must be a JSON string or number"#,
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"Description":"\ud800"}}"#),
            r#"Description "\"\\ud800\"" must be a JSON string or number"#,
        ),
    ]);
}

#[test]
fn malformed_numbers_and_strings_are_named_with_their_position() {
    assert_errors(&[
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"CustomerID":017850}}"#),
            "not a transaction object: invalid number at line 1 column 151",
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"CustomerID":17850.}}"#),
            "not a transaction object: invalid number at line 1 column 156",
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"CustomerID":+17850}}"#),
            "not a transaction object: expected value at line 1 column 150",
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"CustomerID":-}}"#),
            "not a transaction object: invalid number at line 1 column 151",
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"CustomerID":nul}}"#),
            "not a transaction object: expected ident at line 1 column 153",
        ),
        (
            format!("{{\"InvoiceNo\":\"536365\",{VALID},\"Description\":\"tab\there\"}}"),
            "not a transaction object: control character (\\u0000-\\u001F) found while parsing \
             a string at line 1 column 154",
        ),
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"Description":"bad \x escape"}}"#),
            "not a transaction object: invalid escape at line 1 column 157",
        ),
    ]);
}

#[test]
fn well_formed_json_with_invalid_values_names_the_field() {
    assert_errors(&[
        (
            format!(r#"{{"InvoiceNo":"536365",{VALID},"CustomerID":1.785e4}}"#),
            r#"CustomerID "1.785e4" is not a whole number"#,
        ),
        (
            format!(r#"{{"InvoiceNo":null,{VALID}}}"#),
            "InvoiceNo is missing or empty",
        ),
        ("{}".to_owned(), "InvoiceNo is missing or empty"),
        (
            r#"{"InvoiceNo":"536365","StockCode":"85123A","Quantity":6,"InvoiceDate":"2010-12-01 08:26:00","UnitPrice":-2.55,"Country":"UK"}"#.to_owned(),
            "UnitPrice \"-2.55\" is negative: a refund is a negative Quantity on a `C` \
             (cancellation) invoice; only an adjustment invoice (`A` prefix, such as bad debt) \
             has a negative price",
        ),
    ]);
}
