//! The transform, called directly with Firehose events built from the real
//! rows of the December 2010 sample.

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::event::firehose::{
    KinesisFirehoseEvent, KinesisFirehoseEventRecord, KinesisFirehoseRecordMetadata,
    KinesisFirehoseResponse,
};
use firehose_transform::{LAMBDA_RESPONSE_LIMIT_BYTES, OK, PROCESSING_FAILED, handler, transform};
use lambda_runtime::{Context, LambdaEvent};
use record::{SourcePosition, Transaction, WAREHOUSE_COLUMNS};

const SHARD: &str = "shardId-000000000000";

fn sequence_number(index: usize) -> String {
    format!("4959033827149025660855969253836157109592157598913658{index:04}")
}

fn kinesis_sourced_record(index: usize, data: Vec<u8>) -> KinesisFirehoseEventRecord {
    let mut metadata = KinesisFirehoseRecordMetadata::default();
    metadata.shard_id = Some(SHARD.to_owned());
    metadata.sequence_number = Some(sequence_number(index));
    metadata.partition_key = Some("536365".to_owned());
    let mut record = KinesisFirehoseEventRecord::default();
    record.record_id = Some(format!(
        "{}000000000000000000000000000000000000000000{index:04}",
        "4959"
    ));
    *record.data = data;
    record.kinesis_firehose_record_metadata = Some(metadata);
    record
}

fn event_of(records: Vec<KinesisFirehoseEventRecord>) -> KinesisFirehoseEvent {
    let mut event = KinesisFirehoseEvent::default();
    event.records = records;
    event
}

fn event_from(transactions: &[Transaction]) -> KinesisFirehoseEvent {
    event_of(
        transactions
            .iter()
            .enumerate()
            .map(|(i, t)| kinesis_sourced_record(i, t.to_json().into_bytes()))
            .collect(),
    )
}

