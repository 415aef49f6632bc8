//! `ARCHITECTURE.md` prints the table of transfer kinds; this keeps it true.

use ledger::{AccountKind, TransferKind};

fn leg(name: &str) -> Option<AccountKind> {
    AccountKind::ALL.into_iter().find(|k| k.as_str() == name)
}

#[test]
fn the_transfer_kind_table_in_architecture_md_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ARCHITECTURE.md");
    let doc = std::fs::read_to_string(path).expect("ARCHITECTURE.md at the workspace root");
    let mut seen = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | kind | debits | credits | may be pending | note |
        if cells.len() < 6 {
            continue;
        }
        let Some(kind) = TransferKind::ALL
            .into_iter()
            .find(|k| k.as_str() == cells[1])
        else {
            continue;
        };
        let (debit, credit) = kind.legs();
        assert_eq!(leg(cells[2]), debit, "{}: debited kind", kind.as_str());
        assert_eq!(leg(cells[3]), credit, "{}: credited kind", kind.as_str());
        if debit.is_none() {
            assert_eq!(cells[2], "any");
        }
        assert_eq!(
            cells[4] == "yes",
            kind.may_be_pending(),
            "{}: may be pending",
            kind.as_str()
        );
        seen.push(kind);
    }
    for kind in TransferKind::ALL {
        assert!(
            seen.contains(&kind),
            "{} is missing from ARCHITECTURE.md",
            kind.as_str()
        );
    }
}
