//! Line numbers as a text editor shows them, from the byte offsets the csv reader gives.
//!
//! The csv reader's own line count is not the file's: a record is reported as starting
//! at the line terminator before it, CRLF files came out one line short, and blank lines
//! are skipped. So lines are counted here from each record's byte offset: a line ends at
//! `\n`, at `\r\n`, or at a lone `\r`; a quoted field with line breaks inside moves the
//! following rows down by as many lines.

/// Byte offset → 1-based line, for offsets that only increase.
#[derive(Debug)]
pub struct LineCounter<'d> {
    data: &'d [u8],
    offset: usize,
    line: u64,
}

impl<'d> LineCounter<'d> {
    pub fn new(data: &'d [u8]) -> LineCounter<'d> {
        LineCounter {
            data,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the first byte at or after `byte` that is not a line terminator (the
    /// reader places a record at the terminator bytes before it).
    pub fn line_at(&mut self, byte: u64) -> u64 {
        let mut target = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        while target < self.data.len() && matches!(self.data[target], b'\r' | b'\n') {
            target += 1;
        }
        if target > self.offset {
            let span = &self.data[self.offset..target];
            let breaks = span
                .iter()
                .enumerate()
                .filter(|&(i, &b)| {
                    b == b'\n' || (b == b'\r' && span.get(i + 1).is_none_or(|&n| n != b'\n'))
                })
                .count();
            self.line += breaks as u64;
            self.offset = target;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_crlf_and_lone_cr_count_alike() {
        for text in ["a\nb\n\nc\n", "a\r\nb\r\n\r\nc\r\n", "a\rb\r\rc\r"] {
            let mut lines = LineCounter::new(text.as_bytes());
            let at = |c: char| text.find(c).map_or(0, |i| i as u64);
            assert_eq!(lines.line_at(at('a')), 1, "{text:?}");
            assert_eq!(lines.line_at(at('b') - 1), 2, "{text:?}");
            assert_eq!(lines.line_at(at('c')), 4, "{text:?}");
        }
    }
}
