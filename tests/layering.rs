//! The crate's modules form a layering that reads top-down: no module
//! imports one that imports it back (issue 12, "a layering that reads
//! top-down").
//!
//! This reads `src/` as text, with no dependency: each file is one module
//! (`src/fault/service.rs` is `fault::service`, `src/fault/mod.rs` is
//! `fault`); its edges are the modules named by its `use` statements and
//! by the `crate::…`/`super::…` paths written in its code, outside
//! comments, string literals and its `#[cfg(test)]` unit tests. A name is
//! followed through re-exports (`pub use`, as `lib.rs` re-exports the
//! core's types) to the module that defines it, and re-exports are not
//! edges themselves: a parent re-exporting its children's types while the
//! children use the parent's types is not a cycle. Code behind any
//! feature counts (the layering must hold with every feature on).
//!
//! A cycle is a strongly connected set of modules; the test fails naming
//! each set and the edges that close it, unless every module of the set
//! is on [`ALLOWED`], the list of cycles another change is still
//! removing. An entry of that list that is in no cycle any more fails
//! too, so the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Modules (or module prefixes: `http` would cover `http::fault`) whose
/// cycles are tolerated, each with why. Empty since issue 12 broke the
/// last ones (http body/fault/response/view, scenario conditions/faults/
/// phase/timeline, io stream lane/state); an entry must name a cycle that
/// exists (the test fails on an entry in no cycle).
const ALLOWED: &[(&str, &str)] = &[];

type Module = String;

#[derive(Default)]
struct Crate {
    /// Every module, with its source (comments, strings and unit tests
    /// removed).
    modules: BTreeMap<Module, String>,
    /// Per module, a name it brings in with `use` → the path it names,
    /// and whether the `use` is a re-export (`pub`/`pub(crate)`/...).
    aliases: BTreeMap<Module, BTreeMap<String, Vec<String>>>,
    /// Per module, the paths it uses (not re-exports).
    uses: BTreeMap<Module, Vec<Vec<String>>>,
}

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file with comments removed, string and char literals
/// blanked, and everything from its `#[cfg(test)]` unit-test module on.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
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
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                && !b[..i]
                    .last()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while j < b.len() && !b[j..].starts_with(&close) {
                    j += 1;
                }
                i = j + close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
                if b.get(i + 1) == Some(&b'\\') {
                    let mut j = i + 2;
                    while j < b.len() && b[j] != b'\'' {
                        j += 1;
                    }
                    i = j + 1;
                    out.push_str("' '");
                } else if b.get(i + 2) == Some(&b'\'') {
                    i += 3;
                    out.push_str("' '");
                } else {
                    out.push('\'');
                    i += 1;
                }
            }
            c => {
                // Multi-byte UTF-8 sequences are copied byte by byte.
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&text[i..i + len]);
                let _ = c;
                i += len;
            }
        }
    }
    out
}

