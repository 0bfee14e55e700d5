//! A checkpoint's weights, memory-mapped: `model.safetensors`, or every shard of a sharded
//! checkpoint (each mapped on its own, a tensor looked up in the shard the index names).
//! Tensors are looked up by name, their shape checked against what the architecture expects,
//! widened to `f32` from F16 or BF16, and borrowed straight from their shard's mapping where
//! they are already `f32` (so a large embedding table is never copied, and only the rows a
//! batch touches are read from disk).
//!
//! Knows nothing of architectures beyond the name prefix a checkpoint puts before its tensors
//! (`bert.`, `roberta.`, none), nor of which files make a checkpoint (`checkpoint.rs`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::{Dtype, TensorInfo};

use crate::NativeError;
use crate::checkpoint::Layout;

/// An open checkpoint: its files mapped, its tensors indexed by name.
pub(crate) struct Weights {
    /// `model.safetensors`, or the index of a sharded checkpoint: what a missing tensor is
    /// reported against.
    source: PathBuf,
    shards: Vec<Shard>,
    tensors: HashMap<String, Located>,
    /// Put before every name looked up (`bert.` for a `BertForMaskedLM` checkpoint).
    prefix: String,
}

/// One mapped safetensors file.
struct Shard {
    path: PathBuf,
    map: Mmap,
    /// Where tensor data starts in the file (after the 8-byte length and the JSON header).
    data_start: usize,
}

/// A tensor: the shard (its position in [`Weights::shards`]) and where it lies in it.
struct Located {
    shard: usize,
    info: TensorInfo,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("source", &self.source)
            .field("shards", &self.shards.len())
            .field("tensors", &self.tensors.len())
            .finish_non_exhaustive()
    }
}

/// Where an `f32` tensor lies in a shard's mapping, to borrow it again later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MappedRange {
    shard: usize,
    start: usize,
    len: usize,
}

impl Shard {
    /// Maps and validates `path` (header, offsets and sizes; not the values), with the tensors
    /// its header lists.
    fn open(path: &Path) -> Result<(Self, HashMap<String, TensorInfo>), NativeError> {
        let io = |source| NativeError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the mapping is read-only and private to this process. As with every mapped
        // file, another process truncating the file while it is mapped would fault a later
        // read; model files are not rewritten in place (fetching writes a new file and renames).
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let (header, metadata) = safetensors::SafeTensors::read_metadata(&map)
            .map_err(|source| NativeError::Safetensors { path: path.to_path_buf(), source })?;
        let tensors = metadata.tensors().into_iter().map(|(name, info)| (name, info.clone())).collect();
        Ok((Self { path: path.to_path_buf(), map, data_start: 8 + header }, tensors))
    }
}

impl Weights {
    /// Maps and validates the checkpoint in `dir` (every file's header, offsets and sizes, and
    /// that each shard holds the tensors the index puts in it; not the values).
    pub fn open(dir: &Path) -> Result<Self, NativeError> {
        let layout = Layout::of(dir)?;
        let (shards, mut tables): (Vec<_>, Vec<_>) =
            layout.files.iter().map(|path| Shard::open(path)).collect::<Result<Vec<_>, _>>()?.into_iter().unzip();
        let tensors = match &layout.weight_map {
            None => tables.into_iter().flatten().map(|(name, info)| (name, Located { shard: 0, info })).collect(),
            Some(weight_map) => weight_map
                .iter()
                .map(|(name, &shard)| match tables[shard].remove(name) {
                    Some(info) => Ok((name.clone(), Located { shard, info })),
                    None => Err(NativeError::ShardLacksTensor {
                        index: layout.source.clone(),
                        shard: shards[shard].path.clone(),
                        name: name.clone(),
                    }),
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self { source: layout.source, shards, tensors, prefix: String::new() })
    }

    /// Finds the prefix under which the checkpoint holds `name` (the longest key ending in it),
    /// and looks every later name up under that prefix.
    pub fn use_prefix_of(&mut self, name: &str) -> Result<(), NativeError> {
        let found = self
            .tensors
            .keys()
            .filter_map(|key| key.strip_suffix(name))
            .filter(|prefix| prefix.is_empty() || prefix.ends_with('.'))
            .min_by_key(|prefix| prefix.len())
            .map(str::to_string);
        match found {
            Some(prefix) => {
                self.prefix = prefix;
                Ok(())
            }
            None => Err(self.missing(name)),
        }
    }

    /// Whether the checkpoint holds `name` (under the prefix).
    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(&self.full_name(name))
    }

    /// The tensor `name` with shape `shape`, as `f32`: borrowed from the mapping when it is
    /// `f32` and aligned, widened into a new vector otherwise.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Cow<'_, [f32]>, NativeError> {
        let (located, bytes) = self.checked(name, shape)?;
        match located.info.dtype {
            Dtype::F32 => match bytemuck::try_cast_slice::<u8, f32>(bytes) {
                Ok(values) if cfg!(target_endian = "little") => Ok(Cow::Borrowed(values)),
                _ => Ok(Cow::Owned(
                    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                )),
            },
            Dtype::F16 => {
                Ok(Cow::Owned(bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()))
            }
            Dtype::BF16 => Ok(Cow::Owned(
                bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            )),
            other => Err(NativeError::TensorDtype {
                path: self.shards[located.shard].path.clone(),
                name: self.full_name(name),
                dtype: format!("{other:?}"),
            }),
        }
    }

