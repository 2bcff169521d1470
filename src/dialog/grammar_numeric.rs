//! Exact GBNF for bounded numbers: `minimum`, `maximum`, `exclusiveMinimum` and
//! `exclusiveMaximum` on integers and numbers.
//!
//! Integers get an exact digit-by-digit range grammar (any bounds within 16 digits). Numbers
//! are written as `-? int ("." frac)?` without an exponent; the integer part gets the same range
//! grammar and the fraction a small automaton that compares it digit by digit with the bound's
//! decimal expansion, so decimal bounds (`0.5`, `12.75`, exclusive or not) are exact too. A
//! bounded number has at most 15 significant digits (integer part + fraction), so that no
//! value the grammar writes can round onto a bound when parsed as an `f64` — the comparison a
//! validator makes is the comparison the grammar made.

use super::grammar::GrammarBuilder;
use super::DialogError;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Most digits of an integer the grammar writes (the unbounded `integer` primitive's limit).
pub const MAX_INT_DIGITS: u32 = 16;
/// Most significant digits of a bounded number (see the module docs).
const MAX_SIGNIFICANT: usize = 15;
/// Most fraction digits of a bounded number.
const MAX_FRACTION_DIGITS: usize = 6;
/// Integer digits a bounded number's unbounded side may use.
const OPEN_SIDE_DIGITS: u32 = 9;

/// A bound as read from the schema: the value and whether it is exclusive.
#[derive(Debug, Clone, PartialEq)]
struct Bound {
    value: Decimal,
    exclusive: bool,
}

/// A finite decimal: sign, integer part, fraction digits (0–9, no trailing zeros).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Decimal {
    negative: bool,
    int: u128,
    frac: Vec<u8>,
}

impl Decimal {
    fn is_zero(&self) -> bool {
        self.int == 0 && self.frac.is_empty()
    }

    /// Parses a JSON number exactly (integers as written; floats by their shortest
    /// round-trip decimal expansion, which is what `f64` comparison sees).
    fn from_json(n: &serde_json::Number) -> Option<Decimal> {
        let text = if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            let f = n.as_f64()?;
            if !f.is_finite() || f.abs() >= 1e30 {
                return None;
            }
            format!("{f}") // Rust's Display never uses an exponent
        };
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let int: u128 = int.parse().ok()?;
        let mut frac: Vec<u8> = frac.bytes().map(|b| b - b'0').collect();
        while frac.last() == Some(&0) {
            frac.pop();
        }
        let mut d = Decimal {
            negative,
            int,
            frac,
        };
        if d.is_zero() {
            d.negative = false;
        }
        Some(d)
    }

    /// Whether this decimal is greater than `other`.
    fn gt(&self, other: &Decimal) -> bool {
        self.cmp_value(other) == std::cmp::Ordering::Greater
    }

    fn cmp_value(&self, other: &Decimal) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let mag = |d: &Decimal| (d.int, d.frac.clone());
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => mag(self).cmp(&mag(other)),
            (true, true) => mag(other).cmp(&mag(self)),
        }
    }
}

fn bound_value(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Decimal>, DialogError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => Decimal::from_json(n).map(Some).ok_or_else(|| {
            DialogError::Schema(format!(
                "{path}: `{key}` {n} is too large for a tool argument (keep bounds below 1e15)"
            ))
        }),
        Some(Value::Bool(_)) => Err(DialogError::Schema(format!(
            "{path}: `{key}` must be a number (the draft-4 boolean form is not supported; \
             write `\"{key}\": <bound>` instead of `minimum` + `{key}: true`)"
        ))),
        Some(other) => Err(DialogError::Schema(format!(
            "{path}: `{key}` must be a number, got {other}"
        ))),
    }
}

/// The tightest lower and upper bound of a schema object (`minimum` vs `exclusiveMinimum`,
/// `maximum` vs `exclusiveMaximum`).
fn bounds(
    obj: &Map<String, Value>,
    path: &str,
) -> Result<(Option<Bound>, Option<Bound>), DialogError> {
    let pick = |incl: Option<Decimal>, excl: Option<Decimal>, lower: bool| -> Option<Bound> {
        match (incl, excl) {
            (None, None) => None,
            (Some(v), None) => Some(Bound {
                value: v,
                exclusive: false,
            }),
            (None, Some(v)) => Some(Bound {
                value: v,
                exclusive: true,
            }),
            (Some(i), Some(e)) => {
                // The exclusive one wins when it is at least as tight.
                let exclusive_tighter = if lower { !i.gt(&e) } else { !e.gt(&i) };
                Some(if exclusive_tighter {
                    Bound {
                        value: e,
                        exclusive: true,
                    }
                } else {
                    Bound {
                        value: i,
                        exclusive: false,
                    }
                })
            }
        }
    };
    let lo = pick(
        bound_value(obj, "minimum", path)?,
        bound_value(obj, "exclusiveMinimum", path)?,
        true,
    );
    let hi = pick(
        bound_value(obj, "maximum", path)?,
        bound_value(obj, "exclusiveMaximum", path)?,
        false,
    );
    Ok((lo, hi))
}

