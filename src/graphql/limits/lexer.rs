//! A GraphQL lexer that only tells tokens apart, so that [`check_source`](super::check_source)
//! can count tokens and bracket nesting before the parser (which recurses on brackets)
//! sees the text.

/// What the limits need to know of a token.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Token {
    /// `{`, `(` or `[`.
    Open,
    /// `}`, `)` or `]`.
    Close,
    Other,
}

/// A GraphQL lexer that only tells tokens apart, as the specification defines them:
/// whitespace, commas, the byte-order mark and `#` comments are ignored; strings and block
/// strings are one token whatever they contain. It never fails: text the parser would
/// reject is still counted, and the parser reports it.
pub(super) struct Lexer<'a> {
    source: &'a [u8],
    at: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(source: &'a [u8]) -> Self {
        Self { source, at: 0 }
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.source.get(self.at + offset).copied()
    }

    pub(super) fn next_token(&mut self) -> Option<Token> {
        self.skip_ignored();
        let byte = self.peek(0)?;
        self.at += 1;
        Some(match byte {
            b'{' | b'(' | b'[' => Token::Open,
            b'}' | b')' | b']' => Token::Close,
            b'.' => {
                if self.peek(0) == Some(b'.') && self.peek(1) == Some(b'.') {
                    self.at += 2;
                }
                Token::Other
            }
            b'"' => {
                if self.peek(0) == Some(b'"') && self.peek(1) == Some(b'"') {
                    self.at += 2;
                    self.skip_block_string();
                } else if self.peek(0) == Some(b'"') {
                    self.at += 1;
                } else {
                    self.skip_string();
                }
                Token::Other
            }
            byte if byte.is_ascii_alphabetic() || byte == b'_' => {
                while self.peek(0).is_some_and(is_name_part) {
                    self.at += 1;
                }
                Token::Other
            }
            // A number: digits, letters (exponent), `.`, and a sign after an exponent.
            byte if byte.is_ascii_digit() || byte == b'-' => {
                let mut previous = byte;
                while let Some(b) = self.peek(0) {
                    let sign = (b == b'+' || b == b'-') && matches!(previous, b'e' | b'E');
                    if !(is_name_part(b) || b == b'.' || sign) {
                        break;
                    }
                    previous = b;
                    self.at += 1;
                }
                Token::Other
            }
            // Punctuators and anything the parser will refuse: one byte, one token.
            _ => Token::Other,
        })
    }

    fn skip_ignored(&mut self) {
        while let Some(byte) = self.peek(0) {
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => self.at += 1,
                b'#' => {
                    while self.peek(0).is_some_and(|b| b != b'\n' && b != b'\r') {
                        self.at += 1;
                    }
                }
                0xEF if self.peek(1) == Some(0xBB) && self.peek(2) == Some(0xBF) => self.at += 3,
                _ => return,
            }
        }
    }

    /// After the opening quote: up to and including the closing one, or the line's end
    /// (strings cannot span lines).
    fn skip_string(&mut self) {
        while let Some(byte) = self.peek(0) {
            match byte {
                b'"' => {
                    self.at += 1;
                    return;
                }
                b'\n' | b'\r' => return,
                // An escape: the character after the backslash cannot end the string.
                b'\\' if self.peek(1).is_some_and(|b| b != b'\n' && b != b'\r') => self.at += 2,
                _ => self.at += 1,
            }
        }
    }

    /// After the opening `"""`: up to and including the closing one; `\"""` does not close.
    fn skip_block_string(&mut self) {
        while let Some(byte) = self.peek(0) {
            if byte == b'\\' && self.source[self.at + 1..].starts_with(b"\"\"\"") {
                self.at += 4;
            } else if self.source[self.at..].starts_with(b"\"\"\"") {
                self.at += 3;
                return;
            } else {
                self.at += 1;
            }
        }
    }
}

fn is_name_part(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::super::tests::INTROSPECTION;
    use super::*;

    fn tokens(source: &str) -> usize {
        let mut lexer = Lexer::new(source.as_bytes());
        std::iter::from_fn(|| lexer.next_token()).count()
    }

    #[test]
    fn tokens_are_counted_as_the_specification_defines_them() {
        assert_eq!(tokens("{ me { id } }"), 6);
        assert_eq!(tokens("query Q($a: Int = -1.5e+3) { a: f(x: $a) }"), 21);
        assert_eq!(tokens("{ ...F ... on T { a } }"), 10);
        assert_eq!(tokens("{ a...F }"), 5);
        // Commas, comments and the byte-order mark are ignored.
        assert_eq!(tokens("\u{feff}{ a, b,,, c } # { { {\n"), 5);
        // A string is one token, whatever it holds.
        assert_eq!(tokens(r#"{ f(s: "{ \" # } ") }"#), 8);
        assert_eq!(tokens(r#"{ f(s: "") }"#), 8);
        // A block string too; an escaped triple quote does not end it.
        assert_eq!(tokens("{ f(s: \"\"\" a \\\"\"\" { \" \n } \"\"\") }"), 8);
        // Unterminated strings end at the line, or at the end of the text.
        assert_eq!(tokens("{ f(s: \"open\n) }"), 8);
        assert_eq!(tokens("\"\"\" never closed { {"), 1);
    }

    #[test]
    fn the_introspection_query_has_150_tokens() {
        assert_eq!(tokens(INTROSPECTION), 150);
    }
}
