//! Where the manifests come from: a kustomization rendered with `kubectl kustomize`, plain YAML
//! or JSON files, or stdin (`-`); and how they become a [`ClusterSnapshot`], the one set of
//! objects every judgement reads.
//!
//! kustomize is not linked in: labctl runs the `kubectl kustomize` command (kubectl ships
//! kustomize v5), so `labctl lint` renders exactly what `kubectl apply -k` and Argo CD's
//! kustomize would. `LABCTL_KUBECTL` names another kubectl binary.
//!
//! The text is read by the one object reader ([`crate::objects`]), as snapshot files are.
//! Every object of a kind lint checks is first checked against its full k8s-openapi type, and
//! any field that type does not know is reported (k8s-openapi silently drops unknown fields,
//! the API server rejects or warns about them: a typo such as `readOnlyRootFileSystem` would
//! otherwise look fine here and fail, or be ignored, in the cluster); then it is read into the
//! snapshot as the cluster's readers read it (`k8s/model.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::Value;

use crate::diagnose::ObjectRef;
use crate::objects::{Position, RawObject, ReadError};
use crate::snapshot::{ClusterSnapshot, Kind};

/// Environment variable naming the kubectl binary (default: `kubectl` on `PATH`).
pub const KUBECTL_ENV: &str = "LABCTL_KUBECTL";

/// File names that make a directory a kustomization (as kustomize looks for them).
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Why the manifests could not be read. Every variant names the input.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path does not exist or cannot be read.
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// kubectl is not installed (or `LABCTL_KUBECTL` points nowhere).
    #[error(
        "cannot render {}: {kubectl:?} not found; labctl lint runs `kubectl kustomize` \
         (install kubectl, or set {KUBECTL_ENV} to its path)",
        path.display()
    )]
    KubectlMissing { path: PathBuf, kubectl: String },
    /// `kubectl kustomize` failed; `stderr` is what it said.
    #[error("kubectl kustomize {} failed: {stderr}", path.display())]
    Kustomize { path: PathBuf, stderr: String },
    /// A document is not valid YAML/JSON; `message` starts with where (`line:column: ` or
    /// `document n: `).
    #[error("invalid manifest in {source_name}: {message}")]
    Syntax {
        source_name: String,
        message: String,
    },
    /// An object does not have the shape of its kind (e.g. `replicas: "one"`).
    #[error("invalid {what} in {source_name}: {message}")]
    Object {
        source_name: String,
        what: String,
        message: String,
    },
    /// A directory holds no `.yaml`, `.yml` or `.json` file.
    #[error("{} holds no kustomization and no .yaml, .yml or .json file", path.display())]
    Empty { path: PathBuf },
}

/// What was read, for messages: `kubectl kustomize manifests/overlays/homelab`, a file, `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Kustomize(PathBuf),
    Files(PathBuf),
    Stdin,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kustomize(p) => write!(f, "kubectl kustomize {}", p.display()),
            Self::Files(p) => write!(f, "{}", p.display()),
            Self::Stdin => write!(f, "stdin"),
        }
    }
}

/// Whether `dir` is a kustomization root.
pub fn is_kustomization(dir: &Path) -> bool {
    KUSTOMIZATION_FILES.iter().any(|f| dir.join(f).is_file())
}

/// Reads `path`: `-` is stdin; a kustomization directory is rendered with `kubectl kustomize`;
/// any other directory is read file by file (recursively, in name order); a file is read as
/// is. Returns the text (multi-document YAML or JSON) with where it came from.
pub fn read(path: &Path) -> Result<(String, Origin), SourceError> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
            SourceError::Io {
                path: path.to_owned(),
                source,
            }
        })?;
        return Ok((text, Origin::Stdin));
    }
    let io = |source| SourceError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_dir() {
        let text = std::fs::read_to_string(path).map_err(io)?;
        return Ok((text, Origin::Files(path.to_owned())));
    }
    if is_kustomization(path) {
        return Ok((kustomize(path)?, Origin::Kustomize(path.to_owned())));
    }
    let files = crate::objects::files_below(path)
        .map_err(|(path, source)| SourceError::Io { path, source })?;
    if files.is_empty() {
        return Err(SourceError::Empty {
            path: path.to_owned(),
        });
    }
    let mut text = String::new();
    for file in files {
        let body = std::fs::read_to_string(&file).map_err(|source| SourceError::Io {
            path: file.clone(),
            source,
        })?;
        // One YAML stream: a JSON document is valid YAML too.
        text.push_str("---\n");
        text.push_str(&body);
        if !body.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok((text, Origin::Files(path.to_owned())))
}

