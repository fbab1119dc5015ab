#![allow(clippy::unwrap_used, clippy::panic)]
// A test: a failed assumption is a failed test.

//! Dependencies between modules point one way: for each crate of the workspace, the modules
//! its files name through `crate::…` form no cycle. Read from the source text, so it runs in
//! milliseconds and needs nothing built.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates and where their modules live. For the core, `src/server/` is flattened into the
/// crate root (`pub use server::*`), so its children count as top-level modules.
const CRATES: [(&str, &str); 3] = [("tokenflow", "src"), ("app", "app/src"), ("server", "server/src")];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to; `None` for the crate root.
fn module_of(relative: &Path) -> Option<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.first().is_some_and(|p| p == "server") && parts.len() > 1 {
        parts.remove(0);
    }
    let first = parts.first()?.trim_end_matches(".rs").to_string();
    (!matches!(first.as_str(), "lib" | "main" | "server")).then_some(first)
}

/// Every `crate::name` in the text (comments and strings included: a mention is a dependency
/// of the reader's understanding too, and being strict costs nothing here).
fn crate_references(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .filter(|(at, _)| !text[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$'))
        .map(|(at, m)| {
            let rest = &text[at + m.len()..];
            rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>()
        })
        .collect()
}

fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f.strip_prefix(root).unwrap())).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = module_of(file.strip_prefix(root).unwrap()) else { continue };
        // A module's own tests may reach anywhere.
        let text = std::fs::read_to_string(file).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for to in crate_references(text) {
            if modules.contains(&to) && to != from {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    edges
}

/// A cycle, as the path that closes it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_of_the_workspace_has_a_module_cycle() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, dir) in CRATES {
        let edges = graph(&workspace.join(dir));
        assert!(!edges.is_empty(), "{name}: no modules found in {dir}");
        if let Some(cycle) = find_cycle(&edges) {
            panic!("{name}: module cycle {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_check_finds_a_cycle_when_there_is_one() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(find_cycle(&edges).unwrap(), ["a", "b", "c", "a"]);
    let line: BTreeMap<String, BTreeSet<String>> = [("a".to_string(), BTreeSet::from(["b".to_string()]))].into();
    assert_eq!(find_cycle(&line), None);
    assert_eq!(
        crate_references("use crate::session::{x}; let y = crate::api::z; // my_crate::q"),
        BTreeSet::from(["api".to_string(), "session".to_string()])
    );
}
