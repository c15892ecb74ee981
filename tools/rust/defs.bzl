"""Rust rules with the workspace's settings, so every crate builds as it does under Cargo.

Third-party dependencies come from the crate's own Cargo.toml through crate_universe
(`all_crate_deps()` looks them up by package), so adding a crate to Cargo.toml is enough for
Bazel too. Workspace crates are named explicitly in `deps`.

Lint levels mirror the root Cargo.toml's `[workspace.lints]` (clippy reads the same
`clippy.toml`, rustfmt the same `rustfmt.toml`).
"""

load("@crates//:defs.bzl", "all_crate_deps")
load("@rules_rust//rust:defs.bzl", "rust_binary", "rust_library", "rust_test")

EDITION = "2024"

# [workspace.lints.rust] of the root Cargo.toml.
LINT_FLAGS = [
    "-Funsafe_code",
    "-Wmissing_docs",
]

def _third_party(dev = False):
    deps = all_crate_deps(normal = True)
    proc_macros = all_crate_deps(proc_macro = True)
    if dev:
        deps = deps + all_crate_deps(normal_dev = True)
        proc_macros = proc_macros + all_crate_deps(proc_macro_dev = True)
    return deps, proc_macros

def workspace_rust_library(
        name,
        crate_name,
        srcs,
        crate_root = None,
        deps = [],
        compile_data = [],
        rustc_env = {},
        test_deps = [],
        test_data = [],
        test_env = {},
        **kwargs):
    """A library crate plus `<name>_unit_test` for its #[cfg(test)] tests (like `cargo test --lib`)."""
    third, macros = _third_party()
    rust_library(
        name = name,
        crate_name = crate_name,
        srcs = srcs,
        crate_root = crate_root,
        edition = EDITION,
        deps = deps + third,
        proc_macro_deps = macros,
        compile_data = compile_data,
        rustc_env = rustc_env,
        rustc_flags = LINT_FLAGS,
        **kwargs
    )
    dev, dev_macros = _third_party(dev = True)
    rust_test(
        name = name + "_unit_test",
        crate = ":" + name,
        edition = EDITION,
        deps = _uniq(deps + dev + test_deps),
        proc_macro_deps = _uniq(dev_macros),
        data = test_data,
        env = test_env,
        rustc_flags = LINT_FLAGS,
    )

def workspace_rust_binary(name, crate_name, srcs, crate_root = None, deps = [], compile_data = [], rustc_env = {}, **kwargs):
    """A binary crate (like a Cargo `[[bin]]` / src/main.rs)."""
    third, macros = _third_party()
    rust_binary(
        name = name,
        crate_name = crate_name,
        srcs = srcs,
        crate_root = crate_root,
        edition = EDITION,
        deps = deps + third,
        proc_macro_deps = macros,
        compile_data = compile_data,
        rustc_env = rustc_env,
        rustc_flags = LINT_FLAGS,
        **kwargs
    )

def workspace_rust_test(name, srcs, crate_root = None, deps = [], data = [], env = {}, bins = {}, compile_data = [], rustc_env = {}, **kwargs):
    """An integration test (a Cargo `tests/*.rs` target).

    `bins` maps Cargo binary names to Bazel labels: each sets CARGO_BIN_EXE_<name> at compile
    time (env!) and at run time, as Cargo does, and puts the binary in the test's runfiles.
    """
    dev, dev_macros = _third_party(dev = True)
    bin_env = {}
    bin_data = []
    for bin_name, label in bins.items():
        bin_env["CARGO_BIN_EXE_" + bin_name] = "$(rootpath %s)" % label
        bin_data.append(label)
    merged_env = dict(bin_env)
    merged_env.update(env)
    merged_rustc_env = dict(bin_env)
    merged_rustc_env.update(rustc_env)
    rust_test(
        name = name,
        srcs = srcs,
        crate_root = crate_root,
        edition = EDITION,
        deps = _uniq(deps + dev),
        proc_macro_deps = _uniq(dev_macros),
        data = data + bin_data,
        compile_data = compile_data,
        env = merged_env,
        rustc_env = merged_rustc_env,
        rustc_flags = LINT_FLAGS,
        **kwargs
    )

def _uniq(labels):
    out = []
    for label in labels:
        if label not in out:
            out.append(label)
    return out
