//! A small GBNF recogniser: does a grammar (the subset [`super::grammar::GrammarBuilder`]
//! emits — literals, character classes, groups, `|`, `?`, `*`, `+`, `{m}`, `{m,n}`, rule
//! references) admit a text? Lets tests check a tool grammar against JSON Schema on many
//! values without a model, and diagnostics check a configured schema's grammar offline.

use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Node {
    Lit(Vec<char>),
    /// Ranges of a class, and whether it is negated.
    Class(Vec<(char, char)>, bool),
    Ref(String),
    Seq(Vec<Node>),
    Alt(Vec<Node>),
    Rep(Box<Node>, usize, Option<usize>),
}

/// A parsed grammar: rules by name.
#[derive(Debug, Clone)]
pub struct Grammar {
    rules: HashMap<String, Node>,
}

impl Grammar {
    /// Parses GBNF text with one `name ::= body` rule per line.
    pub fn parse(text: &str) -> Result<Grammar, String> {
        let mut rules = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, body) = line
                .split_once("::=")
                .ok_or_else(|| format!("line {}: no `::=` in {line:?}", n + 1))?;
            let chars: Vec<char> = body.chars().collect();
            let mut p = Parser { c: &chars, i: 0 };
            let node = p.alt().map_err(|e| format!("rule {}: {e}", name.trim()))?;
            p.ws();
            if p.i != chars.len() {
                return Err(format!("rule {}: unparsed text at {}", name.trim(), p.i));
            }
            rules.insert(name.trim().to_string(), node);
        }
        Ok(Grammar { rules })
    }

    /// Whether rule `start` matches all of `text`.
    pub fn matches(&self, start: &str, text: &str) -> bool {
        let s: Vec<char> = text.chars().collect();
        let node = Node::Ref(start.to_string());
        self.ends(&node, &s, 0).contains(&s.len())
    }

    /// All positions where a match of `n` starting at `at` can end.
    fn ends(&self, n: &Node, s: &[char], at: usize) -> Vec<usize> {
        match n {
            Node::Lit(l) => {
                if s.len() >= at + l.len() && s[at..at + l.len()] == l[..] {
                    vec![at + l.len()]
                } else {
                    Vec::new()
                }
            }
            Node::Class(ranges, negated) => match s.get(at) {
                Some(&c) if ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negated => {
                    vec![at + 1]
                }
                _ => Vec::new(),
            },
            Node::Ref(name) => match self.rules.get(name) {
                Some(r) => self.ends(r, s, at),
                None => Vec::new(),
            },
            Node::Seq(items) => {
                let mut cur = vec![at];
                for it in items {
                    cur = dedup(cur.iter().flat_map(|&p| self.ends(it, s, p)).collect());
                    if cur.is_empty() {
                        break;
                    }
                }
                cur
            }
            Node::Alt(alts) => dedup(alts.iter().flat_map(|a| self.ends(a, s, at)).collect()),
            Node::Rep(inner, min, max) => {
                let mut out = Vec::new();
                let mut cur = vec![at];
                let mut k = 0;
                loop {
                    if k >= *min {
                        out.extend(cur.iter().copied());
                    }
                    if max.is_some_and(|m| k >= m) || cur.is_empty() {
                        break;
                    }
                    let next = dedup(cur.iter().flat_map(|&p| self.ends(inner, s, p)).collect());
                    // An unbounded repetition stops when it no longer advances.
                    if max.is_none() && next.iter().all(|p| cur.contains(p)) {
                        break;
                    }
                    cur = next;
                    k += 1;
                }
                dedup(out)
            }
        }
    }
}

fn dedup(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v.dedup();
    v
}

