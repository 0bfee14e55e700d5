//! The request decoding of the input endpoints, opened to the fuzz targets (`fuzz/`) behind
//! the `fuzzing` feature: the same parser the handlers call, with no model, queue or runtime.
//! Not a stable API; nothing else should use it.

use crate::decode::{Endpoint, decode};
use crate::wire::Input;

/// The inputs a request body decoded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodedInputs {
    /// Texts to embed.
    Texts(Vec<String>),
    /// Lists of token ids to embed.
    TokenIds(Vec<Vec<u32>>),
}

/// Why a request body was refused: the response the client would get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// HTTP status code.
    pub status: u16,
    /// The error body, in the endpoint's error shape.
    pub body: Vec<u8>,
}

/// Decodes `body` as the server decodes a `POST` to `path` (one of the input endpoints:
/// `None` for any other path), with the default configuration.
pub fn decode_request(path: &str, body: &[u8]) -> Option<Result<DecodedInputs, Refused>> {
    // The paths `routes::router` routes to each endpoint's handler.
    let endpoint = match path {
        "/v1/embeddings" => Endpoint::OpenAi,
        "/embed" | "/" => Endpoint::Tei,
        "/embed_all" => Endpoint::TeiAll,
        "/similarity" => Endpoint::Similarity,
        "/api/v1/embed" => Endpoint::Legacy,
        "/api/v1/embed/batch" => Endpoint::LegacyBatch,
        _ => return None,
    };
    let auto_truncate = crate::ServerConfig::default().auto_truncate;
    Some(match decode(endpoint, body, auto_truncate) {
        Ok(job) => Ok(match job.inputs {
            Input::Text(text) => DecodedInputs::Texts(vec![text]),
            Input::Texts(texts) => DecodedInputs::Texts(texts),
            Input::TokenIds(ids) => DecodedInputs::TokenIds(vec![ids]),
            Input::TokenIdLists(lists) => DecodedInputs::TokenIds(lists),
        }),
        Err(error) => {
            let response = error.into_shaped_response(endpoint.shape());
            let status = response.status().as_u16();
            Err(Refused { status, body: render(response) })
        }
    })
}

/// The bytes of a response body that is already in memory (an error's JSON).
fn render(response: axum::response::Response) -> Vec<u8> {
    let body = response.into_body();
    let collect = axum::body::to_bytes(body, usize::MAX);
    // The body is a single in-memory chunk: polling it once completes.
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    let mut collect = std::pin::pin!(collect);
    match collect.as_mut().poll(&mut context) {
        std::task::Poll::Ready(Ok(bytes)) => bytes.to_vec(),
        _ => Vec::new(),
    }
}
