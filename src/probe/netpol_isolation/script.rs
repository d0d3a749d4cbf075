//! The probe command of `netpol-isolation` and how its result is read: a small POSIX sh script
//! that tries one TCP connection with whatever `nc` the image has and says what happened in its
//! own words (`KGENTS-PROBE reachable|refused|timeout|tool-error: ...`), on stdout and in
//! `/dev/termination-log`, which the kubelet copies into the container status.

use k8s_openapi::api::core::v1::ContainerStatus;

/// Every line the probe writes about its result starts with this.
pub const MARKER: &str = "KGENTS-PROBE";

/// The default probe script, run as `sh -c SCRIPT kgents-probe HOST PORT TIMEOUT`.
///
/// `nc` differs between builds: busybox with nc 1.10 compatibility (upstream defconfig, the
/// official image) and OpenBSD's take `-z` and say why a connect failed with `-vv`; Debian's
/// busybox has neither `-z` nor `-v` and prints its usage. Without `-z` the script connects for
/// real with stdin closed, inside `timeout` (whose kill, after nc's own connect timeout has
/// passed, means the connection was open). Anything else is a tool error, never a blocked flow.
pub const SCRIPT: &str = r#"h=$1 p=$2 t=$3
say() {
  echo "KGENTS-PROBE $*"
  echo "KGENTS-PROBE $*" >/dev/termination-log 2>/dev/null || exit 3
  exit 0
}
flat() { set -f; set -- $1; echo "$*"; }
judge() {
  case $2 in
  *[Uu]sage:* | *"invalid option"* | *"unrecognized option"* | *"illegal option"* | *"unknown option"*) return 1 ;;
  esac
  [ "$1" = 0 ] && say reachable
  case $2 in
  *[Rr]efused*) say refused ;;
  *"timed out"* | *"Timed out"*) say timeout ;;
  *"No route to host"* | *[Uu]nreachable*) say "refused: $(flat "$2")" ;;
  esac
  say "tool-error: nc exited with $1: $(flat "$2")"
}
command -v nc >/dev/null 2>&1 || say "tool-error: no nc in the image"
out=$(nc -vv -z -w "$t" "$h" "$p" </dev/null 2>&1)
judge $? "$out" && exit 0
command -v timeout >/dev/null 2>&1 || say "tool-error: nc has no -z and there is no timeout: $(flat "$out")"
out=$(timeout $((t + 2)) nc -w "$t" "$h" "$p" </dev/null 2>&1 >/dev/null)
rc=$?
case $rc:$out in 124: | 143: | 124:Terminated | 143:Terminated) say reachable ;; esac
judge $rc "$out" || say "tool-error: nc takes neither -z nor HOST PORT: $(flat "$out")"
"#;

/// What the image must provide for the default command (said by `explain`).
pub const IMAGE_NEEDS: &str = "sh, nc (with -z, or without it plus timeout) and a writable /dev/termination-log";

/// The default `command`: the script with `{host}`, `{port}` and `{timeout}` as its arguments.
pub fn default_command() -> Vec<String> {
    ["sh", "-c", SCRIPT, "kgents-probe", "{host}", "{port}", "{timeout}"].iter().map(|s| s.to_string()).collect()
}

/// What one connection attempt showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The connection opened.
    Reachable,
    /// Refused or answered unreachable by the network (the detail, when the tool gave one).
    Refused(String),
    /// No answer within the connect timeout.
    TimedOut,
    /// The tool did not work: nothing is known about the network.
    ToolError(String),
    /// The container did not run to a result (deadline, deleted, never started).
    NotRun(String),
}

impl Seen {
    /// Refused and timed out: the network did not let the connection through.
    pub fn blocked(&self) -> bool {
        matches!(self, Seen::Refused(_) | Seen::TimedOut)
    }

    /// How the report says it.
    pub fn describe(&self) -> String {
        match self {
            Seen::Reachable => "reachable".into(),
            Seen::Refused(d) if d.is_empty() => "refused".into(),
            Seen::Refused(d) => format!("refused ({d})"),
            Seen::TimedOut => "timed out".into(),
            Seen::ToolError(e) => format!("tool error: {e}"),
            Seen::NotRun(r) => format!("not run: {r}"),
        }
    }
}

/// At most `n` characters of a tool's text, redacted, on one line.
pub fn excerpt(text: &str, n: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = flat.chars().take(n).collect();
    let short = if short.len() < flat.len() { format!("{short}...") } else { short };
    crate::redact::redact_text(&short).into_owned()
}

/// The result a marker line states, if `text` holds one (the last wins: a script may retry).
pub fn parse_marker(text: &str) -> Option<Seen> {
    let line = text.lines().rev().find_map(|l| l.trim().strip_prefix(MARKER))?;
    let rest = line.trim();
    let (word, detail) = match rest.split_once(':') {
        Some((w, d)) => (w.trim(), d.trim()),
        None => (rest, ""),
    };
    Some(match word {
        "reachable" => Seen::Reachable,
        "refused" => Seen::Refused(excerpt(detail, 200)),
        "timeout" => Seen::TimedOut,
        "tool-error" => Seen::ToolError(excerpt(detail, 300)),
        other => Seen::ToolError(format!("the probe printed an unknown result {:?}", excerpt(other, 40))),
    })
}

