//! Server processes and scratch directories for tests, cleaned up however the test binary ends:
//! on Drop, from an `atexit` hook, and by a watchdog process that outlives a killed test binary.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// One thing to undo when the test binary ends.
#[derive(Clone)]
enum Undo {
    Kill(u32),
    Remove(PathBuf),
    /// A teardown that needs the other servers still up: `call` runs in-process at exit before
    /// any kill; if the binary was killed, the watchdog runs the shell line `script` instead
    /// (after the kills, before the removals).
    Teardown {
        call: fn(),
        script: String,
    },
}

/// Everything still to undo, by registration id. Mirrored into a shell script the watchdog runs.
static PENDING: Mutex<BTreeMap<u64, Undo>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static WATCHDOG: Once = Once::new();

fn cleanup_script() -> PathBuf {
    std::env::temp_dir().join(format!("kgents-gate-test-{}.cleanup.sh", std::process::id()))
}

/// Rewrites the watchdog's script: kills first, then removals, so no process writes into a
/// directory being removed.
fn write_script(pending: &BTreeMap<u64, Undo>) {
    let mut text = String::from("# cleanup for an ended kgents-gate test binary\n");
    for undo in pending.values() {
        if let Undo::Kill(pid) = undo {
            text.push_str(&format!("kill -9 {pid} 2>/dev/null\n"));
        }
    }
    text.push_str("sleep 1\n");
    for undo in pending.values() {
        if let Undo::Teardown { script, .. } = undo {
            text.push_str(&format!("{script}\n"));
        }
    }
    for undo in pending.values() {
        if let Undo::Remove(dir) = undo {
            text.push_str(&format!("rm -rf '{}'\n", dir.display().to_string().replace('\'', "'\\''")));
        }
    }
    let path = cleanup_script();
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// Starts, once per test binary, the watchdog (a `sh` loop in its own process group, so Ctrl-C
/// and the death of the spawning thread do not touch it) and the `atexit` hook.
fn ensure_watchdog() {
    WATCHDOG.call_once(|| {
        write_script(&BTreeMap::new());
        let script = r#"trap '' HUP INT
while kill -0 "$0" 2>/dev/null; do sleep 1; done
[ -f "$1" ] && sh "$1"
rm -f "$1""#;
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(std::process::id().to_string())
            .arg(cleanup_script())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        // The watchdog is never waited for: it must outlive this process.
        if let Err(e) = spawned {
            panic!("cannot start the test cleanup watchdog (sh): {e}");
        }
        // SAFETY: `undo_all_at_exit` is a plain extern "C" function without arguments.
        unsafe {
            libc::atexit(undo_all_at_exit);
        }
    });
}

extern "C" fn undo_all_at_exit() {
    // Teardowns first, newest first, with the lock released: they stop (and unregister) their
    // own processes and may need servers that the kills below end.
    let calls: Vec<fn()> = match PENDING.try_lock() {
        Ok(pending) => pending
            .values()
            .rev()
            .filter_map(|u| if let Undo::Teardown { call, .. } = u { Some(*call) } else { None })
            .collect(),
        Err(_) => Vec::new(),
    };
    for call in calls {
        call();
    }
    // try_lock: a test thread may still hold the lock while the process exits.
    let Ok(mut pending) = PENDING.try_lock() else {
        return;
    };
    let undos: Vec<Undo> = std::mem::take(&mut *pending).into_values().collect();
    for undo in &undos {
        if let Undo::Kill(pid) = undo {
            // SAFETY: kill and waitpid on our own children's pids.
            unsafe {
                libc::kill(*pid as i32, libc::SIGKILL);
                libc::waitpid(*pid as i32, std::ptr::null_mut(), 0);
            }
        }
    }
    for undo in &undos {
        if let Undo::Remove(dir) = undo {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    let _ = std::fs::remove_file(cleanup_script());
}

fn register(undo: Undo) -> u64 {
    ensure_watchdog();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    pending.insert(id, undo);
    write_script(&pending);
    id
}

fn unregister(id: u64) {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    if pending.remove(&id).is_some() {
        write_script(&pending);
    }
}

/// Registers a teardown for the end of the test binary: `call` runs in-process at exit, before
/// the registered processes are killed; if the binary is killed instead, the watchdog runs the
/// shell line `script` after killing them. Returns an id for [`cancel_at_exit`].
pub fn teardown_at_exit(call: fn(), script: &str) -> u64 {
    register(Undo::Teardown { call, script: script.to_string() })
}

/// Forgets a teardown registered with [`teardown_at_exit`] (it was done).
pub fn cancel_at_exit(id: u64) {
    unregister(id);
}

/// A directory under the system temp dir, removed on Drop or when the test binary ends (kept
/// when `KGENTS_GATE_KEEP_TEST_DIRS` is set, to read server logs after a failure).
pub struct ScratchDir {
    path: PathBuf,
    id: Option<u64>,
}

impl ScratchDir {
    /// Creates `$TMPDIR/kgents-gate-<what>-XXXX`.
    pub fn new(what: &str) -> ScratchDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("kgents-gate-{what}-"))
            .tempdir()
            .expect("create a scratch directory under the temp dir")
            .keep();
        let keep = std::env::var_os("KGENTS_GATE_KEEP_TEST_DIRS").is_some_and(|v| !v.is_empty());
        let id = if keep { None } else { Some(register(Undo::Remove(dir.clone()))) };
        ScratchDir { path: dir, id }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory, created if missing.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).expect("create a scratch subdirectory");
        p
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let _ = std::fs::remove_dir_all(&self.path);
            unregister(id);
        }
    }
}

/// A running server: stdout and stderr go to a log file; killed by pid on Drop or at exit.
/// PR_SET_PDEATHSIG is deliberately not used: it fires when the spawning *thread* exits, and
/// test threads exit while a shared server must live on.
pub struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
    id: u64,
}

impl ServerProcess {
    /// Spawns `cmd` with its output in `log`. `name` is used in messages.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> ServerProcess {
        let out = File::create(log).expect("create a server log file");
        let err = out.try_clone().expect("clone a server log file handle");
        let mut header = out.try_clone().expect("clone a server log file handle");
        let _ = writeln!(header, "# {cmd:?}");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("cannot start {name} ({:?}): {e}", cmd.get_program()),
        };
        let id = register(Undo::Kill(child.id()));
        ServerProcess { name: name.to_string(), child, log: log.to_path_buf(), id }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `None` while running, else a description of how it ended.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// The last `lines` lines of the log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// A failure message naming the process, its exit state and its log tail.
    pub fn describe_failure(&mut self, what: &str) -> String {
        let state = self.exited().unwrap_or_else(|| "still running".into());
        format!("{} {what} (process {state}); log {}:\n{}", self.name, self.log.display(), self.log_tail(40))
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn terminate(&mut self, grace: Duration) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if self.exited().is_some() {
                unregister(self.id);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        unregister(self.id);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago and was not handed out before by this
/// test binary. Another process may still take it: starters retry on "address already in use".
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address of a listener").port();
        let mut seen = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// Whether a failure message says a port was taken, so starting again on new ports may work.
pub fn is_port_clash(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("address already in use") || m.contains("address in use")
}
