//! Reading snapshot files: a `List` in JSON or YAML (as `kubectl get … -o json|yaml` prints),
//! single objects, multi-document YAML, concatenated JSON documents, or a directory of such
//! files, through the one object reader ([`crate::objects`]). Unknown kinds are ignored; a
//! malformed file is an error naming the file and the position (line:column, or the YAML
//! document) of the problem.

use std::path::{Path, PathBuf};

use crate::k8s::model::{ReplicaSet, ReplicaSetSpec, drop_bookkeeping};
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use std::collections::BTreeSet;

use k8s_openapi::jiff::Timestamp;

use super::{Captured, Clock, ClusterSnapshot, Kind};
use crate::objects::{RawObject, ReadError};

/// Why a snapshot could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The path could not be read (missing, permissions, …).
    #[error("cannot read snapshot {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON/YAML, or an object in it does not have the shape of its kind.
    #[error("invalid snapshot {}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// An object could not be read and no position is known (YAML documents are converted
    /// before they are typed).
    #[error("invalid snapshot {}: {what}: {message}", path.display())]
    Object {
        path: PathBuf,
        what: String,
        message: String,
    },
    /// A directory holds no `.json`, `.yaml` or `.yml` file.
    #[error("snapshot directory {} holds no .json, .yaml or .yml file", path.display())]
    EmptyDirectory { path: PathBuf },
}

/// Loads a file or a directory (recursively, files in name order).
pub fn load_path(path: &Path) -> Result<ClusterSnapshot, SnapshotError> {
    let io = |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_dir() {
        let text = std::fs::read_to_string(path).map_err(io)?;
        return parse_str(&text, path);
    }
    let files = crate::objects::files_below(path)
        .map_err(|(path, source)| SnapshotError::Io { path, source })?;
    if files.is_empty() {
        return Err(SnapshotError::EmptyDirectory {
            path: path.to_owned(),
        });
    }
    let mut snapshot = ClusterSnapshot::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| SnapshotError::Io {
            path: file.clone(),
            source,
        })?;
        snapshot.extend(parse_str(&text, &file)?);
    }
    Ok(snapshot)
}

/// Parses the text of one file (see [`crate::objects`]); `path` is only used in errors.
///
/// Each list gets exactly the room it needs: lists grown by doubling held up to twice their
/// objects, plus the copies left behind by each growth. JSON objects are counted by kind
/// before they are typed (they borrow from the text); YAML documents, which hold a tree each,
/// are typed as they come and the lists trimmed afterwards.
pub fn parse_str(text: &str, path: &Path) -> Result<ClusterSnapshot, SnapshotError> {
    let mut snapshot = ClusterSnapshot::default();
    let located = |e| located(path, e);
    if crate::objects::is_json(text) {
        let mut known: Vec<(Kind, RawObject<'_>)> = Vec::new();
        crate::objects::read(text, |o: RawObject<'_>| -> Result<(), ReadError> {
            if let Some(kind) = cluster_kind(&o.api_version, &o.kind) {
                known.push((kind, o));
            }
            Ok(())
        })
        .map_err(located)?;
        for kind in Kind::ALL {
            let n = known.iter().filter(|(k, _)| k == kind).count();
            snapshot.reserve(*kind, n);
        }
        for (kind, o) in known {
            snapshot.push(kind, &o).map_err(located)?;
        }
        (snapshot.read, snapshot.captured) = marker(text);
    } else {
        crate::objects::read(text, |o: RawObject<'_>| -> Result<(), ReadError> {
            match cluster_kind(&o.api_version, &o.kind) {
                Some(kind) => snapshot.push(kind, &o),
                None => Ok(()),
            }
        })
        .map_err(located)?;
        snapshot.shrink_to_fit();
    }
    Ok(snapshot)
}

/// The kind of a snapshot file's object, when the cluster's readers read it (not one only
/// `lint` reads, [`super::MANIFEST_ONLY`]).
fn cluster_kind(api_version: &str, kind: &str) -> Option<Kind> {
    Kind::of(api_version, kind).filter(|k| !super::MANIFEST_ONLY.iter().any(|r| k.is(r)))
}

