//! The credential pattern rules (checks/patterns/secrets.toml) against gitleaks' own per-rule true and
//! false positives (tests/corpora/secrets/gitleaks, MIT), and the loader's error reporting.

use std::collections::BTreeMap;

use kgents_gate::secrets::{builtin_patterns, load_patterns};

#[derive(serde::Deserialize)]
struct Fixtures {
    rules: Vec<RuleFixtures>,
}

#[derive(serde::Deserialize)]
struct RuleFixtures {
    #[serde(rename = "ruleID")]
    rule_id: String,
    tps: Vec<String>,
    fps: Vec<String>,
}

#[test]
fn builtin_rules_load_and_keep_every_gitleaks_rule() {
    let p = builtin_patterns().expect("built-in rules load");
    let gitleaks: toml::Table = toml::from_str(include_str!("corpora/secrets/gitleaks/gitleaks.toml")).unwrap();
    let n = gitleaks["rules"].as_array().unwrap().len();
    assert_eq!(n, 222);
    // Every gitleaks regex compiles with the Rust `regex` crate (RE2 syntax in both): none dropped.
    assert_eq!(p.rules.len(), n);
}

#[test]
fn gitleaks_true_and_false_positives() {
    let p = builtin_patterns().unwrap();
    let fx: Fixtures =
        serde_json::from_str(include_str!("corpora/secrets/gitleaks/rule-fixtures-tps-fps.json")).unwrap();
    let (mut tp_hit, mut tp_all, mut fp_clean, mut fp_all) = (0, 0, 0, 0);
    let mut per_rule: BTreeMap<&str, (usize, usize, usize, usize)> = BTreeMap::new();
    let mut without_rule = Vec::new();
    let mut missed = Vec::new();
    for r in &fx.rules {
        // gcp-service-account has fixtures but is not part of gitleaks' default config.
        if p.rule(&r.rule_id).is_none() {
            without_rule.push(r.rule_id.as_str());
            continue;
        }
        let e = per_rule.entry(&r.rule_id).or_default();
        for t in &r.tps {
            let m = p.rule_matches(&r.rule_id, t, None).unwrap();
            e.0 += m as usize;
            e.1 += 1;
            if !m {
                missed.push((r.rule_id.as_str(), t.as_str()));
            }
        }
        for f in &r.fps {
            let m = p.rule_matches(&r.rule_id, f, None).unwrap();
            e.2 += !m as usize;
            e.3 += 1;
        }
    }
    for (id, (th, ta, fc, fa)) in &per_rule {
        if th < ta || fc < fa {
            eprintln!("{id}: true positives {th}/{ta}, false positives rejected {fc}/{fa}");
        }
        tp_hit += th;
        tp_all += ta;
        fp_clean += fc;
        fp_all += fa;
    }
    eprintln!("total: true positives {tp_hit}/{tp_all}, false positives rejected {fp_clean}/{fp_all}");
    assert_eq!(without_rule, ["gcp-service-account"]);
    assert_eq!((tp_all, fp_all), (111, 325));
    // Measured: 89/111 true positives, 325/325 false positives rejected.
    assert!(tp_hit >= 89, "true positives found {tp_hit}/{tp_all}");
    assert_eq!(fp_clean, fp_all, "false positives rejected {fp_clean}/{fp_all}");
    // The extraction kept only the literal halves of fixtures built as `"prefix" + generated + "\""`
    // (e.g. `adobeClient := "p8e-`, a lone `"`): every miss must be such a fragment, i.e. hold no run
    // of 20 letters or digits that a credential of these rules would have.
    for (id, t) in &missed {
        let longest = t.split(|c: char| !c.is_ascii_alphanumeric()).map(str::len).max().unwrap_or(0);
        assert!(longest < 20, "rule {id} missed a complete true positive ({} chars)", t.len());
    }
}

#[test]
fn loader_names_the_rule_with_a_bad_regex() {
    let err = load_patterns("[[rules]]\nid = \"lookahead\"\nregex = 'token(?=[a-z])'\nkeywords = [\"token\"]\n")
        .err()
        .unwrap();
    assert!(err.contains("rule `lookahead`") && err.contains("invalid regex"), "{err}");
    let err = load_patterns("[[rules]]\nid = \"a\"\nregex = 'x'\n[[rules]]\nid = \"a\"\nregex = 'y'\n").err().unwrap();
    assert!(err.contains("defined twice"), "{err}");
    let err = load_patterns("[names]\nignore_values = ['(']\n").err().unwrap();
    assert!(err.contains("[names]"), "{err}");
    let err =
        load_patterns("[[rules]]\nid = \"t\"\nregex = 'x'\n[[rules.allowlists]]\ntarget = \"file\"\n").err().unwrap();
    assert!(err.contains("rule `t`") && err.contains("target"), "{err}");
    assert!(load_patterns("[[rules]]\nid = \"u\"\nregex = 'x'\ncolour = 1\n").is_err());
}

#[test]
fn a_custom_rules_file_is_used_as_given() {
    let p = load_patterns(
        "[[rules]]\nid = \"kgents-key\"\nregex = 'kg_([a-z0-9]{16})'\nentropy = 3.0\nkeywords = [\"kg_\"]\n\
         [[rules.allowlists]]\nstopwords = [\"example\"]\n",
    )
    .unwrap();
    assert_eq!(p.matching_rules("key: kg_q8w3e5r7t9y1u2i4", None), ["kgents-key"]);
    // Low entropy, a stopword, a missing keyword: no match.
    assert!(p.matching_rules("key: kg_aaaaaaaaaaaaaaaa", None).is_empty());
    assert!(p.matching_rules("key: kg_example12345678", None).is_empty());
    assert!(p.matching_rules("q8w3e5r7t9y1u2i4", None).is_empty());
}

#[test]
fn key_name_rules_apply_to_configmap_keys_only() {
    let p = builtin_patterns().unwrap();
    assert_eq!(p.matching_rules("", Some("keystore.p12")), ["pkcs12-file"]);
    assert!(p.matching_rules("", None).is_empty());
}
