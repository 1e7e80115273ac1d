//! Parsing specifications, on rows taken from the December 2010 sample.

use record::{
    CsvError, CsvTransactions, Field, Money, Reason, RecordError, SourcePosition, Transaction,
    WarehouseRow,
};

const HEADER: &str =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";

fn parse_csv_row(row: &str) -> Result<Transaction, RecordError> {
    let text = format!("{HEADER}{row}\n");
    let mut rows = CsvTransactions::new(text.as_bytes()).expect("header is valid");
    let parsed = rows.next().expect("one row").expect("readable").result;
    assert!(rows.next().is_none());
    parsed
}

#[test]
fn reads_the_quirks_of_real_rows() {
    struct Case {
        row: &'static str,
        invoice_no: &'static str,
        stock_code: &'static str,
        description: Option<&'static str>,
        quantity: i32,
        date: &'static str,
        unit_price_thousandths: i64,
        customer: Option<&'static str>,
        country: &'static str,
        cancellation: bool,
        product: bool,
    }
    let cases = [
        Case {
            // A plain sale; the customer id is written as a float.
            row: "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
            invoice_no: "536365",
            stock_code: "85123A",
            description: Some("WHITE HANGING HEART T-LIGHT HOLDER"),
            quantity: 6,
            date: "2010-12-01 08:26:00",
            unit_price_thousandths: 2550,
            customer: Some("17850"),
            country: "United Kingdom",
            cancellation: false,
            product: true,
        },
        Case {
            // The same row as the original Kaggle file writes it.
            row: "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
            invoice_no: "536365",
            stock_code: "85123A",
            description: Some("WHITE HANGING HEART T-LIGHT HOLDER"),
            quantity: 6,
            date: "2010-12-01 08:26:00",
            unit_price_thousandths: 2550,
            customer: Some("17850"),
            country: "United Kingdom",
            cancellation: false,
            product: true,
        },
        Case {
            // A cancellation: C prefix, negative quantity.
            row: "C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom",
            invoice_no: "C536379",
            stock_code: "D",
            description: Some("Discount"),
            quantity: -1,
            date: "2010-12-01 09:41:00",
            unit_price_thousandths: 27_500,
            customer: Some("14527"),
            country: "United Kingdom",
            cancellation: true,
            product: false,
        },
        Case {
            // Quoted description with doubled quotes and a trailing space.
            row: r#"536477,22041,"RECORD FRAME 7"" SINGLE SIZE ",48,2010-12-01 12:27:00,2.1,16210.0,United Kingdom"#,
            invoice_no: "536477",
            stock_code: "22041",
            description: Some(r#"RECORD FRAME 7" SINGLE SIZE"#),
            quantity: 48,
            date: "2010-12-01 12:27:00",
            unit_price_thousandths: 2100,
            customer: Some("16210"),
            country: "United Kingdom",
            cancellation: false,
            product: true,
        },
        Case {
            // No customer: kept, customer None.
            row: r#"536544,90214D,"LETTER ""D"" BLING KEY RING",1,2010-12-01 14:32:00,0.85,,United Kingdom"#,
            invoice_no: "536544",
            stock_code: "90214D",
            description: Some(r#"LETTER "D" BLING KEY RING"#),
            quantity: 1,
            date: "2010-12-01 14:32:00",
            unit_price_thousandths: 850,
            customer: None,
            country: "United Kingdom",
            cancellation: false,
            product: true,
        },
        Case {
            // A stock adjustment: no description, negative quantity, price 0,
            // no customer, not a cancellation.
            row: "537000,21414,,-22,2010-12-03 15:32:00,0.0,,United Kingdom",
            invoice_no: "537000",
            stock_code: "21414",
            description: None,
            quantity: -22,
            date: "2010-12-03 15:32:00",
            unit_price_thousandths: 0,
            customer: None,
            country: "United Kingdom",
            cancellation: false,
            product: true,
        },
        Case {
            // Non-product code with a space, on a cancellation without customer.
            row: "C537572,BANK CHARGES,Bank Charges,-1,2010-12-07 12:00:00,95.38,,United Kingdom",
            invoice_no: "C537572",
            stock_code: "BANK CHARGES",
            description: Some("Bank Charges"),
            quantity: -1,
            date: "2010-12-07 12:00:00",
            unit_price_thousandths: 95_380,
            customer: None,
            country: "United Kingdom",
            cancellation: true,
            product: false,
        },
        Case {
            // Postage, the largest-value fee codes, non-ASCII description.
            row: "539492,gift_0001_40,Dotcomgiftshop Gift Voucher £40.00,1,2010-12-20 10:14:00,34.04,,United Kingdom",
            invoice_no: "539492",
            stock_code: "gift_0001_40",
            description: Some("Dotcomgiftshop Gift Voucher £40.00"),
            quantity: 1,
            date: "2010-12-20 10:14:00",
            unit_price_thousandths: 34_040,
            customer: None,
            country: "United Kingdom",
            cancellation: false,
            product: false,
        },
        Case {
            row: "536370,POST,POSTAGE,3,2010-12-01 08:45:00,18.0,12583.0,France",
            invoice_no: "536370",
            stock_code: "POST",
            description: Some("POSTAGE"),
            quantity: 3,
            date: "2010-12-01 08:45:00",
            unit_price_thousandths: 18_000,
            customer: Some("12583"),
            country: "France",
            cancellation: false,
            product: false,
        },
    ];
    for case in cases {
        let t = parse_csv_row(case.row).unwrap_or_else(|e| panic!("{}: {e}", case.row));
        assert_eq!(t.invoice_no, case.invoice_no, "{}", case.row);
        assert_eq!(t.stock_code, case.stock_code, "{}", case.row);
        assert_eq!(t.description.as_deref(), case.description, "{}", case.row);
        assert_eq!(t.quantity, case.quantity, "{}", case.row);
        assert_eq!(t.invoice_date_text(), case.date, "{}", case.row);
        assert_eq!(
            t.unit_price,
            Money::from_thousandths(case.unit_price_thousandths),
            "{}",
            case.row
        );
        assert_eq!(t.customer_id.as_deref(), case.customer, "{}", case.row);
        assert_eq!(t.country, case.country, "{}", case.row);
        assert_eq!(t.is_cancellation(), case.cancellation, "{}", case.row);
        assert_eq!(t.is_product(), case.product, "{}", case.row);
    }
}

#[test]
fn rejects_invalid_rows_naming_the_field_and_the_reason() {
    let invalid = |field, value: &str, reason| RecordError::Invalid {
        field,
        value: value.to_owned(),
        reason,
    };
    let base = [
        "536365",
        "85123A",
        "WHITE HEART",
        "6",
        "2010-12-01 08:26:00",
        "2.55",
        "17850.0",
        "United Kingdom",
    ];
    let cases: Vec<(usize, &str, RecordError)> = vec![
        (
            0,
            "",
            RecordError::Missing {
                field: Field::InvoiceNo,
            },
        ),
        (
            0,
            "536-365",
            invalid(Field::InvoiceNo, "536-365", Reason::NotAnInvoiceNumber),
        ),
        (
            0,
            "c536379",
            invalid(Field::InvoiceNo, "c536379", Reason::NotAnInvoiceNumber),
        ),
        (
            0,
            "C",
            invalid(Field::InvoiceNo, "C", Reason::NotAnInvoiceNumber),
        ),
        (
            0,
            "12345678901234567",
            invalid(
                Field::InvoiceNo,
                "12345678901234567",
                Reason::TooLong { max_bytes: 16 },
            ),
        ),
        (
            1,
            "  ",
            RecordError::Missing {
                field: Field::StockCode,
            },
        ),
        (
            3,
            "",
            RecordError::Missing {
                field: Field::Quantity,
            },
        ),
        (
            3,
            "6.5",
            invalid(Field::Quantity, "6.5", Reason::NotAnInteger),
        ),
        (
            3,
            "six",
            invalid(Field::Quantity, "six", Reason::NotAnInteger),
        ),
        (
            3,
            "99999999999",
            invalid(Field::Quantity, "99999999999", Reason::OutOfRange),
        ),
        (
            4,
            "",
            RecordError::Missing {
                field: Field::InvoiceDate,
            },
        ),
        (
            4,
            "01.12.2010 08:26",
            invalid(
                Field::InvoiceDate,
                "01.12.2010 08:26",
                Reason::UnknownDateFormat,
            ),
        ),
        (
            4,
            "2/30/2011 8:26",
            invalid(Field::InvoiceDate, "2/30/2011 8:26", Reason::NoSuchDateTime),
        ),
        (
            5,
            "",
            RecordError::Missing {
                field: Field::UnitPrice,
            },
        ),
        (
            5,
            "£2.55",
            invalid(Field::UnitPrice, "£2.55", Reason::NotADecimal),
        ),
        (
            5,
            "2.5555",
            invalid(
                Field::UnitPrice,
                "2.5555",
                Reason::TooManyDecimals { max: 3 },
            ),
        ),
        (
            5,
            "-11062.06",
            invalid(Field::UnitPrice, "-11062.06", Reason::NegativePrice),
        ),
        (
            5,
            "1000000000",
            invalid(Field::UnitPrice, "1000000000", Reason::OutOfRange),
        ),
        (
            6,
            "17850.5",
            invalid(Field::CustomerId, "17850.5", Reason::NotAnInteger),
        ),
        (
            6,
            "ABC",
            invalid(Field::CustomerId, "ABC", Reason::NotAnInteger),
        ),
        (
            7,
            "",
            RecordError::Missing {
                field: Field::Country,
            },
        ),
    ];
    for (column, value, expected) in cases {
        let mut fields = base.map(str::to_owned);
        fields[column] = value.to_owned();
        let row = fields
            .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
            .join(",");
        assert_eq!(parse_csv_row(&row), Err(expected), "{row}");
    }
}

#[test]
fn rejects_a_cancellation_with_a_positive_quantity() {
    let error =
        parse_csv_row("C536379,D,Discount,1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom")
            .unwrap_err();
    assert_eq!(error.field(), Some(Field::Quantity));
    assert_eq!(
        error.to_string(),
        "Quantity \"1\" is positive on a cancellation invoice (`C` prefix): cancelled lines carry negative quantities"
    );
}

/// The retailer's bad-debt write-offs of August 2011, as the full data set
/// has them (not in the December 2010 sample).
const BAD_DEBT_ADJUSTMENTS: [&str; 3] = [
    "A563185,B,Adjust bad debt,1,8/12/2011 14:50,11062.06,,United Kingdom",
    "A563186,B,Adjust bad debt,1,8/12/2011 14:51,-11062.06,,United Kingdom",
    "A563187,B,Adjust bad debt,1,8/12/2011 14:52,-11062.06,,United Kingdom",
];

#[test]
fn bad_debt_adjustments_with_a_negative_price_are_stored_and_flagged() {
    let lines: Vec<Transaction> = BAD_DEBT_ADJUSTMENTS
        .iter()
        .map(|row| parse_csv_row(row).unwrap_or_else(|e| panic!("{row}: {e}")))
        .collect();
    assert!(lines.iter().all(Transaction::is_adjustment));
    assert!(
        lines
            .iter()
            .all(|t| !t.is_cancellation() && !t.is_product())
    );
    let net: i64 = lines.iter().map(|t| t.line_total().thousandths()).sum();
    assert_eq!(
        Money::from_thousandths(net).to_string(),
        "-11062.06",
        "rejecting the two negative lines would overstate revenue by 22,124.12"
    );
    // They travel the stream and reach the warehouse like any line.
    for line in &lines {
        assert_eq!(Transaction::from_json(&line.to_json()).as_ref(), Ok(line));
    }
}

#[test]
fn a_negative_price_outside_an_adjustment_invoice_is_still_refused() {
    for row in [
        "563186,B,Adjust bad debt,1,8/12/2011 14:51,-11062.06,,United Kingdom",
        "C563186,B,Adjust bad debt,-1,8/12/2011 14:51,-11062.06,,United Kingdom",
    ] {
        let error = parse_csv_row(row).unwrap_err();
        assert_eq!(error.kind(), "UnitPrice: negative", "{row}");
    }
    let error =
        parse_csv_row("A1,B,Adjust,1,8/12/2011 14:51,-1000000000,,United Kingdom").unwrap_err();
    assert_eq!(error.kind(), "UnitPrice: out of range");
}

#[test]
fn rejects_a_line_total_beyond_the_warehouse_decimal() {
    let error =
        parse_csv_row("536365,85123A,X,2000000000,2010-12-01 08:26:00,999999.99,,United Kingdom")
            .unwrap_err();
    assert_eq!(error.kind(), "UnitPrice: out of range");
}

#[test]
fn error_messages_say_what_is_wrong_and_what_is_expected() {
    let cases = [
        (
            "536365,85123A,X,6,2010-13-01 08:26:00,2.55,,UK",
            "InvoiceDate \"2010-13-01 08:26:00\" is not a real calendar date and time",
        ),
        (
            "536365,85123A,X,6,1 Dec 2010,2.55,,UK",
            "InvoiceDate \"1 Dec 2010\" is not a date in a known format: expected `2010-12-01 08:26:00` or `12/1/2010 8:26`",
        ),
        (
            "536365,85123A,X,6,2010-12-01 08:26:00,2.55,,",
            "Country is missing or empty",
        ),
        (
            "536365,85123A,RECORD FRAME 7, SINGLE,6,2010-12-01 08:26:00,2.55,,UK",
            "row has 9 columns, expected 8 (InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country); quote descriptions that contain commas",
        ),
    ];
    for (row, message) in cases {
        assert_eq!(
            parse_csv_row(row).unwrap_err().to_string(),
            message,
            "{row}"
        );
    }
}

#[test]
fn a_long_offending_value_is_cut_in_the_message() {
    let long = "x".repeat(300);
    let error = parse_csv_row(&format!(
        "536365,85123A,{long},6,2010-12-01 08:26:00,2.55,,UK"
    ))
    .unwrap_err();
    let RecordError::Invalid { value, reason, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*reason, Reason::TooLong { max_bytes: 256 });
    assert!(value.chars().count() <= 65, "{value}");
}

#[test]
fn reports_invalid_utf8_as_a_field_error() {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"536365,85123A,CAF\xC9,6,2010-12-01 08:26:00,2.55,,UK\n");
    let row = CsvTransactions::new(bytes.as_slice())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(row.result.unwrap_err().kind(), "Description: not utf-8");
}

#[test]
fn numbers_rows_by_their_line_in_the_file_and_keeps_going_after_a_bad_row() {
    let text = format!(
        "{HEADER}536365,85123A,A,6,2010-12-01 08:26:00,2.55,,UK\n536365,85123A,B,six,2010-12-01 08:26:00,2.55,,UK\n\"536366\",22633,\"HAND WARMER\nUNION JACK\",6,2010-12-01 08:28:00,1.85,17850.0,UK\n536367,84879,D,32,2010-12-01 08:34:00,1.69,13047.0,UK\n"
    );
    let rows: Vec<_> = CsvTransactions::new(text.as_bytes())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    assert_eq!(
        lines,
        [2, 3, 4, 6],
        "a quoted newline makes a row span two lines"
    );
    let ok: Vec<bool> = rows.iter().map(|r| r.result.is_ok()).collect();
    assert_eq!(ok, [true, false, true, true]);
}

#[test]
fn finds_columns_by_name_in_any_order_and_naming() {
    let text = "\u{feff}country,customer_id,unit_price,invoice_date,quantity,description,stock_code,invoice_no\nFrance,12583.0,18.0,12/1/2010 8:45,3,POSTAGE,POST,536370\n";
    let row = CsvTransactions::new(text.as_bytes())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let t = row.result.unwrap();
    assert_eq!(
        (
            t.invoice_no.as_str(),
            t.stock_code.as_str(),
            t.country.as_str()
        ),
        ("536370", "POST", "France")
    );
}

#[test]
fn refuses_a_file_without_the_expected_header() {
    let error = CsvTransactions::new("InvoiceNo,StockCode,Qty\n1,2,3\n".as_bytes()).unwrap_err();
    assert!(matches!(&error, CsvError::MissingColumns { missing, .. }
        if missing == &["Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]));
    assert!(
        error
            .to_string()
            .contains("expected InvoiceNo,StockCode,Description"),
        "{error}"
    );
    assert!(matches!(
        CsvTransactions::new("".as_bytes()).unwrap_err(),
        CsvError::Empty { .. }
    ));
}

#[test]
fn accepts_json_in_the_original_and_the_normalised_naming() {
    let original = r#"{"InvoiceNo":"536365","StockCode":"85123A","Description":"WHITE HANGING HEART T-LIGHT HOLDER ","Quantity":6,"InvoiceDate":"12/1/2010 8:26","UnitPrice":2.55,"CustomerID":17850.0,"Country":"United Kingdom"}"#;
    let normalised = r#"{"invoice_no":"536365","stock_code":"85123A","description":"WHITE HANGING HEART T-LIGHT HOLDER","quantity":"6","invoice_date":"2010-12-01 08:26:00","unit_price":"2.55","customer_id":"17850","country":"United Kingdom"}"#;
    let a = Transaction::from_json(original).unwrap();
    let b = Transaction::from_json(normalised).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.unit_price, Money::from_thousandths(2550));
    assert_eq!(a.customer_id.as_deref(), Some("17850"));
}

#[test]
fn json_round_trips_through_the_normalised_form() {
    let t = parse_csv_row(r#"536477,22041,"RECORD FRAME 7"" SINGLE SIZE ",48,2010-12-01 12:27:00,2.1,,United Kingdom"#).unwrap();
    let json = t.to_json();
    assert_eq!(
        json,
        r#"{"invoice_no":"536477","stock_code":"22041","description":"RECORD FRAME 7\" SINGLE SIZE","quantity":48,"invoice_date":"2010-12-01 12:27:00","unit_price":2.1,"customer_id":null,"country":"United Kingdom"}"#
    );
    assert_eq!(Transaction::from_json(&json).unwrap(), t);
    assert_eq!(serde_json::from_str::<Transaction>(&json).unwrap(), t);
}

#[test]
fn json_without_customer_keeps_the_row() {
    let t = Transaction::from_json(
        r#"{"InvoiceNo":"536544","StockCode":"90214D","Quantity":1,"InvoiceDate":"2010-12-01 14:32:00","UnitPrice":0.85,"CustomerID":null,"Country":"United Kingdom"}"#,
    )
    .unwrap();
    assert_eq!((t.customer_id, t.description), (None, None));
}

#[test]
fn json_errors_name_the_problem() {
    let cases = [
        (
            "[1,2]",
            "not a transaction object: expected a JSON object such as {\"InvoiceNo\":\"536365\"",
        ),
        (
            "{\"InvoiceNo\":",
            "not a transaction object: EOF while parsing a value at line 1 column 13",
        ),
        (
            r#"{"InvoiceNo":"1","CustomerId":"17850"}"#,
            "not a transaction object: unknown field `CustomerId`, expected one of",
        ),
        (
            r#"{"InvoiceNo":true}"#,
            "InvoiceNo \"true\" must be a JSON string or number",
        ),
        (
            r#"{"InvoiceNo":"1","invoice_no":"2"}"#,
            "not a transaction object: duplicate field `invoice_no`",
        ),
        (
            r#"{"InvoiceNo":"536365","StockCode":"85123A","Quantity":6,"InvoiceDate":"2010-12-01 08:26:00","UnitPrice":2.5555,"Country":"UK"}"#,
            "UnitPrice \"2.5555\" has more than 3 decimal places; money is kept exact and never rounded",
        ),
    ];
    for (json, message) in cases {
        let error = Transaction::from_json(json).unwrap_err().to_string();
        assert!(error.starts_with(message), "{json}: {error}");
    }
}

#[test]
fn warehouse_json_has_the_exact_columns_and_decimals() {
    let t = parse_csv_row("C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom")
        .unwrap();
    let line_id = SourcePosition::File {
        key: "2010-12-01.csv",
        line: 142,
    }
    .line_id();
    let json = String::from_utf8(WarehouseRow::new(&t, &line_id).to_json_line()).unwrap();
    assert_eq!(
        json,
        format!(
            "{{\"invoice_no\":\"C536379\",\"stock_code\":\"D\",\"description\":\"Discount\",\"quantity\":-1,\"invoice_date\":\"2010-12-01 09:41:00\",\"unit_price\":\"27.5\",\"customer_id\":\"14527\",\"country\":\"United Kingdom\",\"is_cancellation\":true,\"line_total\":\"-27.5\",\"line_id\":\"{line_id}\"}}\n"
        )
    );
    // Sorted: serde_json's `preserve_order` may be on in the workspace.
    let mut keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json)
            .unwrap()
            .keys()
            .cloned()
            .collect();
    let mut columns: Vec<String> = record::WAREHOUSE_COLUMNS
        .iter()
        .map(|c| c.name.to_owned())
        .collect();
    columns.sort();
    keys.sort();
    assert_eq!(keys, columns);
}

#[test]
fn line_total_is_exact_where_f64_is_not() {
    // 3 × 0.1 is 0.30000000000000004 in f64.
    let t = parse_csv_row("536365,85123A,X,3,2010-12-01 08:26:00,0.1,,UK").unwrap();
    assert_eq!(t.line_total().to_string(), "0.3");
}

#[test]
fn dynamo_items_of_a_line_without_customer_go_to_invoices_only() {
    use record::dynamodb::{AttributeValue, attr};
    let t = parse_csv_row("537000,21414,,-22,2010-12-03 15:32:00,0.0,,United Kingdom").unwrap();
    let position = SourcePosition::Kinesis {
        shard_id: "shardId-000000000000",
        sequence_number: "4959",
    };
    let items = t.dynamo_items(&position);
    assert!(items.customer.is_none());
    assert_eq!(
        items.invoice.get(attr::INVOICE_NO),
        Some(&AttributeValue::S("537000".into()))
    );
    assert_eq!(
        items.invoice.get(attr::QUANTITY),
        Some(&AttributeValue::N("-22".into()))
    );
    assert_eq!(
        items.invoice.get(attr::LINE_TOTAL),
        Some(&AttributeValue::N("0".into()))
    );
    assert_eq!(
        items.invoice.get(attr::DESCRIPTION),
        None,
        "absent, never an empty string"
    );
    assert_eq!(items.invoice.get(attr::CUSTOMER_ID), None);
    assert_eq!(
        items.invoice.get(attr::SOURCE),
        Some(&AttributeValue::S(
            "kinesis:shardId-000000000000:4959".into()
        ))
    );
    assert_eq!(
        t.dynamo_items(&position),
        items,
        "the same position gives the same items"
    );
}
