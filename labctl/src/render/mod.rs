//! Rendering: the only module that writes to stdout.
//!
//! Commands build documents (check reports, predictions, findings) and hand them here. Colour is
//! decided once ([`use_color`]) and passed along, so renderers stay pure functions from a
//! document to a `String` that golden tests can compare.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod checks;
pub mod findings;
pub mod predict;

use std::io::{IsTerminal, Write};

/// Whether to colour output: never with `--no-color`, with `NO_COLOR` set (no-color.org), or
/// when stdout is not a terminal (pipes, files, CI logs).
pub fn use_color(no_color_flag: bool) -> bool {
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color_flag && !no_color_env && std::io::stdout().is_terminal()
}

/// A small palette that is a no-op without colour, so renderers never branch on it.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    pub color: bool,
}

impl Palette {
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn paint(&self, text: &str, f: impl Fn(&str) -> colored::ColoredString) -> String {
        if self.color {
            // Force colour on: the `colored` crate otherwise re-checks the environment itself,
            // and we already decided.
            colored::control::set_override(true);
            f(text).to_string()
        } else {
            text.to_owned()
        }
    }

    pub fn green(&self, text: &str) -> String {
        self.paint(text, |t| colored::Colorize::green(t))
    }
    pub fn yellow(&self, text: &str) -> String {
        self.paint(text, |t| colored::Colorize::yellow(t))
    }
    pub fn red(&self, text: &str) -> String {
        self.paint(text, |t| colored::Colorize::red(t))
    }
    pub fn dim(&self, text: &str) -> String {
        self.paint(text, |t| colored::Colorize::dimmed(t))
    }
    pub fn bold(&self, text: &str) -> String {
        self.paint(text, |t| colored::Colorize::bold(t))
    }
}

/// Writes a whole document to stdout. A closed pipe (`labctl verify | head -1`) is success, as
/// in ripgrep: the reader got what it wanted.
pub fn write_stdout(document: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let result = out
        .write_all(document.as_bytes())
        .and_then(|()| out.flush());
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

pub use crate::context::{OutputFormat, SCHEMA};

/// Serialises `value` as pretty JSON with a trailing newline (one document per run).
pub fn to_json_document<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// Progress and diagnostics go to stderr so stdout stays one clean document.
pub fn note(message: &str) {
    eprintln!("{message}");
}

/// A progress line on stderr for long waits: rewritten in place on a terminal; elsewhere (a
/// log, CI) printed only when its text changes, without the counters that change every time.
#[derive(Debug)]
pub struct Progress {
    terminal: bool,
    last: std::cell::RefCell<String>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        use std::io::IsTerminal;
        Self {
            terminal: std::io::stderr().is_terminal(),
            last: std::cell::RefCell::new(String::new()),
        }
    }

    /// Shows `line` (on a non-terminal, only when the text after its first `: ` changed).
    pub fn update(&self, line: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K{line}");
            return;
        }
        // The part after the first colon carries the state; the prefix carries counters.
        let key = line.split_once(": ").map_or(line, |(_, rest)| rest);
        if *self.last.borrow() != key {
            eprintln!("{line}");
            *self.last.borrow_mut() = key.to_owned();
        }
    }

    /// Ends the line on a terminal, so what follows starts on its own line.
    pub fn finish(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_without_color_is_identity() {
        let p = Palette::new(false);
        assert_eq!(p.red("x"), "x");
        assert_eq!(p.bold("y"), "y");
    }

    #[test]
    fn palette_with_color_adds_escapes() {
        let p = Palette::new(true);
        assert!(p.red("x").contains("\u{1b}["));
    }
}
