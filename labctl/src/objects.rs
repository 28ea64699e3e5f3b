//! The one reader of Kubernetes objects from text, for snapshot files (`diagnose --snapshot`)
//! and manifests (`lint`): a JSON document or several concatenated, a bare JSON array, or a
//! multi-document YAML stream; `List`s (`List`, `PodList`, …) are flattened into their items,
//! and items of a typed list without their own `kind` inherit it, as `kubectl get` prints
//! them. Empty YAML documents are skipped.
//!
//! The reader hands out each object untyped ([`RawObject`]), with its `apiVersion`, `kind` and
//! where it is ([`Position`]); the caller decides which kinds it wants and types them. JSON is
//! typed straight from the text (no intermediate tree) and an error points at the line and
//! column in the file; a YAML document is read into a tree first, and an error names its
//! document number.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

/// Where an object (or a problem) is in its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Line and column, from 1.
    At { line: usize, column: usize },
    /// The n-th document of a YAML stream, from 1.
    Document(usize),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::At { line, column } => write!(f, "line {line}, column {column}"),
            Self::Document(n) => write!(f, "document {n}"),
        }
    }
}

/// Why the text could not be read. The caller adds which file or input it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not valid JSON/YAML, or a JSON object that does not have the shape of its kind: the
    /// line and column in the text.
    #[error("{line}:{column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// An object that does not have the shape of its kind, or is no object at all, where no
    /// line is known (YAML documents are read into a tree before they are typed). `what` is
    /// `document 2` or `document 2, Pod "web"`.
    #[error("{what}: {message}")]
    Object { what: String, message: String },
}

/// One object of the stream, before it is typed.
pub struct RawObject<'t> {
    /// `apiVersion`, inherited from a typed list when the item has none (empty if unknown).
    pub api_version: String,
    /// `kind`, inherited likewise (empty if unknown).
    pub kind: String,
    /// The YAML document; for JSON the position is counted from the text when asked for
    /// ([`RawObject::position`]): counting lines before every object of a large file would
    /// cost time quadratic in its size.
    document: usize,
    body: Body<'t>,
}

enum Body<'t> {
    /// A JSON object in `text`; `typed` = it states its own `apiVersion` and `kind`.
    Json {
        text: &'t str,
        raw: &'t RawValue,
        typed: bool,
    },
    /// A YAML document (or an item of a list in one), type fields already filled in.
    Tree(Value),
}

impl RawObject<'_> {
    /// Where the object is: line and column of its `{` in JSON, its document in YAML.
    pub fn position(&self) -> Position {
        match &self.body {
            Body::Json { text, raw, .. } => {
                let (line, column) = line_column(text, offset_in(text, raw.get()));
                Position::At { line, column }
            }
            Body::Tree(_) => Position::Document(self.document),
        }
    }

    /// `metadata.name`, for messages (`?` when absent).
    fn name(&self) -> String {
        #[derive(Deserialize)]
        struct Meta<'a> {
            #[serde(borrow, default)]
            name: Option<Cow<'a, str>>,
        }
        #[derive(Deserialize)]
        struct Named<'a> {
            #[serde(borrow, default)]
            metadata: Option<Meta<'a>>,
        }
        let name = match &self.body {
            Body::Json { raw, .. } => serde_json::from_str::<Named<'_>>(raw.get())
                .ok()
                .and_then(|n| n.metadata?.name.map(Cow::into_owned)),
            Body::Tree(v) => v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        name.unwrap_or_else(|| "?".to_owned())
    }

    /// The object as its type `T` (its type fields included, inherited ones too).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ReadError> {
        match &self.body {
            Body::Json {
                text,
                raw,
                typed: true,
            } => serde_json::from_str(raw.get()).map_err(|e| json_error(text, raw.get(), &e)),
            Body::Json { text, raw, .. } => {
                // Typed decoding checks the type fields: add the inherited ones.
                let v = self.json_tree(text, raw)?;
                T::deserialize(&v).map_err(|e| json_error(text, raw.get(), &e))
            }
            Body::Tree(v) => T::deserialize(v).map_err(|e| self.object_error(e)),
        }
    }

    /// The object as a JSON tree (type fields filled in), for callers that look at every
    /// field (lint's unknown-field check).
    pub fn into_value(self) -> Result<Value, ReadError> {
        match self.body {
            Body::Json { text, raw, .. } => self.json_tree(text, raw),
            Body::Tree(v) => Ok(v),
        }
    }

    fn json_tree(&self, text: &str, raw: &RawValue) -> Result<Value, ReadError> {
        let mut v: Value =
            serde_json::from_str(raw.get()).map_err(|e| json_error(text, raw.get(), &e))?;
        if let Some(map) = v.as_object_mut() {
            map.insert("apiVersion".into(), self.api_version.clone().into());
            map.insert("kind".into(), self.kind.clone().into());
        }
        Ok(v)
    }

    fn object_error(&self, e: impl std::fmt::Display) -> ReadError {
        let what = match self.position() {
            Position::Document(n) => format!("document {n}, {} {:?}", self.kind, self.name()),
            Position::At { line, column } => {
                format!("{line}:{column}, {} {:?}", self.kind, self.name())
            }
        };
        ReadError::Object {
            what,
            message: e.to_string(),
        }
    }
}

