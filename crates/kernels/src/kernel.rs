//! The [`Kernel`] trait and the built-in kernels.
//!
//! Every kernel here is a function of three numbers computed in the metric `M`:
//! the inner product `ip = <x, z>_M`, and the squared norms `nx = ||x||_M^2`, `nz = ||z||_M^2`.
//! Kernel matrices are therefore one GEMM (`(X M) Z^T`) followed by an element-wise pass, and the input
//! gradient of `k(., z)` at `x` is
//!
//! `grad_x k(x, z) = M (2 dk/dnx x + dk/dip z)`.
//!
//! For radial kernels `k = phi(||x - z||_M^2)` we have `dk/dnx = phi'` and `dk/dip = -2 phi'`.
//! The element-wise passes are compiled for several SIMD levels and dispatched at run time (see
//! `linalg::simd`).
use crate::error::{Result, invalid};
use multiversion::multiversion;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Squared distances below `DUPLICATE_TOL * (nx + nz)` are treated as exactly 0: they are round-off
/// of the GEMM trick on identical points. This is the Laplace "zero-distance rule": the kernel is not
/// differentiable there and the term is dropped from gradients.
pub const DUPLICATE_TOL: f64 = 1e-12;

/// How the two partial derivatives of a kernel relate (lets gradient code skip work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradStructure {
    /// `k = phi(||x - z||^2)`: `dk/dnx = -(dk/dip) / 2`.
    Radial,
    /// `k = g(<x, z>)`: `dk/dnx = 0`.
    DotProduct,
    /// Both derivatives are needed.
    General,
}

/// A kernel `k(x, z)` evaluated through `(ip, nx, nz)` in a metric (see the module docs).
///
/// Implement the three scalar functions; override the `*_col` methods with vectorised loops for speed.
pub trait Kernel: Send + Sync + fmt::Debug {
    /// Short human-readable name, e.g. `laplace(L=10)`.
    fn name(&self) -> String;
    /// Checks the hyperparameters.
    fn validate(&self) -> Result<()>;
    /// `k` from the inner product and the two squared norms.
    fn eval_parts(&self, ip: f64, nx: f64, nz: f64) -> f64;
    /// `(dk/dnx, dk/dip)`; 0 where the kernel is not differentiable (zero distance for Laplace).
    fn grad_parts(&self, ip: f64, nx: f64, nz: f64) -> (f64, f64);
    /// Which derivative structure the kernel has.
    fn grad_structure(&self) -> GradStructure;
    /// In place: `col[i]` holds `<x_i, z>_M` on entry and `k(x_i, z)` on exit.
    fn values_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        for (c, &a) in col.iter_mut().zip(nx) {
            *c = self.eval_parts(*c, a, nz);
        }
    }
    /// In place: `col[i]` holds `<x_i, z>_M` on entry and `dk/dip (x_i, z)` on exit.
    fn dip_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        for (c, &a) in col.iter_mut().zip(nx) {
            *c = self.grad_parts(*c, a, nz).1;
        }
    }
    /// In place: `col[i]` holds `<x_i, z>_M` on entry and `dk/dnx (x_i, z)` on exit.
    fn dnx_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        for (c, &a) in col.iter_mut().zip(nx) {
            *c = self.grad_parts(*c, a, nz).0;
        }
    }
}

#[inline(always)]
fn sqdist(ip: f64, nx: f64, nz: f64) -> f64 {
    let s = nx + nz;
    let r2 = s - 2.0 * ip;
    if r2 <= DUPLICATE_TOL * s { 0.0 } else { r2 }
}

// ---------------------------------------------------------------- vectorised column loops

#[multiversion(targets = "simd")]
fn laplace_values(col: &mut [f64], nx: &[f64], nz: f64, inv_l: f64) {
    for (c, &a) in col.iter_mut().zip(nx) {
        let r = sqdist(*c, a, nz).sqrt();
        *c = linalg::simd::exp(-r * inv_l);
    }
}

#[multiversion(targets = "simd")]
fn laplace_dip(col: &mut [f64], nx: &[f64], nz: f64, inv_l: f64) {
    for (c, &a) in col.iter_mut().zip(nx) {
        let r = sqdist(*c, a, nz).sqrt();
        let k = linalg::simd::exp(-r * inv_l);
        // dk/dip = -2 phi'(r^2) = k / (L r); dropped at zero distance
        *c = if r > 0.0 { k * inv_l / r } else { 0.0 };
    }
}

