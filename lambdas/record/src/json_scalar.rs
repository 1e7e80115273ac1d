//! Reading a JSON scalar as text without going through `f64`, so `2.55`
//! stays `2.55` and `17850.0` can be recognised as a whole customer id.

use std::borrow::Cow;

use serde_json::value::RawValue;

/// The text of a JSON string (unescaped) or number (as written); `Some("")`
/// for `null`; `None` for booleans, arrays and objects.
pub(crate) fn scalar_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get().trim();
    match text.as_bytes().first()? {
        b'"' => {
            if text.contains('\\') {
                serde_json::from_str::<String>(text).ok().map(Cow::Owned)
            } else {
                Some(Cow::Borrowed(&text[1..text.len() - 1]))
            }
        }
        b'-' | b'0'..=b'9' => Some(Cow::Borrowed(text)),
        b'n' => Some(Cow::Borrowed("")),
        _ => None,
    }
}
