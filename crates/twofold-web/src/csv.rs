//! CSV for every download (the audit export, the people list): RFC 4180 quoting, CRLF line
//! ends, and no cell that a spreadsheet would run as a formula.

/// One CSV line (CRLF-terminated) of `cells`.
pub(crate) fn line(cells: impl IntoIterator<Item = String>) -> String {
    let mut line = cells.into_iter().map(|c| cell(&c)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// One cell. Names, user agents and details come from people and attackers alike: a
/// cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return before one) is prefixed with `'` so it shows as text; then cells holding a
/// separator, quote or line break are quoted, quotes doubled.
fn cell(value: &str) -> String {
    let value =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

#[cfg(test)]
mod tests {
    use super::{cell, line};

    #[test]
    fn formulas_become_text_and_separators_are_quoted() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\",\"y\")"), "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("+1 555"), "'+1 555");
        assert_eq!(line(["a".to_string(), "b,c".to_string()]), "a,\"b,c\"\r\n");
    }

    proptest::proptest! {
        /// Whatever a person or an attacker put in a field, its cell is one CSV field a
        /// spreadsheet shows as text: never a formula, quotes balanced, the value kept.
        #[test]
        fn a_cell_is_one_field_of_text_whatever_it_holds(value in proptest::prelude::any::<String>()) {
            let c = cell(&value);
            let inner = c.strip_prefix('"').and_then(|c| c.strip_suffix('"'));
            let unquoted = match inner {
                Some(inner) => {
                    proptest::prop_assert!(!inner.replace("\"\"", "").contains('"'), "{c:?}");
                    inner.replace("\"\"", "\"")
                }
                None => {
                    proptest::prop_assert!(!c.contains([',', '"', '\n', '\r']), "{c:?}");
                    c.clone()
                }
            };
            proptest::prop_assert!(!unquoted.starts_with(['=', '+', '-', '@', '\t', '\r']), "{c:?}");
            let original = unquoted.strip_prefix('\'').filter(|_| value.starts_with(['=', '+', '-', '@', '\t', '\r']));
            proptest::prop_assert_eq!(original.unwrap_or(&unquoted), value.as_str());
        }
    }
}
