//! Label selectors: the `matchLabels` / `matchExpressions` form carried in objects, and the
//! compiled `Selector` that matches label sets.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A label query in object form (`spec.selector` of workloads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: LabelSelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operators `matchExpressions` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LabelSelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// A selector matching exactly these labels.
    pub fn from_labels(labels: BTreeMap<String, String>) -> LabelSelector {
        LabelSelector {
            match_labels: labels,
            match_expressions: Vec::new(),
        }
    }

    /// No labels and no expressions: in Kubernetes this selects everything.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

use std::fmt;

use super::names::{label_value_errors, qualified_name_errors};

/// A requirement's operator. `Gt`/`Lt` exist in the string form only (as in Kubernetes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    In,
    NotIn,
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    Exists,
    DoesNotExist,
    /// `>`: the label's value is an integer greater than the requirement's.
    GreaterThan,
    /// `<`
    LessThan,
}

/// One condition on one label key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and without duplicates.
    values: Vec<String>,
}

/// A label query that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// a key is not a qualified name
    #[error("invalid label key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    /// a value is not a label value
    #[error("invalid label value {value:?} for key {key:?}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    /// the operator and the number of values do not fit together
    #[error("invalid values for key {key:?}: {reason}")]
    InvalidValues { key: String, reason: &'static str },
}

impl Requirement {
    /// Kubernetes' `NewRequirement`: checks the key, the number of values for the operator
    /// and each value.
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Requirement, SelectorError> {
        let key = key.into();
        let key_errors = qualified_name_errors(&key);
        if !key_errors.is_empty() {
            return Err(SelectorError::InvalidKey {
                key,
                reason: key_errors.join("; "),
            });
        }
        let count_error = match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                Some("for 'in', 'notin' operators, values set can't be empty")
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                Some("exact-match compatibility requires one single value")
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                Some("values set must be empty for exists and does not exist")
            }
            Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
                Some("for 'Gt', 'Lt' operators, exactly one value is required")
            }
            Operator::GreaterThan | Operator::LessThan if values[0].parse::<i64>().is_err() => {
                Some("for 'Gt', 'Lt' operators, the value must be an integer")
            }
            _ => None,
        };
        if let Some(reason) = count_error {
            return Err(SelectorError::InvalidValues { key, reason });
        }
        for value in &values {
            let errs = label_value_errors(value);
            if !errs.is_empty() {
                return Err(SelectorError::InvalidValue {
                    key,
                    value: value.clone(),
                    reason: errs.join("; "),
                });
            }
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn has_value(&self, v: &str) -> bool {
        self.values.iter().any(|x| x == v)
    }

    /// Kubernetes' `Requirement.Matches`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.has_value(v))
            }
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !self.has_value(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), Some(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let values = self.values.join(",");
        match self.operator {
            Operator::Exists | Operator::DoesNotExist => Ok(()),
            Operator::Equals => write!(f, "={values}"),
            Operator::DoubleEquals => write!(f, "=={values}"),
            Operator::NotEquals => write!(f, "!={values}"),
            Operator::GreaterThan => write!(f, ">{values}"),
            Operator::LessThan => write!(f, "<{values}"),
            Operator::In => write!(f, " in ({values})"),
            Operator::NotIn => write!(f, " notin ({values})"),
        }
    }
}

/// A compiled label query: every requirement must match. `Selector::nothing()` matches no
/// label set at all (a workload without a selector selects nothing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl Default for Selector {
    fn default() -> Selector {
        Selector::everything()
    }
}

impl Selector {
    /// Matches every label set (the empty selector).
    pub fn everything() -> Selector {
        Selector {
            requirements: Vec::new(),
            nothing: false,
        }
    }

    /// Matches nothing.
    pub fn nothing() -> Selector {
        Selector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// A selector from requirements (sorted by key, as Kubernetes does).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Selector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector {
            requirements,
            nothing: false,
        }
    }

    /// Matches label sets that contain all of `labels` (Kubernetes' `SelectorFromSet`;
    /// no validation).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Selector {
        Selector::from_requirements(
            labels
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    operator: Operator::Equals,
                    values: vec![v.clone()],
                })
                .collect(),
        )
    }

    /// Parses the string form used by `-l` and `labelSelector=` exactly like Kubernetes'
    /// `labels.Parse`: `a=b,a==b,c!=d,e in (x,y),f notin (z),g,!h,i>1,j<2`.
    pub fn parse(s: &str) -> Result<Selector, SelectorParseError> {
        Parser::new(s).parse().map(Selector::from_requirements)
    }

    /// Kubernetes' `LabelSelectorAsSelector`: `None` selects nothing, an empty selector
    /// everything.
    pub fn from_label_selector(
        selector: Option<&LabelSelector>,
    ) -> Result<Selector, SelectorError> {
        match selector {
            None => Ok(Selector::nothing()),
            Some(s) => s.to_selector(),
        }
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether this selector matches everything.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

/// The string form; `Selector::parse` reads it back. The "nothing" selector prints as an
/// empty string, as in Kubernetes.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorParseError;
    fn from_str(s: &str) -> Result<Selector, SelectorParseError> {
        Selector::parse(s)
    }
}

