//! Request and response encodings. JSON for people and `edgectl`; `application/x-postcard` for
//! agents and peers: a postcard-encoded [`Envelope`] whose body is the JSON document's bytes, so
//! that a version travels with every message until typed wire messages replace the JSON. A
//! watch stream in postcard is a sequence of envelopes, one per event.
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde::{Deserialize, Serialize};

use super::error::ApiError;

pub const JSON: &str = "application/json";
pub const MERGE_PATCH_JSON: &str = "application/merge-patch+json";
pub const POSTCARD: &str = "application/x-postcard";

/// The envelope version this server writes and reads.
pub const ENVELOPE_VERSION: u16 = 1;

/// A postcard message: a version and a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`] for messages this server writes.
    pub version: u16,
    /// The JSON document, UTF-8.
    pub json: Vec<u8>,
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Postcard,
}

impl Format {
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Format::Json => JSON,
            Format::Postcard => POSTCARD,
        })
    }

    /// The response format a client asked for with `Accept`: postcard when it names it, JSON
    /// otherwise.
    pub fn accepted(headers: &HeaderMap) -> Format {
        let wants_postcard = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| media_type(v) == POSTCARD);
        if wants_postcard {
            Format::Postcard
        } else {
            Format::Json
        }
    }

    /// The format of a request body from `Content-Type`. `patch` allows
    /// `application/merge-patch+json`; JSON is assumed when the header is missing.
    pub fn of_body(headers: &HeaderMap, patch: bool) -> Result<Format, ApiError> {
        let Some(value) = headers.get(CONTENT_TYPE) else {
            return Ok(Format::Json);
        };
        let text = value.to_str().unwrap_or("");
        match media_type(text) {
            JSON if !patch => Ok(Format::Json),
            MERGE_PATCH_JSON if patch => Ok(Format::Json),
            POSTCARD => Ok(Format::Postcard),
            _ => Err(ApiError::UnsupportedMediaType {
                content_type: text.to_string(),
            }),
        }
    }

    /// Encodes a document.
    pub fn encode<T: Serialize>(self, value: &T) -> Bytes {
        let json = serde_json::to_vec(value).expect("API documents serialise to JSON");
        match self {
            Format::Json => Bytes::from(json),
            Format::Postcard => Bytes::from(
                postcard::to_stdvec(&Envelope {
                    version: ENVELOPE_VERSION,
                    json,
                })
                .expect("an envelope serialises"),
            ),
        }
    }

    /// Decodes a document.
    pub fn decode(self, body: &[u8]) -> Result<serde_json::Value, ApiError> {
        let json = match self {
            Format::Json => body,
            Format::Postcard => &open_envelope(body)?,
        };
        serde_json::from_slice(json).map_err(|e| ApiError::BadBody {
            problem: e.to_string(),
        })
    }
}

fn open_envelope(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let envelope: Envelope = postcard::from_bytes(body).map_err(|e| ApiError::BadBody {
        problem: format!("postcard envelope: {e}"),
    })?;
    if envelope.version != ENVELOPE_VERSION {
        return Err(ApiError::BadBody {
            problem: format!(
                "postcard envelope version {} (this server reads {ENVELOPE_VERSION})",
                envelope.version
            ),
        });
    }
    Ok(envelope.json)
}

fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn postcard_envelope_round_trips_a_document() {
        let doc = json!({"kind": "Status", "code": 404});
        let bytes = Format::Postcard.encode(&doc);
        assert_eq!(Format::Postcard.decode(&bytes).unwrap(), doc);
        assert_eq!(bytes[0], ENVELOPE_VERSION as u8);
    }

    #[test]
    fn content_types_are_chosen_from_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(Format::of_body(&headers, false).unwrap(), Format::Json);
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/x-postcard, */*"),
        );
        assert_eq!(Format::accepted(&headers), Format::Postcard);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(Format::of_body(&headers, false).unwrap(), Format::Json);
        assert!(Format::of_body(&headers, true).is_err());
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/strategic-merge-patch+json"),
        );
        assert_eq!(
            Format::of_body(&headers, true)
                .unwrap_err()
                .to_status()
                .code,
            415
        );
    }
}
