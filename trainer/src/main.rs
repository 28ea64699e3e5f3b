//! `trainer`: fit the linear model, gate it on quality, publish it atomically.
//!
//! Exit codes: 0 published or kept, 1 bad data, 2 bad usage or I/O failure.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Parser;
use trainer::train::{self, Options, Outcome};

/// Fit a linear model and publish `model.json` + `version.txt` for `inference`.
///
/// Reads a CSV with a header (`x,y` or `x1,…,xn,y`: the last column is the target), or without
/// `--data` a built-in synthetic set (`y = 3x + 2 + noise`, deterministic per seed). A share of
/// rows is held out to measure r² and RMSE. If a model is already published and the new one is
/// worse on the new holdout by more than `--tolerance`, the published model is kept.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Directory to publish into (the model PVC).
    #[arg(long, env = "MODEL_DIR", default_value = "/models")]
    out: PathBuf,
    /// Training data CSV; omit to use the built-in synthetic data.
    #[arg(long, env = "TRAINING_DATA")]
    data: Option<PathBuf>,
    /// Seed for the synthetic data and the holdout split.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of rows held out for evaluation, between 0 and 1 (exclusive).
    #[arg(long, default_value_t = 0.2, value_parser = parse_holdout)]
    holdout: f64,
    /// Refuse to publish a model whose holdout r² is below this (exit 1).
    #[arg(long, value_name = "R")]
    min_r2: Option<f64>,
    /// How much lower the new r² may be than the published model's before it is kept.
    #[arg(long, default_value_t = 0.01)]
    tolerance: f64,
    /// Publish even if the published model scores better on the new holdout.
    #[arg(long, conflicts_with = "if_missing")]
    force: bool,
    /// Do nothing if a valid model is already published (for a first-install hook Job).
    #[arg(long)]
    if_missing: bool,
}

fn parse_holdout(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1 (exclusive)"))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        out: args.out,
        data: args.data,
        seed: args.seed,
        holdout: args.holdout,
        min_r2: args.min_r2,
        force: args.force,
        if_missing: args.if_missing,
        tolerance: args.tolerance,
        now: SystemTime::now(),
    };
    match train::run(&options) {
        Ok(Outcome::Published {
            model,
            replaced,
            replaced_unusable,
        }) => {
            if let Some(why) = replaced_unusable {
                eprintln!(
                    "trainer: warning: the published model was unusable and is replaced: {why}"
                );
            }
            let m = &model.metrics;
            println!(
                "published model {} to {}: r2={:.4} rmse={:.4} n_train={} n_test={} weights={:?} bias={:.4}",
                model.version,
                options.out.display(),
                m.r2,
                m.rmse,
                m.n_train,
                m.n_test,
                model.weights,
                model.bias
            );
            if let Some(old) = replaced {
                println!("replaced {old}");
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Kept {
            kept,
            kept_score,
            rejected_score,
        }) => {
            println!(
                "kept published model {}: the new model's holdout r2 {:.4} is worse than its {:.4} \
                 (tolerance {}); use --force to publish anyway",
                kept.version, rejected_score.r2, kept_score.r2, options.tolerance
            );
            ExitCode::SUCCESS
        }
        Ok(Outcome::AlreadyPublished { model }) => {
            println!(
                "model {} is already published; nothing to do (--if-missing)",
                model.version
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trainer: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
