//! File uploads from the pages' forms (`multipart/form-data`, RFC 7578: a registry file,
//! a photo to scan), read from a body already received whole under the route's limit:
//! a few text fields and one file. Written here rather than taken from a crate because
//! the forms are ours and small: the parts are found by their boundary, each part's
//! name and file name read from its `Content-Disposition`, nothing streamed and nothing
//! else interpreted. One reader for every page (the console's and the citizen's).

/// Parts read from one form, at most (our forms have six).
const PARTS_MAX: usize = 16;
/// A text field's bytes, at most (a token, a key, a choice).
const FIELD_BYTES_MAX: usize = 4_096;

/// One part of a form.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    /// Present on a file part (possibly empty when no file was chosen).
    pub filename: Option<String>,
    pub data: &'a [u8],
}

/// A form's parts, or why it cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadError {
    /// Not `multipart/form-data`, or no boundary.
    NotMultipart,
    /// The parts do not follow their boundary, or a part has no name.
    Malformed,
    TooManyParts,
    FieldTooLong,
}

/// The parts of a `multipart/form-data` body with this `content_type`.
pub fn parts<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<Part<'a>>, UploadError> {
    let boundary = boundary(content_type).ok_or(UploadError::NotMultipart)?;
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // The body starts with the first delimiter (a preamble before it is ignored).
    let mut at = find(body, delimiter, 0).ok_or(UploadError::Malformed)? + delimiter.len();
    let mut out = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(out);
        }
        let rest = rest.strip_prefix(b"\r\n").ok_or(UploadError::Malformed)?;
        at = body.len() - rest.len();
        let headers_end = find(body, b"\r\n\r\n", at).ok_or(UploadError::Malformed)?;
        let headers =
            std::str::from_utf8(&body[at..headers_end]).map_err(|_| UploadError::Malformed)?;
        let data_start = headers_end + 4;
        let mut close = b"\r\n".to_vec();
        close.extend_from_slice(delimiter);
        let data_end = find(body, &close, data_start).ok_or(UploadError::Malformed)?;
        let (name, filename) = disposition(headers).ok_or(UploadError::Malformed)?;
        let data = &body[data_start..data_end];
        if filename.is_none() && data.len() > FIELD_BYTES_MAX {
            return Err(UploadError::FieldTooLong);
        }
        if out.len() == PARTS_MAX {
            return Err(UploadError::TooManyParts);
        }
        out.push(Part {
            name,
            filename,
            data,
        });
        at = data_end + close.len();
    }
}

/// A text field's value (the first part of that name), if it is text.
pub fn field<'a>(parts: &'a [Part<'_>], name: &str) -> Option<&'a str> {
    parts
        .iter()
        .find(|p| p.name == name && p.filename.is_none())
        .and_then(|p| std::str::from_utf8(p.data).ok())
}

/// The file of that name, if one was chosen: its name and bytes.
pub fn file<'a>(parts: &'a [Part<'a>], name: &str) -> Option<(&'a str, &'a [u8])> {
    parts
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.filename.as_deref().map(|f| (f, p.data)))
        .filter(|(f, data)| !f.is_empty() || !data.is_empty())
}

fn boundary(content_type: &str) -> Option<&str> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|b| (1..=70).contains(&b.len()))
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn disposition(headers: &str) -> Option<(String, Option<String>)> {
    let line = headers.split("\r\n").find_map(|h| {
        let (k, v) = h.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v)
    })?;
    let mut name = None;
    let mut filename = None;
    for p in quoted_params(line) {
        match p.0.as_str() {
            "name" => name = Some(p.1),
            "filename" => filename = Some(p.1),
            _ => {}
        }
    }
    Some((name?, filename))
}

/// `key="value"` pairs after the first `;`, quotes honoured (browsers escape `"` in
/// names as `%22`, so a quoted value ends at the next quote).
fn quoted_params(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = match line.split_once(';') {
        Some((_, r)) => r,
        None => return out,
    };
    while let Some((k, r)) = rest.split_once('=') {
        let key = k.trim().trim_start_matches(';').trim().to_ascii_lowercase();
        let r = r.trim_start();
        let (value, next) = if let Some(q) = r.strip_prefix('"') {
            match q.split_once('"') {
                Some((v, n)) => (v, n),
                None => (q, ""),
            }
        } else {
            match r.split_once(';') {
                Some((v, n)) => (v.trim(), n),
                None => (r.trim(), ""),
            }
        };
        out.push((key, value.to_owned()));
        rest = next.trim_start().trim_start_matches(';');
    }
    out
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    // memchr's two-way search: linear in the body, whatever the file holds.
    memchr::memmem::find(&haystack[from..], needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=----x1";

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = b"preamble\r\n".to_vec();
        for (name, filename, data) in parts {
            b.extend_from_slice(b"------x1\r\nContent-Disposition: form-data; name=\"");
            b.extend_from_slice(name.as_bytes());
            b.push(b'"');
            if let Some(f) = filename {
                b.extend_from_slice(
                    format!("; filename=\"{f}\"\r\nContent-Type: text/csv").as_bytes(),
                );
            }
            b.extend_from_slice(b"\r\n\r\n");
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"------x1--\r\n");
        b
    }

    #[test]
    fn fields_and_a_file_are_read_by_name() {
        let csv = "사업자등록번호,상호\r\n1234567890,행복상회\r\n".as_bytes();
        let b = body(&[
            ("csrf", None, b"abc"),
            ("file", Some("등록부.csv"), csv),
            ("apply", None, b""),
        ]);
        let p = parts(CT, &b).unwrap_or_default();
        assert_eq!(p.len(), 3);
        assert_eq!(field(&p, "csrf"), Some("abc"));
        assert_eq!(field(&p, "apply"), Some(""));
        assert_eq!(field(&p, "file"), None, "a file is not a field");
        assert_eq!(file(&p, "file"), Some(("등록부.csv", csv)));
        assert_eq!(file(&p, "csrf"), None);
    }

    #[test]
    fn a_file_input_left_empty_is_no_file() {
        let b = body(&[("file", Some(""), b"")]);
        let p = parts(CT, &b).unwrap_or_default();
        assert_eq!(file(&p, "file"), None);
    }

    #[test]
    fn bodies_that_do_not_follow_the_form_are_refused() {
        assert_eq!(parts("text/csv", b"x"), Err(UploadError::NotMultipart));
        assert_eq!(
            parts("multipart/form-data", b"x"),
            Err(UploadError::NotMultipart)
        );
        assert_eq!(parts(CT, b"no delimiter"), Err(UploadError::Malformed));
        // Cut off before the closing delimiter.
        let mut b = body(&[("csrf", None, b"abc")]);
        b.truncate(b.len() - 14);
        assert_eq!(parts(CT, &b), Err(UploadError::Malformed));
        let long = vec![b'a'; FIELD_BYTES_MAX + 1];
        assert_eq!(
            parts(CT, &body(&[("csrf", None, &long)])),
            Err(UploadError::FieldTooLong)
        );
        let many: Vec<(&str, Option<&str>, &[u8])> =
            (0..=PARTS_MAX).map(|_| ("a", None, &b"1"[..])).collect();
        assert_eq!(parts(CT, &body(&many)), Err(UploadError::TooManyParts));
    }

    #[test]
    fn the_boundary_may_be_quoted() {
        let b = body(&[("csrf", None, b"abc")]);
        let p = parts("multipart/form-data; boundary=\"----x1\"", &b).unwrap_or_default();
        assert_eq!(field(&p, "csrf"), Some("abc"));
    }
}