/// What a snapshot written by labctl says of itself in its `List`'s [`super::READ_KEY`]: the
/// resources it read whole and when it was taken. Both `None` for any other file.
fn marker(text: &str) -> (Option<BTreeSet<String>>, Option<Captured>) {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "labctl")]
        marker: Option<Marker>,
    }
    #[derive(serde::Deserialize)]
    struct Marker {
        #[serde(default)]
        read: Option<BTreeSet<String>>,
        #[serde(default)]
        captured_at: Option<String>,
        #[serde(default)]
        clock: Option<Clock>,
    }
    // The first document only (a labctl snapshot is one `List`); its items are skipped unread.
    let Some(Ok(Head {
        marker: Some(marker),
    })) = serde_json::Deserializer::from_str(text)
        .into_iter::<Head>()
        .next()
    else {
        return (None, None);
    };
    let at = marker.captured_at.and_then(|t| t.parse::<Timestamp>().ok());
    let captured = at.map(|at| Captured {
        at,
        // A capture time without its clock: labctl writes both, so someone else wrote it.
        clock: marker.clock.unwrap_or(Clock::Local),
    });
    (marker.read, captured)
}

/// A reader's error in file `path`.
fn located(path: &Path, e: ReadError) -> SnapshotError {
    match e {
        ReadError::Syntax {
            line,
            column,
            message,
        } => SnapshotError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message,
        },
        ReadError::Object { what, message } => SnapshotError::Object {
            path: path.to_owned(),
            what,
            message,
        },
    }
}

/// `o` as its type, without the writers' bookkeeping ([`drop_bookkeeping`]).
pub(super) fn typed<T: serde::de::DeserializeOwned + kube::Resource>(
    o: &RawObject<'_>,
) -> Result<T, ReadError> {
    let mut object: T = o.decode()?;
    drop_bookkeeping(&mut object);
    Ok(object)
}

/// A ReplicaSet without its pod template ([`ReplicaSetOwner`]).
pub(super) fn replica_set(o: &RawObject<'_>) -> Result<ReplicaSet, ReadError> {
    let mut rs: ReplicaSet = o.decode::<ReplicaSetOwner>()?.into();
    drop_bookkeeping(&mut rs);
    Ok(rs)
}