#[multiversion(targets = "simd")]
fn gaussian_values(col: &mut [f64], nx: &[f64], nz: f64, g: f64) {
    for (c, &a) in col.iter_mut().zip(nx) {
        *c = linalg::simd::exp(-sqdist(*c, a, nz) * g);
    }
}

#[multiversion(targets = "simd")]
fn gaussian_dip(col: &mut [f64], nx: &[f64], nz: f64, g: f64) {
    for (c, &a) in col.iter_mut().zip(nx) {
        *c = 2.0 * g * linalg::simd::exp(-sqdist(*c, a, nz) * g);
    }
}

#[multiversion(targets = "simd")]
fn matern32_values(col: &mut [f64], nx: &[f64], nz: f64, a_: f64) {
    for (c, &a) in col.iter_mut().zip(nx) {
        let ar = a_ * sqdist(*c, a, nz).sqrt();
        *c = (1.0 + ar) * linalg::simd::exp(-ar);
    }
}

#[multiversion(targets = "simd")]
fn matern32_dip(col: &mut [f64], nx: &[f64], nz: f64, a_: f64) {
    for (c, &a) in col.iter_mut().zip(nx) {
        let ar = a_ * sqdist(*c, a, nz).sqrt();
        *c = a_ * a_ * linalg::simd::exp(-ar);
    }
}

#[multiversion(targets = "simd")]
fn matern52_values(col: &mut [f64], nx: &[f64], nz: f64, a_: f64) {
    for (c, &a) in col.iter_mut().zip(nx) {
        let ar = a_ * sqdist(*c, a, nz).sqrt();
        *c = (1.0 + ar + ar * ar / 3.0) * linalg::simd::exp(-ar);
    }
}

#[multiversion(targets = "simd")]
fn matern52_dip(col: &mut [f64], nx: &[f64], nz: f64, a_: f64) {
    for (c, &a) in col.iter_mut().zip(nx) {
        let ar = a_ * sqdist(*c, a, nz).sqrt();
        *c = (a_ * a_ / 3.0) * (1.0 + ar) * linalg::simd::exp(-ar);
    }
}

#[multiversion(targets = "simd")]
fn quadratic_values(col: &mut [f64], scale: f64) {
    for c in col.iter_mut() {
        *c = scale * *c * *c;
    }
}

#[multiversion(targets = "simd")]
fn quadratic_dip(col: &mut [f64], scale: f64) {
    for c in col.iter_mut() {
        *c *= 2.0 * scale;
    }
}

// ---------------------------------------------------------------- kernels

fn check_bandwidth(l: f64) -> Result<()> {
    if !(l.is_finite() && l > 0.0) {
        return Err(invalid("bandwidth", l, "must be finite and > 0"));
    }
    Ok(())
}

/// Laplace kernel `exp(-||x - z||_M / L)` (the RFM default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Laplace {
    /// Bandwidth `L > 0`.
    pub bandwidth: f64,
}

impl Kernel for Laplace {
    fn name(&self) -> String {
        format!("laplace(L={})", self.bandwidth)
    }
    fn validate(&self) -> Result<()> {
        check_bandwidth(self.bandwidth)
    }
    fn eval_parts(&self, ip: f64, nx: f64, nz: f64) -> f64 {
        (-sqdist(ip, nx, nz).sqrt() / self.bandwidth).exp()
    }
    fn grad_parts(&self, ip: f64, nx: f64, nz: f64) -> (f64, f64) {
        let r = sqdist(ip, nx, nz).sqrt();
        if r == 0.0 {
            return (0.0, 0.0);
        }
        let k = (-r / self.bandwidth).exp();
        let b = k / (self.bandwidth * r);
        (-0.5 * b, b)
    }
    fn grad_structure(&self) -> GradStructure {
        GradStructure::Radial
    }
    fn values_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        laplace_values(col, nx, nz, 1.0 / self.bandwidth)
    }
    fn dip_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        laplace_dip(col, nx, nz, 1.0 / self.bandwidth)
    }
    fn dnx_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        laplace_dip(col, nx, nz, 1.0 / self.bandwidth);
        col.iter_mut().for_each(|c| *c *= -0.5);
    }
}

