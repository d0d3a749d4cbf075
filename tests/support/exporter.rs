//! A Prometheus exporter on 127.0.0.1 serving series the test controls, in the text exposition
//! format: gauges, counters growing at a set rate per second and histograms whose buckets grow
//! at set rates, so that `rate()` and `histogram_quantile()` over what Prometheus scraped return
//! known values. Series can be removed (they go stale in Prometheus, as a target that stops
//! exporting a metric).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
enum Value {
    Gauge(f64),
    /// `base` at `since`, growing by `per_second` after.
    Counter {
        base: f64,
        per_second: f64,
        since: Instant,
    },
}

impl Value {
    fn now(&self) -> f64 {
        match self {
            Value::Gauge(v) => *v,
            Value::Counter { base, per_second, since } => base + per_second * since.elapsed().as_secs_f64(),
        }
    }
}

/// One metric family: its type and series by label text (`{a="b"}`).
#[derive(Debug, Clone, Default)]
struct Family {
    kind: &'static str,
    series: BTreeMap<String, (String, Value)>,
}

#[derive(Default)]
struct State {
    families: BTreeMap<String, Family>,
    /// Exposition text served as it is, after the families (e.g. a saved scrape).
    raw: String,
}

/// The exporter; it stops serving when dropped.
pub struct Exporter {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

/// `{a="b",c="d"}` with values escaped as the exposition format wants, `""` without labels.
pub fn label_text(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Exporter {
    /// Starts serving `/metrics` on a free port of 127.0.0.1.
    pub fn start() -> Exporter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the exporter's port");
        let port = listener.local_addr().expect("the exporter's address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, halt) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let st = st.clone();
                    std::thread::spawn(move || serve(conn, &st));
                }
            }
        });
        Exporter { port, state, stop }
    }

    /// `127.0.0.1:PORT`, as a scrape target.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT/metrics`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.port)
    }

    /// A `scrape_configs` entry (YAML list item) for Prometheus to scrape this exporter as `job`
    /// every `interval` (e.g. `1s`).
    pub fn scrape_config(&self, job: &str, interval: &str) -> String {
        format!(
            "- job_name: {job}\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  static_configs:\n  - targets: ['{}']\n",
            self.target()
        )
    }

    fn set(&self, family: &str, kind: &'static str, series: &str, labels: &str, value: Value) {
        let mut st = self.state.lock().expect("exporter state");
        let f = st.families.entry(family.to_string()).or_default();
        f.kind = kind;
        f.series.insert(format!("{series}{labels}"), (series.to_string(), value));
    }

    /// A gauge with `value`.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.set(name, "gauge", name, &label_text(labels), Value::Gauge(value));
    }

    /// A counter growing by `per_second` from now on, from its current value (0 when new).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)], per_second: f64) {
        let labels = label_text(labels);
        let base = self.current(name, &format!("{name}{labels}")).unwrap_or(0.0);
        self.set(name, "counter", name, &labels, Value::Counter { base, per_second, since: Instant::now() });
    }

    /// A histogram observing `per_second` events, of which the cumulative fraction `upto` fall at
    /// or below each bucket bound `le` (e.g. `[(0.1, 0.5), (0.25, 0.9), (0.5, 1.0)]`): with linear
    /// interpolation, `histogram_quantile(0.95, ...)` of that is 0.375. `_sum` grows as if every
    /// event took its bucket's upper bound.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)], per_second: f64, upto: &[(f64, f64)]) {
        let base = label_text(labels);
        let with_le = |le: &str| {
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("le", le));
            label_text(&l)
        };
        let now = Instant::now();
        let mut sum_rate = 0.0;
        let mut below = 0.0;
        for (le, fraction) in upto {
            let le_text = format!("{le}");
            let key = format!("{name}_bucket{}", with_le(&le_text));
            let start = self.current(name, &key).unwrap_or(0.0);
            self.set(
                name,
                "histogram",
                &format!("{name}_bucket"),
                &with_le(&le_text),
                Value::Counter { base: start, per_second: per_second * fraction, since: now },
            );
            sum_rate += (fraction - below) * per_second * le;
            below = *fraction;
        }
        for (series, suffix_labels, rate) in [
            (format!("{name}_bucket"), with_le("+Inf"), per_second),
            (format!("{name}_count"), base.clone(), per_second),
            (format!("{name}_sum"), base.clone(), sum_rate),
        ] {
            let start = self.current(name, &format!("{series}{suffix_labels}")).unwrap_or(0.0);
            self.set(
                name,
                "histogram",
                &series,
                &suffix_labels,
                Value::Counter { base: start, per_second: rate, since: now },
            );
        }
    }

    /// Serves `text` (exposition format, e.g. a scrape saved to a file) after the series above.
    pub fn raw(&self, text: &str) {
        self.state.lock().expect("exporter state").raw = text.to_string();
    }

    /// Stops exporting every series of the metric family `name`.
    pub fn remove(&self, name: &str) {
        self.state.lock().expect("exporter state").families.remove(name);
    }

    fn current(&self, family: &str, key: &str) -> Option<f64> {
        let st = self.state.lock().expect("exporter state");
        st.families.get(family)?.series.get(key).map(|(_, v)| v.now())
    }

    /// What a scrape gets now.
    pub fn exposition(&self) -> String {
        render(&self.state.lock().expect("exporter state"))
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_millis(200));
    }
}

fn render(st: &State) -> String {
    let mut out = String::new();
    for (name, f) in &st.families {
        out.push_str(&format!("# HELP {name} A series the test controls.\n# TYPE {name} {}\n", f.kind));
        for (key, (_, value)) in &f.series {
            out.push_str(&format!("{key} {}\n", value.now()));
        }
    }
    out.push_str(&st.raw);
    out
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = String::from_utf8_lossy(&buf);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = if path == "/metrics" || path.starts_with("/metrics?") {
        ("200 OK", render(&state.lock().expect("exporter state")))
    } else {
        ("404 Not Found", "not found\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
}
