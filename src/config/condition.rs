//! The matching language of `match:` and `good:` blocks, parsed from YAML into an AST.
//!
//! A mapping means "every key holds". A key is either a combinator (`all`, `any`, `not`) or a
//! field name (dotted names reach into nested objects). On a field, a scalar means equality, a
//! list means any of its values, and a mapping holds operators. A `regex` must match the whole
//! value, as in Prometheus (`5..` matches "503", not "1500x"); `.*` on either side allows more.
//! The AST still names fields by path; `classify` compiles it against the decoder's field slots.

use serde_yaml_ng::Value;

/// Operators allowed on a field, in the order error messages list them.
const OPERATORS: &[&str] = &["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "prefix", "regex"];

/// A literal from the config, compared against an event's field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    /// An integer in i64 or u64 range (one type holds both). Compared exactly with integer
    /// fields, since f64 cannot tell integers apart beyond 2^53; with float fields through f64.
    Int(i128),
    /// Any other number (written with a fraction or exponent, or beyond u64), compared with
    /// number fields through f64.
    Num(f64),
    /// Compared with string fields.
    Str(String),
    /// Compared with boolean fields.
    Bool(bool),
}

/// One test applied to one field.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    /// `eq`, or a scalar written directly.
    Eq(Literal),
    /// `ne`: present and different.
    Ne(Literal),
    /// `lt`.
    Lt(Literal),
    /// `le`.
    Le(Literal),
    /// `gt`.
    Gt(Literal),
    /// `ge`.
    Ge(Literal),
    /// `in`, or a list written directly: equal to one of them.
    In(Vec<Literal>),
    /// `not_in`: present and equal to none of them.
    NotIn(Vec<Literal>),
    /// `prefix`: a string field starting with this.
    Prefix(String),
    /// `regex`: a string field the pattern matches as a whole (compiled as `^(?:pattern)$`).
    Regex(regex::Regex),
}

/// The kinds of JSON value a test can compare with, as a bit set ([`Kinds::STR`] ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Kinds(u8);

impl Kinds {
    /// Strings (and, through [`Kinds::NUM`], strings written as a JSON number).
    pub(crate) const STR: Kinds = Kinds(1);
    /// Numbers, and strings that hold exactly a JSON number (`"503"`, `"12.5"`).
    pub(crate) const NUM: Kinds = Kinds(2);
    /// `true` and `false`.
    pub(crate) const BOOL: Kinds = Kinds(4);

    /// Both sets.
    pub(crate) const fn union(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    /// Whether every kind of `other` is in this set.
    pub(crate) const fn contains(self, other: Kinds) -> bool {
        self.0 & other.0 == other.0
    }
}

impl Literal {
    /// The kind of value this literal compares with.
    pub(crate) fn kind(&self) -> Kinds {
        match self {
            Literal::Int(_) | Literal::Num(_) => Kinds::NUM,
            Literal::Str(_) => Kinds::STR,
            Literal::Bool(_) => Kinds::BOOL,
        }
    }
}

impl Test {
    /// The kinds of value this test can compare with; any other kind is a type mismatch.
    pub(crate) fn kinds(&self) -> Kinds {
        match self {
            Test::Eq(l) | Test::Ne(l) | Test::Lt(l) | Test::Le(l) | Test::Gt(l) | Test::Ge(l) => l.kind(),
            Test::In(ls) | Test::NotIn(ls) => ls.iter().fold(Kinds::default(), |k, l| k.union(l.kind())),
            Test::Prefix(_) | Test::Regex(_) => Kinds::STR,
        }
    }
}

/// A condition over an event.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    /// Holds for every event (an absent `match:`).
    Always,
    /// One test on one field.
    Field {
        /// Dotted path of the field (`http.status`).
        path: String,
        /// What the field's value must satisfy.
        test: Test,
    },
    /// Every condition holds (`all:`, or several keys in one mapping).
    All(Vec<Condition>),
    /// At least one condition holds (`any:`).
    Any(Vec<Condition>),
    /// The condition does not hold (`not:`).
    Not(Box<Condition>),
}

impl Condition {
    /// Every field test in the condition, so the decoder extracts exactly those fields and
    /// knows which kinds of value each one can compare with.
    pub(crate) fn tests<'a>(&'a self, out: &mut Vec<(&'a str, &'a Test)>) {
        match self {
            Condition::Always => {}
            Condition::Field { path, test } => out.push((path, test)),
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.tests(out)),
            Condition::Not(c) => c.tests(out),
        }
    }
}

