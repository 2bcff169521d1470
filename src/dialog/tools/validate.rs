//! JSON Schema validation of tool arguments, exact for the keywords the tool grammar supports
//! (`type`, `const`, `enum`, `anyOf`, `oneOf`, `properties`, `required`,
//! `additionalProperties`, `items`, `minItems`/`maxItems`, `minLength`/`maxLength`,
//! `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum`): every keyword applies (they are
//! a conjunction, as in JSON Schema), numbers compare by value (`1 == 1.0`, an integer is any
//! number without a fraction), string lengths count code points. Keywords the grammar refuses
//! are refused here too, so a schema never validates more loosely than it reads.

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

/// Keywords that change validity but are not supported by the grammar or this validator.
pub const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "$ref",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "pattern",
    "patternProperties",
    "multipleOf",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "prefixItems",
    "additionalItems",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "unevaluatedProperties",
    "unevaluatedItems",
];

/// Checks `value` against `schema`; the error names the place (`path`, e.g. `arguments.date`).
pub fn validate_args(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let obj = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{path}: no value is allowed here")),
        Value::Object(o) => o,
        other => return Err(format!("{path}: the schema {other} is not an object")),
    };
    if let Some(k) = UNSUPPORTED_KEYWORDS.iter().find(|k| obj.contains_key(**k)) {
        return Err(format!("{path}: schema keyword `{k}` is not supported"));
    }
    if let Some(c) = obj.get("const") {
        if !json_equal(c, value) {
            return Err(format!("{path} must be {c}"));
        }
    }
    if let Some(e) = obj.get("enum") {
        let options = e
            .as_array()
            .ok_or(format!("{path}: `enum` is not an array"))?;
        if !options.iter().any(|o| json_equal(o, value)) {
            return Err(format!("{path} must be one of {e}"));
        }
    }
    if let Some(alts) = obj.get("anyOf") {
        let alts = alts
            .as_array()
            .ok_or(format!("{path}: `anyOf` is not an array"))?;
        if !alts.iter().any(|a| validate_args(a, value, path).is_ok()) {
            return Err(format!("{path} matches none of anyOf"));
        }
    }
    if let Some(alts) = obj.get("oneOf") {
        let alts = alts
            .as_array()
            .ok_or(format!("{path}: `oneOf` is not an array"))?;
        let n = alts
            .iter()
            .filter(|a| validate_args(a, value, path).is_ok())
            .count();
        if n != 1 {
            return Err(format!(
                "{path} must match exactly one of oneOf (matches {n})"
            ));
        }
    }
    let types: Vec<&str> = match obj.get("type") {
        None => Vec::new(),
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        Some(other) => return Err(format!("{path}: `type` {other} is not a string or list")),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        return Err(format!("{path} must be of type {}", types.join(" or ")));
    }
    match value {
        Value::Number(n) => check_bounds(obj, n, path)?,
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = obj.get("minLength").and_then(Value::as_u64) {
                if len < min {
                    return Err(format!("{path} is too short (at least {min} characters)"));
                }
            }
            if let Some(max) = obj.get("maxLength").and_then(Value::as_u64) {
                if len > max {
                    return Err(format!("{path} is too long (at most {max} characters)"));
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = obj.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_args(item_schema, item, &format!("{path}[{i}]"))?;
                }
            }
            if let Some(min) = obj.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    return Err(format!("{path} needs at least {min} items"));
                }
            }
            if let Some(max) = obj.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    return Err(format!("{path} allows at most {max} items"));
                }
            }
        }
        Value::Object(map) => check_object(obj, map, path)?,
        _ => {}
    }
    Ok(())
}

fn check_object(
    obj: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    if let Some(Value::Array(req)) = obj.get("required") {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                return Err(format!("{path}.{r} is required"));
            }
        }
    }
    let props = obj.get("properties").and_then(Value::as_object);
    for (k, v) in map {
        let sub_path = format!("{path}.{k}");
        match props.and_then(|p| p.get(k)) {
            Some(sub) => validate_args(sub, v, &sub_path)?,
            None => match obj.get("additionalProperties") {
                None | Some(Value::Bool(true)) => {}
                Some(Value::Bool(false)) => {
                    return Err(format!("{sub_path} is not a declared property"))
                }
                Some(extra) => validate_args(extra, v, &sub_path)?,
            },
        }
    }
    Ok(())
}

