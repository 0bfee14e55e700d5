//! The CPU's int8 dot-product instructions, which decide whether the `int8` variant pays.
//!
//! The `int8` variant computes its matrix products in int8 (ONNX Runtime's `MatMulInteger`).
//! ONNX Runtime's int8 kernels beat its fp32 ones only where the CPU multiplies and adds four
//! int8 pairs in one instruction: AVX512-VNNI or AVX-VNNI (`vpdpbusd`), AMX (tiles) or Arm's
//! dot product (`sdot`/`udot`). Without them int8 runs about as fast as fp32, or slower, and
//! only saves memory. This file detects them and words what int8 buys; it knows nothing of
//! models or engines, and reads no environment variable.

use std::fmt;

/// The best int8 dot-product instruction set of the running CPU, as the `int8` variant's
/// kernels use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Int8DotProduct {
    /// Intel AMX tiles (`amx-int8`): Sapphire Rapids and later Xeons.
    Amx,
    /// `vpdpbusd` on 512-bit registers (AVX512-VNNI): Cascade Lake and later Xeons, Ice Lake
    /// and later, AMD Zen 4 and later.
    Avx512Vnni,
    /// `vpdpbusd` on 256-bit registers (AVX-VNNI): Alder Lake and later client CPUs.
    AvxVnni,
    /// Arm's int8 dot product (`sdot`/`udot`): Apple M1 and later, Graviton 2 and later.
    ArmDotProd,
}

impl Int8DotProduct {
    /// What the running CPU has, the best first; `None` where it has no int8 dot product (x86
    /// CPUs with AVX2 alone, for instance).
    pub fn detect() -> Option<Self> {
        detect()
    }

    /// The name of the instruction set, as vendors write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Amx => "AMX",
            Self::Avx512Vnni => "AVX512-VNNI",
            Self::AvxVnni => "AVX-VNNI",
            Self::ArmDotProd => "Arm dot product",
        }
    }
}

impl fmt::Display for Int8DotProduct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Option<Int8DotProduct> {
    // AMX-INT8 is CPUID leaf 7, sub-leaf 0, EDX bit 25 (`is_x86_feature_detected!` has no stable
    // name for it). It also needs the kernel's permission per process, which ONNX Runtime asks
    // for itself; AVX512-VNNI comes with every AMX CPU, so naming AMX never misleads about int8
    // paying.
    let amx_int8 =
        std::arch::x86_64::__cpuid(0).eax >= 7 && std::arch::x86_64::__cpuid_count(7, 0).edx & (1 << 25) != 0;
    if amx_int8 {
        Some(Int8DotProduct::Amx)
    } else if std::arch::is_x86_feature_detected!("avx512vnni") {
        Some(Int8DotProduct::Avx512Vnni)
    } else if std::arch::is_x86_feature_detected!("avxvnni") {
        Some(Int8DotProduct::AvxVnni)
    } else {
        None
    }
}

#[cfg(target_arch = "aarch64")]
fn detect() -> Option<Int8DotProduct> {
    std::arch::is_aarch64_feature_detected!("dotprod").then_some(Int8DotProduct::ArmDotProd)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect() -> Option<Int8DotProduct> {
    None
}

/// What the `int8` variant buys on a CPU with `dot` (from [`Int8DotProduct::detect`]), in one
/// sentence, with the figures measured as docs/int8.md says.
pub fn int8_advice(dot: Option<Int8DotProduct>) -> String {
    match dot {
        Some(dot) => format!(
            "this CPU has {dot}: int8 computes its matrix products in int8, 1.6-2.0x the texts/s of fp32 \
             on ONNX Runtime (measured on AVX512-VNNI), mean cosine >= 0.99 to fp32; its activations are \
             quantized per token, so a text's vector does not depend on the texts batched with it"
        ),
        None => "this CPU has no int8 dot-product instructions (AVX512-VNNI, AVX-VNNI, AMX or Arm dot product): \
                 int8 runs no faster than fp32 here, and only saves memory and disk"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_the_instructions_or_their_absence() {
        let with = int8_advice(Some(Int8DotProduct::Avx512Vnni));
        assert!(with.starts_with("this CPU has AVX512-VNNI: int8 computes"), "{with}");
        let without = int8_advice(None);
        assert!(without.contains("no int8 dot-product instructions") && without.contains("no faster"), "{without}");
    }

    #[test]
    fn detection_agrees_with_the_kernel_where_it_says() {
        // /proc/cpuinfo names the same instructions (Linux on x86-64); elsewhere detection
        // must merely not fail.
        let detected = Int8DotProduct::detect();
        let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else { return };
        let Some(flags) = cpuinfo.lines().find(|l| l.starts_with("flags")) else { return };
        let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
        let expected = if has("amx_int8") {
            Some(Int8DotProduct::Amx)
        } else if has("avx512_vnni") {
            Some(Int8DotProduct::Avx512Vnni)
        } else if has("avx_vnni") {
            Some(Int8DotProduct::AvxVnni)
        } else {
            None
        };
        assert_eq!(detected, expected, "{flags}");
    }
}
