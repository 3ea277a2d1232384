//! Byte-exact JSON text in the two dialects the Slips interface uses.
//!
//! Slips (Python) writes JSON with `json.dumps` defaults: `", "` and `": "` separators,
//! `ensure_ascii=True` string escaping and `repr()` floats (`0.8`, `1.0`, `1e-05`). The Go
//! Pigeon writes `json.Marshal` output: no spaces, HTML-safe escaping and `strconv` floats
//! (`1`, `0.5`, `1e-7`). Receivers only need valid JSON, but matching the bytes keeps captures
//! comparable with the stock components and lets tests pin the exact output. `serde_json`
//! produces neither dialect, hence these few writers.

use std::fmt::Write;

/// Appends `s` as a JSON string the way Python's `json.dumps` (ensure_ascii) writes it.
pub fn push_py_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it (HTML-safe escaping,
/// non-ASCII kept as UTF-8 except U+2028 and U+2029).
pub fn push_go_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The shortest round-trip digits of a finite, non-zero `x` and its decimal exponent:
/// `x = 0.d1d2d3... * 10^(exp + 1)`, i.e. `d1.d2d3... * 10^exp`.
fn shortest_digits(x: f64) -> (String, i32) {
    // `{:e}` prints the shortest digits that round-trip, e.g. "1.2345e2", "8e-1".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// Like [`shortest_digits`], but breaks exact ties the way CPython's `repr` does (round half
/// to even) where Rust rounds half up: 18508572510583.5625 is `...583.562` in Python.
fn py_shortest_digits(x: f64) -> (String, i32) {
    let (digits, exp) = shortest_digits(x);
    // The exact decimal expansion; a tie means it is the truncated prefix followed by "5" and
    // nothing else. 80 digits are enough: a double's expansion cannot hide a non-zero digit
    // that far behind a tie at digit 17.
    let exact = format!("{:.80e}", x.abs());
    let (mantissa, exact_exp) = exact.split_once('e').unwrap_or((exact.as_str(), "0"));
    let exact_digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let n = digits.len();
    let (Some(prefix), Some(rest)) = (exact_digits.get(..n), exact_digits.get(n..)) else {
        return (digits, exp);
    };
    let tie = rest.starts_with('5') && rest[1..].bytes().all(|b| b == b'0');
    let even = prefix.bytes().last().is_some_and(|b| (b - b'0') % 2 == 0);
    if tie && even && prefix != digits {
        return (prefix.to_owned(), exact_exp.parse().unwrap_or(exp));
    }
    (digits, exp)
}

/// Writes `digits` (d1d2...) with exponent `exp` in positional notation.
fn positional(out: &mut String, digits: &str, exp: i32, force_fraction: bool) {
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        out.push_str(digits);
        for _ in digits.len()..int_len {
            out.push('0');
        }
        if force_fraction {
            out.push_str(".0");
        }
    } else {
        let (int, frac) = digits.split_at(int_len);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

/// Writes `d1[.d2...]e<sign><exp>`, with at least `min_exp_digits` exponent digits.
fn scientific(out: &mut String, digits: &str, exp: i32, min_exp_digits: usize) {
    let (first, rest) = digits.split_at(digits.len().min(1));
    out.push_str(if first.is_empty() { "0" } else { first });
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(
        out,
        "{:0width$}",
        exp.unsigned_abs(),
        width = min_exp_digits
    );
}

/// Appends a finite float as Python's `repr()` (and so `json.dumps`) prints it. The caller
/// guarantees finiteness; a non-finite value is written as `null` rather than panicking.
pub fn push_py_float(out: &mut String, x: f64) {
    if !x.is_finite() {
        out.push_str("null");
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    if x == 0.0 {
        out.push_str("0.0");
        return;
    }
    let (digits, exp) = py_shortest_digits(x);
    if (-4..16).contains(&exp) {
        positional(out, &digits, exp, true);
    } else {
        scientific(out, &digits, exp, 2);
    }
}

/// Appends a finite float as Go's `encoding/json` prints a `float64`. Non-finite values are
/// written as `null` (Go would refuse to encode them).
pub fn push_go_float(out: &mut String, x: f64) {
    if !x.is_finite() {
        out.push_str("null");
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    if x == 0.0 {
        out.push('0');
        return;
    }
    let (digits, exp) = shortest_digits(x);
    let abs = x.abs();
    if (1e-6..1e21).contains(&abs) {
        positional(out, &digits, exp, false);
    } else {
        // Go prints 'e' format and then trims a one-digit exponent's leading zero: 1e-07 -> 1e-7.
        let mut tmp = String::new();
        scientific(&mut tmp, &digits, exp, 1);
        out.push_str(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(x: f64) -> String {
        let mut s = String::new();
        push_py_float(&mut s, x);
        s
    }

    fn go(x: f64) -> String {
        let mut s = String::new();
        push_go_float(&mut s, x);
        s
    }

    #[test]
    fn python_float_repr() {
        // Expected values are what CPython 3 prints for repr(x).
        for (x, want) in [
            (0.8, "0.8"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.5445, "0.5445"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456.0, "123456.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (-0.25, "-0.25"),
            (1712345678.5, "1712345678.5"),
            (5e-324, "5e-324"),
            (1e100, "1e+100"),
            (-296137160169337.0 / 16.0, "-18508572510583.562"), // an exact tie
            (0.5, "0.5"),
            (2.5, "2.5"),
        ] {
            assert_eq!(py(x), want, "{x:?}");
        }
    }

    #[test]
    fn go_float_format() {
        // Expected values are what Go's json.Marshal prints for a float64.
        for (x, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e21, "1e+21"),
            (123.0, "123"),
            (0.000001, "0.000001"),
        ] {
            assert_eq!(go(x), want, "{x:?}");
        }
    }

    #[test]
    fn string_escaping() {
        let mut p = String::new();
        push_py_str(&mut p, "a\"b\\c\n\u{1}é😀<&\u{7f}");
        assert_eq!(p, r#""a\"b\\c\n\u0001\u00e9\ud83d\ude00<&\u007f""#);
        let mut g = String::new();
        push_go_str(&mut g, "a\"b\\c\n\u{1}é<&>\u{2028}");
        assert_eq!(g, "\"a\\\"b\\\\c\\n\\u0001é\\u003c\\u0026\\u003e\\u2028\"");
    }
}