/// Bandwidth convention of the Gaussian kernel. The references disagree, so the API is explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum GaussianConvention {
    /// `exp(-d^2 / (2 L^2))`: the `rfm` package and the grokking code (the figures).
    #[default]
    TwoLSquared,
    /// `exp(-d^2 / L)`: the grokking paper's text (`L` is the raw denominator).
    Denominator,
}

/// Gaussian kernel; see [`GaussianConvention`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gaussian {
    /// Bandwidth `L > 0`.
    pub bandwidth: f64,
    /// How `L` enters the exponent.
    #[serde(default)]
    pub convention: GaussianConvention,
}

impl Gaussian {
    /// `g` such that `k = exp(-g d^2)`.
    pub fn gamma(&self) -> f64 {
        match self.convention {
            GaussianConvention::TwoLSquared => 1.0 / (2.0 * self.bandwidth * self.bandwidth),
            GaussianConvention::Denominator => 1.0 / self.bandwidth,
        }
    }
}

impl Kernel for Gaussian {
    fn name(&self) -> String {
        match self.convention {
            GaussianConvention::TwoLSquared => format!("gaussian(exp(-d^2/(2L^2)), L={})", self.bandwidth),
            GaussianConvention::Denominator => format!("gaussian(exp(-d^2/L), L={})", self.bandwidth),
        }
    }
    fn validate(&self) -> Result<()> {
        check_bandwidth(self.bandwidth)
    }
    fn eval_parts(&self, ip: f64, nx: f64, nz: f64) -> f64 {
        (-sqdist(ip, nx, nz) * self.gamma()).exp()
    }
    fn grad_parts(&self, ip: f64, nx: f64, nz: f64) -> (f64, f64) {
        let g = self.gamma();
        let k = (-sqdist(ip, nx, nz) * g).exp();
        (-g * k, 2.0 * g * k)
    }
    fn grad_structure(&self) -> GradStructure {
        GradStructure::Radial
    }
    fn values_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        gaussian_values(col, nx, nz, self.gamma())
    }
    fn dip_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        gaussian_dip(col, nx, nz, self.gamma())
    }
    fn dnx_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        gaussian_dip(col, nx, nz, self.gamma());
        col.iter_mut().for_each(|c| *c *= -0.5);
    }
}

/// Smoothness of a Matern kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaternNu {
    /// nu = 1/2 (equals the Laplace kernel).
    Half,
    /// nu = 3/2.
    ThreeHalves,
    /// nu = 5/2.
    FiveHalves,
}

/// Matern kernel with `nu` in {1/2, 3/2, 5/2}.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Matern {
    /// Smoothness.
    pub nu: MaternNu,
    /// Bandwidth `L > 0`.
    pub bandwidth: f64,
}

