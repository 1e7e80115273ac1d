//! From the API Gateway request to the list of items to validate (pure: no
//! I/O). Everything refused here is the client's mistake: a 400 with what
//! is wrong and how to fix it, and nothing is sent to Kinesis.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::http::Method;
use record::JSON_EXAMPLE;
use serde_json::value::RawValue;

/// `PutRecords` takes at most 500 records per call
/// (<https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html>):
/// one request is one call's worth (500 valid transactions are far under
/// the call's 5 MiB), so a client's batch goes to the stream in one call.
pub const MAX_ITEMS: usize = 500;

/// The largest body accepted, decoded: the 5 MiB a `PutRecords` call may
/// carry (same page). A valid transaction's JSON is a few hundred bytes
/// (its fields are bounded by `record::limits`), so 500 of them are far
/// below; a body this large is a mistake, refused before it is parsed.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// Why a request was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("method {method} is not allowed on /transactions: use POST with a JSON body")]
    MethodNotAllowed { method: String },
    #[error(
        "the request body is empty: send one transaction object, or a JSON array of up to \
         {MAX_ITEMS}, such as {JSON_EXAMPLE}"
    )]
    EmptyBody,
    #[error(
        "the request body is {bytes} bytes, over the {max} byte limit (one Kinesis PutRecords \
         call): split it into smaller batches"
    )]
    TooLarge { bytes: usize, max: usize },
    #[error(
        "the request body is marked base64-encoded but is not valid base64: send the JSON as is, \
         with Content-Type: application/json"
    )]
    NotBase64,
    #[error("the request body is not UTF-8 text: send JSON encoded as UTF-8")]
    NotUtf8,
    #[error("the request body is not valid JSON ({message}): check quotes, commas and brackets")]
    BadJson { message: String },
    #[error(
        "the request body is a JSON {found}: send one transaction object, or a JSON array of \
         them, such as {JSON_EXAMPLE}"
    )]
    NotObjectOrArray { found: &'static str },
    #[error("the request body is an empty array: send at least one transaction")]
    EmptyArray,
    #[error(
        "the request body has {count} items, over the limit of {MAX_ITEMS} per request: split \
         it into batches of at most {MAX_ITEMS}"
    )]
    TooManyItems { count: usize },
}

/// The body as text: decoded from base64 when API Gateway says so (binary
/// media types), checked against [`MAX_BODY_BYTES`].
pub fn body_text(request: &ApiGatewayProxyRequest) -> Result<String, RequestError> {
    if request.http_method != Method::POST {
        return Err(RequestError::MethodNotAllowed {
            method: request.http_method.to_string(),
        });
    }
    let body = request.body.as_deref().unwrap_or_default();
    let bytes = if request.is_base64_encoded {
        // Refuse before decoding: base64 is 4 bytes for every 3.
        let decoded_at_least = body.trim_end_matches('=').len() / 4 * 3;
        if decoded_at_least > MAX_BODY_BYTES {
            return Err(RequestError::TooLarge {
                bytes: decoded_at_least,
                max: MAX_BODY_BYTES,
            });
        }
        aws_smithy_types::base64::decode(body.trim()).map_err(|_| RequestError::NotBase64)?
    } else {
        body.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(RequestError::TooLarge {
            bytes: bytes.len(),
            max: MAX_BODY_BYTES,
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| RequestError::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(RequestError::EmptyBody);
    }
    Ok(text)
}

/// Splits the body into items: one object is one item, an array is its
/// elements. Each element is validated later on its own, so one bad item
/// does not refuse the rest.
pub fn split_items(body: &str) -> Result<Vec<&RawValue>, RequestError> {
    let value: &RawValue = serde_json::from_str(body).map_err(|e| RequestError::BadJson {
        message: e.to_string(),
    })?;
    let text = value.get();
    let found = match text.as_bytes().first() {
        Some(b'{') => return Ok(vec![value]),
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_str(text).map_err(|e| RequestError::BadJson {
                    message: e.to_string(),
                })?;
            if items.is_empty() {
                return Err(RequestError::EmptyArray);
            }
            if items.len() > MAX_ITEMS {
                return Err(RequestError::TooManyItems { count: items.len() });
            }
            return Ok(items);
        }
        Some(b'"') => "string",
        Some(b'n') => "null",
        Some(b't' | b'f') => "boolean",
        _ => "number",
    };
    Err(RequestError::NotObjectOrArray { found })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_one_item_and_an_array_its_elements() {
        assert_eq!(split_items(" {\"a\":1} ").unwrap().len(), 1);
        let items = split_items("[{\"a\":1}, 2, {}]").unwrap();
        let texts: Vec<&str> = items.iter().map(|i| i.get()).collect();
        assert_eq!(texts, ["{\"a\":1}", "2", "{}"]);
    }

    #[test]
    fn scalars_are_refused_naming_what_was_found() {
        for (body, found) in [
            ("\"x\"", "string"),
            ("null", "null"),
            ("true", "boolean"),
            ("12", "number"),
        ] {
            assert_eq!(
                split_items(body).unwrap_err(),
                RequestError::NotObjectOrArray { found }
            );
        }
    }
}
