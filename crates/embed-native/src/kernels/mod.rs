//! The compute kernels and their safe entry points: [`Isa`] picks an instruction set once
//! (AVX-512, AVX2+FMA, NEON, else plain Rust) and every kernel is called through it.
//!
//! The kernels themselves (`gemm.rs`, `attend.rs`, `rows.rs`, `math.rs`) are written once over the
//! [`simd::Simd`] vocabulary; the `isa_entries!` block below instantiates them per instruction
//! set inside `#[target_feature]` functions. This module owns every `unsafe` call into them and
//! checks the operands it passes; it knows nothing of transformers.

mod attend;
mod gemm;
mod math;
mod rows;
mod simd;

pub use gemm::Epilogue;
pub use math::Gelu;

use gemm::GemmTarget;

/// An instruction set the kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isa {
    /// x86-64 with AVX-512F: 16 lanes, 14 × 32 GEMM tiles.
    Avx512,
    /// x86-64 with AVX2 and FMA: 8 lanes, 6 × 16 tiles.
    Avx2,
    /// AArch64 NEON: 4 lanes, 6 × 16 tiles.
    Neon,
    /// Plain Rust, 8-lane arrays the compiler vectorizes as it can: 6 × 16 tiles.
    Portable,
}

impl Isa {
    /// The best instruction set of this CPU.
    pub fn detect() -> Self {
        [Self::Avx512, Self::Avx2, Self::Neon].into_iter().find(|isa| isa.available()).unwrap_or(Self::Portable)
    }

    /// Whether this CPU has it.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "aarch64")]
            Self::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            Self::Portable => true,
            #[allow(unreachable_patterns, reason = "the instruction sets of other architectures")]
            _ => false,
        }
    }

    /// Its name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Neon => "neon",
            Self::Portable => "portable",
        }
    }

    /// Output columns per GEMM panel.
    pub(crate) fn nr(self) -> usize {
        match self {
            Self::Avx512 => 32,
            Self::Avx2 | Self::Neon | Self::Portable => 16,
        }
    }
}

/// The row stride, in floats, for a matrix of `cols` columns that a product reads as `A`:
/// `cols`, plus one cache line where rows `cols` apart would be a multiple of 4 KiB apart. Such
/// rows share one set of the L1 cache, and the micro-kernel reads up to 14 rows at once, more
/// than the set's ways (mpnet's 3,072-wide intermediate).
pub(crate) fn leading_dimension(cols: usize) -> usize {
    if (cols * 4).is_multiple_of(4096) { cols + 16 } else { cols }
}

/// A buffer of `f32` aligned to 64 bytes (a cache line, and one AVX-512 vector), so a packed
/// panel's loads never straddle lines. A buffer of [`HUGE_PAGE`] bytes or more (packed weights)
/// is an anonymous mapping of its own, which the kernel is asked to back with 2 MiB pages
/// (`MADV_HUGEPAGE`, where the system allows it): a product streams megabytes of panels, and
/// each huge page spares the TLB 512 small ones.
#[derive(Default)]
pub(crate) struct AlignedBuf {
    storage: Storage,
    len: usize,
}

/// Where an [`AlignedBuf`]'s floats lie.
#[derive(Default)]
enum Storage {
    #[default]
    Empty,
    Lines(Vec<Line>),
    Mapped(memmap2::MmapMut),
}

/// A huge page's bytes: the least an [`AlignedBuf`] maps on its own.
const HUGE_PAGE: usize = 2 << 20;

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([f32; 16]);

