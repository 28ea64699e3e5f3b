//! Ordinary least squares in one streaming pass.
//!
//! [`Moments`] keeps the running means and the centred co-moment matrices (Welford's update,
//! generalised to several variables), so memory is O(features²) whatever the row count and
//! the sums never suffer the cancellation of the textbook `Σx² − n·x̄²`. The fit solves the
//! centred normal equations `Cxx·w = Cxy` by Cholesky; the same moments of the holdout rows
//! give its error without keeping a single row.

// Index loops read like the formulas they implement (L[i][k], Cxx[i][j]).
#![allow(clippy::needless_range_loop)]

/// Running first and second moments of (x, y).
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    n: u64,
    mean_x: Vec<f64>,
    mean_y: f64,
    /// Row-major p×p: Σ (x_i − x̄_i)(x_j − x̄_j).
    cxx: Vec<f64>,
    /// Σ (x_i − x̄_i)(y − ȳ).
    cxy: Vec<f64>,
    /// Σ (y − ȳ)².
    cyy: f64,
    /// Scratch for the deltas, kept to avoid an allocation per row.
    dx: Vec<f64>,
}

/// Why no model could be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// Fewer rows than unknowns.
    #[error("{rows} training row(s) for {unknowns} unknowns: need at least {needed}")]
    TooFewRows {
        rows: u64,
        unknowns: usize,
        needed: u64,
    },
    /// A feature never changes, so its weight is undetermined.
    #[error("feature {0:?} is constant in the training rows, so its weight cannot be determined")]
    ConstantFeature(String),
    /// A feature is a linear combination of the ones before it.
    #[error("feature {0:?} is a linear combination of the other features (singular design)")]
    Collinear(String),
}

/// A fitted linear model: `y = weights · x + bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub weights: Vec<f64>,
    pub bias: f64,
}

/// How well a model predicts a set of rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub r2: f64,
    pub rmse: f64,
}

/// A pivot smaller than this share of its column's own variance means the column adds
/// nothing the others do not already explain.
const COLLINEAR_TOLERANCE: f64 = 1e-10;

impl Moments {
    pub fn new(features: usize) -> Self {
        Self {
            n: 0,
            mean_x: vec![0.0; features],
            mean_y: 0.0,
            cxx: vec![0.0; features * features],
            cxy: vec![0.0; features],
            cyy: 0.0,
            dx: vec![0.0; features],
        }
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    /// Adds one row; `x` has as many values as the moments have features.
    pub fn push(&mut self, x: &[f64], y: f64) {
        let p = self.mean_x.len();
        debug_assert_eq!(x.len(), p);
        self.n += 1;
        let n = self.n as f64;
        for i in 0..p {
            self.dx[i] = x[i] - self.mean_x[i];
            self.mean_x[i] += self.dx[i] / n;
        }
        let dy = y - self.mean_y;
        self.mean_y += dy / n;
        let ry = y - self.mean_y;
        for i in 0..p {
            let row = &mut self.cxx[i * p..(i + 1) * p];
            for j in 0..p {
                row[j] += self.dx[i] * (x[j] - self.mean_x[j]);
            }
            self.cxy[i] += self.dx[i] * ry;
        }
        self.cyy += dy * ry;
    }

    /// Solves the least-squares problem; `names` name the features in errors.
    pub fn fit(&self, names: &[String]) -> Result<Fit, FitError> {
        let p = self.mean_x.len();
        let needed = p as u64 + 1;
        if self.n < needed {
            return Err(FitError::TooFewRows {
                rows: self.n,
                unknowns: p + 1,
                needed,
            });
        }
        let name = |i: usize| {
            names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("x{}", i + 1))
        };
        // Cholesky of the symmetric positive semi-definite Cxx: L·Lᵀ.
        let mut l = vec![0.0; p * p];
        for j in 0..p {
            let diag = self.cxx[j * p + j];
            let pivot = diag - (0..j).map(|k| l[j * p + k] * l[j * p + k]).sum::<f64>();
            if diag <= 0.0 {
                return Err(FitError::ConstantFeature(name(j)));
            }
            if pivot <= COLLINEAR_TOLERANCE * diag {
                return Err(FitError::Collinear(name(j)));
            }
            let ljj = pivot.sqrt();
            l[j * p + j] = ljj;
            for i in j + 1..p {
                let s =
                    self.cxx[i * p + j] - (0..j).map(|k| l[i * p + k] * l[j * p + k]).sum::<f64>();
                l[i * p + j] = s / ljj;
            }
        }
        // Forward then back substitution.
        let mut z = vec![0.0; p];
        for i in 0..p {
            z[i] = (self.cxy[i] - (0..i).map(|k| l[i * p + k] * z[k]).sum::<f64>()) / l[i * p + i];
        }
        let mut w = vec![0.0; p];
        for i in (0..p).rev() {
            w[i] = (z[i] - (i + 1..p).map(|k| l[k * p + i] * w[k]).sum::<f64>()) / l[i * p + i];
        }
        let bias = self.mean_y - w.iter().zip(&self.mean_x).map(|(a, b)| a * b).sum::<f64>();
        Ok(Fit { weights: w, bias })
    }

