//! The shape of `src/`: imports point down (the domain never names the web layer), no two
//! files import each other through any chain, and no file grows past one concern's size.
//!
//! Every file is parsed with `syn`; every path it names (in `use` items, in code, in macro
//! and attribute arguments) that leads into this crate is resolved to the file of the module
//! it reaches. That gives the file graph the checks below run on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::{self, Visit};

/// The edge: what turns HTTP into domain calls and domain results into responses. The crate
/// root (which assembles everything) is above it. Every other module is below it, including
/// those added later.
const EDGE: &[&str] = &["api", "cli", "proxy", "server", "state", "ui", "web"];
/// Names only the edge may use.
const EDGE_TYPES: &[&str] = &["ApiError", "AppState"];
/// What everything uses: these name only each other.
const BASE: &[&str] = &[
    "clock",
    "config",
    "crypto",
    "fsutil",
    "logging",
    "outbound",
    "validation",
];
const MAX_LINES: usize = 600;

type Module = Vec<String>;

struct Crate {
    /// Each file of the library (not `main.rs`, a crate of its own), by its module path.
    files: BTreeMap<Module, PathBuf>,
}

impl Crate {
    fn read(src: &Path) -> Self {
        let mut files = BTreeMap::new();
        let mut pending = vec![src.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("read src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let relative = path.strip_prefix(src).expect("under src");
                let mut module: Module = relative
                    .with_extension("")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if module == ["main"] {
                    continue;
                }
                if module == ["lib"] || module.last().is_some_and(|m| m == "mod") {
                    module.pop();
                }
                files.insert(module, relative.to_path_buf());
            }
        }
        Self { files }
    }

    /// The file holding `module`: its own, or (for a module written inline) its parent's.
    fn file_of(&self, module: &[String]) -> &PathBuf {
        (0..=module.len())
            .rev()
            .find_map(|len| self.files.get(&module[..len]))
            .expect("the crate root is a file")
    }

    fn is_module(&self, module: &[String]) -> bool {
        self.files.contains_key(module)
    }

    /// The module a path leads into, seen from `from`, and whether every segment of it named
    /// a module; `None` for other crates and for names in scope.
    fn resolve(&self, from: &[String], path: &[String]) -> Option<(Module, bool)> {
        let (mut base, rest): (Module, &[String]) = match path.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &path[1..]),
            Some("self") => (from.to_vec(), &path[1..]),
            Some("super") => {
                let mut base = from.to_vec();
                let supers = path.iter().take_while(|s| *s == "super").count();
                for _ in 0..supers {
                    base.pop()?;
                }
                (base, &path[supers..])
            }
            Some(first) => {
                let mut child = from.to_vec();
                child.push(first.to_string());
                if !self.is_module(&child) {
                    return None;
                }
                (from.to_vec(), path)
            }
            None => return None,
        };
        let mut whole = true;
        for segment in rest {
            base.push(segment.clone());
            if !self.is_module(&base) {
                base.pop();
                whole = false;
                break;
            }
        }
        Some((base, whole))
    }
}

/// What one file names: its `use` items and every other path of two or more segments, each
/// with the module it was written in. (A single segment is a name in scope, brought in by a
/// `use` already counted, or a local binding.)
struct Names {
    module: Module,
    uses: Vec<Use>,
    paths: Vec<(Module, Vec<String>)>,
    idents: BTreeSet<String>,
}

struct Use {
    module: Module,
    path: Vec<String>,
    /// The name it brings into scope; `None` for a glob.
    local: Option<String>,
}

impl Names {
    fn add(&mut self, path: Vec<String>) {
        self.idents.extend(path.iter().cloned());
        if path.len() >= 2 {
            self.paths.push((self.module.clone(), path));
        }
    }