/// Whether [`read`] reads `text` as JSON: it starts with `{` or `[`. A JSON object borrows
/// from the text and costs nothing until it is typed; a YAML object holds its own tree.
pub fn is_json(text: &str) -> bool {
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    trimmed.starts_with('{') || trimmed.starts_with('[')
}

/// Reads every object of `text` in order and hands each to `each`. JSON when [`is_json`], YAML
/// otherwise (JSON is YAML too, but serde_json keeps positions and types without a tree).
pub fn read<'t, E: From<ReadError>>(
    text: &'t str,
    mut each: impl FnMut(RawObject<'t>) -> Result<(), E>,
) -> Result<(), E> {
    if is_json(text) {
        read_json(text, &mut each)
    } else {
        read_yaml(text, &mut each)
    }
}

/// Every `.json`, `.yaml` and `.yml` file below `dir`, recursively, in sorted order: how both
/// `--snapshot DIR` and `labctl lint DIR` read a directory. On error, the path that failed.
pub fn files_below(dir: &Path) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
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

fn read_json<'t, E: From<ReadError>>(
    text: &'t str,
    each: &mut impl FnMut(RawObject<'t>) -> Result<(), E>,
) -> Result<(), E> {
    // Several concatenated documents are accepted (`kubectl get a -o json; kubectl get b -o json`).
    let stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    for doc in stream {
        let doc = doc.map_err(|e| json_error(text, "", &e))?;
        if doc.get().starts_with('[') {
            // A bare JSON array of objects.
            let items: Vec<&RawValue> =
                serde_json::from_str(doc.get()).map_err(|e| json_error(text, doc.get(), &e))?;
            for item in items {
                json_object(text, item, None, each)?;
            }
        } else {
            json_object(text, doc, None, each)?;
        }
    }
    Ok(())
}

/// One object, or every item of a `List`.
fn json_object<'t, E: From<ReadError>>(
    text: &'t str,
    raw: &'t RawValue,
    inherited: Option<(&str, &str)>,
    each: &mut impl FnMut(RawObject<'t>) -> Result<(), E>,
) -> Result<(), E> {
    let head: Head<'_> =
        serde_json::from_str(raw.get()).map_err(|e| json_error(text, raw.get(), &e))?;
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
        // Items of a typed list read from the raw API (`PodList`) carry no kind of their own:
        // they inherit it from the list.
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        let inherit = item_kind.map(|k| (api_version, k));
        for item in items {
            json_object(text, item, inherit, each)?;
        }
        return Ok(());
    }
    each(RawObject {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        document: 0,
        body: Body::Json {
            text,
            raw,
            typed: head.api_version.is_some() && head.kind.is_some(),
        },
    })
}

fn read_yaml<'t, E: From<ReadError>>(
    text: &'t str,
    each: &mut impl FnMut(RawObject<'t>) -> Result<(), E>,
) -> Result<(), E> {
    for (n, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            ReadError::Syntax {
                line,
                column,
                message: without_position(e.to_string()),
            }
        })?;
        if value.is_null() {
            // An empty document (`---` at the end).
            continue;
        }
        tree_object(value, None, n + 1, each)?;
    }
    Ok(())
}

