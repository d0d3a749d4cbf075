//! Field access on the view's objects (`serde_json::Value`) for the paths that read every object.
//! A JSON object here is an insertion-ordered map with a hash index (serde_json's
//! `preserve_order`, chosen for memory: BENCHMARKS.md). For the dozen keys of a typical
//! Kubernetes object, comparing them in order is about 2.5x faster than hashing the key; larger
//! objects use the index. The answer is always `Value::get`'s: keys are unique.

use serde_json::Value;

/// Objects with at most this many keys are searched in order.
const IN_ORDER_UP_TO: usize = 16;

/// `v[key]` when `v` is an object that has it.
pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let map = v.as_object()?;
    if map.len() <= IN_ORDER_UP_TO {
        map.iter().find_map(|(k, value)| (k == key).then_some(value))
    } else {
        map.get(key)
    }
}

/// `v[path[0]][path[1]]...`.
pub fn field_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| field(cur, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_value_get_for_small_and_large_objects() {
        let mut big = serde_json::Map::new();
        for i in 0..40 {
            big.insert(format!("k{i}"), Value::from(i));
        }
        let v = serde_json::json!({"kind": "Pod", "spec": {"containers": [1]}, "big": big, "n": null});
        for key in ["kind", "spec", "big", "n", "missing", ""] {
            assert_eq!(field(&v, key), v.get(key), "{key}");
        }
        for i in [0, 17, 39, 40] {
            let key = format!("k{i}");
            assert_eq!(field(&v["big"], &key), v["big"].get(&key), "{key}");
        }
        assert_eq!(field_at(&v, &["spec", "containers"]), v.pointer("/spec/containers"));
        assert_eq!(field_at(&v, &["spec", "nothing"]), None);
        assert_eq!(field(&Value::from(3), "kind"), None);
        assert_eq!(field(&serde_json::json!([1, 2]), "0"), None);
    }
}
