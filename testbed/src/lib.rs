//! The local lab: a real Kubernetes control plane built from its Go modules, the add-ons a
//! k3s homelab has, the real data plane (trainer, inference, nginx as the ingress, dnsmasq as
//! Pi-hole), and scenarios that break it the ways node-local storage breaks.
//!
//! Every process is started on a free loopback port and stopped by its pid.

pub mod addons;
pub mod certs;
pub mod controlplane;
pub mod dataplane;
pub mod fuzz;
pub mod gitops;
pub mod images;
pub mod ingress;
pub mod lab;
pub mod node;
pub mod peers;
pub mod poll;
pub mod process;
pub mod publish;
pub mod registry;
pub mod scenarios;
pub mod topology;
pub mod workspace;

/// The lab's rooms use each other in one direction only: no module of `src/` reaches itself
/// through `crate::` paths (a circle makes every room of it one room to a reader).
#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// `crate::<module>` paths in a source file's code before its tests, comments left out.
    fn uses(text: &str) -> BTreeSet<String> {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut out = BTreeSet::new();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or_default();
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        }
        out
    }

    fn graph() -> BTreeMap<String, BTreeSet<String>> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut graph = BTreeMap::new();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            let Some(name) = path.file_stem().and_then(|n| n.to_str()) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
                let text = std::fs::read_to_string(&path).unwrap();
                graph.insert(name.to_owned(), uses(&text));
            }
        }
        let modules: BTreeSet<String> = graph.keys().cloned().collect();
        for (name, used) in graph.iter_mut() {
            used.retain(|u| u != name && modules.contains(u));
        }
        graph
    }

    /// A path `from` … `from` through `graph`, if there is one.
    fn circle(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
        let mut stack = vec![vec![from.to_owned()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = path.last().unwrap();
            for next in graph.get(last).into_iter().flatten() {
                if next == from {
                    let mut found = path.clone();
                    found.push(next.clone());
                    return Some(found);
                }
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
        None
    }

    #[test]
    fn no_module_reaches_itself() {
        let graph = graph();
        assert!(
            graph.contains_key("lab") && graph.contains_key("poll"),
            "{graph:?}"
        );
        let circles: Vec<String> = graph
            .keys()
            .filter_map(|m| circle(&graph, m))
            .map(|c| c.join(" → "))
            .collect();
        assert!(circles.is_empty(), "import circles: {circles:#?}");
    }

    #[test]
    fn a_circle_is_found() {
        let uses_of = |text: &str| uses(text);
        let mut graph = BTreeMap::new();
        graph.insert("a".to_owned(), uses_of("use crate::b::X; // crate::c"));
        graph.insert("b".to_owned(), uses_of("fn f() { crate::c::g() }"));
        graph.insert(
            "c".to_owned(),
            uses_of("use crate::a;\n#[cfg(test)]\nuse crate::b;"),
        );
        assert_eq!(
            circle(&graph, "a"),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        graph.insert("c".to_owned(), BTreeSet::new());
        assert_eq!(circle(&graph, "a"), None);
    }
}