/// Whether the schema object bounds its numbers at all.
pub fn has_bounds(obj: &Map<String, Value>) -> bool {
    ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]
        .iter()
        .any(|k| obj.contains_key(*k))
}

fn pow10(n: u32) -> u128 {
    10u128.pow(n)
}

/// The inclusive integer range a bound pair admits, as signed values.
fn integer_range(lo: &Option<Bound>, hi: &Option<Bound>) -> (i128, i128) {
    let max = (pow10(MAX_INT_DIGITS) - 1) as i128;
    let signed = |d: &Decimal| -> i128 {
        let m = d.int.min(pow10(20)) as i128;
        if d.negative {
            -m
        } else {
            m
        }
    };
    // Smallest integer >= / > the lower bound.
    let lo_int = match lo {
        None => -max,
        Some(b) => {
            let v = signed(&b.value);
            let has_frac = !b.value.frac.is_empty();
            // v is the bound truncated towards zero.
            let ceil = if has_frac && !b.value.negative {
                v + 1
            } else {
                v
            };
            if b.exclusive && !has_frac {
                ceil + 1
            } else {
                ceil
            }
        }
    };
    let hi_int = match hi {
        None => max,
        Some(b) => {
            let v = signed(&b.value);
            let has_frac = !b.value.frac.is_empty();
            let floor = if has_frac && b.value.negative {
                v - 1
            } else {
                v
            };
            if b.exclusive && !has_frac {
                floor - 1
            } else {
                floor
            }
        }
    };
    (lo_int.max(-max), hi_int.min(max))
}

