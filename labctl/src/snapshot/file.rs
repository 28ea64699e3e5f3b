//! Reading snapshot files: a `List` in JSON or YAML (as `kubectl get … -o json|yaml` prints),
//! single objects, multi-document YAML, concatenated JSON documents, or a directory of such
//! files. Unknown kinds are ignored; a malformed file is an error naming the file and the
//! position (line:column) of the problem.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{ClusterSnapshot, Kind};

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
    let files =
        manifest_files(path).map_err(|(path, source)| SnapshotError::Io { path, source })?;
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

/// Every `.json`, `.yaml` and `.yml` file below `dir`, recursively, in sorted order: how both
/// `--snapshot DIR` and `labctl lint DIR` read a directory. On error, the path that failed.
pub(crate) fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), (PathBuf, std::io::Error)> {
        let io = |e| (dir.to_owned(), e);
        let mut entries = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "json" | "yaml" | "yml"))
            {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    Ok(out)
}

/// Parses the text of one file; `path` is only used in errors. JSON when the text starts with
/// `{` or `[`, YAML otherwise.
pub fn parse_str(text: &str, path: &Path) -> Result<ClusterSnapshot, SnapshotError> {
    let mut snapshot = ClusterSnapshot::default();
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        parse_json(text, path, &mut snapshot)?;
    } else {
        parse_yaml(text, path, &mut snapshot)?;
    }
    Ok(snapshot)
}

/// The fields read before an object is typed.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "apiVersion", default, borrow)]
    api_version: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    items: Option<Vec<&'a RawValue>>,
}

fn parse_json(
    text: &str,
    path: &Path,
    snapshot: &mut ClusterSnapshot,
) -> Result<(), SnapshotError> {
    // Several concatenated documents are accepted (`kubectl get a -o json; kubectl get b -o json`).
    let stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    for doc in stream {
        let doc = doc.map_err(|e| json_error(path, text, 0, &e))?;
        if doc.get().starts_with('[') {
            // A bare JSON array of objects.
            let items: Vec<&RawValue> = serde_json::from_str(doc.get())
                .map_err(|e| json_error(path, text, offset_in(text, doc.get()), &e))?;
            for item in items {
                add_json_object(text, item, None, path, snapshot)?;
            }
        } else {
            add_json_object(text, doc, None, path, snapshot)?;
        }
    }
    Ok(())
}

/// Adds one object, or every item of a `List` (`List`, `PodList`, …).
fn add_json_object(
    text: &str,
    raw: &RawValue,
    inherited: Option<(&str, &str)>,
    path: &Path,
    snapshot: &mut ClusterSnapshot,
) -> Result<(), SnapshotError> {
    let offset = offset_in(text, raw.get());
    let head: Head<'_> =
        serde_json::from_str(raw.get()).map_err(|e| json_error(path, text, offset, &e))?;
    let api_version = head
        .api_version
        .as_deref()
        .or(inherited.map(|i| i.0))
        .unwrap_or("");
    let kind = head
        .kind
        .as_deref()
        .or(inherited.map(|i| i.1))
        .unwrap_or("");
    if let Some(items) = head.items
        && kind.ends_with("List")
    {
        {
            // Items of a typed list read from the raw API (`PodList`) carry no kind of their
            // own: they inherit it from the list.
            let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
            let inherit = item_kind.map(|k| (api_version, k));
            for item in items {
                add_json_object(text, item, inherit, path, snapshot)?;
            }
            return Ok(());
        }
    }
    let Some(kind) = Kind::of(api_version, kind) else {
        return Ok(());
    };
    let body: Cow<'_, str> = if head.api_version.is_some() && head.kind.is_some() {
        Cow::Borrowed(raw.get())
    } else {
        // Typed decoding checks the type fields; add the inherited ones.
        let mut v: serde_json::Value =
            serde_json::from_str(raw.get()).map_err(|e| json_error(path, text, offset, &e))?;
        if let Some(map) = v.as_object_mut() {
            map.insert("apiVersion".into(), api_version.into());
            map.insert("kind".into(), kind_name(kind).into());
        }
        Cow::Owned(v.to_string())
    };
    push_json(snapshot, kind, &body).map_err(|e| json_error(path, text, offset, &e))
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::PersistentVolumeClaim => "PersistentVolumeClaim",
        Kind::PersistentVolume => "PersistentVolume",
        Kind::StorageClass => "StorageClass",
        Kind::Node => "Node",
        Kind::Pod => "Pod",
        Kind::Job => "Job",
        Kind::CronJob => "CronJob",
        Kind::ReplicaSet => "ReplicaSet",
        Kind::Deployment => "Deployment",
        Kind::StatefulSet => "StatefulSet",
        Kind::Service => "Service",
        Kind::EndpointSlice => "EndpointSlice",
        Kind::CoreEvent | Kind::EventsV1Event => "Event",
        Kind::Application => "Application",
    }
}

