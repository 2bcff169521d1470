//! Download progress: indicatif bars (per file and total) on a terminal, plain log lines
//! otherwise (CI, systemd, `| tee`), nothing in tests.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, lines otherwise.
    Auto,
    /// indicatif bars on stderr.
    Bars,
    /// One line per event and a status line every few seconds on stderr.
    Lines,
    /// Nothing.
    Quiet,
}

/// How often line mode prints a status line per file.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// Progress of a whole run; cheap to clone.
#[derive(Clone)]
pub struct Progress {
    mode: ProgressMode,
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
}

impl Progress {
    /// Starts a display for `total_bytes` over `files` files.
    pub fn new(mode: ProgressMode, total_bytes: u64, files: usize) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bars,
            ProgressMode::Auto => ProgressMode::Lines,
            m => m,
        };
        let (multi, total) = if mode == ProgressMode::Bars {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(ProgressBar::new(total_bytes));
            total.set_style(style("{prefix:.bold} {msg:<30} [{bar:24.green/white}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta:>4}"));
            total.set_prefix("total");
            total.set_message(format!("{files} file(s)"));
            (Some(multi), Some(total))
        } else {
            (None, None)
        };
        Progress { mode, multi, total }
    }

    /// The effective mode (`Auto` resolved).
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// Prints a message above the bars (or as a line).
    pub fn println(&self, msg: &str) {
        match (&self.multi, self.mode) {
            (Some(m), _) => {
                let _ = m.println(msg);
            }
            (None, ProgressMode::Lines) => eprintln!("{msg}"),
            _ => {}
        }
    }

    /// Starts the display of one file: `size` expected bytes, `already` bytes present (resume).
    pub fn file(&self, name: &str, size: Option<u64>, already: u64) -> FileProgress {
        let bar = self.multi.as_ref().map(|m| {
            // Configured while hidden, then handed to the MultiProgress: no half-drawn frame.
            let bar = ProgressBar::with_draw_target(size, ProgressDrawTarget::hidden());
            bar.set_style(style("{prefix:.bold} {msg:<30} [{bar:24.cyan/blue}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta:>4}"));
            bar.set_prefix(" file");
            bar.set_message(shorten(name, 30));
            bar.set_position(already);
            bar.reset_eta();
            match &self.total {
                Some(total) => m.insert_before(total, bar),
                None => m.add(bar),
            }
        });
        if let Some(total) = &self.total {
            total.inc(already);
        }
        if self.mode == ProgressMode::Lines {
            let from = if already > 0 {
                format!(" (resuming at {})", human_bytes(already))
            } else {
                String::new()
            };
            eprintln!(
                "downloading {name}: {}{from}",
                size.map(human_bytes)
                    .unwrap_or_else(|| "unknown size".into())
            );
        }
        FileProgress {
            name: name.to_string(),
            size,
            mode: self.mode,
            bar,
            total: self.total.clone(),
            line: Arc::new(Mutex::new(LineState {
                started: Instant::now(),
                last_print: Instant::now(),
                pos: already,
                start_pos: already,
            })),
        }
    }

    /// Ends the display.
    pub fn finish(&self) {
        if let Some(total) = &self.total {
            total.finish();
            // indicatif leaves the cursor at the end of the last bar.
            eprintln!();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_string()
    } else {
        let tail: String = name
            .chars()
            .rev()
            .take(max - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

/// `1.5 GiB`-style sizes for humans.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

struct LineState {
    started: Instant,
    last_print: Instant,
    pos: u64,
    start_pos: u64,
}

/// Progress of one file.
pub struct FileProgress {
    name: String,
    size: Option<u64>,
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    total: Option<ProgressBar>,
    line: Arc<Mutex<LineState>>,
}

impl FileProgress {
    /// `n` more bytes arrived.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
        if let Some(total) = &self.total {
            total.inc(n);
        }
        if self.mode == ProgressMode::Lines {
            let mut s = self.line.lock().unwrap_or_else(|e| e.into_inner());
            s.pos += n;
            if s.last_print.elapsed() >= LINE_INTERVAL {
                s.last_print = Instant::now();
                let secs = s.started.elapsed().as_secs_f64().max(1e-3);
                let rate = (s.pos - s.start_pos) as f64 / secs;
                let (pct, eta) = match self.size {
                    Some(size) if size > 0 => {
                        let left = size.saturating_sub(s.pos) as f64;
                        (
                            format!("{:.0}%", 100.0 * s.pos as f64 / size as f64),
                            if rate > 0.0 {
                                format!(", ETA {:.0} s", left / rate)
                            } else {
                                String::new()
                            },
                        )
                    }
                    _ => ("?".into(), String::new()),
                };
                eprintln!(
                    "  {}: {pct} ({}, {}/s{eta})",
                    self.name,
                    human_bytes(s.pos),
                    human_bytes(rate as u64)
                );
            }
        }
    }

    /// The server ignored our range: the file starts again from zero.
    pub fn restart(&self, discarded: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(0);
        }
        if let Some(total) = &self.total {
            total.set_position(total.position().saturating_sub(discarded));
        }
        let mut s = self.line.lock().unwrap_or_else(|e| e.into_inner());
        s.pos = 0;
        s.start_pos = 0;
    }

    /// The file is in place and verified.
    pub fn done(&self, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message(shorten(&format!("{} ✓", self.name), 30));
        }
        if self.mode == ProgressMode::Lines {
            eprintln!("{}: {msg}", self.name);
        }
    }

    /// The file failed (the reason is reported once, in the run's summary).
    pub fn failed(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon_with_message(shorten(&format!("{} ✗", self.name), 30));
        }
        if self.mode == ProgressMode::Lines {
            eprintln!("{}: FAILED (reason below)", self.name);
        }
    }
}
