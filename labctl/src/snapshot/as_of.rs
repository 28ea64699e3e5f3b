//! The instant a snapshot is judged as of ("now", offline): what `labctl snapshot` wrote as its
//! capture time, or, for a file without it (a plain `kubectl get -o json`, a directory of them),
//! the newest time found in its objects.
//!
//! Why: a verdict that depends on time (a CronJob that missed its schedule) must be about the
//! cluster that was recorded, not about the day labctl runs. A recording judged a year later
//! gives the verdicts it gave the day it was taken.

use k8s_openapi::jiff::Timestamp;

/// Whose clock gave a snapshot's capture time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// The API server's (the `Date` of its answer to the read): the cluster's own "now".
    ApiServer,
    /// The machine that ran `labctl snapshot` (the API server did not say).
    Local,
}

/// When a snapshot was taken, as `labctl snapshot` writes it in the file's `labctl` marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    pub at: Timestamp,
    pub clock: Clock,
}

/// Where the instant of a judgement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The capture time `labctl snapshot` wrote, by this clock.
    Captured(Clock),
    /// The newest time in the file's objects (a file without labctl's capture time).
    NewestInFile,
    /// Neither: the file holds no time at all, so the machine's clock when it was judged.
    LocalClock,
}

/// The instant a snapshot was judged as of, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsOf {
    pub at: Timestamp,
    pub source: Source,
}

impl Source {
    /// The stable name JSON reports give it.
    pub fn id(self) -> &'static str {
        match self {
            Source::Captured(Clock::ApiServer) => "captured-api-server-clock",
            Source::Captured(Clock::Local) => "captured-local-clock",
            Source::NewestInFile => "newest-time-in-file",
            Source::LocalClock => "local-clock",
        }
    }
}

impl AsOf {
    /// The instant in whole seconds (`2026-11-30T03:51:10Z`), as the API writes most times.
    pub fn time(&self) -> String {
        Timestamp::from_second(self.at.as_second())
            .unwrap_or(self.at)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    /// One line for a report: `Judged as of 2026-11-30T03:51:10Z, the newest time in the file`.
    pub fn line(&self) -> String {
        let why = match self.source {
            Source::Captured(Clock::ApiServer) => {
                "when labctl snapshot took it (the API server's clock)"
            }
            Source::Captured(Clock::Local) => {
                "when labctl snapshot took it (the clock of the machine that took it)"
            }
            Source::NewestInFile => "the newest time in the file",
            Source::LocalClock => "the file holds no time: this machine's clock",
        };
        format!("Judged as of {}, {why}", self.time())
    }
}

impl serde::Serialize for AsOf {
    /// `{"time": "2026-11-30T03:51:10Z", "source": "newest-time-in-file"}`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("AsOf", 2)?;
        m.serialize_field("time", &self.time())?;
        m.serialize_field("source", self.source.id())?;
        m.end()
    }
}

/// The newest time written in `object` (any API object as JSON): object, condition, event,
/// container state, Job and CronJob status and Argo CD operation times. By key: a string
/// under a key ending in `Time`, `Timestamp` or `At` that reads as an RFC 3339 time.
/// `deletionTimestamp` is left out: it is when a deletion is due (up to the grace period
/// ahead), not something observed.
pub fn newest_time(object: &serde_json::Value) -> Option<Timestamp> {
    fn walk(v: &serde_json::Value, newest: &mut Option<Timestamp>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if let serde_json::Value::String(s) = v {
                        if is_time_key(k)
                            && let Ok(t) = s.parse::<Timestamp>()
                        {
                            *newest = (*newest).max(Some(t));
                        }
                    } else {
                        walk(v, newest);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, newest)),
            _ => {}
        }
    }
    let mut newest = None;
    walk(object, &mut newest);
    newest
}

fn is_time_key(key: &str) -> bool {
    key != "deletionTimestamp"
        && (key.ends_with("Time") || key.ends_with("Timestamp") || key.ends_with("At"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_newest_time_of_any_kind_of_time_field() {
        let pod = json!({
            "metadata": {"creationTimestamp": "2026-11-30T03:00:00Z",
                         "deletionTimestamp": "2026-12-30T00:00:00Z",
                         "annotations": {"note": "2027-01-01T00:00:00Z"}},
            "status": {"conditions": [{"type": "Ready", "lastTransitionTime": "2026-11-30T03:40:00Z"}],
                       "containerStatuses": [{"state": {"terminated": {"finishedAt": "2026-11-30T03:51:10Z"}}}]}
        });
        // The annotation is not a time key; the deletion is due, not observed.
        assert_eq!(newest_time(&pod), Some(ts("2026-11-30T03:51:10Z")));
        let event = json!({"eventTime": "2026-11-30T04:00:00.123456Z", "reason": "x"});
        assert_eq!(newest_time(&event), Some(ts("2026-11-30T04:00:00.123456Z")));
        assert_eq!(newest_time(&json!({"metadata": {"name": "n"}})), None);
        assert_eq!(
            newest_time(&json!({"lastTimestamp": "not a time"})),
            None,
            "a string that is not a time is no time"
        );
    }

    #[test]
    fn the_report_line_says_where_the_instant_came_from() {
        let at = ts("2026-11-30T03:51:10.734Z");
        let line = |source| AsOf { at, source }.line();
        assert_eq!(
            line(Source::NewestInFile),
            "Judged as of 2026-11-30T03:51:10Z, the newest time in the file"
        );
        assert!(line(Source::Captured(Clock::ApiServer)).contains("API server's clock"));
        assert!(line(Source::Captured(Clock::Local)).contains("machine that took it"));
        let json = serde_json::to_value(AsOf {
            at,
            source: Source::Captured(Clock::ApiServer),
        })
        .unwrap();
        assert_eq!(
            json,
            json!({"time": "2026-11-30T03:51:10Z", "source": "captured-api-server-clock"})
        );
    }
}