    /// Where `name` lies when it can be borrowed as `f32` for the life of its shard's
    /// mapping; `None` when it must be widened or copied ([`Weights::get`] then).
    pub fn mapped(&self, name: &str, shape: &[usize]) -> Result<Option<MappedRange>, NativeError> {
        let (located, bytes) = self.checked(name, shape)?;
        let aligned = bytemuck::try_cast_slice::<u8, f32>(bytes).is_ok();
        Ok((located.info.dtype == Dtype::F32 && aligned && cfg!(target_endian = "little")).then(|| MappedRange {
            shard: located.shard,
            start: self.shards[located.shard].data_start + located.info.data_offsets.0,
            len: bytes.len() / 4,
        }))
    }

    /// Drops every shard's pages from this process's memory, except those of `keep`: the
    /// files stay mapped and a later read faults their pages in again from the file (or the
    /// page cache). Called once tensors are packed, so their bytes stop counting as resident.
    pub fn release_pages(&self, keep: Option<MappedRange>) {
        #[cfg(unix)]
        for (number, shard) in self.shards.iter().enumerate() {
            let page = 4096;
            let (keep_start, keep_end) = match keep {
                Some(range) if range.shard == number => {
                    (range.start / page * page, (range.start + range.len * 4).div_ceil(page) * page)
                }
                _ => (0, 0),
            };
            let end = shard.map.len();
            for (start, stop) in [(0, keep_start.min(end)), (keep_end.min(end), end)] {
                if stop > start {
                    // SAFETY: the mapping is read-only and private and this process never wrote
                    // to it, so MADV_DONTNEED only drops clean pages, which a later read faults
                    // in again with the file's bytes; no borrow of these pages outlives this
                    // call (packing copied them), and borrowed ranges (`keep`) are excluded.
                    let _ = unsafe {
                        shard.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, stop - start)
                    };
                }
            }
        }
        #[cfg(not(unix))]
        let _ = keep;
    }

    /// The floats of a range [`Weights::mapped`] returned.
    pub fn slice(&self, range: MappedRange) -> &[f32] {
        bytemuck::cast_slice(&self.shards[range.shard].map[range.start..range.start + range.len * 4])
    }

    fn checked(&self, name: &str, shape: &[usize]) -> Result<(&Located, &[u8]), NativeError> {
        let full = self.full_name(name);
        let located = self.tensors.get(&full).ok_or_else(|| self.missing(name))?;
        let shard = &self.shards[located.shard];
        let info = &located.info;
        if info.shape != shape {
            return Err(NativeError::TensorShape {
                path: shard.path.clone(),
                name: full,
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        // `read_metadata` checked that every tensor's offsets lie inside its file and match
        // its shape and type.
        let bytes = &shard.map[shard.data_start + info.data_offsets.0..shard.data_start + info.data_offsets.1];
        Ok((located, bytes))
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn missing(&self, name: &str) -> NativeError {
        NativeError::MissingTensor { path: self.source.clone(), name: self.full_name(name) }
    }
}