/// Runs `kubectl kustomize DIR` (kubectl from `LABCTL_KUBECTL`, else `PATH`).
pub fn kustomize(dir: &Path) -> Result<String, SourceError> {
    let kubectl = std::env::var(KUBECTL_ENV).unwrap_or_else(|_| "kubectl".to_owned());
    kustomize_with(&kubectl, dir)
}

/// Runs `<kubectl> kustomize DIR` and returns its output.
pub fn kustomize_with(kubectl: &str, dir: &Path) -> Result<String, SourceError> {
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SourceError::KubectlMissing {
                path: dir.to_owned(),
                kubectl: kubectl.to_owned(),
            },
            _ => SourceError::Io {
                path: PathBuf::from(kubectl),
                source: e,
            },
        })?;
    if !output.status.success() {
        return Err(SourceError::Kustomize {
            path: dir.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    String::from_utf8(output.stdout).map_err(|e| SourceError::Kustomize {
        path: dir.to_owned(),
        stderr: format!("output is not UTF-8: {e}"),
    })
}

/// Every object of the text as a JSON tree (see [`crate::objects`]: YAML or JSON streams,
/// `List`s flattened, empty documents skipped).
pub fn documents(text: &str, source_name: &str) -> Result<Vec<Value>, SourceError> {
    Ok(positioned(text, source_name)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// [`documents`] with where each object is, for messages.
fn positioned(text: &str, source_name: &str) -> Result<Vec<(Position, Value)>, SourceError> {
    let mut out = Vec::new();
    crate::objects::read(text, |o: RawObject<'_>| -> Result<(), ReadError> {
        let position = o.position();
        out.push((position, o.into_value()?));
        Ok(())
    })
    .map_err(|e| syntax(source_name, e))?;
    Ok(out)
}

fn syntax(source_name: &str, e: ReadError) -> SourceError {
    SourceError::Syntax {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    }
}

/// The manifests, read: their objects as a [`ClusterSnapshot`] of a cluster where nothing ran
/// yet (namespaced objects without a namespace get the lab's, what `kubectl apply -n <lab>`
/// and Argo CD's destination namespace do), and what reading them found.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub objects: ClusterSnapshot,
    /// Objects of kinds labctl does not check (`kind apiVersion name`), e.g. CRDs.
    pub unchecked: Vec<ObjectRef>,
    /// Fields the k8s-openapi types do not know, per object (JSON paths).
    pub unknown_fields: Vec<(ObjectRef, Vec<String>)>,
}

impl Rendered {
    /// Number of objects read (checked or not).
    pub fn len(&self) -> usize {
        self.objects.len() + self.unchecked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks every document against its k8s-openapi type (records unknown fields) and reads it
/// into the snapshot (`default_namespace` for namespaced objects that name none).
pub fn parse(
    text: &str,
    source_name: &str,
    default_namespace: &str,
) -> Result<Rendered, SourceError> {
    let mut r = Rendered::default();
    for (position, mut doc) in positioned(text, source_name)? {
        let api_version = doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let namespaced = !matches!(kind.as_str(), "Namespace" | "StorageClass");
        if namespaced
            && doc.pointer("/metadata/namespace").is_none()
            && let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.insert("namespace".into(), default_namespace.into());
        }
        let namespace = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let object = ObjectRef {
            kind: kind.clone(),
            namespace: namespace.filter(|_| namespaced),
            name: name.clone(),
        };
        let what = format!("{object} ({position})");
        let ctx = Typing {
            source_name,
            what: &what,
            object: &object,
        };
        let unknown = &mut r.unknown_fields;
        match (api_version.as_str(), kind.as_str()) {
            ("v1", "Namespace") => ctx.check::<Namespace>(&doc, unknown)?,
            ("v1", "ConfigMap") => ctx.check::<ConfigMap>(&doc, unknown)?,
            ("v1", "PersistentVolumeClaim") => ctx.check::<PersistentVolumeClaim>(&doc, unknown)?,
            ("storage.k8s.io/v1", "StorageClass") => ctx.check::<StorageClass>(&doc, unknown)?,
            ("v1", "Pod") => ctx.check::<Pod>(&doc, unknown)?,
            ("apps/v1", "Deployment") => ctx.check::<Deployment>(&doc, unknown)?,
            ("apps/v1", "StatefulSet") => ctx.check::<StatefulSet>(&doc, unknown)?,
            ("apps/v1", "DaemonSet") => ctx.check::<DaemonSet>(&doc, unknown)?,
            ("batch/v1", "Job") => ctx.check::<Job>(&doc, unknown)?,
            ("batch/v1", "CronJob") => ctx.check::<CronJob>(&doc, unknown)?,
            ("v1", "Service") => ctx.check::<Service>(&doc, unknown)?,
            ("networking.k8s.io/v1", "Ingress") => ctx.check::<Ingress>(&doc, unknown)?,
            ("networking.k8s.io/v1", "NetworkPolicy") => {
                ctx.check::<NetworkPolicy>(&doc, unknown)?
            }
            _ => {
                if kind.is_empty() || api_version.is_empty() {
                    return Err(SourceError::Object {
                        source_name: source_name.to_owned(),
                        what: format!("object ({position})"),
                        message: "no apiVersion or kind".into(),
                    });
                }
                r.unchecked.push(ObjectRef {
                    kind: format!("{kind} ({api_version})"),
                    ..object
                });
                continue;
            }
        }
        let Some(snapshot_kind) = Kind::of(&api_version, &kind) else {
            unreachable!("every kind lint checks is a kind of the snapshot: {kind}")
        };
        r.objects
            .push_value(snapshot_kind, doc)
            .map_err(|e| ctx.error(e))?;
    }
    Ok(r)
}

struct Typing<'a> {
    source_name: &'a str,
    what: &'a str,
    object: &'a ObjectRef,
}

impl Typing<'_> {
    /// Checks `doc` against its full type `T`: a wrongly typed field is an error naming the
    /// object, a field `T` does not know is recorded in `unknown`.
    fn check<T>(
        &self,
        doc: &Value,
        unknown: &mut Vec<(ObjectRef, Vec<String>)>,
    ) -> Result<(), SourceError>
    where
        T: serde::de::DeserializeOwned + serde::Serialize,
    {
        let typed: T = serde_json::from_value(doc.clone()).map_err(|e| self.error(e))?;
        let back = serde_json::to_value(&typed).map_err(|e| self.error(e))?;
        let fields = unknown_fields(doc, &back);
        if !fields.is_empty() {
            unknown.push((self.object.clone(), fields));
        }
        Ok(())
    }

    fn error(&self, e: serde_json::Error) -> SourceError {
        SourceError::Object {
            source_name: self.source_name.to_owned(),
            what: self.what.to_owned(),
            message: e.to_string(),
        }
    }
}

/// Paths present in `original` but dropped by the typed round trip `typed` (serde's
/// deny-unknown-fields, after the fact: k8s-openapi's deserializers ignore unknown fields).
/// `null` values are not fields (`creationTimestamp: null` is what kustomize used to print).
pub fn unknown_fields(original: &Value, typed: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(original, typed, String::new(), &mut out);
    out
}

fn walk(original: &Value, typed: &Value, path: String, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(o), Value::Object(t)) => {
            for (k, v) in o {
                if v.is_null() {
                    continue;
                }
                let p = format!("{path}.{k}");
                match t.get(k) {
                    Some(tv) => walk(v, tv, p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(o), Value::Array(t)) => {
            for (i, (ov, tv)) in o.iter().zip(t).enumerate() {
                walk(ov, tv, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_finds_typos_at_any_depth() {
        let doc = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "inference", "creationTimestamp": null},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "replica": 1,
                     "template": {"spec": {"containers": [{"name": "c",
                        "securityContext": {"readOnlyRootFileSystem": true}}]}}}
        });
        let typed: Deployment = serde_json::from_value(doc.clone()).unwrap();
        let back = serde_json::to_value(&typed).unwrap();
        assert_eq!(
            unknown_fields(&doc, &back),
            [
                ".spec.replica",
                ".spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"
            ]
        );
    }

    #[test]
    fn parse_defaults_the_namespace_and_keeps_unknown_kinds() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n\
                    apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\n---\n";
        let m = parse(text, "t.yaml", "mlops-lab").unwrap();
        assert_eq!(
            m.objects.services[0].metadata.namespace.as_deref(),
            Some("mlops-lab")
        );
        assert_eq!(m.unchecked.len(), 1);
        assert_eq!(m.len(), 2);
        assert!(m.unknown_fields.is_empty());
    }

    #[test]
    fn lists_are_flattened() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}]}"#;
        assert_eq!(
            parse(text, "l.json", "x")
                .unwrap()
                .objects
                .config_maps
                .len(),
            2
        );
    }

    #[test]
    fn a_wrongly_typed_field_is_an_error_naming_the_object() {
        let text =
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: one}\n";
        let err = parse(text, "d.yaml", "ns").unwrap_err().to_string();
        assert!(
            err.contains("Deployment ns/d") && err.contains("d.yaml"),
            "{err}"
        );
    }

    #[test]
    fn missing_kubectl_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kustomization.yaml"), "resources: []\n").unwrap();
        let err = kustomize_with("/nonexistent/kubectl", dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("not found") && msg.contains(KUBECTL_ENV),
            "{msg}"
        );
    }
}
