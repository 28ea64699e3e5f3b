//! Training data: a streaming CSV reader and the built-in synthetic data set.
//!
//! The reader never holds more than one line: rows are handed to a callback as they are
//! parsed, and the SHA-256 of every byte read is computed on the way.

use std::io::BufRead;

use sha2::{Digest, Sha256};

/// Why the data could not be used. Every variant says where.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DataError {
    /// The input could not be read (not a data problem: exit 2).
    #[error("cannot read {source_name}: {message}")]
    Read {
        source_name: String,
        message: String,
    },
    /// The input has no lines at all.
    #[error("{0}: empty file, expected a header such as `x,y`")]
    Empty(String),
    /// The header is missing or malformed.
    #[error("{source_name}: line 1: bad header: {reason}")]
    Header { source_name: String, reason: String },
    /// A row has the wrong number of cells.
    #[error("{source_name}: line {line}: expected {expected} cells, found {found}")]
    Width {
        source_name: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    /// A cell is not a number, or not a finite one.
    #[error(
        "{source_name}: line {line}, column {column} ({name}): {value:?} is not a finite number"
    )]
    Cell {
        source_name: String,
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
}

/// Column names from the header: features first, the target last.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub features: Vec<String>,
    pub target: String,
}

/// What was read: the header, row count and the SHA-256 of the bytes.
#[derive(Debug, Clone)]
pub struct Summary {
    pub header: Header,
    pub rows: u64,
    pub sha256: String,
}

/// Reads CSV from `input`, calling `row(index, features, target)` for every data row.
/// `source_name` names the input in errors. Blank lines are skipped; `\r\n` is accepted.
pub fn read_csv(
    source_name: &str,
    mut input: impl BufRead,
    mut row: impl FnMut(u64, &[f64], f64),
) -> Result<Summary, DataError> {
    let mut hasher = Sha256::new();
    let mut line = String::new();
    let mut line_no = 0u64;
    let mut header: Option<Header> = None;
    let mut cells: Vec<f64> = Vec::new();
    let mut rows = 0u64;
    loop {
        line.clear();
        let n = input.read_line(&mut line).map_err(|e| DataError::Read {
            source_name: source_name.to_owned(),
            message: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(line.as_bytes());
        line_no += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let Some(h) = &header else {
            header = Some(parse_header(source_name, text)?);
            continue;
        };
        let width = h.features.len() + 1;
        cells.clear();
        for (i, cell) in text.split(',').enumerate() {
            if i >= width {
                let found = text.split(',').count();
                return Err(DataError::Width {
                    source_name: source_name.to_owned(),
                    line: line_no,
                    expected: width,
                    found,
                });
            }
            let value = cell.trim();
            match value.parse::<f64>() {
                Ok(v) if v.is_finite() => cells.push(v),
                _ => {
                    let name = h.features.get(i).unwrap_or(&h.target).clone();
                    return Err(DataError::Cell {
                        source_name: source_name.to_owned(),
                        line: line_no,
                        column: i + 1,
                        name,
                        value: value.to_owned(),
                    });
                }
            }
        }
        if cells.len() != width {
            return Err(DataError::Width {
                source_name: source_name.to_owned(),
                line: line_no,
                expected: width,
                found: cells.len(),
            });
        }
        row(rows, &cells[..width - 1], cells[width - 1]);
        rows += 1;
    }
    let header = header.ok_or_else(|| DataError::Empty(source_name.to_owned()))?;
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Summary {
        header,
        rows,
        sha256,
    })
}

fn parse_header(source_name: &str, text: &str) -> Result<Header, DataError> {
    let bad = |reason: String| DataError::Header {
        source_name: source_name.to_owned(),
        reason,
    };
    let names: Vec<String> = text.split(',').map(|c| c.trim().to_owned()).collect();
    if names.len() < 2 {
        return Err(bad(format!(
            "{text:?} has {} column(s); need at least one feature and the target, e.g. `x,y`",
            names.len()
        )));
    }
    if names.iter().any(|n| n.parse::<f64>().is_ok()) {
        return Err(bad(format!(
            "{text:?} looks like data; the first line must name the columns, e.g. `x,y`"
        )));
    }
    if let Some(i) = names.iter().position(|n| n.is_empty()) {
        return Err(bad(format!("column {} has no name", i + 1)));
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(bad(format!("column name {name:?} appears twice")));
        }
    }
    let target = names.last().cloned().unwrap_or_default();
    let features = names[..names.len() - 1].to_vec();
    Ok(Header { features, target })
}

