//! What a configuration lacks on disk before a [`crate::Service`] can be built from it
//! ([`needs`]): the missing files of each model it names, and the ONNX Runtime library where a
//! model that ONNX Runtime will run is there and the library is not. The answer is plain data
//! (`embed_manifest::Needs`) that embed-fetch fetches; this file fetches nothing and loads
//! nothing.

use embed_manifest::{Manifest, Needs};

use crate::config::{Config, OrtLibrary};
use crate::engine::{Engine, choose_engine};
use crate::files::Resolver;
use crate::{EmbedError, find_in_libs_dir};

/// What `config` lacks: the files of its model and of the models it preloads, for the engine
/// it asks for, and the ONNX Runtime library. A name that names no model is an error for the
/// default model; a preloaded one is left to the service, which reports it. A model ONNX
/// Runtime will run whose files are missing leaves `onnxruntime` unset: ask again once they
/// are fetched.
pub fn needs(config: &Config) -> Result<Needs, EmbedError> {
    let resolver = Resolver::new(config, Manifest::builtin());
    let mut needs = Needs::default();
    let mut runs_on_onnx = false;
    let preloaded = config.memory.preload_models.iter().map(|spec| (spec, false));
    for (spec, default) in std::iter::once((&config.model, true)).chain(preloaded) {
        let need = match resolver.need(spec) {
            Ok(need) => need,
            Err(error) if default => return Err(error),
            Err(_) => continue,
        };
        match need {
            Some(need) if !needs.models.iter().any(|known| known.name == need.name) => needs.models.push(need),
            Some(_) => {}
            None => {
                runs_on_onnx |= resolver
                    .resolve(spec)
                    .and_then(|files| choose_engine(&files, config.backend, config.metal.enabled))
                    .is_ok_and(|engine| engine == Engine::Onnx);
            }
        }
    }
    needs.onnxruntime = runs_on_onnx && !onnxruntime_found(&config.onnxruntime);
    Ok(needs)
}

/// Whether the library is there: a file the user chose counts as found (it is used or failed
/// on, never replaced), else one under a folder searched.
fn onnxruntime_found(library: &OrtLibrary) -> bool {
    library.path.is_some() || library.search_dirs.iter().any(|dir| find_in_libs_dir(dir).is_some())
}
