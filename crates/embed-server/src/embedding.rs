//! The embedding path every input endpoint shares: a decoded [`Job`] gets its model, is
//! prepared (embed-core's step one, on a blocking thread: tokenizing is CPU work, done in
//! parallel with the batches running), refused at once where an input is too long or a prompt
//! unknown, split into parts of at most a run and queued; then the handler awaits its rows under
//! the request timeout and applies `dimensions`.
//!
//! It knows the batcher's API and embed-core's, nothing of any endpoint's response shape.

use std::sync::atomic::Ordering;

use embed_core::{EmbedOptions, Embedding, EmbeddingModel, Handle, Prepared};

use crate::AppState;
use crate::batcher::Part;
use crate::decode::Job;
use crate::error::{ApiError, Kind};
use crate::wire::Input;

/// The embeddings of one request, `dimensions` applied.
pub(crate) struct Outcome {
    /// The model that ran (`name:variant`).
    pub model: String,
    pub embeddings: Vec<Embedding>,
}

/// Embeds `job`; `input_param` names its inputs' field in errors.
pub(crate) async fn embed(state: &AppState, job: Job, input_param: &'static str) -> Result<Outcome, ApiError> {
    let count = job.len();
    check_count(state, count, input_param)?;
    let model = resolve_model(state, job.model.as_deref()).await?;
    let name = model.name().to_string();
    let dimensions = match job.dimensions {
        None => None,
        Some(d) if d >= 1 && (d as u64) <= model.dimension() as u64 => Some(d as usize),
        Some(d) => {
            return Err(ApiError::invalid(format!(
                "`dimensions` must be between 1 and {} for model `{name}`, found {d}",
                model.dimension()
            ))
            .with_param("dimensions"));
        }
    };
    let options = EmbedOptions {
        normalize: job.normalize.unwrap_or(state.inner.service.default_options().normalize),
        prompt: job.prompt,
        truncation: job.truncation,
        truncate: job.truncate,
        output: job.output,
    };
    let normalize = options.normalize;
    let prepared = prepare(state, model, job.inputs, options, input_param, &name).await?;
    let mut embeddings = queue_and_wait(state, prepared, count, &name).await?;
    if let Some(d) = dimensions {
        for embedding in &mut embeddings {
            embedding.vector.truncate(d);
            if normalize {
                embed_core::normalize(&mut embedding.vector);
            }
        }
    }
    Ok(Outcome { model: name, embeddings })
}

/// Refuses more inputs in one request than the server takes (`MAX_INPUTS_PER_REQUEST`, what
/// text-embeddings-inference calls its maximum client batch size); `param` names their field.
pub(crate) fn check_count(state: &AppState, count: usize, param: &'static str) -> Result<(), ApiError> {
    let max = state.inner.config.max_inputs_per_request;
    if count > max { Err(ApiError::too_many(count, max).with_param(param)) } else { Ok(()) }
}

/// Step one, on a blocking thread.
async fn prepare(
    state: &AppState,
    model: Handle<EmbeddingModel>,
    inputs: Input,
    options: EmbedOptions,
    input_param: &'static str,
    name: &str,
) -> Result<Prepared, ApiError> {
    let service = state.inner.service.clone();
    let prepared = tokio::task::spawn_blocking(move || match inputs {
        Input::Text(text) => service.prepare(&model, &[text], &options),
        Input::Texts(texts) => service.prepare(&model, &texts, &options),
        Input::TokenIds(ids) => service.prepare_token_ids(&model, &[ids], &options),
        Input::TokenIdLists(lists) => service.prepare_token_ids(&model, &lists, &options),
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    prepared.map_err(|error| {
        let api = ApiError::from_embed(&error, name);
        if api.param.is_none() { api.with_param(input_param) } else { api }
    })
}

/// Queues `prepared` in parts of at most a run and awaits every part's rows under the request
/// timeout.
async fn queue_and_wait(
    state: &AppState,
    prepared: Prepared,
    count: usize,
    model: &str,
) -> Result<Vec<Embedding>, ApiError> {
    let config = &state.inner.config;
    let (parts, receivers): (Vec<Part>, Vec<_>) =
        prepared.split(state.inner.run_texts).into_iter().map(Part::new).unzip();
    state.inner.batcher.submit(parts).map_err(|full| ApiError::overloaded(full.queued, full.limit))?;
    let wait = async {
        let mut embeddings = Vec::with_capacity(count);
        for receiver in receivers {
            match receiver.await {
                Ok(Ok(rows)) => embeddings.extend(rows),
                Ok(Err(error)) => return Err(ApiError::from_embed(&error, model)),
                Err(_) => return Err(ApiError::unavailable("the server is shutting down")),
            }
        }
        Ok(embeddings)
    };
    match tokio::time::timeout(config.request_timeout, wait).await {
        Ok(result) => result,
        Err(_) => {
            state.inner.metrics.timed_out.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::timeout(config.request_timeout.as_secs_f64()))
        }
    }
}

/// The model a request names (`None`, "" or "default": the default model), an alias
/// (`ServerConfig::model_aliases`) taken for the model it stands for. Only manifest names and
/// models the server already holds are served; a path is never loaded on a client's say. A
/// name the server does not serve is 404, or the default model where
/// `ServerConfig::any_model_name` says so (as text-embeddings-inference answers any name).
pub(crate) async fn resolve_model(
    state: &AppState,
    requested: Option<&str>,
) -> Result<Handle<EmbeddingModel>, ApiError> {
    let config = &state.inner.config;
    let requested = requested.map(str::trim).map(|name| config.model_aliases.get(name).map_or(name, String::as_str));
    match find_model(state, requested).await {
        Err(error) if error.kind == Kind::UnknownModel && config.any_model_name => {
            tracing::debug!(
                model = requested.unwrap_or_default(),
                "a model this server does not serve; the default model answers"
            );
            Ok(state.inner.service.default_model())
        }
        found => found,
    }
}

/// Whether the server serves a model of that name: the default model, a model it holds, or a
/// manifest name (never a path).
pub(crate) fn serves(service: &embed_core::Service, name: &str) -> bool {
    name == service.model().name()
        || service.pool_stats().models.iter().any(|m| m.name == name)
        || (service.manifest().resolve(name).is_ok() && !name.contains(['/', '\\']))
}

/// The model of that name, loaded on first use; 404 where the server does not serve it.
async fn find_model(state: &AppState, requested: Option<&str>) -> Result<Handle<EmbeddingModel>, ApiError> {
    let service = &state.inner.service;
    let requested = match requested {
        None | Some("" | "default") => return Ok(service.default_model()),
        Some(name) if name == service.model().name() => return Ok(service.default_model()),
        Some(name) => name.to_string(),
    };
    if !serves(service, &requested) {
        return Err(ApiError::unknown_model(&requested));
    }
    let service = service.clone();
    let name = requested.clone();
    let loaded =
        tokio::task::spawn_blocking(move || service.model_handle(&name)).await.map_err(|e| ApiError::internal(&e))?;
    loaded.map_err(|error| {
        tracing::warn!(model = %requested, error = &error as &dyn std::error::Error, "a requested model is unavailable");
        ApiError::from_embed(&error, &requested)
    })
}