    /// r² and RMSE of `y = weights · x + bias` over the rows these moments saw, from the
    /// moments alone: Σr² = Cyy − 2wᵀCxy + wᵀCxxw + n(ȳ − w·x̄ − b)².
    pub fn score(&self, weights: &[f64], bias: f64) -> Option<Score> {
        let p = self.mean_x.len();
        if self.n == 0 || weights.len() != p {
            return None;
        }
        let n = self.n as f64;
        let w_cxy: f64 = weights.iter().zip(&self.cxy).map(|(a, b)| a * b).sum();
        let mut w_cxx_w = 0.0;
        for i in 0..p {
            for j in 0..p {
                w_cxx_w += weights[i] * self.cxx[i * p + j] * weights[j];
            }
        }
        let offset = self.mean_y
            - weights
                .iter()
                .zip(&self.mean_x)
                .map(|(a, b)| a * b)
                .sum::<f64>()
            - bias;
        let sse = (self.cyy - 2.0 * w_cxy + w_cxx_w + n * offset * offset).max(0.0);
        let rmse = (sse / n).sqrt();
        // A constant target has no variance to explain: perfect if the errors vanish.
        let r2 = if self.cyy > 0.0 {
            1.0 - sse / self.cyy
        } else if sse <= f64::EPSILON {
            1.0
        } else {
            0.0
        };
        Some(Score { r2, rmse })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(p: usize) -> Vec<String> {
        (1..=p).map(|i| format!("x{i}")).collect()
    }

    #[test]
    fn recovers_known_coefficients_exactly_without_noise() {
        let mut m = Moments::new(1);
        for i in 0..50 {
            let x = i as f64 * 0.3 - 4.0;
            m.push(&[x], 3.0 * x + 2.0);
        }
        let fit = m.fit(&names(1)).unwrap();
        assert!((fit.weights[0] - 3.0).abs() < 1e-12, "{fit:?}");
        assert!((fit.bias - 2.0).abs() < 1e-12, "{fit:?}");
        let score = m.score(&fit.weights, fit.bias).unwrap();
        assert!(
            (score.r2 - 1.0).abs() < 1e-12 && score.rmse < 1e-9,
            "{score:?}"
        );
    }

    #[test]
    fn recovers_multi_feature_coefficients() {
        let mut m = Moments::new(3);
        for i in 0..200u64 {
            let x = [
                crate::data::unit(crate::data::splitmix64(i)) * 10.0,
                crate::data::unit(crate::data::splitmix64(i + 1000)) * 5.0 - 2.0,
                (i as f64).sin(),
            ];
            m.push(&x, 1.5 * x[0] - 2.0 * x[1] + 0.25 * x[2] - 7.0);
        }
        let fit = m.fit(&names(3)).unwrap();
        for (got, want) in fit.weights.iter().zip([1.5, -2.0, 0.25]) {
            assert!((got - want).abs() < 1e-9, "{fit:?}");
        }
        assert!((fit.bias + 7.0).abs() < 1e-9);
    }

    #[test]
    fn stays_accurate_far_from_the_origin() {
        // x around 1e9: the naive Σx² − n·x̄² loses every digit here.
        let mut m = Moments::new(1);
        for i in 0..1000 {
            let x = 1e9 + i as f64;
            m.push(&[x], 0.5 * x + 3.0);
        }
        let fit = m.fit(&names(1)).unwrap();
        assert!((fit.weights[0] - 0.5).abs() < 1e-9, "{fit:?}");
    }

    #[test]
    fn singular_designs_name_the_feature() {
        let mut constant = Moments::new(2);
        let mut collinear = Moments::new(2);
        for i in 0..10 {
            let x = i as f64;
            constant.push(&[x, 4.0], x);
            collinear.push(&[x, 2.0 * x + 1.0], x);
        }
        let n = vec!["a".to_string(), "b".to_string()];
        assert_eq!(constant.fit(&n), Err(FitError::ConstantFeature("b".into())));
        assert_eq!(collinear.fit(&n), Err(FitError::Collinear("b".into())));
    }

    #[test]
    fn too_few_rows() {
        let mut m = Moments::new(2);
        m.push(&[1.0, 2.0], 3.0);
        m.push(&[2.0, 1.0], 3.0);
        let err = m.fit(&names(2)).unwrap_err();
        assert_eq!(
            err,
            FitError::TooFewRows {
                rows: 2,
                unknowns: 3,
                needed: 3
            }
        );
    }

    #[test]
    fn score_of_a_worse_model_is_lower() {
        let mut m = Moments::new(1);
        for i in 0..20 {
            let x = i as f64;
            m.push(&[x], 2.0 * x + ((i % 3) as f64 - 1.0) * 0.1);
        }
        let good = m.score(&[2.0], 0.0).unwrap();
        let bad = m.score(&[1.0], 0.0).unwrap();
        assert!(good.r2 > 0.99 && bad.r2 < good.r2, "{good:?} {bad:?}");
        assert!(bad.rmse > good.rmse);
        assert_eq!(m.score(&[1.0, 2.0], 0.0), None, "feature count mismatch");
    }

    proptest! {
        /// The streaming score equals the direct sum of squared residuals.
        #[test]
        fn streaming_score_matches_direct_computation(
            rows in proptest::collection::vec((-1e3f64..1e3, -1e3f64..1e3), 2..60),
            w in -10f64..10.0, b in -10f64..10.0,
        ) {
            let mut m = Moments::new(1);
            for (x, y) in &rows { m.push(&[*x], *y); }
            let s = m.score(&[w], b).unwrap();
            let sse: f64 = rows.iter().map(|(x, y)| (y - w * x - b).powi(2)).sum();
            let direct = (sse / rows.len() as f64).sqrt();
            prop_assert!((s.rmse - direct).abs() <= 1e-6 * direct.max(1.0), "{} vs {}", s.rmse, direct);
        }
    }
}
