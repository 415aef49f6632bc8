//! People's data travels encrypted to a key the successor gives: age
//! (<https://age-encryption.org/v1>) to one X25519 recipient, so the successor can
//! also open it with the `age` tool (`age -d -i key.txt people.jsonl.age`).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use crate::MigrateError;
use crate::format::PeopleRow;
use crate::sha::HashingWriter;

/// The name the manifest gives the encryption.
pub const ENCRYPTION: &str = "age-v1-x25519";

/// Lines of the decrypted file read at most (a few million people fit; a bigger file
/// is not one of ours).
pub const ROWS_MAX: usize = 50_000_000;
/// Longest line read.
const LINE_MAX: u64 = 1 << 20;

/// A new key pair: the secret key file's text (keep it; give no one) and the public
/// key to give the old operator.
pub fn generate_key() -> (String, String) {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let secret = format!(
        "# maeul successor key, for: maeul import --identity THIS_FILE\n# public key: {public}\n{}\n",
        identity.to_string().expose_secret()
    );
    (secret, public)
}

pub fn parse_recipient(text: &str) -> Result<age::x25519::Recipient, MigrateError> {
    age::x25519::Recipient::from_str(text.trim()).map_err(|e| {
        MigrateError::Usage(format!(
            "{:?} is not an age public key (age1…): {e}",
            text.trim()
        ))
    })
}

/// The secret key in a key file (as `maeul migrate keygen` or `age-keygen` write it).
pub fn parse_identity(file_text: &str) -> Result<age::x25519::Identity, MigrateError> {
    let line = file_text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .ok_or_else(|| MigrateError::Usage("the key file holds no AGE-SECRET-KEY- line".into()))?;
    age::x25519::Identity::from_str(line)
        .map_err(|e| MigrateError::Usage(format!("the key file's secret key does not read: {e}")))
}

/// Writes `rows` as JSONL encrypted to `recipient`; answers (bytes, sha256).
pub fn write(
    path: &Path,
    rows: &[PeopleRow],
    recipient: &age::x25519::Recipient,
) -> Result<(u64, String), MigrateError> {
    let io = MigrateError::io(path);
    let file = std::fs::File::create(path).map_err(MigrateError::io(path))?;
    let hashing = HashingWriter::new(std::io::BufWriter::new(file));
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(|e| MigrateError::People(e.to_string()))?;
    let mut plain = encryptor
        .wrap_output(hashing)
        .map_err(MigrateError::io(path))?;
    for row in rows {
        serde_json::to_writer(&mut plain, row).map_err(|e| MigrateError::People(e.to_string()))?;
        plain.write_all(b"\n").map_err(MigrateError::io(path))?;
    }
    let hashing = plain.finish().map_err(MigrateError::io(path))?;
    let (buffered, bytes, digest) = hashing.finish();
    let file = buffered
        .into_inner()
        .map_err(|e| MigrateError::io(path)(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok((bytes, digest))
}

/// Decrypts and reads the people file.
pub fn read(path: &Path, identity: &age::x25519::Identity) -> Result<Vec<PeopleRow>, MigrateError> {
    let file = std::fs::File::open(path).map_err(MigrateError::io(path))?;
    let decryptor = age::Decryptor::new(BufReader::new(file))
        .map_err(|e| MigrateError::People(format!("{}: {e}", path.display())))?;
    let plain = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| {
            MigrateError::People(format!(
                "{} does not open with this key (was the set made for another successor?): {e}",
                path.display()
            ))
        })?;
    let mut reader = BufReader::new(plain);
    let mut rows = Vec::new();
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(LINE_MAX)
            .read_line(&mut line)
            .map_err(|e| MigrateError::People(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        number += 1;
        if rows.len() >= ROWS_MAX {
            return Err(MigrateError::People(format!("more than {ROWS_MAX} rows")));
        }
        rows.push(
            serde_json::from_str(line.trim_end())
                .map_err(|e| MigrateError::People(format!("line {number} does not read: {e}")))?,
        );
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_successors_key_opens_what_was_written_for_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("people.jsonl.age");
        let (secret, public) = generate_key();
        let rows = vec![
            PeopleRow::Key {
                name: "pin.key".into(),
                base64: "AAAA".into(),
            },
            PeopleRow::BankLink {
                account: 7,
                bank_account: "110-123".into(),
                verified_ms: 1,
            },
        ];
        let (bytes, digest) =
            write(&path, &rows, &parse_recipient(&public).expect("pub")).expect("write");
        assert_eq!(crate::sha::of_file(&path).expect("sha"), (bytes, digest));
        let raw = std::fs::read(&path).expect("read");
        assert!(!raw.windows(7).any(|w| w == b"110-123"), "encrypted");
        assert_eq!(
            read(&path, &parse_identity(&secret).expect("id")).expect("open"),
            rows
        );
        let (other, _) = generate_key();
        let err = read(&path, &parse_identity(&other).expect("id")).expect_err("other key");
        assert!(err.to_string().contains("does not open"), "{err}");
    }
}
