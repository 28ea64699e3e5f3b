//! `cargo lab`: the local lab.
//!
//!   cargo lab up            bring the lab up, run labctl preflight, verify and predict 4.2, stop
//!   cargo lab up --keep     … and leave it running (KUBECONFIG and labctl.toml in .lab/)
//!   cargo lab down          stop a kept lab
//!   cargo lab scenarios     list the failure scenarios
//!   cargo lab drill NAME    bring the lab up broken one way and leave it running, to practise
//!   cargo lab peers         labctl, k8sgpt and popeye on every scenario, scored (docs/accuracy.md)
//!   cargo lab fuzz          labctl, k8sgpt and popeye on composed faults drawn by a seed, scored
//!   cargo lab images        multi-arch OCI images of trainer and inference (--push to a registry)

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use testbed::lab::{self, Lab};
use testbed::scenarios::{self, SCENARIOS};

/// The local lab: a real Kubernetes control plane (etcd, kube-apiserver, kube-scheduler,
/// kube-controller-manager built from their Go modules), a real node (kubelet, containerd,
/// runc, CNI bridge) running the pipeline's pods and a kwok node beside it, the local-path
/// provisioner, Argo CD (application controller, repo-server, Redis) syncing the lab overlay
/// from a Git server in the lab, Traefik as the ingress controller and dnsmasq as Pi-hole.
/// Needs root (the node's containers).
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
    /// Stop a lab started with `up --keep` or `drill`.
    Down,
    /// List the failure scenarios.
    Scenarios,
    /// Bring the lab up, break it one way, and leave it running to practise diagnosing it.
    Drill {
        /// A scenario name (see `cargo lab scenarios`).
        scenario: String,
    },
    /// Build the trainer and inference images for linux/amd64 and linux/arm64 (cross-compiled,
    /// no Docker) into an OCI image layout, one image index per program; with --push, push
    /// them and print the digests and the homelab overlay's `images:` lines. Credentials come
    /// from LAB_REGISTRY_USERNAME and LAB_REGISTRY_PASSWORD or the Docker config's auths
    /// (~/.docker/config.json, DOCKER_CONFIG), never from the command line.
    Images(ImagesArgs),
    /// Run labctl, k8sgpt and popeye on the healthy lab and on each scenario (one lab, brought
    /// up once) and score them (docs/accuracy.md); k8sgpt and popeye are built with
    /// `testbed/build --peers`.
    Peers {
        /// Only these scenarios.
        #[arg(long, num_args = 1.., value_name = "SCENARIO")]
        only: Vec<String>,
        /// Write the raw results (every tool's output and time) as JSON here.
        #[arg(long, value_name = "FILE", default_value = "target/lab-peers.json")]
        out: PathBuf,
        /// Score a recorded run instead of running the lab.
        #[arg(long, value_name = "FILE", conflicts_with = "only")]
        score: Option<PathBuf>,
    },
    /// Compose 1 to --max-faults faults per case, drawn by a seed from the fault grammar, on
    /// one warm lab; run labctl, k8sgpt and popeye on each case and score them
    /// (docs/accuracy.md). A case labctl gets wrong is shrunk to a minimal list of faults;
    /// with LAB_RECORD=1 its snapshot goes into labctl/tests/fixtures/lab/.
    Fuzz {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 60)]
        cases: usize,
        #[arg(long, default_value_t = 2)]
        max_faults: usize,
        /// Draw only from these faults.
        #[arg(long, num_args = 1.., value_name = "FAULT")]
        only: Vec<String>,
        /// How long a case's faults may take to show before the tools run.
        #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
        settle: std::time::Duration,
        /// Start no case (and no shrinking run) after this long; the record says so.
        #[arg(long, value_parser = humantime::parse_duration)]
        time_budget: Option<std::time::Duration>,
        /// Do not shrink the cases labctl gets wrong.
        #[arg(long)]
        no_shrink: bool,
        /// Run one case of exactly these faults (a reproducer the run printed).
        #[arg(long, num_args = 1.., value_name = "FAULT", conflicts_with = "only")]
        case: Vec<String>,
        /// Print the grammar and the seed's cases, without a lab.
        #[arg(long)]
        list: bool,
        /// Write the raw results as JSON here (after every case).
        #[arg(long, value_name = "FILE", default_value = "target/lab-fuzz.json")]
        out: PathBuf,
        /// Score a recorded run instead of running the lab.
        #[arg(long, value_name = "FILE")]
        score: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct ImagesArgs {
    /// Push to this registry and namespace (ghcr.io/you, registry.home:5000/lab).
    #[arg(long, value_name = "REGISTRY/NAMESPACE")]
    push: Option<String>,
    /// The tag to push the indexes under [default: the programs' version].
    #[arg(long)]
    tag: Option<String>,
    /// Talk to the registry over plain HTTP (a registry without TLS on your LAN).
    #[arg(long)]
    plain_http: bool,
    /// Build from a working tree with uncommitted changes (the images then carry the last
    /// commit's revision, but not its content).
    #[arg(long)]
    allow_dirty: bool,
    /// The OCI image layout to write [default: target/oci].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The platforms to build, comma-separated.
    #[arg(long, default_value = "linux/amd64,linux/arm64", value_delimiter = ',')]
    platform: Vec<String>,
}