impl AlignedBuf {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        let bytes = len * 4;
        // A length in whole huge pages, so that the kernel aligns the mapping to one; only
        // the huge pages the floats fill are advised, and the rest of the last one is never
        // touched, so it costs no memory.
        if bytes >= HUGE_PAGE
            && let Ok(map) = memmap2::MmapMut::map_anon(bytes.next_multiple_of(HUGE_PAGE))
        {
            // Advice only: where huge pages are off, the mapping keeps small ones.
            #[cfg(target_os = "linux")]
            let _ = map.advise_range(memmap2::Advice::HugePage, 0, bytes / HUGE_PAGE * HUGE_PAGE);
            return Self { storage: Storage::Mapped(map), len };
        }
        Self { storage: Storage::Lines(vec![Line::default(); len.div_ceil(16)]), len }
    }

    pub fn as_slice(&self) -> &[f32] {
        match &self.storage {
            Storage::Empty => &[],
            // A mapping starts on a page, so it is aligned for `f32`.
            Storage::Mapped(map) => bytemuck::cast_slice(&map[..self.len * 4]),
            // SAFETY: `Line` is `repr(C)` over `[f32; 16]` with no padding (64 bytes), so the
            // vector's lines are `16 · lines.len() >= len` contiguous, initialized floats.
            Storage::Lines(lines) => unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<f32>(), self.len) },
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        match &mut self.storage {
            Storage::Empty => &mut [],
            Storage::Mapped(map) => bytemuck::cast_slice_mut(&mut map[..self.len * 4]),
            // SAFETY: as in `as_slice`, and `&mut self` makes the borrow unique.
            Storage::Lines(lines) => unsafe {
                std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<f32>(), self.len)
            },
        }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} floats)", self.len)
    }
}

/// A matrix `W` (`n × k`) packed into panels for one [`Isa`], with its bias: a linear layer's
/// weights, or keys and values of attention packed per call.
#[derive(Debug)]
pub(crate) struct Panels {
    data: AlignedBuf,
    bias: AlignedBuf,
    /// Whether `bias` may hold other values than zeros.
    biased: bool,
    n: usize,
    k: usize,
    /// Packed by [`Panels::pack_gated`]: each panel holds values and their gates.
    gated: bool,
    /// Columns of the product: `n`, or the gated layer's outputs.
    outputs: usize,
    isa: Isa,
}

impl Panels {
    /// Packs `w` (`n` rows of `k` at stride `ldw`) with `bias` (`n` values; zeros when `None`).
    pub fn pack(isa: Isa, w: &[f32], n: usize, k: usize, ldw: usize, bias: Option<&[f32]>) -> Self {
        let mut panels = Self::empty(isa);
        panels.repack(w, n, k, ldw, bias);
        panels
    }