impl Kernel for Matern {
    fn name(&self) -> String {
        let nu = match self.nu {
            MaternNu::Half => "1/2",
            MaternNu::ThreeHalves => "3/2",
            MaternNu::FiveHalves => "5/2",
        };
        format!("matern(nu={nu}, L={})", self.bandwidth)
    }
    fn validate(&self) -> Result<()> {
        check_bandwidth(self.bandwidth)
    }
    fn eval_parts(&self, ip: f64, nx: f64, nz: f64) -> f64 {
        let r = sqdist(ip, nx, nz).sqrt();
        match self.nu {
            MaternNu::Half => (-r / self.bandwidth).exp(),
            MaternNu::ThreeHalves => {
                let ar = 3f64.sqrt() * r / self.bandwidth;
                (1.0 + ar) * (-ar).exp()
            }
            MaternNu::FiveHalves => {
                let ar = 5f64.sqrt() * r / self.bandwidth;
                (1.0 + ar + ar * ar / 3.0) * (-ar).exp()
            }
        }
    }
    fn grad_parts(&self, ip: f64, nx: f64, nz: f64) -> (f64, f64) {
        let r = sqdist(ip, nx, nz).sqrt();
        let b = match self.nu {
            MaternNu::Half => {
                return Laplace { bandwidth: self.bandwidth }.grad_parts(ip, nx, nz);
            }
            MaternNu::ThreeHalves => {
                let a = 3f64.sqrt() / self.bandwidth;
                a * a * (-a * r).exp()
            }
            MaternNu::FiveHalves => {
                let a = 5f64.sqrt() / self.bandwidth;
                (a * a / 3.0) * (1.0 + a * r) * (-a * r).exp()
            }
        };
        (-0.5 * b, b)
    }
    fn grad_structure(&self) -> GradStructure {
        GradStructure::Radial
    }
    fn values_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        match self.nu {
            MaternNu::Half => laplace_values(col, nx, nz, 1.0 / self.bandwidth),
            MaternNu::ThreeHalves => matern32_values(col, nx, nz, 3f64.sqrt() / self.bandwidth),
            MaternNu::FiveHalves => matern52_values(col, nx, nz, 5f64.sqrt() / self.bandwidth),
        }
    }
    fn dip_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        match self.nu {
            MaternNu::Half => laplace_dip(col, nx, nz, 1.0 / self.bandwidth),
            MaternNu::ThreeHalves => matern32_dip(col, nx, nz, 3f64.sqrt() / self.bandwidth),
            MaternNu::FiveHalves => matern52_dip(col, nx, nz, 5f64.sqrt() / self.bandwidth),
        }
    }
    fn dnx_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        self.dip_col(col, nx, nz);
        col.iter_mut().for_each(|c| *c *= -0.5);
    }
}

/// Quadratic kernel `scale * (x^T M z)^2` (the grokking paper's second kernel).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quadratic {
    /// Constant factor (1 by default; irrelevant for ridgeless regression).
    pub scale: f64,
}

impl Default for Quadratic {
    fn default() -> Self {
        Quadratic { scale: 1.0 }
    }
}

impl Kernel for Quadratic {
    fn name(&self) -> String {
        if self.scale == 1.0 { "quadratic".into() } else { format!("quadratic(scale={})", self.scale) }
    }
    fn validate(&self) -> Result<()> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(invalid("quadratic kernel scale", self.scale, "must be finite and > 0"));
        }
        Ok(())
    }
    fn eval_parts(&self, ip: f64, _nx: f64, _nz: f64) -> f64 {
        self.scale * ip * ip
    }
    fn grad_parts(&self, ip: f64, _nx: f64, _nz: f64) -> (f64, f64) {
        (0.0, 2.0 * self.scale * ip)
    }
    fn grad_structure(&self) -> GradStructure {
        GradStructure::DotProduct
    }
    fn values_col(&self, col: &mut [f64], _nx: &[f64], _nz: f64) {
        quadratic_values(col, self.scale)
    }
    fn dip_col(&self, col: &mut [f64], _nx: &[f64], _nz: f64) {
        quadratic_dip(col, self.scale)
    }
    fn dnx_col(&self, col: &mut [f64], _nx: &[f64], _nz: f64) {
        col.iter_mut().for_each(|c| *c = 0.0);
    }
}

/// Neural tangent kernel of a two-layer bias-free ReLU network (infinite width, NTK parameterisation):
///
/// `k(x, z) = ||x|| ||z|| kappa1(u) + <x, z> kappa0(u)`, `u = <x, z> / (||x|| ||z||)`,
/// `kappa0(u) = (pi - arccos u) / pi`, `kappa1(u) = (sqrt(1 - u^2) + (pi - arccos u) u) / pi`.
///
/// Its gradient is singular where `x` and `z` are parallel (e.g. at training points); those terms are
/// dropped, as for the Laplace kernel at zero distance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct NtkRelu;

