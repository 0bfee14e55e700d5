//! The GEMM rate of the native kernels on this CPU for the seed models' shapes:
//! `cargo run --release -p embed-native --example gemm_rate [THREADS]`.

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    for (m, k, n) in [
        (448, 384, 1152),
        (448, 384, 1536),
        (448, 1536, 384),
        (7, 384, 1536),
        (7, 1536, 384),
        (2048, 768, 3072),
        (150, 768, 768),
    ] {
        let rate = embed_native::gemm_gflops(m, k, n, threads, 20);
        println!("{m}x{k}x{n} threads={threads}: {rate:.1} GFLOP/s");
    }
}
