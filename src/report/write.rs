//! Report formats (`--format terminal,markdown,json,junit`) and writing the file formats to the
//! output directory atomically: a temp file in the same directory, then a rename, so a reader
//! (a CI job collecting JUnit) never sees a half-written file.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::report::{Report, json, junit, markdown};

/// One report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Printed to stdout by the caller; never written to a file.
    Terminal,
    Markdown,
    Json,
    Junit,
}

/// The values `--format` accepts, in the order error messages list them.
pub const FORMAT_NAMES: [&str; 4] = ["terminal", "markdown", "json", "junit"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format `{0}`; expected a comma-separated list of: terminal, markdown, json, junit")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "terminal" => Ok(Format::Terminal),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "junit" | "xml" => Ok(Format::Junit),
            _ => Err(UnknownFormat(s.trim().to_string())),
        }
    }
}

impl Format {
    /// Parses `terminal,markdown,json,junit` (any order, spaces allowed, duplicates dropped).
    pub fn parse_list(s: &str) -> Result<Vec<Format>, UnknownFormat> {
        let mut formats = Vec::new();
        for part in s.split(',') {
            let format: Format = part.parse()?;
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        Ok(formats)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Terminal => "terminal",
            Format::Markdown => "markdown",
            Format::Json => "json",
            Format::Junit => "junit",
        }
    }

    /// The file this format is written to, or None for the terminal.
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Format::Terminal => None,
            Format::Markdown => Some("kgents-gate-report.md"),
            Format::Json => Some("kgents-gate-report.json"),
            Format::Junit => Some("kgents-gate-report.xml"),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes every file format in `formats` to `out_dir` (created if missing) and returns the paths
/// written, in the order given. `Format::Terminal` is skipped: the caller prints it.
/// Each file is rendered fully in memory first, then written atomically.
pub fn write_reports(report: &Report, formats: &[Format], out_dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)?;
    let mut written = Vec::new();
    for &format in formats {
        let Some(name) = format.file_name() else {
            continue;
        };
        let contents = match format {
            Format::Markdown => markdown::render_markdown(report),
            Format::Json => json::render_json(report),
            Format::Junit => junit::render_junit(report).map_err(io::Error::other)?,
            Format::Terminal => continue,
        };
        let path = out_dir.join(name);
        write_atomic(&path, contents.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `bytes` to a temp file next to `path`, syncs it and renames it over `path`.
/// On any error the temp file is removed (NamedTempFile deletes itself when dropped).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".kgents-gate-").suffix(".tmp");
    // tempfile defaults to 0600; a report is an ordinary artifact others read (umask still applies).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| io::Error::new(e.error.kind(), format!("cannot write {}: {}", path.display(), e.error)))?;
    Ok(())
}