/// Parses a condition; `path` is the key path used in error messages.
pub(crate) fn parse(value: &Value, path: &str) -> Result<Condition, (String, String)> {
    let map = match value {
        Value::Mapping(map) => map,
        other => {
            return Err((path.to_string(), format!("expected a mapping of conditions, found {}", describe(other))))
        }
    };
    if map.is_empty() {
        return Err((path.to_string(), "empty condition (expected at least one field or all/any/not)".into()));
    }
    let mut parts = Vec::with_capacity(map.len());
    for (key, value) in map {
        let key = match key {
            Value::String(s) => s.as_str(),
            other => return Err((path.to_string(), format!("key {} is not a string", describe(other)))),
        };
        let here = format!("{path}.{key}");
        parts.push(match key {
            "all" | "any" => {
                let Value::Sequence(items) = value else {
                    return Err((here, format!("expected a list of conditions, found {}", describe(value))));
                };
                if items.is_empty() {
                    return Err((here, "empty list (expected at least one condition)".into()));
                }
                let list = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse(item, &format!("{here}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "all" {
                    Condition::All(list)
                } else {
                    Condition::Any(list)
                }
            }
            "not" => Condition::Not(Box::new(parse(value, &here)?)),
            field => parse_field(field, value, &here)?,
        });
    }
    Ok(if parts.len() == 1 { parts.pop().expect("one part") } else { Condition::All(parts) })
}

fn parse_field(field: &str, value: &Value, here: &str) -> Result<Condition, (String, String)> {
    if field.is_empty() || field.split('.').any(str::is_empty) {
        return Err((here.to_string(), format!("invalid field name {field:?}")));
    }
    let make = |test| Condition::Field { path: field.to_string(), test };
    match value {
        Value::Sequence(_) => Ok(make(Test::In(literal_list(value, here)?))),
        Value::Mapping(ops) => {
            if ops.is_empty() {
                return Err((here.to_string(), "empty operator mapping (expected one of eq, ne, lt, ...)".into()));
            }
            let mut tests = Vec::with_capacity(ops.len());
            for (op, arg) in ops {
                let op = op.as_str().unwrap_or("");
                let at = format!("{here}.{op}");
                let test = match op {
                    "eq" => Test::Eq(literal(arg, &at)?),
                    "ne" => Test::Ne(literal(arg, &at)?),
                    "lt" => Test::Lt(literal(arg, &at)?),
                    "le" => Test::Le(literal(arg, &at)?),
                    "gt" => Test::Gt(literal(arg, &at)?),
                    "ge" => Test::Ge(literal(arg, &at)?),
                    "in" => Test::In(literal_list(arg, &at)?),
                    "not_in" => Test::NotIn(literal_list(arg, &at)?),
                    "prefix" => Test::Prefix(string(arg, &at)?),
                    "regex" => Test::Regex(full_match(&string(arg, &at)?, &at)?),
                    other => {
                        return Err((
                            at,
                            format!("unknown operator {other:?} (expected one of {})", OPERATORS.join(", ")),
                        ))
                    }
                };
                tests.push(make(test));
            }
            Ok(if tests.len() == 1 { tests.pop().expect("one test") } else { Condition::All(tests) })
        }
        scalar => Ok(make(Test::Eq(literal(scalar, here)?))),
    }
}

/// Compiles `pattern` to match whole values only, as Prometheus label matchers do: `5..` matches
/// "503" but neither "1500x" nor "5030". A search would let a pattern written for codes or
/// routes match inside longer values.
///
/// The pattern is checked alone first, so that errors name it as written and so that wrapping
/// cannot make a broken one valid (`a)|(b` would become `^(?:a)|(b)$`). A pattern that ends
/// inside a verbose-mode (`(?x)`) comment would comment out the closing `)$`: it gets a newline
/// before them, which ends the comment and is insignificant in verbose mode.
fn full_match(pattern: &str, at: &str) -> Result<regex::Regex, (String, String)> {
    let bad = |e: regex::Error| (at.to_string(), format!("bad regex {pattern:?}: {}", first_line(&e.to_string())));
    regex::Regex::new(pattern).map_err(bad)?;
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .or_else(|_| regex::Regex::new(&format!("^(?:{pattern}\n)$")))
        .map_err(bad)
}

fn literal(value: &Value, at: &str) -> Result<Literal, (String, String)> {
    match value {
        Value::String(s) => Ok(Literal::Str(s.clone())),
        Value::Bool(b) => Ok(Literal::Bool(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(Literal::Int(i.into()));
            }
            if let Some(u) = n.as_u64() {
                return Ok(Literal::Int(u.into()));
            }
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(Literal::Num)
                .ok_or_else(|| (at.to_string(), format!("number {n} is not finite")))
        }
        other => Err((at.to_string(), format!("expected a string, number or boolean, found {}", describe(other)))),
    }
}

fn literal_list(value: &Value, at: &str) -> Result<Vec<Literal>, (String, String)> {
    match value {
        Value::Sequence(items) if !items.is_empty() => {
            items.iter().enumerate().map(|(i, v)| literal(v, &format!("{at}[{i}]"))).collect()
        }
        Value::Sequence(_) => Err((at.to_string(), "empty list (expected at least one value)".into())),
        other => Err((at.to_string(), format!("expected a list of values, found {}", describe(other)))),
    }
}

fn string(value: &Value, at: &str) -> Result<String, (String, String)> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err((at.to_string(), format!("expected a string, found {}", describe(other)))),
    }
}

fn first_line(text: &str) -> String {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(text).trim().to_string()
}

/// Names a YAML value for an error message, with the value itself where it is short.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("tagged value {}", t.tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex_of(pattern: &str) -> Result<regex::Regex, (String, String)> {
        let yaml = format!("s: {{ regex: {pattern:?} }}");
        let value: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        match parse(&value, "good")? {
            Condition::Field { test: Test::Regex(re), .. } => Ok(re),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn regex_is_anchored_around_the_whole_pattern() {
        assert_eq!(regex_of("5..").unwrap().as_str(), "^(?:5..)$");
        assert_eq!(regex_of("503|504").unwrap().as_str(), "^(?:503|504)$");
        let commented = regex_of("(?x) 5 0 3 # note").unwrap();
        assert!(commented.is_match("503") && !commented.is_match("5030"));
    }

    /// Wrapping must not turn a broken pattern into a valid one, and errors quote the pattern as
    /// written.
    #[test]
    fn bad_regex_is_rejected_as_written() {
        for pattern in ["a)|(b", "([", "5..)", "(?x)a)#"] {
            let (at, msg) = regex_of(pattern).unwrap_err();
            assert_eq!(at, "good.s.regex");
            assert!(msg.starts_with(&format!("bad regex {pattern:?}: ")), "{msg}");
        }
    }
}
