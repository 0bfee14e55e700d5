//! The warning `embed` prints once, when it opens an `int8` model on a CPU without int8
//! dot-product instructions: there int8 runs no faster than fp32 (often slower) and a user who
//! picked it for speed must hear so. Whether the CPU has them is `embed_core`'s to say; this
//! file only decides when to say it.

use embed_core::{Config, Int8DotProduct};

/// The variant whose speed depends on the CPU's int8 dot products.
const INT8: &str = "int8";

/// Prints the warning on stderr when a model `config` opens (the default model or a preloaded
/// one) is an `int8` variant and the CPU has no int8 dot product. Called once per process.
pub fn warn_if_int8_is_slow_here(config: &Config) {
    if let Some(text) = warning(config, Int8DotProduct::detect()) {
        eprintln!("{text}");
    }
}

fn warning(config: &Config, dot: Option<Int8DotProduct>) -> Option<String> {
    if dot.is_some() {
        return None;
    }
    let manifest = embed_core::Manifest::builtin();
    let model = std::iter::once(&config.model)
        .chain(&config.memory.preload_models)
        .find(|spec| manifest.resolve(spec).is_ok_and(|resolved| resolved.variant == INT8))?;
    Some(format!("warning: `{model}`: {}; fp32 is as fast or faster", embed_core::int8_advice(None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_for_int8_without_dot_products() {
        let mut config = Config { model: "all-MiniLM-L6-v2:int8".to_string(), ..Config::default() };
        let text = warning(&config, None).unwrap();
        assert!(text.starts_with("warning: `all-MiniLM-L6-v2:int8`: this CPU has no int8 dot-product"), "{text}");
        assert_eq!(warning(&config, Some(Int8DotProduct::Avx512Vnni)), None);
        config.model = "all-MiniLM-L6-v2".to_string();
        assert_eq!(warning(&config, None), None);
        config.memory.preload_models.push("all-mpnet-base-v2:int8".to_string());
        assert!(warning(&config, None).unwrap().contains("`all-mpnet-base-v2:int8`"));
    }
}