    /// Packs a gated linear layer (GeGLU, SwiGLU) of `n` outputs: `w` holds `2n` rows of `k` (the
    /// values' rows, then the gates'), `bias` `2n` values likewise. Each panel gets the value
    /// rows of `nr / 2` outputs and the gate rows of the same outputs, so one tile of the
    /// product holds both ([`Epilogue::GeGlu`], [`Epilogue::SwiGlu`]).
    pub fn pack_gated(isa: Isa, w: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> Self {
        assert!(w.len() >= 2 * n * k, "a gated layer of {n} outputs needs {} rows of {k}", 2 * n);
        assert!(bias.is_none_or(|b| b.len() >= 2 * n), "a gated layer of {n} outputs needs {} biases", 2 * n);
        let half = isa.nr() / 2;
        let rows = n.div_ceil(half) * 2 * half;
        let mut interleaved = vec![0.0; rows * k];
        let mut biases = vec![0.0; rows];
        for output in 0..n {
            let (panel, j) = (output / half, output % half);
            for (slot, source) in [(panel * 2 * half + j, output), (panel * 2 * half + half + j, n + output)] {
                interleaved[slot * k..(slot + 1) * k].copy_from_slice(&w[source * k..(source + 1) * k]);
                if let Some(bias) = bias {
                    biases[slot] = bias[source];
                }
            }
        }
        let mut panels = Self::pack(isa, &interleaved, rows, k, k, bias.map(|_| &biases[..]));
        panels.gated = true;
        panels.outputs = n;
        panels
    }

    /// No matrix yet: a buffer for [`Panels::repack`].
    pub fn empty(isa: Isa) -> Self {
        Self {
            data: AlignedBuf::default(),
            bias: AlignedBuf::default(),
            biased: false,
            n: 0,
            k: 0,
            gated: false,
            outputs: 0,
            isa,
        }
    }

    /// Packs another matrix into this one's buffers, growing them only when it is larger.
    pub fn repack(&mut self, w: &[f32], n: usize, k: usize, ldw: usize, bias: Option<&[f32]>) {
        assert!(n == 0 || w.len() >= (n - 1) * ldw + k, "matrix smaller than {n} x {k} at stride {ldw}");
        let nr = self.isa.nr();
        let padded = n.div_ceil(nr) * nr;
        self.reserve(padded, k);
        gemm::pack_w(w, n, k, ldw, nr, self.data.as_mut_slice());
        self.set_bias(padded, bias.map(|b| &b[..n]));
        self.n = n;
        self.k = k;
        self.gated = false;
        self.outputs = n;
    }

    /// Sets the first `padded` biases: `bias`, then zeros. Panels packed per call (keys,
    /// values) have none, and their zeros are written once.
    fn set_bias(&mut self, padded: usize, bias: Option<&[f32]>) {
        let slots = &mut self.bias.as_mut_slice()[..padded];
        match bias {
            Some(bias) => {
                slots[..bias.len()].copy_from_slice(bias);
                slots[bias.len()..].fill(0.0);
                self.biased = true;
            }
            None if self.biased => {
                slots.fill(0.0);
                self.biased = false;
            }
            None => {}
        }
    }

    fn reserve(&mut self, padded: usize, k: usize) {
        if self.data.len < padded * k {
            self.data = AlignedBuf::zeros(padded * k);
        }
        if self.bias.len < padded {
            self.bias = AlignedBuf::zeros(padded);
            self.biased = false;
        }
    }

    /// Number of panels.
    pub fn panel_count(&self) -> usize {
        self.n.div_ceil(self.isa.nr())
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        (self.data.len + self.bias.len) * 4
    }
}

/// A row-major matrix view: `rows` rows of `cols` floats, `stride` apart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl MatRef<'_> {
    fn check(&self) {
        assert!(self.cols <= self.stride || self.rows <= 1, "{} columns at stride {}", self.cols, self.stride);
        assert!(
            self.rows == 0 || self.data.len() >= (self.rows - 1) * self.stride + self.cols,
            "{} floats cannot hold {} x {} at stride {}",
            self.data.len(),
            self.rows,
            self.cols,
            self.stride
        );
    }
}

/// A mutable row-major matrix view: where a product goes. It may be a block of a larger
/// matrix whose other columns other threads write at the same time, so it holds a pointer,
/// not a slice.
#[derive(Debug)]
pub(crate) struct MatMut<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    stride: usize,
    _borrow: std::marker::PhantomData<&'a mut [f32]>,
}

impl<'a> MatMut<'a> {
    /// `rows` rows of `cols` floats, `stride` apart, in `data`.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, stride: usize) -> Self {
        MatRef { data, rows, cols, stride }.check();
        Self { ptr: data.as_mut_ptr(), rows, cols, stride, _borrow: std::marker::PhantomData }
    }

    /// A view of raw memory.
    ///
    /// # Safety
    /// For `'a`, the `rows` rows of `cols` floats at `ptr`, `stride` apart, must be valid for
    /// reads and writes and touched by nothing else (other columns between them may be).
    pub unsafe fn from_raw(ptr: *mut f32, rows: usize, cols: usize, stride: usize) -> Self {
        Self { ptr, rows, cols, stride, _borrow: std::marker::PhantomData }
    }
}

/// One head of one sequence for [`Isa::attend`]: `len` rows of a query-key-value matrix
/// (`qkv`, row stride `ld`), the head's query, key and value columns starting at `columns`,
/// `d` wide.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadRows<'a> {
    pub qkv: &'a [f32],
    pub ld: usize,
    pub len: usize,
    pub d: usize,
    pub columns: [usize; 3],
}

