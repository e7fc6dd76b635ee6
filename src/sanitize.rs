//! Text from the disk or from other people (file names, labels, notes, tag values) made
//! safe to print on a terminal: control characters are shown as escapes, so a name cannot
//! start a forged line, move the cursor or recolour the screen; and safe to put into SVG
//! or HTML ([`markup`]), as text or as an attribute value.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as itself: C0 and C1 controls, DEL, and the
/// invisible bidirectional controls that reorder what is shown. The backslash is escaped
/// too, so that every escape is unambiguous.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '\\'
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every character a terminal would act on written as an escape (`\n`, `\t`,
/// `\r`, `\\`, `\x1b`, `\u{202e}`); borrowed unchanged when there is none.
pub fn term(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` as text or a (quoted) attribute value of XML, SVG or HTML: `&`, `<`, `>`, `"` and
/// `'` as character references, control characters first escaped as [`term`] shows them
/// (XML forbids most of them even as references), U+FFFE and U+FFFF as U+FFFD, so nothing of `s` can open or
/// close an element or an attribute, and the document stays well formed.
pub fn markup(s: &str) -> Cow<'_, str> {
    let shown = term(s);
    if !shown.contains(['&', '<', '>', '"', '\'', '\u{fffe}', '\u{ffff}']) {
        return shown;
    }
    let mut out = String::with_capacity(shown.len() + 16);
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Not characters XML allows, in any form.
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn markup_is_text() {
        assert_eq!(
            markup("<script>alert(1)</script>.m4a"),
            "&lt;script&gt;alert(1)&lt;/script&gt;.m4a"
        );
        assert_eq!(
            markup("</svg><img onerror='x' a=\"b\">&"),
            "&lt;/svg&gt;&lt;img onerror=&#39;x&#39; a=&quot;b&quot;&gt;&amp;"
        );
        assert_eq!(markup("a\u{1}b"), "a\\x01b");
        assert!(matches!(markup("café"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(term("plain café.m4a"), "plain café.m4a");
        assert!(matches!(term("plain"), Cow::Borrowed(_)));
        assert_eq!(term("a\nparticipant:  P999"), "a\\nparticipant:  P999");
        assert_eq!(term("\x1b[2Jx"), "\\x1b[2Jx");
        assert_eq!(term("x\u{202e}4pm.exe"), "x\\u{202e}4pm.exe");
        assert_eq!(term("c:\\d\u{85}"), "c:\\\\d\\u{85}");
        assert_eq!(term("\x7f"), "\\x7f");
    }

    proptest! {
        #[test]
        fn markup_opens_nothing(s in any::<String>()) {
            let m = markup(&s);
            prop_assert!(!m.contains(['<', '>', '"', '\'']), "{:?} -> {:?}", s, m);
            let bad = |c: char| c.is_control() || c == '\u{fffe}' || c == '\u{ffff}';
            prop_assert!(!m.chars().any(bad), "{:?} -> {:?}", s, m);
        }

        #[test]
        fn output_is_never_acted_on(s in any::<String>()) {
            let t = term(&s);
            let acted_on = t.chars().any(|c| c != '\\' && needs_escape(c));
            prop_assert!(!acted_on, "{:?} -> {:?}", s, t);
        }
    }
}
