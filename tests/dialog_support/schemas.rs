//! Tool-argument schemas that exercise each JSON Schema keyword the tool grammar supports,
//! shared by the grammar tests (`dialog_grammar.rs`) and the generation tests (`llm_*.rs`).

use serde_json::{json, Value};

/// (name, schema of the arguments object).
pub fn keyword_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "int_range",
            json!({"type": "object", "properties": {
                "people": {"type": "integer", "minimum": 1, "maximum": 12},
                "floor": {"type": "integer", "minimum": -3, "maximum": 250},
                "year": {"type": "integer", "minimum": 1990, "maximum": 2031}
            }, "required": ["people", "floor", "year"], "additionalProperties": false}),
        ),
        (
            "int_exclusive",
            json!({"type": "object", "properties": {
                "pin_tries": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 4},
                "below": {"type": "integer", "exclusiveMaximum": -5},
                "above": {"type": "integer", "exclusiveMinimum": 99},
                "half": {"type": "integer", "minimum": 1.5, "maximum": 7.5}
            }, "required": ["pin_tries", "below", "above", "half"], "additionalProperties": false}),
        ),
        (
            "number_range",
            json!({"type": "object", "properties": {
                "amount": {"type": "number", "minimum": 0, "maximum": 1500},
                "percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                "rate": {"type": "number", "minimum": 0.25, "exclusiveMaximum": 2.5},
                "temperature": {"type": "number", "minimum": -40.5, "maximum": -0.1}
            }, "required": ["amount", "percent", "rate", "temperature"],
               "additionalProperties": false}),
        ),
        (
            "enum_const",
            json!({"type": "object", "properties": {
                "day": {"enum": ["mon", "tue", "wed"]},
                "slot": {"type": "integer", "enum": [9, 10, 11, "noon", 17], "maximum": 11},
                "mode": {"const": "callback"},
                "lang": {"type": "string", "enum": ["ru", "en", 3]}
            }, "required": ["day", "slot", "mode", "lang"], "additionalProperties": false}),
        ),
        (
            "string_length",
            json!({"type": "object", "properties": {
                "order_id": {"type": "string", "minLength": 6, "maxLength": 8},
                "initials": {"type": "string", "maxLength": 2},
                "note": {"type": "string", "minLength": 1, "maxLength": 5}
            }, "required": ["order_id", "initials", "note"], "additionalProperties": false}),
        ),
        (
            "mixed",
            json!({"type": "object", "properties": {
                "ids": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9},
                        "minItems": 1, "maxItems": 3},
                "when": {"anyOf": [
                    {"type": "string", "maxLength": 3},
                    {"type": "integer", "minimum": 0, "maximum": 23}
                ]},
                "pick": {"oneOf": [{"type": "boolean"}, {"type": "null"}]},
                "level": {"type": ["integer", "null"], "minimum": -2, "maximum": 2}
            }, "required": ["ids", "when", "level"], "additionalProperties": false}),
        ),
    ]
}