    fn add_use(&mut self, path: Vec<String>, local: Option<String>) {
        self.idents.extend(path.iter().cloned());
        self.uses.push(Use {
            module: self.module.clone(),
            path,
            local,
        });
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) if n.ident == "self" => {
                let local = prefix.last().cloned();
                self.add_use(prefix.clone(), local);
            }
            syn::UseTree::Name(n) => {
                self.add_use(with(prefix, &n.ident), Some(n.ident.to_string()));
            }
            syn::UseTree::Rename(r) => {
                self.add_use(with(prefix, &r.ident), Some(r.rename.to_string()));
            }
            syn::UseTree::Glob(_) => self.add_use(prefix.clone(), None),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    /// Paths inside unparsed tokens (macro and attribute arguments): `a :: b :: c`.
    fn tokens(&mut self, tokens: &proc_macro2_free::Tokens) {
        let words = &tokens.0;
        let mut i = 0;
        while i < words.len() {
            let starts = (i == 0 || words[i - 1] != "::")
                && words.get(i + 1).is_some_and(|w| w == "::")
                && is_ident(&words[i]);
            if !starts {
                i += 1;
                continue;
            }
            let mut path = vec![words[i].clone()];
            i += 1;
            while words.get(i).is_some_and(|w| w == "::")
                && words.get(i + 1).is_some_and(|w| is_ident(w))
            {
                path.push(words[i + 1].clone());
                i += 2;
            }
            self.add(path);
        }
    }
}

/// Token text without a proc-macro2 dependency: `TokenStream`'s display, split into words.
mod proc_macro2_free {
    pub(super) struct Tokens(pub(super) Vec<String>);

    impl Tokens {
        pub(super) fn of(stream: &impl std::fmt::Display) -> Self {
            let text = stream.to_string();
            let mut words = Vec::new();
            for word in text.split_whitespace() {
                // `a::b` may come out glued: split it back into words and separators.
                let mut rest = word;
                while let Some(at) = rest.find("::") {
                    if at > 0 {
                        words.push(rest[..at].to_string());
                    }
                    words.push("::".to_string());
                    rest = &rest[at + 2..];
                }
                if !rest.is_empty() {
                    words.push(rest.to_string());
                }
            }
            Self(words)
        }
    }
}