impl Kernel for NtkRelu {
    fn name(&self) -> String {
        "ntk-relu(2 layers)".into()
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    fn eval_parts(&self, ip: f64, nx: f64, nz: f64) -> f64 {
        let s = (nx.max(0.0) * nz.max(0.0)).sqrt();
        if s == 0.0 {
            return 0.0;
        }
        let u = (ip / s).clamp(-1.0, 1.0);
        let pi = std::f64::consts::PI;
        let th = u.acos();
        let k0 = (pi - th) / pi;
        let k1 = ((1.0 - u * u).max(0.0).sqrt() + (pi - th) * u) / pi;
        s * k1 + ip * k0
    }
    fn grad_parts(&self, ip: f64, nx: f64, nz: f64) -> (f64, f64) {
        let s = (nx.max(0.0) * nz.max(0.0)).sqrt();
        if s == 0.0 || nx <= 0.0 {
            return (0.0, 0.0);
        }
        let u = (ip / s).clamp(-1.0, 1.0);
        let pi = std::f64::consts::PI;
        let k0 = (pi - u.acos()) / pi;
        let w = 1.0 - u * u;
        if w < 1e-12 {
            // parallel inputs: the derivative of arccos is singular; drop the term
            return (0.0, 0.0);
        }
        let sw = w.sqrt();
        let dip = 2.0 * k0 + u / (pi * sw);
        let dnx = s / (2.0 * nx * pi) * (1.0 - 2.0 * u * u) / sw;
        (dnx, dip)
    }
    fn grad_structure(&self) -> GradStructure {
        GradStructure::General
    }
}

/// A serialisable choice among the built-in kernels (what params structs and CLIs store).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KernelSpec {
    /// [`Laplace`].
    Laplace(Laplace),
    /// [`Gaussian`].
    Gaussian(Gaussian),
    /// [`Matern`].
    Matern(Matern),
    /// [`Quadratic`].
    Quadratic(Quadratic),
    /// [`NtkRelu`].
    NtkRelu(NtkRelu),
}

impl KernelSpec {
    /// Laplace kernel with bandwidth `l`.
    pub fn laplace(l: f64) -> Self {
        KernelSpec::Laplace(Laplace { bandwidth: l })
    }
    /// Gaussian kernel `exp(-d^2 / (2 L^2))`.
    pub fn gaussian(l: f64) -> Self {
        KernelSpec::Gaussian(Gaussian { bandwidth: l, convention: GaussianConvention::TwoLSquared })
    }
    /// Quadratic kernel `(x^T M z)^2`.
    pub fn quadratic() -> Self {
        KernelSpec::Quadratic(Quadratic::default())
    }
    /// Builds a kernel from a CLI name (`laplace`, `gaussian`, `gaussian-denominator`, `matern12`,
    /// `matern32`, `matern52`, `quadratic`, `ntk-relu`) and a bandwidth (ignored by quadratic/NTK).
    pub fn from_name(name: &str, bandwidth: f64) -> Result<Self> {
        let spec = match name.to_ascii_lowercase().as_str() {
            "laplace" | "laplacian" => Self::laplace(bandwidth),
            "gaussian" | "gauss" | "rbf" => Self::gaussian(bandwidth),
            "gaussian-denominator" => {
                KernelSpec::Gaussian(Gaussian { bandwidth, convention: GaussianConvention::Denominator })
            }
            "matern12" => KernelSpec::Matern(Matern { nu: MaternNu::Half, bandwidth }),
            "matern32" => KernelSpec::Matern(Matern { nu: MaternNu::ThreeHalves, bandwidth }),
            "matern52" => KernelSpec::Matern(Matern { nu: MaternNu::FiveHalves, bandwidth }),
            "quadratic" => Self::quadratic(),
            "ntk" | "ntk-relu" => KernelSpec::NtkRelu(NtkRelu),
            other => {
                return Err(invalid(
                    "kernel",
                    other,
                    "expected one of laplace, gaussian, gaussian-denominator, matern12, matern32, matern52, quadratic, ntk-relu",
                ));
            }
        };
        spec.validate()?;
        Ok(spec)
    }

    fn inner(&self) -> &dyn Kernel {
        match self {
            KernelSpec::Laplace(k) => k,
            KernelSpec::Gaussian(k) => k,
            KernelSpec::Matern(k) => k,
            KernelSpec::Quadratic(k) => k,
            KernelSpec::NtkRelu(k) => k,
        }
    }
}

impl FromStr for KernelSpec {
    type Err = crate::KernelError;
    /// Parses `name` or `name:bandwidth` (e.g. `laplace:10`); the bandwidth defaults to 1.
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once(':') {
            Some((n, l)) => {
                let l: f64 = l.parse().map_err(|_| invalid("bandwidth", l, "not a number"))?;
                KernelSpec::from_name(n, l)
            }
            None => KernelSpec::from_name(s, 1.0),
        }
    }
}