/// `cargo lab images`: resolve the flags, build, write the layout, push.
fn images(repo: &std::path::Path, a: ImagesArgs) -> Result<ExitCode> {
    use testbed::images::Platform;
    use testbed::publish;
    let mut platforms = a
        .platform
        .iter()
        .map(|p| Platform::parse(p))
        .collect::<Result<Vec<_>>>()?;
    platforms.sort();
    platforms.dedup();
    let registry = match &a.push {
        Some(dest) => {
            let destination = publish::Destination::parse(dest)?;
            let (auth, from) = publish::credentials(&destination.registry)?;
            eprintln!(
                "lab: images: credentials for {}: {}",
                destination.registry,
                match from {
                    publish::CredentialSource::None => "none (anonymous)".to_owned(),
                    publish::CredentialSource::Environment =>
                        format!("{} (environment)", publish::USERNAME_ENV),
                    publish::CredentialSource::DockerConfig(f) => f.display().to_string(),
                }
            );
            Some(publish::Registry {
                destination,
                plain_http: a.plain_http,
                auth,
                extra_roots: Vec::new(),
            })
        }
        None => None,
    };
    let provenance = publish::Provenance::of(repo, a.allow_dirty)?;
    let tag = a.tag.unwrap_or_else(|| provenance.version.clone());
    let started = std::time::Instant::now();
    let programs = publish::build(repo, &platforms, &provenance)?;
    let out = a
        .out
        .unwrap_or_else(|| testbed::workspace::target_dir().join("oci"));
    publish::write_layout(&out, &programs, &tag)?;
    eprintln!(
        "lab: images: built in {:.0} s; OCI image layout {} (revision {})",
        started.elapsed().as_secs_f64(),
        out.display(),
        provenance.revision
    );
    for p in &programs {
        println!("{}:{tag} {}", p.repository, p.images.index.digest);
        for m in &p.images.manifests {
            println!("  {} {}", m.platform, m.manifest.digest);
        }
    }
    if let Some(registry) = registry {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let pushed = runtime.block_on(publish::push(&registry, &programs, &tag))?;
        println!();
        for p in &pushed {
            println!("pushed {}:{} {}", p.name, p.tag, p.digest);
        }
        println!(
            "\nPaste into manifests/overlays/homelab/kustomization.yaml (replacing its images:), commit and push:\n\n{}",
            publish::kustomize_images(&pushed)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Installs what the lab needs and a fresh machine lacks (scripts/install-deps).
fn install_deps(repo: &std::path::Path) -> Result<()> {
    let status = std::process::Command::new(repo.join("scripts/install-deps")).status()?;
    anyhow::ensure!(status.success(), "scripts/install-deps failed ({status})");
    Ok(())
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
    let repo = testbed::workspace::repo_root();
    let dir = if args.dir.is_absolute() {
        args.dir
    } else {
        repo.join(args.dir)
    };
    match args.command {
        Cmd::Up { keep, no_checks } => {
            testbed::process::stop_all_on_interrupt()?;
            install_deps(&repo)?;
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
                if !failed {
                    eprintln!("\nlab: all good");
                }
            }
            if keep {
                let config = lab.labctl_config().to_owned();
                let kubeconfig = lab.labctl_kubeconfig().to_owned();
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
        Cmd::Scenarios => {
            for s in SCENARIOS {
                println!("{:<24} {}", s.name, s.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Drill { scenario } => {
            let Some(scenario) = scenarios::find(&scenario) else {
                eprintln!("lab: no scenario {scenario:?}; `cargo lab scenarios` lists them");
                return Ok(ExitCode::from(2));
            };
            testbed::process::stop_all_on_interrupt()?;
            install_deps(&repo)?;
            let mut lab = Lab::up(&repo, &dir)?;
            eprintln!("lab: breaking it: {}", scenario.description);
            (scenario.apply)(&mut lab)?;
            // Until labctl sees the breakage (Argo CD syncs, the scheduler retries, events
            // arrive).
            eprintln!("lab: waiting for the scenario to show (up to 180 s)...");
            let within = std::time::Duration::from_secs(180);
            for not_shown in scenarios::wait_shown(&lab, scenario.expect, within) {
                eprintln!("lab: does not show yet: {not_shown}");
            }
            let config = lab.labctl_config().to_owned();
            let kubeconfig = lab.labctl_kubeconfig().to_owned();
            lab.keep()?;
            eprintln!(
                "\nlab: broken and running. What is wrong? Try:\n  export KUBECONFIG={}\n  cargo run -q -p labctl -- --config {} diagnose pvc\n  cargo run -q -p labctl -- --config {} verify\nthen `cargo lab down`.",
                kubeconfig.display(),
                config.display(),
                config.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Images(a) => images(&repo, a),
        Cmd::Peers { only, out, score } => {
            use testbed::peers;
            let record = match score {
                Some(file) => serde_json::from_str(&std::fs::read_to_string(&file)?)?,
                None => {
                    testbed::process::stop_all_on_interrupt()?;
                    install_deps(&repo)?;
                    let mut command = "cargo lab peers".to_owned();
                    if !only.is_empty() {
                        command.push_str(&format!(" --only {}", only.join(" ")));
                    }
                    let out = if out.is_absolute() {
                        out
                    } else {
                        repo.join(out)
                    };
                    let record = peers::run(&repo, &dir, &only, &command, &out)?;
                    eprintln!("lab: peers: raw results in {}", out.display());
                    record
                }
            };
            print!("{}\n{}", peers::rules(), peers::table(&record));
            let unexplained = peers::unexplained(&record);
            if !unexplained.is_empty() {
                println!("\nUnexplained errors:\n{unexplained}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Fuzz {
            seed,
            cases,
            max_faults,
            only,
            settle,
            time_budget,
            no_shrink,
            case,
            list,
            out,
            score,
        } => {
            use testbed::fuzz;
            if list {
                let pool = fuzz::chosen(&only)?;
                let (planned, skipped) = fuzz::cases(seed, cases, max_faults, &pool)?;
                print!("{}\n{}\n", fuzz::grammar_table(), fuzz::rules());
                for (i, c) in planned.iter().enumerate() {
                    println!("case-{:02} {}", i + 1, c.join(" + "));
                }
                println!("({skipped} draw(s) skipped as incompatible)");
                return Ok(ExitCode::SUCCESS);
            }
            let record: fuzz::FuzzRecord = match score {
                Some(file) => serde_json::from_str(&std::fs::read_to_string(&file)?)?,
                None => {
                    testbed::process::stop_all_on_interrupt()?;
                    install_deps(&repo)?;
                    let mut command = format!(
                        "cargo lab fuzz --seed {seed} --cases {cases} --max-faults {max_faults}"
                    );
                    if !only.is_empty() {
                        command.push_str(&format!(" --only {}", only.join(" ")));
                    }
                    if !case.is_empty() {
                        command = format!("cargo lab fuzz --case {}", case.join(" "));
                    }
                    let out = if out.is_absolute() {
                        out
                    } else {
                        repo.join(out)
                    };
                    let options = fuzz::Options {
                        case,
                        seed,
                        cases,
                        max_faults,
                        only,
                        settle,
                        budget: time_budget,
                        shrink: !no_shrink,
                        command,
                        out: out.clone(),
                    };
                    let record = fuzz::run(&repo, &dir, &options)?;
                    eprintln!("lab: fuzz: raw results in {}", out.display());
                    record
                }
            };
            print!("{}", fuzz::table(&record));
            let unexplained = testbed::peers::unexplained(&record.run);
            if !unexplained.is_empty() {
                println!("\nUnexplained errors:\n{unexplained}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Down => {
            let stopped = lab::down(&dir)?;
            eprintln!("lab: stopped {stopped} process(es)");
            Ok(ExitCode::SUCCESS)
        }
    }
}
