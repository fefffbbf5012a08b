//! SCIM filters (RFC 7644 §3.4.2.2), parsed once and evaluated on a resource as JSON, so
//! one evaluator serves Users and Groups. Attribute names are case-insensitive; values
//! compare case-insensitively except for the case-exact attributes (`id`, `externalId`,
//! `value` of members), as RFC 7643 defines them.

use serde_json::Value;

use super::{ScimError, attribute, strip_schema};

/// Longest filter accepted: directories send short ones; a long one is an attack.
pub const MAX_LEN: usize = 2_000;
/// Deepest nesting of parentheses and brackets.
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr op value`; `attr` may name a sub-attribute (`emails.value`).
    Compare {
        path: Vec<String>,
        op: Op,
        value: Value,
    },
    /// `attr pr`.
    Present(Vec<String>),
    /// `attr[filter]`: some element of a multi-valued attribute matches.
    Any {
        attr: String,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidFilter", detail)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn tokens(text: &str) -> Result<Vec<Token>, ScimError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                chars.next();
                out.push(Token::Str(string(&mut chars)?));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "()[]\"".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

/// A JSON string's body after its opening quote, with JSON's escapes.
fn string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, ScimError> {
    let mut raw = String::from('"');
    let mut escaped = false;
    for c in chars.by_ref() {
        raw.push(c);
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => {
                return serde_json::from_str(&raw).map_err(|_| invalid("A string in the filter is malformed."));
            }
            _ => {}
        }
    }
    Err(invalid("A string in the filter has no closing quote."))
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

/// Parses a filter as typed in `?filter=` or a PATCH path's brackets.
pub fn parse(text: &str) -> Result<Filter, ScimError> {
    if text.len() > MAX_LEN {
        return Err(invalid(format!("A filter is at most {MAX_LEN} characters.")));
    }
    let mut parser = Parser { tokens: tokens(text)?, at: 0, depth: 0 };
    let filter = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(invalid("The filter has more after its end."));
    }
    Ok(filter)
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.term()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn nested(&mut self, close: Token) -> Result<Filter, ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(invalid("The filter is nested too deeply."));
        }
        let inner = self.or()?;
        self.depth -= 1;
        if self.next() != Some(close) {
            return Err(invalid("A parenthesis or bracket in the filter is not closed."));
        }
        Ok(inner)
    }

    fn term(&mut self) -> Result<Filter, ScimError> {
        match self.next() {
            Some(Token::Open) => self.nested(Token::Close),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("not") => {
                if self.next() != Some(Token::Open) {
                    return Err(invalid("\"not\" is followed by a filter in parentheses."));
                }
                Ok(Filter::Not(Box::new(self.nested(Token::Close)?)))
            }
            Some(Token::Word(attr)) => self.comparison(&attr),
            _ => Err(invalid("The filter expects an attribute name.")),
        }
    }

    fn comparison(&mut self, attr: &str) -> Result<Filter, ScimError> {
        let path = path_of(attr)?;
        if self.tokens.get(self.at) == Some(&Token::OpenBracket) {
            self.at += 1;
            let inner = self.nested(Token::CloseBracket)?;
            let [attr] = <[String; 1]>::try_from(path).map_err(|_| invalid("A bracket follows a plain attribute."))?;
            return Ok(Filter::Any { attr, filter: Box::new(inner) });
        }
        let op = match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
            Some(Token::Word(w)) => Op::parse(&w).ok_or_else(|| invalid(format!("Unknown operator {w:?}.")))?,
            _ => return Err(invalid("The filter expects an operator after the attribute.")),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| invalid(format!("{w:?} is not a value: quote strings.")))?,
            },
            _ => return Err(invalid("The filter expects a value after the operator.")),
        };
        Ok(Filter::Compare { path, op, value })
    }
}

/// `urn:…:User:name.givenName` → `["name", "givenName"]`.
fn path_of(attr: &str) -> Result<Vec<String>, ScimError> {
    let bare = strip_schema(attr);
    let parts: Vec<String> = bare.split('.').map(str::to_owned).collect();
    let valid = |p: &String| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if parts.len() > 2 || !parts.iter().all(valid) {
        return Err(invalid(format!("{attr:?} is not an attribute path.")));
    }
    Ok(parts)
}

/// Attributes compared byte for byte (RFC 7643: caseExact true).
fn case_exact(name: &str) -> bool {
    ["id", "externalId", "value", "$ref"].iter().any(|a| a.eq_ignore_ascii_case(name))
}

impl Filter {
    /// Whether `resource` matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(f) => !f.matches(resource),
            Filter::Present(path) => {
                values_at(resource, path).iter().any(|v| !v.is_null() && v != &&Value::Array(vec![]))
            }
            Filter::Compare { path, op, value } => {
                let exact = path.last().is_some_and(|name| case_exact(name));
                values_at(resource, path).iter().any(|v| compare(v, *op, value, exact))
            }
            Filter::Any { attr, filter } => match attribute(resource, attr) {
                Some(Value::Array(items)) => items.iter().any(|item| filter.matches(item)),
                Some(single) => filter.matches(single),
                None => false,
            },
        }
    }

    /// An `eq` on `attr` that every match must satisfy (a top-level term, or one under
    /// `and`): lets the store fetch candidates by index before the full filter runs.
    pub fn required_eq(&self, attr: &str) -> Option<&str> {
        match self {
            Filter::Compare { path, op: Op::Eq, value: Value::String(v) }
                if path.join(".").eq_ignore_ascii_case(attr) =>
            {
                Some(v)
            }
            Filter::And(a, b) => a.required_eq(attr).or_else(|| b.required_eq(attr)),
            _ => None,
        }
    }
}

/// Every value at `path`, looking through multi-valued attributes.
fn values_at<'a>(resource: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let Some((first, rest)) = path.split_first() else { return vec![resource] };
    match attribute(resource, first) {
        None => vec![],
        Some(Value::Array(items)) if rest.is_empty() => items.iter().collect(),
        Some(Value::Array(items)) => items.iter().flat_map(|item| values_at(item, rest)).collect(),
        Some(v) => values_at(v, rest),
    }
}

fn compare(actual: &Value, op: Op, expected: &Value, exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = if exact { (a.clone(), e.clone()) } else { (a.to_lowercase(), e.to_lowercase()) };
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Co => a.contains(&e),
                Op::Sw => a.starts_with(&e),
                Op::Ew => a.ends_with(&e),
                Op::Gt => a > e,
                Op::Ge => a >= e,
                Op::Lt => a < e,
                Op::Le => a <= e,
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            Op::Eq => a == e,
            Op::Ne => a != e,
            _ => false,
        },
        (Value::Number(a), Value::Number(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else { return false };
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Gt => a > e,
                Op::Ge => a >= e,
                Op::Lt => a < e,
                Op::Le => a <= e,
                _ => false,
            }
        }
        (_, Value::Null) => matches!(op, Op::Ne) != actual.is_null(),
        _ => op == Op::Ne,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "12",
            "userName": "Pat@Acme.test",
            "externalId": "AbC",
            "displayName": "Pat Doe",
            "active": true,
            "emails": [{ "value": "pat@acme.test", "type": "work", "primary": true }],
            "name": { "givenName": "Pat", "familyName": "Doe" },
        })
    }

    fn m(filter: &str) -> bool {
        parse(filter).unwrap_or_else(|e| panic!("{filter}: {e:?}")).matches(&user())
    }

    #[test]
    fn what_directories_send_matches() {
        assert!(m(r#"userName eq "pat@acme.test""#), "userName is not case-exact");
        assert!(m(r#"USERNAME Eq "PAT@ACME.TEST""#), "names and operators neither");
        assert!(m(r#"externalId eq "AbC""#));
        assert!(!m(r#"externalId eq "abc""#), "externalId is case-exact");
        assert!(m(r#"emails.value eq "pat@acme.test""#));
        assert!(m(r#"emails[type eq "work" and value co "acme"]"#));
        assert!(m(r#"displayName eq "Pat Doe" and active eq true"#));
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "pat""#));
        assert!(m(r#"name.familyName eq "Doe" or userName eq "x""#));
        assert!(m(r#"not (userName eq "x") and (id eq "12")"#));
        assert!(m("title pr or emails pr"));
        assert!(!m("title pr"));
        assert!(!m(r#"userName eq "someone@else.test""#));
    }

    #[test]
    fn an_index_serves_the_eq_every_match_needs() {
        let f = parse(r#"externalId eq "x" and userName eq "pat@acme.test""#).unwrap();
        assert_eq!(f.required_eq("userName"), Some("pat@acme.test"));
        assert_eq!(f.required_eq("externalId"), Some("x"));
        let f = parse(r#"externalId eq "x" or userName eq "pat@acme.test""#).unwrap();
        assert_eq!(f.required_eq("userName"), None, "an or needs every row");
    }

    #[test]
    fn malformed_filters_are_invalid_filter_errors() {
        for bad in [
            "",
            "userName",
            r#"userName eq"#,
            r#"userName eq "x"#,
            r#"userName xx "x""#,
            r#"userName eq x"#,
            r#"(userName eq "x""#,
            r#"userName eq "x" extra"#,
            r#"a.b.c eq "x""#,
            &format!("{}userName eq \"x\"{}", "(".repeat(20), ")".repeat(20)),
            &"a".repeat(MAX_LEN + 1),
        ] {
            let e = parse(bad).expect_err(bad);
            assert_eq!((e.status, e.scim_type), (400, Some("invalidFilter")), "{bad}");
        }
    }
}
