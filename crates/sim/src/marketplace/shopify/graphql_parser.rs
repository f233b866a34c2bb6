//! Just enough of GraphQL for the operations the simulator serves: one
//! operation, root fields with arguments (literals or `$variables`),
//! directives and an (unapplied) selection set.

use serde_json::{Map, Value};

pub(super) struct Document {
    pub mutation: bool,
    pub fields: Vec<Field>,
}

pub(super) struct Field {
    /// The response key: the alias, else the name.
    pub alias: String,
    pub name: String,
    pub args: Map<String, Value>,
    pub directives: Vec<(String, Map<String, Value>)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Var(String),
    Str(String),
    Num(String),
    P(char),
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() || c == ',' => {
                chars.next();
            }
            '#' => while chars.next().is_some_and(|c| c != '\n') {},
            '{' | '}' | '(' | ')' | ':' | '@' | '!' | '[' | ']' | '=' => {
                chars.next();
                out.push(Tok::P(c));
            }
            '$' => {
                chars.next();
                out.push(Tok::Var(name(&mut chars)));
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('u') => {
                                let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                                let c = u32::from_str_radix(&hex, 16)
                                    .ok()
                                    .and_then(char::from_u32)
                                    .ok_or("bad \\u escape")?;
                                s.push(c);
                            }
                            Some(e) => s.push(e),
                            None => return Err("unterminated string".into()),
                        },
                        Some(c) => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            '-' | '0'..='9' => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_digit() || matches!(c, '-' | '.' | 'e' | 'E' | '+') {
                        s.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Num(s));
            }
            c if c.is_alphabetic() || c == '_' => out.push(Tok::Name(name(&mut chars))),
            '.' => return Err("fragments are not supported by the simulator".into()),
            c => return Err(format!("unexpected character {c:?}")),
        }
    }
    Ok(out)
}

fn name(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut s = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_alphanumeric() || c == '_' {
            s.push(c);
            chars.next();
        } else {
            break;
        }
    }
    s
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    vars: &'a Map<String, Value>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Result<Tok, String> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or("unexpected end of document")?;
        self.pos += 1;
        Ok(t)
    }

    fn expect(&mut self, p: char) -> Result<(), String> {
        match self.next()? {
            Tok::P(c) if c == p => Ok(()),
            t => Err(format!("expected {p:?}, found {t:?}")),
        }
    }

    fn eat(&mut self, p: char) -> bool {
        if self.peek() == Some(&Tok::P(p)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Name(n) => Ok(n),
            t => Err(format!("expected a name, found {t:?}")),
        }
    }

    /// Skips a balanced `open … close` group.
    fn skip(&mut self, open: char, close: char) -> Result<(), String> {
        self.expect(open)?;
        let mut depth = 1;
        while depth > 0 {
            match self.next()? {
                Tok::P(c) if c == open => depth += 1,
                Tok::P(c) if c == close => depth -= 1,
                _ => {}
            }
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Value, String> {
        Ok(match self.next()? {
            Tok::Var(v) => self.vars.get(&v).cloned().unwrap_or(Value::Null),
            Tok::Str(s) => Value::String(s),
            Tok::Num(n) => serde_json::from_str(&n).map_err(|_| format!("bad number {n}"))?,
            Tok::Name(n) => match n.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::String(n),
            },
            Tok::P('[') => {
                let mut list = Vec::new();
                while !self.eat(']') {
                    list.push(self.value()?);
                }
                Value::Array(list)
            }
            Tok::P('{') => Value::Object(self.object('}')?),
            t => return Err(format!("expected a value, found {t:?}")),
        })
    }

    fn object(&mut self, close: char) -> Result<Map<String, Value>, String> {
        let mut map = Map::new();
        while !self.eat(close) {
            let key = self.name()?;
            self.expect(':')?;
            map.insert(key, self.value()?);
        }
        Ok(map)
    }

    fn arguments(&mut self) -> Result<Map<String, Value>, String> {
        if self.eat('(') {
            self.object(')')
        } else {
            Ok(Map::new())
        }
    }

    fn field(&mut self) -> Result<Field, String> {
        let first = self.name()?;
        let (alias, name) = if self.eat(':') {
            (first, self.name()?)
        } else {
            (first.clone(), first)
        };
        let args = self.arguments()?;
        let mut directives = Vec::new();
        while self.eat('@') {
            let d = self.name()?;
            directives.push((d, self.arguments()?));
        }
        if self.peek() == Some(&Tok::P('{')) {
            self.skip('{', '}')?;
        }
        Ok(Field {
            alias,
            name,
            args,
            directives,
        })
    }
}

pub(super) fn parse(src: &str, vars: &Map<String, Value>) -> Result<Document, String> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
        vars,
    };
    let mutation = match p.peek() {
        Some(Tok::Name(n)) if n == "mutation" => true,
        Some(Tok::Name(n)) if n == "query" => false,
        Some(Tok::P('{')) => false,
        Some(t) => return Err(format!("unsupported operation {t:?}")),
        None => return Err("empty document".into()),
    };
    if p.peek() != Some(&Tok::P('{')) {
        p.pos += 1;
        if matches!(p.peek(), Some(Tok::Name(_))) {
            p.pos += 1;
        }
        if p.peek() == Some(&Tok::P('(')) {
            p.skip('(', ')')?;
        }
    }
    p.expect('{')?;
    let mut fields = Vec::new();
    while !p.eat('}') {
        fields.push(p.field()?);
    }
    if p.pos != p.toks.len() {
        return Err("only one operation per document is supported".into());
    }
    Ok(Document { mutation, fields })
}
