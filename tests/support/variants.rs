//! The example's broken variants and the finding each must produce, read from
//! `examples/kgents/broken/variants.tsv` (one table for the offline and the live test).

/// (variant, item id, finding code) of every variant that changes manifests, in table order.
pub fn broken_variants() -> Vec<(String, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kgents/broken/variants.tsv");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| match l.split('\t').collect::<Vec<_>>()[..] {
            [variant, item, code] => (variant.to_string(), item.to_string(), code.to_string()),
            _ => panic!("{path}: not `variant<TAB>item<TAB>code`: {l:?}"),
        })
        .collect()
}
