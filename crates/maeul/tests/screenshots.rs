//! The screenshot gallery (`docs/screenshots/README.md`) shows every picture the browser
//! tests write, and names none that is missing: a new page's screenshots are listed there
//! (phone and desktop) or this fails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn the_gallery_shows_every_screenshot_and_only_those() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    let gallery = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let shown: BTreeSet<String> = gallery
        .split("src=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect();
    let unlisted: Vec<_> = on_disk.difference(&shown).collect();
    let missing: Vec<_> = shown.difference(&on_disk).collect();
    assert!(
        unlisted.is_empty(),
        "screenshots not in docs/screenshots/README.md: {unlisted:?}"
    );
    assert!(
        missing.is_empty(),
        "docs/screenshots/README.md shows pictures that are not there: {missing:?}"
    );
    assert!(on_disk.len() >= 60, "only {} screenshots", on_disk.len());
}
