//! What is checked before a parser sees a file: its size, that it is
//! UTF-8, and how deeply its collections nest. A YAML parser spends time
//! quadratic in the nesting depth (20 KB of `[` took 1.5 s, 200 KB 97 s),
//! so the depth is bounded by a linear scan first, for every format.

use super::Format;
use crate::scenario::limits::{MAX_FILE_NESTING, MAX_FILE_SIZE};

/// Why a file was refused before parsing, and at which byte.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Refused {
    /// Byte offset of the problem, where there is one.
    pub(super) at: Option<usize>,
    pub(super) message: String,
}

/// Refuses a file larger than [`MAX_FILE_SIZE`].
pub(super) fn size(len: usize) -> Result<(), Refused> {
    if len > MAX_FILE_SIZE {
        return Err(Refused {
            at: None,
            message: format!("the file is larger than {MAX_FILE_SIZE} bytes (MAX_FILE_SIZE)"),
        });
    }
    Ok(())
}

/// The text of `bytes`, or where it stops being UTF-8.
pub(super) fn utf8(bytes: &[u8]) -> Result<&str, Refused> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        Refused {
            at: Some(at),
            message: format!(
                "not UTF-8: invalid byte 0x{:02x} at byte offset {at} (scenario files are UTF-8 text)",
                bytes[at]
            ),
        }
    })
}

/// Refuses `[`/`{` collections nested deeper than [`MAX_FILE_NESTING`],
/// at the bracket that goes too deep.
///
/// Brackets inside strings and comments do not count, as the format reads
/// them. YAML's rules for where a quoted string starts are subtle (a quote
/// inside a plain scalar is text: `don't`), so for YAML a second count
/// that takes every bracket as one is also bounded: a file can hide its
/// nesting from neither.
pub(super) fn nesting(text: &str, format: Format) -> Result<(), Refused> {
    let too_deep = |at: usize| Refused {
        at: Some(at),
        message: format!("collections nested more than {MAX_FILE_NESTING} levels deep (MAX_FILE_NESTING)"),
    };
    if let Some(at) = lexical_depth(text.as_bytes(), format) {
        return Err(too_deep(at));
    }
    if format == Format::Yaml {
        if let Some(at) = raw_depth(text.as_bytes()) {
            return Err(too_deep(at));
        }
    }
    Ok(())
}

/// The offset of the first bracket beyond the limit, every bracket
/// counted (a closing one never below zero).
fn raw_depth(bytes: &[u8]) -> Option<usize> {
    let mut depth = Depth::default();
    bytes.iter().position(|&b| depth.exceeded_by(b))
}

/// The offset of the first bracket beyond the limit, outside strings and
/// comments as `format` delimits them.
fn lexical_depth(bytes: &[u8], format: Format) -> Option<usize> {
    let mut depth = Depth::default();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let prev = i.checked_sub(1).map(|j| bytes[j]);
        match b {
            b'#' if format != Format::Json && (format == Format::Toml || starts_token(prev)) => {
                i = line_end(bytes, i);
                continue;
            }
            b'"' | b'\'' if format != Format::Yaml || starts_token(prev) => {
                i = string_end(bytes, i, format);
                continue;
            }
            _ if depth.exceeded_by(b) => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// How deeply the brackets read so far nest (a closing one never below
/// zero): the one count both scans keep.
#[derive(Default)]
struct Depth(usize);

impl Depth {
    /// Counts byte `b`; whether it is a bracket that opens beyond
    /// [`MAX_FILE_NESTING`].
    fn exceeded_by(&mut self, b: u8) -> bool {
        match b {
            b'[' | b'{' => {
                self.0 += 1;
                self.0 > MAX_FILE_NESTING
            }
            b']' | b'}' => {
                self.0 = self.0.saturating_sub(1);
                false
            }
            _ => false,
        }
    }
}

/// Whether a YAML token (a comment, a quoted scalar) may start after
/// `prev`: at the start, after blanks or a flow indicator.
fn starts_token(prev: Option<u8>) -> bool {
    prev.is_none_or(|p| matches!(p, b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b',' | b':'))
}

/// The offset after the end of the line at `i`.
fn line_end(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |n| i + n + 1)
}

/// The offset after the string that opens at `i` (the end of the text if
/// it never closes: the parser reports that).
fn string_end(bytes: &[u8], i: usize, format: Format) -> usize {
    let quote = bytes[i];
    // TOML's multi-line strings: `"""` and `'''`.
    if format == Format::Toml && bytes[i..].starts_with(&[quote; 3]) {
        let mut j = i + 3;
        while j < bytes.len() {
            if quote == b'"' && bytes[j] == b'\\' {
                j += 2;
            } else if bytes[j..].starts_with(&[quote; 3]) {
                // Up to two more quotes may end the content.
                let mut end = j + 3;
                while end < bytes.len() && bytes[end] == quote && end < j + 5 {
                    end += 1;
                }
                return end;
            } else {
                j += 1;
            }
        }
        return bytes.len();
    }
    let escapes = quote == b'"';
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' if escapes => j += 2,
            // YAML's `''` is a quote inside a single-quoted string.
            b'\'' if !escapes && format == Format::Yaml && bytes.get(j + 1) == Some(&b'\'') => j += 2,
            b if b == quote => return j + 1,
            // Only YAML's strings span lines.
            b'\n' if format != Format::Yaml => return j,
            _ => j += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(format: Format, text: &str) -> Option<usize> {
        nesting(text, format).err().and_then(|r| r.at)
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let opens = "[".repeat(MAX_FILE_NESTING + 1);
        assert_eq!(deep(Format::Json, &format!("{{\"a\": \"{opens}\"}}")), None);
        assert_eq!(deep(Format::Json, &format!("{{\"a\": \"\\\"{opens}\"}}")), None);
        assert_eq!(deep(Format::Toml, &format!("a = '{opens}' # {opens}")), None);
        assert_eq!(deep(Format::Toml, &format!("a = \"\"\"\n{opens}\n\"\"\"")), None);
        // Closing brackets in strings do not hide real nesting either.
        let hidden = "[ \"]\" ".repeat(MAX_FILE_NESTING + 1);
        assert!(deep(Format::Json, &hidden).is_some());
        assert!(deep(Format::Yaml, &format!("a: {hidden}")).is_some());
        // A quote inside a YAML plain scalar is text; the raw count
        // catches nesting after a quote the scan misreads.
        let tricky = format!("a: it 's\nb: {opens}\nc: '");
        assert_eq!(deep(Format::Yaml, &tricky), Some(12 + MAX_FILE_NESTING));
    }

    #[test]
    fn the_offset_is_the_bracket_that_goes_too_deep() {
        let text = format!("x: {}", "{".repeat(MAX_FILE_NESTING + 5));
        assert_eq!(deep(Format::Yaml, &text), Some(3 + MAX_FILE_NESTING));
        let ok = format!(
            "x: {}{}",
            "[".repeat(MAX_FILE_NESTING),
            "]".repeat(MAX_FILE_NESTING)
        );
        assert_eq!(deep(Format::Yaml, &ok), None);
    }

    #[test]
    fn utf8_errors_name_the_offset() {
        let r = utf8(b"name = \"\xff\"").unwrap_err();
        assert_eq!(r.at, Some(8));
        assert!(
            r.message.contains("invalid byte 0xff at byte offset 8"),
            "{}",
            r.message
        );
    }
}