/// Waiting reasons after which the container will never start (restartPolicy Never).
const FATAL_WAITING: &[&str] = &[
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// The result a container status shows: None while it has not ended (or may still start).
/// The marker decides; an exit without one is a tool error naming the code and what it printed.
pub fn seen_in(status: &ContainerStatus, image: &str) -> Option<Seen> {
    let state = status.state.as_ref()?;
    if let Some(w) = &state.waiting {
        let reason = w.reason.clone().unwrap_or_default();
        if FATAL_WAITING.contains(&reason.as_str()) {
            let msg = w.message.as_deref().map(|m| format!(": {}", excerpt(m, 200))).unwrap_or_default();
            return Some(Seen::ToolError(format!("the container of image {image} cannot start ({reason}{msg})")));
        }
        return None;
    }
    let t = state.terminated.as_ref()?;
    let message = t.message.clone().unwrap_or_default();
    if let Some(seen) = parse_marker(&message) {
        return Some(match seen {
            Seen::ToolError(e) => Seen::ToolError(format!("{e} (image {image})")),
            other => other,
        });
    }
    let reason = t.reason.clone().unwrap_or_default();
    let said = if message.trim().is_empty() { "nothing".to_string() } else { format!("{:?}", excerpt(&message, 200)) };
    Some(Seen::ToolError(format!(
        "the probe in image {image} exited with code {}{} without the probe's marker (it printed {said})",
        t.exit_code,
        if reason.is_empty() { String::new() } else { format!(" ({reason})") },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn terminated(code: i32, message: &str) -> ContainerStatus {
        serde_json::from_value(json!({"name": "probe", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" },
            "message": message}}}))
        .unwrap()
    }

    #[test]
    fn markers_decide_not_exit_codes() {
        assert_eq!(seen_in(&terminated(0, "KGENTS-PROBE reachable\n"), "bb"), Some(Seen::Reachable));
        assert_eq!(seen_in(&terminated(0, "KGENTS-PROBE refused\n"), "bb"), Some(Seen::Refused(String::new())));
        assert_eq!(seen_in(&terminated(0, "KGENTS-PROBE timeout\n"), "bb"), Some(Seen::TimedOut));
        let unreachable = seen_in(&terminated(0, "KGENTS-PROBE refused: nc: No route to host"), "bb").unwrap();
        assert!(unreachable.blocked() && unreachable.describe().contains("No route to host"), "{unreachable:?}");
        // Exit 1 was "blocked" once: a usage text says nothing about the network.
        let usage = seen_in(&terminated(1, "BusyBox v1.35.0 multi-call binary.\n\nUsage: nc [-iN] [-wN]"), "bb:1.35");
        assert!(
            matches!(&usage, Some(Seen::ToolError(e)) if e.contains("code 1") && e.contains("bb:1.35")
            && e.contains("Usage: nc")),
            "{usage:?}"
        );
        let missing = seen_in(&terminated(0, "KGENTS-PROBE tool-error: no nc in the image"), "img").unwrap();
        assert_eq!(missing, Seen::ToolError("no nc in the image (image img)".into()));
        assert!(!missing.blocked());
        assert!(matches!(seen_in(&terminated(0, ""), "i"), Some(Seen::ToolError(e)) if e.contains("printed nothing")));
        assert!(matches!(seen_in(&terminated(0, "KGENTS-PROBE open"), "i"), Some(Seen::ToolError(e))
            if e.contains("unknown result")));
    }

    #[test]
    fn containers_that_cannot_start_are_tool_errors_and_pulls_are_waited_for() {
        let waiting = |reason: &str| -> ContainerStatus {
            serde_json::from_value(json!({"name": "probe", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": reason, "message": "no such image"}}}))
            .unwrap()
        };
        assert!(matches!(seen_in(&waiting("ErrImageNeverPull"), "x:1"), Some(Seen::ToolError(e))
            if e.contains("x:1") && e.contains("ErrImageNeverPull")));
        assert_eq!(seen_in(&waiting("ContainerCreating"), "x:1"), None);
        assert_eq!(seen_in(&waiting("ImagePullBackOff"), "x:1"), None);
        let start_error = seen_in(&terminated(128, "exec: \"sh\": executable file not found in $PATH"), "nats:2");
        assert!(matches!(start_error, Some(Seen::ToolError(e)) if e.contains("128") && e.contains("executable")));
    }

    #[test]
    fn the_default_command_passes_host_port_and_timeout_as_arguments() {
        let cmd = default_command();
        assert_eq!(&cmd[..2], ["sh", "-c"]);
        assert_eq!(&cmd[3..], ["kgents-probe", "{host}", "{port}", "{timeout}"]);
        assert!(!SCRIPT.contains("{host}") && !SCRIPT.contains("{port}"), "the script itself has no placeholders");
    }
}
