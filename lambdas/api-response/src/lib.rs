//! api-response: the JSON answers of the REST API's Lambda proxy
//! integrations, shared by its two functions (ingest writes, query reads)
//! so that every answer of the API has the same shape: a status, a
//! `Content-Type: application/json` header and a JSON body; a refusal is
//! `{"message": ...}`.
//!
//! A crate of its own, not part of `record` (which stays free of AWS event
//! types, compiled into every function) nor of either function (each would
//! pull the other's AWS SDK). A library, not a function: it has no
//! `src/main.rs`, so the provisioner never builds it as a Lambda asset.

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use serde::Serialize;

/// `body` as JSON with `status`.
///
/// # Panics
/// When `body` does not serialise, which the API's own types (plain
/// structs of strings, numbers and lists) never do.
pub fn json(status: u16, body: &impl Serialize) -> ApiGatewayProxyResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response.headers = headers;
    response.body = Some(Body::Text(
        serde_json::to_string(body).expect("an API response body always serialises"),
    ));
    response
}

/// `{"message": ...}` with `status`: a refusal or failure of the request as
/// a whole.
pub fn message(status: u16, message: &str) -> ApiGatewayProxyResponse {
    #[derive(Serialize)]
    struct Message<'a> {
        message: &'a str,
    }
    json(status, &Message { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_a_json_object_with_its_status_and_content_type() {
        let response = message(404, "no invoice 536365 is stored");
        assert_eq!(response.status_code, 404);
        assert_eq!(
            response.headers.get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/json"))
        );
        assert_eq!(
            response.body,
            Some(Body::Text(
                r#"{"message":"no invoice 536365 is stored"}"#.to_owned()
            ))
        );
    }
}