impl Kernel for KernelSpec {
    fn name(&self) -> String {
        self.inner().name()
    }
    fn validate(&self) -> Result<()> {
        self.inner().validate()
    }
    fn eval_parts(&self, ip: f64, nx: f64, nz: f64) -> f64 {
        self.inner().eval_parts(ip, nx, nz)
    }
    fn grad_parts(&self, ip: f64, nx: f64, nz: f64) -> (f64, f64) {
        self.inner().grad_parts(ip, nx, nz)
    }
    fn grad_structure(&self) -> GradStructure {
        self.inner().grad_structure()
    }
    fn values_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        self.inner().values_col(col, nx, nz)
    }
    fn dip_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        self.inner().dip_col(col, nx, nz)
    }
    fn dnx_col(&self, col: &mut [f64], nx: &[f64], nz: f64) {
        self.inner().dnx_col(col, nx, nz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<KernelSpec> {
        vec![
            KernelSpec::laplace(2.0),
            KernelSpec::gaussian(1.5),
            KernelSpec::from_name("gaussian-denominator", 3.0).unwrap(),
            KernelSpec::from_name("matern12", 2.0).unwrap(),
            KernelSpec::from_name("matern32", 2.0).unwrap(),
            KernelSpec::from_name("matern52", 2.0).unwrap(),
            KernelSpec::quadratic(),
            KernelSpec::NtkRelu(NtkRelu),
        ]
    }

    #[test]
    fn vectorised_columns_match_scalar() {
        let nx: Vec<f64> = (0..37).map(|i| 1.0 + i as f64 * 0.1).collect();
        let nz = 2.0;
        let ips: Vec<f64> = (0..37).map(|i| -1.0 + i as f64 * 0.05).collect();
        for k in all() {
            let mut v = ips.clone();
            k.values_col(&mut v, &nx, nz);
            let mut b = ips.clone();
            k.dip_col(&mut b, &nx, nz);
            let mut a = ips.clone();
            k.dnx_col(&mut a, &nx, nz);
            for i in 0..ips.len() {
                let e = k.eval_parts(ips[i], nx[i], nz);
                let (ga, gb) = k.grad_parts(ips[i], nx[i], nz);
                assert!((v[i] - e).abs() <= 1e-13 * (1.0 + e.abs()), "{} value", k.name());
                assert!((b[i] - gb).abs() <= 1e-12 * (1.0 + gb.abs()), "{} dip", k.name());
                assert!((a[i] - ga).abs() <= 1e-12 * (1.0 + ga.abs()), "{} dnx", k.name());
            }
        }
    }

    #[test]
    fn partial_derivatives_match_finite_differences() {
        let (ip, nx, nz) = (0.3, 1.7, 2.2);
        for k in all() {
            let h = 1e-6;
            let dip = (k.eval_parts(ip + h, nx, nz) - k.eval_parts(ip - h, nx, nz)) / (2.0 * h);
            let dnx = (k.eval_parts(ip, nx + h, nz) - k.eval_parts(ip, nx - h, nz)) / (2.0 * h);
            let (a, b) = k.grad_parts(ip, nx, nz);
            assert!((b - dip).abs() < 1e-6 * (1.0 + dip.abs()), "{} dip {b} vs {dip}", k.name());
            assert!((a - dnx).abs() < 1e-6 * (1.0 + dnx.abs()), "{} dnx {a} vs {dnx}", k.name());
        }
    }

    #[test]
    fn names_and_errors() {
        assert!(KernelSpec::from_name("laplace", -1.0).is_err());
        assert!(KernelSpec::from_name("laplace", f64::NAN).is_err());
        assert!(KernelSpec::from_name("nope", 1.0).is_err());
        let k: KernelSpec = "gaussian:2.5".parse().unwrap();
        assert!((k.eval_parts(0.0, 12.5, 0.0) - (-1.0f64).exp()).abs() < 1e-15);
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(serde_json::from_str::<KernelSpec>(&json).unwrap(), k);
        // matern 1/2 equals laplace
        let m = KernelSpec::from_name("matern12", 2.0).unwrap();
        assert_eq!(m.eval_parts(0.2, 1.0, 1.0), KernelSpec::laplace(2.0).eval_parts(0.2, 1.0, 1.0));
    }
}
