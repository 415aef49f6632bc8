//! The OpenAPI document committed at `docs/openapi.json` is the one the server serves.
//! After changing the API, regenerate it with
//! `MAEUL_UPDATE_OPENAPI=1 cargo test -p server --test openapi_file`.

#[test]
fn the_committed_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let served = match server::routes::openapi_document().to_pretty_json() {
        Ok(s) => s + "\n",
        Err(e) => panic!("the OpenAPI document does not serialize: {e}"),
    };
    if std::env::var_os("MAEUL_UPDATE_OPENAPI").is_some() {
        if let Err(e) = std::fs::write(path, &served) {
            panic!("writing {path}: {e}");
        }
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json is out of date: run MAEUL_UPDATE_OPENAPI=1 cargo test -p server --test openapi_file"
    );
}