/// Expands a use tree (`crate::{a::B, c::{D as E, self}}`) into its paths,
/// each with the name it binds.
fn expand(tree: &str, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    // Split at the top-level `::{`.
    if let Some(open) = top_level_brace(tree) {
        let head = tree[..open].trim_end_matches("::");
        let mut path = prefix.to_vec();
        path.extend(
            head.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
        let inner = &tree[open + 1..tree.rfind('}').unwrap()];
        for part in split_top(inner) {
            expand(part, &path, out);
        }
        return;
    }
    let (path_text, rename) = match tree.split_once(" as ") {
        Some((p, r)) => (p.trim(), Some(r.trim().to_string())),
        None => (tree, None),
    };
    let mut path = prefix.to_vec();
    path.extend(path_text.split("::").map(str::trim).map(String::from));
    if path.last().is_some_and(|s| s == "self") {
        path.pop();
    }
    let name = rename.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
    out.push((path, name));
}

fn top_level_brace(s: &str) -> Option<usize> {
    s.find('{')
}

fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Crate {
    fn read(src: &Path) -> Self {
        let mut all = Vec::new();
        files(src, &mut all);
        Self::from_sources(
            all.iter()
                .map(|file| (module_of(src, file), fs::read_to_string(file).unwrap())),
        )
    }

    fn from_sources(sources: impl IntoIterator<Item = (Module, String)>) -> Self {
        let mut krate = Self::default();
        for (module, text) in sources {
            krate.modules.insert(module, code_of(&text));
        }
        let modules: Vec<Module> = krate.modules.keys().cloned().collect();
        for module in modules {
            let code = krate.modules[&module].clone();
            let mut aliases = BTreeMap::new();
            let mut uses = Vec::new();
            let mut rest = code.as_str();
            // The code outside `use` statements, for the paths written in
            // it (a re-export's path is not an edge).
            let mut outside = String::with_capacity(code.len());
            // `use` statements.
            while let Some(at) = rest.find("use ") {
                let before = &rest[..at];
                let starts_word = !before.chars().last().is_some_and(is_ident);
                let line_start = before.rfind(['\n', ';', '{', '}']).map_or(0, |p| p + 1);
                let lead = before[line_start..].trim();
                let (is_use, reexport) = if lead.is_empty() || lead.starts_with("#[") {
                    (true, false)
                } else if lead.starts_with("pub") && !lead.contains(' ') || lead.starts_with("pub(") {
                    (true, true)
                } else {
                    (false, false)
                };
                let end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
                if starts_word && is_use {
                    outside.push_str(&rest[..at]);
                    let mut paths = Vec::new();
                    expand(&rest[at + 4..end], &[], &mut paths);
                    for (path, name) in paths {
                        if name != "_" && name != "*" {
                            aliases.insert(name, path.clone());
                        }
                        if !reexport {
                            uses.push(path);
                        }
                    }
                    rest = &rest[end..];
                } else {
                    outside.push_str(&rest[..at + 4]);
                    rest = &rest[at + 4..];
                }
            }
            outside.push_str(rest);
            let code = outside;
            // Paths written in code: `crate::a::B`, `super::C`.
            for anchor in ["crate::", "super::"] {
                let mut from = 0;
                while let Some(at) = code[from..].find(anchor) {
                    let at = from + at;
                    from = at + anchor.len();
                    if code[..at]
                        .chars()
                        .last()
                        .is_some_and(|c| is_ident(c) || c == ':' || c == '$')
                    {
                        continue;
                    }
                    let tail: String = code[at..]
                        .chars()
                        .take_while(|c| is_ident(*c) || *c == ':')
                        .collect();
                    let path: Vec<String> = tail
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    uses.push(path);
                }
            }
            krate.aliases.insert(module.clone(), aliases);
            krate.uses.insert(module, uses);
        }
        krate
    }

    fn is_module(&self, m: &str) -> bool {
        self.modules.contains_key(m)
    }

    fn join(base: &str, seg: &str) -> String {
        if base.is_empty() {
            seg.to_string()
        } else {
            format!("{base}::{seg}")
        }
    }

    fn parent(m: &str) -> String {
        m.rsplit_once("::").map_or(String::new(), |(p, _)| p.to_string())
    }

    /// The module that defines what `path`, written in `from`, names
    /// (`None` for paths outside the crate: `std::…`, dependencies).
    fn resolve(&self, from: &str, path: &[String], depth: usize) -> Option<Module> {
        if depth > 16 || path.is_empty() {
            return None;
        }
        let (mut at, rest): (String, &[String]) = match path[0].as_str() {
            "crate" => (String::new(), &path[1..]),
            "self" => (from.to_string(), &path[1..]),
            "super" => {
                let mut at = from.to_string();
                let mut i = 0;
                while path.get(i).is_some_and(|s| s == "super") {
                    at = Self::parent(&at);
                    i += 1;
                }
                (at, &path[i..])
            }
            first => {
                let child = Self::join(from, first);
                if self.is_module(&child) {
                    (from.to_string(), path)
                } else if let Some(target) = self.aliases.get(from).and_then(|a| a.get(first)) {
                    // A name brought in by a `use` of this module.
                    if target.first().is_some_and(|s| s == first) && target.len() == 1 {
                        return None;
                    }
                    let mut full = target.clone();
                    full.extend(path[1..].iter().cloned());
                    return self.resolve(from, &full, depth + 1);
                } else {
                    return None;
                }
            }
        };
        let mut i = 0;
        while let Some(seg) = rest.get(i) {
            let next = Self::join(&at, seg);
            if self.is_module(&next) {
                at = next;
                i += 1;
            } else {
                break;
            }
        }
        let Some(name) = rest.get(i) else {
            return Some(at);
        };
        // `name` is an item of `at`, or a name `at` imports (followed).
        match self.aliases.get(&at).and_then(|a| a.get(name)) {
            Some(target) if !(target.len() == 1 && target[0] == *name) => {
                let mut full = target.clone();
                full.extend(rest[i + 1..].iter().cloned());
                self.resolve(&at, &full, depth + 1).or(Some(at))
            }
            _ => Some(at),
        }
    }

    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (module, uses) in &self.uses {
            let set = edges.entry(module.clone()).or_default();
            for path in uses {
                if let Some(to) = self.resolve(module, path, 0) {
                    if to != *module && !to.is_empty() {
                        set.insert(to);
                    }
                }
            }
        }
        edges
    }
}