/// A rule for JSON integers within the schema's bounds, exactly.
pub fn integer_rule(
    b: &mut GrammarBuilder,
    obj: &Map<String, Value>,
    path: &str,
) -> Result<String, DialogError> {
    let (lo, hi) = bounds(obj, path)?;
    let (lo, hi) = integer_range(&lo, &hi);
    if lo > hi {
        return Err(DialogError::Schema(format!(
            "{path}: no integer satisfies the bounds (minimum/maximum/exclusive*)"
        )));
    }
    let mut alts = Vec::new();
    if lo < 0 {
        let top = (-lo) as u128;
        let bottom = if hi < 0 { (-hi) as u128 } else { 1 };
        alts.push(format!(r#""-" {}"#, uint_range(bottom, top)));
    }
    if hi >= 0 {
        alts.push(uint_range(lo.max(0) as u128, hi as u128));
    }
    Ok(b.add_rule(
        &format!("{path}-int"),
        format!("({}) space", alts.join(" | ")),
    ))
}

/// A rule for JSON numbers within the schema's bounds, exactly (no exponent; see module docs).
pub fn number_rule(
    b: &mut GrammarBuilder,
    obj: &Map<String, Value>,
    path: &str,
) -> Result<String, DialogError> {
    let (lo, hi) = bounds(obj, path)?;
    if let (Some(l), Some(h)) = (&lo, &hi) {
        let empty = l.value.gt(&h.value) || (l.value == h.value && (l.exclusive || h.exclusive));
        if empty {
            return Err(DialogError::Schema(format!(
                "{path}: no number satisfies the bounds (minimum/maximum/exclusive*)"
            )));
        }
    }
    // Integer digits: enough for the finite bounds, a fixed allowance for an open side.
    let digits = |d: &Decimal| d.int.checked_ilog10().map_or(1, |l| l + 1);
    let bound_digits = lo
        .iter()
        .chain(hi.iter())
        .map(|b| digits(&b.value))
        .max()
        .unwrap_or(0);
    let open = lo.is_none() || hi.is_none();
    let int_digits = if open {
        bound_digits.max(OPEN_SIDE_DIGITS)
    } else {
        bound_digits.max(1)
    };
    if int_digits as usize > MAX_SIGNIFICANT {
        return Err(DialogError::Schema(format!(
            "{path}: number bounds need more than {MAX_SIGNIFICANT} digits; keep them below 1e15"
        )));
    }
    let cap = pow10(int_digits) - 1;
    let frac_budget = (MAX_SIGNIFICANT - int_digits as usize).min(MAX_FRACTION_DIGITS);
    let mut fb = FracBuilder {
        b,
        path: path.to_string(),
        budget: frac_budget,
        memo: HashMap::new(),
    };
    let zero = Decimal {
        negative: false,
        int: 0,
        frac: Vec::new(),
    };
    let mut alts = Vec::new();
    // Non-negative values, written without a sign: magnitude m = x.
    let pos_lower = match &lo {
        Some(l) if !l.value.negative => MagBound {
            int: l.value.int,
            frac: l.value.frac.clone(),
            exclusive: l.exclusive,
        },
        _ => MagBound::zero(false),
    };
    let pos_upper = match &hi {
        None => Some(None),
        Some(h) if !(h.value.negative || h.value.is_zero() && h.exclusive) => {
            Some(Some(MagBound {
                int: h.value.int,
                frac: h.value.frac.clone(),
                exclusive: h.exclusive,
            }))
        }
        _ => None, // the upper bound is negative (or "< 0"): no non-negative value
    };
    if let Some(upper) = pos_upper {
        if let Some(m) = fb.magnitude(&pos_lower, upper.as_ref(), cap) {
            alts.push(m);
        }
    }
    // Negative values "-m" with m > 0: x >= lo means m <= |lo|, x <= hi means m >= |hi|.
    let neg_possible = lo
        .as_ref()
        .is_none_or(|l| l.value.negative && !l.value.is_zero());
    if neg_possible {
        let upper = lo.as_ref().map(|l| MagBound {
            int: l.value.int,
            frac: l.value.frac.clone(),
            exclusive: l.exclusive,
        });
        let lower = match &hi {
            Some(h) if h.value.negative => MagBound {
                int: h.value.int,
                frac: h.value.frac.clone(),
                exclusive: h.exclusive,
            },
            _ => MagBound::zero(true),
        };
        if let Some(m) = fb.magnitude(&lower, upper.as_ref(), cap) {
            alts.push(format!(r#""-" {m}"#));
        }
    }
    let _ = zero;
    if alts.is_empty() {
        return Err(DialogError::Schema(format!(
            "{path}: no number the tool grammar can write satisfies the bounds"
        )));
    }
    Ok(b_rule(fb.b, path, &alts))
}

fn b_rule(b: &mut GrammarBuilder, path: &str, alts: &[String]) -> String {
    b.add_rule(
        &format!("{path}-num"),
        format!("({}) space", alts.join(" | ")),
    )
}

/// A bound on a magnitude `N.F` (N integer part, F fraction digits).
#[derive(Debug, Clone)]
struct MagBound {
    int: u128,
    frac: Vec<u8>,
    exclusive: bool,
}

impl MagBound {
    fn zero(exclusive: bool) -> Self {
        MagBound {
            int: 0,
            frac: Vec::new(),
            exclusive,
        }
    }
}

/// A fraction constraint: the remaining digits compared with `digits` (no trailing zeros).
type FracBound = Option<(Vec<u8>, bool)>;

struct FracBuilder<'a> {
    b: &'a mut GrammarBuilder,
    path: String,
    budget: usize,
    memo: HashMap<(FracBound, FracBound, usize), Option<String>>,
}

impl FracBuilder<'_> {
    /// Magnitudes m with `lower` <= m (or <) and m <= `upper` (or <); `upper = None` means
    /// m's integer part is at most `cap`, any fraction.
    fn magnitude(
        &mut self,
        lower: &MagBound,
        upper: Option<&MagBound>,
        cap: u128,
    ) -> Option<String> {
        let lo_frac: FracBound = normalize_lo(Some((lower.frac.clone(), lower.exclusive)));
        let ln = lower.int;
        let mut alts = Vec::new();
        match upper {
            None => {
                if ln > cap {
                    return None;
                }
                if ln < cap {
                    alts.push(format!(
                        "{} {}",
                        uint_range(ln + 1, cap),
                        self.any_fraction()
                    ));
                }
                if let Some(f) = self.fraction_text(lo_frac, None) {
                    alts.push(format!(r#""{ln}" {f}"#));
                }
            }
            Some(u) => {
                let un = u.int;
                let hi_frac: FracBound = Some((u.frac.clone(), u.exclusive));
                if ln > un {
                    return None;
                }
                if ln == un {
                    if let Some(f) = self.fraction_text(lo_frac, hi_frac) {
                        alts.push(format!(r#""{ln}" {f}"#));
                    }
                } else {
                    if un - ln >= 2 {
                        alts.push(format!(
                            "{} {}",
                            uint_range(ln + 1, un - 1),
                            self.any_fraction()
                        ));
                    }
                    if let Some(f) = self.fraction_text(lo_frac, None) {
                        alts.push(format!(r#""{ln}" {f}"#));
                    }
                    if let Some(f) = self.fraction_text(None, hi_frac) {
                        alts.push(format!(r#""{un}" {f}"#));
                    }
                }
            }
        }
        (!alts.is_empty()).then(|| format!("({})", alts.join(" | ")))
    }

    fn any_fraction(&self) -> String {
        if self.budget == 0 {
            String::new()
        } else {
            format!(r#"("." [0-9]{{1,{}}})?"#, self.budget)
        }
    }

    /// The text after the integer part: nothing (fraction 0) or "." and digits, such that the
    /// fraction satisfies `lo` and `hi`. `None` if nothing does.
    fn fraction_text(&mut self, lo: FracBound, hi: FracBound) -> Option<String> {
        let lo = normalize_lo(lo);
        let hi: FracBound = match hi {
            None => None,
            Some(h) => Some(normalize_hi(h)?),
        };
        let empty_ok = accepts_empty(&lo, &hi);
        let digits = self.digits_rule(lo, hi, self.budget);
        match (empty_ok, digits) {
            (true, None) => Some(String::new()),
            (true, Some(d)) => Some(format!(r#"("." {d})?"#)),
            (false, Some(d)) => Some(format!(r#""." {d}"#)),
            (false, None) => None,
        }
    }

    /// A rule for the non-empty digit sequences (at most `budget`) satisfying the bounds.
    fn digits_rule(&mut self, lo: FracBound, hi: FracBound, budget: usize) -> Option<String> {
        if budget == 0 {
            return None;
        }
        if lo.is_none() && hi.is_none() {
            return Some(format!("[0-9]{{1,{budget}}}"));
        }
        let key = (lo.clone(), hi.clone(), budget);
        if let Some(r) = self.memo.get(&key) {
            return r.clone();
        }
        // Group the digits by the state they lead to.
        let mut groups: Vec<((FracBound, FracBound), Vec<u8>)> = Vec::new();
        for d in 0..=9u8 {
            let Some(next) = step(&lo, &hi, d) else {
                continue;
            };
            match groups.iter_mut().find(|(s, _)| *s == next) {
                Some((_, ds)) => ds.push(d),
                None => groups.push((next, vec![d])),
            }
        }
        let mut alts = Vec::new();
        for ((nlo, nhi), ds) in groups {
            let empty_ok = accepts_empty(&nlo, &nhi);
            let rest = self.digits_rule(nlo, nhi, budget - 1);
            let class = digit_class(&ds);
            match (empty_ok, rest) {
                (true, None) => alts.push(class),
                (true, Some(r)) => alts.push(format!("{class} {r}?")),
                (false, Some(r)) => alts.push(format!("{class} {r}")),
                (false, None) => {}
            }
        }
        let rule = (!alts.is_empty()).then(|| {
            self.b
                .add_rule(&format!("{}-frac", self.path), alts.join(" | "))
        });
        self.memo.insert(key, rule.clone());
        rule
    }
}

/// A lower fraction bound that every sequence satisfies (">= 0") is no bound.
fn normalize_lo(lo: FracBound) -> FracBound {
    match lo {
        Some((d, false)) if d.is_empty() => None,
        other => other,
    }
}

/// An upper fraction bound "< 0" admits nothing (`None`); others stay.
fn normalize_hi(hi: (Vec<u8>, bool)) -> Option<(Vec<u8>, bool)> {
    if hi.0.is_empty() && hi.1 {
        None
    } else {
        Some(hi)
    }
}

/// Whether the empty remainder (value 0) satisfies the bounds.
fn accepts_empty(lo: &FracBound, hi: &FracBound) -> bool {
    // lo: None, or digits > 0 / "> 0" — 0 satisfies only None. hi: 0 <= anything; "< 0" was
    // normalised away.
    let _ = hi;
    lo.is_none()
}

/// The bounds on the rest after writing digit `d`; `None` if `d` is not allowed.
fn step(lo: &FracBound, hi: &FracBound, d: u8) -> Option<(FracBound, FracBound)> {
    let nlo = match lo {
        None => None,
        Some((digits, excl)) => {
            let l0 = digits.first().copied().unwrap_or(0);
            if d > l0 {
                None
            } else if d < l0 {
                return None;
            } else {
                normalize_lo(Some((digits.get(1..).unwrap_or(&[]).to_vec(), *excl)))
            }
        }
    };
    let nhi = match hi {
        None => None,
        Some((digits, excl)) => {
            let h0 = digits.first().copied().unwrap_or(0);
            if d < h0 {
                None
            } else if d > h0 {
                return None;
            } else {
                Some(normalize_hi((
                    digits.get(1..).unwrap_or(&[]).to_vec(),
                    *excl,
                ))?)
            }
        }
    };
    Some((nlo, nhi))
}

fn digit_class(ds: &[u8]) -> String {
    if ds.len() == 1 {
        return format!("\"{}\"", ds[0]);
    }
    let mut out = String::from("[");
    let mut i = 0;
    while i < ds.len() {
        let mut j = i;
        while j + 1 < ds.len() && ds[j + 1] == ds[j] + 1 {
            j += 1;
        }
        if j > i {
            out.push_str(&format!("{}-{}", ds[i], ds[j]));
        } else {
            out.push_str(&ds[i].to_string());
        }
        i = j + 1;
    }
    out.push(']');
    out
}

/// GBNF for the decimal integers `a..=b` (no sign, no leading zeros).
pub fn uint_range(a: u128, b: u128) -> String {
    debug_assert!(a <= b);
    let mut alts = Vec::new();
    let mut lo = a;
    while lo <= b {
        let len = lo.checked_ilog10().map_or(1, |l| l + 1);
        let top = b.min(pow10(len) - 1);
        alts.push(same_length(
            lo.to_string().as_bytes(),
            top.to_string().as_bytes(),
        ));
        if top == b {
            break;
        }
        lo = top + 1;
    }
    if alts.len() == 1 {
        alts.pop().unwrap_or_default()
    } else {
        format!("({})", alts.join(" | "))
    }
}

/// Digit strings of the same length between `lo` and `hi` (ASCII digits, `lo <= hi`).
fn same_length(lo: &[u8], hi: &[u8]) -> String {
    let n = lo.len();
    if n == 0 {
        return String::new();
    }
    if lo == hi {
        return format!("\"{}\"", String::from_utf8_lossy(lo));
    }
    let (l0, h0) = (lo[0] - b'0', hi[0] - b'0');
    let rest = n - 1;
    let any_rest = if rest == 0 {
        String::new()
    } else {
        format!(" [0-9]{{{rest}}}")
    };
    if lo[1..].iter().all(|&c| c == b'0') && hi[1..].iter().all(|&c| c == b'9') {
        let ds: Vec<u8> = (l0..=h0).collect();
        return format!("{}{any_rest}", digit_class(&ds));
    }
    if l0 == h0 {
        return format!("\"{l0}\" {}", same_length(&lo[1..], &hi[1..]));
    }
    let nines = vec![b'9'; rest];
    let zeros = vec![b'0'; rest];
    let mut alts = vec![format!("\"{l0}\" {}", same_length(&lo[1..], &nines))];
    if h0 - l0 >= 2 {
        let ds: Vec<u8> = (l0 + 1..h0).collect();
        alts.push(format!("{}{any_rest}", digit_class(&ds)));
    }
    alts.push(format!("\"{h0}\" {}", same_length(&zeros, &hi[1..])));
    format!("({})", alts.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::gbnf_match::Grammar;

    fn accepts(rule: &str, s: &str) -> bool {
        Grammar::parse(&format!("root ::= {rule}\n"))
            .unwrap()
            .matches("root", s)
    }

    #[test]
    fn uint_ranges_are_exact() {
        for (a, b) in [
            (0, 0),
            (0, 9),
            (3, 47),
            (5, 120),
            (99, 1000),
            (17, 17),
            (100, 199),
            (1, 31),
        ] {
            let g = uint_range(a, b);
            for v in 0..1200u128 {
                assert_eq!(
                    accepts(&g, &v.to_string()),
                    a <= v && v <= b,
                    "{a}..={b}: {v} in {g}"
                );
            }
            assert!(!accepts(&g, "007"));
        }
    }

    #[test]
    fn same_length_handles_mixed_digits() {
        let g = same_length(b"1234", b"5678");
        for v in 1000..10000u32 {
            assert_eq!(
                accepts(&g, &v.to_string()),
                (1234..=5678).contains(&v),
                "{v}"
            );
        }
    }
}
