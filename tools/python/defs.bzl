"""Python gRPC stubs (`<name>_pb2.py`, `<name>_pb2_grpc.py`) from a proto_library.

protoc (Bazel's proto toolchain) writes the messages with its built-in Python generator and the
service stubs with gRPC's Python plugin, `grpc_python_plugin` (Debian's protobuf-compiler-grpc,
present in the offline Bazel root; elsewhere install it, or point `grpc_python_plugin` at it).
gRPC's own Bazel rules (`py_grpc_library`) need the grpc module, which is neither packaged by
Debian nor reachable here: this rule is the small part of them this repository needs.

The stubs of `a/b/x.proto` are written flat (`x_pb2.py`) in the rule's package, importable as
`import x_pb2` with that package folder on `sys.path` (a `py_library` with `imports = ["."]`).
"""

def _py_grpc_stubs_impl(ctx):
    proto = ctx.attr.proto[ProtoInfo]
    outputs = []
    include_dirs = []
    for source in proto.direct_sources:
        stem = source.basename[:-len(".proto")]
        outputs.append(ctx.actions.declare_file(stem + "_pb2.py"))
        outputs.append(ctx.actions.declare_file(stem + "_pb2_grpc.py"))
        if source.dirname not in include_dirs:
            include_dirs.append(source.dirname)
    out_dir = outputs[0].dirname
    args = ctx.actions.args()
    args.add("--python_out=" + out_dir)
    args.add("--grpc_python_out=" + out_dir)
    args.add("--plugin=protoc-gen-grpc_python=" + ctx.attr.grpc_python_plugin)
    args.add_all(include_dirs, format_each = "-I%s")
    args.add_all(proto.direct_sources)
    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = proto.transitive_sources,
        outputs = outputs,
        mnemonic = "GenPyGrpcStubs",
        progress_message = "Generating Python gRPC stubs of %{label}",
    )
    return [DefaultInfo(files = depset(outputs), runfiles = ctx.runfiles(files = outputs))]

py_grpc_stubs = rule(
    implementation = _py_grpc_stubs_impl,
    doc = "The Python message and gRPC stub modules of a proto_library's own .proto files.",
    attrs = {
        "grpc_python_plugin": attr.string(
            default = "/usr/bin/grpc_python_plugin",
            doc = "Path of gRPC's Python protoc plugin on the machine that runs the action.",
        ),
        "proto": attr.label(
            mandatory = True,
            providers = [ProtoInfo],
        ),
        "_protoc": attr.label(
            default = "@bazel_tools//tools/proto:protoc",
            executable = True,
            cfg = "exec",
        ),
    },
)
