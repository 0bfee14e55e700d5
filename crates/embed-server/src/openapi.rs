//! The OpenAPI 3 document of the server, generated from the wire types (`wire.rs`) and the
//! handlers' annotations; served at `GET /openapi.json` and checked against the running server
//! by the tests (schemathesis).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::wire;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "embed",
        description = "Sentence embeddings identical to sentence-transformers': OpenAI's, text-embeddings-inference's and the Go original's endpoints over one engine."
    ),
    paths(
        crate::openai::openai_embeddings,
        crate::models::list_models,
        crate::tei::tei_embed,
        crate::tei::tei_root,
        crate::tei::tei_embed_all,
        crate::tei::tei_similarity,
        crate::tokens::tokenize,
        crate::tokens::decode,
        crate::info::info,
        crate::tasks::rerank,
        crate::tasks::predict,
        crate::tasks::embed_sparse,
        crate::legacy::legacy_embed,
        crate::legacy::legacy_embed_batch,
        crate::ops::health,
        crate::ops::metrics,
        crate::ops::openapi_json,
    ),
    components(schemas(
        wire::Input,
        wire::EncodingFormat,
        wire::EmbeddingValue,
        wire::Direction,
        wire::HealthStatus,
        wire::TokenizeInput,
        wire::InputIds,
        wire::TeiErrorType,
    )),
    modifiers(&ApiKeys)
)]
struct ApiDoc;

/// The bearer scheme of the servers started with API keys.
struct ApiKeys;

impl Modify for ApiKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described() {
        let document = serde_json::to_value(document()).unwrap_or_default();
        assert_eq!(document["openapi"], "3.1.0");
        let paths = document["paths"].as_object().map(|p| p.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        for path in [
            "/v1/embeddings",
            "/v1/models",
            "/embed",
            "/",
            "/embed_all",
            "/similarity",
            "/tokenize",
            "/decode",
            "/info",
            "/rerank",
            "/predict",
            "/embed_sparse",
            "/api/v1/embed",
            "/api/v1/embed/batch",
            "/health",
            "/metrics",
            "/openapi.json",
        ] {
            assert!(paths.iter().any(|p| p == path), "{path} is not in {paths:?}");
        }
        let input = &document["components"]["schemas"]["Input"];
        assert_eq!(input["oneOf"].as_array().map(Vec::len), Some(4), "{input}");
    }
}
