//! The layering check: no cycles among the top-level modules of `src/`.
//!
//! The crate is built as layers (the core under the stages, the stages under the commands,
//! the command line under the commands), and a cycle among modules is where that stops being
//! true: neither side can then be read, tested or changed alone. This test reads the source
//! as text, as anyone could with grep, so it needs no tool beyond `cargo test`:
//!
//! - a module is a top-level module of `src/` (`src/fetch/client.rs` belongs to `fetch`);
//! - an edge is a `crate::x` path in code, in a `use` line or inline, `use crate::{a, b}`
//!   counted as two; comments, doc comments and string literals are not code;
//! - the graph's strongly connected components of more than one module are the cycles, each
//!   reported with one cycle through it and the `file:line` of every edge inside it.
//!
//! `cargo test --test it layering:: -- --include-ignored --nocapture` prints the whole graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module -> module it uses -> where (`file:line`), in a stable order.
type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Source text with every comment and string or character literal blanked out (newlines
/// kept, so line numbers stay true): what is left is code.
fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let rest = &chars[i..];
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&c| c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            block_comment_len(rest)
        } else if let Some(len) = string_len(rest, i == 0 || !is_ident(chars[i - 1])) {
            len
        } else if rest[0] == '\'' {
            char_literal_len(rest).unwrap_or(0)
        } else {
            0
        };
        if end == 0 {
            out.push(rest[0]);
            i += 1;
        } else {
            rest[..end].iter().for_each(|&c| blank(&mut out, c));
            i += end;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Length of the (nested) block comment at the start of `s`.
fn block_comment_len(s: &[char]) -> usize {
    let (mut depth, mut i) = (0usize, 0);
    while i < s.len() {
        if s[i..].starts_with(&['/', '*']) {
            depth += 1;
            i += 2;
        } else if s[i..].starts_with(&['*', '/']) {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    s.len()
}

/// Length of the string literal at the start of `s` (`"…"`, `b"…"`, `r#"…"#`, `br"…"`),
/// if one starts there; `at_word_start` says an `r` or `b` there is not inside a name.
fn string_len(s: &[char], at_word_start: bool) -> Option<usize> {
    let mut i = 0;
    if at_word_start && s.first() == Some(&'b') {
        i += 1;
    }
    let raw = (at_word_start || i == 1) && s.get(i) == Some(&'r');
    if raw {
        i += 1;
        let hashes = s[i..].iter().take_while(|&&c| c == '#').count();
        if s.get(i + hashes) != Some(&'"') {
            return None; // a raw identifier (`r#type`) or just a name
        }
        i += hashes + 1;
        while i < s.len() {
            if s[i] == '"'
                && s[i + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|&&c| c == '#')
                    .count()
                    == hashes
            {
                return Some(i + 1 + hashes);
            }
            i += 1;
        }
        return Some(s.len());
    }
    if s.get(i) != Some(&'"') {
        return None;
    }
    i += 1;
    while i < s.len() {
        match s[i] {
            '\\' => i += 2,
            '"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    Some(s.len())
}

/// Length of the character literal at the start of `s` (`'x'`, `'\n'`, `'\u{1f}'`), or
/// None for a lifetime (`'a`).
fn char_literal_len(s: &[char]) -> Option<usize> {
    match s.get(1)? {
        // The escaped character may itself be a quote (`'\''`): look past it.
        '\\' => s.get(3..)?.iter().position(|&c| c == '\'').map(|n| n + 4),
        _ => (s.get(2) == Some(&'\'')).then_some(3),
    }
}

/// The top-level modules a piece of code names after `crate::`, with the 1-based line of
/// each mention.
fn crate_paths(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("crate") {
        let start = from + at;
        from = start + "crate".len();
        let before = code[..start].chars().next_back();
        if before.is_some_and(is_ident) {
            continue;
        }
        let Some(after) = code[from..].trim_start().strip_prefix("::") else {
            continue;
        };
        let after = after.trim_start();
        let offset = code.len() - after.len();
        let line = |at: usize| code[..at].matches('\n').count() + 1;
        if let Some(group) = after.strip_prefix('{') {
            let group_at = code.len() - group.len();
            for (name, at) in group_heads(group) {
                out.push((name, line(group_at + at)));
            }
        } else if let Some(name) = leading_ident(after) {
            out.push((name.to_string(), line(offset)));
        }
    }
    out
}

/// The first name of each item of a `{a::b, c, d::{e}}` group (its text after `{`), with
/// its byte offset.
fn group_heads(group: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let (mut depth, mut item_start) = (0usize, true);
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && is_ident(c) => {
                item_start = false;
                if let Some(name) = leading_ident(&group[at..]) {
                    out.push((name.to_string(), at));
                }
            }
            _ => {}
        }
    }
    out
}

fn leading_ident(text: &str) -> Option<&str> {
    let len = text.find(|c: char| !is_ident(c)).unwrap_or(text.len());
    (len > 0).then(|| &text[..len])
}

/// The top-level module a file under `src/` belongs to; None for the crate roots.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module graph of the crate rooted at `root` (the directory holding `src/`).
fn graph_of(root: &Path) -> Graph {
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let relative = |p: &Path| p.strip_prefix(&src).expect("under src").to_path_buf();
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_of(&relative(f)))
        .collect();
    let mut graph = Graph::new();
    for file in &files {
        let Some(from) = module_of(&relative(file)) else {
            continue;
        };
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let uses = graph.entry(from.clone()).or_default();
        for (to, line) in crate_paths(&code_only(&text)) {
            if to != from && modules.contains(&to) {
                let shown = file.strip_prefix(root).unwrap_or(file).display();
                uses.entry(to).or_default().push(format!("{shown}:{line}"));
            }
        }
    }
    graph
}

/// The strongly connected components of more than one module (Tarjan's algorithm), each
/// sorted, in a stable order.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flat_map(BTreeMap::keys) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let at = self
                    .stack
                    .iter()
                    .rposition(|&x| x == v)
                    .expect("on the stack");
                let mut component: Vec<String> =
                    self.stack.drain(at..).map(str::to_string).collect();
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found.sort();
    walk.found
}

/// One shortest cycle through the first module of `component`, as `a -> b -> a`.
fn one_cycle(graph: &Graph, component: &[String]) -> String {
    let start = &component[0];
    let inside = |m: &String| component.contains(m);
    let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in graph
            .get(v)
            .into_iter()
            .flat_map(BTreeMap::keys)
            .filter(|w| inside(w))
        {
            if w == start {
                let mut path = vec![v.as_str()];
                let mut at = v;
                while let Some(&prev) = came_from.get(at) {
                    path.push(prev);
                    at = prev;
                }
                path.reverse();
                path.push(start);
                return path.join(" -> ");
            }
            if w != start && !came_from.contains_key(w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    component.join(", ")
}

/// What a person reads when the check fails: each cycle, then every edge inside it.
fn describe(graph: &Graph, found: &[Vec<String>]) -> String {
    let mut out = String::new();
    for component in found {
        out += &format!(
            "cycle among {{{}}}: {}\n",
            component.join(", "),
            one_cycle(graph, component)
        );
        for from in component {
            for (to, places) in graph.get(from).into_iter().flatten() {
                if component.contains(to) {
                    out += &format!("  {from} -> {to}: {}\n", places.join(", "));
                }
            }
        }
    }
    out
}

fn show_graph(graph: &Graph) -> String {
    let mut out = String::new();
    for (from, uses) in graph {
        let to: Vec<&str> = uses.keys().map(String::as_str).collect();
        let to = if to.is_empty() {
            "(nothing)".to_string()
        } else {
            to.join(", ")
        };
        out += &format!("{from} -> {to}\n");
    }
    out
}

#[test]
#[allow(clippy::print_stdout)] // the graph is this test's output under --nocapture
fn src_modules_form_no_cycle() {
    let graph = graph_of(Path::new(env!("CARGO_MANIFEST_DIR")));
    println!("{}", show_graph(&graph));
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "modules of src/ that depend on each other (edges: `crate::` paths in code):\n{}",
        describe(&graph, &found)
    );
}

mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::new();
        for (n, (from, to)) in edges.iter().enumerate() {
            g.entry(from.to_string())
                .or_default()
                .entry(to.to_string())
                .or_default()
                .push(format!("src/{from}.rs:{}", n + 1));
        }
        g
    }

    #[test]
    fn a_chain_has_no_cycle_and_a_loop_is_found_with_its_edges() {
        assert!(cycles(&graph(&[
            ("cli", "ui"),
            ("commands", "cli"),
            ("commands", "ui")
        ]))
        .is_empty());

        let g = graph(&[
            ("a", "b"),
            ("b", "c"),
            ("c", "a"),
            ("c", "d"),
            ("d", "e"),
            ("e", "d"),
            ("f", "a"),
        ]);
        let found = cycles(&g);
        assert_eq!(found, [vec!["a", "b", "c"], vec!["d", "e"]]);
        let text = describe(&g, &found);
        assert!(
            text.contains("cycle among {a, b, c}: a -> b -> c -> a"),
            "{text}"
        );
        assert!(text.contains("  c -> a: src/c.rs:3\n"), "{text}");
        assert!(text.contains("cycle among {d, e}: d -> e -> d"), "{text}");
        assert!(!text.contains("f ->") && !text.contains("c -> d"), "{text}");
    }

    #[test]
    fn only_code_counts_and_groups_name_each_module() {
        let src = r##"
//! Uses [`crate::doc_only`].
/// `crate::doc_only` again, /* and */ "crate::in_a_comment"
use crate::{detect::{Finding, Status}, secret, ui::Ui};
let s = "crate::in_a_string \" still crate::in_a_string";
let r = r#"crate::in_a_raw "string""#;
let q = '"'; let e = '\''; let c = crate::plan::Selector::new(); /* crate::in /* nested */ block */
fn f<'a>(x: &'a str) -> bool { pub(crate) x == "" && crate ::  fetch::go() }
let mycrate::not_it = notcrate::either;
"##;
        let got: Vec<(String, usize)> = crate_paths(&code_only(src));
        let want = [
            ("detect", 4),
            ("secret", 4),
            ("ui", 4),
            ("plan", 7),
            ("fetch", 8),
        ];
        let want: Vec<(String, usize)> = want.iter().map(|(m, l)| (m.to_string(), *l)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_file_belongs_to_its_top_level_module() {
        assert_eq!(
            module_of(Path::new("fetch/client.rs")).as_deref(),
            Some("fetch")
        );
        assert_eq!(module_of(Path::new("report.rs")).as_deref(), Some("report"));
        assert_eq!(module_of(Path::new("lib.rs")), None);
    }
}
