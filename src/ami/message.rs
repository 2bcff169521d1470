//! AMI messages: `Key: Value\r\n` lines ended by an empty line, and how actions are encoded.

use super::AmiError;

/// Longest line accepted from Asterisk; longer ones are a protocol error, not a memory sink.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Most lines in one message.
pub const MAX_FIELDS: usize = 512;

/// One AMI message (response or event): fields in wire order, keys compared case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    fields: Vec<(String, String)>,
}

impl Message {
    /// A message from `(key, value)` pairs.
    pub fn from_fields(fields: Vec<(String, String)>) -> Self {
        Message { fields }
    }

    /// Parses one line into the message (`Key: Value`; a line without `:` is kept with an
    /// empty key, as `Response: Follows` command output has such lines).
    pub fn push_line(&mut self, line: &str) -> Result<(), AmiError> {
        if self.fields.len() >= MAX_FIELDS {
            return Err(AmiError::Protocol(format!(
                "a message with more than {MAX_FIELDS} lines"
            )));
        }
        match line.split_once(':') {
            Some((k, v)) => self.fields.push((
                k.trim().to_string(),
                v.strip_prefix(' ').unwrap_or(v).to_string(),
            )),
            None => self.fields.push((String::new(), line.to_string())),
        }
        Ok(())
    }

    /// Whether no line was added yet.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// All fields in wire order.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The `Event:` name, when this is an event.
    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    /// The `Response:` value (`Success`, `Error`, `Follows`, `Goodbye`), when this is a response.
    pub fn response(&self) -> Option<&str> {
        self.get("Response")
    }

    /// The `ActionID:` value.
    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }
}

/// Encodes an action: `Action`, then `ActionID`, then `fields` in order, CRLF line ends and
/// an empty line. Keys and values must be single-line (a CR or LF would inject fields).
pub fn encode_action(
    action: &str,
    action_id: &str,
    fields: &[(&str, &str)],
) -> Result<Vec<u8>, AmiError> {
    let mut out = String::with_capacity(64 + fields.len() * 32);
    for (k, v) in [("Action", action), ("ActionID", action_id)]
        .iter()
        .chain(fields.iter())
    {
        check_field(k, v)?;
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    Ok(out.into_bytes())
}

fn check_field(key: &str, value: &str) -> Result<(), AmiError> {
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AmiError::InvalidField {
            field: key.to_string(),
            reason: "a header name must be ASCII letters, digits, '-' or '_'".into(),
        });
    }
    if value.contains(['\r', '\n']) {
        return Err(AmiError::InvalidField {
            field: key.to_string(),
            reason: "values must be one line: AMI is line-based and a CR/LF would inject fields"
                .into(),
        });
    }
    Ok(())
}

/// Splits the byte stream into lines (LF, optional CR stripped). Bytes that are not UTF-8
/// (a caller name in Latin-1) are replaced, never fatal: one odd event must not cost the
/// connection. A line longer than [`MAX_LINE_BYTES`] is an error.
#[derive(Debug, Default)]
pub struct LineCodec {
    /// How far the buffer was already searched for a newline.
    scanned: usize,
}

impl tokio_util::codec::Decoder for LineCodec {
    type Item = String;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut bytes::BytesMut) -> Result<Option<String>, std::io::Error> {
        match buf[self.scanned..].iter().position(|b| *b == b'\n') {
            // A line longer than the limit is refused however the bytes arrived (one read
            // holding the whole line and its newline, or many reads).
            Some(pos) if self.scanned + pos > MAX_LINE_BYTES => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {MAX_LINE_BYTES} bytes"),
            )),
            Some(pos) => {
                let end = self.scanned + pos;
                self.scanned = 0;
                let line = buf.split_to(end + 1);
                let mut body = &line[..end];
                if body.last() == Some(&b'\r') {
                    body = &body[..body.len() - 1];
                }
                Ok(Some(String::from_utf8_lossy(body).into_owned()))
            }
            None if buf.len() > MAX_LINE_BYTES => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {MAX_LINE_BYTES} bytes"),
            )),
            None => {
                self.scanned = buf.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut bytes::BytesMut) -> Result<Option<String>, std::io::Error> {
        match self.decode(buf)? {
            Some(line) => Ok(Some(line)),
            None if buf.is_empty() => Ok(None),
            None => {
                // A last line without its newline: the peer closed mid-line.
                self.scanned = 0;
                let rest = buf.split_to(buf.len());
                Ok(Some(String::from_utf8_lossy(&rest).into_owned()))
            }
        }
    }
}