/// splitmix64: a tiny, well-mixed, deterministic generator; enough for synthetic data and the
/// holdout split (nothing here needs cryptographic randomness).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from a hash.
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Rows, slope, intercept and noise of the built-in synthetic data set.
pub const SYNTHETIC_ROWS: u64 = 1000;
pub const SYNTHETIC_SLOPE: f64 = 3.0;
pub const SYNTHETIC_INTERCEPT: f64 = 2.0;
pub const SYNTHETIC_NOISE: f64 = 0.5;

/// The built-in data set as CSV text: `y = 3x + 2 + noise`, x in [-10, 10), Gaussian noise
/// with sd 0.5. The same seed gives the same bytes (and so the same data hash).
pub fn synthetic_csv(seed: u64) -> String {
    let mut out = String::from("x,y\n");
    let mut state = splitmix64(seed);
    let mut next = || {
        state = splitmix64(state);
        unit(state)
    };
    for _ in 0..SYNTHETIC_ROWS {
        let x = -10.0 + 20.0 * next();
        // Box-Muller: two uniforms → one standard normal.
        let (u1, u2) = (next().max(f64::MIN_POSITIVE), next());
        let noise = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let y = SYNTHETIC_SLOPE * x + SYNTHETIC_INTERCEPT + SYNTHETIC_NOISE * noise;
        out.push_str(&format!("{x:.6},{y:.6}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rows = Vec<(Vec<f64>, f64)>;

    fn read(text: &str) -> Result<(Summary, Rows), DataError> {
        let mut rows = Vec::new();
        let s = read_csv("data.csv", text.as_bytes(), |_, x, y| {
            rows.push((x.to_vec(), y))
        })?;
        Ok((s, rows))
    }

    #[test]
    fn reads_header_rows_crlf_and_blank_lines() {
        let (s, rows) = read("x1, x2 ,y\r\n1,2,3\r\n\r\n4, 5 ,6\n").unwrap();
        assert_eq!(s.header.features, ["x1", "x2"]);
        assert_eq!(s.header.target, "y");
        assert_eq!(s.rows, 2);
        assert_eq!(rows, vec![(vec![1.0, 2.0], 3.0), (vec![4.0, 5.0], 6.0)]);
    }

    #[test]
    fn hash_covers_every_byte() {
        let a = read("x,y\n1,2\n").unwrap().0.sha256;
        let b = read("x,y\n1,3\n").unwrap().0.sha256;
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        // sha256("x,y\n1,2\n"), computed independently with sha256sum.
        assert_eq!(
            a,
            "81bf9fa83c6f7f151bd491a98cd7d933de3965289e3ebd77c6c425f7eaa16392"
        );
    }

    #[test]
    fn errors_say_line_column_and_name() {
        let cases = [
            ("", "empty file"),
            ("x\n1\n", "line 1: bad header: \"x\" has 1 column(s)"),
            ("1,2\n3,4\n", "looks like data"),
            ("x,,y\n", "column 2 has no name"),
            ("x,x,y\n", "\"x\" appears twice"),
            ("x,y\n1,2\n3\n", "line 3: expected 2 cells, found 1"),
            ("x,y\n1,2,3\n", "line 2: expected 2 cells, found 3"),
            (
                "x,y\n1,2\nabc,4\n",
                "line 3, column 1 (x): \"abc\" is not a finite number",
            ),
            ("x,y\n1,NaN\n", "line 2, column 2 (y): \"NaN\""),
            ("x,y\n1,inf\n", "\"inf\" is not a finite number"),
            ("x,y\n1,\n", "line 2, column 2 (y): \"\""),
        ];
        for (text, expected) in cases {
            let err = read(text).expect_err(expected).to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
            assert!(err.starts_with("data.csv"), "{err:?} names the file");
        }
    }

    #[test]
    fn synthetic_data_is_deterministic_per_seed() {
        assert_eq!(synthetic_csv(7), synthetic_csv(7));
        assert_ne!(synthetic_csv(7), synthetic_csv(8));
        let (s, _) = read(&synthetic_csv(7)).unwrap();
        assert_eq!(s.rows, SYNTHETIC_ROWS);
    }
}
