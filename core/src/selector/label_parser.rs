//! Lexer and recursive-descent parser for the label selector string grammar, producing
//! validated [`Requirement`]s with apimachinery's error texts (`found ',', expected: ...`).

use super::label::{LabelSelectorError, Operator, Requirement};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'s> {
    End,
    Identifier(&'s str),
    Comma,
    OpenPar,
    ClosedPar,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    In,
    NotIn,
}

impl Token<'_> {
    fn literal(&self) -> &str {
        match self {
            Token::End => "",
            Token::Identifier(s) => s,
            Token::Comma => ",",
            Token::OpenPar => "(",
            Token::ClosedPar => ")",
            Token::Bang => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::In => "in",
            Token::NotIn => "notin",
        }
    }

    /// In a values position `in` and `notin` are plain identifiers (`x in (in)`).
    fn as_value(self) -> Self {
        match self {
            Token::In | Token::NotIn => Token::Identifier(self.literal_static()),
            other => other,
        }
    }

    fn literal_static(&self) -> &'static str {
        if matches!(self, Token::In) {
            "in"
        } else {
            "notin"
        }
    }
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn lex(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::with_capacity(text.len() / 2 + 1);
    let mut pos = 0;
    loop {
        while pos < bytes.len() && is_space(bytes[pos]) {
            pos += 1;
        }
        let Some(&b) = bytes.get(pos) else {
            tokens.push(Token::End);
            return tokens;
        };
        let next = bytes.get(pos + 1).copied();
        let (token, width) = match (b, next) {
            (b'!', Some(b'=')) => (Token::NotEquals, 2),
            (b'=', Some(b'=')) => (Token::DoubleEquals, 2),
            (b'!', _) => (Token::Bang, 1),
            (b'=', _) => (Token::Equals, 1),
            (b'(', _) => (Token::OpenPar, 1),
            (b')', _) => (Token::ClosedPar, 1),
            (b',', _) => (Token::Comma, 1),
            (b'>', _) => (Token::GreaterThan, 1),
            (b'<', _) => (Token::LessThan, 1),
            _ => {
                let end = bytes[pos..]
                    .iter()
                    .position(|&c| is_special(c) || is_space(c))
                    .map_or(bytes.len(), |n| pos + n);
                let word = &text[pos..end];
                let token = match word {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Identifier(word),
                };
                (token, end - pos)
            }
        };
        tokens.push(token);
        pos += width;
    }
}

struct Parser<'s> {
    tokens: Vec<Token<'s>>,
    position: usize,
}

fn error(message: String) -> LabelSelectorError {
    LabelSelectorError::new(message)
}

impl<'s> Parser<'s> {
    fn peek_value(&self) -> Token<'s> {
        self.tokens[self.position].as_value()
    }

    fn next_raw(&mut self) -> Token<'s> {
        let token = self.tokens[self.position];
        // The End token is never passed, so lookahead after it stays in bounds.
        if token != Token::End {
            self.position += 1;
        }
        token
    }

    fn next_value(&mut self) -> Token<'s> {
        self.next_raw().as_value()
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, LabelSelectorError> {
        let mut requirements = Vec::new();
        loop {
            match self.peek_value() {
                Token::Identifier(_) | Token::Bang => {
                    let requirement = self
                        .requirement()
                        .map_err(|e| error(format!("unable to parse requirement: {e}")))?;
                    requirements.push(requirement);
                    match self.next_value() {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let after = self.peek_value();
                            if !matches!(after, Token::Identifier(_) | Token::Bang) {
                                return Err(error(format!(
                                    "found '{}', expected: identifier after ','",
                                    after.literal()
                                )));
                            }
                        }
                        other => {
                            return Err(error(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                other.literal()
                            )));
                        }
                    }
                }
                Token::End => return Ok(requirements),
                other => {
                    return Err(error(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        other.literal()
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, LabelSelectorError> {
        let (key, unary) = self.key_and_unary_operator()?;
        if let Some(operator) = unary {
            return Requirement::new(key, operator, Vec::new());
        }
        let operator = self.binary_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        Requirement::new(key, operator, values)
    }

    fn key_and_unary_operator(
        &mut self,
    ) -> Result<(&'s str, Option<Operator>), LabelSelectorError> {
        let mut token = self.next_value();
        let negated = token == Token::Bang;
        if negated {
            token = self.next_value();
        }
        let Token::Identifier(key) = token else {
            return Err(error(format!(
                "found '{}', expected: identifier",
                token.literal()
            )));
        };
        let errors = super::validation::qualified_name_errors(key);
        if !errors.is_empty() {
            return Err(error(format!(
                "key: Invalid value: {key:?}: {}",
                errors.join("; ")
            )));
        }
        let ends = matches!(self.peek_value(), Token::End | Token::Comma);
        let unary = match (negated, ends) {
            (true, _) => Some(Operator::DoesNotExist),
            (false, true) => Some(Operator::Exists),
            (false, false) => None,
        };
        Ok((key, unary))
    }

    fn binary_operator(&mut self) -> Result<Operator, LabelSelectorError> {
        Ok(match self.next_raw() {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            other => {
                return Err(error(format!(
                    "found '{}', expected: '=', '!=', '==', 'in', notin'",
                    other.literal()
                )));
            }
        })
    }

    fn value_set(&mut self) -> Result<Vec<String>, LabelSelectorError> {
        let open = self.next_value();
        if open != Token::OpenPar {
            return Err(error(format!("found '{}' expected: '('", open.literal())));
        }
        match self.peek_value() {
            Token::ClosedPar => {
                self.next_value();
                Ok(vec![String::new()])
            }
            Token::Identifier(_) | Token::Comma => {
                let values = self.identifier_list()?;
                let close = self.next_value();
                if close != Token::ClosedPar {
                    return Err(error(format!("found '{}', expected: ')'", close.literal())));
                }
                Ok(values)
            }
            other => Err(error(format!(
                "found '{}', expected: ',', ')' or identifier",
                other.literal()
            ))),
        }
    }

    /// Comma-separated, possibly empty identifiers: `(a,,b)` holds "a", "" and "b".
    fn identifier_list(&mut self) -> Result<Vec<String>, LabelSelectorError> {
        let mut values: Vec<String> = Vec::new();
        loop {
            match self.next_value() {
                Token::Identifier(value) => {
                    values.push(value.to_owned());
                    match self.peek_value() {
                        Token::Comma => {}
                        Token::ClosedPar => return Ok(values),
                        other => {
                            return Err(error(format!(
                                "found '{}', expected: ',' or ')'",
                                other.literal()
                            )));
                        }
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.peek_value() {
                        Token::ClosedPar => {
                            values.push(String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.next_value();
                            values.push(String::new());
                        }
                        _ => {}
                    }
                }
                other => {
                    return Err(error(format!(
                        "found '{}', expected: ',', or identifier",
                        other.literal()
                    )));
                }
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, LabelSelectorError> {
        if matches!(self.peek_value(), Token::End | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        match self.next_value() {
            Token::Identifier(value) => Ok(vec![value.to_owned()]),
            other => Err(error(format!(
                "found '{}', expected: identifier",
                other.literal()
            ))),
        }
    }
}

/// Parses `text` into requirements (unsorted).
pub(super) fn parse(text: &str) -> Result<Vec<Requirement>, LabelSelectorError> {
    Parser {
        tokens: lex(text),
        position: 0,
    }
    .parse()
}
