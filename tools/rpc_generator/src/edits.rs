//! Line edits of the files a new service is registered in: a quoted entry added to a `[...]`
//! list (Cargo members, MODULE.bazel manifests, BUILD deps), a line added to a TOML table, a
//! declaration added to a `lib.rs`. Each keeps the file's own layout and refuses, rather than
//! guesses, when the anchor it needs is missing.

/// Why a file could not be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EditError {
    #[error("{file}: no `{anchor}` to add {entry:?} to")]
    AnchorMissing {
        file: String,
        anchor: String,
        entry: String,
    },
}

/// Adds `"entry",` to the multi-line list opened by the first line that starts (after
/// indentation) with `opening` (for example `members = [`), unless the list already holds it.
pub(crate) fn add_list_entry(
    file: &str,
    text: &str,
    opening: &str,
    entry: &str,
) -> Result<String, EditError> {
    let missing = || EditError::AnchorMissing {
        file: file.to_owned(),
        anchor: opening.to_owned(),
        entry: entry.to_owned(),
    };
    let lines: Vec<&str> = text.lines().collect();
    let open = lines
        .iter()
        .position(|line| line.trim_start().starts_with(opening) && line.trim_end().ends_with('['))
        .ok_or_else(missing)?;
    let close = open
        + lines[open..]
            .iter()
            .position(|line| line.trim_start().starts_with(']'))
            .ok_or_else(missing)?;
    let quoted = format!("\"{entry}\"");
    if lines[open + 1..close]
        .iter()
        .any(|line| line.trim().trim_end_matches(',') == quoted)
    {
        return Ok(text.to_owned());
    }
    let indent = lines[open + 1..close]
        .iter()
        .find(|line| !line.trim().is_empty())
        .map(|line| leading_whitespace(line).to_owned())
        .unwrap_or_else(|| format!("{}    ", leading_whitespace(lines[open])));
    let mut out: Vec<String> = lines[..close]
        .iter()
        .map(|line| (*line).to_owned())
        .collect();
    out.push(format!("{indent}{quoted},"));
    out.extend(lines[close..].iter().map(|line| (*line).to_owned()));
    Ok(join_like(text, out))
}

