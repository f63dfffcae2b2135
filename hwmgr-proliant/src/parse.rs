//! `ssacli controller all show config detail` text to an indentation tree (the tree of
//! `proliantutils/hpssa/objects.py: _convert_to_dict`).
//!
//! A line is a *section* when it is at column 0 (a controller) or when the next line is
//! more indented; otherwise it is a *leaf* `key: value`. Same-named sibling sections are
//! merged (the H240 output prints two `Physical Drives` blocks under one controller), and
//! a repeated leaf key overwrites the earlier value in place (P440 drives print
//! `Drive Type` twice). This stack-based form gives the same trees as proliantutils on
//! every known output; it differs only in malformed cases proliantutils handles by
//! accident. Parsing is total: any text gives a tree.

use serde_json::{Map, Value};

/// One entry of a section: a leaf value (`None` for a line that is not `key: value`) or a
/// nested section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Leaf(Option<String>),
    Section(Section),
}

/// An ordered map of entries. Keys keep the position of their first occurrence, which
/// matters because controllers, arrays and drives are reported in output order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub entries: Vec<(String, Entry)>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }

    /// A leaf's value; `None` when absent, valueless or a section.
    pub fn value(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Entry::Leaf(Some(v))) => Some(v),
            _ => None,
        }
    }

    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.get(key) {
            Some(Entry::Section(s)) => Some(s),
            _ => None,
        }
    }

    /// Nested sections whose key starts with `prefix`, in order.
    pub fn sections_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Section)> + 'a {
        self.entries.iter().filter_map(move |(k, e)| match e {
            Entry::Section(s) if k.starts_with(prefix) => Some((k.as_str(), s)),
            _ => None,
        })
    }

    /// Every leaf as (key, value), for keeping properties we do not interpret.
    pub fn leaves(&self) -> Vec<(String, Option<String>)> {
        self.entries
            .iter()
            .filter_map(|(k, e)| match e {
                Entry::Leaf(v) => Some((k.clone(), v.clone())),
                Entry::Section(_) => None,
            })
            .collect()
    }

    /// The JSON shape proliantutils' dict conversion gives (used to compare trees).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, e) in &self.entries {
            let v = match e {
                Entry::Leaf(Some(s)) => Value::String(s.clone()),
                Entry::Leaf(None) => Value::Null,
                Entry::Section(s) => s.to_json(),
            };
            m.insert(k.clone(), v);
        }
        Value::Object(m)
    }
}

/// Builds the tree. Nodes live in an arena while parsing (a stack of `&mut` into a
/// recursive structure is not expressible), then are assembled into owned sections.
pub fn parse_tree(text: &str) -> Section {
    enum Slot {
        Leaf(Option<String>),
        Node(usize),
    }
    let mut arena: Vec<Vec<(String, Slot)>> = vec![Vec::new()]; // 0 is the root
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .collect();
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let mut stack: Vec<(usize, usize)> = Vec::new(); // (indent, arena index)
    for (i, line) in lines.iter().enumerate() {
        let ind = indent(line);
        let next = lines.get(i + 1).map_or(ind, |l| indent(l));
        while stack.last().is_some_and(|(d, _)| *d >= ind) {
            stack.pop();
        }
        let parent = stack.last().map_or(0, |(_, n)| *n);
        let stripped = line.trim_matches(' ');
        if ind == 0 || next > ind {
            let key = stripped.to_string();
            let existing = arena[parent].iter().find_map(|(k, s)| match s {
                Slot::Node(n) if *k == key => Some(*n),
                _ => None,
            });
            let node = match existing {
                Some(n) => n,
                None => {
                    arena.push(Vec::new());
                    let n = arena.len() - 1;
                    insert(&mut arena[parent], key, Slot::Node(n));
                    n
                }
            };
            stack.push((ind, node));
        } else {
            let (k, v) = split_leaf(stripped);
            insert(&mut arena[parent], k, Slot::Leaf(v));
        }
    }

    fn insert(entries: &mut Vec<(String, Slot)>, key: String, slot: Slot) {
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(e) => e.1 = slot,
            None => entries.push((key, slot)),
        }
    }

    // Assemble bottom-up. Children always have larger arena indices than their parent
    // and each node has exactly one parent, so taking them out in reverse order is safe.
    let mut built: Vec<Option<Section>> = (0..arena.len()).map(|_| None).collect();
    for idx in (0..arena.len()).rev() {
        let entries = std::mem::take(&mut arena[idx])
            .into_iter()
            .map(|(k, s)| {
                let e = match s {
                    Slot::Leaf(v) => Entry::Leaf(v),
                    Slot::Node(n) => Entry::Section(built[n].take().unwrap_or_default()),
                };
                (k, e)
            })
            .collect();
        built[idx] = Some(Section { entries });
    }
    built[0].take().unwrap_or_default()
}

/// A leaf line: `key: value` when it splits on `": "` into exactly two parts; a
/// `physicaldrive <id> (...)` summary line becomes `physicaldrive <id>` → `<id>`;
/// anything else is a key without value (option lists, `justtext`).
pub fn split_leaf(stripped: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = stripped.split(": ").collect();
    if parts.len() == 2 {
        return (
            parts[0].trim_matches(' ').to_string(),
            Some(parts[1].trim_matches(' ').to_string()),
        );
    }
    if stripped.starts_with("physicaldrive") {
        let id = stripped.split(' ').nth(1).unwrap_or("");
        return (format!("physicaldrive {id}"), Some(id.to_string()));
    }
    (stripped.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_split_on_colon_space_only() {
        assert_eq!(
            split_leaf("PCI Address (Domain:Bus:Device.Function): 0000:0B:00.0"),
            (
                "PCI Address (Domain:Bus:Device.Function)".into(),
                Some("0000:0B:00.0".into())
            )
        );
        assert_eq!(
            split_leaf("Caching:  Enabled"),
            ("Caching".into(), Some("Enabled".into()))
        );
        assert_eq!(
            split_leaf("Unused Space: 0  MB").1.as_deref(),
            Some("0  MB")
        );
        assert_eq!(split_leaf("a: b: c"), ("a: b: c".into(), None));
        assert_eq!(
            split_leaf("5 (default value)"),
            ("5 (default value)".into(), None)
        );
        assert_eq!(
            split_leaf("physicaldrive 5I:1:1 (port 5I:box 1:bay 1, SAS, 600 GB, OK)"),
            ("physicaldrive 5I:1:1".into(), Some("5I:1:1".into()))
        );
    }

    #[test]
    fn merges_same_named_sections_and_overwrites_leaves() {
        let t = parse_tree("C\n   P\n      x: 1\n   Q: 2\n   P\n      y: 3\n   Q: 4\n");
        let c = t.section("C").unwrap();
        let keys: Vec<&str> = c.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["P", "Q"]);
        assert_eq!(c.value("Q"), Some("4"));
        let p = c.section("P").unwrap();
        assert_eq!((p.value("x"), p.value("y")), (Some("1"), Some("3")));
    }

    #[test]
    fn any_text_gives_a_tree() {
        for text in [
            "",
            "\n\n",
            "   x\n y\n",
            "a\n      b\n   c: d\n  e\n",
            "\r\n \r\n",
        ] {
            let _ = parse_tree(text);
        }
        let t = parse_tree("Error: No controllers detected.\n");
        assert_eq!(t.entries.len(), 1);
    }
}