/// Decodes `$body` into the list of `$kind` with `$decode` (`from_str` or `from_value`).
macro_rules! push_typed {
    ($snapshot:expr, $kind:expr, $body:expr, $decode:path) => {{
        let s = $snapshot;
        match $kind {
            Kind::PersistentVolumeClaim => s.persistent_volume_claims.push($decode($body)?),
            Kind::PersistentVolume => s.persistent_volumes.push($decode($body)?),
            Kind::StorageClass => s.storage_classes.push($decode($body)?),
            Kind::Node => s.nodes.push($decode($body)?),
            Kind::Pod => s.pods.push($decode($body)?),
            Kind::Job => s.jobs.push($decode($body)?),
            Kind::CronJob => s.cron_jobs.push($decode($body)?),
            Kind::ReplicaSet => s.replica_sets.push($decode($body)?),
            Kind::Deployment => s.deployments.push($decode($body)?),
            Kind::StatefulSet => s.stateful_sets.push($decode($body)?),
            Kind::Service => s.services.push($decode($body)?),
            Kind::EndpointSlice => s.endpoint_slices.push($decode($body)?),
            Kind::CoreEvent => s.events.push($decode($body)?),
            Kind::EventsV1Event => s.events_v1.push($decode($body)?),
            Kind::Application => s.applications.push($decode($body)?),
        }
        Ok(())
    }};
}

fn push_json(s: &mut ClusterSnapshot, kind: Kind, body: &str) -> Result<(), serde_json::Error> {
    push_typed!(s, kind, body, serde_json::from_str)
}

fn push_value(
    s: &mut ClusterSnapshot,
    kind: Kind,
    body: serde_json::Value,
) -> Result<(), serde_json::Error> {
    // Decode from a borrowed value so each match arm can read it.
    let body = &body;
    push_typed!(s, kind, body, deserialize_value)
}

fn deserialize_value<T: serde::de::DeserializeOwned>(
    v: &serde_json::Value,
) -> Result<T, serde_json::Error> {
    T::deserialize(v)
}

/// Byte offset of `part` inside `text` (both from the same allocation; 0 otherwise).
fn offset_in(text: &str, part: &str) -> usize {
    let start = text.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p >= start && p <= start + text.len() {
        p - start
    } else {
        0
    }
}

/// Line and column (1-based) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// A serde_json error at a position inside the object starting at byte `offset` of `text`,
/// mapped to the position in the file.
fn json_error(path: &Path, text: &str, offset: usize, e: &serde_json::Error) -> SnapshotError {
    let (base_line, base_col) = line_column(text, offset);
    let (line, column) = if e.line() == 0 {
        (base_line, base_col)
    } else if e.line() == 1 {
        (base_line, base_col + e.column().saturating_sub(1))
    } else {
        (base_line + e.line() - 1, e.column())
    };
    syntax(path, line, column, e)
}

/// A syntax error at a position in the file. serde's messages end in " at line X column Y"
/// (relative to the parsed part); that is cut, since the error states the position itself.
fn syntax(path: &Path, line: usize, column: usize, e: impl std::fmt::Display) -> SnapshotError {
    let mut message = e.to_string();
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    SnapshotError::Syntax {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

fn parse_yaml(
    text: &str,
    path: &Path,
    snapshot: &mut ClusterSnapshot,
) -> Result<(), SnapshotError> {
    for (n, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_json::Value::deserialize(doc).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            syntax(path, line, column, e)
        })?;
        if value.is_null() {
            // An empty document (`---` at the end).
            continue;
        }
        add_value_object(value, None, n + 1, path, snapshot)?;
    }
    Ok(())
}

fn add_value_object(
    mut value: serde_json::Value,
    inherited: Option<(&str, &str)>,
    document: usize,
    path: &Path,
    snapshot: &mut ClusterSnapshot,
) -> Result<(), SnapshotError> {
    let Some(map) = value.as_object_mut() else {
        return Err(SnapshotError::Object {
            path: path.to_owned(),
            what: format!("document {document}"),
            message: "not a Kubernetes object (expected a mapping with apiVersion and kind)".into(),
        });
    };
    let api_version = map
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .or(inherited.map(|i| i.0))
        .unwrap_or("")
        .to_owned();
    let kind_text = map
        .get("kind")
        .and_then(|v| v.as_str())
        .or(inherited.map(|i| i.1))
        .unwrap_or("")
        .to_owned();
    if kind_text.ends_with("List")
        && let Some(serde_json::Value::Array(items)) = map.remove("items")
    {
        {
            let item_kind = kind_text.strip_suffix("List").filter(|k| !k.is_empty());
            let inherit = item_kind.map(|k| (api_version.as_str(), k));
            for item in items {
                add_value_object(item, inherit, document, path, snapshot)?;
            }
            return Ok(());
        }
    }
    let Some(kind) = Kind::of(&api_version, &kind_text) else {
        return Ok(());
    };
    map.insert("apiVersion".into(), api_version.clone().into());
    map.insert("kind".into(), kind_text.clone().into());
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("?")
        .to_owned();
    push_value(snapshot, kind, value).map_err(|e| SnapshotError::Object {
        path: path.to_owned(),
        what: format!("document {document}, {kind_text} {name:?}"),
        message: e.to_string(),
    })
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

    #[test]
    fn typed_list_items_inherit_kind() {
        let text = r#"{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"a"}}]}"#;
        let s = parse_str(text, p()).unwrap();
        assert_eq!(s.pods[0].metadata.name.as_deref(), Some("a"));
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

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 0), (1, 1));
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
