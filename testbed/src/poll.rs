//! The lab's one poller. Every wait of the lab (a process listening, an object's state, Argo
//! CD catching up, a fault showing) is this loop with its own look and interval, so a timeout
//! reads the same everywhere: what was awaited, for how long, and the last reason it was not
//! there yet.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

/// What one look found.
#[derive(Debug)]
pub enum Look<T> {
    /// Done, with what the wait was for.
    Ready(T),
    /// Not yet; the reason, if the look has one, goes into the timeout's error.
    NotYet(Option<anyhow::Error>),
}

impl Look<()> {
    /// `Ready` when `done`, else `NotYet` without a reason.
    pub fn from_bool(done: bool) -> Look<()> {
        if done {
            Look::Ready(())
        } else {
            Look::NotYet(None)
        }
    }
}

/// Looks every `every` until a look is `Ready`, a look fails (that error, at once: a process
/// died, a sync failed), or `timeout` has passed since the first look (an error naming `what`
/// and the last look's reason). The first look is immediate, the last one is after the
/// deadline, so a zero timeout is one look.
pub fn until<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut look: impl FnMut() -> Result<Look<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let reason = match look()? {
            Look::Ready(value) => return Ok(value),
            Look::NotYet(reason) => reason,
        };
        if Instant::now() >= deadline {
            let timed_out = format!("timed out after {timeout:?} waiting for {what}");
            return Err(match reason {
                Some(e) => e.context(timed_out),
                None => anyhow!(timed_out),
            });
        }
        std::thread::sleep(every.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// [`until`] for a look that says only yes or no.
pub fn until_true(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    until(what, timeout, every, || Ok(Look::from_bool(ready())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_WAIT: Duration = Duration::ZERO;

    #[test]
    fn the_value_of_the_first_ready_look_is_returned() {
        let mut looks = 0;
        let got = until("three looks", Duration::from_secs(60), NO_WAIT, || {
            looks += 1;
            Ok(if looks == 3 {
                Look::Ready(looks * 10)
            } else {
                Look::NotYet(None)
            })
        })
        .unwrap();
        assert_eq!((got, looks), (30, 3));
    }

    #[test]
    fn a_failed_look_ends_the_wait_at_once_with_its_error() {
        let mut looks = 0;
        let err = until::<()>("a process", Duration::from_secs(60), NO_WAIT, || {
            looks += 1;
            anyhow::bail!("inference exited (status 1)")
        })
        .unwrap_err();
        assert_eq!(looks, 1);
        assert_eq!(format!("{err}"), "inference exited (status 1)");
    }

    #[test]
    fn a_timeout_names_what_was_awaited_and_the_last_reason() {
        let mut looks = 0;
        let err = until::<()>("the claim to bind", NO_WAIT, NO_WAIT, || {
            looks += 1;
            Ok(Look::NotYet(Some(anyhow!("phase Pending ({looks})"))))
        })
        .unwrap_err();
        assert_eq!(looks, 1, "a zero timeout is one look");
        assert_eq!(
            format!("{err:#}"),
            "timed out after 0ns waiting for the claim to bind: phase Pending (1)"
        );
    }

    #[test]
    fn a_timeout_without_a_reason_still_names_the_wait() {
        let err = until_true("nothing", NO_WAIT, NO_WAIT, || false).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "timed out after 0ns waiting for nothing"
        );
    }
}
