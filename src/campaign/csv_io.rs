//! Contact import from CSV (every column besides the three fixed ones is a variable) and
//! results export to CSV.

use super::store::{ExportRow, NewContact};
use super::CampaignError;
use serde_json::Value;
use std::io::{Read, Write};

/// Column names accepted for the fixed fields (first match wins, case-insensitive).
const ID_COLUMNS: &[&str] = &["external_id", "id", "contact_id"];
const PHONE_COLUMNS: &[&str] = &["phone", "number", "phone_number"];
const TZ_COLUMNS: &[&str] = &["time_zone", "timezone", "tz"];

/// Parsed rows (0-based data row index, contact) and rows refused with why.
#[derive(Debug, Default)]
pub struct ParsedCsv {
    /// Contacts, in file order.
    pub contacts: Vec<NewContact>,
    /// The CSV line each of `contacts` starts on (1 = the header), to name a refused row.
    pub lines: Vec<u64>,
    /// `(line number, message)` of rows that could not be read.
    pub rejected: Vec<(u64, String)>,
}

/// Reads contacts: a header row with `external_id`, `phone`, `time_zone` (or `id`/`number`/
/// `tz`) and any other columns (`name`, `appointment`, `amount`, …) that become the contact's
/// variables. `default_tz` applies when there is no time-zone column or the cell is empty.
pub fn read_contacts(
    input: impl Read,
    default_tz: Option<&str>,
) -> Result<ParsedCsv, CampaignError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let headers = rdr
        .headers()
        .map_err(|e| CampaignError::Csv(format!("header row: {e}")))?
        .clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let id_col = find(ID_COLUMNS).ok_or_else(|| {
        CampaignError::Csv(format!(
            "no id column: the header needs one of {ID_COLUMNS:?} (found {:?})",
            headers.iter().collect::<Vec<_>>()
        ))
    })?;
    let phone_col = find(PHONE_COLUMNS).ok_or_else(|| {
        CampaignError::Csv(format!(
            "no phone column: the header needs one of {PHONE_COLUMNS:?}"
        ))
    })?;
    let tz_col = find(TZ_COLUMNS);
    if tz_col.is_none() && default_tz.is_none() {
        return Err(CampaignError::Csv(format!(
            "no time-zone column ({TZ_COLUMNS:?}) and no default time zone given (--time-zone)"
        )));
    }
    let mut out = ParsedCsv::default();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                out.rejected.push((line, e.to_string()));
                continue;
            }
        };
        out.lines
            .push(rec.position().map(|p| p.line()).unwrap_or(0));
        let mut variables = serde_json::Map::new();
        for (i, (h, v)) in headers.iter().zip(rec.iter()).enumerate() {
            if i == id_col || i == phone_col || Some(i) == tz_col || h.is_empty() {
                continue;
            }
            variables.insert(h.to_string(), Value::String(v.to_string()));
        }
        let tz = tz_col
            .and_then(|c| rec.get(c))
            .filter(|v| !v.is_empty())
            .or(default_tz)
            .unwrap_or("")
            .to_string();
        out.contacts.push(NewContact {
            external_id: rec.get(id_col).unwrap_or("").to_string(),
            phone: rec.get(phone_col).unwrap_or("").to_string(),
            time_zone: tz,
            variables,
        });
    }
    Ok(out)
}

/// Writes the results: one row per contact.
pub fn write_results(out: impl Write, rows: &[ExportRow]) -> Result<(), CampaignError> {
    let mut w = csv::Writer::from_writer(out);
    let err = |e: csv::Error| CampaignError::Csv(format!("writing: {e}"));
    w.write_record([
        "external_id",
        "phone",
        "state",
        "attempts",
        "result",
        "code",
        "note",
        "last_call",
        "variables",
    ])
    .map_err(err)?;
    for r in rows {
        w.write_record([
            r.external_id.as_str(),
            r.phone.as_str(),
            r.state.as_str(),
            &r.attempts.to_string(),
            r.result.as_deref().unwrap_or(""),
            &r.code.map(|c| c.to_string()).unwrap_or_default(),
            r.note.as_deref().unwrap_or(""),
            r.last_call.as_deref().unwrap_or(""),
            r.variables.as_str(),
        ])
        .map_err(err)?;
    }
    w.flush()
        .map_err(|e| CampaignError::Csv(format!("writing: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_columns_become_variables() {
        let csv = "id,phone,tz,name,appointment\n\
                   A1,+7 (912) 345-67-89,Europe/Moscow,\"Иванова, Анна\",10:30\n\
                   A2,555-0100,,Bob,11:00\n";
        let p = read_contacts(csv.as_bytes(), Some("UTC")).unwrap();
        assert_eq!(p.contacts.len(), 2);
        assert_eq!(p.contacts[0].external_id, "A1");
        assert_eq!(p.contacts[0].time_zone, "Europe/Moscow");
        assert_eq!(p.contacts[0].variables["name"], "Иванова, Анна");
        assert_eq!(p.contacts[1].time_zone, "UTC");
        assert_eq!(p.lines, [2, 3]);
        assert!(!p.contacts[0].variables.contains_key("phone"));
    }

    #[test]
    fn a_file_without_the_fixed_columns_is_refused_clearly() {
        let e = read_contacts("name,phone\nA,1\n".as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no id column"), "{e}");
        let e = read_contacts("id,phone\nA,123\n".as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("time zone"), "{e}");
        // A row with the wrong number of cells is refused with its line; the rest is read.
        let p = read_contacts(
            "id,phone,tz\nA,123,UTC\nB,456\nC,789,UTC\n".as_bytes(),
            None,
        )
        .unwrap();
        assert_eq!(p.contacts.len(), 2);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].0, 3);
    }
}
