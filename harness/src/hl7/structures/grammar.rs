//! The grammar notation (abstract message syntax, HL7 v2.5.1 ch. 2) parsed into a tree.
//!
//! `MSH [{SFT}] EVN PID [PD1] [{ PROCEDURE: PR1 [{ROL}] }] < OBR | RQD >`. The parser never
//! panics and answers bad input with the column of the problem, since scenarios may carry
//! grammar lines of their own.

use std::fmt;
use thiserror::Error;

/// One element of a grammar: a segment, a group or a choice, possibly optional and repeating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub node: Node,
    pub optional: bool,
    pub repeating: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Segment(String),
    /// A sequence of items; `name` as written before the colon, if any.
    Group {
        name: Option<String>,
        items: Vec<Item>,
    },
    /// Exactly one of the alternatives (each a sequence).
    Choice(Vec<Vec<Item>>),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("grammar column {column}: {reason}")]
pub struct GrammarError {
    pub column: usize,
    pub reason: String,
}

/// Deepest nesting accepted: real grammars nest four levels; this bounds recursion on hostile
/// input.
const MAX_DEPTH: usize = 32;

pub fn parse_grammar(text: &str) -> Result<Vec<Item>, GrammarError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0, end: text.chars().count() + 1 };
    let items = parser.sequence(0)?;
    match parser.tokens.get(parser.pos) {
        None => Ok(items),
        Some((column, token)) => {
            Err(GrammarError { column: *column, reason: format!("unexpected {token}") })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open(char),
    Close(char),
    Bar,
    Segment(String),
    Label(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open(c) | Token::Close(c) => write!(f, "'{c}'"),
            Token::Bar => f.write_str("'|'"),
            Token::Segment(s) => write!(f, "segment {s}"),
            Token::Label(s) => write!(f, "group name {s}:"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, GrammarError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        match c {
            ' ' | '\t' => i += 1,
            '[' | '{' | '<' => {
                tokens.push((column, Token::Open(c)));
                i += 1;
            }
            ']' | '}' | '>' => {
                tokens.push((column, Token::Close(c)));
                i += 1;
            }
            '|' => {
                tokens.push((column, Token::Bar));
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if chars.get(i) == Some(&':') {
                    i += 1;
                    tokens.push((column, Token::Label(word)));
                } else if is_segment_id(&word) {
                    tokens.push((column, Token::Segment(word)));
                } else {
                    return Err(GrammarError {
                        column,
                        reason: format!("{word:?} is not a segment id (three upper-case letters or digits); a group name ends with ':'"),
                    });
                }
            }
            other => {
                return Err(GrammarError {
                    column,
                    reason: format!("unexpected character {other:?}"),
                })
            }
        }
    }
    Ok(tokens)
}

fn is_segment_id(word: &str) -> bool {
    let b = word.as_bytes();
    b.len() == 3
        && b[0].is_ascii_uppercase()
        && b[1..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    /// The column just past the text, where "missing" problems are reported.
    end: usize,
}

impl Parser {
    fn end_column(&self) -> usize {
        self.end
    }

    /// Items until a closing bracket, a bar or the end.
    fn sequence(&mut self, depth: usize) -> Result<Vec<Item>, GrammarError> {
        if depth > MAX_DEPTH {
            let column = self.tokens.get(self.pos).map_or(self.end_column(), |t| t.0);
            return Err(GrammarError { column, reason: "groups nested too deeply".into() });
        }
        let mut items = Vec::new();
        while let Some((column, token)) = self.tokens.get(self.pos).cloned() {
            match token {
                Token::Segment(id) => {
                    self.pos += 1;
                    items.push(Item { node: Node::Segment(id), optional: false, repeating: false });
                }
                Token::Open(open) => {
                    self.pos += 1;
                    items.push(self.bracketed(open, column, depth)?);
                }
                Token::Label(name) => {
                    return Err(GrammarError {
                        column,
                        reason: format!("group name {name}: must come first inside a bracket"),
                    })
                }
                Token::Close(_) | Token::Bar => break,
            }
        }
        Ok(items)
    }

    fn bracketed(&mut self, open: char, column: usize, depth: usize) -> Result<Item, GrammarError> {
        let close = match open {
            '[' => ']',
            '{' => '}',
            _ => '>',
        };
        if open == '<' {
            let mut alternatives = vec![self.sequence(depth + 1)?];
            while self.tokens.get(self.pos).is_some_and(|t| t.1 == Token::Bar) {
                self.pos += 1;
                alternatives.push(self.sequence(depth + 1)?);
            }
            self.expect_close(close, column)?;
            if alternatives.iter().any(Vec::is_empty) {
                return Err(GrammarError {
                    column,
                    reason: "empty alternative in a choice".into(),
                });
            }
            return Ok(Item {
                node: Node::Choice(alternatives),
                optional: false,
                repeating: false,
            });
        }
        let name = match self.tokens.get(self.pos) {
            Some((_, Token::Label(name))) => {
                let name = name.clone();
                self.pos += 1;
                Some(name)
            }
            _ => None,
        };
        let items = self.sequence(depth + 1)?;
        self.expect_close(close, column)?;
        if items.is_empty() {
            return Err(GrammarError { column, reason: format!("empty '{open}{close}'") });
        }
        let mut item = match (name, items.len()) {
            // `[PD1]`, `[{NK1}]`: the bracket applies to the one item inside.
            (None, 1) => items.into_iter().next().expect("one item"),
            (name, _) => {
                Item { node: Node::Group { name, items }, optional: false, repeating: false }
            }
        };
        match open {
            '[' => item.optional = true,
            _ => item.repeating = true,
        }
        Ok(item)
    }

    fn expect_close(&mut self, close: char, open_column: usize) -> Result<(), GrammarError> {
        match self.tokens.get(self.pos) {
            Some((_, Token::Close(c))) if *c == close => {
                self.pos += 1;
                Ok(())
            }
            Some((column, token)) => Err(GrammarError {
                column: *column,
                reason: format!("expected '{close}' to close the bracket at column {open_column}, found {token}"),
            }),
            None => Err(GrammarError {
                column: self.end_column(),
                reason: format!("'{close}' missing for the bracket at column {open_column}"),
            }),
        }
    }
}

/// Writes items back in the notation (canonical spacing).
pub fn display_items(items: &[Item]) -> String {
    items.iter().map(display_item).collect::<Vec<_>>().join(" ")
}

fn display_item(item: &Item) -> String {
    let inner = match &item.node {
        Node::Segment(id) => id.clone(),
        Node::Group { name, items } => {
            let body = display_items(items);
            let body = match name {
                Some(n) => format!("{n}: {body}"),
                None => body,
            };
            if item.optional || item.repeating {
                format!(" {body} ")
            } else {
                format!("[ {body} ]")
            }
        }
        Node::Choice(alternatives) => {
            let alts: Vec<String> = alternatives.iter().map(|a| display_items(a)).collect();
            format!("< {} >", alts.join(" | "))
        }
    };
    match (item.optional, item.repeating) {
        (true, true) => format!("[{{{inner}}}]"),
        (true, false) => format!("[{inner}]"),
        (false, true) => format!("{{{inner}}}"),
        (false, false) => inner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<&str, usize>) {
        match (parse_grammar(text), expected) {
            (Ok(items), Ok(shown)) => assert_eq!(display_items(&items), shown, "{text}"),
            (Err(e), Err(column)) => assert_eq!(e.column, column, "{text}: {e}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn grammar_notation() {
        check("MSH EVN PID", Ok("MSH EVN PID"));
        check("MSH [{SFT}] [PD1] {NK1}", Ok("MSH [{SFT}] [PD1] {NK1}"));
        check("MSH [{ PROCEDURE: PR1 [{ROL}] }]", Ok("MSH [{ PROCEDURE: PR1 [{ROL}] }]"));
        check("MSH < OBR | RQD | RQ1 >", Ok("MSH < OBR | RQD | RQ1 >"));
        check("MSH [ X: PID PV1 ]", Ok("MSH [ X: PID PV1 ]"));
        check("MSH [PID", Err(9));
        check("MSH PID]", Err(8));
        check("MSH pid", Err(5));
        check("MSH []", Err(5));
        check("MSH < OBR | >", Err(5));
        check("MSH X: PID", Err(5));
        check("MSH #", Err(5));
        check(&"[".repeat(100), Err(34));
    }
}