fn is_ident(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn with(prefix: &[String], ident: &syn::Ident) -> Vec<String> {
    let mut path = prefix.to_vec();
    path.push(ident.to_string());
    path
}

impl<'ast> Visit<'ast> for Names {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if item.content.is_some() {
            self.module.push(item.ident.to_string());
            visit::visit_item_mod(self, item);
            self.module.pop();
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    /// `pub(crate)` and `pub(super)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.add(path.segments.iter().map(|s| s.ident.to_string()).collect());
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(&proc_macro2_free::Tokens::of(&mac.tokens));
        visit::visit_macro(self, mac);
    }

    fn visit_meta_list(&mut self, list: &'ast syn::MetaList) {
        self.tokens(&proc_macro2_free::Tokens::of(&list.tokens));
        visit::visit_meta_list(self, list);
    }
}

struct Graph {
    /// file → the files it names.
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    /// file → what it names that only the edge may: modules and types.
    upward: BTreeMap<PathBuf, BTreeSet<String>>,
    /// file of the base → the modules above the base it names.
    above_base: BTreeMap<PathBuf, BTreeSet<String>>,
}

fn is_base(module: &[String]) -> bool {
    module.first().is_some_and(|m| BASE.contains(&m.as_str()))
}

fn is_edge(module: &[String]) -> bool {
    module.is_empty() || module.first().is_some_and(|m| EDGE.contains(&m.as_str()))
}

fn graph(root: &Path) -> Graph {
    let src = root.join("src");
    let krate = Crate::read(&src);
    let mut graph = Graph {
        edges: BTreeMap::new(),
        upward: BTreeMap::new(),
        above_base: BTreeMap::new(),
    };
    for (module, file) in &krate.files {
        let text = std::fs::read_to_string(src.join(file)).expect("read");
        let parsed = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let mut names = Names {
            module: module.clone(),
            uses: Vec::new(),
            paths: Vec::new(),
            idents: BTreeSet::new(),
        };
        names.visit_file(&parsed);
        // The modules each `use` brings into scope, by name, and those globbed.
        let mut aliases: BTreeMap<(Module, String), Module> = BTreeMap::new();
        let mut globs: BTreeMap<Module, Vec<Module>> = BTreeMap::new();
        let mut targets: Vec<Module> = Vec::new();
        for item in &names.uses {
            let Some((target, whole)) = krate.resolve(&item.module, &item.path) else {
                continue;
            };
            if whole {
                match &item.local {
                    Some(local) => {
                        aliases.insert((item.module.clone(), local.clone()), target.clone());
                    }
                    None => globs
                        .entry(item.module.clone())
                        .or_default()
                        .push(target.clone()),
                }
            }
            targets.push(target);
        }
        for (from, path) in &names.paths {
            let through_use = || {
                let first = path.first()?;
                let base = aliases
                    .get(&(from.clone(), first.clone()))
                    .cloned()
                    .or_else(|| {
                        globs.get(from)?.iter().find_map(|glob| {
                            let mut child = glob.clone();
                            child.push(first.clone());
                            krate.is_module(&child).then_some(child)
                        })
                    })?;
                let mut absolute = vec!["crate".to_string()];
                absolute.extend(base);
                absolute.extend(path[1..].iter().cloned());
                krate.resolve(&[], &absolute)
            };
            if let Some((target, _)) = krate.resolve(from, path).or_else(through_use) {
                targets.push(target);
            }
        }
        let below = !is_edge(module);
        let base = is_base(module);
        let edges = graph.edges.entry(file.clone()).or_default();
        for target in targets {
            let target_file = krate.file_of(&target);
            if target_file == file {
                continue;
            }
            edges.insert(target_file.clone());
            let shown = format!("crate::{}", target.join("::"));
            if below && is_edge(&target) {
                graph.upward.entry(file.clone()).or_default().insert(shown);
            } else if base && !is_base(&target) {
                graph
                    .above_base
                    .entry(file.clone())
                    .or_default()
                    .insert(shown);
            }
        }
        if below {
            for name in EDGE_TYPES {
                if names.idents.contains(*name) {
                    graph
                        .upward
                        .entry(file.clone())
                        .or_default()
                        .insert((*name).to_string());
                }
            }
        }
    }
    graph
}

/// Strongly connected components with more than one file (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        found: Vec<Vec<PathBuf>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, file: &'a PathBuf) {
            let n = self.index.len();
            self.index.insert(file, n);
            self.low.insert(file, n);
            self.stack.push(file);
            self.on_stack.insert(file);
            for next in self.edges.get(file).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[file].min(self.low[next]);
                    self.low.insert(file, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[file].min(self.index[next]);
                    self.low.insert(file, low);
                }
            }
            if self.low[file] == self.index[file] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top.clone());
                    if top == file {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for file in edges.keys() {
        if !walk.index.contains_key(file) {
            walk.visit(file);
        }
    }
    walk.found
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_domain_never_names_the_edge() {
    let graph = graph(root());
    let report: Vec<String> = graph
        .upward
        .iter()
        .map(|(file, names)| {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            format!("src/{} names {}", file.display(), names.join(", "))
        })
        .collect();
    assert!(
        report.is_empty(),
        "modules below the edge ({}) must not name it:\n{}",
        EDGE.join(", "),
        report.join("\n")
    );
}

#[test]
fn the_base_names_only_the_base() {
    let graph = graph(root());
    let report: Vec<String> = graph
        .above_base
        .iter()
        .map(|(file, names)| {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            format!("src/{} names {}", file.display(), names.join(", "))
        })
        .collect();
    assert!(
        report.is_empty(),
        "{} are what everything else uses; they name only each other:\n{}",
        BASE.join(", "),
        report.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other() {
    let graph = graph(root());
    let report: Vec<String> = cycles(&graph.edges)
        .iter()
        .map(|files| {
            let files: Vec<String> = files
                .iter()
                .map(|f| format!("src/{}", f.display()))
                .collect();
            files.join(" ↔ ")
        })
        .collect();
    assert!(report.is_empty(), "import cycles:\n{}", report.join("\n"));
}

#[test]
fn no_source_file_holds_more_than_one_concern() {
    let src = root().join("src");
    let mut long = Vec::new();
    for file in Crate::read(&src).files.values() {
        let lines = std::fs::read_to_string(src.join(file))
            .expect("read")
            .lines()
            .count();
        if lines > MAX_LINES {
            long.push(format!("src/{}: {lines} lines", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them along their seams):\n{}",
        long.join("\n")
    );
}

/// The checks above are only as good as the resolution of paths: a known cycle and a known
/// upward import, written the ways Rust allows, must be found.
#[test]
fn the_layout_checks_find_what_they_look_for() {
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("gateway")).expect("mkdir");
    std::fs::create_dir_all(src.join("web")).expect("mkdir");
    let files = [
        ("lib.rs", "mod gateway; mod web; pub(crate) mod state;"),
        (
            "state.rs",
            "use crate::gateway::supervisor::Gateway; pub struct AppState;",
        ),
        (
            "gateway/mod.rs",
            "pub(crate) mod settings; pub(super) mod supervisor;",
        ),
        (
            "gateway/supervisor.rs",
            "use super::settings; pub struct Gateway; fn f() { settings::save(); }",
        ),
        (
            "gateway/settings.rs",
            "pub fn save() { let _ = tracing::info!(\"{}\", crate::web::error::ApiError::X); } \
             #[cfg(test)] mod tests { use super::*; }",
        ),
        ("web/mod.rs", "pub mod error;"),
        (
            "web/error.rs",
            "use crate::{gateway::{self}, state::AppState}; pub enum ApiError { X }",
        ),
    ];
    for (name, text) in files {
        std::fs::write(src.join(name), text).expect("write");
    }
    let graph = graph(dir.path());
    let upward = &graph.upward[&PathBuf::from("gateway/settings.rs")];
    assert!(upward.contains("crate::web::error"), "{upward:?}");
    assert!(upward.contains("ApiError"), "{upward:?}");
    assert!(
        !graph
            .upward
            .contains_key(&PathBuf::from("gateway/supervisor.rs"))
    );
    let found = cycles(&graph.edges);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0],
        [
            "gateway/settings.rs",
            "gateway/supervisor.rs",
            "state.rs",
            "web/error.rs",
        ]
        .map(PathBuf::from)
    );
}

/// Paths through a module brought in by `use` (by name or by a glob) count; a local binding
/// named like a module does not.
#[test]
fn the_layout_checks_follow_imported_modules() {
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("b")).expect("mkdir");
    let files = [
        ("lib.rs", "mod a; mod b; mod clock;"),
        ("a.rs", "use crate::b; fn f() { b::c::x(); }"),
        ("b/mod.rs", "pub mod c; fn h(c: u8) -> u8 { c }"),
        ("b/c.rs", "use crate::*; pub fn x() { a::f(); }"),
        ("clock.rs", "pub fn now() { crate::b::c::x(); }"),
    ];
    for (name, text) in files {
        std::fs::write(src.join(name), text).expect("write");
    }
    let graph = graph(dir.path());
    assert_eq!(
        cycles(&graph.edges),
        [["a.rs", "b/c.rs"].map(PathBuf::from).to_vec()]
    );
    assert!(graph.edges[&PathBuf::from("b/mod.rs")].is_empty());
    assert!(graph.above_base[&PathBuf::from("clock.rs")].contains("crate::b::c"));
}
