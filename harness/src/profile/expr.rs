//! The expression language of predicates (usage C) and conformance statements: small enough to
//! read in a profile, enough to say what interface specifications say.
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | primary
//! primary := "(" expr ")" | "true" | "false"
//!          | "count(" PATH ")" OP (NUMBER | "count(" PATH ")")
//!                                                 occurrences of a segment, repetitions of a field
//!          | PATH "is" ["not"] "valued"
//!          | PATH OP (LITERAL | PATH)             OP: = != < <= > >=
//!          | PATH "in" "(" LITERAL ("," LITERAL)* ")"
//!          | PATH "matches" STRING               a regular expression the whole value matches
//! PATH    := SEG[occ]-FIELD[rep].COMP.SUB, as everywhere in the harness; `[*]` on the segment
//!            or the field means "any occurrence / repetition"
//! LITERAL := "quoted text" | a bare word or number (M, 2.6, 10)
//! ```
//!
//! Meaning: a path reads the decoded text of the element (the first occurrence and repetition
//! unless written otherwise). A test on a value (`=`, `<`, `in`, `matches`) is false when the
//! element is not valued; `!=` and `is not valued` are the negations of `=` and `is valued`.
//! With `[*]` the test holds when it holds for any of the values. `<`, `>` compare as numbers
//! when both sides are numbers, else as text.

use crate::hl7::path::Path;
use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest expression read, and deepest nesting: a profile is input like any other.
const MAX_LEN: usize = 4096;
const MAX_DEPTH: usize = 64;

/// A parsed expression, with its source text (shown in findings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub text: String,
    pub node: Node,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Const(bool),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Valued(ExprPath),
    Compare { path: ExprPath, op: Op, rhs: Operand },
    In { path: ExprPath, values: Vec<String> },
    Matches { path: ExprPath, pattern: String },
    Count { path: ExprPath, op: Op, rhs: Counted },
}

/// The right side of a `count(…)` comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    Number(u64),
    Count(ExprPath),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Literal(String),
    Path(ExprPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A path with "any occurrence" / "any repetition" marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprPath {
    pub path: Path,
    pub any_occurrence: bool,
    pub any_repetition: bool,
}

/// Why an expression could not be read, with the 1-based column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expression {text:?}, column {column}: {reason}")]
pub struct ExprError {
    pub text: String,
    pub column: usize,
    pub reason: String,
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let fail = |column: usize, reason: String| ExprError { text: text.into(), column, reason };
        if text.len() > MAX_LEN {
            return Err(fail(MAX_LEN, format!("longer than {MAX_LEN} bytes")));
        }
        let tokens = tokenize(text).map_err(|(c, r)| fail(c, r))?;
        let mut parser = Parser { tokens, pos: 0, depth: 0 };
        let node = parser.or().map_err(|(c, r)| fail(c, r))?;
        if let Some(t) = parser.tokens.get(parser.pos) {
            return Err(fail(t.column, format!("unexpected {}", t.kind)));
        }
        Ok(Expr { text: text.to_string(), node })
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Expr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Expr::parse(&text).map_err(de::Error::custom)
    }
}

impl JsonSchema for Expr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Expr".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A predicate: e.g. `PID-8 is valued`, `MSH-12 = 2.6 and PID-8 in (M, F, U)`"
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Word(String),
    Str(String),
    Op(Op),
    Open,
    Close,
    Comma,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Word(w) => write!(f, "{w:?}"),
            Kind::Str(s) => write!(f, "string {s:?}"),
            Kind::Op(op) => write!(f, "operator {}", op_text(*op)),
            Kind::Open => f.write_str("'('"),
            Kind::Close => f.write_str("')'"),
            Kind::Comma => f.write_str("','"),
        }
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
    }
}

struct Token {
    kind: Kind,
    column: usize,
}

type Failure = (usize, String);

