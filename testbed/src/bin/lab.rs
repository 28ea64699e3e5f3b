//! `cargo lab`: the local lab.
//!
//!   cargo lab up            bring the lab up, run labctl preflight, verify and predict 4.2, stop
//!   cargo lab up --keep     … and leave it running (KUBECONFIG and labctl.toml in .lab/)
//!   cargo lab down          stop a kept lab
//!   cargo lab scenarios     list the failure scenarios
//!   cargo lab drill NAME    break the kept lab one way, to practise diagnosing it
//!   cargo lab undo NAME     repair it

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use testbed::lab::{self, Lab};

/// The local lab: a real Kubernetes control plane (etcd, kube-apiserver, kube-scheduler,
/// kube-controller-manager built from their Go modules; kwok for the kubelets), the
/// local-path provisioner, nginx as ingress-nginx, dnsmasq as Pi-hole, and the real trainer and
/// inference. Argo CD itself does not run in the lab: its CRDs are installed and the lab
/// writes the Application's status as Argo CD would.
#[derive(Debug, Parser)]
#[command(name = "cargo lab", about, long_about)]
struct Args {
    /// Where the lab keeps its state, logs, certificates and kubeconfigs.
    #[arg(long, default_value = ".lab", global = true)]
    dir: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Bring the lab up and run `labctl preflight`, `labctl verify` and `labctl predict 4.2`.
    Up {
        /// Leave the lab running afterwards (stop it with `cargo lab down`).
        #[arg(long)]
        keep: bool,
        /// Do not run labctl after bringing the lab up.
        #[arg(long)]
        no_checks: bool,
    },
    /// Stop a lab started with `up --keep`.
    Down,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lab: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    let repo = testbed::dataplane::repo_root();
    let dir = if args.dir.is_absolute() {
        args.dir
    } else {
        repo.join(args.dir)
    };
    match args.command {
        Cmd::Up { keep, no_checks } => {
            testbed::process::stop_all_on_interrupt()?;
            let started = std::time::Instant::now();
            let lab = Lab::up(&repo, &dir)?;
            eprintln!("lab: up in {:.0} s", started.elapsed().as_secs_f64());
            let mut failed = false;
            if !no_checks {
                for command in [&["preflight"][..], &["verify"], &["predict", "4.2"]] {
                    eprintln!("\nlab: labctl {}", command.join(" "));
                    let (code, stdout, stderr) = lab.labctl(command)?;
                    print!("{stdout}");
                    eprint!("{stderr}");
                    failed |= code != 0;
                }
            }
            if keep {
                let config = lab.labctl_config.clone();
                let kubeconfig = lab.cp.labctl_kubeconfig.clone();
                lab.keep()?;
                eprintln!(
                    "\nlab: running. Try:\n  export KUBECONFIG={}\n  cargo run -q -p labctl -- --config {} verify\n  cargo lab down",
                    kubeconfig.display(),
                    config.display()
                );
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Down => {
            let stopped = lab::down(&dir)?;
            eprintln!("lab: stopped {stopped} process(es)");
            Ok(ExitCode::SUCCESS)
        }
    }
}
