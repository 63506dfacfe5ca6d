//! The design's two promises, checked on the source itself (issue 20):
//!
//! - the modules of `crates/recsys/src` follow the data's path: no module reaches back to one
//!   that reaches it (each kind's folder counts as one module: a kind's files may refer to one
//!   another, a kind may not refer to another kind, to the dispatch point or to what uses it);
//! - the one place that matches on the model kind is `kinds/any.rs`: the server, export and the
//!   command line name no kind's variant of `AnyModel`, `ModelConfig` or `AnyRecipe`.
//!
//! Test code (`tests.rs` files, `#[cfg(test)]` modules) is left out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn crate_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

/// Every `.rs` file under `dir`, with its module path (`src/a/b.rs` and `src/a/b/mod.rs` are
/// `["a", "b"]`).
fn modules(dir: &Path, path: Vec<String>, out: &mut Vec<(Vec<String>, PathBuf)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            let mut sub = path.clone();
            sub.push(name);
            modules(&p, sub, out);
        } else if p.extension().is_some_and(|e| e == "rs") && name != "tests" {
            let mut m = path.clone();
            if name != "mod" && name != "lib" {
                m.push(name);
            }
            out.push((m, p));
        }
    }
}

/// The code of a file: without comments (doc examples included) and without its
/// `#[cfg(test)]` module (written last in every file here).
fn non_test_source(file: &Path) -> String {
    let text = fs::read_to_string(file).unwrap();
    let code = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => &text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The modules `text` (of module `me`) refers to through `crate::`, `super::` and `self::`
/// paths, braces expanded one level (`crate::{a, b::c}`).
fn references(me: &[String], text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{' || c == ','))
        .collect();
    for w in words {
        let (base, rest) = if let Some(r) = w.strip_prefix("crate::") {
            (Vec::new(), r)
        } else if w.starts_with("super::") || w.starts_with("self::") {
            let mut base = me.to_vec();
            let mut r = w;
            loop {
                if let Some(x) = r.strip_prefix("super::") {
                    base.pop();
                    r = x;
                } else if let Some(x) = r.strip_prefix("self::") {
                    r = x;
                } else {
                    break;
                }
            }
            (base, r)
        } else {
            continue;
        };
        let tails: Vec<String> = match rest.strip_prefix('{') {
            Some(list) => list.split(',').map(|s| s.trim().to_owned()).collect(),
            None => vec![rest.to_owned()],
        };
        for tail in tails {
            let mut path = base.clone();
            path.extend(
                tail.split("::")
                    .filter(|s| !s.is_empty() && !s.contains('{'))
                    .map(str::to_owned),
            );
            out.push(path);
        }
    }
    out
}

/// The unit a module path belongs to: a kind's folder (`kinds::ranking`), the dispatch point
/// (`kinds::any`), or a top-level module; `Error` and `Result` are `error`'s.
fn unit(path: &[String]) -> Option<String> {
    match path {
        [] => None,
        [first, ..] if first == "Error" || first == "Result" => Some("error".into()),
        [first] if first == "kinds" => Some("kinds".into()),
        [first, second, ..] if first == "kinds" => Some(format!("kinds::{second}")),
        [first, ..] if first.chars().next().is_some_and(|c| c.is_lowercase()) => {
            Some(first.clone())
        }
        _ => None,
    }
}

#[test]
fn modules_of_recsys_form_no_circle() {
    let src = crate_dir("recsys").join("src");
    let mut files = Vec::new();
    modules(&src, Vec::new(), &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &files {
        let Some(from) = unit(module) else { continue };
        for to in references(module, &non_test_source(file))
            .iter()
            .filter_map(|p| unit(p))
        {
            // `kinds/mod.rs` only declares its children and re-exports the dispatch point.
            if to != from && from != "kinds" {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(edges.contains_key("kinds::ranking") && edges.contains_key("artifact"));
    // A depth-first search that reports the first cycle it closes.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|n| n == node).unwrap();
                return Some(stack[at..].to_vec());
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        let cycle = visit(node, &edges, &mut state, &mut Vec::new());
        assert!(
            cycle.is_none(),
            "import circle: {cycle:?}\nedges: {edges:#?}"
        );
    }
    // No kind reaches another kind, the dispatch point or what is built on the kinds.
    for kind in ["kinds::ranking", "kinds::mf", "kinds::features"] {
        let reached = &edges[kind];
        let allowed = ["contract", "tensors", "train", "error"];
        let stray: Vec<_> = reached
            .iter()
            .filter(|u| !allowed.contains(&u.as_str()))
            .collect();
        assert!(stray.is_empty(), "{kind} reaches {stray:?}");
    }
}

#[test]
fn only_the_dispatch_point_names_a_kinds_variant() {
    let variants = [
        "AnyModel::",
        "ModelConfig::",
        "AnyRecipe::",
        "ValidAnyRecipe::",
    ];
    for krate in ["recsys-serve", "recsys-export", "recsys-cli"] {
        let mut files = Vec::new();
        modules(&crate_dir(krate).join("src"), Vec::new(), &mut files);
        for (_, file) in files {
            let text = non_test_source(&file);
            for v in variants {
                let named = text.match_indices(v).any(|(at, _)| {
                    !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                assert!(
                    !named,
                    "{} names {v}: only recsys's kinds/any.rs matches on the kind",
                    file.display()
                );
            }
        }
    }
}