/// How positions enter one head of [`Isa::attend`] beyond its bias: a rotary table and a
/// sliding window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Positions<'a> {
    /// For each position of the sequence from 0, `d / 2` cosines then `d / 2` sines, which
    /// turn its query and key; `None`: none.
    pub rotary: Option<&'a [f32]>,
    /// Query `i` attends only to the keys `j` with `|i - j| ≤ reach`; `None`: to all.
    pub reach: Option<usize>,
    /// Query `i` attends only to the keys `j ≤ i` (a decoder's causal attention).
    pub causal: bool,
}

/// An additive bias on the scores of [`Isa::attend`] whose rows are windows of one line
/// (MPNet's relative position bias): row `i`'s `len` values start at `first + i · step`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BiasRows<'a> {
    pub values: &'a [f32],
    pub first: usize,
    pub step: isize,
}

/// A raw pointer that may cross to the tasks of one parallel pass, each of which writes its
/// own part of the memory behind it.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr(*mut f32);
// SAFETY: a `SyncPtr` is only dereferenced by tasks that write disjoint parts of memory the
// pass borrows mutably until every task has returned (stated at each use).
unsafe impl Send for SyncPtr {}
// SAFETY: as above.
unsafe impl Sync for SyncPtr {}

impl SyncPtr {
    pub fn new(ptr: *mut f32) -> Self {
        Self(ptr)
    }

    /// The pointer (a method, so closures capture the whole `Sync` wrapper, not its field).
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

/// Runs `tasks` closures, possibly on several threads; returns when all are done.
pub(crate) trait Parallel {
    /// Threads that work at once (1: the caller alone).
    fn width(&self) -> usize;
    /// Calls `task(i)` for each `i` in `0..tasks`.
    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync));
}

