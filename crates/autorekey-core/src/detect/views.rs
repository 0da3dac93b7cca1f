//! Views: a string as the receiver of a relay body reads it, so credentials written in an
//! escaped form are found where they are.
//!
//! A "Send web request" body is text that someone else decodes: a relay that takes
//! `authorization=Basic%20…` reads it form-decoded, one that takes a JSON document reads
//! `"\u0041TATT3…"` as `"ATATT3…"`. The detector's patterns are written for plain text, so
//! each string is also read through these decodings ([`of`]), and whatever a view finds is
//! placed back on the bytes of the string as the rule holds them ([`View::raw_span`]): a
//! rewrite then replaces exactly the escaped text of the old value, escapes included.
//!
//! Only ASCII is decoded (`%XX` below 0x80, `\u00XX` and the other JSON escapes that give one
//! character): every credential form the detector knows is ASCII, and one decoded character
//! per escape keeps the map from view bytes to raw bytes trivially exact. When views
//! disagree, [`widest_first`] keeps the reading that covers the most of the raw text: a
//! value cut short by an escape the plain view could not read is a prefix of the real one.

use std::ops::Range;

/// How a view decodes its string: what a rewrite found through it must write back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    /// The string as it is.
    Plain,
    /// JSON string escapes decoded. A value found here is written back plainly: its
    /// characters need no escape in a JSON string, so the text means the same to a reader.
    JsonEscaped,
    /// `application/x-www-form-urlencoded` decoded (`%XX`, `+` for a space). A value found
    /// here is written back percent-encoded: a form reader would turn a plain `+` into a
    /// space.
    UrlEncoded,
}

/// A string as one reader decodes it, with the raw range of each decoded byte.
pub(super) struct View<'a> {
    pub form: Form,
    text: std::borrow::Cow<'a, str>,
    /// For each byte of `text`, the raw range it was decoded from; empty for [`Form::Plain`].
    from: Vec<Range<usize>>,
}

impl<'a> View<'a> {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The raw bytes that a range of this view was decoded from.
    pub fn raw_span(&self, span: &Range<usize>) -> Range<usize> {
        if self.from.is_empty() || span.is_empty() {
            return span.clone();
        }
        self.from[span.start].start..self.from[span.end - 1].end
    }

    fn plain(text: &'a str) -> Self {
        View {
            form: Form::Plain,
            text: text.into(),
            from: Vec::new(),
        }
    }

    /// Decode `text` one unit at a time with `unit`, which says how many raw bytes the unit
    /// at an offset takes and the ASCII byte it stands for (`None`: keep the byte as it is).
    /// `None` when nothing was decoded: the view would only repeat the plain one.
    fn decoded(
        text: &'a str,
        form: Form,
        unit: impl Fn(&[u8], usize) -> Option<(usize, u8)>,
    ) -> Option<Self> {
        let bytes = text.as_bytes();
        let (mut out, mut from, mut at, mut changed) = (Vec::new(), Vec::new(), 0, false);
        while at < bytes.len() {
            let (len, byte) = unit(bytes, at).unwrap_or((1, bytes[at]));
            changed |= len != 1 || byte != bytes[at];
            out.push(byte);
            from.push(at..at + len);
            at += len;
        }
        // Only ASCII replaces ASCII escapes, so the bytes stay valid UTF-8.
        let text = String::from_utf8(out).ok()?;
        changed.then(|| View {
            form,
            text: text.into(),
            from,
        })
    }
}

/// The plain view of `text`, then each decoded view that differs from it.
pub(super) fn of(text: &str) -> impl Iterator<Item = View<'_>> {
    let json = text
        .contains('\\')
        .then(|| View::decoded(text, Form::JsonEscaped, json_unit))
        .flatten();
    // A form body escapes what a credential needs (`@` as `%40`, `=` as `%3D`), or at least
    // writes the space after `Basic` as `+`; a `+` alone is base64's own, not a form's.
    let form = (text.contains('%') || (text.contains('+') && has_basic_plus(text)))
        .then(|| View::decoded(text, Form::UrlEncoded, form_unit))
        .flatten();
    std::iter::once(View::plain(text)).chain(json).chain(form)
}

/// `Basic+`, in any case.
fn has_basic_plus(text: &str) -> bool {
    text.as_bytes()
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"basic+"))
}

/// `%XX` (ASCII) and `+`, as a form reader decodes them.
fn form_unit(bytes: &[u8], at: usize) -> Option<(usize, u8)> {
    match bytes[at] {
        b'+' => Some((1, b' ')),
        b'%' => {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            let byte = u8::from_str_radix(hex, 16).ok()?;
            byte.is_ascii().then_some((3, byte))
        }
        _ => None,
    }
}