fn check_bounds(obj: &Map<String, Value>, n: &Number, path: &str) -> Result<(), String> {
    let bound = |key: &str| -> Result<Option<&Number>, String> {
        match obj.get(key) {
            None => Ok(None),
            Some(Value::Number(b)) => Ok(Some(b)),
            Some(other) => Err(format!("{path}: `{key}` {other} is not a number")),
        }
    };
    if let Some(b) = bound("minimum")? {
        if compare_numbers(n, b) == Ordering::Less {
            return Err(format!("{path} must be at least {b}"));
        }
    }
    if let Some(b) = bound("exclusiveMinimum")? {
        if compare_numbers(n, b) != Ordering::Greater {
            return Err(format!("{path} must be greater than {b}"));
        }
    }
    if let Some(b) = bound("maximum")? {
        if compare_numbers(n, b) == Ordering::Greater {
            return Err(format!("{path} must be at most {b}"));
        }
    }
    if let Some(b) = bound("exclusiveMaximum")? {
        if compare_numbers(n, b) != Ordering::Less {
            return Err(format!("{path} must be less than {b}"));
        }
    }
    Ok(())
}

fn as_i128(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Compares two JSON numbers by value; integers exactly, even beyond 2^53.
pub fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    match (as_i128(a), as_i128(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(x), None) => compare_int_float(x, b.as_f64().unwrap_or(f64::NAN)),
        (None, Some(y)) => compare_int_float(y, a.as_f64().unwrap_or(f64::NAN)).reverse(),
        (None, None) => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

fn compare_int_float(i: i128, f: f64) -> Ordering {
    let approx = (i as f64).partial_cmp(&f).unwrap_or(Ordering::Equal);
    if approx != Ordering::Equal {
        return approx;
    }
    // Equal as floats: `f` is integral and near `i`; compare exactly.
    i.cmp(&(f as i128))
}

/// JSON Schema equality: numbers by value, objects regardless of key order.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => match v {
            Value::Number(n) => {
                as_i128(n).is_some()
                    || n.as_f64()
                        .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
            }
            _ => false,
        },
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keywords_are_a_conjunction() {
        let s = json!({"type": "integer", "enum": [1, 2, "x"], "maximum": 1});
        assert!(validate_args(&s, &json!(1), "a").is_ok());
        assert!(
            validate_args(&s, &json!(1.0), "a").is_ok(),
            "1.0 is an integer"
        );
        assert!(
            validate_args(&s, &json!(2), "a").is_err(),
            "maximum applies with enum"
        );
        assert!(
            validate_args(&s, &json!("x"), "a").is_err(),
            "type applies with enum"
        );
    }

    #[test]
    fn bounds_are_exact() {
        let s = json!({"type": "number", "exclusiveMinimum": 0.5, "maximum": 10});
        assert!(validate_args(&s, &json!(0.5), "a").is_err());
        assert!(validate_args(&s, &json!(0.5000001), "a").is_ok());
        assert!(validate_args(&s, &json!(10), "a").is_ok());
        assert!(validate_args(&s, &json!(10.0000001), "a").is_err());
        let big = json!({"type": "integer", "maximum": 9007199254740992u64});
        assert!(validate_args(&big, &json!(9007199254740993u64), "a").is_err());
    }

    #[test]
    fn one_of_means_exactly_one() {
        let s = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
        assert!(validate_args(&s, &json!(1.5), "a").is_ok());
        assert!(validate_args(&s, &json!(1), "a").is_err());
    }

    #[test]
    fn additional_properties_follow_the_schema() {
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert!(validate_args(&open, &json!({"a": "x", "b": 1}), "o").is_ok());
        let closed = json!({"type": "object", "properties": {}, "additionalProperties": false});
        assert!(validate_args(&closed, &json!({"b": 1}), "o").is_err());
        let typed = json!({"type": "object", "additionalProperties": {"type": "integer"}});
        assert!(validate_args(&typed, &json!({"b": 1}), "o").is_ok());
        assert!(validate_args(&typed, &json!({"b": "1"}), "o").is_err());
    }

    #[test]
    fn string_length_counts_code_points() {
        let s = json!({"type": "string", "minLength": 2, "maxLength": 3});
        assert!(validate_args(&s, &json!("ёж"), "s").is_ok());
        assert!(validate_args(&s, &json!("😀"), "s").is_err());
        assert!(validate_args(&s, &json!("abcd"), "s").is_err());
    }
}
