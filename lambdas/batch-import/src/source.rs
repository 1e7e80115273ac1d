//! Reading a CSV object from S3 as a stream of row chunks, in bounded
//! memory.
//!
//! The `GetObject` body is read as it arrives and parsed by the `record`
//! crate's CSV reader on a blocking thread (the reader is synchronous); the
//! rows come back in chunks of [`Options::chunk_rows`](crate::Options)
//! through a channel of [`CHUNKS_IN_FLIGHT`], so at most that many chunks
//! and the HTTP client's buffer are held at once, however large the file.
//! Dropping the stream stops the reader.
//!
//! The `GetObject` carries the listed ETag (`If-Match`): every pass over a
//! file reads the version that was listed, and a file replaced meanwhile
//! fails the read instead of mixing two versions.

use std::io::Read;

use record::{CsvError, CsvTransactions, RecordError, Transaction};
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use crate::{FileError, chain};

/// Chunks parsed ahead of the writer: the reader keeps going while a chunk
/// is written, and waits beyond that.
pub const CHUNKS_IN_FLIGHT: usize = 2;

/// One data row as the import needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRow {
    /// The line the row starts on (1 is the header).
    pub line: u64,
    pub result: Result<Transaction, Rejected>,
}

/// A refused row: why, and its fields as read (for `rejected/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub error: RecordError,
    pub fields: Vec<Vec<u8>>,
}

/// The rows of one object, chunk by chunk.
#[derive(Debug)]
pub struct RowStream {
    /// The header's fields, trimmed (a UTF-8 BOM removed).
    pub header: Vec<String>,
    chunks: mpsc::Receiver<Result<Vec<ParsedRow>, CsvError>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl RowStream {
    /// The next chunk of rows, `Ok(None)` at the end of the object.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<ParsedRow>>, FileError> {
        if let Some(chunk) = self.chunks.recv().await {
            return Ok(Some(chunk?));
        }
        // The channel also closes when the reader panicked: that is not the
        // end of the file.
        if let Some(reader) = self.reader.take() {
            reader
                .await
                .map_err(|error| FileError::Reader(error.to_string()))?;
        }
        Ok(None)
    }
}

/// Where to read and how much at most.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRef<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// The version listed; `None` reads whatever is there.
    pub etag: Option<&'a str>,
    /// More bytes than this fail the read (the listed size, so an object
    /// that is not what was listed cannot run on unbounded).
    pub max_bytes: u64,
}

/// Starts reading `object`; `Err` when it cannot be opened or is not a
/// transactions CSV at all (the header is checked before this returns).
pub async fn open(
    s3: &aws_sdk_s3::Client,
    object: ObjectRef<'_>,
    chunk_rows: usize,
) -> Result<Result<RowStream, CsvError>, FileError> {
    let response = s3
        .get_object()
        .bucket(object.bucket)
        .key(object.key)
        .set_if_match(object.etag.map(str::to_owned))
        .send()
        .await
        .map_err(|error| FileError::S3 {
            action: "reading",
            bucket: object.bucket.to_owned(),
            key: object.key.to_owned(),
            detail: chain(&error),
        })?;
    // Created here: the bridge blocks on this runtime from the reader thread.
    let body = SyncIoBridge::new(response.body.into_async_read());
    let limited = AtMost {
        inner: body,
        left: object.max_bytes,
        limit: object.max_bytes,
    };
    let (header_tx, header_rx) = tokio::sync::oneshot::channel();
    let (tx, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let reader =
        tokio::task::spawn_blocking(move || read_rows(limited, chunk_rows.max(1), header_tx, tx));
    match header_rx.await {
        Ok(Ok(header)) => Ok(Ok(RowStream {
            header,
            chunks,
            reader: Some(reader),
        })),
        Ok(Err(error)) => Ok(Err(error)),
        Err(_) => Err(FileError::Reader(
            "the CSV reader stopped before reading the header".to_owned(),
        )),
    }
}

/// The reader thread: header first, then chunks until the end, an error,
/// or the receiver is gone.
fn read_rows(
    input: impl Read,
    chunk_rows: usize,
    header_tx: tokio::sync::oneshot::Sender<Result<Vec<String>, CsvError>>,
    tx: mpsc::Sender<Result<Vec<ParsedRow>, CsvError>>,
) {
    let mut rows = match CsvTransactions::new(input) {
        Ok(rows) => rows,
        Err(error) => {
            let _ = header_tx.send(Err(error));
            return;
        }
    };
    let header = header_of(&rows);
    if header_tx.send(Ok(header)).is_err() {
        return;
    }
    let mut chunk = Vec::with_capacity(chunk_rows);
    while let Some(row) = next_row(&mut rows) {
        match row {
            Ok(row) => chunk.push(row),
            Err(error) => {
                let _ = tx.blocking_send(Err(error));
                return;
            }
        }
        if chunk.len() == chunk_rows {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(chunk_rows));
            if tx.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
}

/// The header's fields, trimmed, without a UTF-8 BOM.
fn header_of<R: Read>(rows: &CsvTransactions<R>) -> Vec<String> {
    rows.headers()
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let name = String::from_utf8_lossy(name);
            let name = if i == 0 {
                name.trim_start_matches('\u{feff}')
            } else {
                &name
            };
            name.trim().to_owned()
        })
        .collect()
}

/// The next row, with its fields kept when it is rejected.
fn next_row<R: Read>(rows: &mut CsvTransactions<R>) -> Option<Result<ParsedRow, CsvError>> {
    let row = match rows.next()? {
        Ok(row) => row,
        Err(error) => return Some(Err(error)),
    };
    let result = row.result.map_err(|error| Rejected {
        error,
        fields: rows.raw_row().iter().map(<[u8]>::to_vec).collect(),
    });
    Some(Ok(ParsedRow {
        line: row.line,
        result,
    }))
}

/// A reader that fails past `limit` bytes.
struct AtMost<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for AtMost<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.left = self.left.checked_sub(read as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "the object is longer than the {} bytes it was listed with; it changed while \
                 being read, and the next run reads it again",
                self.limit
            ))
        })?;
        Ok(read)
    }
}

/// Every row of an in-memory file, in one chunk (tests and small inputs).
pub fn rows_of(bytes: &[u8]) -> Result<(Vec<String>, Vec<ParsedRow>), CsvError> {
    let mut rows = CsvTransactions::new(bytes)?;
    let header = header_of(&rows);
    let mut all = Vec::new();
    while let Some(row) = next_row(&mut rows) {
        all.push(row?);
    }
    Ok((header, all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_longer_than_listed_fails() {
        let mut reader = AtMost {
            inner: &b"0123456789"[..],
            left: 4,
            limit: 4,
        };
        let mut out = Vec::new();
        let error = reader.read_to_end(&mut out).unwrap_err();
        assert!(
            error.to_string().contains("longer than the 4 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_rejected_row_keeps_its_fields_as_read() {
        let text = format!(
            "{}\n536365,85123A,\"HEART, WHITE\",6,2010-12-01 08:26:00,-2.55,17850.0,United Kingdom\n",
            record::CSV_HEADER
        );
        let (header, rows) = rows_of(text.as_bytes()).unwrap();
        assert_eq!(header[0], "InvoiceNo");
        let rejected = rows[0].result.as_ref().unwrap_err();
        assert_eq!(rejected.fields[2], b"HEART, WHITE");
        assert_eq!(rows[0].line, 2);
    }
}