/// Adds `line` to the TOML table `[header]`, after the table's last `key = value` line, unless a
/// line with the same key is there already.
pub(crate) fn add_table_line(
    file: &str,
    text: &str,
    header: &str,
    line: &str,
) -> Result<String, EditError> {
    let lines: Vec<&str> = text.lines().collect();
    let header_line = format!("[{header}]");
    let start = lines
        .iter()
        .position(|l| l.trim() == header_line)
        .ok_or_else(|| EditError::AnchorMissing {
            file: file.to_owned(),
            anchor: header_line.clone(),
            entry: line.to_owned(),
        })?;
    let end = start
        + 1
        + lines[start + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .unwrap_or(lines.len() - start - 1);
    let key = toml_key(line);
    if lines[start + 1..end].iter().any(|l| toml_key(l) == key) {
        return Ok(text.to_owned());
    }
    let last_entry = lines[start + 1..end]
        .iter()
        .rposition(|l| l.contains('=') && !l.trim_start().starts_with('#'))
        .map(|i| start + 1 + i)
        .unwrap_or(start);
    let mut out: Vec<String> = lines[..=last_entry]
        .iter()
        .map(|l| (*l).to_owned())
        .collect();
    out.push(line.to_owned());
    out.extend(lines[last_entry + 1..].iter().map(|l| (*l).to_owned()));
    Ok(join_like(text, out))
}

/// Adds `declaration` to a Rust file after the last line starting with `after_prefix` (for
/// example `pub mod `), or after the crate's leading `//!` docs when there is none, unless it is
/// there already. A declaration spanning lines ends at the first line ending in `;`.
pub(crate) fn add_rust_item(text: &str, after_prefix: &str, declaration: &str) -> String {
    if text.contains(declaration) {
        return text.to_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    let insert_at = match lines.iter().rposition(|l| l.starts_with(after_prefix)) {
        Some(start) => {
            start
                + lines[start..]
                    .iter()
                    .position(|l| l.trim_end().ends_with(';'))
                    .map(|i| i + 1)
                    .unwrap_or(1)
        }
        None => lines
            .iter()
            .position(|l| !l.starts_with("//!"))
            .unwrap_or(lines.len()),
    };
    let mut out: Vec<String> = lines[..insert_at].iter().map(|l| (*l).to_owned()).collect();
    if insert_at > 0
        && !lines[insert_at - 1].starts_with(after_prefix)
        && !lines[insert_at - 1].trim_end().ends_with(';')
    {
        out.push(String::new());
    }
    out.push(declaration.to_owned());
    out.extend(lines[insert_at..].iter().map(|l| (*l).to_owned()));
    join_like(text, out)
}

fn toml_key(line: &str) -> Option<String> {
    let line = line.trim();
    if line.starts_with('#') {
        return None;
    }
    let key = line.split('=').next()?.trim();
    let key = key.strip_suffix(".workspace").unwrap_or(key);
    (!key.is_empty() && line.contains('=')).then(|| key.to_owned())
}

fn leading_whitespace(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

fn join_like(original: &str, lines: Vec<String>) -> String {
    let mut joined = lines.join("\n");
    if original.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBERS: &str = "[workspace]\nmembers = [\n    \"a\",\n    \"b\",\n]\n\n[x]\n";

    #[test]
    fn a_list_entry_goes_last_with_the_lists_indentation() {
        let out = add_list_entry("Cargo.toml", MEMBERS, "members = [", "c/proto").unwrap();
        assert_eq!(
            out,
            "[workspace]\nmembers = [\n    \"a\",\n    \"b\",\n    \"c/proto\",\n]\n\n[x]\n"
        );
    }

    #[test]
    fn a_list_entry_already_there_changes_nothing() {
        assert_eq!(
            add_list_entry("Cargo.toml", MEMBERS, "members = [", "b").unwrap(),
            MEMBERS
        );
    }

    #[test]
    fn a_missing_list_is_an_error_naming_the_file_and_anchor() {
        let error = add_list_entry("MODULE.bazel", MEMBERS, "manifests = [", "x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "MODULE.bazel: no `manifests = [` to add \"x\" to"
        );
    }

    #[test]
    fn an_empty_list_gets_an_indented_entry() {
        let out = add_list_entry("BUILD.bazel", "X = [\n]\n", "X = [", "//a").unwrap();
        assert_eq!(out, "X = [\n    \"//a\",\n]\n");
    }

    #[test]
    fn a_table_line_goes_after_the_tables_last_entry() {
        let text =
            "[dependencies]\na.workspace = true\nb.workspace = true\n\n[lints]\nworkspace = true\n";
        let out = add_table_line("Cargo.toml", text, "dependencies", "c.workspace = true").unwrap();
        assert_eq!(
            out,
            "[dependencies]\na.workspace = true\nb.workspace = true\nc.workspace = true\n\n[lints]\nworkspace = true\n"
        );
        assert_eq!(
            add_table_line("Cargo.toml", &out, "dependencies", "c.workspace = true").unwrap(),
            out
        );
    }

    #[test]
    fn a_table_line_in_the_last_table_and_a_missing_table() {
        let text = "[workspace.dependencies]\n# Project crates.\na = { path = \"a\" }\n";
        let out = add_table_line(
            "Cargo.toml",
            text,
            "workspace.dependencies",
            "b = { path = \"b\" }",
        )
        .unwrap();
        assert!(out.ends_with("a = { path = \"a\" }\nb = { path = \"b\" }\n"));
        assert!(add_table_line("Cargo.toml", text, "dependencies", "b = 1").is_err());
    }

    #[test]
    fn a_rust_item_goes_after_the_last_of_its_kind_even_when_it_spans_lines() {
        let text = "//! Docs.\n\npub mod a;\n\npub use a::{\n    X, Y,\n};\n";
        let out = add_rust_item(text, "pub mod ", "pub mod b;");
        let out = add_rust_item(&out, "pub use ", "pub use b::Z;");
        assert_eq!(
            out,
            "//! Docs.\n\npub mod a;\npub mod b;\n\npub use a::{\n    X, Y,\n};\npub use b::Z;\n"
        );
        assert_eq!(add_rust_item(&out, "pub mod ", "pub mod b;"), out);
    }

    #[test]
    fn a_rust_item_in_a_file_without_one_goes_after_the_docs() {
        let out = add_rust_item("//! Docs.\n\nfn f() {}\n", "pub mod ", "pub mod b;");
        assert_eq!(out, "//! Docs.\n\npub mod b;\n\nfn f() {}\n");
    }
}
