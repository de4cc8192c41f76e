//! Sharing lines across versions: facts keyed the same way whose data agree in several
//! versions become one line `KEY VERSIONS: DATA`.

use super::VERSIONS;
use std::collections::HashMap;

/// Collects `(key, version, data)` facts in the caller's key order.
#[derive(Default)]
pub struct Shared {
    keys: Vec<String>,
    /// Per key: each distinct data, in order of first appearance, with its versions.
    by_key: HashMap<String, Vec<(String, Vec<usize>)>>,
}

impl Shared {
    /// Records that `key` has `data` in the version at index `version` of [`VERSIONS`].
    pub fn add(&mut self, key: &str, version: usize, data: String) {
        let entries = self.by_key.entry(key.to_string()).or_insert_with(|| {
            self.keys.push(key.to_string());
            Vec::new()
        });
        match entries.iter_mut().find(|(d, _)| *d == data) {
            Some((_, versions)) => versions.push(version),
            None => entries.push((data, vec![version])),
        }
    }

    /// The lines, keys in the order given by `order` (stable for equal keys).
    pub fn lines_sorted_by<K: Ord>(mut self, order: impl Fn(&str) -> K) -> Vec<String> {
        self.keys.sort_by_key(|k| order(k));
        let mut lines = Vec::new();
        for key in &self.keys {
            for (data, versions) in self.by_key.get(key).into_iter().flatten() {
                let sep = if data.is_empty() { "" } else { " " };
                lines.push(format!("{key} {}:{sep}{data}", version_list(versions)));
            }
        }
        lines
    }
}

/// `2.3 2.5..2.8`: runs of three or more consecutive versions written as a range.
pub fn version_list(versions: &[usize]) -> String {
    let mut sorted = versions.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}..{}", VERSIONS[sorted[i]], VERSIONS[sorted[j]]));
        } else {
            parts.extend(sorted[i..=j].iter().map(|&v| VERSIONS[v].to_string()));
        }
        i = j + 1;
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_sharing() {
        assert_eq!(version_list(&[0, 1, 2, 3, 4, 5, 6, 7]), "2.3..2.8");
        assert_eq!(version_list(&[0, 1, 3]), "2.3 2.3.1 2.5");
        assert_eq!(version_list(&[0, 3, 4, 5]), "2.3 2.5..2.6");
        let mut shared = Shared::default();
        shared.add("B", 0, "x".into());
        shared.add("A", 0, "y".into());
        shared.add("B", 1, "x".into());
        shared.add("B", 2, "z".into());
        let lines = shared.lines_sorted_by(str::to_string);
        assert_eq!(lines, ["A 2.3: y", "B 2.3 2.3.1: x", "B 2.4: z"]);
    }
}
