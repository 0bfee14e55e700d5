//! The GEMM rate of the native kernels on this CPU for the seed models' shapes:
//! `cargo run --release -p embed-native --example gemm_rate [THREADS]`.

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    for (m, k, n) in [(448, 384, 1152), (448, 384, 1536), (448, 1536, 384), (7, 384, 1536), (7, 1536, 384), (2048, 768, 3072), (150, 768, 768)] {
        let cpu = || {
            let mut t = libc_timespec::default();
            // SAFETY: clock_gettime writes the struct.
            unsafe { clock_gettime(2, &mut t) };
            t.sec as f64 + t.nsec as f64 * 1e-9
        };
        let (c0, w0) = (cpu(), std::time::Instant::now());
        let rate = embed_native::gemm_gflops(m, k, n, threads, 20);
        let (c1, w1) = (cpu(), w0.elapsed().as_secs_f64());
        let flops = 2.0 * (m * k * n) as f64 * 21.0;
        println!("{m}x{k}x{n} threads={threads}: best {rate:.1} GFLOP/s, by cpu time {:.1}, wall avg {:.1}", flops / (c1 - c0) / 1e9 * threads as f64, flops / w1 / 1e9);
    }
}

#[derive(Default)]
#[repr(C)]
struct libc_timespec {
    sec: i64,
    nsec: i64,
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, t: *mut libc_timespec) -> i32;
}
