//! Word frequencies of a text: lower-cased words (letters, digits and apostrophes), counted and
//! listed by count, then alphabetically.

use std::collections::BTreeMap;

/// Words listed when no argument is given.
pub const DEFAULT_TOP: usize = 20;

/// Every word and its count.
pub fn counts(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for word in text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
    {
        *out.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    out
}

/// The job: stdin is UTF-8 text (invalid bytes are replaced), the first argument how many words
/// to list. The output starts with the totals.
pub fn run(input: &[u8], args: &[String]) -> Result<Vec<u8>, String> {
    let top = match args.first() {
        Some(a) => a
            .parse::<usize>()
            .map_err(|_| format!("top {a:?} is not a number"))?,
        None => DEFAULT_TOP,
    };
    let text = String::from_utf8_lossy(input);
    let counts = counts(&text);
    let total: u64 = counts.values().sum();
    let mut ranked: Vec<(&String, &u64)> = counts.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut out = format!("{total} words, {} distinct\n", counts.len());
    for (word, n) in ranked.into_iter().take(top) {
        out.push_str(&format!("{n:>8} {word}\n"));
    }
    Ok(out.into_bytes())
}
