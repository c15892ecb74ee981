//! The kitchen screen: the page at `GET /` (`?station=NAME`, `?view=expo`), the day view at
//! `GET /day`, and their files at `/screen/<path>`, all embedded in the binary from `screen/`
//! (see `screen/README.md`), so that a kitchen needs nothing from the internet.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// A file of the page: its path under `screen/` and its text.
struct Asset {
    path: &'static str,
    text: &'static str,
}

macro_rules! asset {
    ($path:literal) => {
        Asset {
            path: $path,
            text: include_str!(concat!("../../screen/", $path)),
        }
    };
}

/// Every file the page loads (the page's tests, in `screen/tests/`, are not served).
const ASSETS: &[Asset] = &[
    asset!("day.css"),
    asset!("day.html"),
    asset!("index.html"),
    asset!("js/aging.js"),
    asset!("js/api.js"),
    asset!("js/charts.js"),
    asset!("js/connection.js"),
    asset!("js/day.js"),
    asset!("js/keys.js"),
    asset!("js/layout.js"),
    asset!("js/main.js"),
    asset!("js/render.js"),
    asset!("js/sound.js"),
    asset!("js/state.js"),
    asset!("screen.css"),
];

pub(crate) fn router() -> Router {
    Router::new()
        .route("/", get(|| async { file("index.html") }))
        .route("/day", get(|| async { file("day.html") }))
        .route(
            "/screen/{*path}",
            get(|Path(path): Path<String>| async move { file(&path) }),
        )
}

fn file(path: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.path == path) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, content_type(asset.path)),
            // A deploy changes the files under the same names: screens revalidate every load.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.text,
    )
        .into_response()
}

fn content_type(path: &str) -> HeaderValue {
    let extension = path.rsplit_once('.').map_or("", |(_, extension)| extension);
    HeaderValue::from_static(match extension {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => "text/plain; charset=utf-8",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_screen_folder_is_served_and_no_other() {
        // Cargo runs unit tests in the crate's folder, Bazel in the workspace's runfiles.
        let folder = ["screen", "kitchen_batch_tool_service/screen"]
            .into_iter()
            .find(|folder| std::path::Path::new(folder).is_dir())
            .expect("the screen folder");
        let mut on_disk = Vec::new();
        let mut folders = vec![std::path::PathBuf::from(folder)];
        while let Some(dir) = folders.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                let relative = path
                    .strip_prefix(folder)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                if path.is_dir() {
                    if relative != "tests" {
                        folders.push(path);
                    }
                } else if relative != "README.md" {
                    on_disk.push(relative);
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<&str> = ASSETS.iter().map(|asset| asset.path).collect();
        served.sort_unstable();
        assert_eq!(
            served, on_disk,
            "a file added to screen/ must be listed in ASSETS"
        );
    }

    #[test]
    fn types_follow_the_extension() {
        assert_eq!(content_type("js/main.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("screen.css"), "text/css; charset=utf-8");
    }
}
