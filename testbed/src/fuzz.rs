//! `cargo lab fuzz`: composed faults on the real lab, scored for labctl, k8sgpt and popeye.
//!
//! The grammar is data: every fault of [`GRAMMAR`] names the scenario that delivers it (the
//! lab's own in `scenarios.rs`, or one of its `FUZZ_SCENARIOS`, faults only the fuzzer injects),
//! what it occupies ([`Slot`]s: two faults that occupy one slot cannot coexist, one would
//! hide or undo the other), and its rank (the order faults of one case are delivered in).
//! What labctl must report is the scenario's expectation; what a peer must say is its
//! [`Fault`] rule (`peers.rs`). A seed gives the case list ([`cases`]); each case is run with
//! the peers' harness (`peers::run_case_with`: deliver, wait bounded, run the tools, undo,
//! wait healthy) and scored by the peers' rule. A case labctl gets wrong is shrunk
//! ([`shrink`]) to a minimal list of faults by running the smaller cases on the lab.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::lab::Lab;
use crate::peers::{self, Case, CaseOptions, Fault, Level, Record, Tool, Tools};
use crate::scenarios::{FUZZ_SCENARIOS, Scenario};

/// What a fault takes over. Two faults that occupy the same slot are not composed: they act
/// on one object (one would mask or overwrite the other), or one takes away what the other
/// needs to show (a node gone hides every pod fault on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Slot {
    /// Pi-hole's record.
    Dns,
    /// The data-plane checks of verify (DNS, then HTTP through the ingress): a fault that
    /// must be seen there cannot share them with another that stops them earlier.
    DataPlane,
    /// The Ingress object.
    Ingress,
    /// The Service object.
    Service,
    /// inference's pod: it can be broken one way at a time.
    Inference,
    /// The trainer's runs.
    Trainer,
    /// The pins of the overlay's replacements (a commit takes a kind's pin out of them once).
    Pins,
    /// The pin node itself.
    Node,
    /// The model volume's claim.
    Claim,
    /// The lab's registry and the node's trust in it.
    Registry,
    /// A first install (the namespace removed and the Application applied again).
    Install,
}

use Slot::*;

/// One fault of the grammar.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Grammar {
    /// The scenario that delivers it (and the name of its [`Fault`] rule).
    pub name: &'static str,
    pub slots: &'static [Slot],
    /// Delivery order within a case: 0 needs a healthy lab to be delivered (it waits for a
    /// clean sync or a running pod), 1 any other, 2 a first install (it re-creates the
    /// namespace from what Git holds, the earlier commits included).
    pub rank: u8,
}

const fn g(name: &'static str, slots: &'static [Slot], rank: u8) -> Grammar {
    Grammar { name, slots, rank }
}

/// A first install that leaves no pod of the pipeline able to run: installed anew without a
/// model (the claim binds in wave 1 with inference, so wave 1 is applied).
const FIRST_INSTALL: &[Slot] = &[Install, Claim, Inference, Trainer];
/// A first install whose claim never becomes healthy in wave 0: Argo CD waits for it and
/// never applies wave 1 (the Deployment, the CronJob, the Service and the Ingress), so a
/// commit that breaks the Service or the Ingress never reaches the cluster.
const HOLDS_BACK_WAVE_1: &[Slot] = &[Install, Claim, Inference, Trainer, Service, Ingress];
/// A fault of the pin node: every pod on it.
const NODE: &[Slot] = &[Node, Claim, Inference, Trainer];

/// Every fault the fuzzer composes: the lab's 24 scenarios and the fuzzer's own.
pub const GRAMMAR: &[Grammar] = &[
    g("volume-node-differs", &[Pins, Inference, Trainer], 1),
    g("consumers-pinned-apart", &[Pins, Trainer], 1),
    g("pv-node-deleted", NODE, 1),
    g("pv-node-notready", NODE, 1),
    g("node-selector-typo", &[Pins, Inference], 1),
    g("storageclass-missing", HOLDS_BACK_WAVE_1, 2),
    g("provisioner-stopped", HOLDS_BACK_WAVE_1, 2),
    g("rwx-requested", HOLDS_BACK_WAVE_1, 2),
    g("pvc-deleted-in-use", &[Claim, Inference, Trainer], 1),
    g("sync-wave-deadlock", HOLDS_BACK_WAVE_1, 2),
    g("cronjob-never-run", HOLDS_BACK_WAVE_1, 2),
    g("service-selector-typo", &[Service], 0),
    g("ingress-other-host", &[Ingress, DataPlane], 0),
    g("image-tag-missing", &[Inference], 1),
    g("image-arm64-only", &[Inference], 1),
    g("registry-wrong-credentials", &[Inference, Registry], 1),
    g("registry-ca-untrusted", &[Inference, Registry], 1),
    g("registry-plain-http", &[Inference, Registry], 1),
    g("registry-stopped", &[Inference, Registry], 1),
    g("trainer-bad-data", &[Trainer], 0),
    g("inference-oom", &[Inference], 0),
    g("inference-command-typo", &[Inference], 1),
    g("no-model-published", FIRST_INSTALL, 2),
    g("pihole-missing-record", &[Dns, DataPlane], 1),
    // The fuzzer's own.
    g("service-target-port-wrong", &[Service], 1),
    g("ingress-class-wrong", &[Ingress], 1),
    g("inference-cpu-too-big", &[Inference], 1),
    g("inference-configmap-missing", &[Inference], 1),
    g("pin-node-tainted", NODE, 1),
];