#[tokio::test]
async fn every_record_becomes_one_warehouse_json_line_with_its_record_id() {
    let transactions = record::sample::transactions("2010-12-01.csv");
    let event = event_from(&transactions);
    let record_ids: Vec<_> = event.records.iter().map(|r| r.record_id.clone()).collect();
    let response = handler(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();

    assert_eq!(response.records.len(), transactions.len());
    for (index, ((answer, record_id), transaction)) in response
        .records
        .iter()
        .zip(&record_ids)
        .zip(&transactions)
        .enumerate()
    {
        assert_eq!(&answer.record_id, record_id);
        assert_eq!(answer.result.as_deref(), Some(OK));
        let line = &answer.data.0;
        assert_eq!(line.last(), Some(&b'\n'), "COPY needs one object per line");
        let row: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(line).unwrap();
        assert_eq!(row.len(), WAREHOUSE_COLUMNS.len());
        assert_eq!(row["invoice_no"], transaction.invoice_no.as_str());
        assert_eq!(row["is_cancellation"], transaction.is_cancellation());
        let expected_line_id = SourcePosition::Kinesis {
            shard_id: SHARD,
            sequence_number: &sequence_number(index),
        }
        .line_id();
        assert_eq!(
            row["line_id"],
            expected_line_id.as_str(),
            "same id as the stream writers use"
        );
    }
}

#[test]
fn money_reaches_the_warehouse_as_quoted_decimals_copy_loads_exactly() {
    let json = r#"{"InvoiceNo":"C536379","StockCode":"D","Description":"Discount","Quantity":-1,"InvoiceDate":"12/1/2010 9:41","UnitPrice":27.5,"CustomerID":14527.0,"Country":"United Kingdom"}"#;
    let response = transform(
        event_of(vec![kinesis_sourced_record(0, json.as_bytes().to_vec())]),
        LAMBDA_RESPONSE_LIMIT_BYTES,
    );
    let line = String::from_utf8(response.records[0].data.0.clone()).unwrap();
    // A bare JSON number may lose digits in COPY's DECIMAL conversion;
    // quoted text does not.
    assert!(line.contains(r#""unit_price":"27.5","#), "{line}");
    assert!(line.contains(r#""line_total":"-27.5","#), "{line}");
    assert!(
        line.contains(r#""invoice_date":"2010-12-01 09:41:00","#),
        "{line}"
    );
    assert!(line.contains(r#""customer_id":"14527","#), "{line}");
}

#[test]
fn a_record_that_cannot_be_parsed_fails_alone_and_keeps_its_original_data() {
    let transactions = record::sample::transactions("2010-12-02.csv");
    let mut event = event_from(&transactions[..3]);
    let malformed: [&[u8]; 3] = [
        b"{\"InvoiceNo\":\"536365\"",
        b"\xff\xfe not utf-8",
        br#"{"InvoiceNo":"536365","StockCode":"85123A","Quantity":"six","InvoiceDate":"2010-12-01 08:26:00","UnitPrice":2.55,"Country":"UK"}"#,
    ];
    for (offset, data) in malformed.iter().enumerate() {
        event.records.insert(
            1 + offset * 2,
            kinesis_sourced_record(100 + offset, data.to_vec()),
        );
    }
    let inputs = event.records.clone();
    let response = transform(event, LAMBDA_RESPONSE_LIMIT_BYTES);

    let results: Vec<_> = response
        .records
        .iter()
        .map(|r| r.result.as_deref().unwrap())
        .collect();
    assert_eq!(
        results,
        [
            OK,
            PROCESSING_FAILED,
            OK,
            PROCESSING_FAILED,
            OK,
            PROCESSING_FAILED
        ]
    );
    for (answer, input) in response.records.iter().zip(&inputs) {
        assert_eq!(answer.record_id, input.record_id);
        if answer.result.as_deref() == Some(PROCESSING_FAILED) {
            assert_eq!(
                answer.data, input.data,
                "the error prefix receives the original record"
            );
        }
    }
}

#[test]
fn a_direct_put_record_is_identified_by_its_record_id() {
    let transaction = &record::sample::transactions("2010-12-03.csv")[0];
    let mut record = kinesis_sourced_record(0, transaction.to_json().into_bytes());
    record.kinesis_firehose_record_metadata = None;
    let record_id = record.record_id.clone().unwrap();
    let response = transform(event_of(vec![record]), LAMBDA_RESPONSE_LIMIT_BYTES);
    let row: serde_json::Value = serde_json::from_slice(&response.records[0].data.0).unwrap();
    assert_eq!(
        row["line_id"],
        SourcePosition::FirehoseRecord {
            record_id: &record_id
        }
        .line_id()
        .as_str()
    );
}

#[test]
fn an_empty_batch_gets_an_empty_answer() {
    let response = transform(event_of(Vec::new()), LAMBDA_RESPONSE_LIMIT_BYTES);
    assert!(response.records.is_empty());
    assert_eq!(
        serde_json::to_string(&response).unwrap(),
        r#"{"records":[]}"#
    );
}

/// A batch of `count` real rows, the request Firehose would send.
fn batch_of(count: usize) -> KinesisFirehoseEvent {
    let transactions: Vec<Transaction> = [
        "2010-12-05.csv",
        "2010-12-06.csv",
        "2010-12-07.csv",
        "2010-12-08.csv",
        "2010-12-09.csv",
        "2010-12-10.csv",
    ]
    .iter()
    .flat_map(|file| record::sample::transactions(file))
    .take(count)
    .collect();
    assert_eq!(transactions.len(), count);
    event_from(&transactions)
}

#[test]
fn an_oversized_batch_stays_within_the_lambda_response_limit() {
    // Direct PUT records (no Kinesis metadata) grow when transformed: as
    // many real rows as a 6 MB request holds give more than 6 MB of
    // warehouse lines in base64.
    let mut event = batch_of(16_000);
    let mut request_bytes = 64;
    let mut fitting = 0;
    for record in &mut event.records {
        record.kinesis_firehose_record_metadata = None;
        request_bytes += serde_json::to_vec(record).unwrap().len() + 1;
        if request_bytes > LAMBDA_RESPONSE_LIMIT_BYTES {
            break;
        }
        fitting += 1;
    }
    event.records.truncate(fitting);
    let inputs = event.records.clone();
    let response = transform(event, LAMBDA_RESPONSE_LIMIT_BYTES);

    let bytes = serde_json::to_vec(&response).unwrap().len();
    assert!(
        bytes <= LAMBDA_RESPONSE_LIMIT_BYTES,
        "response of {bytes} bytes"
    );
    assert_eq!(
        response.records.len(),
        inputs.len(),
        "one answer per record, none dropped"
    );
    let ok = response
        .records
        .iter()
        .take_while(|r| r.result.as_deref() == Some(OK))
        .count();
    assert!(ok > 0 && ok < inputs.len(), "{ok} of {} fit", inputs.len());
    for (answer, input) in response.records.iter().zip(&inputs).skip(ok) {
        assert_eq!(answer.result.as_deref(), Some(PROCESSING_FAILED));
        assert_eq!(
            (&answer.record_id, &answer.data),
            (&input.record_id, &input.data)
        );
    }
    // Filled close to the limit, not cut early.
    assert!(
        bytes > LAMBDA_RESPONSE_LIMIT_BYTES - 512 * 1024,
        "response of {bytes} bytes"
    );
}

#[test]
fn any_limit_the_request_itself_fits_is_kept() {
    let event = batch_of(300);
    let request_bytes = serde_json::to_vec(&event).unwrap().len();
    for limit in [
        request_bytes,
        request_bytes * 11 / 10,
        request_bytes * 5 / 4,
        request_bytes * 2,
    ] {
        let response = transform(event.clone(), limit);
        let bytes = serde_json::to_vec(&response).unwrap().len();
        assert!(bytes <= limit, "limit {limit}: response of {bytes} bytes");
        assert_eq!(response.records.len(), 300);
    }
}

#[tokio::test]
async fn reads_the_event_firehose_sends_and_answers_in_its_format() {
    let data = "eyJJbnZvaWNlTm8iOiI1MzYzNjUiLCJTdG9ja0NvZGUiOiI4NTEyM0EiLCJEZXNjcmlwdGlvbiI6IldISVRFIEhBTkdJTkcgSEVBUlQgVC1MSUdIVCBIT0xERVIiLCJRdWFudGl0eSI6NiwiSW52b2ljZURhdGUiOiIyMDEwLTEyLTAxIDA4OjI2OjAwIiwiVW5pdFByaWNlIjoyLjU1LCJDdXN0b21lcklEIjoiMTc4NTAiLCJDb3VudHJ5IjoiVW5pdGVkIEtpbmdkb20ifQ==";
    let event: KinesisFirehoseEvent = serde_json::from_value(serde_json::json!({
        "invocationId": "invocationIdExample",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/warehouse",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/transactions",
        "region": "us-east-1",
        "records": [{
            "recordId": "49546986683135544286507457936321625675700192471156785154",
            "approximateArrivalTimestamp": 1495072949453_i64,
            "data": data,
            "kinesisRecordMetadata": {
                "sequenceNumber": "49545115243490985018280067714973144582180062593244200961",
                "subsequenceNumber": 0,
                "partitionKey": "536365",
                "shardId": "shardId-000000000000",
                "approximateArrivalTimestamp": 1495072949453_i64
            }
        }]
    }))
    .unwrap();
    let response: KinesisFirehoseResponse = handler(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    let json = serde_json::to_value(&response).unwrap();
    let answer = &json["records"][0];
    assert_eq!(
        answer["recordId"],
        "49546986683135544286507457936321625675700192471156785154"
    );
    assert_eq!(answer["result"], "Ok");
    let decoded: Base64Data = serde_json::from_value(answer["data"].clone()).unwrap();
    let row: serde_json::Value = serde_json::from_slice(&decoded.0).unwrap();
    assert_eq!(row["unit_price"], "2.55");
    assert_eq!(row["line_total"], "15.3");
}

#[test]
fn a_default_one_megabyte_buffer_is_answered_in_full_well_within_the_limit() {
    // Firehose's default processor buffer: 1 MB of record data.
    let mut data_bytes = 0;
    let transactions: Vec<Transaction> = [
        "2010-12-14.csv",
        "2010-12-15.csv",
        "2010-12-16.csv",
        "2010-12-17.csv",
    ]
    .iter()
    .flat_map(|file| record::sample::transactions(file))
    .take_while(|t| {
        data_bytes += t.to_json().len();
        data_bytes <= 1024 * 1024
    })
    .collect();
    assert!(
        data_bytes > 1024 * 1024,
        "the sample files hold more than 1 MB"
    );
    let response = transform(event_from(&transactions), LAMBDA_RESPONSE_LIMIT_BYTES);
    assert!(
        response
            .records
            .iter()
            .all(|r| r.result.as_deref() == Some(OK))
    );
    let bytes = serde_json::to_vec(&response).unwrap().len();
    eprintln!(
        "{} records, {data_bytes} bytes of data: response of {bytes} bytes",
        transactions.len()
    );
    assert!(
        bytes < LAMBDA_RESPONSE_LIMIT_BYTES / 2,
        "response of {bytes} bytes"
    );
}

/// A quoted decimal as COPY reads it into `DECIMAL(18,3)`: thousandths,
/// parsed from the text alone (no `f64`, nothing shared with `record`).
fn thousandths(value: &serde_json::Value) -> i128 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not quoted: COPY may round a bare number"));
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(
        fraction.len() <= 3,
        "{text} has more than the column's 3 decimals"
    );
    let fraction = format!("{fraction:0<3}");
    sign * (whole.parse::<i128>().unwrap() * 1000 + fraction.parse::<i128>().unwrap())
}

#[test]
fn the_warehouse_lines_of_the_whole_sample_sum_to_the_source_revenue() {
    // Computed from the CSV text with Python's `decimal` module: the sum
    // of Quantity × UnitPrice and of UnitPrice over the 42,481 rows.
    const SOURCE_REVENUE_THOUSANDTHS: i128 = 748_957_020;
    const SOURCE_UNIT_PRICES_THOUSANDTHS: i128 = 260_520_850;
    let (mut revenue, mut unit_prices, mut lines) = (0, 0, 0);
    for path in record::sample::files() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let transactions = record::sample::transactions(&file);
        let response = transform(event_from(&transactions), usize::MAX);
        for answer in &response.records {
            assert_eq!(answer.result.as_deref(), Some(OK));
            let row: serde_json::Value = serde_json::from_slice(&answer.data.0).unwrap();
            revenue += thousandths(&row["line_total"]);
            unit_prices += thousandths(&row["unit_price"]);
            lines += 1;
        }
    }
    assert_eq!(lines, 42_481);
    assert_eq!(revenue, SOURCE_REVENUE_THOUSANDTHS);
    assert_eq!(unit_prices, SOURCE_UNIT_PRICES_THOUSANDTHS);
}