/// One JSON string escape that stands for an ASCII character.
fn json_unit(bytes: &[u8], at: usize) -> Option<(usize, u8)> {
    if bytes[at] != b'\\' {
        return None;
    }
    let byte = match *bytes.get(at + 1)? {
        b'u' => {
            let hex = std::str::from_utf8(bytes.get(at + 2..at + 6)?).ok()?;
            let code = u16::from_str_radix(hex, 16).ok()?;
            let byte = u8::try_from(code).ok().filter(u8::is_ascii)?;
            return Some((6, byte));
        }
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'f' => 0x0c,
        c @ (b'"' | b'\\' | b'/') => c,
        _ => return None,
    };
    Some((2, byte))
}

/// Of items placed on raw ranges (found through several views), the ones to keep: widest
/// first, then in the order given (the plain view's first), skipping any that overlaps one
/// kept. Items without a range (a smart value) are kept once per kind by `same`.
pub(super) fn widest_first<T>(
    mut items: Vec<(Option<Range<usize>>, T)>,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<T> {
    if items.len() < 2 {
        return items.into_iter().map(|(_, item)| item).collect();
    }
    // A stable sort: equal widths keep the views' order.
    items.sort_by_key(|(span, _)| std::cmp::Reverse(span.as_ref().map_or(0, |s| s.len())));
    let (mut taken, mut unplaced) = (Spans::default(), Vec::<T>::new());
    let mut kept: Vec<(Range<usize>, T)> = Vec::new();
    for (span, item) in items {
        match span {
            Some(span) if !taken.overlaps(&span) => {
                taken.add(span.clone());
                kept.push((span, item));
            }
            Some(_) => {}
            None if unplaced.iter().any(|other| same(other, &item)) => {}
            None => unplaced.push(item),
        }
    }
    // Back in text order, as the detector reports; smart values last.
    kept.sort_by_key(|(span, _)| span.start);
    kept.into_iter()
        .map(|(_, item)| item)
        .chain(unplaced)
        .collect()
}

/// Ranges of one string already taken, merged, so that whether a new one overlaps any is
/// one look-up however many there are: a string holding thousands of candidates is read
/// in `n log n`, not `n²`.
#[derive(Default)]
pub(super) struct Spans(std::collections::BTreeMap<usize, usize>);

impl Spans {
    /// Whether `span` shares a byte with a range taken. The ranges are disjoint, so only
    /// the last one starting before `span` ends can.
    pub fn overlaps(&self, span: &Range<usize>) -> bool {
        self.0
            .range(..span.end)
            .next_back()
            .is_some_and(|(_, &end)| end > span.start)
    }

    /// Take `span`, merged with every range it overlaps.
    pub fn add(&mut self, span: Range<usize>) {
        let (mut start, mut end) = (span.start, span.end);
        while let Some((&s, &e)) = self
            .0
            .range(..end.max(start + 1))
            .next_back()
            .filter(|(_, &e)| e > start)
        {
            self.0.remove(&s);
            (start, end) = (start.min(s), end.max(e));
        }
        self.0.insert(start, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_view_maps_back_to_the_raw_bytes() {
        let raw = r#"{"a": "\u0041TA\nB", "f": "x=Basic%20QQ%3D%3D+y"}"#;
        let views: Vec<View> = of(raw).collect();
        assert_eq!(views.len(), 3);
        let json = &views[1];
        assert_eq!(json.form, Form::JsonEscaped);
        let at = json.text().find("ATA\nB").unwrap();
        assert_eq!(&raw[json.raw_span(&(at..at + 5))], r"\u0041TA\nB");
        let form = &views[2];
        let at = form.text().find("Basic QQ==").unwrap();
        assert_eq!(&raw[form.raw_span(&(at + 6..at + 10))], "QQ%3D%3D");
    }

    #[test]
    fn text_without_escapes_has_only_the_plain_view() {
        assert_eq!(of("nothing to decode here").count(), 1);
        // A lone `%` or a bad escape decodes nothing.
        assert_eq!(of("100% \\q").count(), 1);
        // Non-ASCII escapes are left as they are.
        assert_eq!(of("%C3%A9 \\u00e9").count(), 1);
    }

    #[test]
    fn spans_merge_and_answer_overlaps() {
        let mut taken = Spans::default();
        for span in [10..20, 30..40, 15..35, 50..55] {
            taken.add(span);
        }
        assert!(taken.overlaps(&(0..11)) && taken.overlaps(&(39..45)));
        assert!(taken.overlaps(&(54..60)) && taken.overlaps(&(0..100)));
        assert!(!taken.overlaps(&(0..10)) && !taken.overlaps(&(40..50)));
        assert!(!taken.overlaps(&(55..60)));
    }

    #[test]
    fn the_widest_reading_wins_and_ties_keep_the_first() {
        let items = vec![
            (Some(0..4), "prefix"),
            (Some(0..9), "whole"),
            (Some(10..12), "plain"),
            (Some(10..12), "decoded"),
            (None, "smart"),
            (None, "smart"),
        ];
        assert_eq!(
            widest_first(items, |a, b| a == b),
            ["whole", "plain", "smart"]
        );
    }
}