/// Strongly connected sets of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[w.as_str()].min(s.low[v]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w.as_str()) {
                let low = s.index[w.as_str()].min(s.low[v]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut set = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                set.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if set.len() > 1 {
                set.sort();
                s.out.push(set);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

fn allowed(module: &str) -> bool {
    ALLOWED
        .iter()
        .any(|(prefix, _)| module == *prefix || module.starts_with(&format!("{prefix}::")))
}

fn describe(set: &[Module], edges: &BTreeMap<Module, BTreeSet<Module>>) -> String {
    let mut lines = Vec::new();
    for from in set {
        for to in &edges[from] {
            if set.contains(to) {
                lines.push(format!("    {from} -> {to}"));
            }
        }
    }
    format!("  {{{}}}\n{}", set.join(", "), lines.join("\n"))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let krate = Crate::read(&src());
    let edges = krate.edges();
    let found = cycles(&edges);
    let unexpected: Vec<String> = found
        .iter()
        .filter(|set| !set.iter().all(|m| allowed(m)))
        .map(|set| describe(set, &edges))
        .collect();
    assert!(
        unexpected.is_empty(),
        "import cycles among src/ modules (each set, then the edges inside it):\n{}",
        unexpected.join("\n")
    );
    let stale: Vec<&str> = ALLOWED
        .iter()
        .map(|(prefix, _)| *prefix)
        .filter(|prefix| {
            !found
                .iter()
                .flatten()
                .any(|m| m == prefix || m.starts_with(&format!("{prefix}::")))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "these allowed cycles are gone: remove them from ALLOWED in tests/layering.rs: {stale:?}"
    );
}

#[test]
fn the_core_does_not_name_io_or_http() {
    // The core (everything but `io`, `http`, `scenario`, `explore` and the crate root's
    // re-exports) stands below the layers: it defines slots, rules and
    // reports; `io` and `http` bring their own types to it.
    let krate = Crate::read(&src());
    let edges = krate.edges();
    let upper = |m: &str| {
        ["io", "http", "scenario", "explore", "prelude"]
            .iter()
            .any(|u| m == *u || m.starts_with(&format!("{u}::")))
    };
    let mut reach = Vec::new();
    for (from, tos) in &edges {
        if upper(from) || from.is_empty() {
            continue;
        }
        for to in tos {
            if upper(to) {
                reach.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        reach.is_empty(),
        "core modules naming io/http/scenario: {reach:?}"
    );
}

#[test]
fn the_reader_sees_a_cycle_and_follows_reexports() {
    // The checker itself: a cycle through a root re-export is found, a
    // parent re-exporting its child is not an edge, comments and unit
    // tests do not count.
    let files = [
        ("", "mod a; mod b; mod c; pub use a::A; pub use c::C;"),
        ("a", "use crate::b::B; // crate::c::C\npub struct A;"),
        (
            "b",
            "use crate::{A, c};\npub(crate) use crate::c::d::D;\npub struct B(crate::a::A);",
        ),
        (
            "c",
            "mod d;\npub use d::D;\npub struct C;\n#[cfg(test)]\nmod tests { use crate::b::B; }",
        ),
        ("c::d", "pub struct D(super::C);"),
    ];
    let krate = Crate::from_sources(files.map(|(m, t)| (m.to_string(), t.to_string())));
    let edges = krate.edges();
    assert_eq!(edges["a"], BTreeSet::from(["b".to_string()]));
    assert_eq!(edges["b"], BTreeSet::from(["a".to_string(), "c".to_string()]));
    assert_eq!(edges["c"], BTreeSet::new());
    assert_eq!(edges["c::d"], BTreeSet::from(["c".to_string()]));
    assert_eq!(cycles(&edges), vec![vec!["a".to_string(), "b".to_string()]]);
}