impl LabelSelector {
    /// Compiles `matchLabels` and `matchExpressions` into a `Selector` (an empty selector
    /// matches everything).
    pub fn to_selector(&self) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in &self.match_labels {
            requirements.push(Requirement::new(
                k.clone(),
                Operator::Equals,
                vec![v.clone()],
            )?);
        }
        for expr in &self.match_expressions {
            let operator = match expr.operator {
                LabelSelectorOperator::In => Operator::In,
                LabelSelectorOperator::NotIn => Operator::NotIn,
                LabelSelectorOperator::Exists => Operator::Exists,
                LabelSelectorOperator::DoesNotExist => Operator::DoesNotExist,
            };
            requirements.push(Requirement::new(
                expr.key.clone(),
                operator,
                expr.values.clone(),
            )?);
        }
        Ok(Selector::from_requirements(requirements))
    }

    /// Whether `labels` match, treating an invalid selector as matching nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.to_selector().is_ok_and(|s| s.matches(labels))
    }
}

/// A `-l` string that is not a selector; `position` is the byte offset of the offending
/// token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at position {position})")]
pub struct SelectorParseError {
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

struct Scanned {
    token: Token,
    literal: String,
    position: usize,
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn literal_token(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

/// Kubernetes' lexer: identifiers run until white space or a special symbol; special symbols
/// combine greedily into the longest operator (`!=`, `==`).
fn lex(s: &str) -> Vec<Scanned> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < b.len() && is_whitespace(b[pos]) {
            pos += 1;
        }
        let start = pos;
        if pos >= b.len() {
            out.push(Scanned {
                token: Token::EndOfString,
                literal: String::new(),
                position: start,
            });
            return out;
        }
        if is_special(b[pos]) {
            let mut best: Option<(Token, usize)> = None;
            let mut end = pos;
            while end < b.len() && is_special(b[end]) {
                end += 1;
                match literal_token(&s[start..end]) {
                    Some(t) => best = Some((t, end)),
                    None if best.is_some() => break,
                    None => {}
                }
            }
            // Every single special symbol is a token, so `best` is always set.
            let (token, end) = best.unwrap_or((Token::Identifier, end));
            out.push(Scanned {
                token,
                literal: s[start..end].to_string(),
                position: start,
            });
            pos = end;
        } else {
            while pos < b.len() && !is_special(b[pos]) && !is_whitespace(b[pos]) {
                pos += 1;
            }
            let literal = &s[start..pos];
            out.push(Scanned {
                token: literal_token(literal).unwrap_or(Token::Identifier),
                literal: literal.to_string(),
                position: start,
            });
        }
    }
}

/// Where a token is read: `in` and `notin` are plain identifiers where values are expected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<Scanned>,
    position: usize,
}

impl Parser {
    fn new(s: &str) -> Parser {
        Parser {
            items: lex(s),
            position: 0,
        }
    }

