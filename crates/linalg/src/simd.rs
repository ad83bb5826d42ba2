//! Vectorisable element-wise math with runtime CPU dispatch.
//!
//! Rust compiles for baseline x86-64 (SSE2) unless told otherwise, and there `f64::exp` is a scalar
//! libm call: the post-GEMM pass of a kernel matrix (sqrt + exp over n^2 entries) then runs ~10x
//! slower than the hardware allows. We fix this without `-C target-cpu` flags (which would make the
//! binaries crash on older CPUs):
//!
//! * [`exp`] is a branch-free polynomial `exp` (Cody-Waite range reduction, degree-12 Taylor, exponent
//!   built with integer arithmetic, max relative error ~2 ulp over `[-708, 709]`). It is
//!   `#[inline(always)]`, so inside a loop it vectorises.
//! * Hot loops are annotated with [`multiversion`](https://docs.rs/multiversion) (`targets = "simd"`):
//!   each is compiled for AVX-512, AVX2+FMA, SSE4.1 and baseline, and the best version for the running
//!   CPU is selected once at run time. Downstream crates (e.g. `kernels`) do the same with their own
//!   loops and call [`exp`] inside them.
//!
//! `bench-suite` measures the difference (`linalg/exp/...`: libm baseline vs the dispatched loop).
use multiversion::multiversion;

const LOG2E: f64 = std::f64::consts::LOG2_E;
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits.
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// Branch-free `e^x` for `f64` that vectorises. Returns 0 below -708.4 and +inf above 709.78.
///
/// ```
/// for &x in &[-20.0, -1.0, 0.0, 0.5, 3.0, 100.0] {
///     let e = linalg::simd::exp(x);
///     assert!((e - f64::exp(x)).abs() <= 4.0 * f64::EPSILON * f64::exp(x));
/// }
/// assert_eq!(linalg::simd::exp(-1000.0), 0.0);
/// ```
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let xc = x.clamp(-708.39, 709.78);
    // k = round(x / ln 2), computed with the magic-number trick (no libm round call)
    let kf = xc * LOG2E + MAGIC;
    let kbits = kf.to_bits() as i64;
    let k = kf - MAGIC;
    let r = (xc - k * LN2_HI) - k * LN2_LO;
    // e^r on |r| <= ln2/2 by Horner, degree 12 (truncation error < 2e-17)
    let mut p = 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^k: integer k sits in the low bits of kbits (offset by the magic constant's bits)
    let ki = kbits.wrapping_sub(MAGIC.to_bits() as i64);
    // split 2^k = 2^(k/2) * 2^(k - k/2) so that k in [-1022-?, 1024] never overflows the exponent
    let k1 = ki >> 1;
    let k2 = ki - k1;
    let s1 = f64::from_bits(((k1 + 1023) << 52) as u64);
    let s2 = f64::from_bits(((k2 + 1023) << 52) as u64);
    let v = p * s1 * s2;
    let v = if x < -708.39 { 0.0 } else { v };
    if x > 709.78 { f64::INFINITY } else { v }
}

/// `e^x` in place over a slice (runtime-dispatched SIMD).
#[multiversion(targets = "simd")]
pub fn exp_in_place(v: &mut [f64]) {
    for x in v.iter_mut() {
        *x = exp(*x);
    }
}

/// The same loop as [`exp_in_place`] compiled only for the build target (no dispatch); used by the
/// benchmark to show what runtime dispatch buys.
pub fn exp_in_place_baseline(v: &mut [f64]) {
    for x in v.iter_mut() {
        *x = exp(*x);
    }
}

/// `f64::exp` (libm) in place: the naive reference loop for benchmarks and tests.
pub fn exp_in_place_libm(v: &mut [f64]) {
    for x in v.iter_mut() {
        *x = x.exp();
    }
}

/// The SIMD level the dispatched loops run with on this CPU ("avx512", "avx2", "sse4.1" or
/// "baseline"), for logs and benchmark labels.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
            return "avx512";
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "avx2";
        }
        if std::is_x86_feature_detected!("sse4.1") {
            return "sse4.1";
        }
    }
    "baseline"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_within_ulps() {
        let mut worst: f64 = 0.0;
        let mut x = -708.0;
        while x < 709.0 {
            let a = exp(x);
            let b = x.exp();
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 5.0 * f64::EPSILON, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(800.0), f64::INFINITY);
        assert!(exp(f64::NEG_INFINITY) == 0.0);
    }

    #[test]
    fn dispatched_equals_baseline() {
        let v: Vec<f64> = (0..1003).map(|i| -30.0 + i as f64 * 0.05).collect();
        let mut a = v.clone();
        let mut b = v.clone();
        let mut c = v;
        exp_in_place(&mut a);
        exp_in_place_baseline(&mut b);
        exp_in_place_libm(&mut c);
        for i in 0..a.len() {
            assert!((a[i] - b[i]).abs() <= 4.0 * f64::EPSILON * c[i]);
            assert!((a[i] - c[i]).abs() <= 4.0 * f64::EPSILON * c[i]);
        }
    }
}
