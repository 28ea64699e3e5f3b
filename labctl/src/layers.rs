//! The layers of `docs/architecture.md` as data, and the test that keeps them true: every
//! `crate::` path in a non-test source file names a module of its own layer or of a layer
//! below. A module that is in no layer fails the test too, so a new one is placed on purpose.

/// Top to bottom. A layer may use itself and the layers after it, never one before it.
/// `lib` is the crate root's own items (`error_chain`).
const LAYERS: &[&[&str]] = &[
    &["commands"],
    &["cli"],
    &["render"],
    &["runner"],
    &["checks"],
    &["predict"],
    &["lint"],
    &["diagnose"],
    &["http", "dns", "registry"],
    &["context"],
    &["snapshot"],
    &["objects"],
    &["fetch"],
    &["k8s"],
    &["config", "exit", "severity", "lib"],
];

/// The modules of `diagnose/`, top to bottom by the same rule, one to a row so that no two of
/// them use each other: the entry points (`mod.rs`: `diagnose`, `diagnose_at`) use the sweep
/// for what no finding names, the sweep the rules, the rules what they share (`engine/`: the
/// view, the claim, evidence, remedies, the merge), and all of them the index and the types of
/// what they report. A child names the module an item is defined in, not `mod.rs`'s re-export.
const DIAGNOSE: &[&str] = &[
    "mod",
    "sweep",
    "rules",
    "engine",
    "causes",
    "index",
    "scheduler",
    "scope",
    "finding",
    "catalogue",
];

