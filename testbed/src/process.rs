//! Processes the lab starts: each one leads a process group of its own, and is stopped with
//! everything it started (the group) when its guard drops.

use std::fs::File;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::poll::Look;

/// Pids of every process started and not yet stopped or detached, so that an interrupt can
/// stop them all (see [`stop_all_on_interrupt`]).
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<u32>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// On Ctrl-C or SIGTERM, stop every process this program started (newest first) and exit
/// 130: destructors do not run on a signal, so the guards alone would leave them running.
pub fn stop_all_on_interrupt() -> Result<()> {
    ctrlc::set_handler(|| {
        eprintln!("\nlab: interrupted; stopping every process it started");
        let pids: Vec<u32> = running().iter().rev().copied().collect();
        stop_pids(&pids, Duration::from_secs(5));
        std::process::exit(130);
    })?;
    Ok(())
}

/// A started process; dropping the guard stops it (SIGTERM, then SIGKILL after 5 s).
#[derive(Debug)]
pub struct ProcessGuard {
    pub name: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl ProcessGuard {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open {}", log.display()))?;
        let err = out.try_clone()?;
        // Its own process group: stopping the group stops what the process forked too, and a
        // Ctrl-C in the terminal reaches only the lab, which stops its processes in order.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("start {name} ({:?})", command.get_program()))?;
        running().push(child.id());
        Ok(Self {
            name: name.to_owned(),
            log: log.to_owned(),
            child: Some(child),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Fails with the end of the log if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!(
                "{} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 15)
            );
        }
        Ok(())
    }

    /// Stops the process now, as dropping does.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        running().retain(|p| *p != child.id());
        terminate(child.id());
        let exited = crate::poll::until_true(
            "the process to exit",
            Duration::from_secs(5),
            Duration::from_millis(20),
            || matches!(child.try_wait(), Ok(Some(_))),
        );
        if exited.is_ok() {
            return;
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Lets the process outlive this program (`lab up --keep`); returns its pid.
    pub fn detach(mut self) -> u32 {
        let pid = self.pid();
        running().retain(|p| *p != pid);
        self.child = None;
        pid
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM to every pid's process group (in order), then SIGKILL to those still alive after
/// `grace` (kube-apiserver's graceful shutdown can outlast etcd and never end).
pub fn stop_pids(pids: &[u32], grace: Duration) {
    for pid in pids {
        terminate(*pid);
    }
    // Those still alive after `grace` are killed below.
    let _ = crate::poll::until_true(
        "the processes to exit",
        grace,
        Duration::from_millis(100),
        || !pids.iter().any(|p| alive(*p)),
    );
    for pid in pids.iter().filter(|p| alive(**p)) {
        signal(*pid, "-KILL");
    }
}

/// Sends SIGTERM to the process group `pid` leads (every lab process leads its own).
pub fn terminate(pid: u32) {
    signal(pid, "-TERM");
}

/// `kill SIGNAL -- -PID` (the group), else the process alone; no libc: `kill` is everywhere
/// and keeps this crate safe code.
fn signal(pid: u32, signal: &str) {
    let group = Command::new("kill")
        .args([signal, "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
    if !group.is_ok_and(|s| s.success()) {
        let _ = Command::new("kill")
            .args([signal, &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// When the process `pid` started, in clock ticks since boot (`/proc/PID/stat`, field 22):
/// with the pid, it names one process; a pid reused after a reboot or a wrap starts later.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A process of a kept lab, as `cargo lab down` finds it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kept {
    pub pid: u32,
    pub start: u64,
}

impl Kept {
    /// `pid` with its start time now; `None` when it is gone.
    pub fn of(pid: u32) -> Option<Kept> {
        Some(Kept {
            pid,
            start: start_time(pid)?,
        })
    }

    /// Whether this very process still runs (not another that got its pid).
    pub fn running(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }
}

/// True while `pid` exists.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A loopback port free for TCP and UDP at the time of the call.
pub fn free_port() -> Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free loopback port found")
}

/// Polls `ready` every 100 ms (with [`crate::poll::until`]) until it returns true, `timeout`
/// passes (error naming `what`), or one of `guards` dies (error with its log).
pub fn wait_until(
    what: &str,
    timeout: Duration,
    guards: &mut [&mut ProcessGuard],
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    crate::poll::until(what, timeout, Duration::from_millis(100), || {
        if ready() {
            return Ok(Look::Ready(()));
        }
        for g in guards.iter_mut() {
            g.check_alive()?;
        }
        Ok(Look::NotYet(None))
    })
}

/// The last `n` lines of a log file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a command to completion; fails with its stderr.
pub fn run(command: &mut Command) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {:?}", command.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} {:?} failed ({}): {}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_kept_process_is_found_by_pid_and_start_time() {
        let mut guard = ProcessGuard::spawn(
            "sleep",
            {
                let mut c = Command::new("sleep");
                c.arg("30");
                c
            },
            &std::env::temp_dir().join(format!("kept-{}.log", std::process::id())),
        )
        .unwrap();
        let kept = Kept::of(guard.pid()).unwrap();
        assert!(kept.running());
        // Same pid, another start: a process that got the pid later.
        let other = Kept {
            start: kept.start + 1,
            ..kept
        };
        assert!(!other.running());
        guard.stop();
        assert!(!kept.running());
        let _ = std::fs::remove_file(&guard.log);
    }

    #[test]
    fn stopping_the_group_stops_what_the_process_forked() {
        let log = std::env::temp_dir().join(format!("group-{}.log", std::process::id()));
        let mut c = Command::new("sh");
        // A child that would outlive its parent if only the parent were signalled.
        c.args(["-c", "sleep 30 & echo $!; wait"]);
        let mut guard = ProcessGuard::spawn("sh", c, &log).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let child = loop {
            if let Ok(pid) = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .trim()
                .parse::<u32>()
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "the child's pid never appeared");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(alive(child));
        guard.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(child) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // A zombie until its reaper notices is gone for our purposes.
        let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        assert!(!alive(child) || state.contains(") Z"), "{state}");
        let _ = std::fs::remove_file(&log);
    }
}