fn tree_object<'t, E: From<ReadError>>(
    mut value: Value,
    inherited: Option<(&str, &str)>,
    document: usize,
    each: &mut impl FnMut(RawObject<'t>) -> Result<(), E>,
) -> Result<(), E> {
    let Some(map) = value.as_object_mut() else {
        return Err(ReadError::Object {
            what: format!("document {document}"),
            message: "not a Kubernetes object (expected a mapping with apiVersion and kind)".into(),
        }
        .into());
    };
    let field = |map: &serde_json::Map<String, Value>, key: &str, inherited: Option<&str>| {
        map.get(key)
            .and_then(Value::as_str)
            .or(inherited)
            .unwrap_or("")
            .to_owned()
    };
    let api_version = field(map, "apiVersion", inherited.map(|i| i.0));
    let kind = field(map, "kind", inherited.map(|i| i.1));
    if kind.ends_with("List")
        && map.get("items").is_some_and(Value::is_array)
        && let Some(Value::Array(items)) = map.remove("items")
    {
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        let inherit = item_kind.map(|k| (api_version.as_str(), k));
        for item in items {
            tree_object(item, inherit, document, each)?;
        }
        return Ok(());
    }
    if !api_version.is_empty() {
        map.insert("apiVersion".into(), api_version.clone().into());
    }
    if !kind.is_empty() {
        map.insert("kind".into(), kind.clone().into());
    }
    each(RawObject {
        api_version,
        kind,
        document,
        body: Body::Tree(value),
    })
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
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// A serde_json error inside `part` (a slice of `text`, or empty for the whole text), at its
/// position in `text`.
fn json_error(text: &str, part: &str, e: &serde_json::Error) -> ReadError {
    let (base_line, base_col) = line_column(text, offset_in(text, part));
    let (line, column) = if e.line() == 0 {
        (base_line, base_col)
    } else if e.line() == 1 {
        (base_line, base_col + e.column().saturating_sub(1))
    } else {
        (base_line + e.line() - 1, e.column())
    };
    ReadError::Syntax {
        line,
        column,
        message: without_position(e.to_string()),
    }
}

/// serde's messages end in " at line X column Y" (relative to the parsed part); that is cut,
/// since the error states the position itself.
fn without_position(mut message: String) -> String {
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Result<Vec<(String, String, Position)>, ReadError> {
        let mut out = Vec::new();
        read(text, |o: RawObject<'_>| -> Result<(), ReadError> {
            out.push((o.api_version.clone(), o.kind.clone(), o.position()));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn json_lists_typed_lists_arrays_and_concatenated_documents() {
        let text = "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}]}\n\
                    {\"apiVersion\":\"v1\",\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"a\"}}]}";
        let got = kinds(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].1.as_str(), got[0].2),
            ("Pod", Position::At { line: 2, column: 1 })
        );
        assert_eq!((got[1].0.as_str(), got[1].1.as_str()), ("v1", "Pod"));
        let got = kinds("[{\"apiVersion\":\"v1\",\"kind\":\"Node\"}]").unwrap();
        assert_eq!(got[0].1, "Node");
    }

    #[test]
    fn yaml_documents_lists_and_empty_documents() {
        let text = "apiVersion: v1\nkind: Node\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n---\n";
        let got = kinds(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].2, Position::Document(2));
        let e = kinds("- a\n- b\n").unwrap_err();
        assert_eq!(e.to_string().split(':').next(), Some("document 1"));
    }

    #[test]
    fn inherited_type_fields_are_filled_in_for_typing() {
        let text = r#"{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"a"}}]}"#;
        let mut pods = Vec::new();
        read(text, |o: RawObject<'_>| -> Result<(), ReadError> {
            pods.push(o.decode::<k8s_openapi::api::core::v1::Pod>()?);
            Ok(())
        })
        .unwrap();
        assert_eq!(pods[0].metadata.name.as_deref(), Some("a"));
    }

    #[test]
    fn a_json_type_error_points_into_the_file() {
        let text = "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n  {\"apiVersion\":\"v1\",\"kind\":\"Pod\",\n   \"metadata\": {\"name\": 3}}\n]}";
        let err = read(text, |o: RawObject<'_>| -> Result<(), ReadError> {
            o.decode::<k8s_openapi::api::core::v1::Pod>().map(drop)
        })
        .unwrap_err();
        assert!(matches!(err, ReadError::Syntax { line: 3, .. }), "{err}");
    }

    #[test]
    fn a_yaml_type_error_names_the_document_and_object() {
        let text = "apiVersion: v1\nkind: Node\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: one}\n";
        let err = read(text, |o: RawObject<'_>| -> Result<(), ReadError> {
            if o.kind == "Deployment" {
                o.decode::<k8s_openapi::api::apps::v1::Deployment>()?;
            }
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("document 2, Deployment \"d\": "), "{err}");
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 0), (1, 1));
    }
}
