//! A checkpoint's `model.safetensors`, memory-mapped: tensors looked up by name, their shape
//! checked against what the architecture expects, widened to `f32` from F16 or BF16, and
//! borrowed straight from the mapping where they are already `f32` (so a large embedding table
//! is never copied, and only the rows a batch touches are read from disk).
//!
//! Knows nothing of architectures beyond the name prefix a checkpoint puts before its tensors
//! (`bert.`, `roberta.`, none).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::{Dtype, TensorInfo};

use crate::NativeError;

/// An open safetensors file.
pub(crate) struct Weights {
    path: PathBuf,
    map: Mmap,
    /// Where tensor data starts in the file (after the 8-byte length and the JSON header).
    data_start: usize,
    tensors: HashMap<String, TensorInfo>,
    /// Put before every name looked up (`bert.` for a `BertForMaskedLM` checkpoint).
    prefix: String,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("path", &self.path)
            .field("tensors", &self.tensors.len())
            .finish_non_exhaustive()
    }
}

/// Where an `f32` tensor lies in the mapping, to borrow it again later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MappedRange {
    start: usize,
    len: usize,
}

impl Weights {
    /// Maps and validates `path` (header, offsets and sizes; not the values).
    pub fn open(path: &Path) -> Result<Self, NativeError> {
        let io = |source| NativeError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the mapping is read-only and private to this process. As with every mapped
        // file, another process truncating the file while it is mapped would fault a later
        // read; model files are not rewritten in place (fetching writes a new file and renames).
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let (header, metadata) = safetensors::SafeTensors::read_metadata(&map)
            .map_err(|source| NativeError::Safetensors { path: path.to_path_buf(), source })?;
        let tensors = metadata.tensors().into_iter().map(|(name, info)| (name, info.clone())).collect();
        Ok(Self { path: path.to_path_buf(), map, data_start: 8 + header, tensors, prefix: String::new() })
    }

    /// Finds the prefix under which the file holds `name` (the longest key ending in it),
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

    /// Whether the file holds `name` (under the prefix).
    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(&self.full_name(name))
    }

    /// The tensor `name` with shape `shape`, as `f32`: borrowed from the mapping when it is
    /// `f32` and aligned, widened into a new vector otherwise.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Cow<'_, [f32]>, NativeError> {
        let (info, bytes) = self.checked(name, shape)?;
        match info.dtype {
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
                path: self.path.clone(),
                name: self.full_name(name),
                dtype: format!("{other:?}"),
            }),
        }
    }

    /// Where `name` lies when it can be borrowed as `f32` for the life of this mapping;
    /// `None` when it must be widened or copied ([`Weights::get`] then).
    pub fn mapped(&self, name: &str, shape: &[usize]) -> Result<Option<MappedRange>, NativeError> {
        let (info, bytes) = self.checked(name, shape)?;
        let aligned = bytemuck::try_cast_slice::<u8, f32>(bytes).is_ok();
        Ok((info.dtype == Dtype::F32 && aligned && cfg!(target_endian = "little"))
            .then(|| MappedRange { start: self.data_start + info.data_offsets.0, len: bytes.len() / 4 }))
    }

    /// Drops the mapping's pages from this process's memory, except those of `keep`: the file
    /// stays mapped and a later read faults its pages in again from the file (or the page
    /// cache). Called once tensors are packed, so their bytes stop counting as resident.
    pub fn release_pages(&self, keep: Option<MappedRange>) {
        #[cfg(unix)]
        {
            let page = 4096;
            let (keep_start, keep_end) = match keep {
                Some(range) => (range.start / page * page, (range.start + range.len * 4).div_ceil(page) * page),
                None => (0, 0),
            };
            let end = self.map.len();
            for (start, stop) in [(0, keep_start.min(end)), (keep_end.min(end), end)] {
                if stop > start {
                    // SAFETY: the mapping is read-only and private and this process never wrote
                    // to it, so MADV_DONTNEED only drops clean pages, which a later read faults
                    // in again with the file's bytes; no borrow of these pages outlives this
                    // call (packing copied them), and borrowed ranges (`keep`) are excluded.
                    let _ = unsafe {
                        self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, stop - start)
                    };
                }
            }
        }
        #[cfg(not(unix))]
        let _ = keep;
    }

    /// The floats of a range [`Weights::mapped`] returned.
    pub fn slice(&self, range: MappedRange) -> &[f32] {
        bytemuck::cast_slice(&self.map[range.start..range.start + range.len * 4])
    }

    fn checked(&self, name: &str, shape: &[usize]) -> Result<(&TensorInfo, &[u8]), NativeError> {
        let full = self.full_name(name);
        let info = self.tensors.get(&full).ok_or_else(|| self.missing(name))?;
        if info.shape != shape {
            return Err(NativeError::TensorShape {
                path: self.path.clone(),
                name: full,
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        // `read_metadata` checked that every tensor's offsets lie inside the file and match
        // its shape and type.
        let bytes = &self.map[self.data_start + info.data_offsets.0..self.data_start + info.data_offsets.1];
        Ok((info, bytes))
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn missing(&self, name: &str) -> NativeError {
        NativeError::MissingTensor { path: self.path.clone(), name: self.full_name(name) }
    }
}