/// A fault of the grammar by name.
pub fn grammar(name: &str) -> Option<&'static Grammar> {
    GRAMMAR.iter().find(|f| f.name == name)
}

/// Whether two faults can be composed into one case.
pub fn compatible(a: &Grammar, b: &Grammar) -> bool {
    a.name != b.name && !a.slots.iter().any(|s| b.slots.contains(s))
}

/// Whether a case's faults (by name) can all coexist under the grammar's rules. A recorded
/// case drawn under an earlier rule may not.
pub fn composable(faults: &[String]) -> bool {
    let g: Vec<Option<&Grammar>> = faults.iter().map(|f| grammar(f)).collect();
    g.iter().enumerate().all(|(i, a)| {
        g[i + 1..].iter().all(|b| match (a, b) {
            (Some(a), Some(b)) => compatible(a, b),
            _ => false,
        })
    })
}

/// A small deterministic generator (splitmix64): the same seed gives the same cases on every
/// machine, without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The faults to draw from: the whole grammar, or those named (unknown names are an error).
pub fn chosen(only: &[String]) -> Result<Vec<&'static Grammar>> {
    if only.is_empty() {
        return Ok(GRAMMAR.iter().collect());
    }
    only.iter()
        .map(|n| {
            grammar(n).with_context(|| {
                format!(
                    "no fault {n:?}; the grammar: {}",
                    GRAMMAR
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect()
}

/// The case list of a seed: `n` cases of 1 to `max_faults` faults of `pool`. Each case draws
/// its size, then its faults without repetition; a draw whose faults cannot all coexist is
/// skipped and the faults drawn again (the size stays, so composed cases are as frequent as
/// single ones; a size no draw can fill, with `--only` faults that never compose, is made
/// smaller). Each case's faults in delivery order (rank, then grammar order). Also returns
/// how many draws were skipped.
pub fn cases(
    seed: u64,
    n: usize,
    max_faults: usize,
    pool: &[&'static Grammar],
) -> Result<(Vec<Vec<&'static str>>, usize)> {
    anyhow::ensure!(!pool.is_empty() && max_faults > 0, "no faults to draw from");
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut skipped = 0;
    let most = max_faults.min(pool.len());
    while out.len() < n {
        let mut size = 1 + rng.below(most);
        let mut picked: Vec<&Grammar> = Vec::new();
        let mut attempts = 0;
        loop {
            picked.clear();
            while picked.len() < size {
                let f = pool[rng.below(pool.len())];
                if !picked.iter().any(|p| p.name == f.name) {
                    picked.push(f);
                }
            }
            let fits = picked
                .iter()
                .enumerate()
                .all(|(i, a)| picked[i + 1..].iter().all(|b| compatible(a, b)));
            if fits {
                break;
            }
            skipped += 1;
            attempts += 1;
            if attempts % 1000 == 0 {
                if size == 1 {
                    bail!("no case could be drawn from these faults");
                }
                size -= 1;
            }
        }
        picked.sort_by_key(|f| (f.rank, GRAMMAR.iter().position(|x| x.name == f.name)));
        out.push(picked.iter().map(|f| f.name).collect());
    }
    Ok((out, skipped))
}

/// One case of exactly these faults (a reproducer), in delivery order; they must coexist.
pub fn one_case(faults: &[String]) -> Result<Vec<&'static str>> {
    let mut picked = chosen(faults)?;
    anyhow::ensure!(
        composable(faults),
        "these faults cannot coexist: {}",
        faults.join(" + ")
    );
    picked.sort_by_key(|f| (f.rank, GRAMMAR.iter().position(|x| x.name == f.name)));
    Ok(picked.iter().map(|f| f.name).collect())
}

/// Shrinks a wrong case: drops its faults one at a time, keeping a drop whenever the smaller
/// case is still wrong, until no single fault can go. `still_wrong` runs a smaller case.
pub fn shrink<'a, E>(
    faults: &[&'a str],
    mut still_wrong: impl FnMut(&[&'a str]) -> Result<bool, E>,
) -> Result<Vec<&'a str>, E> {
    let mut current = faults.to_vec();
    let mut i = 0;
    while current.len() > 1 && i < current.len() {
        let mut smaller = current.clone();
        smaller.remove(i);
        if still_wrong(&smaller)? {
            current = smaller;
        } else {
            i += 1;
        }
    }
    Ok(current)
}

/// Whether labctl got a case wrong: a fault not found at error level, or nothing at error
/// level on the broken lab (silent). `healthy`: the healthy lab's case, the baseline.
pub fn labctl_wrong(case: &Case, healthy: Option<&Case>) -> bool {
    let faults: Vec<&Fault> = case.faults.iter().filter_map(|f| peers::fault(f)).collect();
    let baseline = healthy
        .map(|h| peers::items(Tool::Labctl, h))
        .unwrap_or_default();
    let s = peers::score(Tool::Labctl, case, &faults, &baseline);
    s.silent || s.found.iter().any(|(_, l)| *l != Some(Level::Error))
}

/// A wrong case and its minimal reproducer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Miss {
    pub case: String,
    pub faults: Vec<String>,
    /// The smallest list of faults found that labctl still gets wrong.
    pub minimal: Vec<String>,
    /// The smaller cases run while shrinking.
    pub tried: Vec<Case>,
    /// Where the minimal case's recording was written (`LAB_RECORD=1`).
    #[serde(default)]
    pub recording: Option<String>,
}

/// A fuzz run, as written by `cargo lab fuzz --out`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FuzzRecord {
    pub seed: u64,
    pub max_faults: usize,
    /// The cases the seed gave (the run may have stopped before the end).
    pub planned: Vec<Vec<String>>,
    /// Draws skipped because their faults could not coexist.
    pub skipped_draws: usize,
    /// The cases run: the healthy lab first, then `case-01`… (the raw record, as peers').
    pub run: Record,
    pub misses: Vec<Miss>,
    /// Why the run ended before its last case, if it did.
    #[serde(default)]
    pub stopped: Option<String>,
}

/// What `cargo lab fuzz` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub cases: usize,
    pub max_faults: usize,
    pub only: Vec<String>,
    /// How long a case's faults may take to show (the peers wait 180 s).
    pub settle: Duration,
    /// Stop starting cases (and shrinking) after this long.
    pub budget: Option<Duration>,
    pub shrink: bool,
    /// Run exactly this one case (a reproducer) instead of the seed's.
    pub case: Vec<String>,
    pub command: String,
    pub out: PathBuf,
}

/// A case's name: `case-07`.
fn case_name(i: usize) -> String {
    format!("case-{:02}", i + 1)
}

/// Brings the lab up once, runs the healthy lab and every case of the seed (shrinking the
/// ones labctl gets wrong), writing the record after each, and returns it.
pub fn run(repo: &Path, dir: &Path, o: &Options) -> Result<FuzzRecord> {
    let (planned, skipped_draws) = if o.case.is_empty() {
        let pool = chosen(&o.only)?;
        cases(o.seed, o.cases, o.max_faults, &pool)?
    } else {
        (vec![one_case(&o.case)?], 0)
    };
    for case in &planned {
        for f in case {
            anyhow::ensure!(
                peers::scenario(f).is_some() && peers::fault(f).is_some(),
                "fault {f} has no scenario or rule"
            );
        }
    }
    let started = Instant::now();
    let tools = Tools::prepare(repo, dir)?;
    let mut versions = tools.peers.versions.clone();
    versions.insert("labctl".into(), env!("CARGO_PKG_VERSION").into());
    let mut record = FuzzRecord {
        seed: o.seed,
        max_faults: o.max_faults,
        planned: planned
            .iter()
            .map(|c| c.iter().map(|f| (*f).to_owned()).collect())
            .collect(),
        skipped_draws,
        run: Record {
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            machine: peers::machine(),
            command: o.command.clone(),
            versions,
            cases: Vec::new(),
        },
        misses: Vec::new(),
        stopped: None,
    };
    if let Some(parent) = o.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let save = |record: &FuzzRecord| -> Result<()> {
        std::fs::write(&o.out, serde_json::to_string_pretty(record)?)
            .with_context(|| format!("write {}", o.out.display()))
    };
    let recording = std::env::var_os("LAB_RECORD").is_some();
    let snapshots = o.out.with_extension("snapshots");
    let snapshot = |name: &str| recording.then(|| snapshots.join(format!("{name}.json")));
    let options = |name: &str| CaseOptions {
        show: o.settle,
        judged_only: true,
        snapshot: snapshot(name),
        after_each: Some(argocd_caught_up),
    };
    let over_budget = || o.budget.is_some_and(|b| started.elapsed() > b);

    let up = Instant::now();
    let mut lab = Lab::up(repo, dir)?;
    eprintln!("lab: fuzz: up in {:.0} s", up.elapsed().as_secs_f64());
    let unhealed = peers::wait_healthy(&lab);
    record.run.cases.push(Case {
        name: "healthy".into(),
        faults: Vec::new(),
        apply_error: None,
        not_shown: Vec::new(),
        settle_secs: 0.0,
        runs: tools.run_all(&lab)?,
        unhealed,
        total_secs: 0.0,
    });
    save(&record)?;
    for (i, faults) in planned.iter().enumerate() {
        if over_budget() {
            record.stopped = Some(format!(
                "the time budget ran out after {} of {} cases",
                i,
                planned.len()
            ));
            save(&record)?;
            break;
        }
        let name = case_name(i);
        let scenarios: Vec<&Scenario> = faults.iter().filter_map(|f| peers::scenario(f)).collect();
        eprintln!("lab: fuzz: {name}: {}", faults.join(" + "));
        let case = peers::run_case_with(&mut lab, &tools, &name, &scenarios, &options(&name))?;
        let healthy = record.run.cases.first().cloned();
        let wrong = labctl_wrong(&case, healthy.as_ref());
        eprintln!(
            "lab: fuzz: {name}: settled in {:.0} s, {:.0} s in all{}{}",
            case.settle_secs,
            case.total_secs,
            if wrong { "; labctl wrong" } else { "" },
            if case.unhealed.is_empty() {
                String::new()
            } else {
                format!("; still unhealthy: {:?}", case.unhealed)
            }
        );
        record.run.cases.push(case);
        save(&record)?;
        if !wrong {
            continue;
        }
        let mut tried: Vec<Case> = Vec::new();
        let minimal: Vec<&str> = if o.shrink && faults.len() > 1 {
            let mut n = 0;
            shrink(faults, |smaller| -> Result<bool> {
                if over_budget() {
                    // Out of time: keep what is known to be wrong.
                    return Ok(false);
                }
                n += 1;
                let sub = format!("{name}-shrink-{n}");
                eprintln!("lab: fuzz: {sub}: {}", smaller.join(" + "));
                let scenarios: Vec<&Scenario> =
                    smaller.iter().filter_map(|f| peers::scenario(f)).collect();
                let c = peers::run_case_with(&mut lab, &tools, &sub, &scenarios, &options(&sub))?;
                let wrong = labctl_wrong(&c, healthy.as_ref());
                tried.push(c);
                Ok(wrong)
            })?
        } else {
            faults.clone()
        };
        eprintln!(
            "lab: fuzz: {name} (seed {}): minimal: cargo lab fuzz --case {}",
            o.seed,
            minimal.join(" ")
        );
        let mut miss = Miss {
            case: name.clone(),
            faults: faults.iter().map(|f| (*f).to_owned()).collect(),
            minimal: minimal.iter().map(|f| (*f).to_owned()).collect(),
            tried,
            recording: None,
        };
        if recording {
            miss.recording = record_miss(repo, &snapshots, &miss, o.seed)?;
        }
        record.misses.push(miss);
        save(&record)?;
    }
    drop(lab);
    Ok(record)
}

/// After each fault of a case: Argo CD has compared the Application with the head of the
/// lab's Git (up to a minute, see [`Lab::wait_compared_with_head`]). Best effort: a first
/// install's deleted Application, or a sync that waits forever, is the fault's own business.
fn argocd_caught_up(lab: &mut Lab) {
    let _ = lab.wait_compared_with_head(Duration::from_secs(60));
}

/// Copies the minimal case's snapshot into labctl's recordings as `fuzz-<faults>.json`, and
/// its expectation into `labctl/tests/fixtures/lab-fuzz.json` (kept outside `lab/`, whose
/// every file is a recording).
fn record_miss(repo: &Path, snapshots: &Path, miss: &Miss, seed: u64) -> Result<Option<String>> {
    let run = if miss.minimal == miss.faults {
        miss.case.clone()
    } else {
        match miss.tried.iter().rev().find(|c| c.faults == miss.minimal) {
            Some(c) => c.name.clone(),
            None => return Ok(None),
        }
    };
    let from = snapshots.join(format!("{run}.json"));
    if !from.exists() {
        return Ok(None);
    }
    let name = format!("fuzz-{}", miss.minimal.join("+"));
    let to = repo.join(format!("labctl/tests/fixtures/lab/{name}.json"));
    std::fs::copy(&from, &to).with_context(|| format!("copy {}", from.display()))?;
    let expectations = repo.join("labctl/tests/fixtures/lab-fuzz.json");
    let mut all: BTreeMap<String, serde_json::Value> = std::fs::read_to_string(&expectations)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let ids: Vec<&str> = miss
        .minimal
        .iter()
        .filter_map(|f| peers::scenario(f))
        .flat_map(|s| peers::expected_ids(s.expect))
        .collect();
    all.insert(
        name.clone(),
        serde_json::json!({"seed": seed, "faults": miss.minimal, "expect": ids}),
    );
    std::fs::write(&expectations, serde_json::to_string_pretty(&all)? + "\n")?;
    Ok(Some(format!("labctl/tests/fixtures/lab/{name}.json")))
}

/// The grammar in Markdown: each fault, its slots, rank, and the rules it is scored by.
pub fn grammar_table() -> String {
    let mut out = String::from("| fault | occupies | rank | delivered by |\n|---|---|---|---|\n");
    for f in GRAMMAR {
        let slots: Vec<String> = f.slots.iter().map(|s| format!("{s:?}")).collect();
        let new = FUZZ_SCENARIOS.iter().any(|s| s.name == f.name);
        let description = peers::scenario(f.name).map_or("", |s| s.description);
        out.push_str(&format!(
            "| {}{} | {} | {} | {} |\n",
            f.name,
            if new { " (fuzz only)" } else { "" },
            slots.join(", "),
            f.rank,
            description
        ));
    }
    out
}

/// The peers' rule of every fault of the grammar.
pub fn rules() -> String {
    let faults: Vec<&Fault> = GRAMMAR
        .iter()
        .filter_map(|f| peers::fault(f.name))
        .collect();
    peers::rules_of(&faults)
}

/// The record restricted to the healthy case and the broken cases of `size` faults.
fn of_size(record: &Record, size: usize) -> Record {
    Record {
        cases: record
            .cases
            .iter()
            .filter(|c| c.faults.is_empty() || c.faults.len() == size)
            .cloned()
            .collect(),
        ..record.clone()
    }
}

/// The fuzz run's tables in Markdown: every case, then per fault and overall, single faults
/// and pairs apart, then the misses.
pub fn table(f: &FuzzRecord) -> String {
    // Cases the grammar's rules no longer compose (drawn under an earlier rule) are shown,
    // and left out of the totals.
    let kept = Record {
        cases: f
            .run
            .cases
            .iter()
            .filter(|c| c.faults.is_empty() || composable(&c.faults))
            .cloned()
            .collect(),
        ..f.run.clone()
    };
    let left_out: Vec<&Case> = f
        .run
        .cases
        .iter()
        .filter(|c| !c.faults.is_empty() && !composable(&c.faults))
        .collect();
    let all_scores = peers::score_record(&f.run);
    let record = &kept;
    let scores = peers::score_record(record);
    let mut out = String::new();
    // Per case.
    out.push_str(
        "| case | faults | settle | labctl | k8sgpt | popeye |\n|---|---|---|---|---|---|\n",
    );
    for case in f.run.cases.iter().filter(|c| !c.faults.is_empty()) {
        let mut row = format!(
            "| {} | {}{} | {:.0} s{} ",
            case.name,
            case.faults.join(" + "),
            if composable(&case.faults) {
                ""
            } else {
                " (left out)"
            },
            case.settle_secs,
            if case.not_shown.is_empty() {
                ""
            } else {
                " (bound hit)"
            }
        );
        for tool in Tool::ALL {
            let Some(s) = all_scores
                .iter()
                .find(|s| s.tool == tool && s.case == case.name)
            else {
                row.push_str("| – ");
                continue;
            };
            let verdicts: Vec<&str> = s
                .found
                .iter()
                .map(|(_, l)| match l {
                    Some(Level::Error) => "found",
                    Some(_) => "warning",
                    None => "missed",
                })
                .collect();
            row.push_str(&format!(
                "| {}{}; {}/{} unexplained ",
                verdicts.join(", "),
                if s.silent { ", **silent**" } else { "" },
                s.unexplained.len(),
                s.errors
            ));
        }
        out.push_str(&row);
        out.push_str("|\n");
    }
    // Per fault: found / injected, single faults and in pairs.
    let mut per: BTreeMap<(&str, usize, Tool), (usize, usize)> = BTreeMap::new();
    for s in &scores {
        let Some(case) = record.cases.iter().find(|c| c.name == s.case) else {
            continue;
        };
        let size = case.faults.len().min(2);
        for (fault, level) in &s.found {
            let Some(g) = grammar(fault) else { continue };
            let e = per.entry((g.name, size, s.tool)).or_default();
            e.1 += 1;
            if *level == Some(Level::Error) {
                e.0 += 1;
            }
        }
    }
    out.push_str("\n| fault | alone: labctl | k8sgpt | popeye | composed: labctl | k8sgpt | popeye |\n|---|---|---|---|---|---|---|\n");
    for g in GRAMMAR {
        let cell = |size: usize, tool: Tool| match per.get(&(g.name, size, tool)) {
            Some((found, n)) => format!("{found}/{n}"),
            None => "–".to_owned(),
        };
        if Tool::ALL
            .iter()
            .all(|t| !per.contains_key(&(g.name, 1, *t)) && !per.contains_key(&(g.name, 2, *t)))
        {
            continue;
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            g.name,
            cell(1, Tool::Labctl),
            cell(1, Tool::K8sgpt),
            cell(1, Tool::Popeye),
            cell(2, Tool::Labctl),
            cell(2, Tool::K8sgpt),
            cell(2, Tool::Popeye),
        ));
    }
    // Overall, by case size.
    out.push_str("\n| cases | tool | recall | with warnings | precision | silent | median time |\n|---|---|---|---|---|---|---|\n");
    let sizes: Vec<usize> = {
        let mut v: Vec<usize> = record
            .cases
            .iter()
            .map(|c| c.faults.len())
            .filter(|n| *n > 0)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    for size in sizes {
        let sub = of_size(record, size);
        let n = sub.cases.iter().filter(|c| !c.faults.is_empty()).count();
        let sub_scores = peers::score_record(&sub);
        for t in peers::totals(&sub, &sub_scores) {
            out.push_str(&format!(
                "| {n} × {size} fault{} | {} | {:.2} ({}/{}) | {:.2} ({}/{}) | {:.2} ({}/{}) | {} | {:.1} s |\n",
                if size == 1 { "" } else { "s" },
                t.tool.name(),
                t.recall(),
                t.found,
                t.faults,
                t.recall_with_warnings(),
                t.found + t.warned,
                t.faults,
                t.precision(),
                t.errors - t.unexplained,
                t.errors,
                t.silent,
                t.median_secs
            ));
        }
    }
    // Time.
    let mut settle: Vec<f64> = f
        .run
        .cases
        .iter()
        .filter(|c| !c.faults.is_empty())
        .map(|c| c.settle_secs)
        .collect();
    let mut total: Vec<f64> = f
        .run
        .cases
        .iter()
        .filter(|c| !c.faults.is_empty())
        .map(|c| c.total_secs)
        .collect();
    let bound = f
        .run
        .cases
        .iter()
        .filter(|c| !c.not_shown.is_empty())
        .count();
    let unhealed = f
        .run
        .cases
        .iter()
        .filter(|c| !c.faults.is_empty() && !c.unhealed.is_empty())
        .count();
    out.push_str(&format!(
        "\n{} case(s) run of {} planned (seed {}, {} draw(s) skipped as incompatible){}; settle median {:.0} s (max {:.0} s, the bound hit in {bound}); a whole case median {:.0} s (max {:.0} s); not healthy again after {unhealed}.\n",
        f.run.cases.iter().filter(|c| !c.faults.is_empty()).count(),
        f.planned.len(),
        f.seed,
        f.skipped_draws,
        f.stopped
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default(),
        median(&mut settle),
        settle.iter().copied().fold(0.0, f64::max),
        median(&mut total),
        total.iter().copied().fold(0.0, f64::max),
    ));
    if !left_out.is_empty() {
        out.push_str(&format!(
            "\nLeft out of the totals: {} case(s) whose faults the grammar's rules no longer compose (drawn under an earlier rule): {}.\n",
            left_out.len(),
            left_out
                .iter()
                .map(|c| format!("{} ({})", c.name, c.faults.join(" + ")))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !f.misses.is_empty() {
        out.push_str("\nlabctl wrong (minimal reproducers):\n\n");
        for m in &f.misses {
            out.push_str(&format!(
                "- {} (seed {}): {} → `cargo lab fuzz --case {}`{}\n",
                m.case,
                f.seed,
                m.faults.join(" + "),
                m.minimal.join(" "),
                m.recording
                    .as_deref()
                    .map(|r| format!(", recorded in {r}"))
                    .unwrap_or_default()
            ));
        }
    }
    out
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{LABCTL_DIAGNOSE, LABCTL_VERIFY, ToolRun};
    use crate::scenarios::SCENARIOS;
    use crate::topology::NAMESPACE;

    #[test]
    fn every_fault_of_the_grammar_has_a_scenario_and_a_rule_and_every_scenario_is_in_it() {
        for f in GRAMMAR {
            assert!(peers::scenario(f.name).is_some(), "{}", f.name);
            assert!(peers::fault(f.name).is_some(), "{}", f.name);
            assert!(!f.slots.is_empty() && f.rank <= 2, "{}", f.name);
        }
        for s in SCENARIOS.iter().chain(FUZZ_SCENARIOS) {
            assert!(
                grammar(s.name).is_some(),
                "{} is not in the grammar",
                s.name
            );
        }
        for s in FUZZ_SCENARIOS {
            assert!(
                crate::scenarios::find(s.name).is_none(),
                "{} shadows a lab scenario",
                s.name
            );
        }
        let mut names: Vec<&str> = GRAMMAR.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), GRAMMAR.len(), "a fault twice in the grammar");
    }

    #[test]
    fn compatibility_is_symmetric_and_every_fault_composes_with_some_other() {
        for a in GRAMMAR {
            assert!(!compatible(a, a), "{} with itself", a.name);
            assert!(
                GRAMMAR.iter().any(|b| compatible(a, b)),
                "{} composes with nothing",
                a.name
            );
            for b in GRAMMAR {
                assert_eq!(compatible(a, b), compatible(b, a), "{} {}", a.name, b.name);
            }
        }
        let c = |a: &str, b: &str| compatible(grammar(a).unwrap(), grammar(b).unwrap());
        // Two ways of breaking inference's one pod.
        assert!(!c("image-tag-missing", "inference-oom"));
        // A node gone hides every pod fault on it.
        assert!(!c("pv-node-deleted", "inference-command-typo"));
        // Both take the pins out of the overlay's replacements.
        assert!(!c("volume-node-differs", "node-selector-typo"));
        // No DNS, no HTTP check: the other host would not be seen through the ingress.
        assert!(!c("pihole-missing-record", "ingress-other-host"));
        // A claim that never binds in wave 0 holds back wave 1: the Ingress and the Service
        // a commit breaks are never applied.
        assert!(!c("sync-wave-deadlock", "ingress-class-wrong"));
        assert!(!c("cronjob-never-run", "service-target-port-wrong"));
        assert!(c("no-model-published", "service-selector-typo"));
        assert!(composable(&[
            "image-tag-missing".into(),
            "pihole-missing-record".into()
        ]));
        assert!(!composable(&[
            "rwx-requested".into(),
            "ingress-other-host".into()
        ]));
        assert!(!composable(&[
            "no-such-fault".into(),
            "pihole-missing-record".into()
        ]));
        // Independent objects compose.
        assert!(c("image-tag-missing", "service-selector-typo"));
        assert!(c("storageclass-missing", "pihole-missing-record"));
        assert!(c("trainer-bad-data", "inference-command-typo"));
        assert!(c("ingress-class-wrong", "pihole-missing-record"));
    }

    #[test]
    fn the_same_seed_gives_the_same_cases() {
        let pool: Vec<&Grammar> = GRAMMAR.iter().collect();
        let (a, skipped_a) = cases(1, 60, 2, &pool).unwrap();
        let (b, skipped_b) = cases(1, 60, 2, &pool).unwrap();
        assert_eq!((a.clone(), skipped_a), (b, skipped_b));
        assert_eq!(a.len(), 60);
        let (other, _) = cases(2, 60, 2, &pool).unwrap();
        assert_ne!(a, other);
        // The generator itself, pinned: a change to it changes every published run.
        let mut rng = Rng::new(1);
        assert_eq!(rng.next_u64(), 0x910a_2dec_8902_5cc1);
    }

    #[test]
    fn cases_are_compatible_ordered_and_of_the_sizes_asked() {
        let pool: Vec<&Grammar> = GRAMMAR.iter().collect();
        let (all, skipped) = cases(7, 200, 2, &pool).unwrap();
        assert!(skipped > 0, "some draws must have been incompatible");
        let mut sizes = [0; 3];
        for case in &all {
            sizes[case.len()] += 1;
            let faults: Vec<&Grammar> = case.iter().map(|f| grammar(f).unwrap()).collect();
            for (i, a) in faults.iter().enumerate() {
                for b in &faults[i + 1..] {
                    assert!(compatible(a, b), "{case:?}");
                    assert!(a.rank <= b.rank, "{case:?} out of delivery order");
                }
            }
        }
        assert_eq!(sizes[0], 0);
        assert!(sizes[1] > 0 && sizes[2] > 0, "{sizes:?}");
        // One fault at most: only single faults.
        let (singles, _) = cases(7, 20, 1, &pool).unwrap();
        assert!(singles.iter().all(|c| c.len() == 1));
        // `--only` restricts the grammar; faults that never compose give single faults.
        let only = chosen(&["image-tag-missing".into(), "inference-oom".into()]).unwrap();
        let (restricted, _) = cases(3, 10, 2, &only).unwrap();
        assert!(
            restricted
                .iter()
                .all(|c| c.len() == 1 && (c[0] == "image-tag-missing" || c[0] == "inference-oom"))
        );
        assert!(chosen(&["no-such-fault".into()]).is_err());
        // A reproducer: exactly its faults, in delivery order.
        assert_eq!(
            one_case(&["inference-command-typo".into(), "trainer-bad-data".into()]).unwrap(),
            ["trainer-bad-data", "inference-command-typo"]
        );
        assert!(one_case(&["image-tag-missing".into(), "inference-oom".into()]).is_err());
    }

    #[test]
    fn shrinking_drops_what_is_not_needed_to_stay_wrong() {
        let run = |needed: &'static [&'static str], faults: &[&'static str]| {
            let mut calls = 0;
            let minimal = shrink(faults, |smaller| -> Result<bool, ()> {
                calls += 1;
                Ok(needed.iter().all(|n| smaller.contains(n)))
            })
            .unwrap();
            (minimal, calls)
        };
        assert_eq!(run(&["b"], &["a", "b", "c"]), (vec!["b"], 3));
        assert_eq!(run(&["a", "c"], &["a", "b", "c"]), (vec!["a", "c"], 3));
        // Wrong only as a whole: nothing can go.
        assert_eq!(run(&["a", "b"], &["a", "b"]), (vec!["a", "b"], 2));
        // A single fault is already minimal: nothing is run.
        assert_eq!(run(&["a"], &["a"]), (vec!["a"], 0));
        // An error while running a smaller case stops the shrinking.
        assert_eq!(
            shrink(&["a", "b"], |_| Err::<bool, _>("lab down")),
            Err("lab down")
        );
    }

    fn run_of(doc: serde_json::Value) -> ToolRun {
        ToolRun {
            command: String::new(),
            code: 1,
            secs: 0.5,
            stdout: doc,
            stderr: String::new(),
        }
    }

    fn composed(findings: serde_json::Value, checks: serde_json::Value) -> Case {
        Case {
            name: "case-01".into(),
            faults: vec!["image-tag-missing".into(), "service-selector-typo".into()],
            apply_error: None,
            not_shown: Vec::new(),
            settle_secs: 10.0,
            runs: [
                (
                    LABCTL_DIAGNOSE.to_owned(),
                    run_of(serde_json::json!({ "findings": findings })),
                ),
                (
                    LABCTL_VERIFY.to_owned(),
                    run_of(serde_json::json!({ "checks": checks })),
                ),
            ]
            .into_iter()
            .collect(),
            unhealed: Vec::new(),
            total_secs: 30.0,
        }
    }

    #[test]
    fn a_composed_case_is_scored_fault_by_fault() {
        let pull = serde_json::json!([{"id": "image-pull-failed", "severity": "error",
            "subject": {"kind": "Deployment", "namespace": NAMESPACE, "name": "inference"},
            "summary": "cannot be pulled", "evidence": ["... not found ..."]}]);
        let endpoints = serde_json::json!([{"id": "endpoints-ready", "status": "fail",
            "message": "no ready endpoints", "evidence": []}]);
        // Both faults named: right.
        let both = composed(pull.clone(), endpoints);
        assert!(!labctl_wrong(&both, None));
        let faults: Vec<&Fault> = both.faults.iter().filter_map(|f| peers::fault(f)).collect();
        let s = peers::score(Tool::Labctl, &both, &faults, &[]);
        assert_eq!(
            s.found,
            [
                ("image-tag-missing".to_owned(), Some(Level::Error)),
                ("service-selector-typo".to_owned(), Some(Level::Error))
            ]
        );
        assert_eq!((s.errors, s.unexplained.len()), (2, 0));
        // One of the two missed: wrong, though not silent.
        let one = composed(pull, serde_json::json!([]));
        assert!(labctl_wrong(&one, None));
        // Nothing said: wrong and silent.
        let none = composed(serde_json::json!([]), serde_json::json!([]));
        assert!(labctl_wrong(&none, None));
        assert!(peers::score(Tool::Labctl, &none, &faults, &[]).silent);
        // The tables split single faults from pairs.
        let mut single = composed(serde_json::json!([]), serde_json::json!([]));
        single.name = "case-02".into();
        single.faults = vec!["pihole-missing-record".into()];
        let record = FuzzRecord {
            seed: 1,
            max_faults: 2,
            planned: vec![],
            skipped_draws: 0,
            run: Record {
                date: String::new(),
                machine: String::new(),
                command: String::new(),
                versions: BTreeMap::new(),
                cases: vec![both, single],
            },
            misses: Vec::new(),
            stopped: None,
        };
        let t = table(&record);
        assert!(t.contains("| 1 × 1 fault | labctl | 0.00 (0/1)"), "{t}");
        assert!(t.contains("| 1 × 2 faults | labctl | 1.00 (2/2)"), "{t}");
        assert!(t.contains("| image-tag-missing | – | – | – | 1/1 |"), "{t}");
    }
}
