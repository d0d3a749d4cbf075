//! `explain ID`: what a check or an item verifies and why, its remediation, defaults, what it
//! reads and the codes it reports.

use super::Failure;
use crate::cli::ChecklistArgs;
use crate::exit;

/// Explains an item of the checklist or a check of the catalog.
pub fn run(id: &str, args: &ChecklistArgs) -> Result<i32, Failure> {
    let (loaded, _) = crate::app::load(args, false)?;
    let c = &loaded.checklist;
    let (item, def) = match c.item(id) {
        Some(item) => (Some(item), item.check().cloned()),
        None => (None, c.catalog.iter().find(|d| d.id == id).map(|d| (**d).clone())),
    };
    if item.is_none() && def.is_none() {
        let mut known: Vec<&str> = c.items.iter().map(|i| i.id.as_str()).collect();
        known.extend(c.catalog.iter().map(|d| d.id.as_str()));
        return Err(Failure::usage(format!("no item or check with id {id:?}; known ids: {}", known.join(", "))));
    }
    if let Some(item) = item {
        println!("item {}: {}", item.id, item.title);
        println!(
            "  category: {}   severity: {}   owner: {}",
            item.category,
            item.severity.as_str(),
            item.owner.as_deref().unwrap_or("-")
        );
        if def.is_none() {
            println!(
                "  manual item: pending until signed off (by, on, evidence) in the checklist; a sign-off may expire."
            );
        }
    }
    if let Some(def) = def {
        println!("check {} (probe kind: {}, from {})", def.id, def.probe.as_str(), def.source);
        println!("  {}", def.title);
        println!("\nwhat it verifies and why:\n  {}", def.description.trim().replace('\n', "\n  "));
        println!("\nremediation:\n  {}", def.remediation.trim().replace('\n', "\n  "));
        if !def.defaults.is_empty() {
            println!("\ndefault parameters:");
            for (k, v) in &def.defaults {
                println!("  {k} = {v}");
            }
        }
        let reads = match (def.probe.reads_cluster(), def.probe.needs_live()) {
            _ if def.probe == crate::probe::ProbeKind::ScanReport => {
                "scan report files (paths and globs relative to the checklist) and, with match_images, the Pods \
                 and workloads in scope, from the live cluster or --manifests (`kgents-gate rbac` prints the exact \
                 permissions)"
            }
            (true, _) => {
                "Kubernetes objects, from the live cluster or --manifests (`kgents-gate rbac` prints the exact permissions)"
            }
            (false, true) => "a live network endpoint (unverified with --offline)",
            (false, false) => "local files only",
        };
        println!("\nreads: {reads}");
        if def.probe == crate::probe::ProbeKind::NetpolIsolation {
            println!(
                "\nlive probe pods: the probe image must provide {} (the default command is a sh script \
                 that prints KGENTS-PROBE reachable|refused|timeout|tool-error)",
                crate::probe::netpol_isolation::script::IMAGE_NEEDS
            );
        }
        let ids = def.probe.finding_id_facts();
        let waive = if ids.is_empty() {
            "[[waiver]] with match = { code = \"...\", object = \"...\" } (the finding's target; these findings carry no id)"
                .to_string()
        } else {
            format!(
                "[[waiver]] with match = {{ code = \"...\", object = \"...\", id = \"...\" }} (id: the finding's {} fact)",
                ids.join(" or ")
            )
        };
        println!("\nwaive single findings: {waive}");
        // The kinds the item (or the check with its defaults) lists, as `rbac` grants them.
        let spec = match item.map(|i| &i.kind) {
            Some(crate::checklist::ItemKind::Check { spec, .. }) => Some((**spec).clone()),
            _ => crate::probe::ProbeSpec::parse(def.probe, &def.defaults).ok(),
        };
        let kinds: Vec<&str> = spec.iter().flat_map(|s| s.needs()).map(|n| n.kind.info().plural).collect();
        if !kinds.is_empty() {
            println!("  lists: {}", kinds.join(", "));
        }
        let codes = crate::codes::for_probe(def.probe.as_str());
        if !codes.is_empty() {
            println!("\ncodes it reports:");
            for c in codes {
                let kind = if c.kind == crate::codes::CodeKind::Gap { " (could not check)" } else { "" };
                println!("  {}{kind}: {}", c.code, c.meaning);
            }
        }
    }
    Ok(exit::APPROVED)
}