/// A ReplicaSet as the engine reads it: the owner between a Deployment and its pods (its
/// metadata, replicas, selector and status). Its pod template, a copy of the Deployment's, is
/// not kept: nothing reads it, and in a large snapshot every template is held once already.
#[derive(serde::Deserialize)]
struct ReplicaSetOwner {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<ReplicaSetOwnerSpec>,
    #[serde(default)]
    status: Option<ReplicaSetStatus>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplicaSetOwnerSpec {
    #[serde(default)]
    replicas: Option<i32>,
    #[serde(default)]
    selector: LabelSelector,
}

impl From<ReplicaSetOwner> for ReplicaSet {
    fn from(o: ReplicaSetOwner) -> Self {
        ReplicaSet {
            metadata: o.metadata,
            spec: o.spec.map(|s| ReplicaSetSpec {
                replicas: s.replicas,
                selector: s.selector,
                template: None,
            }),
            status: o.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("snap.json")
    }

    #[test]
    fn list_json_with_unknown_kinds() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"n"}},
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}},
            {"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e"},"eventTime":null}
        ]}"#;
        let s = parse_str(text, p()).unwrap();
        assert_eq!(s.pods.len(), 1);
        assert_eq!(s.events_v1.len(), 1);
        assert_eq!(s.len(), 2);
    }

    /// What only lint reads from manifests (Namespaces, ConfigMaps, DaemonSets,
    /// NetworkPolicies) is not read from a snapshot file: the cluster's readers do not judge it.
    #[test]
    fn kinds_only_lint_reads_are_ignored_in_a_snapshot_file() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"d","namespace":"n"}},
            {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"p"}},
            {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}},
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","namespace":"n"}}
        ]}"#;
        let s = parse_str(text, p()).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.deployments.len(), 1);
        assert!(Kind::DaemonSet.is("apps/v1/daemonsets"));
        assert!(!Kind::Deployment.is("apps/v1/daemonsets"));
    }

    #[test]
    fn typed_list_items_inherit_kind() {
        let text = r#"{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"a"}}]}"#;
        let s = parse_str(text, p()).unwrap();
        assert_eq!(s.pods[0].metadata.name.as_deref(), Some("a"));
    }

    #[test]
    fn writers_bookkeeping_is_not_kept() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","managedFields":[{"manager":"kubelet","fieldsV1":{"f:status":{}}}],
             "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}","keep":"me"}}},
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"n","managedFields":[{"manager":"k3s"}]}}
        ]}"#;
        let s = parse_str(text, p()).unwrap();
        assert!(s.pods[0].metadata.managed_fields.is_none());
        assert!(s.nodes[0].metadata.managed_fields.is_none());
        let a = s.pods[0].metadata.annotations.as_ref().unwrap();
        assert_eq!(a.keys().collect::<Vec<_>>(), ["keep"]);
    }

    #[test]
    fn what_the_writer_read_round_trips() {
        let mut s = parse_str(r#"{"kind":"List","items":[]}"#, p()).unwrap();
        assert_eq!(s.read, None, "a List without labctl's key");
        s.read = Some(["v1/pods".to_owned()].into());
        let text = s.to_list().unwrap().to_string();
        let again = parse_str(&text, p()).unwrap();
        assert_eq!(again.read, s.read);
    }

    #[test]
    fn the_capture_time_round_trips_and_a_plain_file_is_as_of_its_newest_time() {
        let text = r#"{"kind":"List","items":[
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","creationTimestamp":"2026-11-30T03:00:00Z"}},
            {"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"lastTimestamp":"2026-11-30T03:51:10Z"}
        ]}"#;
        let mut s = parse_str(text, p()).unwrap();
        assert_eq!(s.captured, None, "a List without labctl's key");
        let as_of = s.as_of().unwrap();
        assert_eq!(as_of.source, super::super::as_of::Source::NewestInFile);
        assert_eq!(as_of.time(), "2026-11-30T03:51:10Z");

        let at: Timestamp = "2026-12-01T08:00:00.5Z".parse().unwrap();
        s.captured = Some(Captured {
            at,
            clock: Clock::ApiServer,
        });
        let written = s.to_list().unwrap();
        assert_eq!(written["labctl"]["clock"], "api-server");
        let again = parse_str(&written.to_string(), p()).unwrap();
        assert_eq!(again.captured, s.captured);
        let as_of = again.as_of().unwrap();
        assert_eq!(
            as_of.at, at,
            "the capture time wins over the newest object time"
        );
    }

    #[test]
    fn a_directory_of_snapshots_is_as_of_the_newest_capture() {
        let file =
            |at: &str| format!(r#"{{"kind":"List","items":[],"labctl":{{"captured_at":"{at}"}}}}"#);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), file("2026-12-01T08:00:00Z")).unwrap();
        std::fs::write(dir.path().join("b.json"), file("2026-11-01T08:00:00Z")).unwrap();
        let s = load_path(dir.path()).unwrap();
        let c = s.captured.unwrap();
        assert_eq!(c.at.to_string(), "2026-12-01T08:00:00Z");
        assert_eq!(
            c.clock,
            Clock::Local,
            "no clock written: not the API server's"
        );
    }

    #[test]
    fn multi_document_yaml() {
        let text = "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: n2\n---\n";
        let s = parse_str(text, Path::new("s.yaml")).unwrap();
        assert_eq!(s.nodes.len(), 2);
    }

    #[test]
    fn malformed_json_names_position() {
        let text = "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n  {\"apiVersion\":\"v1\",\"kind\":\"Pod\",\n   \"metadata\": {\"name\": 3}}\n]}";
        let e = parse_str(text, p()).unwrap_err().to_string();
        assert!(e.starts_with("invalid snapshot snap.json:3:"), "{e}");
        let text = "{\"items\": [ }";
        let e = parse_str(text, p()).unwrap_err().to_string();
        assert!(e.contains("snap.json:1:"), "{e}");
    }

    #[test]
    fn malformed_yaml_names_position() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a\n";
        let e = parse_str(text, Path::new("s.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.yaml:"), "{e}");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the bytes, reading them is a value or an error naming the file, never a panic.
        #[test]
        fn never_panics(text in any::<String>()) {
            if let Err(e) = parse_str(&text, Path::new("fuzz.yaml")) {
                prop_assert!(e.to_string().contains("fuzz.yaml"));
            }
        }

        #[test]
        fn never_panics_on_near_json(text in r#"\{"(apiVersion|kind|items|metadata)": ?("v1"|"List"|"Pod"|\[|\{|null|1)[\]\},"a-z: \[\{]{0,40}"#) {
            if let Err(e) = parse_str(&text, Path::new("fuzz.json")) {
                prop_assert!(e.to_string().contains("fuzz.json"));
            }
        }
    }
}
