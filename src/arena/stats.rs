//! Small numeric helpers: seeded normal draws and mean ± sd summaries.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// One normal draw by Box-Muller (the cosine half only, so every draw costs exactly two
/// uniforms and the stream stays easy to reason about).
pub fn normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // in (0, 1], so ln is finite
    let u2: f64 = rng.gen::<f64>();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Mean and sample standard deviation over seeds, as the JSON contract prints them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Mean over the values that exist (NaN = "not applicable" values are skipped).
    pub mean: f64,
    /// Sample standard deviation (0 for a single value).
    pub sd: f64,
}

impl Summary {
    /// Summarises values, ignoring NaN ("did not happen", e.g. no recovery).
    pub fn of(values: &[f64]) -> Summary {
        let v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Summary {
                mean: f64::NAN,
                sd: f64::NAN,
            };
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = if v.len() > 1 {
            (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Summary { mean, sd }
    }
}

/// Median of the values that exist (NaN if none).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn normal_draws_have_the_right_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let xs: Vec<f64> = (0..20_000).map(|_| normal(&mut rng, 0.9, 0.1)).collect();
        let s = Summary::of(&xs);
        assert!((s.mean - 0.9).abs() < 0.005, "{s:?}");
        assert!((s.sd - 0.1).abs() < 0.005, "{s:?}");
    }

    #[test]
    fn summary_and_median() {
        let s = Summary::of(&[1.0, 3.0, f64::NAN]);
        assert_eq!(s.mean, 2.0);
        assert!((s.sd - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert!(median(&[f64::NAN]).is_nan());
    }
}