fn tokenize(text: &str) -> Result<Vec<Token>, Failure> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let column = text[..at].chars().count() + 1;
        let single = |kind| Token { kind, column };
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(single(Kind::Open));
                i += 1;
            }
            ')' => {
                tokens.push(single(Kind::Close));
                i += 1;
            }
            ',' => {
                tokens.push(single(Kind::Comma));
                i += 1;
            }
            '=' => {
                tokens.push(single(Kind::Op(Op::Eq)));
                i += 1;
            }
            '!' | '<' | '>' => {
                let next_is_eq = chars.get(i + 1).is_some_and(|(_, n)| *n == '=');
                let op = match (c, next_is_eq) {
                    ('!', true) => Op::Ne,
                    ('<', true) => Op::Le,
                    ('>', true) => Op::Ge,
                    ('<', false) => Op::Lt,
                    ('>', false) => Op::Gt,
                    _ => return Err((column, "'!' must be followed by '='".into())),
                };
                tokens.push(single(Kind::Op(op)));
                i += if next_is_eq { 2 } else { 1 };
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err((column, "unterminated string".into())),
                        Some((_, '"')) => {
                            i += 1;
                            break;
                        }
                        Some((_, '\\')) => {
                            let Some((_, escaped)) = chars.get(i + 1) else {
                                return Err((column, "unterminated string".into()));
                            };
                            if *escaped != '"' && *escaped != '\\' {
                                value.push('\\');
                            }
                            value.push(*escaped);
                            i += 2;
                        }
                        Some((_, other)) => {
                            value.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token { kind: Kind::Str(value), column });
            }
            _ => {
                let start = i;
                while i < chars.len() {
                    let ch = chars[i].1;
                    if ch.is_whitespace()
                        || matches!(ch, '(' | ')' | ',' | '=' | '!' | '<' | '>' | '"')
                    {
                        break;
                    }
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|(_, ch)| ch).collect();
                tokens.push(Token { kind: Kind::Word(word), column });
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Kind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.pos).or_else(|| self.tokens.last()).map_or(1, |t| t.column)
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Kind::Word(w)) if w.eq_ignore_ascii_case(word)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kind: Kind, what: &str) -> Result<(), Failure> {
        if self.peek() == Some(&kind) {
            self.pos += 1;
            Ok(())
        } else {
            Err((self.column(), format!("expected {what}")))
        }
    }

    fn or(&mut self) -> Result<Node, Failure> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((self.column(), format!("nested deeper than {MAX_DEPTH}")));
        }
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            parts.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 { parts.remove(0) } else { Node::Or(parts) })
    }

    fn and(&mut self) -> Result<Node, Failure> {
        let mut parts = vec![self.unary()?];
        while self.keyword("and") {
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Node::And(parts) })
    }

    fn unary(&mut self) -> Result<Node, Failure> {
        if self.keyword("not") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err((self.column(), format!("nested deeper than {MAX_DEPTH}")));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, Failure> {
        let column = self.column();
        match self.peek().cloned() {
            Some(Kind::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                self.expect(Kind::Close, "')'")?;
                Ok(inner)
            }
            Some(Kind::Word(w)) if w == "true" || w == "false" => {
                self.pos += 1;
                Ok(Node::Const(w == "true"))
            }
            Some(Kind::Word(w)) if w.eq_ignore_ascii_case("count") => {
                self.pos += 1;
                self.expect(Kind::Open, "'(' after count")?;
                let path = self.path()?;
                self.expect(Kind::Close, "')'")?;
                let Some(Kind::Op(op)) = self.peek().cloned() else {
                    return Err((self.column(), "expected a comparison after count(…)".into()));
                };
                self.pos += 1;
                let column = self.column();
                if self.keyword("count") {
                    self.expect(Kind::Open, "'(' after count")?;
                    let other = self.path()?;
                    self.expect(Kind::Close, "')'")?;
                    return Ok(Node::Count { path, op, rhs: Counted::Count(other) });
                }
                let n = match self.peek().cloned() {
                    Some(Kind::Word(w)) => w.parse::<u64>().ok(),
                    _ => None,
                }
                .ok_or((column, "expected a whole number or count(…)".to_string()))?;
                self.pos += 1;
                Ok(Node::Count { path, op, rhs: Counted::Number(n) })
            }
            Some(Kind::Word(_)) => self.test(),
            Some(other) => Err((column, format!("unexpected {other}"))),
            None => Err((column, "expression ends too early".into())),
        }
    }

    fn test(&mut self) -> Result<Node, Failure> {
        let path = self.path()?;
        if self.keyword("is") {
            let negated = self.keyword("not");
            if !self.keyword("valued") {
                return Err((self.column(), "expected `valued` after `is`".into()));
            }
            let node = Node::Valued(path);
            return Ok(if negated { Node::Not(Box::new(node)) } else { node });
        }
        if self.keyword("in") {
            self.expect(Kind::Open, "'(' after in")?;
            let mut values = vec![self.literal()?];
            while self.peek() == Some(&Kind::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(Kind::Close, "')'")?;
            return Ok(Node::In { path, values });
        }
        if self.keyword("matches") {
            let column = self.column();
            let Some(Kind::Str(pattern)) = self.peek().cloned() else {
                return Err((column, "expected a quoted regular expression".into()));
            };
            regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| (column, format!("bad regular expression: {e}")))?;
            self.pos += 1;
            return Ok(Node::Matches { path, pattern });
        }
        if let Some(Kind::Op(op)) = self.peek().cloned() {
            self.pos += 1;
            let rhs = match self.peek().cloned() {
                Some(Kind::Word(w)) if looks_like_path(&w) => Operand::Path(self.path()?),
                _ => Operand::Literal(self.literal()?),
            };
            return Ok(Node::Compare { path, op, rhs });
        }
        Err((self.column(), "expected `is valued`, a comparison, `in (…)` or `matches`".into()))
    }

    fn literal(&mut self) -> Result<String, Failure> {
        match self.peek().cloned() {
            Some(Kind::Str(s)) | Some(Kind::Word(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err((self.column(), "expected a value".into())),
        }
    }

    fn path(&mut self) -> Result<ExprPath, Failure> {
        let column = self.column();
        let Some(Kind::Word(word)) = self.peek().cloned() else {
            return Err((column, "expected a path such as PID-5.1".into()));
        };
        self.pos += 1;
        let (segment_part, rest) = match word.find('-') {
            Some(i) => word.split_at(i),
            None => (word.as_str(), ""),
        };
        let any_occurrence = segment_part.ends_with("[*]");
        let any_repetition = rest.contains("[*]");
        let plain = word.replacen("[*]", "", 2);
        let path = Path::parse(&plain).map_err(|e| (column, e.reason))?;
        Ok(ExprPath { path, any_occurrence, any_repetition })
    }
}

/// A bare word on the right of a comparison is a path when it reads like one (`PID-3.1`),
/// else a literal (`M`, `2.6`).
fn looks_like_path(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.len() > 4
        && bytes[0].is_ascii_uppercase()
        && bytes[1..3].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && (bytes[3] == b'-' || bytes[3] == b'[')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Node {
        Expr::parse(text).unwrap_or_else(|e| panic!("{e}")).node
    }

    #[test]
    fn reads_every_form() {
        assert!(matches!(parse("PID-8 is valued"), Node::Valued(_)));
        assert!(matches!(parse("PID-8 is not valued"), Node::Not(_)));
        assert!(matches!(parse("MSH-12 = 2.6"), Node::Compare { op: Op::Eq, .. }));
        assert!(matches!(
            parse("PID-3.1 != MRG-1.1"),
            Node::Compare { op: Op::Ne, rhs: Operand::Path(_), .. }
        ));
        assert!(
            matches!(parse("PID-8 in (M, F, \"U\")"), Node::In { ref values, .. } if values.len() == 3)
        );
        assert!(matches!(parse("MSH-4 matches \"[a-z]+\\{[a-z]+\\}\""), Node::Matches { .. }));
        assert!(matches!(parse("count(OBX) >= 1"), Node::Count { rhs: Counted::Number(1), .. }));
        assert!(matches!(
            parse("count(PID) = count(MRG)"),
            Node::Count { rhs: Counted::Count(_), .. }
        ));
        assert!(matches!(parse("true"), Node::Const(true)));
    }

    #[test]
    fn precedence_and_grouping() {
        let Node::Or(parts) = parse("PID-8 = M or PID-8 = F and PID-7 is valued") else {
            panic!("or at the top")
        };
        assert!(matches!(parts[1], Node::And(_)));
        let Node::And(parts) = parse("(PID-8 = M or PID-8 = F) and PID-7 is valued") else {
            panic!("and at the top")
        };
        assert!(matches!(parts[0], Node::Or(_)));
    }

    #[test]
    fn any_marks() {
        let Node::Compare { path, .. } = parse("PID-3[*].5 = MR") else { panic!("compare") };
        assert!(path.any_repetition && !path.any_occurrence);
        assert_eq!(path.path.to_string(), "PID-3.5");
        let Node::Valued(path) = parse("OBX[*]-5 is valued") else { panic!("valued") };
        assert!(path.any_occurrence && !path.any_repetition);
    }

    #[test]
    fn errors_name_the_column() {
        let e = Expr::parse("PID-8 is vaguely").expect_err("typo");
        assert_eq!(e.column, 10, "{e}");
        let e = Expr::parse("PID-8 = ").expect_err("no value");
        assert!(e.reason.contains("expected a value"), "{e}");
        let e = Expr::parse("PID-8 in (M").expect_err("open list");
        assert!(e.reason.contains("')'"), "{e}");
        let e = Expr::parse("MSH-4 matches \"([\"").expect_err("bad regex");
        assert!(e.reason.contains("regular expression"), "{e}");
        let e = Expr::parse("P-8 is valued").expect_err("bad path");
        assert_eq!(e.column, 1);
        let e = Expr::parse("PID-8 is valued PID-9").expect_err("trailing");
        assert!(e.reason.contains("unexpected"), "{e}");
    }

    #[test]
    fn hostile_nesting_is_bounded() {
        let deep = format!("{}PID-8 is valued{}", "(".repeat(200), ")".repeat(200));
        assert!(Expr::parse(&deep).expect_err("too deep").reason.contains("nested"));
        let nots = format!("{}PID-8 is valued", "not ".repeat(200));
        assert!(Expr::parse(&nots).is_err());
        assert!(Expr::parse(&"x".repeat(MAX_LEN + 1)).is_err());
    }
}