struct Parser<'a> {
    c: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.c.len() && self.c[self.i].is_whitespace() {
            self.i += 1;
        }
    }

    fn alt(&mut self) -> Result<Node, String> {
        let mut alts = vec![self.seq()?];
        loop {
            self.ws();
            if self.c.get(self.i) == Some(&'|') {
                self.i += 1;
                alts.push(self.seq()?);
            } else {
                break;
            }
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Seq(Vec::new()))
        } else {
            Node::Alt(alts)
        })
    }

    fn seq(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        loop {
            self.ws();
            let Some(&c) = self.c.get(self.i) else {
                break;
            };
            let mut node = match c {
                '|' | ')' => break,
                '(' => {
                    self.i += 1;
                    let n = self.alt()?;
                    self.ws();
                    if self.c.get(self.i) != Some(&')') {
                        return Err(format!("missing `)` at {}", self.i));
                    }
                    self.i += 1;
                    n
                }
                '"' => {
                    self.i += 1;
                    let mut lit = Vec::new();
                    loop {
                        match self.c.get(self.i) {
                            None => return Err("unterminated literal".into()),
                            Some('"') => {
                                self.i += 1;
                                break;
                            }
                            Some('\\') => lit.push(self.escape()?),
                            Some(&ch) => {
                                lit.push(ch);
                                self.i += 1;
                            }
                        }
                    }
                    Node::Lit(lit)
                }
                '[' => {
                    self.i += 1;
                    let negated = self.c.get(self.i) == Some(&'^');
                    if negated {
                        self.i += 1;
                    }
                    let mut ranges = Vec::new();
                    loop {
                        let a = match self.c.get(self.i) {
                            None => return Err("unterminated class".into()),
                            Some(']') => {
                                self.i += 1;
                                break;
                            }
                            Some('\\') => self.escape()?,
                            Some(&ch) => {
                                self.i += 1;
                                ch
                            }
                        };
                        let b = if self.c.get(self.i) == Some(&'-')
                            && self.c.get(self.i + 1).is_some_and(|&x| x != ']')
                        {
                            self.i += 1;
                            match self.c.get(self.i) {
                                Some('\\') => self.escape()?,
                                Some(&ch) => {
                                    self.i += 1;
                                    ch
                                }
                                None => return Err("unterminated class".into()),
                            }
                        } else {
                            a
                        };
                        ranges.push((a, b));
                    }
                    Node::Class(ranges, negated)
                }
                c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                    let start = self.i;
                    while self
                        .c
                        .get(self.i)
                        .is_some_and(|&x| x.is_ascii_alphanumeric() || x == '-' || x == '_')
                    {
                        self.i += 1;
                    }
                    Node::Ref(self.c[start..self.i].iter().collect())
                }
                other => return Err(format!("unexpected {other:?} at {}", self.i)),
            };
            // Postfix operators bind to the item before them.
            loop {
                match self.c.get(self.i) {
                    Some('?') => {
                        self.i += 1;
                        node = Node::Rep(Box::new(node), 0, Some(1));
                    }
                    Some('*') => {
                        self.i += 1;
                        node = Node::Rep(Box::new(node), 0, None);
                    }
                    Some('+') => {
                        self.i += 1;
                        node = Node::Rep(Box::new(node), 1, None);
                    }
                    Some('{') => {
                        let close = self.c[self.i..]
                            .iter()
                            .position(|&x| x == '}')
                            .ok_or("unterminated {")?
                            + self.i;
                        let inner: String = self.c[self.i + 1..close].iter().collect();
                        self.i = close + 1;
                        let num = |t: &str| t.trim().parse::<usize>().map_err(|e| e.to_string());
                        let (min, max) = match inner.split_once(',') {
                            None => {
                                let n = num(&inner)?;
                                (n, Some(n))
                            }
                            Some((a, b)) if b.trim().is_empty() => (num(a)?, None),
                            Some((a, b)) => (num(a)?, Some(num(b)?)),
                        };
                        node = Node::Rep(Box::new(node), min, max);
                    }
                    _ => break,
                }
            }
            items.push(node);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::Seq(Vec::new()))
        } else {
            Node::Seq(items)
        })
    }

    /// Reads an escape sequence starting at `\`.
    fn escape(&mut self) -> Result<char, String> {
        self.i += 1;
        let c = *self.c.get(self.i).ok_or("dangling backslash")?;
        self.i += 1;
        let hex = |p: &mut Self, n: usize| -> Result<char, String> {
            let h: String =
                p.c.get(p.i..p.i + n)
                    .ok_or("short escape")?
                    .iter()
                    .collect();
            p.i += n;
            u32::from_str_radix(&h, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("bad escape \\{c}{h}"))
        };
        Ok(match c {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'x' => hex(self, 2)?,
            'u' => hex(self, 4)?,
            'U' => hex(self, 8)?,
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_json_primitives() {
        let g = Grammar::parse(&crate::dialog::grammar::GrammarBuilder::new().build()).unwrap();
        for ok in ["12", "-0", "3.25", "1e5", "0"] {
            assert!(g.matches("number", ok), "{ok}");
        }
        for bad in ["01", "1.", "+1", ".5"] {
            assert!(!g.matches("number", bad), "{bad}");
        }
        assert!(g.matches("string", r#""a\"b\u00e9""#));
        assert!(!g.matches("string", "\"a\nb\""));
        assert!(g.matches("value", r#"{"a": [1, true, null], "b": "x"}"#));
        assert!(!g.matches("value", r#"{"a": }"#));
    }
}