#[cfg(test)]
mod tests {
    use super::{DIAGNOSE, LAYERS};
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    /// The source with comments, string and char literals blanked out, so that only code is
    /// searched (a doc link to `crate::x` is not an import).
    fn code_only(text: &str) -> String {
        let b: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let next = b.get(i + 1).copied();
            if c == '/' && next == Some('/') {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            } else if c == '/' && next == Some('*') {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&b, i) {
                // A raw string: r"…", r#"…"#, …
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&'"') {
                    out.push(c);
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    if j >= b.len() {
                        break;
                    }
                    if b[j] == '"' && (1..=hashes).all(|k| b.get(j + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            } else if c == '"' {
                i += 1;
                while i < b.len() && b[i] != '"' {
                    if b[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            } else if c == '\'' {
                // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a) kept as code.
                if next == Some('\\') {
                    let mut j = i + 2;
                    while j < b.len() && b[j] != '\'' {
                        j += 1;
                    }
                    i = j + 1;
                    out.push_str("' '");
                } else if b.get(i + 2) == Some(&'\'') {
                    i += 3;
                    out.push_str("' '");
                } else {
                    out.push(c);
                    i += 1;
                }
            } else {
                out.push(c);
                i += 1;
            }
        }
        out
    }

    fn ident_before(b: &[char], i: usize) -> bool {
        i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
    }

    /// `code` without the items under `#[cfg(test)]`, and the names of the test-only module
    /// files it declares (`#[cfg(test)] mod x;`).
    fn without_tests(code: &str) -> (String, Vec<String>) {
        let mut out = String::new();
        let mut test_files = Vec::new();
        let mut rest = code;
        while let Some(at) = rest.find("#[cfg(test)]") {
            out.push_str(&rest[..at]);
            let item = &rest[at + "#[cfg(test)]".len()..];
            let semi = item.find(';');
            let brace = item.find('{');
            let end = match (semi, brace) {
                (Some(s), Some(b)) if s < b => {
                    let decl = item[..s].trim();
                    if let Some(name) = decl.split_whitespace().skip_while(|w| *w != "mod").nth(1) {
                        test_files.push(name.to_owned());
                    }
                    s + 1
                }
                (Some(s), None) => s + 1,
                (_, Some(b)) => {
                    let mut depth = 0;
                    let mut end = item.len();
                    for (k, ch) in item[b..].char_indices() {
                        match ch {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    end = b + k + 1;
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    end
                }
                (None, None) => item.len(),
            };
            rest = &item[end..];
        }
        out.push_str(rest);
        (out, test_files)
    }

    /// The first segments of every `crate::` path in `code` (`crate::{a, b::c}` gives a and b).
    fn crate_modules(code: &str) -> BTreeSet<String> {
        paths_under(code, "crate::")
    }

    /// The first segments after `prefix` of every path in `code` that starts with it.
    fn paths_under(code: &str, prefix: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        };
        for (at, _) in code.match_indices(prefix) {
            if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue; // `$crate::`, `my_crate::`, `x::super::`
            }
            let after = code[at + prefix.len()..].trim_start();
            if let Some(group) = after.strip_prefix('{') {
                let mut depth = 0;
                let mut start = true;
                for (k, ch) in group.char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        c if start && !c.is_whitespace() => {
                            found.insert(ident(&group[k..]));
                            start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                found.insert(ident(after));
            }
        }
        found.retain(|m| !m.is_empty() && m != "self");
        found
    }

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The module directly below `src` a file belongs to: `checks` for `checks/nodes.rs`,
    /// `http` for `http.rs`, `lib` for `lib.rs`.
    fn top_module(src: &Path, file: &Path) -> String {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_owned()
    }

    struct Import {
        file: String,
        from: String,
        to: String,
    }

    /// Every `crate::` import of every non-test source file (the binary's main.rs speaks
    /// `labctl::`, not `crate::`).
    fn imports() -> (Vec<Import>, BTreeSet<String>) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        files.sort();
        let mut test_only = BTreeSet::new();
        let mut per_file = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let (code, tests) = without_tests(&code_only(&text));
            let dir = if file
                .file_name()
                .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
            {
                file.parent().unwrap().to_path_buf()
            } else {
                file.with_extension("")
            };
            for t in tests {
                test_only.insert(dir.join(format!("{t}.rs")));
                test_only.insert(dir.join(&t).join("mod.rs"));
            }
            per_file.push((file.clone(), code));
        }
        let roots: BTreeSet<String> = files
            .iter()
            .filter(|f| !test_only.contains(*f))
            .map(|f| top_module(&src, f))
            .filter(|m| m != "main")
            .collect();
        let mut found = Vec::new();
        for (file, code) in per_file {
            let from = top_module(&src, &file);
            if from == "main" || test_only.contains(&file) {
                continue;
            }
            for m in crate_modules(&code) {
                let to = if roots.contains(&m) {
                    m
                } else {
                    "lib".to_owned()
                };
                found.push(Import {
                    file: file.strip_prefix(&src).unwrap().display().to_string(),
                    from: from.clone(),
                    to,
                });
            }
        }
        (found, roots)
    }

    #[test]
    fn every_module_is_in_a_layer() {
        let (_, roots) = imports();
        let missing: Vec<&String> = roots.iter().filter(|m| layer_of(m).is_none()).collect();
        assert!(
            missing.is_empty(),
            "modules in no layer of layers.rs: {missing:?}"
        );
    }

    #[test]
    fn no_import_runs_upward() {
        let (imports, _) = imports();
        assert!(
            imports.len() > 100,
            "the scan found {} imports",
            imports.len()
        );
        let upward: Vec<String> = imports
            .iter()
            .filter(|i| match (layer_of(&i.from), layer_of(&i.to)) {
                (Some(from), Some(to)) => to < from,
                _ => false,
            })
            .map(|i| format!("{} ({}) uses {}", i.file, i.from, i.to))
            .collect();
        assert!(
            upward.is_empty(),
            "imports that run upward:\n{}",
            upward.join("\n")
        );
    }

    /// The scanner itself: what counts as an import and what does not.
    #[test]
    fn the_scanner_reads_paths_groups_and_skips_comments_strings_and_tests() {
        let text = r####"
            //! See [`crate::render`].
            use crate::{checks::Check, k8s::{names, model}, config};
            let s = "crate::cli"; let r = r#"crate::commands"#; let c = '{';
            fn f() { crate::fetch::list(); }
            /* crate::runner */
            #[cfg(test)]
            mod tests { use crate::snapshot; fn g() { let x = "}"; } }
            #[cfg(test)]
            mod test_objects;
            fn h() -> crate::dns::Answer { todo!() }
        "####;
        let (code, test_files) = without_tests(&code_only(text));
        let found: Vec<String> = crate_modules(&code).into_iter().collect();
        assert_eq!(found, ["checks", "config", "dns", "fetch", "k8s"]);
        assert_eq!(test_files, ["test_objects"]);
    }

    /// A layer table that puts a module above one it is used by fails.
    #[test]
    fn an_upward_import_is_found() {
        let (imports, _) = imports();
        // config is used by every layer above it: placed on top, it would be upward.
        assert!(
            imports
                .iter()
                .any(|i| i.to == "config" && layer_of(&i.from) < layer_of("config"))
        );
    }

    /// Every use of a `diagnose/` module by another, as (file, from, to): `crate::diagnose::x`
    /// anywhere under `diagnose/`, and `super::x` where `super` is `diagnose` itself. An item
    /// of `mod.rs` (or its re-export) counts as `mod`.
    fn diagnose_imports() -> Vec<Import> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/diagnose");
        let mut files = Vec::new();
        sources(&src, &mut files);
        files.sort();
        let units: BTreeSet<String> = files.iter().map(|f| top_module(&src, f)).collect();
        let mut test_only = BTreeSet::new();
        let mut per_file = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let (code, tests) = without_tests(&code_only(&text));
            for t in tests {
                test_only.insert(src.join(format!("{t}.rs")));
            }
            per_file.push((file.clone(), code));
        }
        let mut found = Vec::new();
        for (file, code) in per_file {
            if test_only.contains(&file) {
                continue;
            }
            let rel = file.strip_prefix(&src).unwrap();
            let from = top_module(&src, &file);
            // `super` is `diagnose` in its direct children and in the `mod.rs` of a directory.
            let super_is_diagnose =
                from != "mod" && (rel.components().count() == 1 || rel.ends_with("mod.rs"));
            let mut names = paths_under(&code, "crate::diagnose::");
            if super_is_diagnose {
                names.extend(paths_under(&code, "super::"));
            }
            for name in names {
                let to = if units.contains(&name) {
                    name
                } else {
                    "mod".to_owned()
                };
                if to != from {
                    found.push(Import {
                        file: rel.display().to_string(),
                        from: from.clone(),
                        to,
                    });
                }
            }
        }
        found
    }

    /// No circle inside `diagnose/`: each module uses only those below it in [`DIAGNOSE`].
    #[test]
    fn diagnose_modules_use_only_those_below() {
        let imports = diagnose_imports();
        assert!(
            imports.len() > 30,
            "the scan found {} imports",
            imports.len()
        );
        // The scan sees the paths it must: the sweep asks the rules, the rules what they share.
        let uses = |from: &str, to: &str| imports.iter().any(|i| i.from == from && i.to == to);
        assert!(uses("sweep", "rules") && uses("rules", "engine") && uses("index", "finding"));
        let row = |m: &str| DIAGNOSE.iter().position(|r| *r == m);
        let mut wrong = Vec::new();
        for i in &imports {
            match (row(&i.from), row(&i.to)) {
                (Some(from), Some(to)) if to > from => {}
                (None, _) => {
                    wrong.push(format!("{} ({}) is in no row of DIAGNOSE", i.file, i.from))
                }
                _ => wrong.push(format!("{} ({}) uses {}", i.file, i.from, i.to)),
            }
        }
        assert!(
            wrong.is_empty(),
            "diagnose/ modules that use one above:\n{}",
            wrong.join("\n")
        );
    }
}
