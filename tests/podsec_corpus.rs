//! Judges every Pod of the PodSecurity admission controller's own fixtures
//! (tests/corpora/pod-security/) at its level and version: every `pass` Pod admitted, every `fail`
//! Pod rejected by the check its file name names (or the restricted check replacing it), and by no
//! other check unless the fixture's premise implies it (`IMPLIED`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use kgents_gate::podsec::{CHECKS, Level, Version, effective_check, evaluate};
use serde_json::Value;

/// Checks a failing fixture also breaks because of how it is built: (check named, check also
/// broken, why). Each pair is asserted to occur, so the list cannot go stale.
const IMPLIED: &[(&str, &str, &str)] = &[
    ("windowsHostProcess", "hostNamespaces", "a HostProcess pod must run in the host network (hostNetwork: true)"),
    ("privileged", "allowPrivilegeEscalation", "the privileged container leaves allowPrivilegeEscalation unset"),
    (
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "allowprivilegeescalation3 gives its container no securityContext, so no capabilities.drop either",
    ),
];

struct Fixture {
    /// Path inside the tarball, e.g. `restricted/v1.25/fail/runasnonroot1.yaml`.
    name: String,
    level: Level,
    version: Version,
    pass: bool,
    /// The upstream check id the file name names.
    check: &'static str,
    pod: Value,
}

/// The fixtures, read once for all tests of this file.
fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(read_fixtures)
}

fn read_fixtures() -> Vec<Fixture> {
    let tarball = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora/pod-security/fixtures.tar.gz");
    let file = std::fs::File::open(&tarball).unwrap_or_else(|e| panic!("{}: {e}", tarball.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for entry in archive.entries().expect("readable tarball") {
        let mut entry = entry.expect("tar entry");
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().expect("entry path").to_string_lossy().into_owned();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push(fixture(name, &text));
    }
    out
}

fn fixture(name: String, text: &str) -> Fixture {
    let parts: Vec<&str> = name.split('/').collect();
    let [level, version, outcome, file] = parts[..] else { panic!("{name}: unexpected layout") };
    let level: Level = level.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
    let version: Version = version.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
    let pass = match outcome {
        "pass" => true,
        "fail" => false,
        other => panic!("{name}: outcome folder {other:?}"),
    };
    let stem = file.strip_suffix(".yaml").unwrap_or_else(|| panic!("{name}: not a .yaml file"));
    let stem = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    // `base`, `base_linux`, `base_windows`: the minimal valid pods, named after no check.
    let check = if pass && stem.starts_with("base") {
        ""
    } else {
        CHECKS
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(stem))
            .unwrap_or_else(|| panic!("{name}: names no known check"))
            .id
    };
    let pod: Value = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    Fixture { name, level, version, pass, check, pod }
}

/// The checks a fixture's Pod violates.
fn violated(f: &Fixture) -> (BTreeSet<&'static str>, String) {
    let violations = evaluate(&f.pod["metadata"], &f.pod["spec"], f.level, f.version);
    (violations.iter().map(|v| v.check).collect(), format!("{violations:#?}"))
}

/// What is wrong with the verdict on one fixture, if anything; records the implied pairs seen.
fn disagreement(f: &Fixture, implied_seen: &mut BTreeSet<(&'static str, &'static str)>) -> Option<String> {
    let (violated, detail) = violated(f);
    if f.pass {
        return (!violated.is_empty()).then(|| format!("{}: rejected by {violated:?}: {detail}", f.name));
    }
    let Some(expected) = effective_check(f.check, f.level, f.version) else {
        return Some(format!("{}: names {}, which is not in force at {} {}", f.name, f.check, f.level, f.version));
    };
    if !violated.contains(expected) {
        return Some(format!("{}: admitted by {expected}, rejected by {violated:?}: {detail}", f.name));
    }
    for other in violated.iter().filter(|c| **c != expected) {
        match IMPLIED.iter().find(|(named, also, _)| *named == expected && also == other) {
            Some((named, also, _)) => {
                implied_seen.insert((named, also));
            }
            None => return Some(format!("{}: besides {expected}, also rejected by {other}: {detail}", f.name)),
        }
    }
    None
}

#[test]
fn every_fixture_is_judged_as_the_admission_controller_judges_it() {
    let start = Instant::now();
    let all = fixtures();
    let read = start.elapsed();

    // The whole corpus is there: both levels, every version from v1.0 to v1.33, passes and fails.
    assert_eq!(all.len(), 3949, "fixture count");
    let mut per_dir: BTreeMap<(Level, u32), (usize, usize)> = BTreeMap::new();
    for f in all {
        let Version::V1(minor) = f.version else { panic!("{}: fixtures pin versions", f.name) };
        let counts = per_dir.entry((f.level, minor)).or_default();
        if f.pass { counts.0 += 1 } else { counts.1 += 1 }
    }
    for level in [Level::Baseline, Level::Restricted] {
        for minor in 0..=33 {
            let (pass, fail) = per_dir.get(&(level, minor)).copied().unwrap_or_default();
            assert!(pass > 0 && fail > 0, "{level} v1.{minor}: {pass} pass, {fail} fail fixtures");
        }
    }

    let mut implied_seen = BTreeSet::new();
    let disagreements: Vec<String> = all.iter().filter_map(|f| disagreement(f, &mut implied_seen)).collect();
    let judged = start.elapsed() - read;
    eprintln!(
        "pod-security fixtures: {} judged ({} pass, {} fail), {} agree; read {read:?}, judged {judged:?}",
        all.len(),
        all.iter().filter(|f| f.pass).count(),
        all.iter().filter(|f| !f.pass).count(),
        all.len() - disagreements.len(),
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} fixtures disagree; the first ones:\n{}",
        disagreements.len(),
        all.len(),
        disagreements.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
    for (named, also, why) in IMPLIED {
        assert!(
            implied_seen.contains(&(*named, *also)),
            "no {named} fixture also breaks {also} ({why}): drop the entry"
        );
    }
}

#[test]
fn every_check_of_the_standard_before_v1_34_has_failing_fixtures() {
    // The corpus covers each check that exists at v1.33 (hostProbesAndHostLifecycle and
    // procMount_restricted come later); a check the corpus never fails would be judged blind.
    let named: BTreeSet<&str> = fixtures().iter().filter(|f| !f.pass).map(|f| f.check).collect();
    for c in CHECKS.iter().filter(|c| c.since() <= 33) {
        assert!(named.contains(c.id), "no failing fixture for {}", c.id);
    }
}