    fn token_in(&self, index: usize, context: Context) -> (Token, &str, usize) {
        let item = &self.items[index.min(self.items.len() - 1)];
        let token = match (context, item.token) {
            (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
            (_, t) => t,
        };
        (token, &item.literal, item.position)
    }

    fn lookahead(&self, context: Context) -> (Token, String, usize) {
        let (t, l, p) = self.token_in(self.position, context);
        (t, l.to_string(), p)
    }

    fn consume(&mut self, context: Context) -> (Token, String, usize) {
        let r = self.lookahead(context);
        if self.position < self.items.len() - 1 {
            self.position += 1;
        }
        r
    }

    fn error(position: usize, message: String) -> SelectorParseError {
        SelectorParseError { position, message }
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorParseError> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal, position) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self.parse_requirement().map_err(|e| SelectorParseError {
                        message: format!("unable to parse requirement: {}", e.message),
                        ..e
                    })?;
                    requirements.push(r);
                    let (t, l, p) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2, p2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(Self::error(
                                    p2,
                                    format!("found '{l2}', expected: identifier after ','"),
                                ));
                            }
                        }
                        _ => {
                            return Err(Self::error(
                                p,
                                format!("found '{l}', expected: ',' or 'end of string'"),
                            ))
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(Self::error(
                        position,
                        format!("found '{literal}', expected: !, identifier, or 'end of string'"),
                    ))
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorParseError> {
        let (key, key_position, inferred) = self.parse_key_and_infer_operator()?;
        let build = |op, values: Vec<String>| {
            Requirement::new(key.clone(), op, values)
                .map_err(|e| Self::error(key_position, e.to_string()))
        };
        if let Some(op) = inferred {
            return build(op, Vec::new());
        }
        let (operator, operator_position) = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        build(operator, values).map_err(|e| SelectorParseError {
            position: operator_position,
            ..e
        })
    }

    /// The key, its position and `Exists`/`DoesNotExist` when no binary operator follows.
    fn parse_key_and_infer_operator(
        &mut self,
    ) -> Result<(String, usize, Option<Operator>), SelectorParseError> {
        let mut operator = None;
        let (mut token, mut literal, mut position) = self.consume(Context::Values);
        if token == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (token, literal, position) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(Self::error(
                position,
                format!("found '{literal}', expected: identifier"),
            ));
        }
        let key_errors = qualified_name_errors(&literal);
        if !key_errors.is_empty() {
            return Err(Self::error(
                position,
                format!("invalid label key {literal:?}: {}", key_errors.join("; ")),
            ));
        }
        let (next, _, _) = self.lookahead(Context::Values);
        if (next == Token::EndOfString || next == Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((literal, position, operator))
    }

    fn parse_operator(&mut self) -> Result<(Operator, usize), SelectorParseError> {
        let (token, literal, position) = self.consume(Context::KeyAndOperator);
        let op = match token {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                return Err(Self::error(
                    position,
                    format!("found '{literal}', expected: in, notin, =, ==, !=, gt, lt"),
                ))
            }
        };
        Ok((op, position))
    }

    fn parse_values(&mut self) -> Result<Vec<String>, SelectorParseError> {
        let (token, literal, position) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(Self::error(
                position,
                format!("found '{literal}' expected: '('"),
            ));
        }
        let (token, literal, position) = self.lookahead(Context::Values);
        match token {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                let (token, literal, position) = self.consume(Context::Values);
                if token != Token::ClosedPar {
                    return Err(Self::error(
                        position,
                        format!("found '{literal}', expected: ')'"),
                    ));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(Self::error(
                position,
                format!("found '{literal}', expected: ',', ')' or identifier"),
            )),
        }
    }

    /// A comma-separated list where empty entries are the empty value (`(a,,b)`, `(,a)`).
    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, SelectorParseError> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let (token, literal, position) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    values.push(literal);
                    let (t2, l2, p2) = self.lookahead(Context::Values);
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => {
                            return Err(Self::error(
                                p2,
                                format!("found '{l2}', expected: ',' or ')'"),
                            ))
                        }
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    let (t2, _, _) = self.lookahead(Context::Values);
                    if t2 == Token::ClosedPar {
                        values.push(String::new());
                        return Ok(values);
                    }
                    if t2 == Token::Comma {
                        self.consume(Context::Values);
                        values.push(String::new());
                    }
                }
                _ => {
                    return Err(Self::error(
                        position,
                        format!("found '{literal}', expected: ',', or identifier"),
                    ))
                }
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, SelectorParseError> {
        let (token, _, _) = self.lookahead(Context::Values);
        if token == Token::EndOfString || token == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (token, literal, position) = self.consume(Context::Values);
        if token == Token::Identifier {
            return Ok(vec![literal]);
        }
        Err(Self::error(
            position,
            format!("found '{literal}', expected: identifier"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_strings_parse_like_kubernetes() {
        // (input, canonical string form)
        let table: &[(&str, &str)] = &[
            ("", ""),
            ("   ", ""),
            ("a=b", "a=b"),
            ("a==b", "a==b"),
            ("a!=b", "a!=b"),
            ("a=", "a="),
            ("a=b,c=d", "a=b,c=d"),
            ("c=d,a=b", "a=b,c=d"),
            (" x = y , z ", "x=y,z"),
            ("e in (x,y)", "e in (x,y)"),
            ("e in (y,x,x)", "e in (x,y)"),
            ("e in ()", "e in ()"),
            ("e in (,a)", "e in (,a)"),
            ("e in (a,,b)", "e in (,a,b)"),
            ("f notin (z)", "f notin (z)"),
            ("g", "g"),
            ("!h", "!h"),
            (
                "a=b,a==b,c!=d,e in (x,y),f notin (z),g,!h",
                "a=b,a==b,c!=d,e in (x,y),f notin (z),g,!h",
            ),
            ("x>1", "x>1"),
            ("x<2", "x<2"),
            ("app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
            ("in=notin", "in=notin"),
            ("x in (in,notin)", "x in (in,notin)"),
        ];
        for (input, want) in table {
            let s = Selector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(s.to_string(), *want, "{input:?}");
        }
    }

    #[test]
    fn malformed_selector_strings_are_errors_naming_the_position() {
        // (input, position, start of the message)
        let table: &[(&str, usize, &str)] = &[
            ("a=b=c", 3, "found '=', expected: ',' or 'end of string'"),
            ("a=b,", 4, "found '', expected: identifier after ','"),
            (",a", 0, "found ',', expected: !, identifier"),
            (
                "a in x",
                5,
                "unable to parse requirement: found 'x' expected: '('",
            ),
            (
                "a in (x",
                7,
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
            (
                "a b",
                2,
                "unable to parse requirement: found 'b', expected: in, notin",
            ),
            (
                "!",
                1,
                "unable to parse requirement: found '', expected: identifier",
            ),
            (
                "a=(b)",
                2,
                "unable to parse requirement: found '(', expected: identifier",
            ),
            (
                "-a=b",
                0,
                "unable to parse requirement: invalid label key \"-a\"",
            ),
            ("a=b c", 4, "found 'c', expected: ',' or 'end of string'"),
            (
                "a=-b",
                1,
                "unable to parse requirement: invalid label value \"-b\"",
            ),
            (
                "x>a",
                1,
                "unable to parse requirement: invalid values for key \"x\"",
            ),
            ("!a=b", 2, "found '=', expected: ',' or 'end of string'"),
            (
                "x<",
                1,
                "unable to parse requirement: invalid values for key \"x\"",
            ),
            (
                "a notin",
                7,
                "unable to parse requirement: found '' expected: '('",
            ),
        ];
        for (input, position, message) in table {
            let e = Selector::parse(input).expect_err(input);
            assert_eq!(e.position, *position, "{input:?}: {e}");
            assert!(e.message.starts_with(message), "{input:?}: {e}");
        }
    }

    #[test]
    fn requirements_match_label_sets() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        let table: &[(&str, bool)] = &[
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db,web)", true),
            ("app notin (web)", false),
            ("missing notin (web)", true),
            ("missing in (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("n>4", true),
            ("n<5", false),
            ("app>1", false),
            ("app=web,tier=back", false),
        ];
        for (s, want) in table {
            assert_eq!(Selector::parse(s).unwrap().matches(&l), *want, "{s}");
        }
    }

    #[test]
    fn label_selector_objects_compile_like_label_selector_as_selector() {
        let ls = LabelSelector {
            match_labels: labels(&[("app", "web")]),
            match_expressions: vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: LabelSelectorOperator::In,
                values: vec!["front".into(), "edge".into()],
            }],
        };
        let s = ls.to_selector().unwrap();
        assert_eq!(s.to_string(), "app=web,tier in (edge,front)");
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "edge")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(Selector::from_label_selector(None).unwrap().is_nothing());
        assert!(!Selector::nothing().matches(&BTreeMap::new()));
        assert!(LabelSelector::default().to_selector().unwrap().is_empty());
        let bad = LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: LabelSelectorOperator::In,
                values: vec![],
            }],
            ..LabelSelector::default()
        };
        assert!(matches!(
            bad.to_selector(),
            Err(SelectorError::InvalidValues { .. })
        ));
    }

    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "app", "tier", "k8s.io/name", "x_y", "in", "n-1"])
            .prop_map(String::from)
    }

    fn value() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["", "v", "web", "1", "a.b", "in", "notin", "X_1"])
            .prop_map(String::from)
    }

    fn requirement() -> impl Strategy<Value = Requirement> {
        let op = prop::sample::select(vec![
            Operator::In,
            Operator::NotIn,
            Operator::Equals,
            Operator::DoubleEquals,
            Operator::NotEquals,
            Operator::Exists,
            Operator::DoesNotExist,
        ]);
        (key(), op, prop::collection::vec(value(), 1..4)).prop_map(|(k, op, vs)| {
            let vs = match op {
                Operator::Exists | Operator::DoesNotExist => vec![],
                Operator::In | Operator::NotIn => vs,
                _ => vs[..1].to_vec(),
            };
            Requirement::new(k, op, vs).unwrap()
        })
    }

    proptest! {
        #[test]
        fn printing_then_parsing_a_selector_gives_it_back(
            reqs in prop::collection::vec(requirement(), 0..5)
        ) {
            let s = Selector::from_requirements(reqs);
            let printed = s.to_string();
            let parsed = Selector::parse(&printed).unwrap();
            prop_assert_eq!(&parsed, &s, "{}", printed);
        }
    }
}
