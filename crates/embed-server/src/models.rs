//! `GET /v1/models`: every model of the manifest with what this server has of it (variants on
//! disk, prompts, whether loaded, which is the default), then any other variant and any model
//! named by hub id loaded now (a model loaded from a directory is not listed: its name is a
//! path of the server's). It reads small files only; it loads no model.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use embed_core::{KnownModel, ModelState};

use crate::AppState;
use crate::wire::{ModelEntry, ModelList, OpenAiError};

/// The models the server offers.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai",
    responses(
        (status = 200, description = "The models", body = ModelList),
        (status = 401, description = "A missing or wrong API key", body = OpenAiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn list_models(State(state): State<AppState>) -> Response {
    axum::Json(model_list(&state)).into_response()
}

fn model_list(state: &AppState) -> ModelList {
    let service = &state.inner.service;
    let stats = service.pool_stats();
    let default = service.model().name().to_string();
    let loaded = |name: &str| stats.model(name).is_some_and(|m| m.state == ModelState::Loaded);
    let manifest = service.manifest();
    // Prompts and fetched variants as the model cache holds them (reading small files only).
    let known = service.known_models();
    let entry = |id: String, full: &str, manifest_name: Option<&str>| {
        let model: Option<&KnownModel> = manifest_name.and_then(|name| known.iter().find(|k| k.name == name));
        let resolved = manifest.resolve(full).ok();
        ModelEntry {
            object: "model",
            created: 0,
            owned_by: "embed",
            dimension: resolved.as_ref().map(|r| r.model.dimension),
            max_tokens: resolved.as_ref().map(|r| r.model.max_seq_length),
            loaded: loaded(full),
            default: full == default,
            prompts: model.map(|k| k.prompts.prompts.clone()).unwrap_or_default(),
            default_prompt_name: model.and_then(|k| k.prompts.default_name.clone()),
            fetched: model.map(|k| k.fetched.iter().map(|v| v.variant.clone()).collect()).unwrap_or_default(),
            id,
        }
    };
    // The registry names models `name:variant`; the list names a model by its plain name
    // (its default variant) and adds other variants only while they are loaded.
    let mut listed = Vec::new();
    let mut data = Vec::new();
    for model in &manifest.models {
        let full = manifest.resolve(&model.name).map(|r| r.display_name()).unwrap_or_else(|_| model.name.clone());
        data.push(entry(model.name.clone(), &full, Some(&model.name)));
        listed.push(full);
    }
    for model in &stats.models {
        if listed.contains(&model.name) || model.state != ModelState::Loaded {
            continue;
        }
        if model.name.contains(['/', '\\']) {
            let by_hub_id =
                embed_core::HubId::parse(&model.name).is_ok() && !std::path::Path::new(&model.name).exists();
            let Some(handle) = by_hub_id.then(|| service.model_handle(&model.name).ok()).flatten() else { continue };
            data.push(ModelEntry {
                dimension: Some(handle.dimension()),
                max_tokens: Some(handle.max_tokens()),
                prompts: handle.prompts().prompts.clone(),
                default_prompt_name: handle.prompts().default_name.clone(),
                fetched: vec![embed_core::DEFAULT_VARIANT.to_string()],
                ..entry(model.name.clone(), &model.name, None)
            });
            continue;
        }
        let manifest_name = manifest.resolve(&model.name).ok().map(|r| r.model.name.clone());
        data.push(entry(model.name.clone(), &model.name, manifest_name.as_deref()));
    }
    ModelList { object: "list", data }
}