macro_rules! isa_entries {
    ($module:ident, [$($feature:literal)?], $simd:ty, $mr:literal, $nv:literal, $ar:literal) => {
        mod $module {
            use super::gemm::{Epilogue, GemmTarget};
            use super::simd;

            /// See [`super::attend::attend`].
            $(#[target_feature(enable = $feature)])?
            pub(super) unsafe fn attend(head: &super::attend::Head, scratch: *mut f32) {
                // SAFETY: forwarded; this function's target feature is the instruction set.
                unsafe { super::attend::attend::<$simd, $ar>(head, scratch) }
            }

            /// See [`super::attend::scratch_floats`].
            pub(super) fn attend_scratch(len: usize, d: usize) -> usize {
                super::attend::scratch_floats::<$simd>(len, d, $ar)
            }

            /// See [`super::gemm::gemm`].
            $(#[target_feature(enable = $feature)])?
            #[allow(clippy::too_many_arguments, reason = "forwarded kernel operands")]
            pub(super) unsafe fn gemm(
                a: *const f32,
                lda: usize,
                m: usize,
                k: usize,
                panels: *const f32,
                bias: *const f32,
                range: (usize, usize),
                target: &GemmTarget,
                epilogue: Epilogue,
            ) {
                // SAFETY: forwarded; this function's target feature is the instruction set.
                unsafe { super::gemm::gemm::<$simd, $mr, $nv>(a, lda, m, k, panels, bias, range, target, epilogue) }
            }

            /// See [`super::rows::layer_norm`].
            $(#[target_feature(enable = $feature)])?
            pub(super) unsafe fn layer_norm(
                x: *const f32,
                out: *mut f32,
                n: usize,
                gamma: *const f32,
                beta: *const f32,
                eps: f32,
            ) {
                // SAFETY: forwarded; this function's target feature is the instruction set.
                unsafe { super::rows::layer_norm::<$simd>(x, out, n, gamma, beta, eps) }
            }

            /// See [`super::rows::rms_norm`].
            $(#[target_feature(enable = $feature)])?
            pub(super) unsafe fn rms_norm(x: *const f32, out: *mut f32, n: usize, gamma: *const f32, eps: f32) {
                // SAFETY: forwarded; this function's target feature is the instruction set.
                unsafe { super::rows::rms_norm::<$simd, false>(x, out, n, gamma, eps) }
            }

            /// See [`super::rows::rms_norm`], adding.
            $(#[target_feature(enable = $feature)])?
            pub(super) unsafe fn rms_norm_add(x: *const f32, out: *mut f32, n: usize, gamma: *const f32, eps: f32) {
                // SAFETY: forwarded; this function's target feature is the instruction set.
                unsafe { super::rows::rms_norm::<$simd, true>(x, out, n, gamma, eps) }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
isa_entries!(avx512, ["avx512f"], simd::Avx512, 14, 2, 8);
#[cfg(target_arch = "x86_64")]
isa_entries!(avx2, ["avx2,fma"], simd::Avx2, 6, 2, 4);
#[cfg(target_arch = "aarch64")]
isa_entries!(neon, ["neon"], simd::Neon, 6, 4, 8);
isa_entries!(portable, [], simd::Portable, 6, 2, 4);

/// Calls `$module::$function(args)` for the module of `$isa`.
macro_rules! on_isa {
    ($isa:expr, $function:ident($($arg:expr),*)) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => avx512::$function($($arg),*),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::$function($($arg),*),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => neon::$function($($arg),*),
            _ => portable::$function($($arg),*),
        }
    };
}

impl Isa {
    /// `out = a · Wᵀ + bias`, then `epilogue`, with the panels of `w` split among `threads`'s
    /// threads. Gated panels ([`Panels::pack_gated`]) take [`Epilogue::GeGlu`] or
    /// [`Epilogue::SwiGlu`], and only they.
    pub(crate) fn matmul(self, threads: &dyn Parallel, a: MatRef<'_>, w: &Panels, out: MatMut<'_>, epilogue: Epilogue) {
        assert!(self.available(), "{} is not available on this CPU", self.name());
        a.check();
        assert_eq!(w.isa, self, "panels packed for another instruction set");
        assert_eq!(w.gated, epilogue.gated(), "gated panels take a gated epilogue, and only they");
        assert_eq!(a.cols, w.k, "A has {} columns, W {}", a.cols, w.k);
        assert_eq!(out.cols, w.outputs, "C has {} columns, W {} outputs", out.cols, w.outputs);
        assert_eq!(out.rows, a.rows, "C has {} rows, A {}", out.rows, a.rows);
        let (m, k) = (a.rows, a.cols);
        if m == 0 || w.n == 0 {
            return;
        }
        let lda = a.stride;
        let panels = w.panel_count();
        // A task of at least two panels, and no more tasks than threads need.
        let tasks = threads.width().min(panels.div_ceil(2)).max(1);
        let target = SyncPtr::new(out.ptr);
        let (ldc, n) = (out.stride, w.outputs);
        let a_ptr = a.data.as_ptr() as usize;
        let task = move |t: usize| {
            let first = panels * t / tasks;
            let last = panels * (t + 1) / tasks;
            let target = GemmTarget { c: target.get(), ldc, n };
            // SAFETY: this CPU has `self` (asserted above); `a.check()` proved `m` rows of `k`
            // floats at `lda`; `w` holds `panel_count` panels of `nr · k` floats and
            // their padded bias; `out` is `m` rows of `n` columns at `ldc` (its constructors'
            // contract), and gated panels, which alone take the gated epilogue, hold `nr / 2`
            // of them each; tasks cover disjoint panel ranges, so disjoint columns, and `out`
            // is borrowed mutably until every task has returned.
            unsafe {
                on_isa!(
                    self,
                    gemm(
                        a_ptr as *const f32,
                        lda,
                        m,
                        k,
                        w.data.as_slice().as_ptr(),
                        w.bias.as_slice().as_ptr(),
                        (first, last),
                        &target,
                        epilogue
                    )
                )
            }
        };
        threads.run(tasks, &task);
    }

    /// One head of attention over one sequence, fused ([`attend`]):
    /// `out = softmax(Q · Kᵀ + bias) · V`, queries and keys turned by the rotary table and each
    /// query seeing the keys of its window where `positions` says so, with `scratch` grown as
    /// the head needs.
    pub(crate) fn attend(
        self,
        head: &HeadRows<'_>,
        bias: Option<&BiasRows<'_>>,
        positions: Positions<'_>,
        out: MatMut<'_>,
        scratch: &mut Vec<f32>,
    ) {
        assert!(self.available(), "{} is not available on this CPU", self.name());
        let (len, d, ld) = (head.len, head.d, head.ld);
        assert!(len >= 1 && d >= 1, "a head of {len} tokens and width {d}");
        for column in head.columns {
            MatRef { data: head.qkv.get(column..).unwrap_or_default(), rows: len, cols: d, stride: ld }.check();
        }
        assert!(out.rows == len && out.cols == d, "the context is {} x {}, the head {len} x {d}", out.rows, out.cols);
        if let Some(bias) = bias {
            for i in [0, len - 1] {
                let start = bias.first as isize + i as isize * bias.step;
                assert!(
                    start >= 0 && start as usize + len <= bias.values.len(),
                    "the bias of row {i} is outside its {} values",
                    bias.values.len()
                );
            }
        }
        if let Some(table) = positions.rotary {
            assert!(d.is_multiple_of(2), "a rotary head has an even width, not {d}");
            assert!(
                table.len() >= len * d,
                "the rotary table holds {} floats, {len} positions need {}",
                table.len(),
                len * d
            );
        }
        let floats = on_isa!(self, attend_scratch(len, d));
        if scratch.len() < floats {
            scratch.resize(floats, 0.0);
        }
        let [q, k, v] = head.columns.map(|column| head.qkv[column..].as_ptr());
        let (bias, bias_step) = match bias {
            // SAFETY: `first` is inside `values` (checked above with the rows' extent).
            Some(bias) => (unsafe { bias.values.as_ptr().add(bias.first) }, bias.step),
            None => (std::ptr::null(), 0),
        };
        let rotary = positions.rotary.map_or(std::ptr::null(), <[f32]>::as_ptr);
        let reach = positions.reach.unwrap_or(usize::MAX);
        let causal = positions.causal;
        let head =
            attend::Head { q, k, v, ld, len, d, bias, bias_step, rotary, reach, causal, out: out.ptr, ldo: out.stride };
        // SAFETY: the checks above proved `len` rows of `d` floats at `ld` from each column,
        // the bias of every row `0..len` (its start moves monotonically with the row), the
        // rotary table's `len · d` floats with `d` even, and `out`'s `len × d` block (its
        // constructors' contract); `out` is a mutable borrow, so it aliases nothing read;
        // `scratch` holds `attend_scratch(len, d)` floats; this CPU has `self`.
        unsafe { on_isa!(self, attend(&head, scratch.as_mut_ptr())) }
    }

    /// LayerNorm of each of `rows` rows of `x` (row length `gamma.len()`, stride `stride`), in
    /// place.
    pub(crate) fn layer_norm(self, x: &mut [f32], rows: usize, stride: usize, gamma: &[f32], beta: &[f32], eps: f32) {
        assert!(self.available(), "{} is not available on this CPU", self.name());
        let n = gamma.len();
        assert_eq!(beta.len(), n, "gamma and beta differ in length");
        MatRef { data: x, rows, cols: n, stride }.check();
        let x = x.as_mut_ptr();
        for row in 0..rows {
            // SAFETY: the check above proved the row's `n` floats exist; the kernel may write
            // the row it reads; gamma and beta hold `n`; this CPU has `self`.
            unsafe {
                let at = x.add(row * stride);
                on_isa!(self, layer_norm(at, at, n, gamma.as_ptr(), beta.as_ptr(), eps))
            }
        }
    }

    /// LayerNorm of each of `rows` rows of `x` into the same rows of `out` (row length
    /// `gamma.len()`, both at stride `stride`).
    #[allow(clippy::too_many_arguments, reason = "the operands of the in-place form, and where to")]
    pub(crate) fn layer_norm_into(
        self,
        x: &[f32],
        out: &mut [f32],
        rows: usize,
        stride: usize,
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        assert!(self.available(), "{} is not available on this CPU", self.name());
        let n = gamma.len();
        assert_eq!(beta.len(), n, "gamma and beta differ in length");
        MatRef { data: x, rows, cols: n, stride }.check();
        MatRef { data: out, rows, cols: n, stride }.check();
        for row in 0..rows {
            // SAFETY: the checks above proved the row's `n` floats exist in both; `out` is a
            // mutable borrow, so it overlaps `x` nowhere; gamma and beta hold `n`; this CPU has
            // `self`.
            unsafe {
                let (from, to) = (x.as_ptr().add(row * stride), out.as_mut_ptr().add(row * stride));
                on_isa!(self, layer_norm(from, to, n, gamma.as_ptr(), beta.as_ptr(), eps))
            }
        }
    }

    /// RMSNorm of each of `rows` rows of `x` (row length `gamma.len()`, stride `stride`), in
    /// place.
    pub(crate) fn rms_norm(self, x: &mut [f32], rows: usize, stride: usize, gamma: &[f32], eps: f32) {
        assert!(self.available(), "{} is not available on this CPU", self.name());
        let n = gamma.len();
        MatRef { data: x, rows, cols: n, stride }.check();
        let x = x.as_mut_ptr();
        for row in 0..rows {
            // SAFETY: the check above proved the row's `n` floats exist; the kernel may write
            // the row it reads; gamma holds `n`; this CPU has `self`.
            unsafe {
                let at = x.add(row * stride);
                on_isa!(self, rms_norm(at, at, n, gamma.as_ptr(), eps))
            }
        }
    }

    /// RMSNorm of each of `rows` rows of `x` into the same rows of `out` (row length
    /// `gamma.len()`, both at stride `stride`).
    pub(crate) fn rms_norm_into(self, x: &[f32], out: &mut [f32], rows: usize, stride: usize, gamma: &[f32], eps: f32) {
        assert!(self.available(), "{} is not available on this CPU", self.name());
        let n = gamma.len();
        MatRef { data: x, rows, cols: n, stride }.check();
        MatRef { data: out, rows, cols: n, stride }.check();
        for row in 0..rows {
            // SAFETY: the checks above proved the row's `n` floats exist in both; `out` is a
            // mutable borrow, so it overlaps `x` nowhere; gamma holds `n`; this CPU has `self`.
            unsafe {
                let (from, to) = (x.as_ptr().add(row * stride), out.as_mut_ptr().add(row * stride));
                on_isa!(self, rms_norm(from, to, n, gamma.as_ptr(), eps))
            }
        }
    }

    /// RMSNorm of each of `rows` rows of `x` added into the same rows of `out` (row length
    /// `gamma.len()`, both at stride `stride`): a normalized block's output into the residual
    /// stream.
    pub(crate) fn rms_norm_add(self, x: &[f32], out: &mut [f32], rows: usize, stride: usize, gamma: &[f32], eps: f32) {
        assert!(self.available(), "{} is not available on this CPU", self.name());
        let n = gamma.len();
        MatRef { data: x, rows, cols: n, stride }.check();
        MatRef { data: out, rows, cols: n, stride }.check();
        for row in 0..rows {
            // SAFETY: the checks above proved the row's `n` floats exist in both; `out` is a
            // mutable borrow, so it overlaps `x` nowhere; gamma holds `n`; this CPU has `self`.
            unsafe {
                let (from, to) = (x.as_ptr().add(row * stride), out.as_mut_ptr().add(row * stride));
                on_isa!(self, rms_norm_add(from, to, n, gamma.as_ptr(), eps))
            }
        }
    }
}

#[cfg(test)]
mod tests;
